"""Inline SVG plots: reports stay single self-contained files with no plotting dependency."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

BAR_COLOURS = ("#3b6ea8", "#d9822b")


def hbar_svg(
    labels: Sequence[str], series: Sequence[Sequence[float]], names: Sequence[str], width: int = 640
) -> str:
    """Horizontal grouped bars (one group per label, one bar per series), values printed."""
    bar_h, gap, label_w, value_w = 16, 10, 150, 90
    n = len(series)
    group_h = n * bar_h + gap
    height = len(labels) * group_h + 30
    peak = max((v for s in series for v in s), default=0) or 1
    plot_w = width - label_w - value_w
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" class="plot" font-family="sans-serif" font-size="12">'
    ]
    for i, label in enumerate(labels):
        y0 = i * group_h
        out.append(
            f'<text x="{label_w - 6}" y="{y0 + n * bar_h / 2 + 4}" text-anchor="end">'
            f"{escape(label)}</text>"
        )
        for j, s in enumerate(series):
            w = plot_w * s[i] / peak
            y = y0 + j * bar_h
            colour = BAR_COLOURS[j % len(BAR_COLOURS)]
            out.append(
                f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" '
                f'fill="{colour}"><title>{escape(names[j])}: {s[i]:,.0f}</title></rect>'
            )
            out.append(f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 5}">{s[i]:,.0f}</text>')
    ly = len(labels) * group_h + 12
    for j, name in enumerate(names):
        x = label_w + j * 140
        colour = BAR_COLOURS[j % len(BAR_COLOURS)]
        out.append(f'<rect x="{x}" y="{ly}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{x + 16}" y="{ly + 10}">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)
