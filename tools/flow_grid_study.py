#!/usr/bin/env python3
"""Which flow grid STORK should run on (docs/flow_grid.md): reads bench/quality's --flow-grids output and
counts, for each STORK configuration and grid, the cells (setting, shift, NFE budget) where it beats every
baseline (euler, heun, dpmpp_2m, dpmpp_3m, unipc_3, ipndm), each baseline on its own grid; with the
geometric mean of its median error over the best baseline's.

Usage: tools/flow_grid_study.py DIR [--before quality.csv]   (DIR holds flow_grids_quality.csv)
--before: also count stork4 from another quality.csv (e.g. the committed one, made before a change)."""
import collections
import csv
import math
import sys

BASELINES = ["euler", "heun", "dpmpp_2m", "dpmpp_3m", "unipc_3", "ipndm"]
ISSUE = (["rf_ring8_d2", "rf_blobs_d2", "rf_d64"], [6, 8, 10, 15, 20, 30, 40])  # issue 19's 42 cells


def load(path):
    err, own = {}, {}
    for r in csv.DictReader(open(path)):
        if r["kind"] != "flow" or r["problem"] == "rf_d3072":
            continue
        key = (r["problem"], float(r["shift"]), r["grid"], r["method"], int(r["budget"]))
        err[key] = float(r["terminal_median"])
        own[key] = r["own_grid"] == "1"
    return err, own


def best_baseline(err, own):
    best = collections.defaultdict(lambda: math.inf)
    for (p, s, g, m, b), e in err.items():
        if m in BASELINES and own[(p, s, g, m, b)]:
            best[(p, s, b)] = min(best[(p, s, b)], e)
    return best


def count(err, best, method, grid, problems=None, budgets=None):
    wins = cells = 0
    logs = []
    for (p, s, b), e_best in sorted(best.items()):
        if (problems and p not in problems) or (budgets and b not in budgets):
            continue
        e = err.get((p, s, grid, method, b))
        if e is None:
            continue
        cells += 1
        wins += e < e_best
        logs.append(math.log(e / e_best))
    return wins, cells, math.exp(sum(logs) / len(logs)) if logs else math.nan


def main():
    d = sys.argv[1]
    err, own = load(f"{d}/flow_grids_quality.csv")
    best = best_baseline(err, own)
    grids = sorted({k[2] for k in err}, key=lambda g: ["flow_sigmas", "use_flow_sigmas", "uniform"].index(g)
                   if g in ("flow_sigmas", "use_flow_sigmas", "uniform") else 9)
    methods = [m for m in ["stork4", "stork4_d3", "stork2"] if any(k[3] == m for k in err)]
    print("| method | grid | wins, issue 19's 42 cells | wins, all 72 cells | all 72: geometric mean of error / "
          "best baseline's | shift 1 (36) | shift 3 (36) |")
    print("|---|---|---|---|---|---|---|")
    for m in methods:
        for g in grids:
            w42, c42, _ = count(err, best, m, g, *ISSUE)
            w, c, gm = count(err, best, m, g)
            w1 = sum(1 for (p, s, b), eb in best.items()
                     if s == 1.0 and (p, s, g, m, b) in err and err[(p, s, g, m, b)] < eb)
            w3 = sum(1 for (p, s, b), eb in best.items()
                     if s == 3.0 and (p, s, g, m, b) in err and err[(p, s, g, m, b)] < eb)
            print(f"| {m} | {g} | {w42} / {c42} | {w} / {c} | {gm:.2f} | {w1} | {w3} |")
    # The baselines on the beta grid: their error there over their own grid's (geometric mean per shift), and
    # the wins of STORK-4 when every baseline may take the better of its own grid and the beta grid.
    print()
    print("| baseline | own grid | beta grid / own grid, shift 1 | shift 3 |")
    print("|---|---|---|---|")
    for m in BASELINES:
        own_grid = next((k[2] for k in err if k[3] == m and own[k]), None)
        cells = []
        for shift in (1.0, 3.0):
            logs = [math.log(e / err[(p, s, own_grid, m, b)]) for (p, s, g, mm, b), e in err.items()
                    if mm == m and g == "flow_beta" and s == shift and (p, s, own_grid, m, b) in err]
            cells.append(f"{math.exp(sum(logs) / len(logs)):.2f}" if logs else "–")
        print(f"| {m} | {own_grid} | {cells[0]} | {cells[1]} |")
    best_any = collections.defaultdict(lambda: math.inf)
    for (p, s, g, m, b), e in err.items():
        if m in BASELINES and (own[(p, s, g, m, b)] or g == "flow_beta"):
            best_any[(p, s, b)] = min(best_any[(p, s, b)], e)
    print()
    print("| method | grid | wins against every baseline on the better of its own grid and the beta grid (72) |")
    print("|---|---|---|")
    for m in methods:
        for g in ["flow_sigmas", "use_flow_sigmas", "flow_beta"]:
            w, c, _ = count(err, best_any, m, g)
            print(f"| {m} | {g} | {w} / {c} |")
    print()
    print("| setting | NFE | stork4 on flow_sigmas / use_flow_sigmas / flow_beta | best baseline, own grid | "
          "best baseline on flow_beta |")
    print("|---|---|---|---|---|")
    for p, s in sorted({k[:2] for k in err}):
        for b in (10, 20, 50):
            sg = [err.get((p, s, g, "stork4", b)) for g in ("flow_sigmas", "use_flow_sigmas", "flow_beta")]
            bo = min((err[k], k[3]) for k in err if k[:2] == (p, s) and k[4] == b and k[3] in BASELINES and own[k])
            bb = min((err[k], k[3]) for k in err if k[:2] == (p, s) and k[4] == b and k[3] in BASELINES
                     and k[2] == "flow_beta")
            print(f"| {p}, shift {s:g} | {b} | {' / '.join(f'{v:.1e}' for v in sg)} | {bo[1]} {bo[0]:.1e} | "
                  f"{bb[1]} {bb[0]:.1e} |")
    if "--before" in sys.argv:
        berr, bown = load(sys.argv[sys.argv.index("--before") + 1])
        bbest = best_baseline(berr, bown)
        for g in ["flow_sigmas", "use_flow_sigmas", "uniform"]:
            w42, c42, _ = count(berr, bbest, "stork4", g, *ISSUE)
            w, c, gm = count(berr, bbest, "stork4", g)
            print(f"| stork4 (before) | {g} | {w42} / {c42} | {w} / {c} | {gm:.2f} | | |")


if __name__ == "__main__":
    main()
