"""The package as a user installs it: a wheel built from the checkout, installed into a fresh
environment and run from another folder, renders the whole report."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of the checkout, built as pip builds it (isolated build environment)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (path,) = out.glob("reliability_report-*.whl")
    return path


def test_the_wheel_carries_the_notebooks_and_the_template(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for notebook in ("monthly_report.ipynb", "service_report.ipynb", "explore.ipynb"):
        assert f"reliability/notebooks/{notebook}" in names
    assert "reliability/report/templates/reliability/index.html.j2" in names
    assert not any(name.startswith(("tests/", "bench/")) for name in names)


def test_the_wheel_carries_every_module_of_the_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {path.relative_to(ROOT).as_posix() for path in (ROOT / "reliability").rglob("*.py")}
    assert modules - names == set()


def test_an_installed_wheel_renders_the_report_from_another_folder(wheel, tmp_path):
    # A fresh environment with the wheel alone; its dependencies are those already installed
    # for the project (read through a .pth file, which does not load the editable install),
    # and so are their data files (nbconvert's base templates, the kernel spec).
    fresh = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True)
    python = fresh / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), wheel],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (site / "project-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    where = subprocess.run(
        [str(python), "-c", "import reliability; print(reliability.__file__)"],
        cwd=elsewhere,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(str(site))
    result = subprocess.run(
        [str(python), "-m", "reliability", "report", "--month", "2026-10", "--out", "reports"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    month = elsewhere / "reports" / "2026-10"
    one_file = Path("reports") / "2026-10" / "reliability-report-2026-10.html"
    assert result.stdout.strip() == str(one_file)  # the path of the one file to forward
    assert (elsewhere / one_file).stat().st_size > 0
    assert (month / "index.html").stat().st_size > 0
    assert len(list((month / "services").glob("*.html"))) == 9
    assert (month / "metrics.json").is_file()
