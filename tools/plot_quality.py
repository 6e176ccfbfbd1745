#!/usr/bin/env python3
"""Plot the CSV files written by bench/quality as SVG (no third-party packages).

Usage: tools/plot_quality.py RESULTS_DIR
Writes RESULTS_DIR/error_vs_nfe_<problem>_shift<k>.svg (median terminal error against NFE, log–log, one line per
method) and RESULTS_DIR/samples_<problem>_shift<k>_nfe<n>.svg (2-D sample scatters per method).
"""
import collections
import csv
import math
import os
import sys

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#000000", "#aec7e8", "#ff9896", "#98df8a", "#c5b0d5", "#f7b6d2", "#dbdb8d", "#9edae5"]


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;")


def line_plot(path, title, series, xlabel, ylabel):
    w, h, l, r, t, b = 720, 460, 70, 210, 40, 50
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
        dash = ' stroke-dasharray="5,3"' if "reference" in name else ""
        out.append(f'<path d="{d}" fill="none" stroke="{c}" stroke-width="1.8"{dash}/>')
        for x, y in pts:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{c}"/>')
        ly = t + 14 + 16 * i
        out.append(f'<line x1="{w - r + 12}" x2="{w - r + 32}" y1="{ly - 4}" y2="{ly - 4}" stroke="{c}" '
                   f'stroke-width="2"{dash}/><text x="{w - r + 38}" y="{ly}">{esc(name)}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out))


def scatter(path, title, pts_by_method):
    names = list(pts_by_method)
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    cell = 220
    w, h = cols * cell, rows * cell + 30
    allp = [p for pts in pts_by_method.values() for p in pts]
    xs, ys = [p[0] for p in allp], [p[1] for p in allp]
    lo, hi = min(min(xs), min(ys)), max(max(xs), max(ys))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
           f'<rect width="{w}" height="{h}" fill="white"/><text x="8" y="18" font-size="13">{esc(title)}</text>']
    for i, name in enumerate(names):
        ox, oy = (i % cols) * cell, 30 + (i // cols) * cell
        out.append(f'<rect x="{ox + 4}" y="{oy + 4}" width="{cell - 8}" height="{cell - 8}" fill="none" stroke="#ccc"/>')
        out.append(f'<text x="{ox + 10}" y="{oy + 18}">{esc(name)}</text>')
        for x, y in pts_by_method[name]:
            cx = ox + 10 + (x - lo) / (hi - lo) * (cell - 20)
            cy = oy + cell - 10 - (y - lo) / (hi - lo) * (cell - 20)
            out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="1.2" fill="#1f77b4" fill-opacity="0.5"/>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out))


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "."
    series = collections.defaultdict(lambda: collections.defaultdict(list))
    with open(os.path.join(d, "quality.csv")) as f:
        for r in csv.DictReader(f):
            series[(r["problem"], r["shift"], r["dim"])][r["method"]].append((int(r["nfe"]), float(r["terminal_median"])))
    for (prob, shift, dim), s in series.items():
        line_plot(os.path.join(d, f"error_vs_nfe_{prob}_shift{shift}.svg"),
                  f"{prob} (d = {dim}, shift {shift}): median terminal error vs NFE", s, "model calls (NFE)",
                  "median |x - x_ref| / sqrt(d)")
    samples = collections.defaultdict(lambda: collections.defaultdict(list))
    path = os.path.join(d, "samples_2d.csv")
    if os.path.exists(path):
        with open(path) as f:
            for r in csv.DictReader(f):
                key = (r["problem"], r["shift"])
                label = "true mixture" if r["method"] == "true" else f'{r["method"]} (NFE {r["nfe"]})'
                samples[(key, r["nfe"] if r["method"] != "true" else "*")][label].append((float(r["x"]), float(r["y"])))
        for nfe in ("10", "20"):
            for (key, n), pts in list(samples.items()):
                if n != nfe:
                    continue
                merged = dict(samples.get((key, "*"), {}))
                merged.update(pts)
                scatter(os.path.join(d, f"samples_{key[0]}_shift{key[1]}_nfe{nfe}.svg"),
                        f"{key[0]}, shift {key[1]}: samples at NFE {nfe}", merged)
    print(f"plot_quality: wrote SVGs into {d}")


if __name__ == "__main__":
    main()
