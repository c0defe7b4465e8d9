"""The report's sections, one function each, called by the thin notebooks.

Each returns something a notebook displays: an ``IPython.display.HTML`` block or a plotly
figure. ``service`` narrows a section to one service (the per-service report).
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import replace
from urllib.parse import quote

import pandas as pd
import plotly.graph_objects as go
from IPython.display import HTML

from reliability.metrics import daily
from reliability.metrics.alert_quality import NOISIEST_RULES
from reliability.metrics.incidents import SMALL_SAMPLE
from reliability.metrics.policy import burn_rate_thresholds
from reliability.metrics.responders import MIN_HANDLED
from reliability.metrics.tiers import WORST_MISSES as TIER_MISSES_SHOWN
from reliability.report import figures, summary
from reliability.report import first_screen as first
from reliability.report import tables as t
from reliability.results import MonthlyMetrics, Results

GLOSSARY = {
    "SLI (service level indicator)": "The measured share of good events, e.g. successful "
    "requests divided by all requests, or requests answered within 300 ms.",
    "SLO (service level objective)": "The target for an SLI over the month, e.g. 99.9%.",
    "Error budget": "The failures an SLO allows: at 99.9%, one request in a thousand may fail. "
    "“Budget used 50%” means half of that allowance was used; over 100% means the SLO was "
    "missed (181% used: 1.8 times the allowance).",
    "Budgeting method": "How the month's SLI is counted: “requests” (occurrences: good requests "
    "over all requests), “time slices” (the share of minutes, or longer slices, that were good "
    "enough) or “ratio per slice” (the mean of each slice's good share).",
    "Time slice": "A fixed stretch of time (one minute, five minutes) judged as a whole; for a "
    "time-slice SLO the table also shows the share of good requests, which can differ.",
    "Burn rate": "How fast the budget is being spent: 1 spends exactly the budget over the "
    "month, 14.4 spends 2% of it in one hour.",
    "Replayed page alert / ticket alert": "What the multi-window burn-rate alert rules would "
    "have raised, replayed on the month's SLI data: a page wakes someone up, a ticket waits "
    "for working hours. Counted in episodes (a run of minutes in which a rule fires). Not the "
    "same as pages received.",
    "Pages received": "High-urgency incidents (urgency high, or without urgency one of the two "
    "most severe levels): what actually paged someone. The on-call figures count these.",
    "Burn rate at peak": "The highest burn rate over one hour during an alert episode.",
    "Covered by an incident": "An alert episode is covered when an incident of the same service "
    "overlaps it, allowing 30 minutes before and after the incident.",
    "Uncovered replayed page": "A replayed page alert that no incident covers: someone would "
    "have been woken for something nobody declared.",
    "Alert page": "A real alert of a paging severity (critical or page by default) from the "
    "alert history; not the same as a page received (a high-urgency incident) or a replayed "
    "page alert.",
    "Actionable alert": "An alert page that became or joined an incident.",
    "Noise": "An alert page that resolved by itself within a few minutes (5 by default) and "
    "joined no incident: someone was interrupted for nothing.",
    "Missed detection": "Pages received on a service with SLOs that no replayed page alert "
    "caught: the alert rules did not see what paged someone.",
    "Even-spend line": "Budget spent at a steady pace that uses exactly all of it by month end.",
    "Incident": "An unplanned interruption or degradation that someone declared and handled.",
    "Severity": "How bad an incident was, from the most severe level (e.g. SEV1) down.",
    "MTTA (time to acknowledge)": "From an incident's creation to the first acknowledgement "
    "by a responder; shown as the median, the time within which half were acknowledged.",
    "MTTR (time to resolve)": "From an incident's creation to its resolution; median and 90th "
    "percentile (nine in ten were resolved within it).",
    "n": "How many incidents a figure is based on; with fewer than ten, changes from month to "
    "month are mostly chance.",
    "Deployment frequency": "Production deployments per week.",
    "Lead time for changes": "From a change's commit to its deployment in production; median.",
    "Change failure rate": "Share of deployments that failed, were rolled back or caused an "
    "incident; each deployment counts once.",
    "Failed deployment recovery time": "From a failed deployment to the resolution of the "
    "incident it caused (or the next successful deployment); median.",
    "DORA band": "Elite, high, medium or low, from the 2023 State of DevOps report clusters.",
    "Toil": "Manual, repetitive, automatable operational work that grows with the service; the "
    "SRE book caps toil and on-call together at 50% of a team's time.",
    "Pages per shift": "Pages received (high-urgency incidents) per 12-hour on-call shift; the "
    "SRE book's ceiling is 2.",
    "Off-hours share": "Share of pages received that arrived outside business hours.",
    "Spend": "What the month's cloud bill charged a service: each charge counted by the share "
    "of its charge period inside the month, credits subtracted.",
    "Unattributed spend": "Charges whose tag or service name matches no service of the report; "
    "shown as their own line, so the bill adds up.",
    "Nines of availability": "How many nines the month's availability had: 99.9% is 3 nines, "
    "99.95% is 3.3. Spend per nine divides a service's spend by them.",
    "Hero load": "The share of a team's incidents (or off-hours pages) handled by the one "
    "person who handled most of them; over half means the team leans on one person.",
}


def _by_service(frame: pd.DataFrame | None, service: str | None) -> pd.DataFrame | None:
    if frame is None or service is None:
        return frame
    return frame.loc[frame["service"] == service].reset_index(drop=True)


def heading(data: Results, service: str | None = None) -> HTML:
    """Title block: what and which month; a service page also names its data."""
    what = f"Service report: {service}" if service else "Reliability report"
    period = data.month
    start = period.start.tz_convert(period.timezone).strftime("%d %B %Y")
    end = (period.end.tz_convert(period.timezone) - pd.Timedelta(seconds=1)).strftime("%d %B %Y")
    progress = " (month in progress)" if data.current.in_progress else ""
    back = '<p><a href="../index.html">← fleet report</a></p>' if service else ""
    # The fleet page's first screen names the data in full, with the inputs it used.
    source = f" · data: {html.escape(data.config_label)}" if service else ""
    return HTML(
        f"{back}<h1>{html.escape(what)} · {period.label}{progress}</h1>"
        f'<p class="rr-meta">{start} – {end}, {html.escape(period.timezone)}{source}</p>'
    )


def executive_summary(data: Results, service: str | None = None) -> HTML:
    """Ten lines at most, in plain words."""
    history, trend = data.history, data.trend
    if service is not None:
        history = [_service_view(m, service) for m in history]
        own = data.service_trend.loc[data.service_trend["service"] == service]
        trend = data.trend[["month"]].merge(own, on="month", how="left")
    return HTML(t.paragraphs(summary.executive_summary(history, trend, service)))


def _service_view(metrics: MonthlyMetrics, service: str) -> MonthlyMetrics:
    """A copy of one month's metrics narrowed to one service (team-level figures kept)."""
    return replace(
        metrics,
        slos=_by_service(metrics.slos, service),
        attribution=_by_service(metrics.attribution, service),
        incidents=_by_service(metrics.incidents, service),
        delivery=_by_service(metrics.delivery, service),
        fleet_delivery=None,
        toil=None,
        response=None,
    )


BUDGETING_NAMES = {
    "occurrences": "requests",
    "timeslices": "time slices",
    "ratio_timeslices": "ratio per slice",
}
"""The budgeting methods as the SLO table names them (the glossary explains them)."""


def budgeting(value: object) -> str:
    """A budgeting method in words."""
    return html.escape(BUDGETING_NAMES.get(str(value), str(value)))


SLO_COLUMNS = [
    t.Col("service", "Service"),
    t.Col("team", "Team"),
    t.Col("slo", "SLO"),
    t.Col("description", "Measures"),
    t.Col("budgeting", "Counted in", budgeting),
    t.Col("objective", "Objective", t.sli_percent, numeric=True),
    t.Col("sli", "Achieved", t.sli_percent, numeric=True),
    t.Col("budget_consumed", "Budget used", t.percent(0), numeric=True),
    t.Col("status", "Status", t.status),
    t.Col("page_alerts", "Replayed page alerts", t.number(), numeric=True),
    t.Col("budget_exhausted_on", "Budget ran out"),  # formatted in the report's zone below
]


def achieved(slos: pd.DataFrame) -> pd.Series:
    """The SLI as shown; an SLO budgeted on timeslices shows its share of good requests beside
    it, so that 100% of slices good is never read without the requests that were slow."""
    shown = slos["sli"].map(t.sli_percent)
    if "event_sli" not in slos:
        return shown
    sliced = slos["budgeting"].ne("occurrences") & slos["event_sli"].notna()
    events = slos["event_sli"].map(t.sli_percent)
    return shown.where(~sliced, shown + " of slices (" + events + " of events)")


def slo_table(data: Results, service: str | None = None) -> HTML:
    """Every SLO, worst first: its team, what it measures, how it is counted, objective,
    SLI (and the request ratio of a time-slice SLO), budget used, a status readable without
    colour."""
    slos = _by_service(data.current.slos, service)
    if slos is None:
        return HTML(t.html_table(None, SLO_COLUMNS, "No SLI source is configured."))
    ordered = slos.sort_values(
        ["budget_consumed", "service", "slo"], ascending=[False, True, True], na_position="last"
    )
    ordered = ordered.assign(achieved=achieved(ordered))
    zone = data.month.timezone
    columns = [
        t.Col("achieved", "Achieved", numeric=True) if c.key == "sli" else c
        for c in SLO_COLUMNS[1:-1]
    ]
    columns.append(t.Col("budget_exhausted_on", "Budget ran out", lambda v: t.day(v, zone)))
    if service is not None:
        return HTML(t.html_table(ordered, columns))
    return HTML(t.html_table(ordered, [t.Col("service", "Service", service_link), *columns]))


def service_page(name: str) -> str:
    """The file name of a service's page: safe on any file system, one per service name.

    A lower-case name of letters, digits, ``.``, ``_`` and ``-`` is used as it is; any other
    name gets a slug plus a short hash of the name, so ``check/out`` and ``check-out`` (or
    ``Checkout`` and ``checkout`` on a case-insensitive disk) never share a file.
    """
    name = str(name)
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.")
    if slug == name:
        return f"{slug}.html"
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{slug or 'service'}-{digest}.html"


def service_link(name: object) -> str:
    """A service name linking to its page in ``services/``."""
    escaped = html.escape(str(name))
    return f'<a href="services/{quote(service_page(str(name)))}">{escaped}</a>'


def burndown(data: Results, service: str | None = None) -> go.Figure:
    """Cumulative budget burn per SLO against the even-spend line, incidents marked."""
    current = data.current
    return figures.burndown(
        _by_service(current.burndown, service),
        _by_service(current.slos, service),
        _by_service(current.incidents, service),
        columns=3 if service is None else 2,
        timezone=data.month.timezone,
    )


def sli_per_day(data: Results, service: str | None = None) -> go.Figure:
    """Each SLO's SLI per day against its objective."""
    current = data.current
    return figures.sli_per_day(
        _by_service(current.daily_sli, service),
        _by_service(current.slos, service),
        columns=3 if service is None else 2,
    )


def burn_rate(data: Results, service: str | None = None) -> go.Figure:
    """Each SLO's burn rate per hour against its alert policy's thresholds, replayed alerts
    as bands."""
    current = data.current
    slos = _by_service(current.slos, service)
    if slos is None:
        return figures.burn_rate(None, None, pd.DataFrame(), None)
    return figures.burn_rate(
        _by_service(current.burn_rates, service),
        _by_service(current.alerts, service),
        daily.slo_thresholds(slos, data.config.alert_policy_for),
        slos,
        columns=3 if service is None else 2,
        timezone=data.month.timezone,
    )


def attribution(data: Results, service: str | None = None) -> go.Figure:
    current = data.current
    return figures.attribution(
        _by_service(current.slos, service), _by_service(current.attribution, service)
    )


ATTRIBUTION_COLUMNS = [
    t.Col("id", "Incident"),
    t.Col("title", "Title"),
    t.Col("service", "Service"),
    t.Col("slo", "SLO"),
    t.Col("budget_share", "Budget burned", t.percent(1), numeric=True),
]


def attribution_table(data: Results, service: str | None = None) -> HTML:
    """Incidents that burned budget (largest first) and the burn no incident explains."""
    current = data.current
    pairs = _by_service(current.attribution, service)
    if pairs is not None:
        pairs = pairs.loc[pairs["budget_share"] > 0.0005]
    unexplained = _by_service(current.slos, service)
    empty = (
        "No incident source is configured, so no burn is attributed."
        if current.response is None and "incidents" in current.missing_inputs
        else "No incident burned error budget."
    )
    parts = [t.html_table(pairs, ATTRIBUTION_COLUMNS, empty)]
    if unexplained is not None and "unattributed_budget" in unexplained:
        rows = unexplained.loc[unexplained["unattributed_budget"] > 0.0005]
        parts.append("<h4>Burn no incident explains</h4>")
        parts.append(
            t.html_table(
                rows.sort_values("unattributed_budget", ascending=False),
                [
                    t.Col("service", "Service"),
                    t.Col("slo", "SLO"),
                    t.Col("unattributed_budget", "Budget burned", t.percent(1), numeric=True),
                ],
                "All burn falls inside incident windows.",
            )
        )
    return HTML("".join(parts))


CORRECTION_COLUMNS = [
    t.Col("service", "Service"),
    t.Col("slo", "SLO"),
    t.Col("start", "From"),  # formatted in the report's zone below
    t.Col("end", "To"),
    t.Col("reason", "Reason"),
    t.Col("excluded_minutes", "Minutes", t.minutes, numeric=True),
    t.Col("budget_set_aside", "Budget set aside", t.percent(1), numeric=True),
]


def corrections(data: Results, service: str | None = None) -> HTML:
    """Planned maintenance left out of the SLIs, with its reason and the budget it set aside,
    and the SLIs the corrected SLOs would have had without it."""
    timezone = data.config.timezone
    listed = _by_service(data.current.corrections, service)
    if listed is None or listed.empty:
        return HTML('<p class="rr-empty">No planned maintenance was left out this month.</p>')
    shown = listed.assign(
        start=[t.instant(v, timezone) for v in listed["start"]],
        end=[t.instant(v, timezone) for v in listed["end"]],
    )
    columns = [
        t.Col(c.key, c.label, (lambda v: v) if c.key in ("start", "end") else c.fmt, c.numeric)
        for c in CORRECTION_COLUMNS
    ]
    parts = [t.html_table(shown, columns)]
    slos = _by_service(data.current.slos, service)
    if slos is not None and "uncorrected_sli" in slos:
        changed = slos.loc[slos["budget_set_aside"] > 0]
        parts.append("<h4>Achieved with and without the corrections</h4>")
        parts.append(
            t.html_table(
                changed,
                [
                    t.Col("service", "Service"),
                    t.Col("slo", "SLO"),
                    t.Col("sli", "Achieved", t.sli_percent, numeric=True),
                    t.Col("uncorrected_sli", "Without corrections", t.sli_percent, numeric=True),
                    t.Col("budget_set_aside", "Budget set aside", t.percent(1), numeric=True),
                ],
                "No bad events fell inside the corrections.",
            )
        )
    parts.append(
        '<p class="rr-note">Alerts are replayed without corrections: the alert rules in '
        "production fire during planned maintenance too.</p>"
    )
    return HTML("".join(parts))


def alert_policies(data: Results, service: str | None = None) -> HTML:
    """The alert policies the SLOs are replayed under: their windows, factors and tiers, and
    how many replayed episodes each tier had."""
    config = data.config
    services = [s for s in config.services if service is None or s.name == service]
    used: dict[str, list[str]] = {}
    for svc in services:
        for slo in svc.slos:
            name = slo.alert_policy or config.alert_policy
            used.setdefault(name, []).append(f"{svc.name}/{slo.name}")
    if not used:
        return HTML('<p class="rr-empty">No SLO is configured.</p>')
    parts = []
    for name, slos in used.items():
        policy = config.alert_policies_by_name[name]
        windows = burn_rate_thresholds(policy)
        windows["for"] = [
            "–" if v == pd.Timedelta(0) else f"{int(v / pd.Timedelta(minutes=1))} min"
            for v in windows["for"]
        ]
        count = len(slos)
        parts.append(
            f"<h4>{html.escape(name)}: {count} SLO{'s' if count != 1 else ''}</h4>"
            + (f"<p>{html.escape(policy.description)}</p>" if policy.description else "")
        )
        parts.append(
            t.html_table(
                windows,
                [
                    t.Col("severity", "Severity"),
                    t.Col("tier", "Tier"),
                    t.Col("long_label", "Long window"),
                    t.Col("short_label", "Short window"),
                    t.Col("factor", "Burn rate over", t.number(1), numeric=True),
                    t.Col("for", "For"),
                ],
            )
        )
    alerts = _by_service(data.current.alerts, service)
    if alerts is not None and not alerts.empty and "tier" in alerts:
        tiers = alerts.groupby(["severity", "tier"], sort=True).size().reset_index(name="episodes")
        parts.append("<h4>Replayed alert episodes by tier</h4>")
        parts.append(
            t.html_table(
                tiers,
                [
                    t.Col("severity", "Severity"),
                    t.Col("tier", "Tier"),
                    t.Col("episodes", "Episodes", t.number(), numeric=True),
                ],
            )
        )
    return HTML("".join(parts))


def incident_headline(data: Results, service: str | None = None) -> HTML:
    """MTTA and MTTR with their n, and a warning when the sample is too small for trends."""
    incidents = _by_service(data.current.incidents, service)
    response = data.current.response
    if incidents is None or response is None:
        return HTML('<p class="rr-empty">No incident source is configured.</p>')
    if service is None:
        rows = [
            ("Incidents", str(response.count)),
            ("Still open", str(response.unresolved)),
            (
                "Time to acknowledge, median",
                f"{t.minutes(response.mtta.median)} (n={response.mtta.n})",
            ),
            ("Time to acknowledge, 90th percentile", t.minutes(response.mtta.p90)),
            ("Time to resolve, median", f"{t.minutes(response.mttr.median)} (n={response.mttr.n})"),
            (
                "Time to resolve, median 95% interval",
                f"{t.minutes(response.mttr.ci_low)} – {t.minutes(response.mttr.ci_high)}",
            ),
            ("Time to resolve, 90th percentile", t.minutes(response.mttr.p90)),
            ("Time to resolve, mean", t.minutes(response.mttr.mean)),
        ]
        count = response.count
    else:
        by_service = _by_service(response.by_service, service)
        row = by_service.iloc[0] if by_service is not None and not by_service.empty else None
        count = 0 if row is None else int(row["count"])
        rows = [("Incidents", str(count))]
        if row is not None:
            rows += [
                (
                    "Time to acknowledge, median",
                    f"{t.minutes(row['mtta_median_minutes'])} (n={row['mtta_n']})",
                ),
                (
                    "Time to resolve, median",
                    f"{t.minutes(row['mttr_median_minutes'])} (n={row['mttr_n']})",
                ),
                ("Time to resolve, 90th percentile", t.minutes(row["mttr_p90_minutes"])),
            ]
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    note = ""
    if count < SMALL_SAMPLE:
        note = (
            f'<p class="rr-note">With {count} incident(s), fewer than {SMALL_SAMPLE}, these '
            "figures say little about a trend: one long incident moves them a lot.</p>"
        )
    return HTML(f'<table class="rr-table rr-kv">{body}</table>{note}')


def severity_counts(data: Results) -> go.Figure:
    response = data.current.response
    return figures.severity_counts(None if response is None else response.by_severity)


def response_distribution(data: Results, service: str | None = None) -> go.Figure:
    return figures.response_distribution(
        _by_service(data.current.incidents, service), data.config.severities or []
    )


def incident_table(data: Results, service: str | None = None) -> HTML:
    """The month's incidents: titles as text, postmortem links, times in the report's zone."""
    incidents = _by_service(data.current.incidents, service)
    zone = data.month.timezone
    columns = [
        t.Col("id", "ID"),
        t.Col("severity", "Severity"),
        t.Col("service", "Service"),
        t.Col("title", "Title"),
        t.Col("created_at", "Opened", lambda v: t.instant(v, zone)),
        t.Col("tta_minutes", "To acknowledge", t.minutes, numeric=True),
        t.Col("ttr_minutes", "To resolve", t.minutes, numeric=True),
        t.Col("caused_by", "Caused by deploy"),
        t.Col("postmortem_url", "Postmortem", t.link),
    ]
    if incidents is not None:
        incidents = incidents.sort_values("created_at")
    return HTML(t.html_table(incidents, columns, "No incidents this month."))


def _unavailable(data: Results, key: str, fallback: str) -> HTML:
    """The note a section shows instead of its figures: the reason they are ``null``."""
    reason = data.current.unavailable.get(key)
    if reason is None:
        return HTML(f'<p class="rr-empty">{html.escape(fallback)}</p>')
    return HTML(f'<p class="rr-empty">Not computed: {html.escape(reason)}.</p>')


def _share(within: object, n: object) -> str:
    """``18 of 20 (90%)``; a dash when nothing was judged."""
    if t.is_missing(n) or int(n) == 0 or t.is_missing(within):
        return "– (n=0)"
    return f"{int(within)} of {int(n)} ({int(within) / int(n) * 100:.0f}%)"


def _kv(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="rr-table rr-kv">{body}</table>'


def _small(n: int, what: str) -> str:
    if n >= SMALL_SAMPLE:
        return ""
    return (
        f'<p class="rr-note">With {n} {what}, fewer than {SMALL_SAMPLE}, this share moves a lot '
        "with a single incident; read no trend into it.</p>"
    )


def hours(value: object) -> str:
    """Hours, with days beside them beyond two days."""
    if t.is_missing(value):
        return "–"
    value = float(value)
    return f"{value:.0f} h ({value / 24:.1f} days)" if value >= 48 else f"{value:.1f} h"


def _rto_text(data: Results, service: str) -> str:
    """A service's RTO per severity (its own, else the config's) as text."""
    own, default = data.config.rto_minutes()
    chosen = {**default, **own.get(service, {})}
    order = {k: i for i, k in enumerate(data.config.severities or [])}
    keys = sorted(chosen, key=lambda k: (order.get(k, len(order)), k))
    return " · ".join(f"{k} {t.minutes(chosen[k])}" for k in keys) or "–"


RECOVERY_MISS_COLUMNS = [
    t.Col("id", "Incident"),
    t.Col("service", "Service"),
    t.Col("severity", "Severity"),
    t.Col("title", "Title"),
    t.Col("restore_minutes", "Restored in", t.minutes, numeric=True),
    t.Col("rto_minutes", "RTO", t.minutes, numeric=True),
    t.Col("over_by_minutes", "Over by", t.minutes, numeric=True),
    t.Col("state", "State"),
]


def recovery_targets(data: Results, service: str | None = None) -> HTML:
    """Incidents restored within their service's RTO: fleet-wide, per service with its RTO
    and RPO, the worst misses by how far they overran, and the share month by month."""
    summary = data.current.recovery
    if summary is None:
        return _unavailable(data, "recovery_targets", "No incident source is configured.")
    table = _by_service(summary.by_service, service)
    table = table.assign(rto=[_rto_text(data, name) for name in table["service"]])
    if service is None:
        within, n = summary.within_rto, summary.n
    else:
        row = table.iloc[0] if not table.empty else None
        within = None if row is None else row["within_rto"]
        n = 0 if row is None else int(row["n"])
    without = int(table["incidents"].sum() - table["with_rto"].sum())
    parts = [
        _kv(
            [
                ("Restored within RTO", _share(within, n)),
                ("Incidents without an RTO for their severity", str(without)),
            ]
        ),
        _small(int(n), "incidents judged"),
        t.html_table(
            table,
            [
                t.Col("service", "Service"),
                t.Col("rto", "RTO by severity"),
                t.Col("rpo_minutes", "RPO", t.minutes, numeric=True),
                t.Col("incidents", "Incidents", t.number(), numeric=True),
                t.Col("n", "Judged (n)", t.number(), numeric=True),
                t.Col("within_rto", "Within RTO", t.number(), numeric=True),
                t.Col("within_rto_share", "Share", t.percent(0), numeric=True),
            ],
            "No services.",
        ),
    ]
    misses = _by_service(summary.worst_misses, service)
    misses = misses.assign(state=misses["still_open"].map({True: "still open", False: "restored"}))
    parts.append("<h3>Worst misses</h3>")
    parts.append(t.html_table(misses, RECOVERY_MISS_COLUMNS, "No incident overran its RTO."))
    if service is None:
        trend = data.trend
        parts.append("<h3>Month by month</h3>")
        parts.append(
            t.html_table(
                trend,
                [
                    t.Col("month", "Month"),
                    t.Col("within_rto_share", "Restored within RTO", t.percent(0), True),
                    t.Col("rto_n", "n", t.number(), numeric=True),
                    t.Col(
                        "within_response_target_share",
                        "Acknowledged within target",
                        t.percent(0),
                        True,
                    ),
                    t.Col("response_n", "n", t.number(), numeric=True),
                    t.Col("postmortem_share", "With postmortem", t.percent(0), True),
                    t.Col("postmortem_n", "n", t.number(), numeric=True),
                ],
            )
        )
    return HTML("".join(parts))


TIER_COLUMNS = [
    t.Col("tier", "Tier"),
    t.Col("target", "Response target"),
    t.Col("incidents", "Incidents", t.number(), numeric=True),
    t.Col("n", "Acknowledged (n)", t.number(), numeric=True),
    t.Col("within_target", "Within target", t.number(), numeric=True),
    t.Col("within_target_share", "Share", t.percent(0), numeric=True),
    t.Col("unacknowledged", "Never acknowledged", t.number(), numeric=True),
]
TIER_MISS_COLUMNS = [
    t.Col("id", "Incident"),
    t.Col("service", "Service"),
    t.Col("severity", "Severity"),
    t.Col("tier", "Tier"),
    t.Col("title", "Title"),
    t.Col("created_at", "Opened"),  # formatted in the report's zone by _zoned
    t.Col("tta_minutes", "Acknowledged after", t.minutes, numeric=True),
    t.Col("over_by_minutes", "Late by", t.minutes, numeric=True),
]


SERVICE_TIER_COLUMNS = [
    t.Col("tier", "Tier"),
    t.Col("incidents", "Incidents", t.number(), numeric=True),
    t.Col("n", "Acknowledged", t.number(), numeric=True),
    t.Col("within_target", "Within target", t.number(), numeric=True),
    t.Col("within_target_share", "Share", t.percent(0), numeric=True),
]


def response_tiers(data: Results, service: str | None = None) -> HTML:
    """The share of incidents acknowledged within their tier's target, per tier with ``n``,
    and the incidents that missed it (on a service's page, its own tiers and misses)."""
    summary = data.current.tier_response
    if summary is None:
        return _unavailable(data, "response_tiers", "No incident source is configured.")
    parts = []
    if service is None:
        parts.append(
            _kv([("Acknowledged within target", _share(summary.within_target, summary.n))])
        )
        parts.append(_small(summary.n, "acknowledged incidents"))
        parts.append(t.html_table(summary.by_tier, TIER_COLUMNS, "No tiers configured."))
        if summary.without_tier:
            parts.append(
                f'<p class="rr-note">{summary.without_tier} incident(s) map to no tier and are '
                "left out.</p>"
            )
    else:
        own = _by_service(summary.by_service, service)
        parts.append(
            t.html_table(own, SERVICE_TIER_COLUMNS, "No incident of this service had a tier.")
        )
    misses = _by_service(summary.misses, service)
    shown = misses.head(TIER_MISSES_SHOWN)
    parts.append("<h3>Acknowledged late</h3>")
    parts.append(
        t.html_table(
            shown,
            _zoned(TIER_MISS_COLUMNS, data.month.timezone),
            "Every acknowledged incident was acknowledged within its tier's target.",
        )
    )
    if len(misses) > len(shown):
        parts.append(
            f'<p class="rr-note">The {len(shown)} latest of {len(misses)}; metrics.json lists '
            "them all.</p>"
        )
    return HTML("".join(parts))


POSTMORTEM_MISSING_COLUMNS = [
    t.Col("id", "Incident"),
    t.Col("service", "Service"),
    t.Col("severity", "Severity"),
    t.Col("tier", "Tier"),
    t.Col("title", "Title"),
    t.Col("resolved_at", "Resolved"),  # formatted in the report's zone below
]


def postmortems(data: Results, service: str | None = None) -> HTML:
    """For the tiers that need one: the share of resolved incidents with a postmortem, the
    time from resolution to it, open action items, and the incidents still without one."""
    summary = data.current.postmortems
    if summary is None:
        return _unavailable(data, "postmortems", "No incident source is configured.")
    tiers = ", ".join(summary.tiers)
    parts = []
    if service is None:
        time = summary.time_to_postmortem
        rows = [
            (
                f"Resolved {tiers} incidents with a postmortem",
                _share(summary.with_postmortem, summary.n),
            ),
        ]
        if time is not None:
            rows.append(("Resolution to postmortem, median", f"{hours(time.median)} (n={time.n})"))
            rows.append(("Resolution to postmortem, 90th percentile", hours(time.p90)))
        if summary.action_items_open is not None:
            rows.append(
                (
                    "Open action items",
                    f"{summary.action_items_open} in {summary.incidents_with_open_items} "
                    f"postmortem(s) (n={summary.action_items_n})",
                )
            )
        parts.append(_kv(rows))
        parts.append(_small(summary.n, f"resolved {tiers} incidents"))
        for figure, reason in summary.reasons.items():
            name = figure.replace("_", " ")
            parts.append(
                f'<p class="rr-note">Not shown, {html.escape(name)}: {html.escape(reason)}.</p>'
            )
    missing = _by_service(summary.missing, service)
    zone = data.month.timezone
    columns = [
        replace(c, fmt=lambda v: t.instant(v, zone)) if c.key == "resolved_at" else c
        for c in POSTMORTEM_MISSING_COLUMNS
    ]
    parts.append("<h3>Without a postmortem</h3>")
    parts.append(t.html_table(missing, columns, f"Every resolved {tiers} incident has one."))
    return HTML("".join(parts))


def hero_load(data: Results) -> HTML:
    """Per team, the share of incidents and of off-hours pages its top responder handled, and
    whether the team leans on one person; responders named as the config chooses."""
    summary = data.current.hero_load
    if summary is None:
        return _unavailable(data, "hero_load", "No incident source is configured.")
    shown = {"names": t.text, "initials": t.initials}.get(summary.display)
    columns = [
        t.Col("team", "Team"),
        t.Col("handled", "Incidents with a responder", t.number(), numeric=True),
        t.Col("responders", "Responders", t.number(), numeric=True),
        t.Col("top_responder", "Top responder", shown) if shown else None,
        t.Col("top_share", "Their share", t.percent(0), numeric=True),
        t.Col("off_hours_pages", "Off-hours pages", t.number(), numeric=True),
        t.Col("off_hours_top_responder", "Top off hours", shown) if shown else None,
        t.Col("off_hours_top_share", "Their share", t.percent(0), numeric=True),
        t.Col("hero", f"Leans on one person (over {summary.max_share:.0%})", t.yes_no),
    ]
    table = t.html_table(summary.table, [c for c in columns if c], "No incidents this month.")
    note = (
        f'<p class="rr-note">A share is judged from {MIN_HANDLED} incidents (or off-hours '
        "pages) with a responder; below that the flag is a dash. Incidents without a responder "
        "are not counted."
        + (" Responders are not named, as the config asks." if shown is None else "")
        + "</p>"
    )
    reasons = "".join(
        f'<p class="rr-note">{html.escape(reason)}.</p>' for reason in summary.reasons.values()
    )
    return HTML(table + note + reasons)


DELIVERY_COLUMNS = [
    t.Col("service", "Service"),
    t.Col("deployments", "Deploys", t.number(), numeric=True),
    t.Col("deployments_per_week", "Per week", t.number(1), numeric=True),
    t.Col("frequency_band", "Band", t.band),
    t.Col("lead_time_median_hours", "Lead time (h)", t.number(1), numeric=True),
    t.Col("lead_time_band", "Band", t.band),
    t.Col("change_failure_rate", "Change failure", t.percent(0), numeric=True),
    t.Col("change_failure_band", "Band", t.band),
    t.Col("recovery_median_minutes", "Recovery", t.minutes, numeric=True),
    t.Col("recovery_band", "Band", t.band),
]


def delivery_table(data: Results, service: str | None = None) -> HTML:
    """DORA figures and bands per service."""
    frame = _by_service(data.current.delivery, service)
    return HTML(t.html_table(frame, DELIVERY_COLUMNS, "No deployments this month."))


def deployments_chart(data: Results) -> go.Figure:
    return figures.deployments_per_week(data.current.delivery)


TOIL_COLUMNS = [
    t.Col("team", "Team"),
    t.Col("total_hours", "Hours logged", t.number(0), numeric=True),
    t.Col("toil_ratio", "Toil", t.percent(0), numeric=True),
    t.Col("operational_ratio", "Toil + on-call", t.percent(0), numeric=True),
]
ONCALL_COLUMNS = [
    t.Col("team", "Team"),
    t.Col("pages", "Pages received", t.number(), numeric=True),
    t.Col("pages_per_shift", "Per 12-h shift", t.number(2), numeric=True),
    t.Col("off_hours_share", "Off hours", t.percent(0), numeric=True),
]


def toil_oncall(data: Results) -> go.Figure:
    return figures.toil_and_oncall(data.current.toil, data.current.oncall)


def toil_oncall_tables(data: Results) -> HTML:
    current = data.current
    return HTML(
        t.html_table(current.toil, TOIL_COLUMNS, "No work log is configured.")
        + t.html_table(current.oncall, ONCALL_COLUMNS, "No incident source is configured.")
    )


def _money(currency: str) -> t.Formatter:
    """Amounts with two decimals and the currency: ``1,234.50 USD``."""

    def format_money(value: object) -> str:
        return "–" if t.is_missing(value) else f"{float(value):,.2f} {html.escape(currency)}"

    return format_money


def _why(row: pd.Series) -> str:
    """The reasons a row's cost figures are blank, in one cell."""
    reasons = [row["cost_per_slo_met_reason"], row["spend_per_nine_reason"]]
    return "; ".join(dict.fromkeys(str(r) for r in reasons if not t.is_missing(r)))


def spend(data: Results, service: str | None = None) -> HTML:
    """The month's spend beside the SLOs: per service (the unattributed line last) and per
    team, per SLO met and per nine of availability, the services that spend the most per
    nine, and spend month by month; on a service's page, that service's line."""
    summary = data.current.cost
    if summary is None:
        if "cost" in data.current.unavailable:
            return _unavailable(data, "cost", "")
        return HTML(
            '<p class="rr-empty">No cost input is configured: the report has no spend to set '
            "beside the SLOs (add a FOCUS export or a cost.csv as sources.cost).</p>"
        )
    money = _money(summary.currency)
    amount = t.number(2)
    unit = f" ({summary.currency})"
    table = summary.by_service.assign(why=summary.by_service.apply(_why, axis=1))
    columns = [
        t.Col("service", "Service"),
        t.Col("team", "Team"),
        t.Col("spend", "Spend" + unit, amount, numeric=True),
        t.Col("share", "Share", t.percent(0), numeric=True),
        t.Col("slos_met", "SLOs met", t.number(), numeric=True),
        t.Col("cost_per_slo_met", "Per SLO met" + unit, amount, numeric=True),
        t.Col("availability", "Availability", t.sli_percent, numeric=True),
        t.Col("nines", "Nines", t.number(2), numeric=True),
        t.Col("spend_per_nine", "Per nine" + unit, amount, numeric=True),
        t.Col("rank_per_nine", "Rank per nine", t.number(), numeric=True),
        t.Col("why", "Blank because"),
    ]
    trend = data.cost_trend
    if service is not None:
        own = table.loc[table["service"] == service]
        parts = [t.html_table(own, columns[2:], "No spend for this service.")]
        if trend is not None and not trend.empty:
            mine = trend.loc[trend["service"] == service, ["month", "spend"]]
            month_columns = [t.Col("month", "Month"), t.Col("spend", "Spend" + unit, amount, True)]
            parts.append("<h3>Month by month</h3>")
            parts.append(t.html_table(mine, month_columns, "No spend in earlier months."))
        return HTML("".join(parts))
    top = ", ".join(html.escape(name) for name in summary.top_per_nine) or "–"
    unattributed = (
        f"{money(summary.unattributed)} ({summary.unattributed / summary.total * 100:.0f}%)"
        if summary.total
        else money(summary.unattributed)
    )
    parts = [
        _kv(
            [
                ("Spend this month", money(summary.total)),
                ("Attributed to a service", money(summary.attributed)),
                ("Unattributed", unattributed),
                ("Most spent per nine of availability", top),
            ]
        ),
        t.html_table(table, columns, "No services."),
        "<h3>Per team</h3>",
        t.html_table(
            summary.by_team,
            [
                t.Col("team", "Team"),
                t.Col("services", "Services", t.number(), numeric=True),
                t.Col("spend", "Spend" + unit, amount, numeric=True),
                t.Col("share", "Share", t.percent(0), numeric=True),
            ],
        ),
        "<h3>Unattributed, by tag or provider service</h3>",
        t.html_table(
            summary.unattributed_by_label,
            [
                t.Col("label", "Tag value or ServiceName"),
                t.Col("spend", "Spend" + unit, amount, True),
            ],
            "Every charge belongs to a service of the report.",
        ),
    ]
    if trend is not None and not trend.empty:
        wide = trend.pivot_table(
            index="service", columns="month", values="spend", aggfunc="sum", sort=False
        )
        wide = wide.reindex([*data.service_names(), "unattributed"]).dropna(how="all")
        months = [str(m) for m in wide.columns]
        wide = wide.reset_index()
        wide.columns = ["service", *months]
        parts.append(f"<h3>Month by month{html.escape(unit)}</h3>")
        parts.append(
            t.html_table(
                wide,
                [t.Col("service", "Service"), *(t.Col(m, m, amount, True) for m in months)],
            )
        )
    return HTML("".join(parts))


def trends(data: Results) -> go.Figure:
    return figures.trends(data.trend)


def trend_table(data: Results) -> HTML:
    frame = data.trend
    columns = [
        t.Col("month", "Month"),
        t.Col("slos_met", "SLOs met", t.number(), numeric=True),
        t.Col("median_budget_used", "Median budget used", t.percent(0), numeric=True),
        t.Col("incidents", "Incidents", t.number(), numeric=True),
        t.Col("mttr_median_minutes", "MTTR median", t.minutes, numeric=True),
        t.Col("change_failure_rate", "Change failure", t.percent(0), numeric=True),
        t.Col("toil_ratio", "Toil", t.percent(0), numeric=True),
    ]
    note = ""
    small = frame["incidents"] < SMALL_SAMPLE  # months without an incident source: no note
    if small.any():
        note = (
            f'<p class="rr-note">Months with fewer than {SMALL_SAMPLE} incidents: MTTR moves '
            "with single incidents there; read no trend into it.</p>"
        )
    return HTML(t.html_table(frame, columns) + note)


def data_quality(data: Results, service: str | None = None) -> HTML:
    """What is missing from the inputs and what that did to the numbers: on a service's
    page, its own findings and those about the whole fleet."""
    current = data.current
    findings = current.data_quality
    if findings is not None:
        if service is not None:
            findings = findings.loc[findings["service"].isna() | (findings["service"] == service)]
        findings = findings.assign(scope=findings["service"].fillna("all services"))
    parts = [
        t.html_table(
            findings,
            [
                t.Col("finding", "Finding"),
                t.Col("scope", "Service"),
                t.Col("count", "Count", t.number(), numeric=True),
                t.Col("effect", "Effect on the numbers"),
            ],
            "No gaps found: every SLO has data for every step, every incident was "
            "acknowledged and resolved, every deployment has a commit time.",
        )
    ]
    if current.missing_inputs:
        parts.append(
            '<p class="rr-note">Inputs not configured, so their sections are empty: '
            + html.escape(", ".join(current.missing_inputs))
            + ".</p>"
        )
    for role, reason in current.unavailable.items():
        parts.append(
            f'<p class="rr-note">No {html.escape(role.replace("_", " "))} figures this month: '
            f"{html.escape(reason)}.</p>"
        )
    return HTML("".join(parts))


ALERT_COLUMNS = [
    t.Col("service", "Service"),
    t.Col("slo", "SLO"),
    t.Col("severity", "Kind"),
    t.Col("start", "Started"),  # formatted in the report's zone by _zoned
    t.Col("minutes", "Lasted", t.minutes, numeric=True),
    t.Col("peak_burn_rate", "Burn rate at peak", t.number(1), numeric=True),
    t.Col("covered_by", "Covered by incident"),
]
MISSED_COLUMNS = [
    t.Col("id", "Incident"),
    t.Col("service", "Service"),
    t.Col("severity", "Severity"),
    t.Col("title", "Title"),
    t.Col("created_at", "Opened"),  # formatted in the report's zone by _zoned
]


def _zoned(columns: list[t.Col], zone: str) -> list[t.Col]:
    """The columns with their instants shown in the report's time zone."""
    instants = ("start", "created_at")
    return [
        replace(c, fmt=lambda v: t.instant(v, zone)) if c.key in instants else c for c in columns
    ]


def alerts_section(data: Results, service: str | None = None) -> HTML:
    """Every replayed page and ticket episode with its peak burn and covering incident, then
    the replayed page alerts no incident covers (uncovered pages) beside the pages received that no
    replayed page alert caught (missed detection)."""
    current = data.current
    episodes = _by_service(current.alerts, service)
    if episodes is None:
        return HTML('<p class="rr-empty">No SLI source is configured: no alert is replayed.</p>')
    zone = data.month.timezone
    missed = _by_service(current.missed_detection, service)
    page = episodes["severity"] == "page"
    counts = (
        f"{int(page.sum())} replayed page alerts and {int((~page).sum())} replayed ticket alerts"
    )
    if missed is not None:
        uncovered = int((page & episodes["covered_by"].isna()).sum())
        counts += (
            f"; {uncovered} replayed page alerts that no incident covers and {len(missed)} "
            "pages received that no replayed page alert caught (missed detection)"
        )
    else:
        counts += "; without an incident input, uncovered pages and missed detection are unknown"
    parts = [
        f'<p class="rr-alert-counts">{html.escape(counts)}.</p>',
        t.html_table(
            episodes.sort_values(["start", "service", "slo"]),
            _zoned(ALERT_COLUMNS, zone),
            "No alert rule would have fired this month.",
        ),
    ]
    if missed is not None:
        uncovered_rows = episodes.loc[page & episodes["covered_by"].isna()]
        parts += [
            '<div class="rr-alert-review" style="display:flex;gap:24px;flex-wrap:wrap">',
            '<div data-table="uncovered">',
            "<h4>Uncovered: replayed page alerts no incident covers</h4>",
            t.html_table(
                uncovered_rows,
                _zoned([c for c in ALERT_COLUMNS if c.key != "covered_by"], zone),
                "Every replayed page alert is covered by an incident.",
            ),
            '</div><div data-table="missed-detection"><h4>Missed detection: pages received '
            "that no replayed page alert caught</h4>",
            t.html_table(
                missed,
                _zoned(MISSED_COLUMNS, zone),
                "Every page received was caught by a replayed page alert.",
            ),
            "</div></div>",
        ]
    return HTML("".join(parts))


RULE_COLUMNS = [
    t.Col("alert", "Rule"),
    t.Col("alerts", "Alerts", t.number(), numeric=True),
    t.Col("pages", "Pages", t.number(), numeric=True),
    t.Col("actionable", "Actionable", t.number(), numeric=True),
    t.Col("noise", "Noise", t.number(), numeric=True),
    t.Col("noise_share", "Noise share", t.percent(0), numeric=True),
    t.Col("without_runbook", "Without runbook", t.number(), numeric=True),
    t.Col("median_minutes", "Median length", t.minutes, numeric=True),
]
ALERT_TEAM_COLUMNS = [
    t.Col("team", "Team"),
    t.Col("alert_pages", "Alert pages", t.number(), numeric=True),
    t.Col("alert_pages_per_shift", "Per 12-h shift", t.number(2), numeric=True),
    t.Col("off_hours_pages", "Off hours", t.number(), numeric=True),
    t.Col("sleep_hours_pages", "Sleep hours", t.number(), numeric=True),
]


def alert_quality(data: Results) -> HTML:
    """The real alert history: pages, how many were actionable and how many noise, the
    noisiest rules, alerts without a runbook, night pages per team, and the real pages beside
    the replayed ones."""
    quality = data.current.alert_quality
    if quality is None:
        if "alerts" in data.current.missing_inputs:
            return HTML('<p class="rr-empty">No alert history is configured (sources.alerts).</p>')
        return _unavailable(data, "alerts", "No alert history this month.")
    settings = data.config.alert_quality
    sleep = settings.sleep_hours
    rows = [
        ("Alerts", f"{quality.alerts}, of which {quality.pages} alert pages"),
        ("Actionable: became or joined an incident", _share(quality.actionable, quality.pages)),
        (
            f"Noise: resolved by themselves within {quality.noise_minutes:g} minutes",
            _share(quality.noise, quality.pages),
        ),
        (
            "Alerts without a runbook URL",
            f"{quality.without_runbook}"
            + (
                " (" + html.escape(", ".join(quality.rules_without_runbook)) + ")"
                if quality.rules_without_runbook
                else ""
            ),
        ),
        ("Alert pages outside business hours", str(quality.off_hours_pages)),
        (
            f"Alert pages in sleep hours ({sleep.start:02d}:00 to {sleep.end:02d}:00)",
            str(quality.sleep_hours_pages),
        ),
    ]
    if quality.explained is not None:
        rows.append(
            (
                "Alert pages on services with SLOs that a replayed page alert explains",
                _share(quality.explained, quality.explainable),
            )
        )
    parts = [_kv(rows)]
    parts += [
        f'<p class="rr-note">{html.escape(reason)}.</p>' for reason in quality.reasons.values()
    ]
    zone = data.month.timezone
    parts += [
        '<h3>Noisiest rules</h3><div data-table="alert-rules">',
        t.html_table(quality.by_rule.head(NOISIEST_RULES), RULE_COLUMNS, "No alert fired."),
        '</div><h3>Alert pages per team</h3><div data-table="alert-pages-by-team">',
        t.html_table(quality.by_team, ALERT_TEAM_COLUMNS, "No alert paged."),
        "</div>",
    ]
    if quality.unreached is not None:
        parts += [
            '<h3>Replayed page alerts that reached no one</h3><div data-table="unreached">',
            t.html_table(
                quality.unreached,
                [
                    t.Col("service", "Service"),
                    t.Col("slo", "SLO"),
                    t.Col("start", "From", lambda v: t.instant(v, zone)),
                    t.Col("end", "To", lambda v: t.instant(v, zone)),
                ],
                "Every replayed page alert met a real alert page of its service.",
            ),
            "</div>",
        ]
    return HTML("".join(parts))


def first_screen(data: Results) -> HTML:
    """The fleet page's first screen: the data used, the status tiles, five sentences."""
    return HTML(first.first_screen(data))


def glossary() -> HTML:
    return HTML(t.definition_list(GLOSSARY))
