"""Every source kind and the module whose ``PLUGIN`` loads it (imported on first use, so a
kind's client library loads only when a config names that kind).

To add a source: its options model in ``reliability/source_options.py`` (and in the union
there), a module here defining ``PLUGIN = Plugin(Options, loader)``, and one line below.
"""

from __future__ import annotations

from importlib import import_module

from reliability.sources.base import Plugin

PLUGIN_MODULES: dict[str, str] = {
    "csv": "reliability.sources.local",
    "parquet": "reliability.sources.local",
    "sample": "reliability.sources.local",
    "prometheus": "reliability.sources.prometheus",
    "pagerduty": "reliability.sources.pagerduty",
    "statuspage": "reliability.sources.statuspage",
    "github_deployments": "reliability.sources.github",
    "sql": "reliability.sources.sql",
}
"""Every source kind the config may name, and the module of its plugin."""


def plugin(kind: str) -> Plugin:
    """The plugin of ``kind`` (``KeyError`` for a kind no module provides)."""
    module = import_module(PLUGIN_MODULES[kind])
    found: Plugin = module.PLUGINS[kind] if hasattr(module, "PLUGINS") else module.PLUGIN
    return found
