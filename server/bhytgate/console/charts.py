"""Server-side SVG charts: no JavaScript to vendor or audit, and the page works with a strict CSP."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from html import escape

PALETTE = (
    "#2e7d32", "#c62828", "#ef6c00", "#6a1b9a", "#1565c0", "#00838f", "#ad1457", "#4e342e",
    "#558b2f", "#283593", "#f9a825", "#37474f",
)  # fmt: skip


def stacked_bars(
    buckets: Sequence[dt.datetime],
    series: Mapping[str, Sequence[int]],
    *,
    title: str,
    width: int = 860,
    height: int = 260,
    max_series: int = 8,
) -> str:
    """A stacked bar chart, one bar per bucket, one colour per series (the first `max_series - 1`
    series by order given, the rest summed as OTHER). Labels are escaped; the SVG is self-contained."""
    names = list(series)
    if len(names) > max_series:
        head, rest = names[: max_series - 1], names[max_series - 1 :]
        merged = {k: list(series[k]) for k in head}
        merged["OTHER"] = [sum(series[k][i] for k in rest) for i in range(len(buckets))]
        shown: Mapping[str, Sequence[int]] = merged
    else:
        shown = series
    left, right, top, bottom = 44, 190, 28, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s[i] for s in shown.values()) for i in range(len(buckets))]
    peak = max([1, *totals])
    bar_w = plot_w / max(1, len(buckets))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-label="{escape(title)}">',
        f'<text x="{left}" y="18" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#888"/>',
        f'<text x="{left - 6}" y="{top + 10}" font-size="11" text-anchor="end">{peak}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" font-size="11" text-anchor="end">0</text>',
    ]
    for i, start in enumerate(buckets):
        y = float(top + plot_h)
        for j, (name, values) in enumerate(shown.items()):
            v = values[i]
            if not v:
                continue
            h = plot_h * v / peak
            y -= h
            parts.append(
                f'<rect class="bar" x="{left + i * bar_w + 1:.1f}" y="{y:.1f}" '
                f'width="{max(1.0, bar_w - 2):.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[j % len(PALETTE)]}" data-series="{escape(name)}" '
                f'data-count="{v}"><title>{escape(name)} {start:%H:%M}: {v}</title></rect>'
            )
        if len(buckets) <= 12 or i % max(1, len(buckets) // 8) == 0:
            parts.append(
                f'<text x="{left + i * bar_w + bar_w / 2:.1f}" y="{height - 12}" font-size="10" '
                f'text-anchor="middle">{start:%H:%M}</text>'
            )
    for j, name in enumerate(shown):
        y = top + 14 * j
        parts.append(
            f'<rect x="{width - right + 12}" y="{y}" width="10" height="10" '
            f'fill="{PALETTE[j % len(PALETTE)]}"/><text x="{width - right + 28}" y="{y + 9}" '
            f'font-size="11">{escape(name)} ({sum(shown[name])})</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
