"""Sources: the only code that reads files or talks to servers. Each returns canonical frames.

A source kind is a plugin (``base.Plugin``) found through ``registry.PLUGIN_MODULES``: the
pydantic model of its options (``reliability.source_options``, which also names the roles the
kind serves) and its loader. Adding one never touches ``metrics/``.
"""

from __future__ import annotations

from reliability.config import Config
from reliability.errors import InputError, Problem
from reliability.frames import Frames
from reliability.period import Span
from reliability.sources.base import ROLES, Loaded, LoadRequest, Plugin
from reliability.sources.registry import plugin

__all__ = ["ROLES", "LoadRequest", "Loaded", "Plugin", "load_frames", "plugin"]

_ATTRIBUTES = {"metrics": "sli"}
"""The ``Frames`` attribute of each role, where it differs from the role's name."""


def load_frames(config: Config, span: Span) -> Frames:
    """Load every configured source for ``span`` (rows outside it may come back too).

    Problems from all sources are gathered and raised together, so one run lists them all.
    """
    result = Frames()
    problems: list[Problem] = []
    for role in ROLES:
        options = getattr(config.sources, role)
        if options is None:
            continue
        try:
            loaded = plugin(options.kind).load(options, LoadRequest(config, role, span))
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        result.notes.extend(loaded.notes)
        setattr(result, _ATTRIBUTES.get(role, role), loaded.frame)
        if plugin(options.kind).answers_for_span:
            result.extents[role] = (span.start, span.end)
        elif loaded.extent is not None:
            result.extents[role] = loaded.extent
        if loaded.left_out:
            result.left_out[role] = loaded.left_out
        if loaded.later:
            result.later[role] = loaded.later
    if problems:
        raise InputError(problems)
    return result
