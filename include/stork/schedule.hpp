/// @file
/// @brief Time grids (umbrella of `stork/schedule/`): flow-matching sigmas (`stork::flow_sigmas`,
/// diffusers' FlowMatchEulerDiscreteScheduler and its options; `stork::use_flow_sigmas`, the flow grid of
/// diffusers' multistep schedulers), VE / k-diffusion sigmas (`stork::karras_sigmas`,
/// `stork::exponential_sigmas`) and the reference's ε grid (`stork::vp_taus`).
#pragma once

#include "stork/schedule/exponential_sigmas.hpp"
#include "stork/schedule/flow_sigmas.hpp"
#include "stork/schedule/karras_sigmas.hpp"
#include "stork/schedule/use_flow_sigmas.hpp"
#include "stork/schedule/vp_taus.hpp"
