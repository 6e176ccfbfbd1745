#!/usr/bin/env python3
"""Markdown tables from bench/stochastic_quality's CSV (docs/stochastic.md, docs/results.md): per setting
(VE; flow at shift 1; flow at shift 3), SW2 at NFE 5 / 10 / 20 / 50 in d = 2 and d = 64 for every method with
its grid, then the best stochastic (SDE) sampler at each NFE budget beside the best ODE one.

Usage: tools/stochastic_tables.py docs/results/stochastic_quality.csv"""
import collections
import csv
import sys

NFE = [5, 10, 20, 50]
BUDGETS = [5, 8, 10, 15, 20, 30, 50]
rows = list(csv.DictReader(open(sys.argv[1])))


def budget_of(r):  # the budget a row was run for: the smallest budget at or above its NFE
    return min(b for b in BUDGETS if b >= int(r["nfe"]))


sw = collections.defaultdict(dict)
kind = {}
floor = {}
for r in rows:
    key = (r["method"], r["grid"])
    sw[r["problem"]][(key, budget_of(r))] = float(r["sw2"])
    kind[(r["problem"], key)] = r["kind"]
    floor[r["problem"]] = (float(r["sw2_floor"]), float(r["sw2_grid_floor"]))


def series(p, k):
    return " / ".join(f"{sw[p][(k, b)]:.3f}" if (k, b) in sw[p] else "–" for b in NFE)


for title, (p2, p64) in (("VE, Karras (k-diffusion's σ space, exact denoiser)", ("ve_d2", "ve_d64")),
                         ("rectified flow, shift 1 (exact velocity)", ("rf_d2_shift1", "rf_d64_shift1")),
                         ("rectified flow, shift 3", ("rf_d2_shift3", "rf_d64_shift3"))):
    if p2 not in sw:
        continue
    print(f"\n{title}: sliced W2 at NFE {' / '.join(map(str, NFE))}\n")
    print("| method | kind | grid | d = 2 | d = 64 |")
    print("|---|---|---|---|---|")
    for k in dict.fromkeys(k for (k, _) in sw[p2]):
        print(f"| {k[0]} | {kind[(p2, k)].upper()} | {k[1]} | {series(p2, k)} | {series(p64, k)} |")
    for label, i in (("floor: two true sample sets", 0), ("floor: exact samples at σ_min, denoised", 1)):
        if floor[p2][i] == floor[p2][i]:  # not nan
            print(f"| {label} | | | {floor[p2][i]:.3f} | {floor[p64][i]:.3f} |")

print("\nThe best stochastic sampler per setting and NFE budget (sliced W2), and the best ODE sampler:\n")
print("| setting | " + " | ".join(f"NFE {b}" for b in BUDGETS) + " |")
print("|---|" + "---|" * len(BUDGETS))
for p in sw:
    cells = []
    for b in BUDGETS:
        sde = [(v, k) for (k, bb), v in sw[p].items() if bb == b and kind[(p, k)] == "sde"]
        ode = [(v, k) for (k, bb), v in sw[p].items() if bb == b and kind[(p, k)] == "ode"]
        if not sde or not ode:
            cells.append("–")
            continue
        (v, k), (vo, ko) = min(sde), min(ode)
        cells.append(f"{k[0]} {v:.3f} (ODE: {ko[0]} {vo:.3f})")
    print(f"| {p} | " + " | ".join(cells) + " |")
