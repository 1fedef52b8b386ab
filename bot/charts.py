"""Charts as PNG bytes. matplotlib is imported inside the function that draws, with the Agg
backend and no pyplot, so nothing pays for it until a chart is asked for (and no global figure
state is shared between threads)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Sequence

WIDTH_INCHES = 8.0
HEIGHT_INCHES = 6.0
DPI = 100
BAR_WIDTH = 0.7
MIN_SLOTS = 6
# Colour-blind-friendly palette (Okabe-Ito); series take the colours in order.
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999")


@dataclass(frozen=True)
class Series:
    """One stacked layer: its legend label and a value per month."""

    label: str
    values: tuple[int, ...]
    colour: str | None = None  # default: the palette's colour for the series' place


@dataclass(frozen=True)
class Panel:
    """One chart of stacked bars over the months."""

    title: str
    series: tuple[Series, ...]


def monthly_bars_png(title: str, months: Sequence[str], panels: Sequence[Panel], y_label: str) -> bytes:
    """Stacked bars per month, one panel above the other, sharing the month axis; PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(title, fontsize=13, fontweight="bold")
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    positions = range(len(months))
    for ax, panel in zip(axes, panels, strict=True):
        bottom = [0] * len(months)
        for default_colour, series in zip(PALETTE, panel.series, strict=False):  # more colours than series
            if not any(series.values):
                continue
            colour = series.colour or default_colour
            ax.bar(positions, series.values, bottom=bottom, color=colour, label=series.label, width=BAR_WIDTH)
            bottom = [b + v for b, v in zip(bottom, series.values, strict=True)]
        # With few months, keep the bars narrow and centred rather than stretched over the width.
        pad = max(0.0, (MIN_SLOTS - len(months)) / 2)
        ax.set_xlim(-0.5 - pad, len(months) - 0.5 + pad)
        ax.set_title(panel.title, loc="left", fontsize=11)
        ax.set_ylabel(y_label)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.spines[["top", "right"]].set_visible(False)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    axes[-1].set_xticks(
        list(positions),
        list(months),
        rotation=45 if len(months) > 6 else 0,
        ha="right" if len(months) > 6 else "center",
    )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def stacked_rows_png(title: str, labels: Sequence[str], series: Sequence[Series], x_label: str) -> bytes:
    """One horizontal stacked bar per label (the first on top), its segments the series; PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    height = max(HEIGHT_INCHES / 2, 1.2 + 0.45 * len(labels))
    figure = Figure(figsize=(WIDTH_INCHES, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(title, fontsize=13, fontweight="bold")
    ax = figure.subplots()
    positions = list(range(len(labels)))
    left = [0] * len(labels)
    for default_colour, one in zip(PALETTE, series, strict=False):
        if not any(one.values):
            continue
        ax.barh(positions, one.values, left=left, color=one.colour or default_colour, label=one.label, height=BAR_WIDTH)
        left = [a + b for a, b in zip(left, one.values, strict=True)]
    ax.set_yticks(positions, list(labels))
    ax.invert_yaxis()
    ax.set_xlabel(x_label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
