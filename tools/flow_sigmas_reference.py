#!/usr/bin/env python3
"""Independent reference for the time grids of include/stork/schedule/: stork::flow_sigmas,
stork::vp_taus, stork::karras_sigmas, stork::exponential_sigmas and stork::use_flow_sigmas.

Pure Python 3 (no numpy, no scipy). It is written from the formulas (diffusers'
FlowMatchEulerDiscreteScheduler.set_timesteps as described in docs/reference.md §2.1, and diffusers'
statement of the options; k-diffusion's get_sigmas_karras / get_sigmas_exponential; the
use_flow_sigmas branch of diffusers' DPMSolverMultistepScheduler.set_timesteps), not from the C++ code.
tests/schedule_test.cpp pastes its 17-digit output. Python floats are IEEE doubles and Python does not
fuse a*b + c, so a formula written in numpy's operation order gives numpy's float64 values bit for bit.

Usage:
  tools/flow_sigmas_reference.py --steps 10 --shift 3
  tools/flow_sigmas_reference.py --steps 8 --mu 0.8 --time-shift linear
  tools/flow_sigmas_reference.py --steps 6 --shift 3 --spacing beta --beta-alpha 0.6 --beta-beta 0.6
  tools/flow_sigmas_reference.py --steps 5 --sigmas 1,0.8,0.5,0.3,0.1 --shift 2
  tools/flow_sigmas_reference.py --vp-taus 10 --eps-stop 1e-3
  tools/flow_sigmas_reference.py --karras --steps 10 --sigma-min 0.0292 --sigma-max 14.6146 --rho 7
  tools/flow_sigmas_reference.py --exponential --steps 10 --sigma-min 0.0292 --sigma-max 14.6146
  tools/flow_sigmas_reference.py --use-flow-sigmas --steps 10 --shift 3 [--num-train-timesteps 1000]
  tools/flow_sigmas_reference.py --use-flow-sigmas --steps 10 --shift 3 --float32
  tools/flow_sigmas_reference.py --all      # every case used by tests/schedule_test.cpp

Formulas (N = steps, T = num_train_timesteps, F(u) the shift map):
  F(u) = S u / (1 + (S - 1) u)                    static shift S
       = e^mu / (e^mu + (1/u - 1))                dynamic shift, exponential
       = mu / (mu + (1/u - 1))                    dynamic shift, linear
  u    = linspace(1, u_min, N) with u_min = F(1/T) (static shift: diffusers' double shift of sigma_min),
         u_min = 1/T (dynamic shift, or --clean), u_min = F^-1(sigma_last) (--sigma-last),
         or u = the user's list (--sigmas).
  sigma = F(u); then the shift_terminal stretch; then karras / exponential / beta spacing between
  sigma[0] and sigma[N-1]; with --sigma-last the last nonzero sigma is set to exactly sigma_last; 0 appended.
--karras (k-diffusion's get_sigmas_karras(n, sigma_min, sigma_max, rho)):
  ramp = linspace(0, 1, N); sigma = (sigma_max^(1/rho) + ramp * (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho;
  0 appended.
--exponential (k-diffusion's get_sigmas_exponential(n, sigma_min, sigma_max)):
  sigma = exp(linspace(log sigma_max, log sigma_min, N)); 0 appended.
--use-flow-sigmas (diffusers' DPMSolverMultistep/UniPCMultistep, use_flow_sigmas=True, flow_shift=S,
  final_sigmas_type="zero"): alphas = linspace(1, 1/T, N + 1); sigmas = 1 - alphas;
  sigmas = flip(S * sigmas / (1 + (S - 1) * sigmas))[:-1]; 0 appended.
--float32 prints each value rounded to IEEE float32 (diffusers stores its grids with .astype(float32)),
  as C++ float literals.
The beta spacing uses I^-1_{a,b}(1 - i/(N-1)), the inverse regularised incomplete beta function, computed
here by its hypergeometric power series (DLMF 8.17.8) and bisection, i.e. not by the continued fraction
the C++ uses.
"""
import argparse
import math
import struct
import sys


def linspace(a, b, n):
    """numpy.linspace(a, b, n): a + i*step, the last value set to b."""
    if n == 1:
        return [a]
    step = (b - a) / (n - 1)
    out = [a + i * step for i in range(n)]
    out[-1] = b
    return out


def shift_map(args):
    """The map u -> sigma and its inverse, exactly as written in the formulas above."""
    if args.mu is None:
        s = args.shift
        return (lambda u: s * u / (1 + (s - 1) * u)), (lambda sg: sg / (s - (s - 1) * sg))
    m = args.mu
    if args.time_shift == "exponential":
        em = math.exp(m)
        return (lambda u: em / (em + (1 / u - 1))), (lambda sg: 1 / (1 + em * (1 - sg) / sg))
    return (lambda u: m / (m + (1 / u - 1))), (lambda sg: 1 / (1 + m * (1 - sg) / sg))


def log_beta(a, b):
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def inc_beta(a, b, x):
    """Regularised incomplete beta I_x(a, b) by I_x = x^a (1-x)^b / (a B(a,b)) * 2F1(a+b, 1; a+1; x)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    if x > 0.5:
        return 1.0 - inc_beta(b, a, 1.0 - x)
    term, total, n = 1.0, 1.0, 0
    while True:
        term *= (a + b + n) * x / (a + 1 + n)
        total += term
        n += 1
        if term < 1e-18 * total:
            break
    return math.exp(a * math.log(x) + b * math.log1p(-x) - log_beta(a, b)) / a * total


def inc_beta_inv(a, b, p):
    """x with I_x(a, b) = p, by bisection until the interval stops shrinking."""
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(2000):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if inc_beta(a, b, mid) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def flow_sigmas(args):
    n = args.steps
    fwd, inv = shift_map(args)
    t = args.num_train_timesteps
    if args.sigmas:
        u = [float(v) for v in args.sigmas.split(",")]
        assert len(u) == n, "steps must equal the number of custom sigmas"
    else:
        if args.sigma_last is not None:
            u_min = inv(args.sigma_last)
        elif args.clean or args.mu is not None:
            u_min = 1.0 / t
        else:
            u_min = fwd(1.0 / t)  # sigma_min of the training grid, shifted; shifted again below
        u = linspace(1.0, u_min, n)
    sig = [fwd(v) for v in u]
    if args.sigma_last is not None:
        sig[-1] = args.sigma_last
    if args.shift_terminal is not None:
        one_minus = [1 - v for v in sig]
        scale = one_minus[-1] / (1 - args.shift_terminal)
        sig = [1 - v / scale for v in one_minus]
    hi, lo = sig[0], sig[-1]
    if args.spacing == "karras":
        r = args.rho
        ramp = linspace(0.0, 1.0, n)
        sig = [(hi ** (1 / r) + x * (lo ** (1 / r) - hi ** (1 / r))) ** r for x in ramp]
    elif args.spacing == "exponential":
        sig = [math.exp(x) for x in linspace(math.log(hi), math.log(lo), n)]
    elif args.spacing == "beta":
        ramp = linspace(0.0, 1.0, n)
        sig = [lo + inc_beta_inv(args.beta_alpha, args.beta_beta, 1 - x) * (hi - lo) for x in ramp]
    if args.sigma_last is not None:
        sig[-1] = args.sigma_last
    return sig + [0.0]


def vp_taus(n, eps_stop):
    return [k / n for k in range(n - 1, 0, -1)] + [eps_stop]


def karras(args):
    """k-diffusion's get_sigmas_karras, in double."""
    n, rho = args.steps, args.rho
    min_inv_rho = args.sigma_min ** (1 / rho)
    max_inv_rho = args.sigma_max ** (1 / rho)
    ramp = linspace(0.0, 1.0, n)
    return [(max_inv_rho + r * (min_inv_rho - max_inv_rho)) ** rho for r in ramp] + [0.0]


def exponential(args):
    """k-diffusion's get_sigmas_exponential, in double."""
    ramp = linspace(math.log(args.sigma_max), math.log(args.sigma_min), args.steps)
    return [math.exp(v) for v in ramp] + [0.0]


def use_flow_sigmas(args):
    """diffusers' use_flow_sigmas grid, element by element in numpy's operation order."""
    n, s, t = args.steps, args.shift, args.num_train_timesteps
    alphas = linspace(1.0, 1 / t, n + 1)
    sigmas = [1.0 - a for a in alphas]
    shifted = [s * v / (1 + (s - 1) * v) for v in sigmas]
    return list(reversed(shifted))[:-1] + [0.0]


def to_float32(v):
    """v rounded to the nearest IEEE float32 (what numpy's astype(np.float32) does)."""
    return struct.unpack("<f", struct.pack("<f", v))[0]


def float_literal(v):
    """A C++ float literal that reads back as the float32 value v (9 significant digits suffice)."""
    text = "%.9g" % v
    if "." not in text and "e" not in text:
        text += ".0"
    return text + "f"


def parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--shift", type=float, default=1.0)
    p.add_argument("--mu", type=float)
    p.add_argument("--time-shift", choices=["exponential", "linear"], default="exponential")
    p.add_argument("--spacing", choices=["linear", "karras", "exponential", "beta"], default="linear")
    p.add_argument("--rho", type=float, default=7.0)
    p.add_argument("--beta-alpha", type=float, default=0.6)
    p.add_argument("--beta-beta", type=float, default=0.6)
    p.add_argument("--shift-terminal", type=float)
    p.add_argument("--num-train-timesteps", type=int, default=1000)
    p.add_argument("--clean", action="store_true", help="diffusers_parity = false (sigma_min shifted once)")
    p.add_argument("--sigma-last", type=float)
    p.add_argument("--sigmas", help="comma-separated custom list (replaces u)")
    p.add_argument("--vp-taus", type=int, metavar="N", help="print the reference eps grid instead")
    p.add_argument("--eps-stop", type=float, default=1e-3)
    p.add_argument("--karras", action="store_true", help="k-diffusion's get_sigmas_karras instead")
    p.add_argument("--exponential", action="store_true", help="k-diffusion's get_sigmas_exponential instead")
    p.add_argument("--use-flow-sigmas", action="store_true", help="diffusers' multistep flow grid instead")
    p.add_argument("--sigma-min", type=float, default=0.0292)
    p.add_argument("--sigma-max", type=float, default=14.6146)
    p.add_argument("--float32", action="store_true", help="print the values rounded to float32")
    p.add_argument("--all", action="store_true", help="print every case used by tests/schedule_test.cpp")
    return p


# The cases pasted into tests/schedule_test.cpp (each prints with the command line that reproduces it).
ALL_CASES = [
    "--steps 10 --shift 3",
    "--steps 10",
    "--steps 1 --shift 3",
    "--steps 8 --mu 0.8",
    "--steps 8 --mu 0.8 --time-shift linear",
    "--steps 8 --mu 1.5 --time-shift linear",
    "--steps 10 --shift 3 --clean",
    "--steps 7 --mu -0.5",
    "--steps 10 --shift 3 --shift-terminal 0.1",
    "--steps 10 --shift 3 --spacing karras",
    "--steps 10 --shift 3 --spacing karras --rho 3",
    "--steps 10 --shift 3 --spacing exponential",
    "--steps 10 --shift 3 --spacing beta",
    "--steps 9 --shift 2 --spacing beta --beta-alpha 2 --beta-beta 5",
    "--steps 10 --shift 3 --sigma-last 0.05",
    "--steps 6 --mu 1.2 --sigma-last 0.02",
    "--steps 6 --mu 1.2 --time-shift linear --sigma-last 0.02",
    "--steps 10 --shift 3 --sigma-last 0.05 --spacing karras",
    "--steps 5 --shift 2 --sigmas 1,0.8,0.5,0.3,0.1",
    "--steps 4 --mu 0.7 --sigmas 0.9,0.6,0.3,0.05 --shift-terminal 0.02 --spacing exponential",
    "--vp-taus 10 --eps-stop 1e-3",
    "--vp-taus 2 --eps-stop 1e-5",
    "--karras --steps 10",
    "--karras --steps 1",
    "--karras --steps 2",
    "--karras --steps 25 --sigma-min 0.002 --sigma-max 80",
    "--karras --steps 7 --sigma-min 0.1 --sigma-max 10 --rho 3",
    "--karras --steps 5 --sigma-min 0.5 --sigma-max 2.5 --rho 1",
    "--exponential --steps 10",
    "--exponential --steps 1",
    "--exponential --steps 6 --sigma-min 0.002 --sigma-max 80",
    "--exponential --steps 3 --sigma-min 0.5 --sigma-max 2",
    "--use-flow-sigmas --steps 10 --shift 3",
    "--use-flow-sigmas --steps 10 --shift 3 --float32",
    "--use-flow-sigmas --steps 1 --shift 3",
    "--use-flow-sigmas --steps 8 --shift 1",
    "--use-flow-sigmas --steps 5 --shift 0.5",
    "--use-flow-sigmas --steps 6 --shift 3 --num-train-timesteps 2",
    "--use-flow-sigmas --steps 4 --shift 7 --num-train-timesteps 500",
    "--use-flow-sigmas --steps 50 --shift 12",
    "--use-flow-sigmas --steps 50 --shift 12 --float32",
]


def emit(argv):
    args = parser().parse_args(argv)
    if args.vp_taus:
        vals = vp_taus(args.vp_taus, args.eps_stop)
    elif args.karras:
        vals = karras(args)
    elif args.exponential:
        vals = exponential(args)
    elif args.use_flow_sigmas:
        vals = use_flow_sigmas(args)
    else:
        vals = flow_sigmas(args)
    if args.float32:
        return "{" + ", ".join(float_literal(to_float32(v)) for v in vals) + "}"
    return "{" + ", ".join("%.17g" % v for v in vals) + "}"


def main():
    args = parser().parse_args()
    if args.all:
        for case in ALL_CASES:
            print("// tools/flow_sigmas_reference.py " + case)
            print(emit(case.split()))
        return 0
    print(emit(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
