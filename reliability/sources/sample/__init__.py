"""The built-in sample organisation: a realistic, deterministic month of SRE data for any month.

With no config the product runs on this organisation, so a newcomer sees a full report at once;
``sample_config(services=200)`` gives a larger fleet of the same kind for benchmarks and scale
tests. Four modules: ``organisation`` (services, teams, SLOs, config), ``generator`` (the
deterministic month builder), ``spans`` (generated months in memory, spans of instants cut
from them up to now), ``writer`` (canonical files plus ``reliability.yaml``).
"""

from reliability.sources.sample.organisation import (
    BACKGROUND_CAP,
    DIP_FLOOR,
    FRAGILE_TARGET,
    HEALTHY_LIMIT,
    SEED,
    SERVICES,
    fleet,
    sample_config,
)
from reliability.sources.sample.spans import (
    clear_caches,
    focus_span,
    generate,
    load_cost,
    load_span,
)
from reliability.sources.sample.writer import SAMPLE_FILES, write_sample

__all__ = [
    "BACKGROUND_CAP",
    "DIP_FLOOR",
    "FRAGILE_TARGET",
    "HEALTHY_LIMIT",
    "SAMPLE_FILES",
    "SEED",
    "SERVICES",
    "clear_caches",
    "fleet",
    "focus_span",
    "generate",
    "load_cost",
    "load_span",
    "sample_config",
    "write_sample",
]
