"""Plotly set-up shared by the report notebooks (no figures are built here).

Inside a papermill kernel plotly's default renderer emits only a mimetype that nbconvert
drops, so charts silently vanish from the HTML. The stock ``notebook``
renderer is no better for an offline report: it pulls MathJax from a CDN, wraps the
plot in require.js, and embeds plotly.js only when it is first activated in a kernel
process, so the second notebook run on a reused kernel would have no plotly.js at all.

``setup_notebook_plotting()`` therefore selects the ``reliability`` renderer, which
emits for every figure

* ``application/vnd.plotly.v1+json``: what JupyterLab and VS Code render interactively;
* ``text/html``: a ``<div class="plotly-graph-div">`` and a ``Plotly.newPlot`` call, with
  no plotly.js, no require.js and no MathJax in it.

The report exporter (:mod:`reliability.report.render`) inlines plotly.js exactly once in
the ``<head>`` of every HTML file that contains a chart, so no file depends on the kernel
that produced it, and a file never carries the 4.5 MB library twice.
"""

from __future__ import annotations

import copy
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.io.base_renderers import PlotlyRenderer

RENDERER_NAME = "reliability"
TEMPLATE_NAME = "reliability"
PLOTLY_GRAPH_CLASS = "plotly-graph-div"
"""The class plotly gives every chart ``<div>``; the exporter looks for it."""

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common form
# of colour-vision deficiency. Ordered so that the first colours are the darkest; the
# yellow, hard to read on white, comes last.
COLORWAY: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)
STATUS_COLORS: dict[str, str] = {
    "ok": "#009E73",
    "warning": "#E69F00",
    "breached": "#D55E00",
    "unknown": "#999999",
}
"""Colours for SLO status, from the same palette, for figure builders to share."""

FONT_FAMILY = (
    'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif'
)
"""Fonts the reader already has: a report must not download web fonts."""

CHART_CONFIG: dict[str, Any] = {
    "displayModeBar": False,
    "displaylogo": False,
    "responsive": True,
}
"""plotly.js config for every chart: no toolbar (a reader has no use for zoom and lasso
buttons over every chart; hover still works), no link to plotly's site."""

DEFAULT_HEIGHT = 420


class ReportRenderer(PlotlyRenderer):
    """The plotly mimetype (for Jupyter) plus an HTML ``div`` without plotly.js (for nbconvert)."""

    def __init__(self, config: dict[str, Any] | None = None, height: int = DEFAULT_HEIGHT):
        super().__init__(config=CHART_CONFIG if config is None else config)
        self.height = height

    def to_mimebundle(self, fig_dict: dict[str, Any]) -> dict[str, Any]:
        bundle = super().to_mimebundle(copy.copy(fig_dict))
        bundle["text/html"] = pio.to_html(
            fig_dict,
            config=self.config,
            include_plotlyjs=False,
            include_mathjax=False,
            full_html=False,
            default_width="100%",
            default_height=self.height,
            validate=False,
        )
        return bundle


def _build_template() -> go.layout.Template:
    # Built from scratch rather than on top of plotly_white: every figure deep-copies its
    # template, and plotly_white's defaults for trace types a report never draws make a
    # plotly.express figure 10 ms slower.
    axis = {
        "showgrid": True,
        "gridcolor": "#E5E5E5",
        "showline": True,
        "linecolor": "#888888",
        "ticks": "outside",
        "tickcolor": "#888888",
        "zeroline": False,
        "automargin": True,
        "title": {"standoff": 8},
    }
    return go.layout.Template(
        layout={
            "colorway": list(COLORWAY),
            "colorscale": {"sequential": "cividis", "sequentialminus": "cividis"},
            "font": {"family": FONT_FAMILY, "size": 13, "color": "#222222"},
            "title": {"font": {"size": 16}, "x": 0, "xanchor": "left", "xref": "paper"},
            "paper_bgcolor": "#FFFFFF",
            "plot_bgcolor": "#FFFFFF",
            "margin": {"l": 60, "r": 24, "t": 56, "b": 48},
            "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
            "hoverlabel": {"font": {"family": FONT_FAMILY}},
            "separators": ".,",
            "xaxis": axis,
            "yaxis": {**axis, "showline": False, "ticks": ""},
        },
        data={"bar": [{"marker": {"line": {"width": 0}}}]},
    )


def register() -> None:
    """Register the ``reliability`` renderer and template with plotly (idempotent, no defaults)."""
    if RENDERER_NAME not in pio.renderers:
        pio.renderers[RENDERER_NAME] = ReportRenderer()
    if TEMPLATE_NAME not in pio.templates:
        pio.templates[TEMPLATE_NAME] = _build_template()


def setup_notebook_plotting() -> None:
    """Make plotly figures show up in the exported report; call it first in every notebook.

    Sets ``plotly.io.renderers.default`` to the ``reliability`` renderer and
    ``plotly.io.templates.default`` to the shared ``reliability`` template. Safe to call
    more than once, and in a process that already ran another notebook.
    """
    register()
    if pio.renderers.default != RENDERER_NAME:
        pio.renderers.default = RENDERER_NAME
    if pio.templates.default != TEMPLATE_NAME:  # setting it costs 10 ms of validation
        pio.templates.default = TEMPLATE_NAME


def warm_up() -> None:
    """Build and serialise one figure with every kind of trace and shape the report draws.

    plotly sets up each kind on first use (validators, narwhals for pandas input); done once
    in each kernel as it starts (``report.build.KERNEL_PRELOAD``), while the month is still
    being computed, it is not done on the first chart of every notebook.
    """
    import pandas as pd
    from plotly.subplots import make_subplots

    register()
    figure = make_subplots(rows=1, cols=3, subplot_titles=["a", "b", "c"])
    figure.update_layout(template=TEMPLATE_NAME)
    values = pd.Series([0.0, 1.0])
    figure.add_scatter(
        x=pd.Series(pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True)),
        y=values,
        mode="lines+markers",
        line={"dash": "dot"},
        marker={"symbol": "x", "line": {"width": 1}},
        row=1,
        col=1,
    )
    figure.add_bar(x=["a"], y=[1], marker={"pattern": {"shape": "/"}}, row=1, col=2)
    figure.add_box(x=values, boxpoints="all", marker={"size": 4}, line={"width": 1}, row=1, col=3)
    figure.add_hline(y=0.5, line={"width": 1}, row=1, col=1)
    figure.add_annotation(text="x", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    figure.update_annotations(font_size=11)
    ReportRenderer().to_mimebundle(figure.to_dict())


# Charts are laid out for the screen; printing narrows the page, and plotly does not
# redraw by itself before the page is printed, so the right and bottom of every chart
# would be cut off. Redraw them at the printed width when printing starts (and back).
_FIT_CHARTS_FOR_PRINT = """\
(function () {
  function fit() {
    if (!window.Plotly) { return; }
    document.querySelectorAll(".plotly-graph-div").forEach(function (gd) {
      if (gd._fullLayout) { window.Plotly.relayout(gd, {autosize: true}); }
    });
  }
  window.addEventListener("beforeprint", fit);
  window.addEventListener("afterprint", fit);
  if (window.matchMedia) {
    var print = window.matchMedia("print");
    if (print.addEventListener) { print.addEventListener("change", fit); }
  }
})();"""


def plotlyjs_script() -> str:
    """plotly.js as one inline ``<script>`` element, for the exporter to put in ``<head>``."""
    from plotly.offline import get_plotlyjs

    source = get_plotlyjs()
    if "</script" in source.lower():  # pragma: no cover - would end the element early
        raise RuntimeError("plotly.js contains '</script' and cannot be inlined")
    return (
        f'<script type="text/javascript" data-reliability="plotly.js">{source}</script>\n'
        f'<script type="text/javascript">{_FIT_CHARTS_FOR_PRINT}</script>'
    )


register()
