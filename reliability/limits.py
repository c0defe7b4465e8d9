"""Bounds on YAML documents: how large one may grow once its aliases are expanded.

YAML's ``&name`` / ``*name`` may repeat a block, but a few lines of nested aliases (a "billion
laughs") expand to gigabytes; the config and the OpenSLO documents it names are measured with
``expanded_size`` before they are built.
"""

from __future__ import annotations

import yaml

MAX_EXPANDED_SIZE = 5_000_000
"""The most values plus characters a config may hold once every YAML alias is expanded, so
that a few lines of anchors cannot expand into gigabytes (a "billion laughs")."""


def expanded_size(root: yaml.Node, limit: int = MAX_EXPANDED_SIZE) -> int:
    """How many values and characters the document rooted at ``root`` holds with every alias
    expanded (an alias counts the whole block it repeats); stops counting past ``limit``.

    Aliases are shared nodes, so each node's size is computed once. A block that contains an
    alias to itself would expand without end: its size is ``-1``.
    """
    sizes: dict[int, int] = {}
    pending: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while pending:
        node, children_done = pending.pop()
        key = id(node)
        if key in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = 1 + len(node.value)
            continue
        children = (
            [part for pair in node.value for part in pair]
            if isinstance(node, yaml.MappingNode)
            else list(node.value)
        )
        if children_done:
            open_nodes.discard(key)
            sizes[key] = min(limit + 1, 1 + sum(sizes[id(child)] for child in children))
            continue
        if key in open_nodes:
            return -1  # an alias inside the block it names
        open_nodes.add(key)
        pending.append((node, True))
        for child in children:
            if id(child) in open_nodes:
                return -1
            pending.append((child, False))
    return sizes[id(root)]
