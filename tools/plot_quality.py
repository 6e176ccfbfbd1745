#!/usr/bin/env python3
"""Plots and tables from the CSV files written by bench/quality (no third-party packages).

Usage: tools/plot_quality.py RESULTS_DIR
Writes into RESULTS_DIR:
  error_vs_nfe_<setting>_own.svg     median terminal error against NFE, each method on its own (standard) grid
  error_vs_nfe_<setting>_shared.svg  the same with every method on the setting's shared grid
  tables.md                          per setting: median error at NFE 10/20/50 on every grid, NFE to reach 1e-2
                                     and 1e-3, sliced W2; and the cells where STORK-4 (default configuration) is
                                     not the best method
  headline.md                        the README's results tables for a few settings (HEADLINE_SETTINGS)
A setting is a problem (mixture and process) with its shift: rf_ring8_d2_shift1, ve_blobs_d2, vpd_d64, ...
"""
import collections
import csv
import math
import os
import sys

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#000000", "#aec7e8", "#ff9896", "#98df8a", "#c5b0d5", "#f7b6d2", "#dbdb8d", "#9edae5"]
METHODS = ["euler", "heun", "dpmpp_2m", "dpmpp_3m", "unipc_3", "ipndm", "stork4", "stork4_d3", "stork4_d3_rk",
           "stork4_vel", "stork4_reference", "stork2"]
DEFAULT = "stork4"  # STORK-4 in its default configuration (s = 5, derivative_order 2, model-output form)
HEADLINE_NFE = (10, 20, 50)
HEADLINE_SETTINGS = {  # setting → column title in the README
    "rf_ring8_d2_shift1": "flow, ring of 8, 2-D, shift 1", "rf_blobs_d2_shift1": "flow, blobs, 2-D, shift 1",
    "rf_d64_shift3": "flow, d = 64, shift 3", "rf_d3072_shift3": "flow, d = 3072, shift 3",
    "ve_blobs_d2": "VE, blobs, 2-D", "ve_d64": "VE, d = 64", "vpd_d64": "SD ε, d = 64"}
KIND_TITLE = {"flow": "rectified flow, velocity model", "ve": "VE (k-diffusion), exact denoiser",
              "vpd": "VP, SD scaled-linear table, eps model"}


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;")


def fmt(v):
    if v is None or not math.isfinite(v):
        return "–"
    return f"{v:.1e}"


def line_plot(path, title, series, xlabel, ylabel):
    w, h, l, r, t, b = 760, 470, 70, 250, 40, 50
    xs = [x for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts if y > 0 and math.isfinite(y)]
    if not xs or not ys:
        return
    x0, x1 = math.log10(min(xs)), math.log10(max(xs))
    y0, y1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = y1 if y1 > y0 else y0 + 1
    px = lambda x: l + (math.log10(x) - x0) / (x1 - x0) * (w - l - r)
    py = lambda y: t + (y1 - math.log10(y)) / (y1 - y0) * (h - t - b)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{l}" y="22" font-size="14">{esc(title)}</text>']
    for e in range(int(y0), int(y1) + 1):
        y = py(10 ** e)
        out.append(f'<line x1="{l}" x2="{w - r}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{l - 8}" y="{y + 4:.1f}" text-anchor="end">1e{e}</text>')
    for n in (5, 6, 8, 10, 15, 20, 30, 40, 50):
        if 10 ** x0 <= n <= 10 ** x1:
            x = px(n)
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{t}" y2="{h - b}" stroke="#eee"/>')
            out.append(f'<text x="{x:.1f}" y="{h - b + 16}" text-anchor="middle">{n}</text>')
    out.append(f'<text x="{(l + w - r) / 2}" y="{h - 12}" text-anchor="middle">{esc(xlabel)}</text>')
    out.append(f'<text x="16" y="{(t + h - b) / 2}" transform="rotate(-90 16 {(t + h - b) / 2})" '
               f'text-anchor="middle">{esc(ylabel)}</text>')
    for i, (name, pts) in enumerate(series.items()):
        c = PALETTE[i % len(PALETTE)]
        pts = [(x, y) for x, y in sorted(pts) if y > 0 and math.isfinite(y)]
        if not pts:
            continue
        d = " ".join(f"{'M' if j == 0 else 'L'}{px(x):.1f},{py(y):.1f}" for j, (x, y) in enumerate(pts))
        dash = ' stroke-dasharray="5,3"' if "reference" in name or "_rk" in name else ""
        width = "2.8" if name.split(" ")[0] == DEFAULT else "1.6"
        out.append(f'<path d="{d}" fill="none" stroke="{c}" stroke-width="{width}"{dash}/>')
        for x, y in pts:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{c}"/>')
        ly = t + 14 + 16 * i
        out.append(f'<line x1="{w - r + 12}" x2="{w - r + 32}" y1="{ly - 4}" y2="{ly - 4}" stroke="{c}" '
                   f'stroke-width="{width}"{dash}/><text x="{w - r + 38}" y="{ly}">{esc(name)}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def setting_name(problem, kind, shift):
    return f"{problem}_shift{shift}" if kind == "flow" else problem


def load(d):
    rows = list(csv.DictReader(open(os.path.join(d, "quality.csv"))))
    targets = list(csv.DictReader(open(os.path.join(d, "nfe_to_target.csv"))))
    settings = collections.OrderedDict()  # setting → info
    for r in rows:
        s = setting_name(r["problem"], r["kind"], r["shift"])
        info = settings.setdefault(s, {"kind": r["kind"], "dim": r["dim"], "shift": r["shift"], "own": {},
                                       "shared": None, "runs": collections.defaultdict(dict), "targets": {}})
        info["runs"][(r["method"], r["grid"])][int(r["budget"])] = r
        if r["own_grid"] == "1":
            info["own"][r["method"]] = r["grid"]
        if r["shared_grid"] == "1":
            info["shared"] = r["grid"]
    for r in targets:
        s = setting_name(r["problem"], r["kind"], r["shift"])
        if s in settings:
            settings[s]["targets"][(r["method"], r["grid"])] = (float(r["nfe_for_median_1e-2"]),
                                                                float(r["nfe_for_median_1e-3"]))
    return settings


def median_at(info, method, grid, budget):
    r = info["runs"].get((method, grid), {}).get(budget)
    return float(r["terminal_median"]) if r else None


def methods_of(info):
    present = {m for m, _ in info["runs"]}
    return [m for m in METHODS if m in present] + sorted(present - set(METHODS))


def plots(d, settings):
    for s, info in settings.items():
        ms = methods_of(info)
        label = f'{s} (d = {info["dim"]}, {KIND_TITLE.get(info["kind"], info["kind"])})'
        own = collections.OrderedDict()
        shared = collections.OrderedDict()
        for m in ms:
            g = info["own"].get(m)
            if g:
                own[f"{m} ({g})"] = [(int(r["nfe"]), float(r["terminal_median"]))
                                     for r in info["runs"][(m, g)].values()]
            if (m, info["shared"]) in info["runs"]:
                shared[m] = [(int(r["nfe"]), float(r["terminal_median"]))
                             for r in info["runs"][(m, info["shared"])].values()]
        ylabel = "median |x - x_ref| / sqrt(d)"
        line_plot(os.path.join(d, f"error_vs_nfe_{s}_own.svg"), f"{label}: each method on its own grid", own,
                  "model calls (NFE)", ylabel)
        line_plot(os.path.join(d, f"error_vs_nfe_{s}_shared.svg"),
                  f'{label}: every method on {info["shared"]}', shared, "model calls (NFE)", ylabel)


BASELINES = ("euler", "heun", "dpmpp_2m", "dpmpp_3m", "unipc_3", "ipndm")


def best_cell(info, budget, grid_of, among=None):
    """(error, method, grid) of the best method at `budget`, each method on grid_of(method)."""
    best = None
    for m in methods_of(info):
        if among is not None and m not in among:
            continue
        g = grid_of(m)
        v = median_at(info, m, g, budget) if g else None
        if v is not None and (best is None or v < best[0]):
            best = (v, m, g)
    return best


def grids_of(info):
    return list(dict.fromkeys(g for _, g in info["runs"]))


def losses(settings):
    """Rows (setting, grids, NFE, stork4, best, ratio, best baseline, ratio) where stork4 is not the best."""
    rows = []
    for s, info in settings.items():
        for label, grid_of in (("own", lambda m, i=info: i["own"].get(m)),
                               (f'shared ({info["shared"]})', lambda m, i=info: i["shared"])):
            for n in HEADLINE_NFE:
                mine = median_at(info, DEFAULT, grid_of(DEFAULT), n)
                best = best_cell(info, n, grid_of)
                base = best_cell(info, n, grid_of, BASELINES)
                if mine is None or best is None or best[1] == DEFAULT:
                    continue
                rows.append((s, label, n, mine, best, base))
    return rows


def cell(v, mark=False):
    return f"**{fmt(v)}**" if mark and v is not None else fmt(v)


def tables(d, settings):
    out = ["# Quality tables",
           "",
           "Generated by `tools/plot_quality.py` from `quality.csv` and `nfe_to_target.csv` (`bench/quality.cpp`; "
           "how to read them: [`README.md`](README.md)). Median terminal error |x − x_ref|/√d per sample against "
           "the reference that ends the way the method ends (column `end`); a budget of N model calls runs the most "
           "steps that fit (Heun's odd counts and STORK's start-up calls included). **Bold**: the method's own grid.",
           ""]
    out += ["## Where STORK-4 (default) is not the best method", "",
            "STORK-4 in its default configuration (`stork4{}`: s = 5, derivative_order 2, model-output form) against "
            "every other method and configuration, each on its own grid and then all on the shared grid; ratio = "
            "STORK-4's median error over the best one's. The last column is the best of the baselines (Euler, Heun, "
            "DPM-Solver++ 2M/3M, UniPC-3, iPNDM) alone.", "",
            "| setting | grids | NFE | stork4 | best | ratio | best baseline | ratio |",
            "|---|---|---|---|---|---|---|---|"]
    for s, label, n, mine, best, base in losses(settings):
        bb = f"{base[1]} ({base[2]}) {fmt(base[0])} | {mine / base[0]:.2g}" if base else "– | –"
        out.append(f"| {s} | {label} | {n} | {fmt(mine)} | {best[1]} ({best[2]}) {fmt(best[0])} | "
                   f"{mine / best[0]:.2g} | {bb} |")
    out.append("")
    for s, info in settings.items():
        grids = grids_of(info)
        out += [f"## {s}", "",
                f'd = {info["dim"]}, {KIND_TITLE.get(info["kind"], info["kind"])}'
                + (f', shift {info["shift"]}' if info["kind"] == "flow" else "")
                + f'; shared grid: {info["shared"]}. SW2: sliced Wasserstein-2 to fresh true samples at budget 20 '
                  "on the own grid (in brackets: the reference solution's, then two true sample sets').", ""]
        head = "| method | end | " + " | ".join(f"{g} {n}" for g in grids for n in HEADLINE_NFE)
        out.append(head + " | own grid: NFE for 1e-2 / 1e-3 | SW2 |")
        out.append("|---|---|" + "---|" * (len(grids) * len(HEADLINE_NFE)) + "---|---|")
        for m in methods_of(info):
            g_own = info["own"].get(m)
            if not g_own:
                continue
            runs = info["runs"][(m, g_own)]
            anyrow = next(iter(runs.values()))
            cells = " | ".join(cell(median_at(info, m, g, n), g == g_own) for g in grids for n in HEADLINE_NFE)
            t = info["targets"].get((m, g_own), (-1, -1))
            tt = " / ".join("–" if v < 0 else f"{v:.0f}" for v in t)
            r20 = runs.get(20)
            sw = (f'{float(r20["sw2"]):.3g} ({float(r20["sw2_ref"]):.3g}, {float(r20["sw2_floor"]):.3g})'
                  if r20 else "–")
            out.append(f'| {m} | {anyrow["end"]} | {cells} | {tt} | {sw} |')
        out.append("")
    with open(os.path.join(d, "tables.md"), "w") as f:
        f.write("\n".join(out))


GRID_ABBR = {"flow_sigmas": "FM", "flow_beta": "B", "use_flow_sigmas": "UF", "uniform": "U", "karras": "K",
             "exponential": "E",
             "karras_t": "K", "uniform_t": "U"}


def headline(d, settings, chosen):
    """headline.md: the tables of docs/results.md (median error at NFE 10 / 20 / 50 per setting)."""
    labels = chosen
    chosen = [s for s in chosen if s in settings]
    out = []
    for title, grid_of in (("own", lambda i, m: i["own"].get(m)), ("shared", lambda i, m: i["shared"])):
        out.append(f"<!-- {title} grids -->")
        out.append("| method | " + " | ".join(
            labels[s] + ("" if title == "own" else f' ({settings[s]["shared"]})') for s in chosen) + " |")
        out.append("|---|" + "---|" * len(chosen))
        for m in METHODS:
            cells, seen = [], False
            for s in chosen:
                info = settings[s]
                g = grid_of(info, m)
                vals = [median_at(info, m, g, n) if g else None for n in HEADLINE_NFE]
                seen |= any(v is not None for v in vals)
                tag = f" ({GRID_ABBR.get(g, g)})" if title == "own" and g and any(v is not None for v in vals) else ""
                cells.append(" / ".join(fmt(v) for v in vals) + tag if any(v is not None for v in vals) else "")
            if seen:
                out.append(f"| {m} | " + " | ".join(cells) + " |")
        out.append("")
    rows = [r for r in losses(settings) if r[0] in chosen]
    out.append("<!-- losses of stork4 (default) in these settings -->")
    for s, label, n, mine, best, base in rows:
        out.append(f"- {s}, {label}, NFE {n}: stork4 {fmt(mine)}, best {best[1]} ({best[2]}) {fmt(best[0])}, "
                   f"x{mine / best[0]:.2g}" + (f"; best baseline {base[1]} {fmt(base[0])}" if base else ""))
    with open(os.path.join(d, "headline.md"), "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "."
    settings = load(d)
    plots(d, settings)
    tables(d, settings)
    headline(d, settings, HEADLINE_SETTINGS)
    print(f"plot_quality: wrote {2 * len(settings)} SVGs, tables.md and headline.md into {d}")


if __name__ == "__main__":
    main()
