"""Charts as PNG bytes. matplotlib is imported inside the function that draws, with the Agg
backend and no pyplot, so nothing pays for it until a chart is asked for (and no global figure
state is shared between threads)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Sequence

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


def _figure(title: str, height: float = HEIGHT_INCHES) -> Any:
    """A titled matplotlib Figure on the Agg canvas (matplotlib imported here, when a chart is asked for)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_INCHES, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(title, fontsize=13, fontweight="bold")
    return figure


def _stack(ax: Any, slots: int, series: Sequence[Series], across: bool = False) -> None:
    """Each series with values as one layer of bars on top of the ones before: upright bars, or
    bars lying `across` (one row per slot)."""
    base = [0] * slots
    for default_colour, one in zip(PALETTE, series, strict=False):  # more colours than series
        if not any(one.values):
            continue
        style = {"color": one.colour or default_colour, "label": one.label}
        if across:
            ax.barh(range(slots), one.values, left=base, height=BAR_WIDTH, **style)
        else:
            ax.bar(range(slots), one.values, bottom=base, width=BAR_WIDTH, **style)
        base = [b + v for b, v in zip(base, one.values, strict=True)]


def _finish(ax: Any, counts: str) -> None:
    """The look both charts share: whole numbers on the `counts` axis ("x" or "y") with its grid,
    no top or right frame, the legend beside the plot."""
    from matplotlib.ticker import MaxNLocator

    (ax.xaxis if counts == "x" else ax.yaxis).set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis=counts, alpha=0.3)
    ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def monthly_bars_png(title: str, months: Sequence[str], panels: Sequence[Panel], y_label: str) -> bytes:
    """Stacked bars per month, one panel above the other, sharing the month axis; PNG bytes."""
    figure = _figure(title)
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    positions = range(len(months))
    for ax, panel in zip(axes, panels, strict=True):
        _stack(ax, len(months), panel.series)
        # With few months, keep the bars narrow and centred rather than stretched over the width.
        pad = max(0.0, (MIN_SLOTS - len(months)) / 2)
        ax.set_xlim(-0.5 - pad, len(months) - 0.5 + pad)
        ax.set_title(panel.title, loc="left", fontsize=11)
        ax.set_ylabel(y_label)
        _finish(ax, "y")
    axes[-1].set_xticks(
        list(positions),
        list(months),
        rotation=45 if len(months) > 6 else 0,
        ha="right" if len(months) > 6 else "center",
    )
    return _png(figure)


def stacked_rows_png(title: str, labels: Sequence[str], series: Sequence[Series], x_label: str) -> bytes:
    """One horizontal stacked bar per label (the first on top), its segments the series; PNG bytes."""
    figure = _figure(title, max(HEIGHT_INCHES / 2, 1.2 + 0.45 * len(labels)))
    ax = figure.subplots()
    _stack(ax, len(labels), series, across=True)
    ax.set_yticks(list(range(len(labels))), list(labels))
    ax.invert_yaxis()
    ax.set_xlabel(x_label)
    _finish(ax, "x")
    return _png(figure)
