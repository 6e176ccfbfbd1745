/// @file
/// @brief `stork::span<T>`: the contiguous view the state algebra passes coefficients and states in.
///
/// Under C++20 it is `std::span<T>` itself (an alias), so code written against `std::span` keeps compiling.
/// Under C++17 it is the small class below: a pointer and a size, built from a pointer and a size, a C
/// array, a `std::array`, a `std::vector` (anything with `data()` and `size()`) or another span whose
/// element pointer converts (`span<const S* const>` from `std::array<const S*, N>`).
#pragma once

#include "stork/detail/config.hpp"

#if STORK_HAS_CPP20
#include <span>
#else
#include <cstddef>
#include <iterator>
#include <type_traits>
#include <utility>
#endif

namespace stork {

#if STORK_HAS_CPP20

template <class T>
using span = std::span<T>;

#else

/// @brief A view of `size()` consecutive objects of type T (C++17 stand-in for `std::span<T>` with a
/// dynamic extent: the members the library and its users need).
template <class T>
class span {
  template <class C>
  using data_of = std::remove_pointer_t<decltype(std::data(std::declval<C&>()))>;
  template <class U>
  static constexpr bool convertible = std::is_convertible_v<U (*)[], T (*)[]>;

 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  using size_type = std::size_t;
  using pointer = T*;
  using reference = T&;
  using iterator = T*;

  constexpr span() noexcept = default;
  constexpr span(T* data, std::size_t size) noexcept : data_(data), size_(size) {}
  template <std::size_t N>
  constexpr span(T (&a)[N]) noexcept : data_(a), size_(N) {}
  /// From a std::array, std::vector or any contiguous container whose element pointer converts to T*.
  template <class C,
            class = std::enable_if_t<!std::is_array_v<std::remove_reference_t<C>> &&
                                     !std::is_same_v<std::decay_t<C>, span> &&
                                     convertible<data_of<std::remove_reference_t<C>>>>,
            class = decltype(std::size(std::declval<C&>()))>
  constexpr span(C&& c) noexcept(noexcept(std::data(c))) : data_(std::data(c)), size_(std::size(c)) {}

  constexpr T* data() const noexcept { return data_; }
  constexpr std::size_t size() const noexcept { return size_; }
  constexpr std::size_t size_bytes() const noexcept { return size_ * sizeof(T); }
  [[nodiscard]] constexpr bool empty() const noexcept { return size_ == 0; }
  constexpr T& operator[](std::size_t i) const noexcept { return data_[i]; }
  constexpr T& front() const noexcept { return data_[0]; }
  constexpr T& back() const noexcept { return data_[size_ - 1]; }
  constexpr T* begin() const noexcept { return data_; }
  constexpr T* end() const noexcept { return data_ + size_; }
  constexpr span first(std::size_t n) const noexcept { return {data_, n}; }
  constexpr span last(std::size_t n) const noexcept { return {data_ + (size_ - n), n}; }
  constexpr span subspan(std::size_t offset, std::size_t n = static_cast<std::size_t>(-1)) const noexcept {
    return {data_ + offset, n == static_cast<std::size_t>(-1) ? size_ - offset : n};
  }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

#endif

}  // namespace stork
