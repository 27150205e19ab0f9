"""The report's plots as SVG strings: inlined in the HTML, written to ``figures/`` beside the Markdown.

Figures are built with matplotlib's object API on an Agg canvas (no pyplot, so no global figure
state and no GUI backend). Text is drawn as paths, so the SVG needs no fonts. Run and verbalizer
names are log-derived: '$' is escaped so they are never parsed as mathtext.
"""

from __future__ import annotations

import io
import itertools
import math
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..compression import plateau
from .fmt import missing

STAGE1_SERIES = (("reward", "reward", "#1f77b4"), ("accuracy", "accuracy", "#2ca02c"),
                 ("length", "length reward", "#ff7f0e"), ("compression_ratio", "compression ratio", "#9467bd"))
MARKER_COLORS = ("#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")  # not the page's green/red
STYLE = {"font.size": 9, "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
         "grid.alpha": 0.3, "legend.frameon": False, "svg.fonttype": "path"}


@dataclass(frozen=True)
class Plot:
    name: str     # file stem under figures/
    title: str
    caption: str
    svg: str      # a complete SVG document


def label(text: object, limit: int = 40) -> str:
    text = str(text).replace("$", r"\$")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def series(points: list[dict], key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of one metric, skipping points where it is missing."""
    pts = [(p["step"], p[key]) for p in points if not missing(p.get(key)) and not missing(p.get("step"))]
    return [s for s, _ in pts], [v for _, v in pts]


def to_svg(fig: Figure, name: str) -> str:
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": name}):  # stable ids, distinct between inlined figures
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buf.getvalue()


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def stage1_curves(runs: dict[str, list[dict]]) -> Plot | None:
    if not runs:
        return None
    with matplotlib.rc_context(STYLE):
        ncols = min(len(runs), 2)
        fig = new_figure(4.8 * ncols, 2.8 * math.ceil(len(runs) / ncols))
        axes = fig.subplots(math.ceil(len(runs) / ncols), ncols, squeeze=False).ravel()
        for ax, (run, points) in zip(axes, runs.items()):
            _stage1_panel(ax, run, points)
        for ax in axes[len(runs):]:
            ax.set_visible(False)
        handles = [Line2D([], [], color=color, linewidth=1.4) for _, _, color in STAGE1_SERIES]
        fig.legend(handles, [name for _, name, _ in STAGE1_SERIES], loc="outside upper center",
                   ncols=len(STAGE1_SERIES))
        svg = to_svg(fig, "stage1")
    return Plot("stage1_curves", "Stage 1 — Verbalizer GRPO",
                "Per logged step: total reward α·accuracy + (1−α)·length reward, the oracle's accuracy, "
                "the length reward and the compression ratio.", svg)


def _stage1_panel(ax, run: str, points: list[dict]) -> None:
    ax.set_title(label(run))
    ax.set_xlabel("step")
    for key, name, color in STAGE1_SERIES:
        steps, values = series(points, key)
        ax.plot(steps, values, label=name, color=color, linewidth=1.4)
    if not any(series(points, key)[0] for key, _, _ in STAGE1_SERIES):
        _mark_empty(ax)


def _mark_empty(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, "no points logged", ha="center", va="center", transform=ax.transAxes, color="0.4")


def reward_curves(runs: dict[str, list[dict]], name: str, title: str, caption: str) -> Plot | None:
    """Reward vs step, one line per run."""
    if not runs:
        return None
    with matplotlib.rc_context(STYLE):
        fig = new_figure(6.4, 2.8)
        ax = fig.subplots()
        for run, points in runs.items():
            ax.plot(*series(points, "reward"), label=label(run), linewidth=1.4)
        if not any(series(points, "reward")[0] for points in runs.values()):
            _mark_empty(ax)
        ax.set_xlabel("step")
        ax.set_ylabel("reward")
        ax.legend(loc="best")
        svg = to_svg(fig, name)
    return Plot(name, title, caption, svg)


def plateau_curve(params: dict, markers: dict[str, float]) -> Plot:
    """Paper Figure 2 with this run's parameters; ``markers`` puts each verbalizer's mean CR on it."""
    low, high = params["low"], params["high"]
    kwargs = {k: params.get(k) for k in ("slope_low", "slope_high")}
    xs = np.linspace(0, 1.3, 521)
    with matplotlib.rc_context(STYLE):
        fig = new_figure(6.4, 2.8)
        ax = fig.subplots()
        ax.axvspan(low, high, color="#2ca02c", alpha=0.08, label=f"target range [{low:g}, {high:g}]")
        ax.plot(xs, [plateau(x, low, high, **kwargs) for x in xs], color="#1f77b4", linewidth=2, label="length reward")
        for (name, cr), color in zip(markers.items(), itertools.cycle(MARKER_COLORS)):
            ax.plot([cr], [plateau(cr, low, high, **kwargs)], "o", markersize=6, color=color,
                    label=f"{label(name, 28)} (CR {cr:.2f})")
        ax.set_xlabel("compression ratio (verbalized / template characters)")
        ax.set_ylabel("length reward")
        ax.set_ylim(-0.05, 1.1)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
        svg = to_svg(fig, "plateau")
    return Plot("plateau", "Length reward (paper Figure 2)",
                "The plateau length reward with this run's parameters; dots mark each verbalizer's mean "
                "compression ratio on the evaluated tasks.", svg)


def compression_distribution(analysis: dict, low: float, high: float) -> Plot | None:
    data = {name: [r for r in stats.get("compression_ratios") or [] if not missing(r)]
            for name, stats in analysis.items()}
    data = {name: ratios for name, ratios in data.items() if ratios}
    if not data:
        return None
    with matplotlib.rc_context(STYLE):
        fig = new_figure(6.4, 0.8 + 0.45 * len(data))
        ax = fig.subplots()
        ax.axvspan(low, high, color="#2ca02c", alpha=0.08)
        ax.boxplot(list(data.values())[::-1], orientation="horizontal", widths=0.55,
                   tick_labels=[label(n) for n in data][::-1], flierprops={"markersize": 3})
        ax.axvline(1.0, color="0.5", linestyle=":", linewidth=1)
        ax.set_xlabel("compression ratio (verbalized / template characters); shaded: length-reward plateau")
        ax.grid(axis="y", visible=False)
        svg = to_svg(fig, "compression")
    return Plot("compression", "Compression ratio per verbalizer",
                "Distribution over evaluated tasks (box: quartiles, whiskers: 1.5 IQR); the dotted line is "
                "no compression.", svg)


def build_plots(doc: dict) -> dict[str, Plot]:
    """Every plot the document has data for, keyed by name (absent when there is nothing to draw)."""
    curves, params, analysis = doc["curves"], doc["plateau"], doc["analysis"]
    markers = {name: s["compression_ratio_mean"] for name, s in analysis.items()
               if not missing(s.get("compression_ratio_mean"))}
    plots = [
        stage1_curves(curves.get("stage1") or {}),
        reward_curves(curves.get("stage2") or {}, "stage2_curves", "Stage 2 — Reasoner GRPO",
                      "Reward per logged step: +1 when the Reasoner picks the target, −1 otherwise (paper eq. 7)."),
        plateau_curve(params, markers),
        compression_distribution(analysis, params["low"], params["high"]),
    ]
    lpt = doc.get("langptune")
    if lpt and lpt.get("curves"):
        plots.append(reward_curves({"LangPTune": lpt["curves"]}, "langptune_curves", "LangPTune training",
                                   "Reward per logged step of the profile generator."))
    return {p.name: p for p in plots if p is not None}
