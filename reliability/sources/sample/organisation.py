"""Who the sample organisation is: its services, teams, people and SLOs, at any fleet size.

The built-in organisation is 9 services in 3 teams. A larger fleet (for benchmarks and scale
tests) is made of *blocks*: block 0 is the built-in organisation itself, and every further
block is a copy of it under new names (``checkout-2``, team ``payments-2``) with its own random
stream, so the first 9 services keep exactly the built-in data whatever the fleet's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from reliability.config import SLO, Config, CostConfig, Indicator, Service, Source, Sources

SEED = 20261001
"""The project seed; each month's generator is seeded with it and ``year * 100 + month``
(and the block number, for blocks after the first)."""
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
SEVERITIES = ("SEV1", "SEV2", "SEV3")
RTO = {"SEV1": "1h", "SEV2": "2h", "SEV3": "4h"}
"""The sample's recovery time objectives per severity; the payments services' are tighter."""
PAYMENTS_RTO = (("SEV1", "30m"), ("SEV2", "30m"))
RPO = "1h"


@dataclass(frozen=True)
class ServiceSpec:
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
    rto: tuple[tuple[str, str], ...] = ()
    """This service's own RTO per severity (the sample's ``RTO`` fills the rest)."""
    rpo: str | None = None


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "checkout", "payments", 2400, 0.9995, 0.99, 0.3, 30, 20, rto=PAYMENTS_RTO, rpo="15m"
    ),
    ServiceSpec(
        "payments-api", "payments", 1500, 0.999, 0.99, 0.5, 12, 26, rto=PAYMENTS_RTO, rpo="15m"
    ),
    ServiceSpec(
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
        rpo="5m",
    ),
    ServiceSpec(
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
    ServiceSpec(
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
    ServiceSpec("notifications", "platform", 600, 0.995, 0.95, 2.0, 4.5, 48, protocol="grpc"),
    ServiceSpec("search", "discovery", 5000, 0.999, 0.995, 0.4, 22, 18, background=(0.15, 0.3)),
    ServiceSpec("catalog", "discovery", 2000, 0.999, 0.99, 0.25, 12, 30),
    ServiceSpec(
        "recommendations", "discovery", 800, 0.999, 0.95, 0.5, 25, 10, background=(0.3, 0.2)
    ),
)
"""The built-in organisation (block 0 of every fleet)."""
TEAM_PEOPLE = {
    "payments": ("ana", "bruno", "chen", "dara"),
    "platform": ("emeka", "farah", "gus", "hiro", "ines"),
    "discovery": ("jon", "kemi", "lars"),
}
LEANED_ON = {"platform": ("gus", 0.7)}
"""The team that leans on one person, and the share of its incidents that person handles (the
others share the rest evenly; every other team shares its incidents evenly)."""
ALERT_RULES = {
    # rule: service, severity, has a runbook, episodes a month (mean), minutes (low, high)
    "NodeCPUSaturated": ("api-gateway", "critical", True, 9.0, (1, 4)),  # flaps: noise
    "KafkaConsumerLag": ("notifications", "critical", False, 3.0, (15, 50)),  # no incident
    "SearchIndexLagging": ("search", "critical", True, 1.5, (2, 5)),
    "DiskSpaceLow": ("ledger", "warning", False, 6.0, (30, 240)),
    "CertificateExpiresSoon": ("auth", "warning", True, 1.0, (600, 1440)),
}
"""The sample's alerting rules besides those behind its incidents (an incident of high urgency
fires ``HighErrorRate``, one of low urgency ``ElevatedLatency``): some noisy, some paging
for nothing anyone declared, some without a runbook."""
RUNBOOKS = "https://runbooks.example.com/"
"""Where the sample's runbooks live; a rule's runbook is this plus its name."""
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
"""What each service depends on, named in incident titles."""


CLOUD_SPEND = {
    # service: (compute per month, storage per month), in USD before the month's drift
    "checkout": (2600.0, 310.0),
    "payments-api": (1900.0, 240.0),
    "ledger": (700.0, 880.0),
    "api-gateway": (5200.0, 120.0),
    "auth": (2300.0, 150.0),
    "notifications": (650.0, 90.0),
    "search": (3100.0, 420.0),
    "catalog": (1500.0, 530.0),
    "recommendations": (2800.0, 610.0),
}
"""What each sample service costs a month in its cloud bill (FOCUS export, ``cost`` input)."""
SEARCH_CLUSTER = ("search", "Amazon OpenSearch Service", 1800.0)
"""A charge with no service tag, mapped to its service by ``cost.services`` (ServiceName)."""
CDN = ("api-gateway", "Amazon CloudFront", 1240.0)
"""A charge period from the 16th to the 16th of the next month, split between the two."""
SHARED = (("shared-network", "Amazon Virtual Private Cloud", 610.0), (None, "AWS CloudTrail", 95.0))
"""Spend no report service owns (a tag naming no service, no tag at all): unattributed."""
CREDIT = ("checkout", "Amazon Elastic Compute Cloud", -50.0)
"""A promotional credit, a negative charge."""


@dataclass(frozen=True)
class Block:
    """One copy of the built-in organisation under its own names: 9 services in 3 teams."""

    index: int
    """0 for the built-in organisation; names of block ``i > 0`` end in ``-{i + 1}``."""

    def name(self, builtin: str) -> str:
        """This block's name for a built-in service, team, person or dependency."""
        return builtin if self.index == 0 else f"{builtin}-{self.index + 1}"

    def seed(self, year: int, month: int) -> list[int]:
        """The random stream of one month of this block (block 0's is the built-in one)."""
        key = [SEED, year * 100 + month]
        return key if self.index == 0 else [*key, self.index]

    @cached_property
    def services(self) -> tuple[ServiceSpec, ...]:
        return tuple(
            ServiceSpec(
                **{**spec.__dict__, "name": self.name(spec.name), "team": self.name(spec.team)}
            )
            for spec in SERVICES
        )

    @cached_property
    def people(self) -> dict[str, tuple[str, ...]]:
        return {
            self.name(team): tuple(self.name(p) for p in people)
            for team, people in TEAM_PEOPLE.items()
        }

    @cached_property
    def leaned_on(self) -> dict[str, tuple[str, float]]:
        return {self.name(t): (self.name(p), share) for t, (p, share) in LEANED_ON.items()}

    @cached_property
    def shares(self) -> dict[str, tuple[float, float, float, float]]:
        return {self.name(team): shares for team, shares in TEAM_SHARES.items()}

    @cached_property
    def upstream(self) -> dict[str, str]:
        return {self.name(s): self.name(u) for s, u in UPSTREAM.items()}

    @cached_property
    def fragile(self) -> dict[tuple[str, str], tuple[float, float]]:
        return {(self.name(s), slo): target for (s, slo), target in FRAGILE_TARGET.items()}


@dataclass(frozen=True)
class Fleet:
    """The first ``size`` services of as many blocks as they need."""

    size: int

    @property
    def blocks(self) -> tuple[Block, ...]:
        return tuple(Block(i) for i in range(-(-self.size // len(SERVICES))))

    @property
    def services(self) -> tuple[ServiceSpec, ...]:
        return tuple(s for block in self.blocks for s in block.services)[: self.size]


def fleet(services: int | None = None) -> Fleet:
    """The sample fleet: the built-in 9 services (``None``), or the first ``services`` of the
    blocks."""
    if services is None:
        return Fleet(len(SERVICES))
    if isinstance(services, bool) or not isinstance(services, int) or services < 1:
        raise ValueError(f"the sample needs at least 1 service, got {services!r}")
    return Fleet(services)


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


def _indicators(spec: ServiceSpec) -> tuple[Indicator, Indicator]:
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


def service_config(spec: ServiceSpec) -> Service:
    """A sample service as the config holds it: its team and its two SLOs."""
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
    return Service(name=spec.name, team=spec.team, slos=slos, rto=dict(spec.rto), rpo=spec.rpo)


def sample_config(services: int | None = None) -> Config:
    """The sample organisation's config: by default 9 services in 3 teams, each service with
    two SLOs; with ``services``, that many services of the larger fleet (teams of 3)."""
    chosen = fleet(services)
    source = Source(kind="sample") if services is None else Source(kind="sample", services=services)
    owner, service_name, _ = SEARCH_CLUSTER
    mapped = {service_name: owner} if any(s.name == owner for s in chosen.services) else {}
    return Config(
        timezone="UTC",
        severities=list(SEVERITIES),
        rto=dict(RTO),
        rpo=RPO,
        sources=Sources(
            metrics=source,
            incidents=source,
            deployments=source,
            worklog=source,
            cost=source,
            alerts=source,
        ),
        services=[service_config(spec) for spec in chosen.services],
        cost=CostConfig(currency="USD", services=mapped),
    )
