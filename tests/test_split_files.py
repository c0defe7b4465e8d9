"""Property: a month's rows split across several files, read together, give the same numbers."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from slo_helpers import report_for, slo_table

from reliability import frames
from reliability.period import Month
from reliability.sources.files import read_table

SEPTEMBER = Month(2026, 9)


def rows(counts: list[tuple[int, int, int]]) -> pd.DataFrame:
    """CSV-like SLI rows: (minute, total, bad) for two SLOs of one service."""
    minutes = [c[0] for c in counts]
    stamps = (SEPTEMBER.start + pd.to_timedelta(minutes, "min")).strftime("%Y-%m-%dT%H:%M:%SZ")
    total = np.array([c[1] for c in counts])
    bad = np.minimum([c[2] for c in counts], total)
    return pd.DataFrame(
        {
            "timestamp": stamps,
            "service": "checkout",
            "slo": np.where(np.arange(len(counts)) % 2 == 0, "availability", "latency"),
            "good": total - bad,
            "total": total,
        }
    )


@settings(max_examples=30, deadline=None)
@given(
    counts=st.lists(
        st.tuples(st.integers(0, 43199), st.integers(0, 500), st.integers(0, 500)),
        min_size=2,
        max_size=40,
        unique_by=lambda c: c[0],
    ),
    cut=st.floats(0.0, 1.0),
    seed=st.integers(0, 1000),
)
def test_splitting_rows_into_two_files_changes_nothing(counts, cut, seed):
    table = rows(counts).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    split = 1 + int(cut * (len(table) - 2))  # both files keep at least one row
    slos = slo_table({"slo": "availability"}, {"slo": "latency", "budgeting": "ratio_timeslices"})
    with tempfile.TemporaryDirectory() as folder:
        whole, first, second = (Path(folder) / name for name in ("all.csv", "a.csv", "b.csv"))
        table.to_csv(whole, index=False)
        table.iloc[:split].to_csv(first, index=False)
        table.iloc[split:].to_csv(second, index=False)
        expected = report_for(read_table([whole], frames.SLI), slos, SEPTEMBER)
        result = report_for(read_table([first, second], frames.SLI), slos, SEPTEMBER)
    pd.testing.assert_frame_equal(result.table, expected.table)
    pd.testing.assert_frame_equal(result.burndown, expected.burndown)
    pd.testing.assert_frame_equal(result.alerts, expected.alerts)
