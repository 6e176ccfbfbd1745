// The Catch2 v2 main for the whole suite (Debian's catch2 2.13 single header).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
