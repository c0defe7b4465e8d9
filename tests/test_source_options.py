"""Source options are one model per kind: unknown keys refused for every kind, every problem of
a config listed in one run with its key path, secrets refused, aliases bounded."""

from __future__ import annotations

import ast
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import reliability
from reliability.cli import main
from reliability.config import Source, config_from_dict, load_config
from reliability.errors import InputError
from reliability.source_options import MODELS_BY_KIND, CsvOptions, PrometheusOptions
from reliability.sources import registry

MINIMAL: dict[str, tuple[str, dict[str, Any]]] = {
    "csv": ("worklog", {"path": "worklog.csv"}),
    "parquet": ("worklog", {"path": "worklog.parquet"}),
    "sample": ("worklog", {}),
    "prometheus": ("metrics", {"url": "http://127.0.0.1:9090"}),
    "pagerduty": ("incidents", {"token_env": "PD_TOKEN"}),
    "statuspage": ("incidents", {"url": "https://www.githubstatus.com"}),
    "github_deployments": ("deployments", {"repository": "octo/shop"}),
    "sql": ("worklog", {"url": "reliability.duckdb", "table": "worklog"}),
}
"""Each kind, a role it serves, and its required options."""


def _validate(tmp_path: Path, document: dict[str, Any], capsys) -> tuple[int, list[str]]:
    path = tmp_path / "reliability.yaml"
    path.write_text(yaml.safe_dump(document))
    code = main(["validate", "--config", str(path), "--month", "2026-10"])
    lines = capsys.readouterr().err.strip().splitlines()
    prefix = f"error: {path}: "
    return code, [line.removeprefix(prefix) for line in lines[:-1]]


def test_every_kind_has_a_plugin_and_a_model() -> None:
    assert set(registry.PLUGIN_MODULES) == set(MODELS_BY_KIND) == set(MINIMAL)
    for kind, model in MODELS_BY_KIND.items():
        plugin = registry.plugin(kind)
        assert (plugin.kind, plugin.Options, plugin.roles) == (kind, model, model.roles)
        assert model.model_config["extra"] == "forbid"
        role, options = MINIMAL[kind]
        assert role in plugin.roles
        assert isinstance(Source(kind=kind, **options), model)


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_unknown_options_are_refused_for_every_kind(kind: str, tmp_path: Path, capsys) -> None:
    role, options = MINIMAL[kind]
    document = {"sources": {role: {"kind": kind, **options, "colour": "blue", "sheet": 2}}}

    code, lines = _validate(tmp_path, document, capsys)

    assert code == 2
    assert [line.split(": ", 1)[0] for line in lines] == [
        f"sources.{role}.colour",
        f"sources.{role}.sheet",
    ]
    assert all(": unknown option" in line and f"kind {kind} " in line for line in lines)


def test_every_problem_of_a_config_in_one_run(tmp_path: Path, capsys) -> None:
    document = {
        "timezone": "Mars/Olympus",
        "sources": {
            "metrics": {"kind": "prometheus", "url": "ftp://x", "step": "7x", "retries": -1},
            "incidents": {"kind": "github_deployments", "repository": "octo/shop"},
            "deployments": {"kind": "github_deployments", "repository": "shop", "token": "t0k"},
            "worklog": {"kind": "csv", "path": [], "sheet": 1},
        },
        "services": [{"name": "checkout", "team": ""}],
    }

    code, lines = _validate(tmp_path, document, capsys)

    assert code == 2
    assert lines == [
        "timezone: unknown time zone 'Mars/Olympus'",
        "sources.metrics.retries: expected a whole number of retries (0 to 20)",
        "sources.metrics.url: expected an https:// URL, got 'ftp://x'",
        "sources.metrics.step: expected a duration such as 30s, 5m, 1h or 1d, got '7x'",
        "sources.incidents.kind: github_deployments provides deployments only (for incidents: "
        "csv, pagerduty, parquet, sample, sql, statuspage)",
        "sources.deployments.repository: expected owner/name, e.g. octo/shop",
        "sources.deployments.token: secrets are never read from the config file; put it in an "
        "environment variable and name that variable in token_env",
        "sources.worklog.path: no file given",
        "sources.worklog.sheet: unknown option for kind csv (known: path)",
        "services[0].team: string should have at least 1 character",
    ]
    assert "t0k" not in "\n".join(lines)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kind": "prometheus", "url": "http://p", "api_key": "x"}, "sources.metrics.api_key"),
        ({"kind": "prometheus", "url": "http://p", "password": "x"}, "sources.metrics.password"),
        (
            {"kind": "prometheus", "url": "http://p", "headers": {"X-Api-Key": "x"}},
            "sources.metrics.headers: do not put credentials in the config (header X-Api-Key)",
        ),
        (
            {"kind": "prometheus", "url": "http://p", "params": {"access_token": "x"}},
            "sources.metrics.params: do not put credentials in the config (parameter ",
        ),
    ],
)
def test_an_option_named_like_a_secret_is_refused_with_advice(
    options: dict[str, Any], message: str, tmp_path: Path
) -> None:
    with pytest.raises(InputError) as caught:
        config_from_dict({"sources": {"metrics": options}}, "reliability.yaml", tmp_path)
    (problem,) = caught.value.problems
    assert problem.message.startswith(message)
    assert problem.message.endswith("name that variable in token_env")


def test_sources_built_in_code_are_the_model_of_their_kind() -> None:
    assert Source(kind="csv", path="sli.csv") == CsvOptions(kind="csv", path="sli.csv")
    options = Source(kind="prometheus", url="https://p.example/", timeout="90s")
    assert isinstance(options, PrometheusOptions)
    assert (options.base_url, options.timeout, options.step_length.seconds) == (
        "https://p.example",
        90.0,
        300,
    )


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path: Path, capsys) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\nservices: *a9\n")

    started = time.process_time()  # the work done, however busy the machine
    code = main(["validate", "--config", str(path)])
    elapsed = time.process_time() - started

    err = capsys.readouterr().err
    assert code == 2
    assert f"error: {path}: the config expands to more than 5,000,000 values and characters" in err
    assert elapsed < 5


def test_an_alias_inside_its_own_block_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("services: &s [{name: a, team: b, slos: *s}]\n")
    with pytest.raises(
        InputError, match="a YAML alias \\(\\*name\\) repeats a block that holds it"
    ):
        load_config(path)


def test_anchors_may_share_a_block_within_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "shared.yaml"
    path.write_text(
        "services:\n"
        "  - {name: checkout, team: payments, slos: [&availability {name: a, objective: 0.9}]}\n"
        "  - {name: search, team: discovery, slos: [*availability]}\n"
    )
    config = load_config(path)
    assert config.services[0].slos == config.services[1].slos


def _imports(path: Path, module: str) -> set[str]:
    """Every module ``module`` (the file at ``path``) imports, inside functions too."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports; importing ``a.b.c`` runs the ``__init__`` of
    ``a`` and ``a.b`` first, so those count too (except the importer's own packages, which
    Python has started already)."""
    root = Path(reliability.__file__).parent
    modules: dict[str, Path] = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        own = {".".join(name.split(".")[:i]) for i in range(1, len(name.split(".")) + 1)}
        targets: set[str] = set()
        for imported in _imports(path, name):
            pieces = imported.split(".")
            for i in range(1, len(pieces) + 1):
                candidate = ".".join(pieces[:i])
                if candidate in modules and candidate not in own:
                    targets.add(candidate)
        graph[name] = targets
    return graph


def test_config_and_sources_import_each_other_in_no_circle() -> None:
    graph = _import_graph()
    reach: dict[str, set[str]] = {}

    def reachable(start: str) -> set[str]:
        if start not in reach:
            seen: set[str] = set()
            stack = [start]
            while stack:
                for target in graph[stack.pop()]:
                    if target not in seen:
                        seen.add(target)
                        stack.append(target)
            reach[start] = seen
        return reach[start]

    ours = [m for m in graph if m in ("reliability.config", "reliability.source_options")]
    ours += [m for m in graph if m == "reliability.sources" or m.startswith("reliability.sources.")]
    circles = sorted(m for m in ours if m in reachable(m))
    assert circles == []
    assert not any(m.startswith("reliability.sources") for m in reachable("reliability.config"))
