/// @file
/// @brief Time grids (umbrella of `stork/schedule/`): flow-matching sigmas (`stork::flow_sigmas`,
/// diffusers' FlowMatchEulerDiscreteScheduler and its options; `stork::use_flow_sigmas`, the flow grid of
/// diffusers' multistep schedulers), VE / k-diffusion sigmas (`stork::karras_sigmas`,
/// `stork::exponential_sigmas`), the reference's ε grid (`stork::vp_taus`), and every schedule of the
/// engines' menus by name (`stork::sigmas_from_name`: stable-diffusion.cpp's and ComfyUI's schedulers).
#pragma once

#include "stork/schedule/exponential_sigmas.hpp"
#include "stork/schedule/flow_sigmas.hpp"
#include "stork/schedule/from_name.hpp"
#include "stork/schedule/karras_sigmas.hpp"
#include "stork/schedule/use_flow_sigmas.hpp"
#include "stork/schedule/vp_taus.hpp"
