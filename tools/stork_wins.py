#!/usr/bin/env python3
"""Counts the cells of bench/quality's flow settings where STORK-4 in its default configuration (`stork4`,
on its own grid) beats every baseline, each baseline on its own grid (the issue 19 count).

A cell is a flow setting, a shift and an NFE budget; STORK wins it when its median terminal error is below
every baseline's. Baselines: every method of the CSV whose name does not start with "stork" (the run's
own-grid rows, column own_grid = 1), and, for a like-for-like count across runs, the six of issue 19
(euler, heun, dpmpp_2m, dpmpp_3m, unipc_3, ipndm). Counted over all flow cells of the CSV, over the 72 of
the 2-D and d = 64 settings (docs/flow_grid.md) and over issue 19's 42 (ring, blobs and d = 64 at
NFE 6-40).

Usage: tools/stork_wins.py quality.csv [more.csv ...]
       e.g. tools/stork_wins.py <(git show 226ec54:docs/results/quality.csv) docs/results/quality.csv"""
import collections
import csv
import math
import sys

ISSUE19 = ["euler", "heun", "dpmpp_2m", "dpmpp_3m", "unipc_3", "ipndm"]
ISSUE_CELLS = ({"rf_ring8_d2", "rf_blobs_d2", "rf_d64"}, {6, 8, 10, 15, 20, 30, 40})


def count(path):
    stork, base_all, base_19 = {}, collections.defaultdict(lambda: math.inf), collections.defaultdict(lambda: math.inf)
    grids, baselines = set(), set()
    for r in csv.DictReader(open(path)):
        if r["kind"] != "flow" or r["own_grid"] != "1":
            continue
        cell = (r["problem"], float(r["shift"]), int(r["budget"]))
        e = float(r["terminal_median"])
        if r["method"] == "stork4":
            stork[cell] = e
            grids.add(r["grid"])
        elif not r["method"].startswith("stork"):
            base_all[cell] = min(base_all[cell], e)
            baselines.add(r["method"])
            if r["method"] in ISSUE19:
                base_19[cell] = min(base_19[cell], e)
    print(f"{path}: stork4 on {', '.join(sorted(grids))}; baselines: {', '.join(sorted(baselines))}")
    subsets = {
        "all flow cells": lambda p, b: True,
        "2-D and d = 64 (72)": lambda p, b: p != "rf_d3072",
        "issue 19's 42": lambda p, b: p in ISSUE_CELLS[0] and b in ISSUE_CELLS[1],
    }
    for label, best in (("every baseline", base_all), ("issue 19's six baselines", base_19)):
        parts = []
        for name, keep in subsets.items():
            cells = [c for c in stork if keep(c[0], c[2]) and c in best]
            wins = sum(stork[c] < best[c] for c in cells)
            logs = [math.log(stork[c] / best[c]) for c in cells]
            gm = math.exp(sum(logs) / len(logs)) if logs else math.nan
            parts.append(f"{name}: {wins} / {len(cells)} (error / best: {gm:.2f})")
        print(f"  against {label}: " + "; ".join(parts))


for path in sys.argv[1:]:
    count(path)
