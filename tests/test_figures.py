"""The report's charts as figure objects: traces, axis titles, thresholds, gaps, no toolbar."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from reliability.metrics import daily, slo
from reliability.metrics.policy import WORKBOOK, AlertPolicy, AlertWindow
from reliability.period import Month
from reliability.report import figures
from reliability.report.plotting import CHART_CONFIG, COLORWAY, ReportRenderer
from tests.slo_helpers import constant_traffic, slo_table

FEBRUARY = Month(2026, 2)
DAY = 1440


def _slos(*pairs: tuple[str, str], remaining: float = 0.5) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "service": [p[0] for p in pairs],
            "slo": [p[1] for p in pairs],
            "budget_remaining": remaining,
            "budget_consumed": 1 - remaining,
        }
    )


def _panel_heights(figure) -> list[float]:
    """Plot-area height in px of every y axis of ``figure``."""
    layout = figure.layout
    inner = layout.height - layout.margin.t - layout.margin.b
    axes = [name for name in layout if name.startswith("yaxis")]
    return [inner * (layout[a].domain[1] - layout[a].domain[0]) for a in axes]


def _traces(figure, name: str) -> list:
    return [trace for trace in figure.data if trace.name == name]


def _one_month() -> tuple[slo.SLIGrid, slo.SLOReport]:
    # Minute 600 of day 3: 100 of 100 events bad for 20 minutes: pages fire.
    bad = {2 * DAY + 600 + m: 100 for m in range(20)}
    grid = slo.build_grid(constant_traffic(FEBRUARY, bad=bad), slo_table({}), FEBRUARY)
    return grid, slo.slo_report(grid, FEBRUARY)


def test_burn_rate_draws_the_policys_thresholds_and_the_replayed_alerts_as_bands():
    grid, report = _one_month()
    assert (report.alerts["severity"] == "page").any()
    figure = figures.burn_rate(
        daily.hourly_burn_rate(grid),
        report.alerts,
        daily.slo_thresholds(report.table),
        report.table,
    )
    lines = sorted(shape.y0 for shape in figure.layout.shapes)
    assert lines == pytest.approx([1.0, 3.0, 6.0, 14.4])
    names = [trace.name for trace in figure.data]
    assert "page threshold 14.4 (1 h)" in names
    assert "page threshold 6 (6 h)" in names
    assert "ticket threshold 3 (1 d)" in names
    assert "ticket threshold 1 (3 d)" in names
    (band,) = _traces(figure, "replayed page alert")
    assert band.type == "bar"
    assert band.offset == 0
    first_page = report.alerts.loc[report.alerts["severity"] == "page"].iloc[0]
    assert band.x[0] == first_page["start"].strftime("%Y-%m-%d %H:%M")
    (line,) = _traces(figure, "burn rate per hour")
    assert line.x0 == "2026-02-01 00:00"
    assert line.dx == 3_600_000
    assert len(line.y) == 28 * 24
    assert figure.layout.yaxis.title.text == "burn rate"
    assert figure.layout.xaxis.title.text == "day"
    assert figure.layout.yaxis.type in (None, "linear", "-")


def test_burn_rate_lines_take_the_factors_given():
    grid, report = _one_month()
    thresholds = pd.DataFrame(
        {
            "severity": ["page", "ticket"],
            "long_window": [pd.Timedelta(hours=1), pd.Timedelta(days=1)],
            "short_window": [pd.Timedelta(minutes=5), pd.Timedelta(hours=2)],
            "factor": [10.0, 2.0],
        }
    )
    figure = figures.burn_rate(daily.hourly_burn_rate(grid), None, thresholds, report.table)
    assert sorted(shape.y0 for shape in figure.layout.shapes) == [2.0, 10.0]
    # The axis runs to the highest threshold and past the peak, capped at twice the threshold.
    assert figure.layout.yaxis.range[1] == pytest.approx(20.0)


def test_each_panel_draws_the_thresholds_of_its_slos_policy():
    period = FEBRUARY
    sli = pd.concat(
        [constant_traffic(period), constant_traffic(period, service="search")], ignore_index=True
    )
    table = slo_table({}, {"service": "search"})
    grid = slo.build_grid(sli, table, period)
    fast = AlertPolicy(
        "fast", (AlertWindow("page", pd.Timedelta(minutes=30), pd.Timedelta(minutes=5), 20.0),)
    )
    thresholds = daily.slo_thresholds(
        table, lambda service, name: fast if service == "search" else WORKBOOK
    )
    slos = _slos(("checkout", "availability"), ("search", "availability"))
    figure = figures.burn_rate(daily.hourly_burn_rate(grid), None, thresholds, slos)
    by_axis = {}
    for shape in figure.layout.shapes:
        by_axis.setdefault(shape.yref, []).append(shape.y0)
    assert sorted(by_axis["y"]) == pytest.approx([1.0, 3.0, 6.0, 14.4])
    assert by_axis["y2"] == [20.0]
    names = [trace.name for trace in figure.data]
    assert "page threshold 20 (30 min)" in names
    assert "page threshold 14.4 (1 h)" in names


def test_an_hour_without_data_is_a_gap_in_the_burn_rate():
    grid = slo.build_grid(constant_traffic(FEBRUARY, minutes=120), slo_table({}), FEBRUARY)
    hourly = daily.hourly_burn_rate(grid)
    slos = _slos(("checkout", "availability"))
    figure = figures.burn_rate(hourly, None, daily.slo_thresholds(slos), slos)
    (line,) = _traces(figure, "burn rate per hour")
    assert line.y[:2] == (0.0, 0.0)
    assert line.y[2] is None
    assert line.y[-1] is None


def test_sli_per_day_against_the_objective_with_gaps_and_days_below_marked():
    frame = pd.DataFrame(
        {
            "service": "checkout",
            "slo": "availability",
            "day": pd.date_range("2026-02-01", periods=4, freq="D"),
            "sli": [0.9995, 0.998, np.nan, 1.0],
            "objective": 0.999,
        }
    )
    figure = figures.sli_per_day(frame, _slos(("checkout", "availability")))
    (line,) = _traces(figure, "SLI per day")
    assert line.y == (99.95, 99.8, None, 100.0)
    assert line.connectgaps is False
    (below,) = _traces(figure, "day below the objective")
    assert below.y == (None, 99.8, None, None)
    assert [shape.y0 for shape in figure.layout.shapes] == [pytest.approx(99.9)]
    assert _traces(figure, "objective")  # a legend entry for the dashed line
    assert figure.layout.yaxis.title.text == "SLI"
    assert figure.layout.xaxis.title.text == "day"
    low, high = figure.layout.yaxis.range
    assert low < 99.8
    assert high > 100


def test_sli_per_day_uses_the_metrics_daily_series():
    grid, report = _one_month()
    figure = figures.sli_per_day(daily.daily_sli(grid, FEBRUARY), report.table)
    (line,) = _traces(figure, "SLI per day")
    # Day 3: 2,000 of 144,000 events bad.
    assert line.y[2] == pytest.approx(round((1 - 2000 / 144_000) * 100, 4))
    assert len(line.y) == 28


def _burndown_frame(keys: list[tuple[str, str]], days: int = 5) -> pd.DataFrame:
    rows = []
    for service, name in keys:
        for day in range(days):
            rows.append(
                {
                    "service": service,
                    "slo": name,
                    "day": pd.Timestamp("2026-02-01") + pd.Timedelta(days=day),
                    "budget_consumed": 0.3 * (day + 1),
                    "even_spend": (day + 1) / 28,
                }
            )
    return pd.DataFrame(rows)


def test_burndown_panels_are_large_with_axis_titles_and_a_legend_that_matches():
    keys = [(f"service-{i}", "availability") for i in range(18)]
    slos = _slos(*keys)
    slos.loc[0, "budget_remaining"] = -0.5  # overspent: once drawn in another colour
    figure = figures.burndown(_burndown_frame(keys), slos, None)
    assert min(_panel_heights(figure)) >= 260
    assert figure.layout.yaxis.title.text == "budget used"
    assert figure.layout.xaxis.title.text == "day"
    used = _traces(figure, "budget used")
    assert len(used) == 18
    assert {trace.line.color for trace in used} == {COLORWAY[0]}
    assert sum(bool(trace.showlegend) for trace in used) == 1
    # Every line drawn as a shape has a legend entry of the same colour.
    (whole,) = _traces(figure, "whole budget (100%)")
    assert {shape.line.color for shape in figure.layout.shapes} == {whole.line.color}
    assert {shape.y0 for shape in figure.layout.shapes} == {100}


def test_attribution_bars_are_labelled_with_incident_titles_and_the_legend_fits():
    slos = _slos(("checkout", "availability"), remaining=0.2).assign(unattributed_budget=0.1)
    pairs = pd.DataFrame(
        {
            "id": ["INC-1", "INC-2"],
            "service": "checkout",
            "slo": "availability",
            "title": ["Card payments failing after the database failover", None],
            "budget_share": [0.5, 0.2],
        }
    )
    figure = figures.attribution(slos, pairs)
    names = [trace.name for trace in figure.data]
    assert "Card payments failing after the database failov… (INC-1)" in names
    assert "INC-2" in names  # no title: the id alone
    assert figure.layout.legend.orientation == "h"
    assert figure.layout.legend.y < 0  # below the bars, not beside them
    assert figure.layout.margin.b >= 24 * len(names)
    assert figure.layout.xaxis.title.text


def _incidents(counts: dict[str, int]) -> pd.DataFrame:
    rows = []
    for severity, count in counts.items():
        for i in range(count):
            rows.append(
                {
                    "id": f"{severity}-{i}",
                    "title": f"incident {i}",
                    "severity": severity,
                    "tta_minutes": 5.0 + i,
                    "ttr_minutes": 60.0 * (i + 1),
                }
            )
    return pd.DataFrame(rows)


def test_few_points_are_dots_and_many_get_a_box_on_linear_axes():
    figure = figures.response_distribution(_incidents({"SEV1": 3, "SEV2": 9}), ["SEV1", "SEV2"])
    boxes = [trace for trace in figure.data if trace.type == "box"]
    # SEV2 has 9 incidents: one box per chart; SEV1's 3 incidents are dots only.
    assert len(boxes) == 2
    assert {trace.y0 for trace in boxes} == {1}
    dots = [trace for trace in figure.data if trace.type == "scatter"]
    assert sorted(len(trace.x) for trace in dots) == [3, 3, 9, 9]
    assert all(trace.mode == "markers" for trace in dots)
    assert figure.layout.xaxis.type != "log"
    assert figure.layout.xaxis2.type != "log"
    assert figure.layout.xaxis.title.text == "minutes"
    assert list(figure.layout.yaxis.ticktext) == ["SEV1", "SEV2"]


def test_a_distribution_of_seven_points_has_no_box():
    figure = figures.response_distribution(_incidents({"SEV1": 7}), ["SEV1"])
    assert not [trace for trace in figure.data if trace.type == "box"]


def test_trends_show_every_dora_figure_and_missing_months_as_gaps():
    trend = pd.DataFrame(
        {
            "month": ["2026-01", "2026-02", "2026-03"],
            "slos_met": [15, None, 17],
            "slos_with_data": [18, None, 18],
            "deployments_per_week": [10.0, 12.5, None],
            "lead_time_median_hours": [20.0, None, 18.0],
            "change_failure_rate": [0.1, 0.05, None],
            "recovery_median_minutes": [None, 30.0, 45.0],
            "mtta_median_minutes": [None, 4.0, 3.0],
            "mttr_median_minutes": [None, 90.0, 60.0],
            "toil_ratio": [0.3, None, 0.25],
        }
    ).astype({"month": "string"})
    figure = figures.trends(trend)
    titles = [annotation.text for annotation in figure.layout.annotations]
    assert titles == [
        "SLOs met (count)",
        "Deployments per week",
        "Lead time, median (h)",
        "Change failure rate",
        "Time to restore, median (min)",
        "MTTA, median (min)",
        "MTTR, median (min)",
        "Toil, share of hours",
    ]
    by_title = dict(zip(titles, figure.data, strict=True))
    assert by_title["SLOs met (count)"].y == (15, None, 17)  # a count, not a share
    assert by_title["SLOs met (count)"].customdata == (18, None, 18)
    assert by_title["MTTA, median (min)"].y == (None, 4.0, 3.0)  # no incident data: a gap
    assert by_title["Change failure rate"].y == (10.0, 5.0, None)
    assert all(trace.connectgaps is False for trace in figure.data)
    assert all(0 not in (trace.y[0], trace.y[1]) for trace in figure.data)


def test_no_chart_has_a_toolbar():
    assert CHART_CONFIG["displayModeBar"] is False
    figure = figures.trends(
        pd.DataFrame({"month": ["2026-01"], "slos_met": [1], "slos_with_data": [2]})
    )
    html = ReportRenderer().to_mimebundle(figure.to_dict())["text/html"]
    assert '"displayModeBar": false' in html


def test_the_fleets_slo_charts_stay_small():
    # 18 SLOs, a 31-day month: the payload of each chart, as the report embeds it.
    period = Month(2026, 3)
    keys = [(f"service-{i // 2}", f"slo-{i % 2}") for i in range(18)]
    rows = slo_table(*({"service": s, "slo": n} for s, n in keys))
    rng = np.random.default_rng(3)
    parts = []
    for service, name in keys:
        bad = {int(m): int(rng.integers(1, 40)) for m in rng.integers(0, 31 * DAY, 500)}
        parts.append(constant_traffic(period, bad=bad, service=service, name=name))
    grid = slo.build_grid(pd.concat(parts, ignore_index=True), rows, period)
    report = slo.slo_report(grid, period)
    charts = {
        "sli": figures.sli_per_day(daily.daily_sli(grid, period), report.table),
        "burn": figures.burn_rate(
            daily.hourly_burn_rate(grid),
            report.alerts,
            daily.slo_thresholds(report.table),
            report.table,
        ),
        "burndown": figures.burndown(report.burndown, report.table, None),
    }
    sizes = {
        name: len(json.dumps(chart.to_plotly_json(), default=str)) for name, chart in charts.items()
    }
    assert sizes["burn"] < 250_000, sizes
    assert sizes["sli"] < 120_000, sizes
    assert sizes["burndown"] < 120_000, sizes
