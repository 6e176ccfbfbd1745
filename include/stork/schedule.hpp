/// @file
/// @brief Time grids (umbrella of `stork/schedule/`): flow-matching sigma schedules
/// (`stork::flow_sigmas`, diffusers' FlowMatchEulerDiscreteScheduler and its options) and the
/// reference's ε grid (`stork::vp_taus`).
#pragma once

#include "stork/schedule/flow_sigmas.hpp"
#include "stork/schedule/vp_taus.hpp"
