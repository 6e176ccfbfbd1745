// Tests of <stork/schedule.hpp> (the headers of <stork/schedule/>).
//
// Expected grids come from tools/flow_sigmas_reference.py, an independent pure-Python implementation
// of the formulas (its beta quantiles use a power series, not the header's continued fraction). Each
// block is pasted from `tools/flow_sigmas_reference.py --all`, under the command line that prints it.
#include <stork/schedule.hpp>

#include <catch2/catch.hpp>
#include <cmath>
#include <iomanip>
#include <limits>
#include <string>
#include <vector>

namespace {

using stork::exponential_schedule;
using stork::exponential_sigmas;
using stork::flow_schedule;
using stork::flow_sigmas;
using stork::karras_schedule;
using stork::karras_sigmas;
using stork::sigma_spacing;
using stork::time_shift;
using stork::use_flow_sigmas;

void require_close(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("i = " << i << ": got " << got[i] << ", want " << want[i]);
    REQUIRE(std::fabs(got[i] - want[i]) <= tol);
  }
}

/// |got[i] − want[i]| <= rel·|want[i]| for every i (so a 0 must be exactly 0).
void require_rel_close(const std::vector<double>& got, const std::vector<double>& want, double rel) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("i = " << i << ": got " << got[i] << ", want " << want[i]);
    REQUIRE(std::fabs(got[i] - want[i]) <= rel * std::fabs(want[i]));
  }
}

/// got[i] == want[i] for every i (bit for bit, up to the sign of 0).
void require_identical(const std::vector<double>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("i = " << i << std::setprecision(17) << ": got " << got[i] << ", want " << want[i]);
    REQUIRE(got[i] == want[i]);
  }
}

/// static_cast<float>(got[i]) == want[i] for every i.
void require_same_float32(const std::vector<double>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("i = " << i << ": got " << got[i] << ", want (float) " << want[i]);
    REQUIRE(static_cast<float>(got[i]) == want[i]);
  }
}

void require_grid_shape(const std::vector<double>& g, int steps, double max = 1.0) {
  REQUIRE(g.size() == static_cast<std::size_t>(steps) + 1);
  REQUIRE(g.back() == 0.0);
  for (std::size_t i = 0; i + 1 < g.size(); ++i) {
    INFO("i = " << i);
    REQUIRE(std::isfinite(g[i]));
    REQUIRE(g[i] <= max);
    REQUIRE(g[i] > g[i + 1]);
  }
}

constexpr double tight = 1e-12;      // flow_sigmas vs the Python reference (both double)
constexpr double rel_tight = 1e-12;  // karras / exponential vs the Python reference, relative

}  // namespace

#define REQUIRE_STORK_ERROR(expr, text)               \
  do {                                                \
    REQUIRE_THROWS_AS(expr, stork::error);            \
    REQUIRE_THROWS_WITH(expr, Catch::Contains(text)); \
  } while (false)

TEST_CASE("schedule: S = 3, N = 10 reproduces the reference grid (diffusers double shift)", "[schedule]") {
  const auto g = flow_sigmas(10, flow_schedule{.shift = 3.0});
  // docs/reference.md §2.1 step 5 (printed to 5 digits), without the inserted midpoint .98006.
  require_close(g, {1, .96013, .91335, .85769, .79037, .70728, .60215, .46488, .27805, .00893, 0}, 5e-6);
  // tools/flow_sigmas_reference.py --steps 10 --shift 3
  require_close(g,
                {1, 0.96012931034482774, 0.91334894613583129, 0.85769230769230764, 0.7903682719546743,
                 0.70727848101265822, 0.60215053763440862, 0.4648760330578513, 0.2780487804878049,
                 0.0089285714285714298, 0},
                tight);
  // The double shift by hand: F(F(1/1000)) with F(u) = 3u/(1 + 2u).
  const double once = 3.0 * 0.001 / (1.0 + 2.0 * 0.001);
  REQUIRE(g[9] == Approx(3.0 * once / (1.0 + 2.0 * once)).epsilon(1e-14));
  REQUIRE(g[0] == 1.0);
  require_grid_shape(g, 10);
}

TEST_CASE("schedule: default schedule (S = 1) is linspace(1, 1/T, N)", "[schedule]") {
  // tools/flow_sigmas_reference.py --steps 10
  require_close(
      flow_sigmas(10),
      {1, 0.88900000000000001, 0.77800000000000002, 0.66700000000000004, 0.55600000000000005,
       0.44499999999999995, 0.33399999999999996, 0.22299999999999998, 0.11199999999999999, 0.001, 0},
      tight);
  // tools/flow_sigmas_reference.py --steps 1 --shift 3
  require_close(flow_sigmas(1, flow_schedule{.shift = 3.0}), {1, 0}, 0.0);
  // With T = 1 a single step is still a valid grid.
  require_close(flow_sigmas(1, flow_schedule{.num_train_timesteps = 1}), {1, 0}, 0.0);
}

TEST_CASE("schedule: dynamic shift with mu, exponential and linear", "[schedule]") {
  // tools/flow_sigmas_reference.py --steps 8 --mu 0.8
  require_close(flow_sigmas(8, flow_schedule{.mu = 0.8}),
                {1, 0.93040495938767243, 0.8478312030755768, 0.74827480335447194, 0.62589611324153582,
                 0.47183151991606503, 0.27194497180793892, 0.0022228167755574827, 0},
                tight);
  // tools/flow_sigmas_reference.py --steps 8 --mu 0.8 --time-shift linear
  require_close(flow_sigmas(8, flow_schedule{.mu = 0.8, .time_shift = time_shift::linear}),
                {1, 0.82775268112693545, 0.66697779851990135, 0.51656611930186791, 0.3755469433679211,
                 0.24306713138354305, 0.11837383067600163, 0.00080016003200640139, 0},
                tight);
  // tools/flow_sigmas_reference.py --steps 8 --mu 1.5 --time-shift linear
  require_close(flow_sigmas(8, flow_schedule{.mu = 1.5, .time_shift = time_shift::linear}),
                {1, 0.90010499475026251, 0.78970634670034734, 0.66705549075154147, 0.52999294283697962,
                 0.37582005623242742, 0.2011195521791283, 0.0014992503748125937, 0},
                tight);
  // tools/flow_sigmas_reference.py --steps 7 --mu -0.5
  require_close(flow_sigmas(7, flow_schedule{.mu = -0.5}),
                {1, 0.7522481084279401, 0.54850882839842752, 0.37801079136433863, 0.23323234596200007,
                 0.10876196395106703, 0.00060676940487007416, 0},
                tight);
}

TEST_CASE("schedule: mu overrides shift, is never shifted at init, and equals a static shift e^mu",
          "[schedule]") {
  const auto dyn = flow_sigmas(12, flow_schedule{.shift = 5.0, .mu = std::log(3.0)});
  // diffusers_parity only concerns the static shift: with mu the training sigma_min is 1/T either way.
  REQUIRE(flow_sigmas(12, flow_schedule{.mu = std::log(3.0), .diffusers_parity = false}) == dyn);
  // The exponential time shift with mu = ln S is the static shift S applied once (the clean grid).
  require_close(dyn, flow_sigmas(12, flow_schedule{.shift = 3.0, .diffusers_parity = false}), 1e-14);
  // The linear time shift with mu = S is the same map.
  require_close(flow_sigmas(12, flow_schedule{.mu = 3.0, .time_shift = time_shift::linear}), dyn, 1e-14);
}

TEST_CASE("schedule: diffusers_parity = false shifts sigma_min once", "[schedule]") {
  const auto g = flow_sigmas(10, flow_schedule{.shift = 3.0, .diffusers_parity = false});
  // tools/flow_sigmas_reference.py --steps 10 --shift 3 --clean
  require_close(g,
                {1, 0.96004319654427639, 0.91314553990610325, 0.85732647814910035, 0.78977272727272729,
                 0.70634920634920639, 0.60071942446043158, 0.462655601659751, 0.2745098039215686,
                 0.0029940119760479044, 0},
                tight);
  REQUIRE(g[9] == Approx(3.0 * 0.001 / (1.0 + 2.0 * 0.001)).epsilon(1e-14));  // F(1/T)
  // With S = 1 the two variants coincide.
  REQUIRE(flow_sigmas(10, flow_schedule{.diffusers_parity = false}) == flow_sigmas(10));
}

TEST_CASE("schedule: shift_terminal stretches the last nonzero sigma to the terminal", "[schedule]") {
  const auto g = flow_sigmas(10, flow_schedule{.shift = 3.0, .shift_terminal = 0.1});
  // tools/flow_sigmas_reference.py --steps 10 --shift 3 --shift-terminal 0.1
  require_close(g,
                {1, 0.96379310344827596, 0.92131147540983593, 0.87076923076923074, 0.80963172804532579,
                 0.73417721518987344, 0.6387096774193548, 0.51404958677685952, 0.34439024390243911,
                 0.10000000000000009, 0},
                tight);
  REQUIRE(g[9] == Approx(0.1).epsilon(1e-14));
  REQUIRE(g[0] == 1.0);
  require_grid_shape(g, 10);
}

TEST_CASE("schedule: karras spacing", "[schedule]") {
  const auto g = flow_sigmas(10, flow_schedule{.shift = 3.0, .spacing = sigma_spacing::karras});
  // tools/flow_sigmas_reference.py --steps 10 --shift 3 --spacing karras
  require_close(g,
                {1, 0.67558033604150691, 0.44590477535887857, 0.28669393446915403, 0.17892500217377166,
                 0.10792737962531181, 0.062588629101894194, 0.034663546878275601, 0.018179175582702725,
                 0.0089285714285714315, 0},
                tight);
  // sigma^(1/rho) is uniform in i.
  for (std::size_t i = 1; i + 1 < 10; ++i)
    REQUIRE(std::pow(g[i - 1], 1 / 7.0) - std::pow(g[i], 1 / 7.0) ==
            Approx(std::pow(g[i], 1 / 7.0) - std::pow(g[i + 1], 1 / 7.0)).epsilon(1e-12));
  // tools/flow_sigmas_reference.py --steps 10 --shift 3 --spacing karras --rho 3
  require_close(flow_sigmas(10, flow_schedule{.shift = 3.0, .spacing = sigma_spacing::karras, .rho = 3.0}),
                {1, 0.75839989065325952, 0.55923030476009639, 0.39839398888265903, 0.27179368958309513,
                 0.17533215342355352, 0.10491212696618203, 0.05643635677312904, 0.025807589406542767,
                 0.0089285714285714263, 0},
                tight);
}

TEST_CASE("schedule: exponential spacing", "[schedule]") {
  const auto g = flow_sigmas(10, flow_schedule{.shift = 3.0, .spacing = sigma_spacing::exponential});
  // tools/flow_sigmas_reference.py --steps 10 --shift 3 --spacing exponential
  require_close(g,
                {1, 0.59198282735442531, 0.35044366788253939, 0.20745663334156092, 0.12281076435896757,
                 0.07270186351477971, 0.043038254717414848, 0.025477907712015174, 0.015082483842433859,
                 0.0089285714285714315, 0},
                tight);
  for (std::size_t i = 1; i + 1 < 10; ++i) REQUIRE(g[i] / g[i + 1] == Approx(g[i - 1] / g[i]).epsilon(1e-12));
}

TEST_CASE("schedule: beta spacing", "[schedule]") {
  const auto g = flow_sigmas(10, flow_schedule{.shift = 3.0, .spacing = sigma_spacing::beta});
  // tools/flow_sigmas_reference.py --steps 10 --shift 3 --spacing beta
  require_close(g,
                {1, 0.95332864510764537, 0.85569891265448983, 0.72704575646146252, 0.58060358293901171,
                 0.42832498848955952, 0.2818828149671091, 0.1532296587740816, 0.055599926320926078,
                 0.0089285714285714298, 0},
                tight);
  // alpha = beta: the quantiles are symmetric, q(p) + q(1 - p) = 1.
  for (std::size_t i = 0; i < 10; ++i) REQUIRE(g[i] + g[9 - i] == Approx(1.0 + g[9]).epsilon(1e-13));
  // tools/flow_sigmas_reference.py --steps 9 --shift 2 --spacing beta --beta-alpha 2 --beta-beta 5
  require_close(
      flow_sigmas(
          9,
          flow_schedule{.shift = 2.0, .spacing = sigma_spacing::beta, .beta_alpha = 2.0, .beta_beta = 5.0}),
      {1, 0.48615943996908551, 0.39191426292674258, 0.32418161224396136, 0.26738338316287535,
       0.21550425570797049, 0.16450822918597802, 0.10894337376220442, 0.0039880358923230323, 0},
      tight);
}

TEST_CASE("schedule: the incomplete beta inverse matches closed forms", "[schedule]") {
  using stork::detail::incomplete_beta_inverse;
  for (double p : {1e-6, 0.01, 0.1, 0.3, 0.5, 0.77, 0.99, 1 - 1e-9}) {
    INFO("p = " << p);
    REQUIRE(incomplete_beta_inverse(1.0, 1.0, p) == Approx(p).margin(1e-15));  // uniform
    // I_x(1, b) = 1 - (1 - x)^b and I_x(a, 1) = x^a.
    REQUIRE(incomplete_beta_inverse(1.0, 3.5, p) == Approx(1 - std::pow(1 - p, 1 / 3.5)).margin(1e-14));
    REQUIRE(incomplete_beta_inverse(0.25, 1.0, p) == Approx(std::pow(p, 4.0)).margin(1e-14));
  }
  REQUIRE(incomplete_beta_inverse(0.6, 0.6, 0.5) == Approx(0.5).margin(1e-15));
  REQUIRE(incomplete_beta_inverse(30.0, 30.0, 0.5) == Approx(0.5).margin(1e-15));
  REQUIRE(incomplete_beta_inverse(2.0, 5.0, 0.0) == 0.0);
  REQUIRE(incomplete_beta_inverse(2.0, 5.0, 1.0) == 1.0);
  for (double x : {0.3, 1.0, 2.5, 7.0, 40.5, 300.0})
    REQUIRE(stork::detail::log_gamma(x) == Approx(std::lgamma(x)).epsilon(1e-14));
}

TEST_CASE("schedule: sigma_last puts the last nonzero sigma exactly there", "[schedule]") {
  const auto g = flow_sigmas(10, flow_schedule{.shift = 3.0, .sigma_last = 0.05});
  // tools/flow_sigmas_reference.py --steps 10 --shift 3 --sigma-last 0.05
  require_close(g,
                {1, 0.96074380165289264, 0.9147982062780271, 0.86029411764705865, 0.79459459459459469,
                 0.71385542168674698, 0.61224489795918369, 0.48046875000000017, 0.30275229357798178,
                 0.050000000000000003, 0},
                tight);
  REQUIRE(g[9] == 0.05);
  // tools/flow_sigmas_reference.py --steps 6 --mu 1.2 --sigma-last 0.02
  const auto e = flow_sigmas(6, flow_schedule{.mu = 1.2, .sigma_last = 0.02});
  require_close(
      e, {1, 0.93047109970459352, 0.83419540097139833, 0.69206370132806028, 0.46107316219542749, 0.02, 0},
      tight);
  REQUIRE(e[5] == 0.02);
  // tools/flow_sigmas_reference.py --steps 6 --mu 1.2 --time-shift linear --sigma-last 0.02
  const auto l =
      flow_sigmas(6, flow_schedule{.mu = 1.2, .time_shift = time_shift::linear, .sigma_last = 0.02});
  require_close(
      l, {1, 0.83056708160442605, 0.64924838940586971, 0.45474777448071207, 0.24557351809083902, 0.02, 0},
      tight);
  REQUIRE(l[5] == 0.02);
  // Composes with a spacing: the spacing runs between 1 and sigma_last.
  // tools/flow_sigmas_reference.py --steps 10 --shift 3 --sigma-last 0.05 --spacing karras
  const auto k =
      flow_sigmas(10, flow_schedule{.shift = 3.0, .spacing = sigma_spacing::karras, .sigma_last = 0.05});
  require_close(k,
                {1, 0.75868326599685421, 0.56910707948666561, 0.42167538184384679, 0.30827220725977311,
                 0.22208340821756661, 0.15743331240166736, 0.10963565758522278, 0.074858151038308382,
                 0.050000000000000003, 0},
                tight);
  REQUIRE(k[9] == 0.05);
  // sigma_last = the parity grid's own last sigma gives back that grid.
  const auto ref = flow_sigmas(10, flow_schedule{.shift = 3.0});
  require_close(flow_sigmas(10, flow_schedule{.shift = 3.0, .sigma_last = ref[9]}), ref, 1e-15);
}

TEST_CASE("schedule: a custom sigmas list replaces u and is shifted", "[schedule]") {
  // tools/flow_sigmas_reference.py --steps 5 --shift 2 --sigmas 1,0.8,0.5,0.3,0.1
  require_close(flow_sigmas(5, flow_schedule{.shift = 2.0, .sigmas = {1, 0.8, 0.5, 0.3, 0.1}}),
                {1, 0.88888888888888895, 0.66666666666666663, 0.46153846153846151, 0.18181818181818182, 0},
                tight);
  // tools/flow_sigmas_reference.py --steps 4 --mu 0.7 --sigmas 0.9,0.6,0.3,0.05 --shift-terminal 0.02
  //   --spacing exponential
  require_close(flow_sigmas(4, flow_schedule{.mu = 0.7,
                                             .spacing = sigma_spacing::exponential,
                                             .shift_terminal = 0.02,
                                             .sigmas = {0.9, 0.6, 0.3, 0.05}}),
                {0.94332357075030759, 0.2610861230964775, 0.072261486712698858, 0.020000000000000021, 0},
                tight);
  // Shift 1 leaves the list as it is.
  REQUIRE(flow_sigmas(3, flow_schedule{.sigmas = {0.7, 0.4, 0.2}}) == std::vector<double>{0.7, 0.4, 0.2, 0});
}

TEST_CASE("schedule: every option combination gives N + 1 strictly decreasing values ending at 0",
          "[schedule]") {
  for (int n : {1, 2, 3, 10, 50, 1000}) {
    for (auto sp :
         {sigma_spacing::linear, sigma_spacing::karras, sigma_spacing::exponential, sigma_spacing::beta}) {
      for (double shift : {0.3, 1.0, 3.0, 12.0}) {
        INFO("n = " << n << ", spacing = " << static_cast<int>(sp) << ", shift = " << shift);
        require_grid_shape(flow_sigmas(n, flow_schedule{.shift = shift, .spacing = sp}), n);
        require_grid_shape(
            flow_sigmas(n, flow_schedule{.shift = shift, .spacing = sp, .diffusers_parity = false}), n);
        require_grid_shape(flow_sigmas(n, flow_schedule{.mu = std::log(shift), .spacing = sp}), n);
        require_grid_shape(
            flow_sigmas(n, flow_schedule{.mu = shift, .time_shift = time_shift::linear, .spacing = sp}), n);
        if (n >= 2) {
          require_grid_shape(
              flow_sigmas(n, flow_schedule{.shift = shift, .spacing = sp, .shift_terminal = 0.05}), n);
          const auto g = flow_sigmas(n, flow_schedule{.shift = shift, .spacing = sp, .sigma_last = 0.03});
          require_grid_shape(g, n);
          REQUIRE(g[static_cast<std::size_t>(n) - 1] == 0.03);
        }
      }
    }
  }
}

// karras_sigmas, exponential_sigmas and use_flow_sigmas: golden values from
// `tools/flow_sigmas_reference.py --karras / --exponential / --use-flow-sigmas`, written from
// k-diffusion's get_sigmas_karras / get_sigmas_exponential and the use_flow_sigmas branch of diffusers'
// DPMSolverMultistepScheduler.set_timesteps. Its use_flow_sigmas output was compared once with numpy 1.24
// running that numpy code: bitwise equal.

TEST_CASE("schedule: karras_sigmas reproduces k-diffusion's get_sigmas_karras", "[schedule]") {
  // tools/flow_sigmas_reference.py --karras --steps 10
  const auto g = karras_sigmas(10);
  require_rel_close(g,
                    {14.614599999999992, 9.1034048338298916, 5.4790267361680964, 3.1692041472211496,
                     1.7499009612035363, 0.91442000472535212, 0.44714461992098598, 0.20153187375743564,
                     0.081980914960870135, 0.029200000000000004, 0},
                    rel_tight);
  // The defaults are Stable Diffusion 1.x's sigma range with rho = 7.
  REQUIRE(karras_sigmas(10, karras_schedule{.sigma_min = 0.0292, .sigma_max = 14.6146, .rho = 7.0}) == g);
  // tools/flow_sigmas_reference.py --karras --steps 1
  require_rel_close(karras_sigmas(1), {14.614599999999992, 0}, rel_tight);
  // tools/flow_sigmas_reference.py --karras --steps 2
  require_rel_close(karras_sigmas(2), {14.614599999999992, 0.029200000000000004, 0}, rel_tight);
  // tools/flow_sigmas_reference.py --karras --steps 25 --sigma-min 0.002 --sigma-max 80
  require_rel_close(karras_sigmas(25, karras_schedule{.sigma_min = 0.002, .sigma_max = 80.0}),
                    {80,
                     63.482804020302666,
                     49.97933878356821,
                     39.016684793547107,
                     30.183258054886952,
                     23.122639327625727,
                     17.527831964644111,
                     13.1359328998991,
                     9.723201355260132,
                     7.1005098337696788,
                     5.1091619671499906,
                     3.6170617853775346,
                     2.5152189761471591,
                     1.7145747020473241,
                     1.1431325432683781,
                     0.74337913366545627,
                     0.46997905799774714,
                     0.28772857816582492,
                     0.16975275626876413,
                     0.095930542302740396,
                     0.051532394322817858,
                     0.0260549988896429,
                     0.012237659622743167,
                     0.0052449216821426684,
                     0.0020000000000000031,
                     0},
                    rel_tight);
  // tools/flow_sigmas_reference.py --karras --steps 7 --sigma-min 0.1 --sigma-max 10 --rho 3
  const auto r3 = karras_sigmas(7, karras_schedule{.sigma_min = 0.1, .sigma_max = 10.0, .rho = 3.0});
  require_rel_close(r3,
                    {10.000000000000002, 6.5678008564944923, 4.0273396140944548, 2.2444725900224367,
                     1.0850561015009867, 0.4149464657526582, 0.10000000000000006, 0},
                    rel_tight);
  // tools/flow_sigmas_reference.py --karras --steps 5 --sigma-min 0.5 --sigma-max 2.5 --rho 1
  require_rel_close(karras_sigmas(5, karras_schedule{.sigma_min = 0.5, .sigma_max = 2.5, .rho = 1.0}),
                    {2.5, 2, 1.5, 1, 0.5, 0}, rel_tight);
  // sigma^(1/rho) is uniform in i, and the ends are sigma_max and sigma_min up to the pow round trip.
  for (std::size_t i = 1; i + 1 < 7; ++i)
    REQUIRE(std::cbrt(r3[i - 1]) - std::cbrt(r3[i]) ==
            Approx(std::cbrt(r3[i]) - std::cbrt(r3[i + 1])).epsilon(1e-12));
  REQUIRE(g[0] == Approx(14.6146).epsilon(1e-14));
  REQUIRE(g[9] == Approx(0.0292).epsilon(1e-14));
  require_grid_shape(g, 10, 14.6146 * (1 + 1e-14));
}

TEST_CASE("schedule: flow_sigmas' karras and exponential spacings are karras_sigmas and exponential_sigmas",
          "[schedule]") {
  // Both go through one ramp; between the same end points they agree bit for bit.
  const double lo = flow_sigmas(10, flow_schedule{.shift = 3.0})[9];  // the shifted grid's end points: 1, lo
  auto k = karras_sigmas(10, karras_schedule{.sigma_min = lo, .sigma_max = 1.0, .rho = 5.0});
  REQUIRE(flow_sigmas(10, flow_schedule{.shift = 3.0, .spacing = sigma_spacing::karras, .rho = 5.0}) == k);
  auto e = exponential_sigmas(10, exponential_schedule{.sigma_min = lo, .sigma_max = 1.0});
  REQUIRE(flow_sigmas(10, flow_schedule{.shift = 3.0, .spacing = sigma_spacing::exponential}) == e);
}

TEST_CASE("schedule: exponential_sigmas reproduces k-diffusion's get_sigmas_exponential", "[schedule]") {
  // tools/flow_sigmas_reference.py --exponential --steps 10
  const auto g = exponential_sigmas(10);
  require_rel_close(
      g,
      {14.614599999999996, 7.3257677560189505, 3.6721410928199845, 1.8407108517053383, 0.92268144222744064,
       0.46250666857436057, 0.23183778136834349, 0.11621185276197656, 0.058252777621755646, 0.0292, 0},
      rel_tight);
  REQUIRE(exponential_sigmas(10, exponential_schedule{.sigma_min = 0.0292, .sigma_max = 14.6146}) == g);
  // tools/flow_sigmas_reference.py --exponential --steps 1
  require_rel_close(exponential_sigmas(1), {14.614599999999996, 0}, rel_tight);
  // tools/flow_sigmas_reference.py --exponential --steps 6 --sigma-min 0.002 --sigma-max 80
  require_rel_close(exponential_sigmas(6, exponential_schedule{.sigma_min = 0.002, .sigma_max = 80.0}),
                    {79.999999999999972, 9.608995471851447, 1.1541599247257706, 0.13862896863102919,
                     0.016651064148037461, 0.0020000000000000005, 0},
                    rel_tight);
  // tools/flow_sigmas_reference.py --exponential --steps 3 --sigma-min 0.5 --sigma-max 2
  require_rel_close(exponential_sigmas(3, exponential_schedule{.sigma_min = 0.5, .sigma_max = 2.0}),
                    {2, 1, 0.5, 0}, rel_tight);
  // A constant ratio between neighbours, from sigma_max to sigma_min.
  for (std::size_t i = 1; i + 1 < 10; ++i) REQUIRE(g[i] / g[i + 1] == Approx(g[i - 1] / g[i]).epsilon(1e-13));
  REQUIRE(g[0] == Approx(14.6146).epsilon(1e-14));
  REQUIRE(g[9] == Approx(0.0292).epsilon(1e-14));
  require_grid_shape(g, 10, 14.6146 * (1 + 1e-14));
}

TEST_CASE("schedule: use_flow_sigmas is diffusers' multistep flow grid, bit for bit", "[schedule]") {
  // tools/flow_sigmas_reference.py --use-flow-sigmas --steps 10 --shift 3
  const auto g = use_flow_sigmas(10, 3.0);
  require_identical(g, {0.99966644429619733, 0.963941104996069, 0.92272167487684742, 0.87463520386892357,
                        0.81780971438966699, 0.74962481240620316, 0.66629613161405066, 0.5621483056146056,
                        0.42826521863389538, 0.24979163193865642, 0});
  // diffusers stores the grid as float32: the float rounding of each value is its scheduler.sigmas.
  // tools/flow_sigmas_reference.py --use-flow-sigmas --steps 10 --shift 3 --float32
  require_same_float32(g, {0.999666452f, 0.963941097f, 0.922721684f, 0.87463522f, 0.817809701f, 0.749624789f,
                           0.666296124f, 0.562148333f, 0.428265214f, 0.249791637f, 0.0f});
  REQUIRE(use_flow_sigmas(10, 3.0, 1000) == g);  // T = 1000 is the default
  // The first value is F(1 - 1/T) with F(u) = S u / (1 + (S - 1) u), in numpy's operation order.
  const double u0 = 1.0 - 1.0 / 1000.0;
  REQUIRE(g[0] == 3.0 * u0 / (1.0 + (3.0 - 1.0) * u0));
  // tools/flow_sigmas_reference.py --use-flow-sigmas --steps 1 --shift 3
  require_identical(use_flow_sigmas(1, 3.0), {0.99966644429619733, 0});
  // tools/flow_sigmas_reference.py --use-flow-sigmas --steps 8 --shift 1
  require_identical(use_flow_sigmas(8, 1.0),
                    {0.999, 0.87412500000000004, 0.74924999999999997, 0.62437500000000001,
                     0.49950000000000006, 0.37462499999999999, 0.24975000000000003, 0.12487499999999996, 0});
  // tools/flow_sigmas_reference.py --use-flow-sigmas --steps 5 --shift 0.5
  require_identical(use_flow_sigmas(5, 0.5), {0.99800199800199807, 0.66555629580279807, 0.42795944595173507,
                                              0.2496875781054736, 0.11098766803688477, 0});
  // tools/flow_sigmas_reference.py --use-flow-sigmas --steps 6 --shift 3 --num-train-timesteps 2
  require_identical(use_flow_sigmas(6, 3.0, 2), {0.75, 0.68181818181818188, 0.59999999999999987, 0.5,
                                                 0.37499999999999994, 0.21428571428571436, 0});
  // tools/flow_sigmas_reference.py --use-flow-sigmas --steps 4 --shift 7 --num-train-timesteps 500
  require_identical(use_flow_sigmas(4, 7.0, 500),
                    {0.99971379507727531, 0.95419777818248042, 0.87456184276414628, 0.69943932719263124, 0});
  // 50 steps with shift 12 (Wan 2.2's flow_shift).
  // tools/flow_sigmas_reference.py --use-flow-sigmas --steps 50 --shift 12
  const auto w = use_flow_sigmas(50, 12.0);
  require_identical(w, {0.9999165902076903,  0.99821738398976312, 0.99645350770253815,
                        0.99462119781176128, 0.99271639297634173, 0.99073470399720853,
                        0.98867138005233213, 0.98652127067118067, 0.98427878280792436,
                        0.98193783226017828, 0.97949178854481589, 0.97693341217917518,
                        0.9742547831182552,  0.97144721885793273, 0.96850118042028366,
                        0.96540616407625146, 0.96215057621581312, 0.95872158822403242,
                        0.95510496753376106, 0.95128488016403046, 0.94724365896699758,
                        0.94296153042874464, 0.93841629111078806, 0.93358292255907793,
                        0.92843313058138766, 0.92293479097698061, 0.91705127878216097,
                        0.91074065143502669, 0.9039546473447172,  0.89663744929105416,
                        0.88872414560011848, 0.88013879926272554, 0.87079200329295159,
                        0.86057775544416915, 0.84936942043361197, 0.83701445295226562,
                        0.82332741383201047, 0.80808059857822123, 0.79099126839246048,
                        0.77170395426003191, 0.74976546375633235, 0.72458882076010234,
                        0.69539996519519687, 0.66115676433743298, 0.62042196422102236,
                        0.57115631997713079, 0.51036655455745239, 0.43347354972458929,
                        0.33310178109978045, 0.19656003541622255, 0});
  // tools/flow_sigmas_reference.py --use-flow-sigmas --steps 50 --shift 12 --float32
  require_same_float32(
      w, {0.999916613f, 0.998217404f, 0.996453524f, 0.994621217f, 0.992716372f, 0.990734696f, 0.988671362f,
          0.986521244f, 0.984278798f, 0.981937826f, 0.97949177f,  0.97693342f,  0.974254787f, 0.971447229f,
          0.96850121f,  0.965406179f, 0.962150574f, 0.958721578f, 0.955104947f, 0.951284885f, 0.947243631f,
          0.942961514f, 0.938416302f, 0.933582902f, 0.92843312f,  0.922934771f, 0.917051256f, 0.910740674f,
          0.903954625f, 0.89663744f,  0.888724148f, 0.880138814f, 0.870792031f, 0.860577762f, 0.849369407f,
          0.837014437f, 0.823327422f, 0.808080614f, 0.790991247f, 0.771703959f, 0.749765456f, 0.724588811f,
          0.69539994f,  0.661156774f, 0.620421946f, 0.571156323f, 0.510366559f, 0.433473557f, 0.333101779f,
          0.19656004f,  0.0f});
  // Shift 1 is the identity: sigma_k = 1 - a[N - k] exactly, with a = linspace(1, 1/T, N + 1).
  const auto one = use_flow_sigmas(8, 1.0);
  const double step = (1.0 / 1000.0 - 1.0) / 8.0;
  for (std::size_t k = 0; k < 8; ++k) {
    const double a = k == 0 ? 1.0 / 1000.0 : 1.0 + static_cast<double>(8 - k) * step;
    REQUIRE(one[k] == 1.0 - a);
  }
}

TEST_CASE(
    "schedule: karras, exponential and use_flow_sigmas give N + 1 strictly decreasing values ending at 0",
    "[schedule]") {
  for (int n : {1, 2, 3, 10, 50, 1000}) {
    INFO("n = " << n);
    for (double rho : {0.5, 1.0, 3.0, 7.0, 20.0})
      require_grid_shape(karras_sigmas(n, karras_schedule{.sigma_min = 0.002, .sigma_max = 80.0, .rho = rho}),
                         n, 80.0 * (1 + 1e-14));
    require_grid_shape(exponential_sigmas(n, exponential_schedule{.sigma_min = 1e-4, .sigma_max = 1e3}), n,
                       1e3 * (1 + 1e-14));
    for (double shift : {0.3, 1.0, 3.0, 12.0})
      for (int t : {2, 1000, 100000}) require_grid_shape(use_flow_sigmas(n, shift, t), n);
  }
}

TEST_CASE("schedule: vp_taus is the reference eps grid", "[schedule]") {
  // tools/flow_sigmas_reference.py --vp-taus 10 --eps-stop 1e-3
  require_close(stork::vp_taus(10),
                {0.90000000000000002, 0.80000000000000004, 0.69999999999999996, 0.59999999999999998, 0.5,
                 0.40000000000000002, 0.29999999999999999, 0.20000000000000001, 0.10000000000000001, 0.001},
                0.0);
  // tools/flow_sigmas_reference.py --vp-taus 2 --eps-stop 1e-5
  require_close(stork::vp_taus(2, stork::vp_grid{.eps_stop = 1e-5}), {0.5, 1.0000000000000001e-05}, 0.0);
}

TEST_CASE("schedule: invalid options throw stork::error naming the parameter", "[schedule][error]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();

  REQUIRE_STORK_ERROR(flow_sigmas(0), "flow_sigmas: steps = 0");
  REQUIRE_STORK_ERROR(flow_sigmas(-3), "flow_sigmas: steps = -3");

  REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.shift = 0.0}), "flow_sigmas: shift = 0 ");
  REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.shift = -1.0}), "flow_sigmas: shift = -1 ");
  REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.shift = nan}), "flow_sigmas: shift = nan");
  REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.shift = inf}), "flow_sigmas: shift = inf");

  REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.mu = nan}), "flow_sigmas: mu = nan");
  REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.mu = -inf}), "flow_sigmas: mu = -inf");
  REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.mu = 0.0, .time_shift = time_shift::linear}),
                      "flow_sigmas: mu = 0 ");
  REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.mu = -0.5, .time_shift = time_shift::linear}),
                      "flow_sigmas: mu = -0.5");
  REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.time_shift = static_cast<time_shift>(7)}),
                      "flow_sigmas: time_shift = 7");
  REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.spacing = static_cast<sigma_spacing>(9)}),
                      "flow_sigmas: spacing = 9");

  REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.rho = 0.0}), "flow_sigmas: rho = 0");
  REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.rho = -7.0}), "flow_sigmas: rho = -7");
  REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.rho = inf}), "flow_sigmas: rho = inf");
  REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.beta_alpha = 0.0}), "flow_sigmas: beta_alpha = 0");
  REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.beta_alpha = nan}), "flow_sigmas: beta_alpha = nan");
  REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.beta_beta = -1.0}), "flow_sigmas: beta_beta = -1");
  REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.beta_beta = inf}), "flow_sigmas: beta_beta = inf");

  for (double t : {0.0, 1.0, 1.5, -0.2, nan}) {
    INFO("shift_terminal = " << t);
    REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.shift_terminal = t}),
                        "flow_sigmas: shift_terminal = " + stork::detail::describe(t));
  }
  // One step has only sigma = 1, which cannot be stretched.
  REQUIRE_STORK_ERROR(flow_sigmas(1, flow_schedule{.shift_terminal = 0.1}), "flow_sigmas: steps = 1");

  for (double s : {0.0, 1.0, -0.1, 2.0, nan}) {
    INFO("sigma_last = " << s);
    REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.sigma_last = s}),
                        "flow_sigmas: sigma_last = " + stork::detail::describe(s));
  }
  REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.shift_terminal = 0.1, .sigma_last = 0.05}),
                      "flow_sigmas: sigma_last = 0.05 is invalid (cannot be combined with shift_terminal");
  REQUIRE_STORK_ERROR(flow_sigmas(2, flow_schedule{.sigma_last = 0.05, .sigmas = {1.0, 0.5}}),
                      "flow_sigmas: sigma_last = 0.05 is invalid (cannot be combined with a custom sigmas");
  REQUIRE_STORK_ERROR(flow_sigmas(1, flow_schedule{.sigma_last = 0.05}), "flow_sigmas: steps = 1");

  REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.num_train_timesteps = 0}),
                      "flow_sigmas: num_train_timesteps = 0");
  REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.num_train_timesteps = -5}),
                      "flow_sigmas: num_train_timesteps = -5");
  // T = 1: the training grid is the single point u = 1, so more than one step would repeat sigma = 1.
  REQUIRE_STORK_ERROR(flow_sigmas(2, flow_schedule{.num_train_timesteps = 1}),
                      "flow_sigmas: num_train_timesteps = 1");

  REQUIRE_STORK_ERROR(
      flow_sigmas(4, flow_schedule{.sigmas = {1.0, 0.5, 0.2}}),
      "flow_sigmas: steps = 4 is invalid (a custom sigmas list needs steps == sigmas.size() = 3");
  REQUIRE_STORK_ERROR(flow_sigmas(3, flow_schedule{.sigmas = {1.5, 0.5, 0.2}}),
                      "flow_sigmas: sigmas[0] = 1.5");
  REQUIRE_STORK_ERROR(flow_sigmas(3, flow_schedule{.sigmas = {1.0, 0.5, 0.0}}), "flow_sigmas: sigmas[2] = 0");
  REQUIRE_STORK_ERROR(flow_sigmas(3, flow_schedule{.sigmas = {1.0, -0.5, 0.2}}),
                      "flow_sigmas: sigmas[1] = -0.5");
  REQUIRE_STORK_ERROR(flow_sigmas(3, flow_schedule{.sigmas = {1.0, nan, 0.2}}),
                      "flow_sigmas: sigmas[1] = nan");
  REQUIRE_STORK_ERROR(flow_sigmas(3, flow_schedule{.sigmas = {1.0, 0.5, 0.5}}),
                      "flow_sigmas: sigmas[2] = 0.5 is invalid (custom sigmas must be strictly decreasing");
  REQUIRE_STORK_ERROR(flow_sigmas(3, flow_schedule{.sigmas = {0.2, 0.5, 0.7}}),
                      "flow_sigmas: sigmas[1] = 0.5");

  // A grid that collapses in double precision is reported, not returned.
  REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.shift = 1e300}), "not positive and strictly decreasing");
  REQUIRE_STORK_ERROR(flow_sigmas(10, flow_schedule{.mu = 800.0}), "flow_sigmas: steps = 10");

  REQUIRE_STORK_ERROR(stork::vp_taus(1), "vp_taus: steps = 1");
  REQUIRE_STORK_ERROR(stork::vp_taus(0), "vp_taus: steps = 0");
  REQUIRE_STORK_ERROR(stork::vp_taus(10, stork::vp_grid{.eps_stop = 0.0}), "vp_taus: eps_stop = 0");
  REQUIRE_STORK_ERROR(stork::vp_taus(10, stork::vp_grid{.eps_stop = 0.1}), "vp_taus: eps_stop = 0.1");
  REQUIRE_STORK_ERROR(stork::vp_taus(10, stork::vp_grid{.eps_stop = -1e-3}), "vp_taus: eps_stop = -0.001");
  REQUIRE_STORK_ERROR(stork::vp_taus(10, stork::vp_grid{.eps_stop = nan}), "vp_taus: eps_stop = nan");
}

TEST_CASE("schedule: karras_sigmas, exponential_sigmas and use_flow_sigmas reject bad input naming it",
          "[schedule][error]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();

  REQUIRE_STORK_ERROR(karras_sigmas(0), "karras_sigmas: steps = 0 is invalid (needs steps >= 1)");
  REQUIRE_STORK_ERROR(karras_sigmas(-2), "karras_sigmas: steps = -2");
  REQUIRE_STORK_ERROR(karras_sigmas(1000001),
                      "karras_sigmas: steps = 1000001 is invalid (at most 1000000 steps)");
  for (double v : {0.0, -1.0, nan, inf, -inf}) {
    INFO("sigma_min = " << v);
    REQUIRE_STORK_ERROR(karras_sigmas(10, karras_schedule{.sigma_min = v}),
                        "karras_sigmas: sigma_min = " + stork::detail::describe(v) + " is invalid");
  }
  for (double v : {0.0292, 0.01, -3.0, nan, inf}) {
    INFO("sigma_max = " << v);
    REQUIRE_STORK_ERROR(karras_sigmas(10, karras_schedule{.sigma_max = v}),
                        "karras_sigmas: sigma_max = " + stork::detail::describe(v) +
                            " is invalid (needs a finite sigma_max > sigma_min = 0.0292)");
  }
  for (double v : {0.0, -7.0, nan, inf}) {
    INFO("rho = " << v);
    REQUIRE_STORK_ERROR(karras_sigmas(10, karras_schedule{.rho = v}),
                        "karras_sigmas: rho = " + stork::detail::describe(v) + " is invalid");
  }
  // Valid one by one, but the grid collapses (a range of 1e-13 split 1000 ways) or overflows
  // (sigma_max^(1/rho) = inf) in double: reported, not returned.
  REQUIRE_STORK_ERROR(karras_sigmas(1000, karras_schedule{.sigma_min = 1.0, .sigma_max = 1.0 + 1e-13}),
                      "karras_sigmas: steps = 1000 is invalid (the karras grid is not positive and strictly "
                      "decreasing in double precision");
  REQUIRE_STORK_ERROR(karras_sigmas(10, karras_schedule{.rho = 1e-300}), "karras_sigmas: steps = 10");

  REQUIRE_STORK_ERROR(exponential_sigmas(0), "exponential_sigmas: steps = 0 is invalid (needs steps >= 1)");
  REQUIRE_STORK_ERROR(exponential_sigmas(1000001), "exponential_sigmas: steps = 1000001");
  for (double v : {0.0, -1e-3, nan, inf}) {
    INFO("sigma_min = " << v);
    REQUIRE_STORK_ERROR(exponential_sigmas(10, exponential_schedule{.sigma_min = v}),
                        "exponential_sigmas: sigma_min = " + stork::detail::describe(v) + " is invalid");
  }
  for (double v : {0.0292, 0.02, nan, inf, -inf}) {
    INFO("sigma_max = " << v);
    REQUIRE_STORK_ERROR(exponential_sigmas(10, exponential_schedule{.sigma_max = v}),
                        "exponential_sigmas: sigma_max = " + stork::detail::describe(v) + " is invalid");
  }
  REQUIRE_STORK_ERROR(
      exponential_sigmas(1000, exponential_schedule{.sigma_min = 1.0, .sigma_max = 1.0 + 1e-13}),
      "exponential_sigmas: steps = 1000 is invalid (the exponential grid is not positive and strictly");

  REQUIRE_STORK_ERROR(use_flow_sigmas(0, 3.0), "use_flow_sigmas: steps = 0 is invalid (needs steps >= 1)");
  REQUIRE_STORK_ERROR(use_flow_sigmas(1000001, 3.0), "use_flow_sigmas: steps = 1000001");
  for (double v : {0.0, -1.0, nan, inf}) {
    INFO("shift = " << v);
    REQUIRE_STORK_ERROR(use_flow_sigmas(10, v),
                        "use_flow_sigmas: shift = " + stork::detail::describe(v) + " is invalid");
  }
  for (int t : {1, 0, -1000}) {
    INFO("num_train_timesteps = " << t);
    REQUIRE_STORK_ERROR(use_flow_sigmas(10, 3.0, t),
                        "use_flow_sigmas: num_train_timesteps = " + std::to_string(t) + " is invalid");
  }
  // Every sigma rounds to 1 in double.
  REQUIRE_STORK_ERROR(use_flow_sigmas(10, 1e300),
                      "use_flow_sigmas: steps = 10 is invalid (the use_flow_sigmas grid is not positive");
}
