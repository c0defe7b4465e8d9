"""The shape of the package (docs/architecture.md): the arrows between layers, no import
circle, and only public APIs of the Jupyter stack."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "reliability"
JUPYTER_STACK = ("papermill", "nbclient", "nbconvert", "nbformat", "IPython", "jupyter_client")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str) -> set[str]:
    """Modules of the package that ``name`` imports anywhere (functions included), with the
    packages whose ``__init__`` such an import runs."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if not target:
                continue
            found.add(target)
            # Importing a.b.c first runs the __init__ of a and a.b: an arrow to each package
            # that this module is not itself inside (a sibling import inside a package is
            # the package's own business).
            parts = target.split(".")
            for i in range(1, len(parts)):
                ancestor = ".".join(parts[:i])
                if not (name == ancestor or name.startswith(ancestor + ".")):
                    found.add(ancestor)
    found.discard(name)
    return {module for module in found if module in MODULES}


GRAPH = {name: imported(name) for name in MODULES}


def test_the_package_has_no_import_circle():
    # The package's own __init__ imports nothing, so every module may reach it.
    graph = {name: deps - {"reliability"} for name, deps in GRAPH.items()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import circle: {' -> '.join(exc.args[1])}")


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        (
            "reliability.report",
            ("reliability.sources", "reliability.cache", "reliability.pipeline"),
        ),
        ("reliability.metrics", ("reliability.sources", "reliability.cache", "reliability.report")),
        ("reliability.sources", ("reliability.metrics", "reliability.report", "reliability.cache")),
        (
            "reliability.frames",
            ("reliability.sources", "reliability.metrics", "reliability.report"),
        ),
    ],
)
def test_layers_import_only_downwards(layer: str, forbidden: tuple[str, ...]):
    offending = sorted(
        f"{name} imports {dep}"
        for name, deps in GRAPH.items()
        if name == layer or name.startswith(layer + ".")
        for dep in deps
        if any(dep == f or dep.startswith(f + ".") for f in forbidden)
    )
    assert offending == []


def test_no_forked_interpreters_or_private_jupyter_apis():
    found = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("fork", "prctl", "forkpty"):
                found.append(f"{name}: .{node.attr}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(JUPYTER_STACK):
                private = [a.name for a in node.names if a.name.startswith("_")]
                if private or any(part.startswith("_") for part in node.module.split(".")):
                    found.append(f"{name}: from {node.module} import {', '.join(private)}")
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name)
                and node.value.id in ("papermill", "nbclient", "nbconvert", "IPython")
            ):
                found.append(f"{name}: {node.value.id}.{node.attr}")
    assert found == []
