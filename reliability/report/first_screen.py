"""The fleet page's first screen: the status tiles and at most five plain sentences.

Formatting only: the figures, their comparison with last month and the facts worth a sentence
are decided in ``reliability.metrics.headline``; this module words and colours them (a word
and an arrow beside every colour, so the tiles read in black and white too).
"""

from __future__ import annotations

import html
from typing import Any

from reliability.metrics.headline import TILES, Change, Finding
from reliability.report import tables as t
from reliability.results import Results

TILE_LABELS = {
    "slos": "SLOs met",
    "budget": "Error budget used",
    "incidents": "Incidents",
    "delivery": "Deployments",
    "toil": "Toil, share of hours",
    "oncall": "On-call load: pages received",
}
CHANGE_STYLE = {
    "better": ("better", "#1a7f37"),
    "worse": ("worse", "#cf222e"),
    "same": ("about the same", "#57606a"),
}
"""Each direction's word and colour; the arrow shows which way the figure moved."""


def arrow(change: Change) -> str:
    """↑ the figure rose, ↓ it fell, → it is about the same (or did not move)."""
    if change.direction == "same" or not change.delta:
        return "→"
    return "↑" if change.delta > 0 else "↓"


NO_DIRECTION = {
    "no_previous": "no figure for last month",
    "no_value": "no figure this month",
    "small_sample": "too few incidents to compare",
}
INPUT_NAMES = {
    "metrics": "SLI events",
    "incidents": "incidents",
    "deployments": "deployments",
    "worklog": "work log",
    "cost": "cost",
}


def _pct(value: Any, digits: int = 0) -> str:
    return "–" if t.is_missing(value) else f"{value * 100:.{digits}f}%"


def _count(value: Any) -> str:
    return "–" if t.is_missing(value) else f"{int(value):,}"


def figure_text(key: str, figures: dict[str, Any]) -> str:
    """One headline figure as the tiles print it (``figures``: ``headline_figures``)."""
    value = figures.get(key)
    if t.is_missing(value):
        return "–"
    if key == "slos_met":
        return f"{int(value)} of {int(figures['slos_with_data'])}"
    if key == "slos_over_budget":
        return f"{int(value)} over 100%"
    if key == "median_budget_used":
        return f"median {_pct(value)}"
    if key == "mttr_median_minutes":
        return f"half resolved within {t.minutes(value)}"
    if key == "change_failure_rate":
        return f"{_pct(value)} failed"
    if key == "toil_ratio":
        return _pct(value)
    if key == "off_hours_pages":
        return f"{_count(value)} off hours"
    return _count(value)


def _previous_figures(key: str, change: Change, data: Results) -> str:
    previous = data.previous
    figures = (previous.headline if previous is not None else None) or {}
    return figure_text(key, figures) if change.previous is not None else "–"


def change_html(key: str, change: Change | None, data: Results) -> str:
    """Last month's value and whether this month is better or worse: arrow, word, colour."""
    previous = data.previous
    month = previous.period.label if previous is not None else "last month"
    if change is None:
        return ""
    if change.direction is None:
        word = NO_DIRECTION.get(change.reason or "", "not compared")
        return (
            f'<div class="rr-change rr-change-none" data-figure="{key}" '
            f'style="color:#57606a">{html.escape(month)}: '
            f"{html.escape(_previous_figures(key, change, data))} · {html.escape(word)}</div>"
        )
    word, color = CHANGE_STYLE[change.direction]
    return (
        f'<div class="rr-change rr-change-{change.direction}" data-figure="{key}" '
        f'style="color:{color}">{arrow(change)} {word} · {html.escape(month)}: '
        f"{html.escape(_previous_figures(key, change, data))}</div>"
    )


def tiles(data: Results) -> str:
    """The row of status tiles: the figure, a second figure, each against last month."""
    figures = data.current.headline or {}
    parts = []
    for tile, main, second in TILES:
        body = [
            f'<div class="rr-tile-label" style="font-size:0.85em;color:#57606a">'
            f"{html.escape(TILE_LABELS[tile])}</div>",
            f'<div class="rr-tile-value" data-figure="{main}" '
            f'style="font-size:1.5em;font-weight:600">{html.escape(figure_text(main, figures))}'
            "</div>",
            change_html(main, data.changes.get(main), data),
        ]
        if second is not None:
            body.append(
                f'<div class="rr-tile-detail" data-figure="{second}">'
                f"{html.escape(figure_text(second, figures))}</div>"
            )
            body.append(change_html(second, data.changes.get(second), data))
        parts.append(
            f'<div class="rr-tile" data-tile="{tile}" style="flex:1 1 0;min-width:150px;'
            'border:1px solid #d0d7de;border-radius:6px;padding:8px 10px;font-size:0.9em">'
            + "".join(body)
            + "</div>"
        )
    return (
        '<div class="rr-tiles" style="display:flex;gap:8px;flex-wrap:wrap;margin:8px 0">'
        + "".join(parts)
        + "</div>"
    )


def data_used(data: Results) -> str:
    """Which inputs the month's figures come from, and which were not configured."""
    current = data.current
    missing = set(current.missing_inputs) | set(current.unavailable)
    used = [name for role, name in INPUT_NAMES.items() if role not in missing]
    line = f"Data: {data.config_label} ({', '.join(used) or 'none'})"
    absent = [INPUT_NAMES.get(role, role) for role in INPUT_NAMES if role in missing]
    if absent:
        line += f"; without {', '.join(absent)}"
    return f'<p class="rr-data-used">{html.escape(line)}.</p>'


def _measures(data: Results, service: str, slo: str) -> str:
    configured = data.config.service(service)
    found = (
        None if configured is None else next((s for s in configured.slos if s.name == slo), None)
    )
    return f"“{slo}”" if found is None else found.measures()[:1].lower() + found.measures()[1:]


def _objective(value: float) -> str:
    return f"{value * 100:g}%"


def _owner(finding: Finding) -> str:
    return f"{finding.service} ({finding.team} team)" if finding.team else finding.service


def sentence(finding: Finding, data: Results) -> str:
    """One finding in plain words, naming the service and the team that owns it."""
    v = finding.values
    if finding.kind in ("missed", "at_risk", "closest"):
        promise = f"{_objective(v['objective'])} of {_measures(data, finding.service, v['slo'])}"
        used = _pct(v["budget_used"])
        if finding.kind == "missed":
            return (
                f"{_owner(finding)} missed its promise of {promise}: it reached "
                f"{t.sli_percent(v['sli'])}, using {used} of the shortfall the promise allows."
            )
        if finding.kind == "at_risk":
            return (
                f"{_owner(finding)} kept its promise of {promise} but used {used} of the "
                "shortfall it allows, so it is at risk."
            )
        return (
            f"Of the promises kept, {_owner(finding)} came closest to its limit: it used {used} "
            f"of the shortfall allowed by its promise of {promise}."
        )
    if finding.kind == "incident":
        title = f" “{v['title']}”" if v.get("title") else ""
        return (
            f"One incident, {v['id']}{title} on {_owner(finding)}, alone used "
            f"{_pct(v['budget_share'])} of the shortfall its {v['slo']} promise allows."
        )
    if finding.kind == "toil":
        return (
            f"The {finding.team} team ({finding.service}) spent {_pct(v['operational_ratio'])} "
            f"of its logged hours on manual operational work and on-call, above the "
            f"{_pct(v['cap'])} ceiling."
        )
    per_shift = f"{v['pages_per_shift']:.2f}".rstrip("0").rstrip(".")
    over = (
        f", above the ceiling of {v['limit']} per 12-hour shift"
        if v["over_limit"]
        else f", {per_shift} per 12-hour shift (the ceiling is {v['limit']})"
    )
    return (
        f"The {finding.team} team ({finding.service}) received the most pages: "
        f"{v['pages']}, {v['off_hours_pages']} of them outside working hours{over}."
    )


def sentences(data: Results, service: str | None = None) -> list[str]:
    """The first screen's sentences (a service's page: those about that service)."""
    found = data.current.findings or []
    if service is not None:
        found = [f for f in found if service in f.service.split(", ")]
    return [sentence(finding, data) for finding in found]


def first_screen(data: Results) -> str:
    """Data used, the tiles, and the sentences below them."""
    lines = sentences(data)
    if not lines:
        lines = [f"Nothing in {data.month.label} needs attention."]
    return data_used(data) + tiles(data) + t.paragraphs(lines, "rr-summary rr-first-screen")
