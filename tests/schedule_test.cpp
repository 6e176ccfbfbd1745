// Tests of <stork/schedule.hpp>.
//
// Expected grids come from tools/flow_sigmas_reference.py, an independent pure-Python implementation
// of the formulas (its beta quantiles use a power series, not the header's continued fraction). Each
// block is pasted from `tools/flow_sigmas_reference.py --all`, under the command line that prints it.
#include <stork/schedule.hpp>

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace {

using stork::flow_schedule;
using stork::flow_sigmas;
using stork::sigma_spacing;
using stork::time_shift;

void require_close(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("i = " << i << ": got " << got[i] << ", want " << want[i]);
    REQUIRE(std::fabs(got[i] - want[i]) <= tol);
  }
}

void require_grid_shape(const std::vector<double>& g, int steps) {
  REQUIRE(g.size() == static_cast<std::size_t>(steps) + 1);
  REQUIRE(g.back() == 0.0);
  for (std::size_t i = 0; i + 1 < g.size(); ++i) {
    INFO("i = " << i);
    REQUIRE(std::isfinite(g[i]));
    REQUIRE(g[i] <= 1.0);
    REQUIRE(g[i] > g[i + 1]);
  }
}

constexpr double tight = 1e-12;  // flow_sigmas vs the Python reference (both double)

}  // namespace

#define REQUIRE_STORK_ERROR(expr, text)               \
  do {                                                \
    REQUIRE_THROWS_AS(expr, stork::error);            \
    REQUIRE_THROWS_WITH(expr, Catch::Contains(text)); \
  } while (false)

TEST_CASE("schedule: S = 3, N = 10 reproduces the reference grid (diffusers double shift)", "[schedule]") {
  const auto g = flow_sigmas(10, flow_schedule{.shift = 3.0});
  // stork-reference.md §2.1 step 5 (printed to 5 digits), without the inserted midpoint .98006.
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
