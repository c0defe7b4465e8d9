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


def burndown(
    burndown_frame: pd.DataFrame,
    slos: pd.DataFrame,
    incidents: pd.DataFrame | None,
    columns: int = 4,
    timezone: str = "UTC",
) -> go.Figure:
    """Cumulative budget consumed per SLO and day against the even-spend line, incidents marked.

    Small multiples ordered like the SLO table (worst first), one shared y scale in percent of
    the month's budget, a red line at 100%.
    """
    if burndown_frame is None or burndown_frame.empty or slos is None or slos.empty:
        return _empty("No SLI data this month")
    order = slos.sort_values("budget_remaining", na_position="last")[["service", "slo"]]
    keys = list(order.itertuples(index=False, name=None))
    rows = math.ceil(len(keys) / columns)
    titles = [f"{service} · {slo}" for service, slo in keys]
    figure = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=titles,
        shared_xaxes=True,
        shared_yaxes=True,
        vertical_spacing=0.5 / rows if rows > 1 else 0.1,
        horizontal_spacing=0.03,
    )
    grouped = {key: frame for key, frame in burndown_frame.groupby(["service", "slo"], sort=False)}
    ceiling = max(1.05, float(np.nanmax(burndown_frame["budget_consumed"].to_numpy()) * 1.05))
    ceiling = min(ceiling, 3.0)
    for index, key in enumerate(keys):
        row, col = index // columns + 1, index % columns + 1
        frame = grouped.get(key)
        if frame is None:
            continue
        day_end = frame["day"] + pd.Timedelta(days=1)
        figure.add_scatter(
            x=day_end,
            y=frame["even_spend"] * 100,
            mode="lines",
            line={"color": EVEN_SPEND_COLOR, "dash": "dot", "width": 1},
            name="even spend",
            legendgroup="even",
            showlegend=index == 0,
            hovertemplate="even spend %{y:.0f}%<extra></extra>",
            row=row,
            col=col,
        )
        consumed = frame["budget_consumed"] * 100
        color = COLORWAY[0] if consumed.iloc[-1] <= 100 else STATUS_COLORS["breached"]
        figure.add_scatter(
            x=day_end,
            y=consumed,
            mode="lines",
            line={"color": color, "width": 2},
            name="budget consumed",
            legendgroup="consumed",
            showlegend=index == 0,
            hovertemplate="%{x|%b %d}: %{y:.0f}% of budget<extra></extra>",
            row=row,
            col=col,
        )
        service_incidents = _incidents_of(incidents, key[0])
        if service_incidents is not None and not service_incidents.empty:
            start = service_incidents["started_at"].fillna(service_incidents["created_at"])
            local = start.dt.tz_convert(timezone).dt.tz_localize(None)
            # Place each marker on the burn-down line at the incident's start.
            y = np.interp(
                local.dt.as_unit("ns").astype("int64").to_numpy(),
                np.concatenate([[frame["day"].iloc[0]], day_end])
                .astype("datetime64[ns]")
                .astype("int64"),
                np.concatenate([[0.0], consumed.to_numpy()]),
            )
            figure.add_scatter(
                x=local,
                y=y,
                mode="markers",
                marker={"symbol": "x", "size": 9, "color": INCIDENT_COLOR},
                name="incident",
                legendgroup="incident",
                showlegend=index == 0,
                text=_labels(service_incidents),
                hovertemplate="%{text}<extra></extra>",
                row=row,
                col=col,
            )
    # The 100% line of every panel, set at once: add_hline per panel costs 30 ms each.
    panels = [index + 1 for index, key in enumerate(keys) if key in grouped]
    figure.update_layout(shapes=[_budget_line(panel) for panel in panels])
    figure.update_yaxes(range=[0, ceiling * 100], ticksuffix="%")
    figure.update_xaxes(tickformat="%d %b", nticks=4)
    figure.update_annotations(font_size=11)
    figure.update_layout(
        height=max(300, 190 * rows + 110),
        title="Error budget consumed through the month (dotted: spending evenly)",
        margin={"t": 80, "b": 70},
        legend={"orientation": "h", "yref": "container", "y": 0.0, "yanchor": "bottom", "x": 0},
    )
    return figure


def _budget_line(panel: int) -> dict:
    """A horizontal line at 100% across subplot ``panel`` (1-based, row by row)."""
    suffix = "" if panel == 1 else str(panel)
    return {
        "type": "line",
        "xref": f"x{suffix} domain",
        "yref": f"y{suffix}",
        "x0": 0,
        "x1": 1,
        "y0": 100,
        "y1": 100,
        "line": {"color": STATUS_COLORS["breached"], "width": 1},
    }


def _incidents_of(incidents: pd.DataFrame | None, service: str) -> pd.DataFrame | None:
    if incidents is None or incidents.empty:
        return None
    return incidents.loc[incidents["service"] == service]


def attribution(
    slos: pd.DataFrame, pairs: pd.DataFrame, top: int = 12, top_incidents: int = 7
) -> go.Figure:
    """Per SLO with burn: each incident's share of its budget, plus what no incident explains."""
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
    others = contributing.loc[~contributing["id"].isin(named)]
    segments = [(incident, contributing.loc[contributing["id"] == incident]) for incident in named]
    if not others.empty:
        others = others.groupby(["service", "slo"], as_index=False)["budget_share"].sum()
        segments.append(("other incidents", others.assign(title="smaller incidents together")))
    for index, (incident_id, group) in enumerate(segments):
        merged = burned[["service", "slo"]].merge(group, on=["service", "slo"], how="left")
        color = COLORWAY[index % (len(COLORWAY) - 1)] if index < len(named) else "#888888"
        figure.add_bar(
            y=labels,
            x=merged["budget_share"].fillna(0) * 100,
            orientation="h",
            name=str(incident_id),
            marker_color=color,
            hovertext=merged["title"].fillna("").map(html.escape),
            hovertemplate=f"{incident_id}: %{{x:.1f}}% of budget<br>%{{hovertext}}<extra></extra>",
        )
    unexplained = burned["unattributed_budget"].clip(lower=0).fillna(0) * 100
    figure.add_bar(
        y=labels,
        x=unexplained,
        orientation="h",
        name="no incident",
        marker={"color": "#BBBBBB", "pattern": {"shape": "/"}},
        hovertemplate="no incident explains %{x:.1f}% of budget<extra></extra>",
    )
    # Overlapping incidents each count their whole window, so the bar can run past the
    # budget actually consumed: mark that total.
    figure.add_scatter(
        y=labels,
        x=burned["budget_consumed"] * 100,
        mode="markers",
        name="budget consumed",
        marker={"symbol": "line-ns-open", "size": 18, "color": "#222222", "line": {"width": 2}},
        hovertemplate="consumed %{x:.1f}% of budget<extra></extra>",
    )
    figure.add_vline(x=100, line={"color": STATUS_COLORS["breached"], "width": 1})
    figure.update_layout(
        barmode="stack",
        title="What burned each error budget (% of the month's budget)",
        xaxis={"ticksuffix": "%"},
        yaxis={"autorange": "reversed"},
        height=120 + 34 * len(labels),
        legend={"orientation": "v", "y": 1, "x": 1.02, "yanchor": "top"},
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
    """Every incident's time to acknowledge and to resolve, one dot each, per severity."""
    if incidents is None or incidents.empty:
        return _empty("No incidents this month")
    order = list(severities) + sorted(set(incidents["severity"]) - set(severities))
    figure = make_subplots(
        rows=1, cols=2, subplot_titles=("Time to acknowledge", "Time to resolve"), shared_yaxes=True
    )
    for col, column in ((1, "tta_minutes"), (2, "ttr_minutes")):
        known = incidents.loc[incidents[column].notna()]
        figure.add_box(
            x=known[column],
            y=known["severity"],
            orientation="h",
            boxpoints="all",
            jitter=0.4,
            pointpos=0,
            fillcolor="rgba(0,0,0,0)",
            line={"color": "#999999", "width": 1},
            marker={"color": COLORWAY[0], "size": 8, "opacity": 0.85},
            text=_labels(known),
            hovertemplate="%{text}<br>%{x:.0f} min<extra></extra>",
            showlegend=False,
            row=1,
            col=col,
        )
        figure.update_xaxes(
            type="log",
            title_text="minutes (log scale)",
            tickvals=[1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000],
            row=1,
            col=col,
        )
    figure.update_yaxes(categoryorder="array", categoryarray=order[::-1])
    figure.update_layout(height=120 + 45 * len(order), title="Every incident (dots), by severity")
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


def trends(trend: pd.DataFrame) -> go.Figure:
    """Six months of the headline figures, one small chart each."""
    panels = [
        ("slos_met_share", "SLOs met", "%", 100),
        ("median_budget_remaining", "Median budget remaining", "%", 100),
        ("mttr_median_minutes", "MTTR median (min)", "", 1),
        ("change_failure_rate", "Change failure rate", "%", 100),
        ("toil_ratio", "Toil share of hours", "%", 100),
    ]
    figure = make_subplots(rows=1, cols=len(panels), subplot_titles=[p[1] for p in panels])
    for col, (column, _, suffix, scale) in enumerate(panels, start=1):
        values = trend[column] * scale
        figure.add_scatter(
            x=trend["month"],
            y=values,
            mode="lines+markers",
            line={"color": COLORWAY[0]},
            marker={"size": 7},
            showlegend=False,
            hovertemplate="%{x}: %{y:.1f}" + suffix + "<extra></extra>",
            row=1,
            col=col,
        )
        figure.update_yaxes(ticksuffix=suffix, rangemode="tozero", row=1, col=col)
    figure.update_xaxes(type="category", tickangle=-45)
    figure.update_annotations(font_size=12)
    figure.update_layout(height=300, title="Six-month trends")
    return figure
