/// @file
/// @brief Umbrella header of the core (standard library only). For Eigen states add <stork/eigen.hpp>.
#pragma once

#include "stork/adapters.hpp"
#include "stork/error.hpp"
#include "stork/field.hpp"
#include "stork/methods/dpmpp.hpp"
#include "stork/methods/euler.hpp"
#include "stork/methods/heun.hpp"
#include "stork/methods/ipndm.hpp"
#include "stork/methods/rkg2.hpp"
#include "stork/methods/rock4.hpp"
#include "stork/methods/stork2.hpp"
#include "stork/methods/stork4.hpp"
#include "stork/methods/unipc.hpp"
#include "stork/methods/variant.hpp"
#include "stork/processes.hpp"
#include "stork/schedule.hpp"
#include "stork/scheduler.hpp"
#include "stork/state.hpp"
#include "stork/version.hpp"
#include "stork/vp.hpp"
