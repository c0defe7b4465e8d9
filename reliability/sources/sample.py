"""The built-in sample organisation: a realistic, deterministic month of SRE data for any month.

With no config the product runs on this organisation, so a newcomer sees a full report at once.
Each month is generated on its own from a fixed seed plus the month, so the same month always
gives identical frames. The story is stable by design, not by luck:

* background bad events stay well inside every budget (a fixed share of it, capped per minute);
* every outage is sized against its SLOs' budgets: a healthy SLO never passes
  ``HEALTHY_LIMIT`` of its budget, while two *fragile* SLOs (recommendations availability,
  search latency) get an outage sized to overspend their budget every month;
* every outage minute has at least ``DIP_FLOOR`` of its events bad and every other minute at
  most ``BACKGROUND_CAP``, so an incident's window is exactly the minutes of its dip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from reliability import frames
from reliability.config import SLO, Config, Indicator, Service, Source, Sources, load_config
from reliability.period import Month, Span

SEED = 20261001
"""The project seed; each month's generator is seeded with it and ``year * 100 + month``."""
BACKGROUND_CAP = 0.05
"""Outside incidents, at most this share of a minute's events is bad."""
DIP_FLOOR = 0.15
"""Inside an outage, at least this share of every minute's events is bad."""
HEALTHY_LIMIT = 0.75
"""Budget share a healthy SLO may consume in a month (background and incidents together)."""
FRAGILE_TARGET = {
    ("recommendations", "availability"): (1.5, 2.4),
    ("search", "latency"): (1.3, 1.9),
}
"""SLOs overspent every month, and the range of budget consumption their outage aims for."""
GAP_MINUTES = 30
"""Minimum quiet time between two incident windows of one service."""
SAMPLE_FILES = {
    "metrics": "sli.csv",
    "incidents": "incidents.csv",
    "deployments": "deployments.csv",
    "worklog": "worklog.csv",
}
_MINUTE = pd.Timedelta(minutes=1)
_INSTANT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class _ServiceSpec:
    """One sample service: traffic, objectives, delivery cadence and background error rates."""

    name: str
    team: str
    rpm: float
    """Mean requests per minute (before the daily and weekly shapes)."""
    availability: float
    latency: float
    threshold: float
    """Latency threshold in seconds."""
    deploys: float
    """Mean production deployments per month."""
    lead_hours: float
    """Median hours from commit to production."""
    background: tuple[float, float] = (0.15, 0.2)
    """Background bad events as a share of the budget: (availability, latency)."""
    availability_budgeting: tuple[str, str, float | None] = ("occurrences", "1m", None)
    latency_budgeting: tuple[str, str, float | None] = ("occurrences", "1m", None)
    protocol: str = "http"


SERVICES: tuple[_ServiceSpec, ...] = (
    _ServiceSpec("checkout", "payments", 2400, 0.9995, 0.99, 0.3, 30, 20),
    _ServiceSpec("payments-api", "payments", 1500, 0.999, 0.99, 0.5, 12, 26),
    _ServiceSpec(
        "ledger",
        "payments",
        40,
        0.995,
        0.95,
        1.0,
        2.5,
        60,
        availability_budgeting=("ratio_timeslices", "1m", None),
        protocol="grpc",
    ),
    _ServiceSpec(
        "api-gateway",
        "platform",
        9000,
        0.999,
        0.99,
        0.1,
        130,
        1.5,
        availability_budgeting=("timeslices", "5m", 0.99),
    ),
    _ServiceSpec(
        "auth",
        "platform",
        4000,
        0.9995,
        0.99,
        0.2,
        4.5,
        40,
        latency_budgeting=("timeslices", "1m", 0.95),
    ),
    _ServiceSpec("notifications", "platform", 600, 0.995, 0.95, 2.0, 4.5, 48, protocol="grpc"),
    _ServiceSpec("search", "discovery", 5000, 0.999, 0.995, 0.4, 22, 18, background=(0.15, 0.3)),
    _ServiceSpec("catalog", "discovery", 2000, 0.999, 0.99, 0.25, 12, 30),
    _ServiceSpec(
        "recommendations", "discovery", 800, 0.999, 0.95, 0.5, 25, 10, background=(0.3, 0.2)
    ),
)
TEAM_PEOPLE = {
    "payments": ("ana", "bruno", "chen", "dara"),
    "platform": ("emeka", "farah", "gus", "hiro", "ines"),
    "discovery": ("jon", "kemi", "lars"),
}
TEAM_SHARES = {
    # toil, project, oncall, overhead: platform runs far over the SRE book's 50% toil cap
    "payments": (0.20, 0.58, 0.08, 0.14),
    "discovery": (0.35, 0.43, 0.08, 0.14),
    "platform": (0.55, 0.23, 0.10, 0.12),
}
UPSTREAM = {
    "checkout": "payments-api",
    "payments-api": "ledger",
    "ledger": "ledger-db",
    "api-gateway": "auth",
    "auth": "auth-db",
    "notifications": "smtp-relay",
    "search": "search-index",
    "catalog": "catalog-db",
    "recommendations": "feature-store",
}
AVAILABILITY_TITLES = (
    "Elevated 5xx on {svc}",
    "{svc} returning 503s: connection pool exhausted",
    "Error spike on {svc} after node pool rotation",
    "{svc} errors: {up} timeouts",
    "Partial outage of {svc} in eu-west-1",
)
LATENCY_TITLES = (
    "High p99 latency on {svc}",
    "{svc} slow responses: {up} CPU saturation",
    "Latency regression on {svc}: long GC pauses",
    "{svc} slow: cache hit rate dropped after eviction storm",
)
BOTH_TITLES = ("{svc} degraded: errors and slow responses", "{svc} degraded: {up} failover")
INTERNAL_TITLES = (
    "Disk usage above 90% on {svc} database primary",
    "TLS certificate for {svc} expires in 7 days",
    "Nightly backup job failed for {svc}",
    "Consumer lag growing on {svc} workers",
    "Cluster autoscaler stuck for {svc} node pool",
    "Scheduled export job for {svc} failing",
)


def _slo(name: str, objective: float, budgeting: tuple[str, str, float | None], **kw) -> SLO:
    method, timeslice, target = budgeting
    return SLO(
        name=name,
        objective=objective,
        budgeting=method,
        timeslice=timeslice,
        timeslice_target=target,
        **kw,
    )


def _indicators(spec: _ServiceSpec) -> tuple[Indicator, Indicator]:
    job = f'job="{spec.name}"'
    if spec.protocol == "grpc":
        errors = 'grpc_code=~"Unavailable|Internal|Unknown|DeadlineExceeded"'
        availability = Indicator(
            kind="ratio",
            good_query=(
                f"sum(increase(grpc_server_handled_total{{{job}}}[{{{{window}}}}]))"
                f" - sum(increase(grpc_server_handled_total{{{job},{errors}}}[{{{{window}}}}]))"
            ),
            total_query=f"sum(increase(grpc_server_handled_total{{{job}}}[{{{{window}}}}]))",
        )
        histogram = f"grpc_server_handling_seconds{{{job}}}"
    else:
        availability = Indicator(
            kind="ratio",
            good=f'http_requests_total{{{job},code!~"5.."}}',
            total=f"http_requests_total{{{job}}}",
        )
        histogram = f"http_request_duration_seconds{{{job}}}"
    latency = Indicator(kind="latency", histogram=histogram, threshold_seconds=spec.threshold)
    return availability, latency


def sample_config() -> Config:
    """The sample organisation's config: 9 services in 3 teams, each with two SLOs."""
    services = []
    for spec in SERVICES:
        availability, latency = _indicators(spec)
        slos = [
            _slo(
                "availability",
                spec.availability,
                spec.availability_budgeting,
                description="Requests answered without a server error",
                indicator=availability,
            ),
            _slo(
                "latency",
                spec.latency,
                spec.latency_budgeting,
                description=f"Requests answered within {spec.threshold:g} s",
                indicator=latency,
            ),
        ]
        services.append(Service(name=spec.name, team=spec.team, slos=slos))
    sample = Source(kind="sample")
    return Config(
        timezone="UTC",
        severities=["SEV1", "SEV2", "SEV3"],
        sources=Sources(metrics=sample, incidents=sample, deployments=sample, worklog=sample),
        services=services,
    )


def consumed_budget(bad: np.ndarray, total: np.ndarray, slo: SLO) -> float:
    """Budget consumed by per-minute bad/total counts under ``slo``'s budgeting (DESIGN §4)."""
    if slo.budgeting == "occurrences":
        sli = 1.0 - bad.sum() / total.sum()
    else:
        length = int(slo.timeslice_length / _MINUTE)
        starts = np.arange(0, len(total), length)
        slice_bad = np.add.reduceat(bad, starts)
        slice_total = np.add.reduceat(total, starts)
        has = slice_total > 0
        ratio = 1.0 - slice_bad[has] / slice_total[has]
        if slo.budgeting == "timeslices":
            sli = float(np.mean(ratio >= slo.timeslice_target))
        else:
            sli = float(ratio.mean())
    return float((1.0 - sli) / (1.0 - slo.objective))


@dataclass
class _Incident:
    service: str
    severity: str
    title: str
    started: int | None
    """First minute of the incident (minutes from the month start); None when unknown."""
    end: int
    """First minute after it (``resolved_at``)."""
    created: int
    """Seconds from the month start."""
    acknowledged: int | None
    urgency: str
    caused_by: int | None = None
    """Row of the deployment that caused it (its id is given when the frame is built)."""


class _MonthBuilder:
    """Builds one UTC month of the sample organisation; every draw comes from one generator."""

    def __init__(self, year: int, month: int):
        self.period = Month(year, month)
        self.rng = np.random.default_rng([SEED, year * 100 + month])
        self.start = self.period.start.as_unit("ns")
        self.minutes = int(self.period.duration // _MINUTE)
        self.days = self.minutes // 1440
        minute = np.arange(self.minutes)
        self.hour = (minute % 1440) / 60.0
        self.day_weekday = (self.start.day_of_week + np.arange(self.days)) % 7
        self.weekday = self.day_weekday[minute // 1440]
        self.config = sample_config()
        self.slos = {(s.name, o.name): o for s in self.config.services for o in s.slos}
        self.total: dict[str, np.ndarray] = {}
        self.bad: dict[tuple[str, str], np.ndarray] = {}
        self.busy: dict[str, list[tuple[int, int]]] = {s.name: [] for s in SERVICES}
        self.incidents: list[_Incident] = []
        self.deployments = pd.DataFrame()
        self.deployment_ids: dict[int, str] = {}

    # -- traffic ------------------------------------------------------------------------
    def traffic(self) -> None:
        """Requests per minute with a daily and weekly shape; background bad events."""
        rng = self.rng
        daily = 1.0 + 0.55 * np.cos(2 * np.pi * (self.hour - 15.0) / 24.0)
        weekly = np.where(self.weekday >= 5, 0.7, 1.0)
        growth = 1.0 + 0.004 * ((self.period.year - 2020) * 12 + self.period.month - 1)
        for spec in SERVICES:
            hourly = np.repeat(rng.lognormal(0.0, 0.06, size=self.days * 24), 60)
            mean = spec.rpm * growth * daily * weekly * hourly
            total = np.maximum(rng.poisson(mean), 1).astype(np.int64)
            self.total[spec.name] = total
            cap = np.floor(total * BACKGROUND_CAP).astype(np.int64)
            for name, share in zip(("availability", "latency"), spec.background, strict=True):
                slo = self.slos[(spec.name, name)]
                bad = rng.binomial(total, (1.0 - slo.objective) * share).astype(np.int64)
                self.bad[(spec.name, name)] = np.minimum(bad, cap)

    def consumed(self, service: str, slo: str) -> float:
        key = (service, slo)
        return consumed_budget(self.bad[key], self.total[service], self.slos[key])

    # -- outages ------------------------------------------------------------------------
    def free(self, service: str, start: int, end: int) -> bool:
        """Whether ``[start, end)`` lies well inside the month and clear of other incidents."""
        if start < 60 or end > self.minutes - 180:
            return False
        return all(
            end + GAP_MINUTES <= s or start >= e + GAP_MINUTES for s, e in self.busy[service]
        )

    def dip(self, service: str, start: int, duration: int, share: float) -> np.ndarray:
        """Bad events for an outage of ``duration`` minutes with about ``share`` of them bad."""
        total = self.total[service][start : start + duration]
        shares = np.clip(share * self.rng.uniform(0.85, 1.15, duration), DIP_FLOOR, 1.0)
        return np.minimum(np.ceil(total * shares).astype(np.int64), total)

    def outage(
        self, service: str, start: int, duration: int, shares: dict[str, float]
    ) -> int | None:
        """Lay an outage on ``shares``' SLOs, shortened until no healthy SLO overspends.

        An SLO whose budget even a 4-minute outage would overspend is left out (with no SLO
        left, or no ``shares``, the incident has no SLI impact). Returns the first minute after
        the outage, or ``None`` when the window is not free.
        """
        if not self.free(service, start, start + duration):
            return None
        dips = {slo: self.dip(service, start, duration, share) for slo, share in shares.items()}
        lengths = [duration]
        while lengths[-1] > 4:
            lengths.append(max(4, lengths[-1] // 2))
        fits: list[str] = []
        for length in lengths:
            fits = []
            for slo, dip in dips.items():
                key = (service, slo)
                window = slice(start, start + length)
                saved = self.bad[key][window].copy()
                self.bad[key][window] = dip[:length]
                if key in FRAGILE_TARGET or self.consumed(service, slo) <= HEALTHY_LIMIT:
                    fits.append(slo)
                self.bad[key][window] = saved
            if len(fits) == len(dips):
                break
        for slo in fits:
            self.bad[(service, slo)][start : start + length] = dips[slo][:length]
        self.busy[service].append((start, start + length))
        return start + length

    def incident(
        self,
        service: str,
        start: int,
        end: int,
        severity: str,
        title: str,
        *,
        acknowledged: bool = True,
        caused_by: int | None = None,
        started_known: bool = True,
        detection: tuple[int, int] = (60, 480),
    ) -> None:
        """Record an incident over minutes ``[start, end)``, detected a few minutes in."""
        rng = self.rng
        window = (end - start) * 60
        delay = int(
            rng.integers(detection[0], max(detection[0] + 1, min(detection[1], window - 60)))
        )
        created = start * 60 + delay
        ack = None
        if acknowledged:
            room = max(61, min(30 * 60, end * 60 - created - 30))
            ack = created + int(rng.integers(60, room + 1))
        if severity in ("SEV1", "SEV2"):
            urgency = "high"
        else:
            urgency = "high" if rng.random() < 0.3 else "low"
        self.incidents.append(
            _Incident(
                service=service,
                severity=severity,
                title=title,
                started=start if started_known else None,
                end=end,
                created=created,
                acknowledged=ack,
                urgency=urgency,
                caused_by=caused_by,
            )
        )

    def title(self, templates: Sequence[str], service: str) -> str:
        template = templates[int(self.rng.integers(len(templates)))]
        return template.format(svc=service, up=UPSTREAM[service])

    # -- deployments --------------------------------------------------------------------
    def make_deployments(self) -> None:
        """Production deployments per service at its own cadence, in working hours mostly."""
        rng = self.rng
        weights = np.where(self.day_weekday >= 5, 0.08, 1.0)
        parts = []
        for spec in SERVICES:
            count = max(2, int(rng.poisson(spec.deploys)))
            day = rng.choice(self.days, size=count, p=weights / weights.sum())
            minute = day * 1440 + rng.integers(8 * 60, 19 * 60, size=count)
            deployed = minute * 60 + rng.integers(0, 60, size=count)
            elite = spec.deploys > 60
            status = rng.choice(
                np.array(frames.DEPLOYMENT_STATUSES),
                size=count,
                p=[0.95, 0.03, 0.02] if elite else [0.9, 0.05, 0.05],
            )
            lag = rng.lognormal(math.log(spec.lead_hours * 3600), 0.9, size=count)
            lag = np.clip(np.round(lag), 900, 14 * 86400).astype(np.int64)
            commit = (deployed - lag).astype("float64")
            commit[rng.random(count) < 0.04] = np.nan
            parts.append(
                pd.DataFrame(
                    {
                        "service": spec.name,
                        "deployed": deployed,
                        "status": status,
                        "commit": commit,
                    }
                )
            )
        table = pd.concat(parts, ignore_index=True)
        # at least one deployment per month has no commit time: a manual hotfix
        table.loc[int(rng.integers(len(table))), "commit"] = np.nan
        self.deployments = table

    def pick_deployment(self, service: str, exclude: set[int]) -> int:
        """A deployment of ``service`` in the middle of the month (made up if there is none)."""
        table = self.deployments
        minute = table["deployed"] // 60
        eligible = table.index[
            (table["service"] == service)
            & (minute >= 1440)
            & (minute < self.minutes - 2 * 1440)
            & ~table.index.isin(list(exclude))
        ]
        for row in self.rng.permutation(eligible.to_numpy()):
            start = int(table.loc[row, "deployed"]) // 60 + 10
            if self.free(service, start, start + 60):
                return int(row)
        # no usable deployment: add an afternoon one in the middle of the month
        for _ in range(100):
            day = int(self.rng.integers(2, self.days - 3))
            deployed = (day * 1440 + 14 * 60) * 60 + int(self.rng.integers(0, 3600))
            if self.free(service, deployed // 60 + 10, deployed // 60 + 70):
                break
        row = len(table)
        table.loc[row] = {
            "service": service,
            "deployed": deployed,
            "status": "success",
            "commit": deployed - 3 * 3600,
        }
        return row

    def caused(
        self,
        row: int,
        service: str,
        shares: dict[str, float],
        duration: int,
        severity: str,
        title: str,
        delay: int,
    ) -> None:
        """An incident on ``service`` that starts ``delay`` minutes after deployment ``row``."""
        start = int(self.deployments.loc[row, "deployed"]) // 60 + delay
        end = self.outage(service, start, duration, shares)
        if end is None:
            raise RuntimeError(f"no room for the incident after deployment {row} of {service}")
        self.incident(service, start, end, severity, title, caused_by=row)

    # -- the month's story --------------------------------------------------------------
    def story(self) -> None:
        """Incidents: deploy-caused, the fragile services' outages, random ones, internal ones."""
        rng = self.rng
        used: set[int] = set()

        # One payments-api release breaks payments-api and, through it, checkout: two incidents
        # name the same deployment (change failure rate counts it once).
        row = self.pick_deployment("payments-api", used)
        self.deployments.loc[row, "status"] = "rolled_back"
        self.caused(
            row,
            "payments-api",
            {"availability": float(rng.uniform(0.25, 0.5))},
            int(rng.integers(15, 40)),
            "SEV2",
            "Elevated 5xx on payments-api after deploy",
            int(rng.integers(3, 10)),
        )
        self.caused(
            row,
            "checkout",
            {"availability": float(rng.uniform(0.15, 0.3))},
            int(rng.integers(10, 25)),
            "SEV2",
            "Checkout payment step failing: payments-api rejecting card tokens",
            int(rng.integers(5, 12)),
        )
        used.add(row)

        # Two more bad releases, rolled back or failed midway.
        for service in rng.choice(["checkout", "search", "catalog", "auth", "notifications"], 2):
            service = str(service)
            row = self.pick_deployment(service, used)
            self.deployments.loc[row, "status"] = str(rng.choice(["rolled_back", "failed"]))
            if rng.random() < 0.5:
                shares = {"availability": float(rng.uniform(0.2, 0.6))}
                title = f"Elevated 5xx on {service} after deploy"
            else:
                shares = {"latency": float(rng.uniform(0.3, 0.7))}
                title = f"{service} latency regression after release"
            self.caused(
                row,
                service,
                shares,
                int(rng.integers(10, 45)),
                "SEV2" if rng.random() < 0.4 else "SEV3",
                title,
                int(rng.integers(3, 15)),
            )
            used.add(row)

        # A release that "succeeded" but shipped a bad flag, fixed forward.
        service = str(rng.choice(["catalog", "api-gateway", "recommendations"]))
        row = self.pick_deployment(service, used)
        self.deployments.loc[row, "status"] = "success"
        self.caused(
            row,
            service,
            {"latency": float(rng.uniform(0.2, 0.4))},
            int(rng.integers(10, 30)),
            "SEV3",
            f"Wrong feature flag default on {service} after release (fixed forward)",
            int(rng.integers(5, 20)),
        )
        used.add(row)

        # The fragile services: one outage each, sized to overspend the budget.
        self.fragile(
            "recommendations",
            "availability",
            (0.5, 0.8),
            "SEV1",
            "Recommendations unavailable: feature store timeouts",
        )
        self.fragile(
            "search", "latency", (0.6, 0.8), "SEV2", "Search latency degraded during index rebuild"
        )

        # Everyday incidents on any service; the first one flaps and resolves unacknowledged.
        names = [s.name for s in SERVICES]
        for number in range(int(rng.integers(6, 10))):
            auto = number == 0 or rng.random() < 0.15
            service = str(rng.choice(names))
            kind = str(rng.choice(["availability", "latency", "both"], p=[0.45, 0.4, 0.15]))
            share = float(rng.uniform(0.15, 0.6))
            duration = int(rng.integers(4, 12)) if auto else int(rng.integers(8, 60))
            shares = {"availability": share, "latency": share} if kind == "both" else {kind: share}
            for _ in range(200):
                start = int(rng.integers(60, self.minutes - 240))
                end = self.outage(service, start, duration, shares)
                if end is not None:
                    break
            else:
                raise RuntimeError(f"no room for an incident on {service}")
            length = end - start
            if auto:
                severity, title = "SEV3", f"Brief error spike on {service} (auto-resolved)"
            else:
                severity = "SEV2" if share >= 0.4 and length >= 20 else "SEV3"
                templates = {
                    "availability": AVAILABILITY_TITLES,
                    "latency": LATENCY_TITLES,
                    "both": BOTH_TITLES,
                }[kind]
                title = self.title(templates, service)
            detection = (30, 150) if length <= 8 else (60, 480)
            self.incident(
                service,
                start,
                start + length,
                severity,
                title,
                acknowledged=not auto,
                detection=detection,
            )

        # Internal incidents: no customer impact, so no SLI dip.
        for number in range(int(rng.integers(4, 7))):
            service = str(rng.choice(names))
            duration = int(rng.integers(20, 240))
            for _ in range(200):
                start = int(rng.integers(60, self.minutes - 480))
                if self.outage(service, start, duration, {}) is not None:
                    break
            else:
                raise RuntimeError(f"no room for an internal incident on {service}")
            self.incident(
                service,
                start,
                start + duration,
                "SEV3" if rng.random() < 0.85 else "SEV2",
                self.title(INTERNAL_TITLES, service),
                started_known=rng.random() < 0.5 and number > 0,  # always one without
                detection=(0, 600),
            )

    def fragile(
        self, service: str, slo: str, share: tuple[float, float], severity: str, title: str
    ) -> None:
        """One afternoon outage on ``service``, just long enough to overspend ``slo``'s budget."""
        rng = self.rng
        key = (service, slo)
        low, high = FRAGILE_TARGET[key]
        target = float(rng.uniform(low, high))
        objective = self.slos[key].objective
        bad, total = self.bad[key], self.total[service]
        needed = target * (1.0 - objective) * total.sum() - bad.sum()
        longest = 16 * 60
        weekdays = np.flatnonzero(self.day_weekday[1:-1] < 5) + 1
        for day in rng.permutation(weekdays):
            start = int(day) * 1440 + int(rng.integers(12 * 60, 15 * 60))
            if start + longest > self.minutes - 180:
                continue
            dip = self.dip(service, start, longest, float(rng.uniform(*share)))
            gain = np.cumsum(dip - bad[start : start + longest])
            length = int(np.searchsorted(gain, needed)) + 1
            length = -(-length // 5) * 5
            if length > longest or not self.free(service, start, start + length):
                continue
            bad[start : start + length] = dip[:length]
            self.busy[service].append((start, start + length))
            self.incident(service, start, start + length, severity, title)
            return
        raise RuntimeError(f"no room for the {service} outage")

    # -- work log -----------------------------------------------------------------------
    def worklog(self) -> pd.DataFrame:
        """Each weekday about 8 hours per person in quarter hours, split by the team's shares."""
        rng = self.rng
        weekdays = np.flatnonzero(self.day_weekday < 5)
        dates = pd.date_range(self.start.tz_localize(None), periods=self.days, freq="D")
        parts = []
        for team, people in TEAM_PEOPLE.items():
            shares = np.array(TEAM_SHARES[team])
            day, person = np.meshgrid(weekdays, np.arange(len(people)), indexing="ij")
            day, person = day.ravel(), person.ravel()
            present = rng.random(len(day)) >= 0.05  # leave and sick days
            day, person = day[present], person[present]
            week = (self.start.day_of_week + day) // 7 + self.period.month * 5
            oncall = person == week % len(people)
            alpha = np.tile(shares, (len(day), 1))
            alpha[oncall, 1] -= 0.2  # the week's on-call engineer trades project for on-call
            alpha[oncall, 2] += 0.2
            draws = rng.gamma(alpha * 80.0)  # Dirichlet noise around the shares, per row
            noisy = draws / draws.sum(axis=1, keepdims=True)
            quarters = rng.choice([30, 32, 32, 32, 34], size=len(day))
            counts = rng.multinomial(quarters, noisy)
            for index, category in enumerate(frames.WORK_CATEGORIES):
                keep = counts[:, index] > 0
                parts.append(
                    pd.DataFrame(
                        {
                            "team": team,
                            "date": dates[day[keep]].strftime("%Y-%m-%d"),
                            "category": category,
                            "hours": counts[keep, index] * 0.25,
                            "person": np.array(people)[person[keep]],
                            "_order": day[keep] * 100 + person[keep] * 4 + index,
                        }
                    )
                )
        table = pd.concat(parts, ignore_index=True)
        table = table.sort_values(["date", "team", "_order"], kind="stable", ignore_index=True)
        return table.drop(columns="_order")

    # -- frames -------------------------------------------------------------------------
    def sli_frame(self) -> pd.DataFrame:
        keys = list(self.slos)
        stamps = self.start.value + np.arange(self.minutes, dtype=np.int64) * _MINUTE.value
        services = sorted({k[0] for k in keys})
        slo_names = sorted({k[1] for k in keys})
        total = np.concatenate([self.total[s] for s, _ in keys])
        bad = np.concatenate([self.bad[k] for k in keys])
        repeat = self.minutes
        return pd.DataFrame(
            {
                "timestamp": pd.to_datetime(np.tile(stamps, len(keys)), unit="ns", utc=True),
                "service": pd.Categorical.from_codes(
                    np.repeat([services.index(s) for s, _ in keys], repeat), categories=services
                ),
                "slo": pd.Categorical.from_codes(
                    np.repeat([slo_names.index(n) for _, n in keys], repeat), categories=slo_names
                ),
                "good": total - bad,
                "total": total,
            }
        )

    def deployment_frame(self) -> pd.DataFrame:
        """Deployments in time order, numbered ``DEP-YYYY-MM-NNNN``; sets ``deployment_ids``."""
        table = self.deployments.sort_values(["deployed", "service"], kind="stable")
        label = self.period.label
        ids = [f"DEP-{label}-{i:04d}" for i in range(1, len(table) + 1)]
        self.deployment_ids = dict(zip(table.index, ids, strict=True))
        return pd.DataFrame(
            {
                "id": ids,
                "service": table["service"].to_numpy(),
                "deployed_at": self.instants(table["deployed"]),
                "status": table["status"].to_numpy(),
                "commit_at": self.instants(table["commit"]),
                "environment": "production",
            }
        )

    def instants(self, seconds: Sequence[float | None] | pd.Series) -> pd.DatetimeIndex:
        """Seconds from the month start (``None``/NaN for missing) as UTC instants."""
        values = pd.to_numeric(pd.Series(seconds, dtype="object"), errors="coerce")
        return pd.DatetimeIndex(self.start + pd.to_timedelta(values.to_numpy("float64"), unit="s"))

    def incident_frame(self) -> pd.DataFrame:
        """Incidents in order of creation, numbered ``INC-YYYY-MM-NNN``."""
        incidents = sorted(self.incidents, key=lambda i: (i.created, i.service))
        label = self.period.label
        ids = [f"INC-{label}-{i:03d}" for i in range(1, len(incidents) + 1)]
        return pd.DataFrame(
            {
                "id": ids,
                "service": [i.service for i in incidents],
                "severity": [i.severity for i in incidents],
                "created_at": self.instants([i.created for i in incidents]),
                "resolved_at": self.instants([i.end * 60 for i in incidents]),
                "title": [i.title for i in incidents],
                "acknowledged_at": self.instants([i.acknowledged for i in incidents]),
                "started_at": self.instants(
                    [None if i.started is None else i.started * 60 for i in incidents]
                ),
                "urgency": [i.urgency for i in incidents],
                "caused_by": [
                    None if i.caused_by is None else self.deployment_ids[i.caused_by]
                    for i in incidents
                ],
                "postmortem_url": [
                    f"https://wiki.example.com/postmortems/{id_}"
                    if i.severity in ("SEV1", "SEV2")
                    else None
                    for id_, i in zip(ids, incidents, strict=True)
                ],
            }
        )

    def build(self) -> dict[str, pd.DataFrame]:
        self.traffic()
        self.make_deployments()
        self.story()
        worklog = self.worklog()
        raw = {
            "sli": (self.sli_frame(), frames.SLI),
            "deployments": (self.deployment_frame(), frames.DEPLOYMENTS),
            "incidents": (self.incident_frame(), frames.INCIDENTS),
            "worklog": (worklog, frames.WORKLOG),
        }
        result = {
            key: frames.validate(frame, spec, where="sample", first_row=1)
            for key, (frame, spec) in raw.items()
        }
        return {key: result[key] for key in ("sli", "incidents", "deployments", "worklog")}


@lru_cache(maxsize=3)
def _generated(year: int, month: int) -> dict[str, pd.DataFrame]:
    """All four frames of one UTC month; few are kept, as the SLI frame is large."""
    return _MonthBuilder(year, month).build()


@lru_cache(maxsize=240)
def _small(year: int, month: int) -> dict[str, pd.DataFrame]:
    """Incidents, deployments and work log of one UTC month, kept for many months."""
    result = _generated(year, month)
    return {key: result[key] for key in ("incidents", "deployments", "worklog")}


def generate(month: Month) -> dict[str, pd.DataFrame]:
    """Canonical ``sli``, ``incidents``, ``deployments`` and ``worklog`` frames of one month.

    The month is taken as a UTC calendar month; the same month always gives equal frames.
    """
    result = _generated(month.year, month.month)
    return {key: frame.copy() for key, frame in result.items()}


def _utc_months(months: Sequence[Month]) -> list[Month]:
    """The UTC calendar months that overlap ``months`` (which may be in another time zone)."""
    found: set[tuple[int, int]] = set()
    for month in months:
        first = month.start
        last = month.end - pd.Timedelta(nanoseconds=1)
        current = Month(first.year, first.month)
        while (current.year, current.month) <= (last.year, last.month):
            found.add((current.year, current.month))
            current = current.next()
    return [Month(y, m) for y, m in sorted(found)]


def load(source: Source, config: Config, role: str, span: Span) -> pd.DataFrame:
    """Loader for ``kind: sample``: the sample organisation's frame for ``role`` in ``span``."""
    return load_span(role, span)


def load_span(role: str, span: Span) -> pd.DataFrame:
    """The sample organisation's canonical frame for ``role`` over the instants of ``span``."""
    from reliability.sources import ROLES

    spec = ROLES[role]
    parts = []
    for month in _utc_months(span.months):
        if role == "metrics":
            _small(month.year, month.month)  # keep the small frames before the SLI is evicted
            parts.append(_generated(month.year, month.month)["sli"])
        else:
            parts.append(_small(month.year, month.month)[role])
    if not parts:
        return frames.empty(spec)
    frame = frames.concat(parts, spec)
    if role == "worklog":  # days that overlap the span, in its time zone
        day = frame["date"].dt.tz_localize(
            span.timezone, nonexistent="shift_forward", ambiguous=True
        )
        inside = (day < span.end) & (day + pd.Timedelta(days=1) > span.start)
    else:
        column = {"metrics": "timestamp", "incidents": "created_at"}.get(role, "deployed_at")
        inside = span.contains(frame[column])
    return frame.loc[inside.to_numpy()].reset_index(drop=True)


def _csv_text(frame: pd.DataFrame, spec: frames.TableSpec) -> pd.DataFrame:
    """A canonical frame as CSV cells: instants ISO 8601 with ``Z``, dates ``YYYY-MM-DD``."""
    out = {}
    for col in spec.columns:
        values = frame[col.name]
        if col.kind == "instant":
            if spec is frames.SLI:
                # one string per distinct minute, not per row
                codes, uniques = pd.factorize(values)
                labels = pd.DatetimeIndex(uniques).strftime(_INSTANT_FORMAT).to_numpy()
                out[col.name] = labels[codes]
            else:
                out[col.name] = values.dt.strftime(_INSTANT_FORMAT)
        elif col.kind == "date":
            out[col.name] = values.dt.strftime("%Y-%m-%d")
        else:
            out[col.name] = values
    return pd.DataFrame(out)


def write_sample(out_dir: Path, month: Month) -> Path:
    """Write one month of the sample as canonical CSV files plus a config that reads them.

    Returns the path of the written ``reliability.yaml``.
    """
    from reliability.metrics.slo import alert_lookback
    from reliability.sources import ROLES

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # The month and the days before it that its alert replay reads.
    span = Span.of([month], lookback=alert_lookback())
    for role, spec in ROLES.items():
        frame = load_span(role, span)
        _csv_text(frame, spec).to_csv(out_dir / SAMPLE_FILES[role], index=False, na_rep="")
    config = sample_config()
    files = config.model_copy(
        update={
            "sources": Sources(
                **{role: Source(kind="csv", path=name) for role, name in SAMPLE_FILES.items()}
            )
        }
    )
    path = out_dir / "reliability.yaml"
    header = (
        f"# The sample organisation for {month.label}, written by `reliability sample`.\n"
        "# Edit the services and SLOs, or point the sources at your own files.\n"
    )
    text = files.to_yaml()
    if not text.startswith("timezone:"):  # ``to_yaml`` leaves out defaults; show it all the same
        text = f"timezone: {files.timezone}\n" + text
    path.write_text(header + text, encoding="utf-8")
    written = load_config(path)
    if written.services != config.services or written.severities != config.severities:
        raise RuntimeError(f"{path} does not read back as the sample config")
    return path
