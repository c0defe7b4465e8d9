"""The deterministic month builder: one UTC month of the sample fleet, as validated frames.

Each month is generated on its own from a fixed seed plus the month (plus the block, for the
blocks of a larger fleet), so the same month always gives identical frames. The story is
stable by design, not by luck:

* background bad events stay well inside every budget (a fixed share of it, capped per minute);
* every outage is sized against its SLOs' budgets: a healthy SLO never passes
  ``HEALTHY_LIMIT`` of its budget, while two *fragile* SLOs (recommendations availability,
  search latency) get an outage sized to overspend their budget every month;
* every outage minute has at least ``DIP_FLOOR`` of its events bad and every other minute at
  most ``BACKGROUND_CAP``, so an incident's window is exactly the minutes of its dip.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reliability import frames
from reliability.config import SLO
from reliability.period import Month
from reliability.sources.sample.organisation import (
    ALERT_RULES,
    BACKGROUND_CAP,
    CDN,
    CLOUD_SPEND,
    CREDIT,
    DIP_FLOOR,
    GAP_MINUTES,
    HEALTHY_LIMIT,
    RUNBOOKS,
    SEARCH_CLUSTER,
    SHARED,
    Block,
    Fleet,
    service_config,
)

_MINUTE = pd.Timedelta(minutes=1)
POSTMORTEM_STREAM = 1207
"""Key of the random stream postmortems are drawn from, apart from the month's own stream so
that adding them changed no other figure of the sample."""
ALERT_STREAM = 1409
"""Key of the random stream the alert history is drawn from, apart from the month's own."""
RESPONDER_STREAM = 1312
"""Key of the random stream responders are drawn from, apart from the month's own stream."""
POSTMORTEM_HOURS = (18, 216)
"""Range of hours from resolution to a postmortem's publication."""
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


def consumed_budget(bad: np.ndarray, total: np.ndarray, slo: SLO) -> float:
    """Budget consumed by per-minute bad/total counts under ``slo``'s budgeting."""
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
    """Builds one UTC month of one block of the fleet; every draw comes from one generator."""

    def __init__(self, year: int, month: int, block: Block):
        self.block = block
        self.specs = block.services
        self.period = Month(year, month)
        self.rng = np.random.default_rng(block.seed(year, month))
        self.start = self.period.start.as_unit("ns")
        self.minutes = int(self.period.duration // _MINUTE)
        self.days = self.minutes // 1440
        minute = np.arange(self.minutes)
        self.hour = (minute % 1440) / 60.0
        self.day_weekday = (self.start.day_of_week + np.arange(self.days)) % 7
        self.weekday = self.day_weekday[minute // 1440]
        self.slos = {(s.name, o.name): o for s in map(service_config, self.specs) for o in s.slos}
        self.total: dict[str, np.ndarray] = {}
        self.bad: dict[tuple[str, str], np.ndarray] = {}
        self.busy: dict[str, list[tuple[int, int]]] = {s.name: [] for s in self.specs}
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
        for spec in self.specs:
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
                if key in self.block.fragile or self.consumed(service, slo) <= HEALTHY_LIMIT:
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
        return template.format(svc=service, up=self.block.upstream[service])

    # -- deployments --------------------------------------------------------------------
    def make_deployments(self) -> None:
        """Production deployments per service at its own cadence, in working hours mostly."""
        rng = self.rng
        weights = np.where(self.day_weekday >= 5, 0.08, 1.0)
        parts = []
        for spec in self.specs:
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
        name = self.block.name
        used: set[int] = set()

        # One payments-api release breaks payments-api and, through it, checkout: two incidents
        # name the same deployment (change failure rate counts it once).
        payments_api = name("payments-api")
        row = self.pick_deployment(payments_api, used)
        self.deployments.loc[row, "status"] = "rolled_back"
        self.caused(
            row,
            payments_api,
            {"availability": float(rng.uniform(0.25, 0.5))},
            int(rng.integers(15, 40)),
            "SEV2",
            f"Elevated 5xx on {payments_api} after deploy",
            int(rng.integers(3, 10)),
        )
        self.caused(
            row,
            name("checkout"),
            {"availability": float(rng.uniform(0.15, 0.3))},
            int(rng.integers(10, 25)),
            "SEV2",
            f"Checkout payment step failing: {payments_api} rejecting card tokens",
            int(rng.integers(5, 12)),
        )
        used.add(row)

        # Two more bad releases, rolled back or failed midway.
        for service in rng.choice(
            [name(s) for s in ("checkout", "search", "catalog", "auth", "notifications")], 2
        ):
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
        service = str(rng.choice([name(s) for s in ("catalog", "api-gateway", "recommendations")]))
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
            name("recommendations"),
            "availability",
            (0.5, 0.8),
            "SEV1",
            "Recommendations unavailable: feature store timeouts",
        )
        self.fragile(
            name("search"),
            "latency",
            (0.6, 0.8),
            "SEV2",
            "Search latency degraded during index rebuild",
        )

        # Everyday incidents on any service; the first one flaps and resolves unacknowledged.
        names = [s.name for s in self.specs]
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
        low, high = self.block.fragile[key]
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
        for team, people in self.block.people.items():
            shares = np.array(self.block.shares[team])
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
    def series(self) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
        """Per SLO in config order: service, SLO, and good and total events of every minute."""
        return [(s, o, self.total[s] - self.bad[(s, o)], self.total[s]) for s, o in self.slos]

    def id_suffix(self) -> str:
        """Ids of later blocks end in the block's name suffix, so the fleet's ids stay unique."""
        return "" if self.block.index == 0 else f"-{self.block.index + 1}"

    def deployment_frame(self) -> pd.DataFrame:
        """Deployments in time order, numbered ``DEP-YYYY-MM-NNNN``; sets ``deployment_ids``."""
        table = self.deployments.sort_values(["deployed", "service"], kind="stable")
        label, suffix = self.period.label, self.id_suffix()
        ids = [f"DEP-{label}-{i:04d}{suffix}" for i in range(1, len(table) + 1)]
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
        label, suffix = self.period.label, self.id_suffix()
        ids = [f"INC-{label}-{i:03d}{suffix}" for i in range(1, len(incidents) + 1)]
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
                **self.postmortems(ids, incidents),
                "responder": self.responders(incidents),
            }
        )

    def responders(self, incidents: list[_Incident]) -> list[str]:
        """Who handled each incident: a person of the service's team, the leaned-on person
        for their share of their team's incidents (``organisation.LEANED_ON``)."""
        key = self.block.seed(self.period.year, self.period.month)
        rng = np.random.default_rng([*key, self.block.index, RESPONDER_STREAM])
        team_of = {spec.name: spec.team for spec in self.block.services}
        lean, pick = rng.random(len(incidents)), rng.random(len(incidents))
        chosen = []
        for incident, u, v in zip(incidents, lean, pick, strict=True):
            team = team_of[incident.service]
            hero, share = self.block.leaned_on.get(team, (None, 0.0))
            others = [p for p in self.block.people[team] if p != hero]
            chosen.append(hero if u < share else others[int(v * len(others))])
        return chosen

    def postmortems(self, ids: list[str], incidents: list[_Incident]) -> dict[str, list]:
        """Postmortem link, publication time and open action items of each SEV1/SEV2 incident;
        one of them each month (when there are two or more) has no postmortem yet."""
        key = self.block.seed(self.period.year, self.period.month)
        rng = np.random.default_rng([*key, self.block.index, POSTMORTEM_STREAM])
        major = [i.severity in ("SEV1", "SEV2") for i in incidents]
        positions = [pos for pos, flag in enumerate(major) if flag]
        skipped = int(rng.choice(positions)) if len(positions) >= 2 else -1
        hours = rng.uniform(*POSTMORTEM_HOURS, size=len(incidents))
        open_items = rng.integers(0, 4, size=len(incidents))
        written = [flag and pos != skipped for pos, flag in enumerate(major)]
        return {
            "postmortem_url": [
                f"https://wiki.example.com/postmortems/{id_}" if done else None
                for id_, done in zip(ids, written, strict=True)
            ],
            "postmortem_at": self.instants(
                [
                    i.end * 60 + round(h * 60) * 60 if done else None
                    for i, h, done in zip(incidents, hours, written, strict=True)
                ]
            ),
            "action_items_open": pd.array(
                [int(n) if done else None for n, done in zip(open_items, written, strict=True)],
                dtype="Int64",
            ),
        }

    def alert_history(self, incidents: pd.DataFrame) -> pd.DataFrame:
        """The month's firing alerts, Prometheus-style: one behind each incident (from a few
        minutes before it was opened to a few after it was resolved), and the episodes of the
        rules of ``organisation.ALERT_RULES``, at random minutes of the month."""
        key = self.block.seed(self.period.year, self.period.month)
        rng = np.random.default_rng([*key, self.block.index, ALERT_STREAM])
        high = (incidents["urgency"] == "high").to_numpy()
        lead = pd.to_timedelta(rng.integers(60, 240, size=len(incidents)), unit="s")
        tail = pd.to_timedelta(rng.integers(0, 600, size=len(incidents)), unit="s")
        behind = pd.DataFrame(
            {
                "alert": np.where(high, "HighErrorRate", "ElevatedLatency"),
                "service": incidents["service"].to_numpy(),
                "severity": np.where(high, "critical", "warning"),
                "started_at": incidents["created_at"] - lead,
                "ended_at": incidents["resolved_at"] + tail,
            }
        )
        behind["runbook_url"] = RUNBOOKS + behind["alert"]
        parts = [behind]
        for rule, (service, severity, runbook, mean, (low, high_)) in ALERT_RULES.items():
            count = int(rng.poisson(mean))
            start = self.start + pd.to_timedelta(
                np.sort(rng.integers(0, self.minutes - 1440, size=count)), unit="min"
            )
            length = pd.to_timedelta(rng.integers(low, high_ + 1, size=count), unit="min")
            parts.append(
                pd.DataFrame(
                    {
                        "alert": rule,
                        "service": self.block.name(service),
                        "severity": severity,
                        "started_at": start,
                        "ended_at": start + length,
                        "runbook_url": RUNBOOKS + rule if runbook else None,
                    }
                )
            )
        history = pd.concat(parts, ignore_index=True)
        return history.sort_values(["started_at", "alert"], kind="stable").reset_index(drop=True)

    def build(self) -> _BlockMonth:
        self.traffic()
        self.make_deployments()
        self.story()
        worklog = self.worklog()
        deployments = self.deployment_frame()  # numbers the deployments incidents name
        incidents = self.incident_frame()
        alerts = self.alert_history(incidents)
        return _BlockMonth(self.series(), incidents, deployments, worklog, alerts)


@dataclass
class _BlockMonth:
    """One block's month before validation: SLI series and the three small tables."""

    series: list[tuple[str, str, np.ndarray, np.ndarray]]
    incidents: pd.DataFrame
    deployments: pd.DataFrame
    worklog: pd.DataFrame
    alerts: pd.DataFrame


def _sli_frame(
    period: Month, series: list[tuple[str, str, np.ndarray, np.ndarray]]
) -> pd.DataFrame:
    """One row per SLO and minute, SLO after SLO, with service and SLO names as categories."""
    minutes = int(period.duration // _MINUTE)
    start = period.start.as_unit("ns")
    stamps = start.value + np.arange(minutes, dtype=np.int64) * _MINUTE.value
    instants = np.tile(stamps, len(series)).view("M8[ns]")  # nanoseconds since 1970, UTC
    services = sorted({s for s, *_ in series})
    slo_names = sorted({o for _, o, *_ in series})
    service_code = {name: i for i, name in enumerate(services)}
    slo_code = {name: i for i, name in enumerate(slo_names)}
    return pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(instants).tz_localize("UTC"),
            "service": pd.Categorical.from_codes(
                np.repeat([service_code[s] for s, *_ in series], minutes), categories=services
            ),
            "slo": pd.Categorical.from_codes(
                np.repeat([slo_code[o] for _, o, *_ in series], minutes), categories=slo_names
            ),
            "good": np.concatenate([good for *_, good, _ in series]),
            "total": np.concatenate([total for *_, total in series]),
        }
    )


def build_month(year: int, month: int, size: int) -> dict[str, pd.DataFrame]:
    """The five validated frames (SLI, incidents, deployments, work log, alerts) of one UTC
    month of the fleet's first ``size`` services."""
    chosen = Fleet(size)
    kept = {s.name for s in chosen.services}
    teams = {s.team for s in chosen.services}
    blocks = [_MonthBuilder(year, month, block).build() for block in chosen.blocks]
    series = [s for block in blocks for s in block.series if s[0] in kept]
    incidents = _rows_of(pd.concat([b.incidents for b in blocks]), "service", kept)
    deployments = _rows_of(pd.concat([b.deployments for b in blocks]), "service", kept)
    causes = incidents["caused_by"]
    known = causes.isna() | causes.isin(deployments["id"])
    if not known.all():  # the deployment lies beyond the fleet's last service: no known cause
        incidents["caused_by"] = causes.where(known, None)
    raw = {
        "sli": (_sli_frame(Month(year, month), series), frames.SLI),
        "incidents": (incidents, frames.INCIDENTS),
        "deployments": (deployments, frames.DEPLOYMENTS),
        "worklog": (
            _rows_of(pd.concat([b.worklog for b in blocks]), "team", teams),
            frames.WORKLOG,
        ),
        "alerts": (_rows_of(pd.concat([b.alerts for b in blocks]), "service", kept), frames.ALERTS),
    }
    return {
        key: frames.validate(frame, spec, where="sample", first_row=1)
        for key, (frame, spec) in raw.items()
    }


def _rows_of(table: pd.DataFrame, column: str, names: set[str]) -> pd.DataFrame:
    """The rows of ``table`` whose ``column`` is one of ``names``, numbered from 0."""
    return table[table[column].isin(names)].reset_index(drop=True)


FOCUS_COLUMNS = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingCategory",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ServiceCategory",
    "ServiceName",
    "SubAccountId",
    "SubAccountName",
    "Tags",
)
"""The FOCUS 1.x columns the sample's cost export carries (its mandatory ones and more)."""
_CATEGORY = {
    "Amazon Elastic Compute Cloud": "Compute",
    "Amazon Simple Storage Service": "Storage",
    "Amazon OpenSearch Service": "Analytics",
    "Amazon CloudFront": "Networking",
    "Amazon Virtual Private Cloud": "Networking",
    "AWS CloudTrail": "Management and Governance",
}
_STAMP = "%Y-%m-%dT%H:%M:%SZ"


def cost_drift(year: int, month: int) -> float:
    """The month's factor on every sample charge: spend moves a little from month to month."""
    return 1.0 + 0.03 * ((year * 12 + month) % 5)


def focus_export(year: int, month: int, size: int) -> pd.DataFrame:
    """The sample's FOCUS cost export of one UTC month, as a CSV reads (every cell text): per
    service a compute and a storage charge, a search cluster tagged by team only, a CDN
    charge from the 16th to the 16th of the next month, shared spend no service owns and a
    credit."""
    period = Month(year, month)
    start, end = period.start, period.end
    cdn_start = start + pd.Timedelta(days=15)
    cdn_end = end + pd.Timedelta(days=15)
    drift = cost_drift(year, month)
    charges: list[tuple[str | None, str | None, str, float, pd.Timestamp, pd.Timestamp, str]] = []
    chosen = {spec.name for spec in Fleet(size).services}
    for block in Fleet(size).blocks:
        kept = [spec for spec in block.services if spec.name in chosen]
        teams = {s.name: s.team for s in kept}
        names = {block.name(n): n for n in CLOUD_SPEND}
        for spec in kept:
            compute, storage = CLOUD_SPEND[names[spec.name]]
            charges.append(
                (spec.name, spec.team, "Amazon Elastic Compute Cloud", compute, start, end, "Usage")
            )
            charges.append(
                (
                    spec.name,
                    spec.team,
                    "Amazon Simple Storage Service",
                    storage,
                    start,
                    end,
                    "Usage",
                )
            )
        extra = [
            (SEARCH_CLUSTER, start, end, "Usage", block.index > 0),
            (CDN, cdn_start, cdn_end, "Usage", True),
            (CREDIT, start, end, "Credit", True),
        ]
        for (owner, service_name, amount), first, after, category, tagged in extra:
            name = block.name(owner)
            if name in teams:
                charges.append(
                    (
                        name if tagged else None,
                        teams[name],
                        service_name,
                        amount,
                        first,
                        after,
                        category,
                    )
                )
        platform = next((s.team for s in kept if s.name == block.name("api-gateway")), None)
        if platform is not None:
            for owner, service_name, amount in SHARED:
                tag = None if owner is None else block.name(owner)
                charges.append(
                    (tag, platform if tag else None, service_name, amount, start, end, "Usage")
                )
    service, team, provider, amount, first, after, category = (
        list(c) for c in zip(*charges, strict=True)
    )
    billed = np.round(np.asarray(amount) * drift, 2)
    tags = [
        json.dumps({k: v for k, v in (("service", s), ("team", t)) if v}, separators=(",", ":"))
        for s, t in zip(service, team, strict=True)
    ]
    count = len(charges)
    money = [f"{value:.2f}" for value in billed]
    resource = [
        f"arn:aws:sample:eu-west-1:123456789012:{(s or 'shared')}/{p.split()[-1].lower()}"
        for s, p in zip(service, provider, strict=True)
    ]
    columns = {
        "BilledCost": money,
        "BillingAccountId": ["123456789012"] * count,
        "BillingAccountName": ["sample-organisation"] * count,
        "BillingCurrency": ["USD"] * count,
        "BillingPeriodEnd": [end.strftime(_STAMP)] * count,
        "BillingPeriodStart": [start.strftime(_STAMP)] * count,
        "ChargeCategory": category,
        "ChargeClass": [""] * count,
        "ChargeDescription": [
            f"{p} for {s or 'the organisation'}" for s, p in zip(service, provider, strict=True)
        ],
        "ChargeFrequency": ["Usage-Based" if c == "Usage" else "One-Time" for c in category],
        "ChargePeriodEnd": [t.strftime(_STAMP) for t in after],
        "ChargePeriodStart": [t.strftime(_STAMP) for t in first],
        "ContractedCost": money,
        "EffectiveCost": money,
        "InvoiceIssuerName": ["Amazon Web Services"] * count,
        "ListCost": [f"{value * 1.1:.2f}" for value in billed],
        "PricingCategory": ["Standard"] * count,
        "ProviderName": ["Amazon Web Services"] * count,
        "PublisherName": ["Amazon Web Services"] * count,
        "RegionId": ["eu-west-1"] * count,
        "RegionName": ["Europe (Ireland)"] * count,
        "ResourceId": resource,
        "ResourceName": [r.rsplit(":", 1)[-1] for r in resource],
        "ServiceCategory": [_CATEGORY[p] for p in provider],
        "ServiceName": provider,
        "SubAccountId": ["210987654321"] * count,
        "SubAccountName": ["production"] * count,
        "Tags": tags,
    }
    return pd.DataFrame(columns)[list(FOCUS_COLUMNS)]
