"""Spend beside reliability: the cost input (FOCUS exports and the canonical cost.csv), its
validation, and the spend per service, team, SLO met and nine, pinned by hand-computed values."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from reliability import frames
from reliability.cli import main
from reliability.config import config_from_dict
from reliability.frames import Frames
from reliability.metrics import cost
from reliability.metrics.month import compute_month
from reliability.period import Month
from reliability.results import to_json

DATA = Path(__file__).resolve().parent / "data" / "cost"
FOCUS_FILE = DATA / "focus-1.x.csv"
OCTOBER = Month(2026, 10)
TEAMS = {"checkout": "payments", "search": "discovery", "ledger": "payments"}
INCIDENT = (
    "id,service,severity,created_at,resolved_at\n"
    "INC-1,checkout,SEV1,2026-10-02T00:00:00Z,2026-10-02T01:00:00Z\n"
)
"""One incident in October, so that the month has data besides its spend."""
SERVICES_YAML = (
    "services:\n"
    "  - {name: checkout, team: payments}\n"
    "  - {name: search, team: discovery}\n"
    "  - {name: ledger, team: payments}\n"
)


def workspace(tmp_path: Path, cost_yaml: str = "", files: dict[str, str] | None = None) -> Path:
    """A config reading ``cost.csv`` (or the FOCUS test file) and one incident."""
    (tmp_path / "incidents.csv").write_text(INCIDENT)
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(text)
    if not files:
        shutil.copy(FOCUS_FILE, tmp_path / "cost.csv")
    config = tmp_path / "reliability.yaml"
    config.write_text(
        "sources:\n"
        "  incidents: {kind: csv, path: incidents.csv}\n"
        "  cost: {kind: csv, path: cost.csv}\n" + SERVICES_YAML + cost_yaml
    )
    return config


def compute_json(config: Path, capsys) -> dict:
    code = main(["compute", "--config", str(config), "--month", "2026-10", "--format", "json"])
    out = capsys.readouterr().out
    assert code == 0
    return json.loads(out)


def focus_frame() -> pd.DataFrame:
    """The FOCUS test file as the canonical cost frame (tag ``service``)."""
    raw = pd.read_csv(FOCUS_FILE, dtype=str, keep_default_na=False)
    return frames.focus_cost(frames.validate(raw, frames.FOCUS_COST, str(FOCUS_FILE)), "service")


# --- the split by time -----------------------------------------------------------------------


def test_a_charge_counts_in_a_month_by_the_share_of_its_period_inside_it():
    frame = pd.DataFrame(
        {
            "service": ["a"] * 5,
            "provider_service": pd.NA,
            "month": [None, None, None, None, "2026-10"],
            "start": pd.to_datetime(
                [
                    "2026-09-16T00:00Z",  # 16 Sep to 16 Oct: 15 of its 30 days in October
                    "2026-10-17T00:00Z",  # 17 Oct to 16 Nov: 15 of 30
                    "2026-10-05T12:00Z",  # no length: whole, where it starts
                    "2026-11-01T00:00Z",  # November only
                    None,
                ],
                utc=True,
            ),
            "end": pd.to_datetime(
                [
                    "2026-10-16T00:00Z",
                    "2026-11-16T00:00Z",
                    "2026-10-05T12:00Z",
                    "2026-12-01T00:00Z",
                    None,
                ],
                utc=True,
            ),
            "amount": [300.0, 600.0, 5.0, 999.0, 40.0],
            "currency": "USD",
        }
    )
    share = cost.month_share(frame, OCTOBER)
    assert share.tolist() == pytest.approx([0.5, 0.5, 1.0, 0.0, 1.0])
    # A month in progress counts up to now: 10 October, 9 of the first charge's 30 days.
    until = pd.Timestamp("2026-10-10T00:00Z")
    assert cost.month_share(frame, OCTOBER, until).tolist() == pytest.approx(
        [9 / 30, 0.0, 1.0, 0.0, 1.0]
    )


# --- the FOCUS reader and the figures --------------------------------------------------------


def test_the_focus_reader_takes_the_service_from_the_tags_and_keeps_the_charge_period():
    frame = focus_frame()
    assert list(frame.columns) == frames.COST.column_names
    assert frame["service"].tolist()[:6] == [
        "checkout",
        "search",
        "ledger",
        pd.NA,
        "legacy-batch",
        pd.NA,
    ]
    assert frame["provider_service"].iloc[3] == "Amazon OpenSearch Service"
    assert frame["amount"].tolist() == [310.0, 300.0, 600.0, 62.0, 31.0, 9.3, -10.0, 999.0]
    assert frame["start"].iloc[1] == pd.Timestamp("2026-09-16T00:00Z")


def slo_table(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["service", "slo", "status", "sli"])


SLOS = slo_table(
    [
        ("checkout", "availability", "met", 0.999),  # 3 nines
        ("checkout", "latency", "at_risk", 0.991),
        ("search", "availability", "met", 0.99),  # 2 nines
        ("search", "latency", "missed", 0.95),
        ("ledger", "availability", "no_data", float("nan")),
        ("ledger", "latency", "met", 0.999),
    ]
)


def october(**kw: object) -> cost.CostSummary:
    summary = cost.cost_summary(
        focus_frame(),
        OCTOBER,
        TEAMS,
        "USD",
        mapping={"Amazon OpenSearch Service": "search"},
        slos=SLOS,
        **kw,
    )
    assert summary is not None
    return summary


def test_spend_per_service_and_team_with_the_unattributed_line():
    summary = october()
    table = summary.by_service.set_index("service")
    # checkout 310 - 10 credit; search 300 x 15/30 + 62 mapped by ServiceName; ledger 600 x 15/30
    assert table["spend"].to_dict() == pytest.approx(
        {"checkout": 300.0, "search": 212.0, "ledger": 300.0, "unattributed": 40.3}
    )
    assert list(table.index) == ["checkout", "search", "ledger", "unattributed"]
    assert summary.total == pytest.approx(852.3)
    assert summary.attributed == pytest.approx(812.0)
    assert summary.unattributed == pytest.approx(40.3)
    assert summary.charges == 7  # the November charge has no part in October
    assert table.loc["checkout", "share"] == pytest.approx(300 / 852.3)
    teams = summary.by_team.set_index("team")
    assert teams["spend"].to_dict() == pytest.approx(
        {"payments": 600.0, "discovery": 212.0, "unattributed": 40.3}
    )
    assert teams["services"].to_dict() == {"payments": 2, "discovery": 1, "unattributed": 0}
    labels = summary.unattributed_by_label
    assert labels["label"].tolist() == ["legacy-batch", "AWS CloudTrail"]
    assert labels["spend"].tolist() == pytest.approx([31.0, 9.3])


def test_cost_per_slo_met_and_spend_per_nine_rank_the_services():
    table = october().by_service.set_index("service")
    assert table["slos_met"].tolist()[:3] == [2, 1, 1]
    assert table.loc["checkout", "cost_per_slo_met"] == pytest.approx(150.0)
    assert table.loc["search", "cost_per_slo_met"] == pytest.approx(212.0)
    assert table.loc["ledger", "cost_per_slo_met"] == pytest.approx(300.0)
    assert table.loc["checkout", "nines"] == pytest.approx(3.0)
    assert table.loc["search", "nines"] == pytest.approx(2.0)
    assert table.loc["checkout", "spend_per_nine"] == pytest.approx(100.0)
    assert table.loc["search", "spend_per_nine"] == pytest.approx(106.0)
    assert math.isnan(table.loc["ledger", "spend_per_nine"])
    assert table.loc["ledger", "spend_per_nine_reason"] == "no availability data this month"
    assert table.loc["search", "rank_per_nine"] == 1
    assert table.loc["checkout", "rank_per_nine"] == 2
    assert pd.isna(table.loc["ledger", "rank_per_nine"])
    assert october().top_per_nine == ["search", "checkout"]
    assert table.loc["unattributed", "spend_per_nine_reason"] == "not a service of the report"


def test_null_figures_say_why():
    slos = slo_table(
        [
            ("checkout", "availability", "missed", 1.0),  # perfect, yet no SLO met
            ("search", "availability", "no_data", float("nan")),
            ("ledger", "latency", "met", 0.99),
        ]
    )
    summary = cost.cost_summary(focus_frame(), OCTOBER, TEAMS, "USD", slos=slos)
    table = summary.by_service.set_index("service")
    assert math.isnan(table.loc["checkout", "cost_per_slo_met"])
    assert table.loc["checkout", "cost_per_slo_met_reason"] == cost.NO_SLO_MET
    assert table.loc["checkout", "spend_per_nine_reason"] == cost.PERFECT
    assert table.loc["search", "cost_per_slo_met_reason"] == cost.NO_SLO_DATA
    assert table.loc["ledger", "spend_per_nine_reason"] == "no SLO named availability"
    assert pd.isna(table.loc["ledger", "cost_per_slo_met_reason"])
    # Without the mapping the search cluster's 62 is unattributed, labelled by ServiceName.
    assert summary.unattributed == pytest.approx(40.3 + 62.0)
    without_sli = cost.cost_summary(focus_frame(), OCTOBER, TEAMS, "USD", slos=None)
    assert set(without_sli.by_service["cost_per_slo_met_reason"][:3]) == {cost.NO_SLI_INPUT}


def test_nines_of_availability():
    values = cost.nines(pd.Series([0.9, 0.99, 0.9995, 1.0]))
    assert values.tolist()[:3] == pytest.approx([1.0, 2.0, -math.log10(0.0005)])
    assert math.isnan(values.iloc[3])


def test_a_month_without_charges_has_no_spend_not_zero_spend():
    assert cost.cost_summary(focus_frame(), Month(2026, 8), TEAMS, "USD") is None


# --- through the CLI -------------------------------------------------------------------------


def test_compute_reads_the_focus_file_and_maps_by_service_name(tmp_path, capsys):
    config = workspace(tmp_path, "cost:\n  services: {Amazon OpenSearch Service: search}\n")
    section = compute_json(config, capsys)["cost"]
    assert section["currency"] == "USD"
    assert section["total"] == pytest.approx(852.3)
    spend = {row["service"]: row["spend"] for row in section["by_service"]}
    assert spend == pytest.approx(
        {"checkout": 300.0, "search": 212.0, "ledger": 300.0, "unattributed": 40.3}
    )
    # No SLI input: cost per SLO met is null, with the reason.
    reasons = {row["cost_per_slo_met_reason"] for row in section["by_service"][:3]}
    assert reasons == {cost.NO_SLI_INPUT}


def test_a_custom_tag_key_names_the_service(tmp_path, capsys):
    config = workspace(tmp_path, "cost:\n  tag: team\n")
    section = compute_json(config, capsys)["cost"]
    # No tag "team" names a service: everything in October is unattributed.
    assert section["unattributed"] == pytest.approx(852.3)


def test_the_canonical_cost_file_by_month_or_by_period(tmp_path, capsys):
    text = (
        "month,period_start,period_end,service,amount,currency\n"
        "2026-10,,,checkout,120.50,usd\n"
        ",2026-09-21T00:00:00Z,2026-10-11T00:00:00Z,search,200,USD\n"  # 10 of 20 days
        "2026-10,,,,7,USD\n"  # no service: unattributed
        "2026-09,,,checkout,999,USD\n"
    )
    config = workspace(tmp_path, files={"cost.csv": text})
    section = compute_json(config, capsys)["cost"]
    spend = {row["service"]: row["spend"] for row in section["by_service"]}
    assert spend == pytest.approx(
        {"checkout": 120.5, "search": 100.0, "ledger": 0.0, "unattributed": 7.0}
    )


def test_other_currencies_convert_at_the_configured_rates(tmp_path, capsys):
    text = (
        "month,service,amount,currency\n"
        "2026-10,checkout,100,USD\n"
        "2026-10,search,100,EUR\n"
        "2026-10,ledger,1000,SEK\n"
    )
    rates = "cost:\n  currency: USD\n  rates: {EUR: 1.1, sek: 0.095}\n"
    config = workspace(tmp_path, rates, files={"cost.csv": text})
    section = compute_json(config, capsys)["cost"]
    spend = {row["service"]: row["spend"] for row in section["by_service"]}
    assert spend == pytest.approx(
        {"checkout": 100.0, "search": 110.0, "ledger": 95.0, "unattributed": 0.0}
    )


def validate_error(config: Path, capsys) -> list[str]:
    """The problem lines of ``reliability validate``, which must exit 2."""
    code = main(["validate", "--config", str(config), "--month", "2026-10"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("error: ") and " row " in line]


def test_mixed_currencies_without_rates_are_an_input_error(tmp_path, capsys):
    text = "month,service,amount,currency\n2026-10,checkout,100,USD\n2026-10,search,100,EUR\n"
    config = workspace(tmp_path, files={"cost.csv": text})
    lines = validate_error(config, capsys)
    assert len(lines) == 1
    assert str(tmp_path / "cost.csv") in lines[0]
    assert "row 3: column currency: currency EUR is not the report's (USD)" in lines[0]


FOCUS_HEADER = "BilledCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ServiceName,Tags\n"
GOOD_ROW = '10,USD,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,EC2,"{""service"":""checkout""}"\n'


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        (
            "1O.5,USD,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,EC2,{}\n",
            "BilledCost",
            "not a number: 1O.5",
        ),
        (
            "10,USD,yesterday,2026-11-01T00:00:00Z,EC2,{}\n",
            "ChargePeriodStart",
            "not an ISO 8601 timestamp: yesterday",
        ),
        (
            "10,USD,2026-10-05T00:00:00Z,2026-10-01T00:00:00Z,EC2,{}\n",
            "ChargePeriodEnd",
            "ChargePeriodEnd before ChargePeriodStart",
        ),
        (
            '10,USD,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,EC2,"{""service"":}"\n',
            "Tags",
            "not a JSON object of tags",
        ),
        (
            '10,USD,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,EC2,"[1,2]"\n',
            "Tags",
            "not a JSON object of tags",
        ),
        (
            "10,US$,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,EC2,{}\n",
            "BillingCurrency",
            "not an ISO 4217 currency code",
        ),
        (
            "10,EUR,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,EC2,{}\n",
            "BillingCurrency",
            "currency EUR is not the report's (USD) and cost.rates gives no rate for it",
        ),
    ],
)
def test_validate_names_file_row_and_column_of_a_bad_focus_cell(
    tmp_path, capsys, row, column, message
):
    config = workspace(tmp_path, files={"cost.csv": FOCUS_HEADER + GOOD_ROW + row})
    lines = validate_error(config, capsys)
    assert len(lines) == 1, lines
    assert str(tmp_path / "cost.csv") in lines[0]
    assert f"row 3: column {column}: {message}" in lines[0]


def test_validate_names_a_canonical_row_with_both_month_and_period(tmp_path, capsys):
    text = (
        "month,period_start,period_end,service,amount,currency\n"
        "2026-10,2026-10-01T00:00:00Z,2026-11-01T00:00:00Z,checkout,1,USD\n"
        "2026-13,,,checkout,1,USD\n"
    )
    config = workspace(tmp_path, files={"cost.csv": text})
    lines = validate_error(config, capsys)
    assert len(lines) == 2, lines
    text = "\n".join(lines)
    assert "row 2: column month: give either month or period_start" in text
    assert "row 3: column month: not a month (YYYY-MM): 2026-13" in text


@pytest.mark.parametrize(
    ("cells", "column", "message"),
    [
        (",yesterday,2026-11-01T00:00:00Z", "period_start", "not an ISO 8601 timestamp: yesterday"),
        (",,2026-11-01T00:00:00Z", "period_start", "missing value (period_end given)"),
        (",,", "month", "missing value: give month or period_start and end"),
    ],
)
def test_validate_names_one_line_per_badly_dated_canonical_row(
    tmp_path, capsys, cells, column, message
):
    text = (
        "month,period_start,period_end,service,amount,currency\n"
        "2026-10,,,checkout,1,USD\n"
        f"{cells},checkout,1,USD\n"
    )
    config = workspace(tmp_path, files={"cost.csv": text})
    lines = validate_error(config, capsys)
    assert len(lines) == 1, lines
    assert f"row 3: column {column}: {message}" in lines[0]


def test_validate_counts_the_cost_rows(tmp_path, capsys):
    config = workspace(tmp_path)
    assert main(["validate", "--config", str(config), "--month", "2026-10"]) == 0
    assert "cost: 8 rows" in capsys.readouterr().out


def test_rates_need_the_report_currency(tmp_path, capsys):
    config = workspace(tmp_path, "cost:\n  rates: {EUR: 1.1}\n")
    code = main(["validate", "--config", str(config), "--month", "2026-10"])
    assert code == 2
    assert "give currency too" in capsys.readouterr().err


# --- without a cost input ---------------------------------------------------------------------


def test_without_a_cost_input_the_figures_are_null_and_the_input_named_missing():
    config = config_from_dict(
        {"services": [{"name": "checkout", "team": "payments"}]}, "reliability.yaml", Path(".")
    )
    raw = pd.DataFrame(
        [
            {
                "id": "a",
                "service": "checkout",
                "severity": "SEV1",
                "created_at": "2026-10-02T00:00:00Z",
                "resolved_at": "",
            }
        ]
    )
    incidents = frames.validate(raw, frames.INCIDENTS, "incidents.csv")
    now = pd.Timestamp("2026-12-01T00:00Z")
    result = compute_month(config, Frames(incidents=incidents), OCTOBER, now=now)
    document = to_json(result)
    assert document["cost"] is None
    assert "cost" in document["missing_inputs"]
    assert cost.NO_COST_INPUT == "no cost input configured"
    # A configured input without a charge in the month: null, with the reason.
    empty = frames.empty(frames.COST)
    result = compute_month(config, Frames(incidents=incidents, cost=empty), OCTOBER, now=now)
    assert result.cost is None
    assert result.unavailable["cost"] == "the cost input has no charges in 2026-10"


def test_the_sample_bills_its_services_and_splits_the_cdn_charge():
    from reliability.period import Span
    from reliability.sources.sample import load_cost, sample_config

    config = sample_config()
    charges = load_cost(Span.of([OCTOBER]), now=pd.Timestamp("2026-12-01T00:00Z"))
    summary = cost.cost_summary(
        charges,
        OCTOBER,
        {s.name: s.team for s in config.services},
        "USD",
        mapping=config.cost.services,
    )
    spend = summary.by_service.set_index("service")["spend"]
    # October's drift is 1.06 and September's 1.03: api-gateway's compute 5200 and storage
    # 120, 16 of 31 days of October's CDN charge of 1240 and 15 of 30 of September's.
    cdn = 1240 * 1.06 * 16 / 31 + 1240 * 1.03 * 15 / 30
    assert spend["api-gateway"] == pytest.approx(5512.0 + 127.2 + cdn)
    # CloudTrail (95) and the shared network (610) are nobody's: 705 x 1.06.
    assert spend["unattributed"] == pytest.approx(747.3)
    assert summary.total == pytest.approx(29465.3)


def test_a_parquet_focus_export_reads_as_its_csv(tmp_path, capsys):
    raw = pd.read_csv(FOCUS_FILE, dtype=str, keep_default_na=False)
    raw.to_parquet(tmp_path / "cost.parquet")
    (tmp_path / "incidents.csv").write_text(INCIDENT)
    config = tmp_path / "reliability.yaml"
    config.write_text(
        "sources:\n"
        "  incidents: {kind: csv, path: incidents.csv}\n"
        "  cost: {kind: parquet, path: cost.parquet}\n" + SERVICES_YAML
    )
    section = compute_json(config, capsys)["cost"]
    assert section["total"] == pytest.approx(852.3)
    assert section["unattributed"] == pytest.approx(40.3 + 62.0)


# --- the report section ----------------------------------------------------------------------


def test_the_cost_cells_follow_toil_and_come_before_the_trends():
    import nbformat

    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    cells = nbformat.read(notebooks / "monthly_report.ipynb", as_version=4).cells
    sources = [c.source for c in cells]
    at = sources.index("sections.spend(data)")
    assert sources[at - 2] == "sections.toil_oncall_tables(data)"
    assert sources[at - 1].startswith("## Cost")
    assert sources[at + 1] == "## Six-month trends"
    service_cells = nbformat.read(notebooks / "service_report.ipynb", as_version=4).cells
    assert "sections.spend(data, service)" in [c.source for c in service_cells]


def test_the_section_shows_the_sample_spend_and_names_a_missing_input(tmp_path):
    from reliability import pipeline
    from reliability.report import sections

    results = pipeline.notebook_results("2026-10")
    page = sections.spend(results).data
    assert "29,465.30 USD" in page  # the fleet's October spend
    assert "747.30 USD (3%)" in page  # unattributed
    assert "search, recommendations, checkout, payments-api, auth" in page
    assert "availability 100%: no finite number of nines" in page  # api-gateway
    own = sections.spend(results, "search").data
    assert ">5,639.20<" in own
    assert "Spend (USD)" in own

    config = workspace(tmp_path)
    config.write_text("sources:\n  incidents: {kind: csv, path: incidents.csv}\n" + SERVICES_YAML)
    without = pipeline.notebook_results("2026-10", str(config))
    assert "No cost input is configured" in sections.spend(without).data
    assert "cost" in without.current.missing_inputs


def test_a_config_with_only_a_cost_input_reports_its_spend(tmp_path, capsys):
    shutil.copy(FOCUS_FILE, tmp_path / "cost.csv")
    config = tmp_path / "reliability.yaml"
    config.write_text("sources:\n  cost: {kind: csv, path: cost.csv}\n" + SERVICES_YAML)
    assert compute_json(config, capsys)["cost"]["total"] == pytest.approx(852.3)
    # A month none of its charges reaches is no data at all, named as such.
    code = main(["compute", "--config", str(config), "--month", "2026-08"])
    assert code == 2
    assert "cost: 8 charges, none in the month" in capsys.readouterr().err


def test_a_focus_export_with_a_byte_order_mark_is_a_focus_export(tmp_path, capsys):
    """Exports written as UTF-8 with a byte-order mark (Excel's CSV UTF-8, Windows
    PowerShell) begin their first column's name with it: BilledCost first is still a FOCUS
    export, not a canonical cost.csv lacking its columns."""
    config = workspace(tmp_path, "cost:\n  services: {Amazon OpenSearch Service: search}\n")
    path = tmp_path / "cost.csv"
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    first = ["BilledCost", *(name for name in table.columns if name != "BilledCost")]
    table[first].to_csv(path, index=False, encoding="utf-8-sig")
    section = compute_json(config, capsys)["cost"]
    assert section["total"] == pytest.approx(852.3)
