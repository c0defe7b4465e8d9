"""Plotly figures of the report, built from metric frames (no I/O, no arithmetic of record).

Every function takes frames computed by ``reliability.metrics`` and returns a
``plotly.graph_objects.Figure``; the numbers shown are those of ``reliability compute``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from reliability.report.plotting import COLORWAY, STATUS_COLORS

STATUS_STYLE: dict[str, tuple[str, str, str]] = {
    "met": ("✓", "met", STATUS_COLORS["ok"]),
    "at_risk": ("▲", "at risk", STATUS_COLORS["warning"]),
    "missed": ("✗", "missed", STATUS_COLORS["breached"]),
    "no_data": ("–", "no data", STATUS_COLORS["unknown"]),
}
"""Symbol, word and colour of each SLO status: the symbol and word read without colour."""
EVEN_SPEND_COLOR = "#777777"
INCIDENT_COLOR = "#D55E00"


def _labels(incidents: pd.DataFrame) -> pd.Series:
    """``id: title`` for hover text, escaped: plotly reads a few HTML tags in labels."""
    return (incidents["id"] + ": " + incidents["title"].fillna("")).map(html.escape)


def _empty(message: str) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    figure.update_layout(height=160, xaxis={"visible": False}, yaxis={"visible": False})
    return figure


PANEL_HEIGHT = 280
"""Height in pixels of one small-multiple panel: tall enough to read a line against a limit."""
PANEL_GAP = 90
"""Pixels between rows of panels: room for the x tick labels and the next panel's title."""
FEW_POINTS = 8
"""A distribution with fewer points than this is drawn as dots only: a box of a few points
suggests quartiles that are not there."""
MIN_BAND = pd.Timedelta(hours=10)
"""Narrowest drawn alert band: at a panel's width a month is about 3 hours per pixel."""
BURN_RATE_CEILING = 2.0
"""The burn-rate axis runs to at most this multiple of the highest alert threshold (a burn
rate of 500 would flatten every threshold line); hover gives every hour's value."""


def _rounded(values: pd.Series | np.ndarray, digits: int) -> list:
    """Values rounded for a small chart payload, NaN as ``None`` (a gap, never a zero)."""
    series = pd.Series(values, dtype="float64").round(digits)
    return series.astype(object).where(series.notna(), None).tolist()


def _even_x(local: pd.Series) -> dict:
    """``x0``/``dx`` for evenly spaced instants (no array in the payload), else ``x``."""
    stamps = pd.DatetimeIndex(local)
    steps = np.diff(stamps.as_unit("ms").asi8)
    if len(stamps) > 1 and (steps == steps[0]).all():
        return {"x0": stamps[0].strftime("%Y-%m-%d %H:%M"), "dx": int(steps[0])}
    return {"x": stamps.strftime("%Y-%m-%d %H:%M").tolist()}


def _local(instants: pd.Series, timezone: str) -> pd.Series:
    """UTC instants as naive local times, the way the report's axes show them."""
    return instants.dt.tz_convert(timezone).dt.tz_localize(None)


def _slo_keys(slos: pd.DataFrame) -> list[tuple[str, str]]:
    """(service, slo) pairs ordered like the SLO table: least budget left first."""
    order = slos.sort_values("budget_remaining", na_position="last", kind="stable")
    return list(order[["service", "slo"]].itertuples(index=False, name=None))


def _panels(keys: list[tuple[str, str]], columns: int, **kwargs) -> tuple[go.Figure, int, int]:
    """Small multiples, one per SLO, each ``PANEL_HEIGHT`` px tall: (figure, rows, columns)."""
    columns = max(1, min(columns, len(keys)))
    rows = math.ceil(len(keys) / columns)
    top, bottom = 90, 110
    height = rows * PANEL_HEIGHT + (rows - 1) * PANEL_GAP + top + bottom
    figure = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=[f"{service} · {slo}" for service, slo in keys],
        vertical_spacing=PANEL_GAP / (height - top - bottom) if rows > 1 else 0.0,
        horizontal_spacing=0.06 if columns > 1 else 0.0,
        **kwargs,
    )
    figure.update_annotations(font_size=12)
    figure.update_layout(
        height=height,
        margin={"t": top, "b": bottom},
        legend={"orientation": "h", "yref": "container", "y": 0.0, "yanchor": "bottom", "x": 0},
    )
    return figure, rows, columns


def _axis_name(axis: str, panel: int) -> str:
    """``x``, ``x2``, ... for subplot ``panel`` (1-based, row by row)."""
    return axis if panel == 1 else f"{axis}{panel}"


def _hline(panel: int, y: float, color: str, dash: str = "solid") -> dict:
    """A horizontal line across subplot ``panel`` at ``y``, as a layout shape (set at once:
    ``add_hline`` per panel costs 30 ms each)."""
    return {
        "type": "line",
        "xref": f"{_axis_name('x', panel)} domain",
        "yref": _axis_name("y", panel),
        "x0": 0,
        "x1": 1,
        "y0": y,
        "y1": y,
        "line": {"color": color, "width": 1.5, "dash": dash},
    }


def _legend_line(name: str, color: str, dash: str = "solid") -> go.Scatter:
    """A legend entry for lines drawn as shapes: shapes have none, and the reader needs it."""
    return go.Scatter(
        x=[None],
        y=[None],
        mode="lines",
        name=name,
        line={"color": color, "dash": dash, "width": 1.5},
        hoverinfo="skip",
        legendgroup=name,
    )


def _has(figure: go.Figure, group: str) -> bool:
    return any(trace.legendgroup == group for trace in figure.data)


def burndown(
    burndown_frame: pd.DataFrame,
    slos: pd.DataFrame,
    incidents: pd.DataFrame | None,
    columns: int = 3,
    timezone: str = "UTC",
) -> go.Figure:
    """Cumulative budget used per SLO and day against the even-spend line, incidents marked.

    Small multiples ordered like the SLO table (worst first), one panel per SLO tall enough
    to read, axis titles, and one colour per meaning so the legend matches every panel:
    budget used (blue), spending evenly (grey, dotted), the whole budget (red).
    """
    if burndown_frame is None or burndown_frame.empty or slos is None or slos.empty:
        return _empty("No SLI data this month")
    keys = _slo_keys(slos)
    figure, _, columns = _panels(keys, columns, shared_yaxes=True)
    grouped = {key: frame for key, frame in burndown_frame.groupby(["service", "slo"], sort=False)}
    ceiling = max(1.05, float(np.nanmax(burndown_frame["budget_consumed"].to_numpy()) * 1.05))
    ceiling = min(ceiling, 3.0)
    shapes = []
    for index, key in enumerate(keys):
        row, col = index // columns + 1, index % columns + 1
        frame = grouped.get(key)
        if frame is None:
            continue
        day_end = frame["day"] + pd.Timedelta(days=1)
        x = day_end.dt.strftime("%Y-%m-%d").tolist()
        figure.add_scatter(
            x=x,
            y=_rounded(frame["even_spend"] * 100, 1),
            mode="lines",
            line={"color": EVEN_SPEND_COLOR, "dash": "dot", "width": 1},
            name="spending evenly",
            legendgroup="even",
            showlegend=index == 0,
            hovertemplate="spending evenly: %{y:.0f}%<extra></extra>",
            row=row,
            col=col,
        )
        consumed = frame["budget_consumed"] * 100
        figure.add_scatter(
            x=x,
            y=_rounded(consumed, 1),
            mode="lines",
            line={"color": COLORWAY[0], "width": 2},
            name="budget used",
            legendgroup="consumed",
            showlegend=index == 0,
            hovertemplate="%{x|%d %b}: %{y:.0f}% of the budget used<extra></extra>",
            row=row,
            col=col,
        )
        service_incidents = _incidents_of(incidents, key[0])
        if service_incidents is not None and not service_incidents.empty:
            start = service_incidents["started_at"].fillna(service_incidents["created_at"])
            local = _local(start, timezone)
            # Place each marker on the burn-down line at the incident's start.
            y = np.interp(
                local.dt.as_unit("ns").astype("int64").to_numpy(),
                np.concatenate([[frame["day"].iloc[0]], day_end])
                .astype("datetime64[ns]")
                .astype("int64"),
                np.concatenate([[0.0], consumed.fillna(0).to_numpy()]),
            )
            figure.add_scatter(
                x=local.dt.strftime("%Y-%m-%d %H:%M").tolist(),
                y=_rounded(y, 1),
                mode="markers",
                marker={"symbol": "x", "size": 9, "color": INCIDENT_COLOR},
                name="incident starts",
                legendgroup="incident",
                showlegend=not _has(figure, "incident"),
                text=_labels(service_incidents),
                hovertemplate="%{text}<extra></extra>",
                row=row,
                col=col,
            )
        shapes.append(_hline(index + 1, 100, STATUS_COLORS["breached"]))
    figure.add_trace(_legend_line("whole budget (100%)", STATUS_COLORS["breached"]))
    figure.update_layout(shapes=shapes, title="Error budget used through the month")
    figure.update_yaxes(range=[0, ceiling * 100], ticksuffix="%")
    figure.update_yaxes(title_text="budget used", col=1)
    figure.update_xaxes(tickformat="%d %b", nticks=5, title_text="day")
    return figure


def sli_per_day(
    daily: pd.DataFrame | None, slos: pd.DataFrame | None, columns: int = 3
) -> go.Figure:
    """Each SLO's SLI per day against its objective; days below it marked, days without data
    left as gaps.

    Every panel has its own linear y range, from just below the lower of the worst day and
    the objective to 100%, so a 99.9% objective is not flattened next to a 95% one.
    """
    if daily is None or daily.empty or slos is None or slos.empty:
        return _empty("No SLI data this month")
    keys = _slo_keys(slos)
    figure, _, columns = _panels(keys, columns)
    grouped = {key: frame for key, frame in daily.groupby(["service", "slo"], sort=False)}
    shapes = []
    for index, key in enumerate(keys):
        frame = grouped.get(key)
        if frame is None:
            continue
        row, col = index // columns + 1, index % columns + 1
        objective = float(frame["objective"].iloc[0]) * 100
        sli = frame["sli"] * 100
        x = frame["day"].dt.strftime("%Y-%m-%d").tolist()
        figure.add_scatter(
            x=x,
            y=_rounded(sli, 4),
            mode="lines+markers",
            line={"color": COLORWAY[0], "width": 2},
            marker={"size": 5, "color": COLORWAY[0]},
            connectgaps=False,
            name="SLI per day",
            legendgroup="sli",
            showlegend=index == 0,
            hovertemplate="%{x|%d %b}: %{y:.3f}%<extra></extra>",
            row=row,
            col=col,
        )
        below = sli.where(sli < objective)
        if below.notna().any():
            figure.add_scatter(
                x=x,
                y=_rounded(below, 4),
                mode="markers",
                marker={"size": 9, "color": STATUS_COLORS["breached"], "symbol": "diamond"},
                name="day below the objective",
                legendgroup="below",
                showlegend=not _has(figure, "below"),
                hovertemplate="%{x|%d %b}: %{y:.3f}%, below the objective<extra></extra>",
                row=row,
                col=col,
            )
        known = sli.dropna()
        lowest = min(float(known.min()), objective) if not known.empty else objective
        span = max(100 - lowest, 0.01)
        figure.update_yaxes(
            range=[max(0.0, lowest - 0.15 * span), 100 + 0.05 * span], row=row, col=col
        )
        shapes.append(_hline(index + 1, objective, STATUS_COLORS["breached"], "dash"))
    figure.add_trace(_legend_line("objective", STATUS_COLORS["breached"], "dash"))
    figure.update_layout(shapes=shapes, title="SLI per day against the objective")
    figure.update_yaxes(ticksuffix="%")
    figure.update_yaxes(title_text="SLI", col=1)
    figure.update_xaxes(tickformat="%d %b", nticks=5, title_text="day")
    return figure


SEVERITY_COLORS = {"page": STATUS_COLORS["breached"], "ticket": STATUS_COLORS["warning"]}
"""Colour of each alert severity: its threshold lines and its episodes' bands."""


def _window(delta: pd.Timedelta) -> str:
    """``1 h``, ``6 h``, ``1 d``, ``30 min``: an alert window as a reader writes it."""
    minutes = int(delta / pd.Timedelta(minutes=1))
    if minutes % 1440 == 0:
        return f"{minutes // 1440} d"
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"


def _factor(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def burn_rate(
    hourly: pd.DataFrame | None,
    alerts: pd.DataFrame | None,
    thresholds: pd.DataFrame,
    slos: pd.DataFrame | None,
    columns: int = 3,
    timezone: str = "UTC",
) -> go.Figure:
    """Each SLO's burn rate per hour against the page and ticket thresholds, the replayed
    alert episodes drawn as bands behind it.

    ``thresholds`` has one row per alert window (severity, long_window, factor), per SLO when
    it has service and slo columns (``metrics.daily.slo_thresholds``: each SLO's policy), else
    the same for every SLO. Page lines are red, ticket lines orange, each severity's fastest
    window solid and the slower ones dashed.
    """
    if hourly is None or hourly.empty or slos is None or slos.empty:
        return _empty("No SLI data this month")
    keys = _slo_keys(slos)
    figure, _, columns = _panels(keys, columns, shared_yaxes=True)
    top = float(thresholds["factor"].max()) if not thresholds.empty else 1.0
    rates = hourly["burn_rate"].dropna()
    peak = float(rates.max()) if not rates.empty else 0.0
    ceiling = round(min(BURN_RATE_CEILING * top, max(peak, top) * 1.1), 1)
    grouped = {key: frame for key, frame in hourly.groupby(["service", "slo"], sort=False)}
    episodes = {}
    if alerts is not None and not alerts.empty:
        episodes = {key: frame for key, frame in alerts.groupby(["service", "slo"], sort=False)}
    rules = _threshold_styles(thresholds)
    per_slo = {"service", "slo"} <= set(rules.columns)
    panel_rules = (
        {key: group for key, group in rules.groupby(["service", "slo"], sort=False)}
        if per_slo
        else {}
    )
    shapes = []
    for index, key in enumerate(keys):
        frame = grouped.get(key)
        if frame is None:
            continue
        row, col = index // columns + 1, index % columns + 1
        episode = episodes.get(key)
        for severity in SEVERITY_COLORS:
            chosen = None if episode is None else episode.loc[episode["severity"] == severity]
            if chosen is None or chosen.empty:
                continue
            band = _bands(chosen, severity, ceiling, timezone, first=not _has(figure, severity))
            figure.add_trace(band, row=row, col=col)
        figure.add_scatter(
            **_even_x(_local(frame["hour"], timezone)),
            y=_rounded(frame["burn_rate"], 2),
            mode="lines",
            line={"color": COLORWAY[0], "width": 1.5},
            connectgaps=False,
            name="burn rate per hour",
            legendgroup="burn",
            showlegend=index == 0,
            hovertemplate="%{x|%d %b %H:%M}: burn rate %{y:.1f}<extra></extra>",
            row=row,
            col=col,
        )
        mine = panel_rules.get(key, rules.iloc[:0]) if per_slo else rules
        shapes += [
            _hline(index + 1, float(rule.factor), rule.color, rule.dash)
            for rule in mine.itertuples(index=False)
        ]
    legend = rules.drop_duplicates(["severity", "factor", "long_window", "dash"])
    for rule in legend.itertuples(index=False):
        name = f"{rule.severity} threshold {_factor(rule.factor)} ({_window(rule.long_window)})"
        figure.add_trace(_legend_line(name, rule.color, rule.dash))
    figure.update_layout(
        barmode="overlay",
        shapes=shapes,
        title=(
            "Burn rate per hour against the alert thresholds (bands: replayed alerts; "
            f"axis up to {_factor(ceiling)})"
        ),
    )
    figure.update_yaxes(range=[0, ceiling])
    figure.update_yaxes(title_text="burn rate", col=1)
    figure.update_xaxes(tickformat="%d %b", nticks=5, title_text="day")
    return figure


def _threshold_styles(thresholds: pd.DataFrame) -> pd.DataFrame:
    """``thresholds`` with the colour of its severity and a dash: each SLO's fastest window
    of a severity solid, its slower ones dashed."""
    keys = [c for c in ("service", "slo") if c in thresholds]
    rules = thresholds.sort_values(
        [*keys, "severity", "factor"],
        ascending=[*(True for _ in keys), True, False],
        ignore_index=True,
    )
    rank = rules.groupby([*keys, "severity"], sort=False).cumcount()
    return rules.assign(
        dash=np.where(rank == 0, "solid", "dash"),
        color=rules["severity"].map(SEVERITY_COLORS).fillna(EVEN_SPEND_COLOR),
    )


def _bands(
    episodes: pd.DataFrame, severity: str, ceiling: float, timezone: str, first: bool
) -> go.Bar:
    """Alert episodes as bars from each start, the axis' full height (a bar is one instant
    and one width in the payload, a rectangle of points five). A bar is at least
    ``MIN_BAND`` wide, so a five-minute page still shows on a month's axis; the hover gives
    its start and true length."""
    start = _local(episodes["start"], timezone)
    minutes = (episodes["end"] - episodes["start"]) / pd.Timedelta(minutes=1)
    width = np.maximum(minutes, MIN_BAND / pd.Timedelta(minutes=1)) * 60_000
    color = SEVERITY_COLORS[severity]
    return go.Bar(
        x=start.dt.strftime("%Y-%m-%d %H:%M").tolist(),
        y=[round(ceiling, 2)] * len(start),
        width=width.round().astype("int64").tolist(),
        offset=0,
        customdata=minutes.round().astype("int64").tolist(),
        marker={"color": _transparent(color, 0.35), "line": {"width": 0}},
        name=f"replayed {severity} alert",
        legendgroup=severity,
        showlegend=first,
        hovertemplate=f"{severity} alert %{{x|%d %b %H:%M}}, %{{customdata}} min<extra></extra>",
    )


def _transparent(color: str, alpha: float) -> str:
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _incidents_of(incidents: pd.DataFrame | None, service: str) -> pd.DataFrame | None:
    if incidents is None or incidents.empty:
        return None
    return incidents.loc[incidents["service"] == service]


TITLE_CHARACTERS = 48
"""Longest incident title a legend entry shows (the whole title is in the hover text)."""


def _short_title(incident_id: str, title: object) -> str:
    """``title (id)``, shortened to fit a legend; the id alone when there is no title."""
    text = "" if title is None or (isinstance(title, float) and math.isnan(title)) else str(title)
    text = text.strip()
    if len(text) > TITLE_CHARACTERS:
        text = text[: TITLE_CHARACTERS - 1].rstrip() + "…"
    return html.escape(f"{text} ({incident_id})" if text else str(incident_id))


def attribution(
    slos: pd.DataFrame, pairs: pd.DataFrame, top: int = 12, top_incidents: int = 7
) -> go.Figure:
    """Per SLO with burn: each incident's share of its budget, plus what no incident explains.

    Each of the biggest incidents has its own colour and a legend entry with its title; the
    legend sits below the bars so long titles are never cut off.
    """
    if slos is None or slos.empty:
        return _empty("No SLI data this month")
    if pairs is None:  # no incident source: all burn is unexplained
        pairs = pd.DataFrame(columns=["id", "service", "slo", "title", "budget_share"])
    burned = slos.loc[slos["budget_consumed"].fillna(0) > 0].sort_values(
        "budget_consumed", ascending=False
    )
    burned = burned.head(top)
    if burned.empty:
        return _empty("No error budget was burned this month")
    labels = (burned["service"] + " · " + burned["slo"]).tolist()
    figure = go.Figure()
    contributing = pairs.loc[pairs["budget_share"] > 0]
    # The biggest burners get their own colour; the rest share one bar segment.
    ranking = contributing.groupby("id")["budget_share"].max().sort_values(ascending=False)
    named = list(ranking.index[:top_incidents])
    titles = contributing.drop_duplicates("id").set_index("id")["title"]
    others = contributing.loc[~contributing["id"].isin(named)]
    segments = [
        (
            _short_title(incident, titles.get(incident)),
            contributing.loc[contributing["id"] == incident],
        )
        for incident in named
    ]
    if not others.empty:
        others = others.groupby(["service", "slo"], as_index=False)["budget_share"].sum()
        segments.append(("smaller incidents together", others.assign(title="")))
    for index, (name, group) in enumerate(segments):
        merged = burned[["service", "slo"]].merge(group, on=["service", "slo"], how="left")
        color = COLORWAY[index % (len(COLORWAY) - 1)] if index < len(named) else "#888888"
        figure.add_bar(
            y=labels,
            x=_rounded(merged["budget_share"].fillna(0) * 100, 2),
            orientation="h",
            name=name,
            marker_color=color,
            hovertemplate=f"{name}: %{{x:.1f}}% of the budget<extra></extra>",
        )
    figure.add_bar(
        y=labels,
        x=_rounded(burned["unattributed_budget"].clip(lower=0).fillna(0) * 100, 2),
        orientation="h",
        name="no incident",
        marker={"color": "#BBBBBB", "pattern": {"shape": "/"}},
        hovertemplate="no incident explains %{x:.1f}% of the budget<extra></extra>",
    )
    # Overlapping incidents each count their whole window, so the bar can run past the
    # budget actually used: mark that total.
    figure.add_scatter(
        y=labels,
        x=_rounded(burned["budget_consumed"] * 100, 2),
        mode="markers",
        name="budget used",
        marker={"symbol": "line-ns-open", "size": 18, "color": "#222222", "line": {"width": 2}},
        hovertemplate="used %{x:.1f}% of the budget<extra></extra>",
    )
    figure.add_vline(x=100, line={"color": STATUS_COLORS["breached"], "width": 1})
    legend_rows = len(segments) + 2
    figure.update_layout(
        barmode="stack",
        title="What used each error budget (% of the month's budget)",
        xaxis={"ticksuffix": "%", "title": {"text": "share of the month's error budget"}},
        yaxis={"autorange": "reversed"},
        height=160 + 34 * len(labels) + 24 * legend_rows,
        legend={
            "orientation": "h",
            "yref": "paper",
            "y": -0.12,
            "yanchor": "top",
            "x": 0,
            "traceorder": "normal",
        },
        margin={"b": 40 + 24 * legend_rows},
    )
    return figure


def severity_counts(by_severity: pd.DataFrame) -> go.Figure:
    """Incidents per severity, most severe first, with the unresolved ones shown apart."""
    if by_severity is None or by_severity.empty:
        return _empty("No incidents this month")
    resolved = by_severity["count"] - by_severity["unresolved"]
    figure = go.Figure()
    figure.add_bar(x=by_severity["severity"], y=resolved, name="resolved", marker_color=COLORWAY[0])
    figure.add_bar(
        x=by_severity["severity"],
        y=by_severity["unresolved"],
        name="unresolved",
        marker_color=COLORWAY[1],
    )
    figure.update_layout(
        barmode="stack", title="Incidents by severity", height=300, yaxis={"title": "incidents"}
    )
    return figure


def response_distribution(incidents: pd.DataFrame | None, severities: Sequence[str]) -> go.Figure:
    """Every incident's time to acknowledge and to resolve, per severity, on linear axes.

    A severity with fewer than ``FEW_POINTS`` incidents is drawn as dots only; with more, a
    box behind the dots shows the quartiles.
    """
    if incidents is None or incidents.empty:
        return _empty("No incidents this month")
    order = list(severities) + sorted(set(incidents["severity"]) - set(severities))
    order = [severity for severity in order if (incidents["severity"] == severity).any()]
    position = {severity: index for index, severity in enumerate(order)}
    figure = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Time to acknowledge", "Time to resolve"),
        shared_yaxes=True,
        horizontal_spacing=0.08,
    )
    for col, column in ((1, "tta_minutes"), (2, "ttr_minutes")):
        known = incidents.loc[incidents[column].notna()]
        for severity, group in known.groupby("severity", sort=False):
            level = position[severity]
            if len(group) >= FEW_POINTS:
                figure.add_box(
                    x=_rounded(group[column], 1),
                    y0=level,
                    orientation="h",
                    boxpoints=False,
                    fillcolor="rgba(0,0,0,0)",
                    line={"color": "#999999", "width": 1},
                    hoverinfo="skip",
                    showlegend=False,
                    row=1,
                    col=col,
                )
            # Neighbouring values on three lanes so close dots stay apart (no random jitter).
            rank = np.argsort(np.argsort(group[column].to_numpy(), kind="stable"))
            lanes = (rank % 3 - 1) * 0.2 if len(group) > 1 else np.zeros(1)
            figure.add_scatter(
                x=_rounded(group[column], 1),
                y=_rounded(level + lanes, 2),
                mode="markers",
                marker={"color": COLORWAY[0], "size": 8, "opacity": 0.85},
                text=_labels(group),
                hovertemplate="%{text}<br>%{x:.0f} min<extra></extra>",
                showlegend=False,
                row=1,
                col=col,
            )
        figure.update_xaxes(title_text="minutes", rangemode="tozero", row=1, col=col)
    figure.update_yaxes(
        tickvals=list(range(len(order))),
        ticktext=order,
        range=[len(order) - 0.5, -0.5],
        zeroline=False,
    )
    figure.update_layout(
        height=180 + 55 * len(order),
        title="Every incident (one dot each), by severity",
        margin={"t": 90},
    )
    return figure


def deployments_per_week(delivery: pd.DataFrame) -> go.Figure:
    """Deployments per week per service, coloured by DORA frequency band."""
    if delivery is None or delivery.empty:
        return _empty("No deployments this month")
    frame = delivery.sort_values("deployments_per_week", ascending=False)
    band_colors = {
        "elite": COLORWAY[2],
        "high": COLORWAY[0],
        "medium": COLORWAY[1],
        "low": COLORWAY[3],
    }
    figure = go.Figure()
    for band, color in band_colors.items():
        rows = frame.loc[frame["frequency_band"] == band]
        if rows.empty:
            continue
        figure.add_bar(
            x=rows["service"],
            y=rows["deployments_per_week"],
            name=band,
            marker_color=color,
            hovertemplate="%{x}: %{y:.1f} per week<extra></extra>",
        )
    figure.update_layout(
        title="Production deployments per week (colour: DORA 2023 band)",
        height=320,
        yaxis={"title": "per week"},
        xaxis={"categoryorder": "array", "categoryarray": frame["service"].tolist()},
    )
    return figure


def toil_and_oncall(toil: pd.DataFrame | None, oncall: pd.DataFrame | None) -> go.Figure:
    """Toil and on-call share of each team's hours against the 50% cap; pages per shift vs 2."""
    figure = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(
            "Share of hours: toil and on-call (cap 50%)",
            "Pages per 12-hour shift (limit 2)",
        ),
    )
    if toil is not None and not toil.empty:
        figure.add_bar(
            x=toil["team"],
            y=toil["toil_ratio"] * 100,
            name="toil",
            marker_color=COLORWAY[3],
            row=1,
            col=1,
        )
        oncall_share = (toil["operational_ratio"] - toil["toil_ratio"]) * 100
        figure.add_bar(
            x=toil["team"], y=oncall_share, name="on-call", marker_color=COLORWAY[1], row=1, col=1
        )
        figure.add_hline(
            y=50, line={"color": STATUS_COLORS["breached"], "dash": "dash"}, row=1, col=1
        )
    if oncall is not None and not oncall.empty:
        figure.add_bar(
            x=oncall["team"],
            y=oncall["pages_per_shift"],
            name="pages per shift",
            marker_color=COLORWAY[0],
            row=1,
            col=2,
        )
        figure.add_hline(
            y=2, line={"color": STATUS_COLORS["breached"], "dash": "dash"}, row=1, col=2
        )
    figure.update_yaxes(ticksuffix="%", range=[0, 100], row=1, col=1)
    figure.update_layout(
        barmode="stack",
        height=360,
        title="Toil and on-call load",
        legend={"orientation": "h", "y": -0.15, "x": 0, "yanchor": "top"},
    )
    return figure


TREND_PANELS: tuple[tuple[str, str, str, float, int], ...] = (
    ("slos_met", "SLOs met (count)", "", 1, 0),
    ("deployments_per_week", "Deployments per week", "", 1, 1),
    ("lead_time_median_hours", "Lead time, median (h)", "", 1, 1),
    ("change_failure_rate", "Change failure rate", "%", 100, 1),
    ("recovery_median_minutes", "Time to restore, median (min)", "", 1, 0),
    ("mtta_median_minutes", "MTTA, median (min)", "", 1, 0),
    ("mttr_median_minutes", "MTTR, median (min)", "", 1, 0),
    ("toil_ratio", "Toil, share of hours", "%", 100, 1),
)
"""Each trend chart: column, title, tick suffix, scale, decimals. The four DORA figures, the
response times and the two figures of the first screen."""


def trends(trend: pd.DataFrame, columns: int = 4) -> go.Figure:
    """Six months of the headline figures, one small chart each; a month without the data
    for a figure is a gap in its line, never a zero."""
    panels = [panel for panel in TREND_PANELS if panel[0] in trend]
    rows = math.ceil(len(panels) / columns)
    figure = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=[panel[1] for panel in panels],
        vertical_spacing=0.28 if rows > 1 else 0.0,
        horizontal_spacing=0.07,
    )
    months = trend["month"].astype(str).tolist()
    for index, (column, _, suffix, scale, digits) in enumerate(panels):
        row, col = index // columns + 1, index % columns + 1
        values = pd.to_numeric(trend[column], errors="coerce") * scale
        extra = {}
        if column == "slos_met" and "slos_with_data" in trend:
            of = pd.to_numeric(trend["slos_with_data"], errors="coerce")
            extra = {
                "customdata": _rounded(of, 0),
                "hovertemplate": "%{x}: %{y} of %{customdata}<extra></extra>",
            }
        figure.add_scatter(
            x=months,
            y=_rounded(values, digits + 1),
            mode="lines+markers",
            connectgaps=False,
            line={"color": COLORWAY[0]},
            marker={"size": 7},
            showlegend=False,
            hovertemplate=f"%{{x}}: %{{y:.{digits}f}}{suffix}<extra></extra>",
            row=row,
            col=col,
        )
        if extra:
            figure.data[-1].update(extra)
        figure.update_yaxes(ticksuffix=suffix, rangemode="tozero", row=row, col=col)
    figure.update_xaxes(type="category", categoryorder="array", categoryarray=months, tickangle=-45)
    figure.update_annotations(font_size=12)
    figure.update_layout(
        height=160 + 260 * rows,
        title="Six-month trends (a gap: no data for that month)",
        margin={"t": 90},
    )
    return figure
