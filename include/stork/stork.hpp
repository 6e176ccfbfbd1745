/// @file
/// @brief Umbrella header of the core (standard library only). For Eigen states add <stork/eigen.hpp>.
///
/// The data flow, folder by folder: `model/` (the model callback: processes, predictions, the
/// parameterisation) → `methods/` (one header per method family) → `state.hpp` (the state algebra);
/// `schedule.hpp` makes the time grids and `scheduler.hpp` runs a method over one.
#pragma once

#include "stork/brownian_tree_noise.hpp"
#include "stork/error.hpp"
#include "stork/methods/dpmpp.hpp"
#include "stork/methods/dpmpp_sde.hpp"
#include "stork/methods/euler.hpp"
#include "stork/methods/euler_ancestral.hpp"
#include "stork/methods/euler_cfg_pp.hpp"
#include "stork/methods/euler_ge.hpp"
#include "stork/methods/heun.hpp"
#include "stork/methods/ipndm.hpp"
#include "stork/methods/rkg2.hpp"
#include "stork/methods/rock4.hpp"
#include "stork/methods/stork2.hpp"
#include "stork/methods/stork4.hpp"
#include "stork/methods/stork_options.hpp"
#include "stork/methods/unipc.hpp"
#include "stork/methods/variant.hpp"
#include "stork/model/field.hpp"
#include "stork/model/model.hpp"
#include "stork/model/parameterisation.hpp"
#include "stork/model/prediction.hpp"
#include "stork/model/process.hpp"
#include "stork/model/rectified_flow.hpp"
#include "stork/model/ve.hpp"
#include "stork/model/vp_discrete.hpp"
#include "stork/model/vp_linear.hpp"
#include "stork/model/vp_scaled_linear.hpp"
#include "stork/noise.hpp"
#include "stork/sampler_options.hpp"
#include "stork/schedule.hpp"
#include "stork/scheduler.hpp"
#include "stork/state.hpp"
#include "stork/version.hpp"
