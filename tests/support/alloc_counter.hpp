// Number of heap allocations made so far by this test binary (global operator new is replaced in
// alloc_counter.cpp, a translation unit of its own so that no caller sees the replacement inline).
#pragma once

#include <cstddef>

namespace stork_test {
std::size_t allocation_count() noexcept;
}
