/// @file
/// @brief Library version.
#pragma once

#define STORK_VERSION_MAJOR 0
#define STORK_VERSION_MINOR 1
#define STORK_VERSION_PATCH 0

namespace stork {
/// "major.minor.patch" of these headers.
inline constexpr const char* version = "0.1.0";
}  // namespace stork
