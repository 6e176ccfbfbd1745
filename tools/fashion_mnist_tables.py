#!/usr/bin/env python3
"""Markdown tables of the Fashion-MNIST demos' committed runs, from their fd.csv (no number typed by hand).

  tools/fashion_mnist_tables.py flow [docs/results/fashion_mnist_flow/fd.csv]
      the four tables of docs/fashion_mnist_flow.md: FD and distance to the ODE solution, shift 1 and 3,
      every method at every NFE; the best of each column in bold before rounding (FD: of all methods;
      ODE distance: of the deterministic ones); the actual model calls in parentheses where they differ
      from the budget.
  tools/fashion_mnist_tables.py eps [docs/results/fashion_mnist/fd.csv]
      the table of docs/results.md ("A trained image model"): FD and distance to the method's own ODE at
      NFE 5 / 10 / 20 / 50, and the full FD and ODE-distance tables with the same bold rule.
A run missing from fd.csv (the demo writes no row for a failed run: a stochastic sampler that diverged to
NaN/Inf, its message in the demo's output) is "diverged".
"""
import csv
import math
import sys

# The samplers that add noise (their distance to the ODE solution is listed, not ranked).
STOCHASTIC = {"euler_ancestral", "dpmpp_2m_sde", "dpmpp_3m_sde", "dpmpp_2s_a", "er_sde", "dpmpp_2m_sde_bt"}
# Solves another ODE (the reference code's reading of the table): not ranked by the ODE distance either.
OTHER_ODE = {"stork4_ref_vp"}
BUDGETS = [5, 8, 10, 15, 20, 30, 50]
SHORT = [5, 10, 20, 50]


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def fd_text(v, digits=2):
    if not math.isfinite(v):
        return "nan"
    return f"{v:.0f}" if v >= 100 else f"{v:.{digits}f}"


def ode_text(v):
    return f"{v:.1e}".replace("e-0", "e-").replace("e+0", "e+")


def eps_grid(described):
    """The ε demo's csv names the grid by its description: its short name, as the demo's grid_name."""
    for prefix, name in (("VP tau uniform", "vp_uniform"), ("VP vp_taus", "vp_taus"), ("VE Karras", "karras"),
                         ("VE sd.cpp simple", "simple")):
        if described.startswith(prefix):
            return name
    return described


def full_table(rows, key, text, rankable):
    """rows: the csv rows of one setting; key: the column; rankable(method): whether it may be bold."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    cell = {(r["method"], int(r["nfe_budget"])): r for r in rows}
    best = {}
    for b in BUDGETS:
        vals = [float(cell[(m, b)][key]) for m in methods if (m, b) in cell and rankable(m)]
        vals = [v for v in vals if math.isfinite(v)]
        best[b] = min(vals) if vals else None
    out = ["| method | grid | " + " | ".join(f"NFE {b}" for b in BUDGETS) + " |",
           "|---|---|" + "---|" * len(BUDGETS)]
    for m in methods:
        grid = next(r["grid"] for r in rows if r["method"] == m)
        cells = []
        for b in BUDGETS:
            r = cell.get((m, b))
            if r is None:  # the run failed: a stochastic sampler that diverged to NaN/Inf (demo_output.txt)
                cells.append("diverged")
                continue
            v = float(r[key])
            t = text(v)
            if rankable(m) and best[b] is not None and v == best[b]:
                t = f"**{t}**"
            if int(r["nfe"]) != b:
                t += f" ({r['nfe']})"
            cells.append(t)
        out.append(f"| {m} | {grid} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def flow(path):
    rows = read(path)
    floor = float(rows[0]["floor"])
    for shift in ("1", "3"):
        sub = [r for r in rows if r["shift"] == shift]
        print(f"### FD, shift {shift} (FD of 5,000 samples; floor {floor:.2f})\n")
        print(full_table(sub, "fd", fd_text, lambda m: True))
        print()
    for shift in ("1", "3"):
        sub = [r for r in rows if r["shift"] == shift]
        print(f"### Distance to the ODE solution, shift {shift} (median |x − x_ODE|/√d, first 256 samples)\n")
        print(full_table(sub, "ode_error_first256", ode_text, lambda m: m not in STOCHASTIC))
        print()


def eps(path):
    rows = read(path)
    cell = {(r["method"], int(r["nfe_budget"])): r for r in rows}
    methods = list(dict.fromkeys(r["method"] for r in rows))
    print("| method | grid | FD | distance to its ODE's solution |")
    print("|---|---|---|---|")
    for m in methods:
        grid = eps_grid(next(r["grid"] for r in rows if r["method"] == m))
        fds = []
        for b in SHORT:
            r = cell.get((m, b))
            if r is None:
                fds.append("diverged")
                continue
            t = f"{float(r['fd']):.0f}" if float(r["fd"]) >= 1000 else f"{float(r['fd']):.1f}"
            fds.append(t + (f" ({r['nfe']})" if int(r["nfe"]) != b else ""))
        if m in STOCHASTIC:
            ode = "(stochastic)"
        elif m in OTHER_ODE:
            ode = f"(another ODE: {ode_text(float(cell[(m, 50)]['ode_error_first256']))} at NFE 50)"
        else:
            ode = " / ".join(ode_text(float(cell[(m, b)]["ode_error_first256"])) for b in SHORT)
        print(f"| {m} | {grid} | " + " / ".join(fds) + f" | {ode} |")
    short = [dict(r, grid=eps_grid(r["grid"])) for r in rows]
    print(f"\n### FD (5,000 samples; floor {float(rows[0]['floor']):.2f})\n")
    print(full_table(short, "fd", fd_text, lambda m: True))
    print("\n### Distance to the method's own ODE solution (median |x − x_ODE|/√d, first 256 samples)\n")
    print(full_table(short, "ode_error_first256", ode_text,
                     lambda m: m not in STOCHASTIC and m not in OTHER_ODE))


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("flow", "eps"):
        sys.exit(__doc__)
    default = {"flow": "docs/results/fashion_mnist_flow/fd.csv", "eps": "docs/results/fashion_mnist/fd.csv"}
    (flow if sys.argv[1] == "flow" else eps)(sys.argv[2] if len(sys.argv) > 2 else default[sys.argv[1]])
