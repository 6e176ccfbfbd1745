/// @file
/// @brief Internal: which language standard the headers are compiled in, and the one mechanism that
/// carries the C++20 features into C++17.
///
/// stork's baseline is C++17 (the engines it is for — stable-diffusion.cpp, llama.cpp/ggml, OpenVINO
/// GenAI — build as C++17); under C++20 the same headers use concepts. The mechanism, used in every
/// header (after nlohmann/json's JSON_HAS_CPP_20 and fmt's FMT_CPLUSPLUS checks):
/// - every requirement is first a constexpr trait (`stork::is_state_v<S>`, `is_state_ops_v<O, S>`,
///   `is_velocity_field_v<F, S>`, `is_parameterisation_v<P>`, `is_noise_process_v<P>`), written with the
///   detection idiom so that it exists in both standards;
/// - under C++20 (`STORK_HAS_CPP20`) each trait also becomes a concept of the same meaning
///   (`stork::State`, `StateOps`, `VelocityField`, `Parameterisation`, `NoiseProcess`), and a template
///   parameter declared `STORK_CONCEPT(State) S` is constrained by it; under C++17 the parameter is a
///   plain `class` and the static_asserts with the library's messages do the checking;
/// - `stork::span<T>` is `span<T>` under C++20 and a small span of the library's own under C++17
///   (`stork/detail/span.hpp`), so a user's `state_ops::lincomb` spelled either way compiles.
#pragma once

#if defined(_MSVC_LANG) && _MSVC_LANG > __cplusplus
#define STORK_CPLUSPLUS _MSVC_LANG
#else
#define STORK_CPLUSPLUS __cplusplus
#endif

#if STORK_CPLUSPLUS < 201703L
#error "stork needs C++17 or later (-std=c++17)"
#endif

/// 1 when the headers are compiled as C++20 with concepts and std::span, 0 for C++17.
#if STORK_CPLUSPLUS >= 202002L && defined(__cpp_concepts) && __cpp_concepts >= 201907L && \
    defined(__has_include)
#if __has_include(<span>)
#define STORK_HAS_CPP20 1
#else
#define STORK_HAS_CPP20 0
#endif
#else
#define STORK_HAS_CPP20 0
#endif

/// A template parameter constrained by a stork concept under C++20, a plain `class` under C++17:
/// `template <STORK_CONCEPT(State) S>`.
#if STORK_HAS_CPP20
#define STORK_CONCEPT(C) C
#else
#define STORK_CONCEPT(C) class
#endif
