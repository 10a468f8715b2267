"""Inline SVG plots: reports stay single self-contained files with no plotting dependency.

Text in the plots (dataset names, Chinese labels, sample prompts) is drawn by the browser, so
the font stack names a CJK font first: Noto Sans CJK SC (Debian `fonts-noto-cjk`). Without it,
the browser falls back to whatever CJK font fontconfig finds, or draws boxes (tofu).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

#: Shared by the SVGs and the pages' CSS, so the plots and the tables use the same font.
FONT_STACK = '"Noto Sans CJK SC", "Noto Sans SC", "WenQuanYi Micro Hei", system-ui, sans-serif'
BAR_COLOURS = ("#3b6ea8", "#d9822b", "#5a9e4b", "#8e5ea2")

Formatter = Callable[[float], str]


def count(v: float) -> str:
    return f"{v:,.0f}"


def percent(v: float) -> str:
    return f"{v:.1f} %"


def _svg_open(width: int, height: int) -> str:
    font = escape(FONT_STACK, quote=True)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" class="plot" font-family="{font}" font-size="12">'
    )


def _legend(names: Sequence[str], x0: float, y: float) -> list[str]:
    out = []
    for j, name in enumerate(names):
        x = x0 + j * 160
        colour = BAR_COLOURS[j % len(BAR_COLOURS)]
        out.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{x + 16}" y="{y + 10}">{escape(name)}</text>')
    return out


def hbar_svg(
    labels: Sequence[str],
    series: Sequence[Sequence[float]],
    names: Sequence[str],
    width: int = 640,
    fmt: Formatter = count,
) -> str:
    """Horizontal grouped bars (one group per label, one bar per series), values printed."""
    bar_h, gap, label_w, value_w = 16, 10, 150, 90
    n = len(series)
    group_h = n * bar_h + gap
    height = len(labels) * group_h + 30
    peak = max((v for s in series for v in s), default=0) or 1
    plot_w = width - label_w - value_w
    out = [_svg_open(width, height)]
    for i, label in enumerate(labels):
        y0 = i * group_h
        out.append(
            f'<text x="{label_w - 6}" y="{y0 + n * bar_h / 2 + 4}" text-anchor="end">'
            f"{escape(label)}</text>"
        )
        for j, s in enumerate(series):
            w = plot_w * max(s[i], 0) / peak
            y = y0 + j * bar_h
            colour = BAR_COLOURS[j % len(BAR_COLOURS)]
            out.append(
                f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" '
                f'fill="{colour}"><title>{escape(names[j])}: {fmt(s[i])}</title></rect>'
            )
            out.append(f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 5}">{fmt(s[i])}</text>')
    out += _legend(names, label_w, len(labels) * group_h + 12)
    out.append("</svg>")
    return "".join(out)


Point = tuple[float, float]


def _nice_step(span: float, n: int = 4) -> float:
    """The round step (1, 2 or 5 × 10^k) that cuts `span` into about `n` intervals."""
    raw = span / n
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw * 0.999)


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    """Round-numbered ticks covering [lo, hi] (400 / 800 / 1.2k, not 438 / 875 / 1.31k): the
    axis is widened to the multiples of the step just outside the data."""
    step = _nice_step(hi - lo, n)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    # k * step, rounded to the step's decimals so 0.1 * 3 prints as 0.3
    digits = max(0, -math.floor(math.log10(step)))
    return [round(k * step, digits) for k in range(first, last + 1)]


def _short(v: float) -> str:
    """Axis labels: 3 significant digits, k/M suffixes for counts, exponent for tiny values."""
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e3:
        return f"{v / 1e3:.3g}k"
    if 0 < a < 1e-2:
        return f"{v:.1e}"
    return f"{v:.3g}"


def line_svg(
    series: Sequence[tuple[str, Sequence[Point]]],
    x_label: str,
    y_label: str,
    width: int = 640,
    height: int = 240,
) -> str:
    """Line chart of (x, y) series on shared axes; series with a few points get markers, so a
    validation curve measured every N steps reads as points, not as a straight line."""
    pts = [p for _, s in series for p in s if math.isfinite(p[1])]
    left, right, top, bottom = 64, 16, 10, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    x_lo, x_hi = min((p[0] for p in pts), default=0), max((p[0] for p in pts), default=1)
    y_lo, y_hi = min((p[1] for p in pts), default=0), max((p[1] for p in pts), default=1)
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 0.5, x_hi + 0.5
    if y_hi == y_lo:
        y_lo, y_hi = y_lo - 0.5, y_hi + 0.5
    y_ticks = _ticks(y_lo, y_hi)
    y_lo, y_hi = y_ticks[0], y_ticks[-1]
    # x keeps the data's range (no blank run of steps): only the round ticks inside it
    x_ticks = [x for x in _ticks(x_lo, x_hi) if x_lo <= x <= x_hi]
    if all(float(p[0]).is_integer() for p in pts):  # steps: no tick at step 1.5
        x_ticks = sorted({float(round(x)) for x in x_ticks})

    def sx(x: float) -> float:
        return left + plot_w * (x - x_lo) / (x_hi - x_lo)

    def sy(y: float) -> float:
        return top + plot_h * (1 - (y - y_lo) / (y_hi - y_lo))

    out = [_svg_open(width, height)]
    for y in y_ticks:
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" '
            f'stroke="#e3e3e3"/><text x="{left - 6}" y="{sy(y) + 4:.1f}" '
            f'text-anchor="end">{_short(y)}</text>'
        )
    for x in x_ticks:
        out.append(
            f'<text x="{sx(x):.1f}" y="{top + plot_h + 16}" text-anchor="middle">{_short(x)}</text>'
        )
    out.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
        f'stroke="#999"/><text x="{left + plot_w / 2}" y="{top + plot_h + 32}" '
        f'text-anchor="middle">{escape(x_label)}</text><text x="12" y="{top + plot_h / 2}" '
        f'text-anchor="middle" transform="rotate(-90 12 {top + plot_h / 2})">'
        f"{escape(y_label)}</text>"
    )
    for j, (name, s) in enumerate(series):
        colour = BAR_COLOURS[j % len(BAR_COLOURS)]
        xy = [(sx(x), sy(y)) for x, y in s if math.isfinite(y)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        out.append(
            f'<polyline class="series" points="{path}" fill="none" stroke="{colour}" '
            f'stroke-width="1.5"><title>{escape(name)}</title></polyline>'
        )
        if len(xy) <= 30:
            out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>' for x, y in xy]
    out += _legend([name for name, _ in series], left, height - 16)
    out.append("</svg>")
    return "".join(out)
