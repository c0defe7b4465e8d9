"""The rendering machinery: forked workers, the in-process papermill engine, HTML export,
atomic output."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import papermill
import plotly.graph_objects as go
import plotly.io as pio
import psutil
import pytest
from browser import Browser
from papermill.engines import papermill_engines

from reliability.errors import RenderError
from reliability.report import plotting
from reliability.report.engine import ENGINE_NAME, InProcessEngine
from reliability.report.render import NotebookJob, render_notebooks

NOTEBOOKS = Path(__file__).parent / "notebooks"
PARAMETERS = NOTEBOOKS / "parameters.ipynb"
CHARTS = NOTEBOOKS / "plotly_charts.ipynb"
FAILING = NOTEBOOKS / "failing.ipynb"
PLOTLYJS_SCRIPT = re.compile(r'<script[^>]*data-reliability="plotly.js"[^>]*>.*?</script>', re.S)
MAX_REPORT_BYTES = 6_000_000


def child_processes() -> set[int]:
    """Processes started by this test process that are still there (zombies included)."""
    return {child.pid for child in psutil.Process().children(recursive=True)}


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def body(html: str) -> str:
    return html[html.index("<body") :]


def without_plotlyjs(html: str) -> str:
    return PLOTLYJS_SCRIPT.sub("", html)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out_dir = tmp_path_factory.mktemp("reports") / "2026-10"
    jobs = [
        NotebookJob(
            PARAMETERS,
            {"service": "checkout", "month": "2026-10", "objective": 0.999},
            Path("index.html"),
            "Fleet <October> & co",
        ),
        NotebookJob(CHARTS, {"service": "checkout"}, Path("services/checkout.html"), "Checkout"),
        NotebookJob(
            CHARTS, {"service": "search", "points": 7}, Path("services/search.html"), "Search"
        ),
    ]
    files = {"metrics.json": json.dumps({"month": "2026-10"}), "data/blob.bin": b"\x00\x01"}
    written = render_notebooks(jobs, out_dir, files=files, progress=False)
    assert written == [
        out_dir / "index.html",
        out_dir / "services/checkout.html",
        out_dir / "services/search.html",
        out_dir / "metrics.json",
        out_dir / "data/blob.bin",
    ]
    return out_dir


@pytest.fixture(scope="module")
def browser():
    with Browser() as browser:
        yield browser


# -- fast checks, no worker ------------------------------------------------------------


def test_engine_is_registered_with_papermill():
    assert papermill_engines.get_engine(ENGINE_NAME) is InProcessEngine


@pytest.mark.parametrize("bad", ["../index.html", "/tmp/index.html", "."])
def test_output_paths_must_stay_inside_the_report(bad, tmp_path):
    jobs = [NotebookJob(PARAMETERS, {}, Path(bad), "x")]
    with pytest.raises(ValueError, match="relative path inside the report"):
        render_notebooks(jobs, tmp_path / "out", progress=False)


def test_two_jobs_cannot_write_the_same_file(tmp_path):
    jobs = [NotebookJob(PARAMETERS, {}, Path("a.html"), "x")] * 2
    with pytest.raises(ValueError, match=r"two jobs write a\.html"):
        render_notebooks(jobs, tmp_path / "out", progress=False)


def test_parameters_must_be_plain_values(tmp_path):
    jobs = [NotebookJob(PARAMETERS, {"service": object()}, Path("a.html"), "x")]
    with pytest.raises(TypeError, match="parameter 'service'"):
        render_notebooks(jobs, tmp_path / "out", progress=False)


def test_only_extra_files_need_no_worker(tmp_path):
    before = child_processes()
    written = render_notebooks([], tmp_path / "out", files={"a/b.txt": "x"}, progress=False)
    assert written == [tmp_path / "out" / "a/b.txt"]
    assert (tmp_path / "out" / "a/b.txt").read_text() == "x"
    assert child_processes() == before


def test_build_folders_of_killed_runs_are_removed(tmp_path):
    gone = psutil.Popen(["true"])
    gone.wait()
    stale = tmp_path / f".2026-10.tmp-{gone.pid}-0123abcd"
    running = tmp_path / f".2026-10.tmp-{os.getpid()}-0123abcd"  # another render, still going
    for folder in (stale, running):
        folder.mkdir()
    render_notebooks([], tmp_path / "2026-10", files={"a.txt": "x"}, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [running.name, "2026-10"]


def test_renderer_emits_a_div_without_plotlyjs_or_cdn():
    plotting.setup_notebook_plotting()
    assert pio.renderers.default == plotting.RENDERER_NAME
    assert pio.templates.default == plotting.TEMPLATE_NAME
    figure = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    bundle = pio.renderers[plotting.RENDERER_NAME].to_mimebundle(figure.to_dict())
    html = bundle["text/html"]
    assert 'class="plotly-graph-div"' in html
    assert "Plotly.newPlot" in html
    assert "<script src" not in html
    assert "mathjax" not in html.lower()
    assert len(html) < 20_000  # no plotly.js in it
    assert bundle["application/vnd.plotly.v1+json"]["data"][0]["y"] == [3, 4]


def test_template_uses_a_colour_blind_safe_palette():
    template = pio.templates[plotting.TEMPLATE_NAME]
    assert list(template.layout.colorway) == list(plotting.COLORWAY)
    assert plotting.COLORWAY[0] == "#0072B2"


# -- rendering -------------------------------------------------------------------------


@pytest.mark.slow
def test_extra_files_are_written(report):
    assert json.loads((report / "metrics.json").read_text()) == {"month": "2026-10"}
    assert (report / "data/blob.bin").read_bytes() == b"\x00\x01"


@pytest.mark.slow
def test_parameters_are_injected(report):
    html = (report / "index.html").read_text()
    assert "Service <strong>checkout</strong> for month 2026-10, objective 0.999" in html
    search = (report / "services/search.html").read_text()
    assert "SLI of search (7 days)" in search
    assert "SLI of checkout (5 days)" in (report / "services/checkout.html").read_text()


@pytest.mark.slow
def test_notebooks_run_in_their_own_folder(report):
    assert f"cwd={NOTEBOOKS}" in (report / "index.html").read_text()


@pytest.mark.slow
def test_html_has_no_code_prompts_or_streams(report):
    html = body((report / "index.html").read_text())
    assert "function-output-visible" in html  # outputs are kept
    for hidden in (
        "def secret_function",
        'service = "default"',  # the parameters cell
        "injected-parameters",
        "jp-CodeMirrorEditor",
        "jp-InputPrompt",
        "jp-OutputPrompt",
        "In&nbsp;[",
        "stdout-line-should-not-appear",
        "stderr-line-should-not-appear",
        "warning-should-not-appear",
    ):
        assert hidden not in html, hidden


@pytest.mark.slow
def test_html_head(report):
    html = (report / "index.html").read_text()
    assert "<title>Fleet &lt;October&gt; &amp; co</title>" in html
    assert "@media print" in html
    assert "break-inside: avoid" in html


@pytest.mark.slow
@pytest.mark.parametrize("page", ["index.html", "services/checkout.html", "services/search.html"])
def test_html_references_nothing_remote(report, page):
    html = without_plotlyjs((report / page).read_text())
    lowered = html.lower()
    for needle in ("require.js", "requirejs", "require.min.js", "mathjax", "cdn", "@import"):
        assert needle not in lowered, needle
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html)


@pytest.mark.slow
def test_plotlyjs_is_inlined_exactly_once_per_page_with_charts(report):
    for page in ("services/checkout.html", "services/search.html"):
        html = (report / page).read_text()
        assert html.count('data-reliability="plotly.js"') == 1
        assert len(re.findall(r"\* plotly\.js v\d", html)) == 1
        assert html.count('class="plotly-graph-div"') == 2
        assert (report / page).stat().st_size < MAX_REPORT_BYTES
    index = (report / "index.html").read_text()
    assert "plotly.js v" not in index  # no chart, no library
    assert (report / "index.html").stat().st_size < 500_000


@pytest.mark.slow
@pytest.mark.parametrize("page", ["index.html", "services/checkout.html", "services/search.html"])
def test_pages_open_cleanly_in_chromium(report, browser, page, tmp_path):
    result = browser.check_page(report / page, screenshot=tmp_path / "page.png")
    assert result.console_errors == []
    assert result.page_errors == []
    assert result.external_requests == []
    assert result.dialogs == []
    assert result.charts_without_svg == 0
    assert result.chart_count == (0 if page == "index.html" else 2)
    assert (tmp_path / "page.png").stat().st_size > 0
    if page == "index.html":
        assert "Service checkout for month 2026-10" in result.text
        assert "stdout-line-should-not-appear" not in result.text
        assert result.title == "Fleet <October> & co"


@pytest.mark.slow
def test_browser_check_sees_external_requests_and_dialogs(browser, tmp_path):
    page = tmp_path / "bad.html"
    page.write_text(
        "<html><body><img src='https://example.invalid/x.png'>"
        "<script>alert('injected'); undefinedFunction();</script></body></html>"
    )
    result = browser.check_page(page)
    assert result.external_requests == ["https://example.invalid/x.png"]
    assert result.dialogs == ["alert: injected"]
    assert any("undefinedFunction" in error for error in result.page_errors)


@pytest.mark.slow
def test_no_variable_leaks_between_notebooks(tmp_path):
    # three notebooks on two workers: a worker process is never reused
    jobs = [
        NotebookJob(PARAMETERS, {"service": f"s{i}"}, Path(f"p{i}.html"), f"p{i}") for i in range(3)
    ]
    for path in render_notebooks(jobs, tmp_path / "out", progress=False, workers=2):
        assert "leaked=False" in path.read_text()


@pytest.mark.slow
def test_papermill_execute_notebook_can_use_the_engine(tmp_path):
    # The engine runs in the calling process: call papermill's own API from a fresh one.
    output = tmp_path / "executed.ipynb"
    script = (
        "import papermill, reliability.report.engine as e\n"
        f"papermill.execute_notebook({str(PARAMETERS)!r}, {str(output)!r},"
        " parameters={'service': 'via-papermill'}, engine_name=e.ENGINE_NAME,"
        " kernel_name='python3', progress_bar=False)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=NOTEBOOKS, timeout=120)
    nb = nbformat.read(output, as_version=4)
    tags = [cell.metadata.get("tags", []) for cell in nb.cells]
    injected = tags.index(["injected-parameters"])
    assert injected == tags.index(["parameters"]) + 1
    assert 'service = "via-papermill"' in nb.cells[injected].source
    outputs = {
        cell.source.splitlines()[0]: cell.outputs for cell in nb.cells if cell.cell_type == "code"
    }
    streams = outputs["import sys"]
    assert [(o.output_type, o.name) for o in streams] == [
        ("stream", "stdout"),
        ("stream", "stderr"),
    ]
    assert streams[0].text == "stdout-line-should-not-appear\n"
    assert "UserWarning: warning-should-not-appear" in streams[1].text
    shown = outputs["from IPython.display import HTML, Markdown, display"]
    assert [o.output_type for o in shown] == ["display_data", "display_data"]
    assert "via-papermill" in shown[0].data["text/markdown"]
    result = outputs["def secret_function():"][0]
    assert result.output_type == "execute_result"
    assert result.data["text/plain"] == "'function-output-visible'"
    counts = [cell.execution_count for cell in nb.cells if cell.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1))
    assert all(cell.metadata.papermill.status == "completed" for cell in nb.cells)


@pytest.mark.slow
def test_a_failing_notebook_leaves_the_previous_report_intact(report, tmp_path):
    reports = tmp_path / "reports"
    out_dir = reports / "2026-10"
    render_notebooks(
        [NotebookJob(PARAMETERS, {"service": "old"}, Path("index.html"), "Old")],
        out_dir,
        files={"metrics.json": "{}"},
        progress=False,
    )
    before = tree_bytes(out_dir)
    jobs = [
        NotebookJob(PARAMETERS, {"service": "new"}, Path("index.html"), "New"),
        NotebookJob(FAILING, {"service": "broken"}, Path("services/broken.html"), "Broken"),
        NotebookJob(CHARTS, {"service": "new"}, Path("services/new.html"), "New"),
    ]
    with pytest.raises(RenderError) as caught:
        render_notebooks(jobs, out_dir, files={"metrics.json": "[]"}, progress=False)
    message = str(caught.value)
    saved = reports / ".failed" / "2026-10" / "services" / "broken.ipynb"
    assert "\n" not in message
    assert message.startswith("notebook failing.ipynb (service='broken') failed at cell 1 ")
    assert '"value = 41"' in message
    assert "ValueError: boom for broken: value was 41" in message
    assert str(saved) in message
    assert caught.value.exit_code == 1

    assert tree_bytes(out_dir) == before  # byte for byte
    assert sorted(p.name for p in reports.iterdir()) == [".failed", "2026-10"]  # no temp dirs
    assert [p.name for p in saved.parent.parent.rglob("*.ipynb")] == ["broken.ipynb"]

    nb = nbformat.read(saved, as_version=4)
    tags = [cell.metadata.get("tags", []) for cell in nb.cells]
    injected = tags.index(["injected-parameters"])
    assert tags[injected - 1] == ["parameters"]
    assert 'service = "broken"' in nb.cells[injected].source
    errors = [o for cell in nb.cells for o in cell.get("outputs", []) if o.output_type == "error"]
    assert [e.ename for e in errors] == ["ValueError"]
    assert any("boom for broken" in line for line in errors[0].traceback)

    # a successful run clears the stale debug notebook
    render_notebooks(jobs[:1], out_dir, progress=False)
    assert "Service <strong>new</strong>" in (out_dir / "index.html").read_text()
    assert not (reports / ".failed").exists()


@pytest.mark.slow
def test_other_notebooks_are_stopped_even_if_they_ignore_interrupts(tmp_path):
    stubborn = nbformat.v4.new_notebook()
    stubborn.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    stubborn.cells = [
        nbformat.v4.new_code_cell(
            "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(120)"
        )
    ]
    nbformat.write(stubborn, tmp_path / "stubborn.ipynb")
    jobs = [
        NotebookJob(tmp_path / "stubborn.ipynb", {}, Path("stubborn.html"), "stubborn"),
        NotebookJob(FAILING, {}, Path("failing.html"), "failing"),
    ]
    before = child_processes()
    started = time.monotonic()
    with pytest.raises(RenderError, match=r"failing\.ipynb"):
        render_notebooks(jobs, tmp_path / "out", progress=False, workers=2)
    assert time.monotonic() - started < 20
    assert child_processes() == before
    jobs = [NotebookJob(PARAMETERS, {}, Path(f"{i}.html"), "ok") for i in range(3)]
    assert len(render_notebooks(jobs, tmp_path / "out", progress=False)) == 3


@pytest.mark.slow
def test_unknown_parameters_are_reported(tmp_path, caplog):
    jobs = [NotebookJob(PARAMETERS, {"servce": "typo"}, Path("a.html"), "a")]
    render_notebooks(jobs, tmp_path / "out", progress=False)
    assert "parameters.ipynb: parameters not in its parameters cell: ['servce']" in caplog.text


def _notebook(folder: Path, name: str, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_a_notebook_that_kills_its_process_is_reported(tmp_path):
    dying = _notebook(tmp_path, "dying", "x = 1", "import os\nos._exit(3)")
    jobs = [NotebookJob(dying, {}, Path("dying.html"), "dying")]
    with pytest.raises(RenderError) as caught:
        render_notebooks(jobs, tmp_path / "out", progress=False)
    assert str(caught.value) == (
        'notebook dying.ipynb failed at cell 1 "import os": the process running it exited '
        "with status 3; no executed notebook was saved"
    )
    assert not (tmp_path / "out").exists()
    jobs = [NotebookJob(PARAMETERS, {}, Path(f"{i}.html"), "ok") for i in range(3)]
    assert len(render_notebooks(jobs, tmp_path / "out", progress=False)) == 3


@pytest.mark.slow
def test_a_cell_that_runs_too_long_is_stopped(tmp_path):
    slow = _notebook(tmp_path, "slow", "import time", "time.sleep(60)")
    jobs = [NotebookJob(slow, {}, Path("slow.html"), "slow")]
    started = time.monotonic()
    with pytest.raises(RenderError) as caught:
        render_notebooks(jobs, tmp_path / "out", progress=False, timeout=1)
    assert time.monotonic() - started < 20
    message = str(caught.value)
    assert message.startswith('notebook slow.ipynb failed at cell 1 "time.sleep(60)": ')
    assert "CellTimeoutError: the cell ran longer than 1 s" in message


@pytest.mark.slow
def test_no_worker_is_left_behind(tmp_path):
    before = child_processes()
    jobs = [
        NotebookJob(PARAMETERS, {}, Path("a.html"), "a"),
        NotebookJob(FAILING, {}, Path("b.html"), "b"),
    ]
    with pytest.raises(RenderError, match=r"failing\.ipynb"):
        render_notebooks(jobs, tmp_path / "out", workers=2, progress=False)
    assert child_processes() == before
    assert not (tmp_path / "out").exists()

    written = render_notebooks(jobs[:1], tmp_path / "out", workers=2, progress=False)
    assert [p.name for p in written] == ["a.html"]
    assert child_processes() == before


@pytest.mark.slow
def test_keyboard_interrupt_stops_every_worker(tmp_path):
    before = child_processes()
    slow = _notebook(tmp_path, "slow", "import time\ntime.sleep(120)")
    jobs = [NotebookJob(slow, {}, Path(f"{i}.html"), "slow") for i in range(3)]
    timer = threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            render_notebooks(jobs, tmp_path / "out", workers=2, progress=False)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 30
    assert child_processes() == before
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["slow.ipynb"]


# -- what the engine records, as a kernel would ----------------------------------------


def _execute_in_subprocess(notebook: Path, output: Path, timeout: float | None = None) -> None:
    """papermill.execute_notebook with the engine, in a process of its own (it takes it over)."""
    script = (
        "import papermill, reliability.report.engine as e\n"
        f"papermill.execute_notebook({str(notebook)!r}, {str(output)!r},"
        f" engine_name=e.ENGINE_NAME, kernel_name='python3', progress_bar=False,"
        f" execution_timeout={timeout!r})\n"
    )
    subprocess.run([sys.executable, "-c", script], check=False, timeout=120, capture_output=True)


@pytest.mark.slow
def test_engine_output_matches_what_a_kernel_records(tmp_path):
    notebook = _notebook(
        tmp_path,
        "displays",
        "from IPython.display import HTML, Image, display, clear_output\n"
        "handle = display(HTML('STATUS: computing'), display_id=True)",
        "handle.update(HTML('STATUS: done'))",
        "display(HTML('STATUS: final'), display_id=handle.display_id)",
        "display(HTML('TABLE-v1'))\nclear_output(wait=True)",
        "display(HTML('first'))\nclear_output(wait=True)\ndisplay(HTML('second'))",
        "PNG = bytes.fromhex('89504e470d0a1a0a')\n"
        "class Picture:\n"
        "    def _repr_png_(self):\n"
        "        return PNG\n"
        "Picture()",
        "   ",
        "print('out'); print('err', file=__import__('sys').stderr); 6 * 7",
    )
    output = tmp_path / "executed.ipynb"
    _execute_in_subprocess(notebook, output)
    nb = nbformat.read(output, as_version=4)
    nbformat.validate(nb)  # no kernel-only fields (such as "transient") in the outputs
    outs = [cell.outputs for cell in nb.cells]
    # updated from later cells, also by showing the same display id again
    assert outs[0][0].data["text/html"] == "STATUS: final"
    assert outs[1] == []
    assert outs[2][0].data["text/html"] == "STATUS: final"
    del outs[2]
    assert [o.data["text/html"] for o in outs[2]] == ["TABLE-v1"]  # wait: nothing came after
    assert [o.data["text/html"] for o in outs[3]] == ["second"]
    assert outs[4][0].data["image/png"] == "iVBORw0KGgo="  # base64, as the kernel sends it
    assert outs[5] == []
    assert [(o.output_type, o.get("name")) for o in outs[6]] == [
        ("stream", "stdout"),
        ("stream", "stderr"),
        ("execute_result", None),
    ]
    assert outs[6][2].data["text/plain"] == "42"
    counts = [cell.execution_count for cell in nb.cells]
    assert counts == [1, 2, 3, 4, 5, 6, None, 7]


@pytest.mark.slow
def test_a_timeout_cannot_be_swallowed_by_the_cell(tmp_path):
    notebook = _notebook(
        tmp_path,
        "retry",
        "import time\n"
        "for attempt in range(20):\n"
        "    try:\n"
        "        time.sleep(0.5)\n"
        "    except Exception:\n"
        "        pass",
    )
    output = tmp_path / "executed.ipynb"
    started = time.monotonic()
    _execute_in_subprocess(notebook, output, timeout=1)
    assert time.monotonic() - started < 8
    nb = nbformat.read(output, as_version=4)
    (cell,) = [cell for cell in nb.cells if cell.cell_type == "code"]
    (error,) = cell.outputs
    assert (error.ename, error.evalue) == ("CellTimeoutError", "the cell ran longer than 1 s")


def test_the_engine_will_not_replace_a_running_ipython_shell():
    script = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "InteractiveShell.instance()\n"
        "from reliability.report.engine import new_shell\n"
        "try:\n"
        "    new_shell()\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "PapermillException" in result.stdout
    assert "cannot run inside Jupyter or IPython" in result.stdout


# -- workers: what a notebook cannot do to the run -------------------------------------


@pytest.mark.slow
def test_processes_a_notebook_starts_neither_stall_nor_outlive_the_run(tmp_path):
    marker = tmp_path / "helper.pid"
    notebook = _notebook(
        tmp_path,
        "helper",
        "import subprocess, sys\n"
        "helper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        f"open({str(marker)!r}, 'w').write(str(helper.pid))",
        "from IPython.display import HTML\nHTML('<p id=\"done\">done</p>')",
    )
    started = time.monotonic()
    render_notebooks([NotebookJob(notebook, {}, Path("a.html"), "a")], tmp_path / "out")
    assert time.monotonic() - started < 30
    helper = int(marker.read_text())
    deadline = time.monotonic() + 5
    while not _gone(helper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(helper)
    assert 'id="done"' in (tmp_path / "out" / "a.html").read_text()


@pytest.mark.slow
def test_an_export_failure_is_named_as_such(tmp_path):
    notebook = _notebook(
        tmp_path,
        "surrogate",
        "x = 1",
        "from IPython.display import HTML\nHTML('bad \\udcff byte')",
        "y = 2",
    )
    with pytest.raises(RenderError) as caught:
        render_notebooks([NotebookJob(notebook, {}, Path("s.html"), "s")], tmp_path / "out")
    message = str(caught.value)
    assert message.startswith("notebook surrogate.ipynb failed while exporting it to HTML: ")
    assert "UnicodeEncodeError" in message
    assert "executed notebook could not be saved" in message  # it holds the same text
    assert "y = 2" not in message


def _render_line(notebook: Path, out: Path, page: str) -> str:
    """Python source that renders ``notebook`` to ``out/<page>.html``, for a subprocess."""
    return (
        f"render_notebooks([NotebookJob(Path({str(notebook)!r}), {{}}, Path('{page}.html'),"
        f" '{page}')], Path({str(out)!r}), progress=False)\n"
    )


@pytest.mark.slow
def test_output_below_python_stays_off_stdout(tmp_path):
    notebook = _notebook(tmp_path, "noisy", "import os\nos.system('echo from-a-subprocess')")
    script = (
        "from pathlib import Path\n"
        "from reliability.report.render import NotebookJob, render_notebooks\n"
        + _render_line(notebook, tmp_path / "out", "n")
        + "print('the report path')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout == "the report path\n"
    assert "from-a-subprocess" in result.stderr


@pytest.mark.slow
def test_rendering_works_from_a_process_running_ipython(tmp_path):
    script = (
        "from pathlib import Path\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.user_ns['leak_marker'] = True\n"
        "from reliability.report.render import NotebookJob, render_notebooks\n"
        + _render_line(PARAMETERS, tmp_path / "out", "p")
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert "leaked=False" in (tmp_path / "out" / "p.html").read_text()


@pytest.mark.slow
def test_a_cell_that_defeats_the_timeout_is_stopped_from_outside(tmp_path):
    stuck = _notebook(
        tmp_path,
        "stuck",
        "import signal, time\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\ntime.sleep(120)",
    )
    before = child_processes()
    started = time.monotonic()
    with pytest.raises(RenderError) as caught:
        render_notebooks([NotebookJob(stuck, {}, Path("s.html"), "s")], tmp_path / "out", timeout=1)
    assert time.monotonic() - started < 20
    assert str(caught.value).startswith(
        'notebook stuck.ipynb failed at cell 0 "import signal, time": the cell ran longer '
        "than 1 s and was stopped"
    )
    assert child_processes() == before


@pytest.mark.slow
def test_a_worker_killed_by_a_signal_is_named_even_if_its_pipe_stays_open(tmp_path):
    # the notebook forks a process that keeps the worker's pipe open, then the worker dies
    killed = _notebook(
        tmp_path,
        "killed",
        "import os, signal, time\nif os.fork() == 0:\n    time.sleep(300)\n    os._exit(0)",
        "os.kill(os.getpid(), signal.SIGKILL)",
    )
    before = child_processes()
    started = time.monotonic()
    with pytest.raises(RenderError) as caught:
        render_notebooks([NotebookJob(killed, {}, Path("k.html"), "k")], tmp_path / "out")
    assert time.monotonic() - started < 20
    assert str(caught.value) == (
        'notebook killed.ipynb failed at cell 1 "os.kill(os.getpid(), signal.SIGKILL)": the '
        "process running it was killed by SIGKILL (out of memory?); no executed notebook was "
        "saved"
    )
    assert child_processes() == before  # the forked helper went with its worker's group


@pytest.mark.slow
def test_a_cell_reading_stdin_fails_at_once(tmp_path):
    asking = _notebook(tmp_path, "asking", "answer = input('password: ')")
    with pytest.raises(RenderError, match=r'at cell 0 "answer = input.*EOFError'):
        render_notebooks([NotebookJob(asking, {}, Path("a.html"), "a")], tmp_path / "out")


@pytest.mark.slow
def test_the_engine_starts_every_notebook_afresh_in_one_process(tmp_path):
    first = _notebook(tmp_path, "first", "secret = 1")
    second = _notebook(
        tmp_path,
        "second",
        "from IPython.display import HTML, display\n"
        "display(HTML(f'<p>leaked={\"secret\" in globals()}</p>'))",
    )
    script = (
        "import papermill, reliability.report.engine as e\n"
        f"folder = {str(tmp_path)!r}\n"
        "for name in ('first', 'second'):\n"
        "    papermill.execute_notebook(f'{folder}/{name}.ipynb', f'{folder}/{name}-out.ipynb',"
        " engine_name=e.ENGINE_NAME, kernel_name='python3', progress_bar=False)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert first.with_name("first-out.ipynb").exists()
    nb = nbformat.read(second.with_name("second-out.ipynb"), as_version=4)
    (output,) = nb.cells[0].outputs
    assert output.output_type == "display_data"
    assert output.data["text/html"] == "<p>leaked=False</p>"


@pytest.mark.slow
def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _report_process(tmp_path: Path, *, before: str = "") -> tuple[subprocess.Popen, Path]:
    """A process rendering a notebook that starts a helper process and then sleeps."""
    helper_pid = tmp_path / "helper.pid"
    notebook = _notebook(
        tmp_path,
        "long",
        "import subprocess, sys, time\n"
        "helper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        f"open({str(helper_pid)!r} + '.tmp', 'w').write(str(helper.pid))\n"
        f"__import__('os').replace({str(helper_pid)!r} + '.tmp', {str(helper_pid)!r})\n"
        "time.sleep(float(__import__('os').environ.get('NAP', '300')))",
    )
    script = (
        before + "from pathlib import Path\n"
        "from reliability.report.render import NotebookJob, render_notebooks\n"
        + _render_line(notebook, tmp_path / "out", "l")
    )
    return subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.DEVNULL), helper_pid


def _wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.exists()


@pytest.mark.slow
def test_terminating_the_report_process_stops_its_workers_and_their_processes(tmp_path):
    report, helper_pid = _report_process(tmp_path)
    _wait_for(helper_pid)
    helper = int(helper_pid.read_text())
    workers = [p.pid for p in psutil.Process(report.pid).children()]
    assert workers
    report.send_signal(signal.SIGTERM)
    assert report.wait(timeout=20) == -signal.SIGTERM  # it dies by the signal, as it would
    gone_by = time.monotonic() + 10
    for pid in [*workers, helper]:
        while not _gone(pid) and time.monotonic() < gone_by:
            time.sleep(0.05)
        assert _gone(pid)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_an_ignored_hangup_stays_ignored(tmp_path, monkeypatch):
    # as under nohup: the report goes on and is written
    monkeypatch.setenv("NAP", "1.5")
    report, helper_pid = _report_process(
        tmp_path, before="import signal\nsignal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
    )
    _wait_for(helper_pid)
    report.send_signal(signal.SIGHUP)
    assert report.wait(timeout=60) == 0
    assert (tmp_path / "out" / "l.html").exists()
    assert _gone(int(helper_pid.read_text()))


@pytest.mark.slow
def test_rendering_without_pidfd_or_waitid(tmp_path):
    # macOS has neither before Python 3.13: exits are then found by polling
    dying = _notebook(tmp_path, "dying", "import os\nos._exit(3)")
    script = (
        "import os\n"
        "del os.pidfd_open, os.waitid\n"
        "from pathlib import Path\n"
        "from reliability.errors import RenderError\n"
        "from reliability.report.render import NotebookJob, render_notebooks\n"
        + _render_line(PARAMETERS, tmp_path / "out", "p")
        + "try:\n    "
        + _render_line(dying, tmp_path / "out2", "d")
        + "except RenderError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert "leaked=False" in (tmp_path / "out" / "p.html").read_text()
    assert "the process running it exited with status 3" in result.stdout


@pytest.mark.slow
def test_a_cell_that_replaces_its_process_is_reported_as_such(tmp_path):
    replaced = _notebook(tmp_path, "replaced", "import os\nos.execv('/bin/sleep', ['sleep', '30'])")
    started = time.monotonic()
    with pytest.raises(RenderError) as caught:
        render_notebooks([NotebookJob(replaced, {}, Path("r.html"), "r")], tmp_path / "out")
    assert time.monotonic() - started < 20
    assert "closed its connection to the report without a result" in str(caught.value)
    assert 'at cell 0 "import os"' in str(caught.value)


@pytest.mark.slow
def test_a_timeout_outside_the_cell_code_is_a_cell_error(tmp_path):
    hooked = _notebook(
        tmp_path,
        "hooked",
        "import time\nget_ipython().events.register('post_run_cell', lambda r: time.sleep(3))",
        "x = 1",
    )
    with pytest.raises(RenderError) as caught:
        render_notebooks(
            [NotebookJob(hooked, {}, Path("h.html"), "h")], tmp_path / "out", timeout=1
        )
    message = str(caught.value)
    assert "CellTimeoutError: the cell ran longer than 1 s" in message
    assert "executed notebook saved to" in message


def _comparable(nb: nbformat.NotebookNode) -> list[list[dict]]:
    """Each cell's outputs without what differs between runs (tracebacks' file names)."""
    cells = []
    for cell in nb.cells:
        outputs = []
        for output in cell.get("outputs", []):
            shown = {"output_type": output.output_type}
            if "data" in output:
                shown["data"] = {k: v for k, v in output.data.items() if k != "text/plain"}
                shown["text/plain"] = output.data.get("text/plain", "")[:40]
            if output.output_type == "stream":
                shown.update(name=output.name, text=output.text.splitlines()[0])
            if output.output_type == "error":
                shown.update(ename=output.ename, evalue=output.evalue)
            if "execution_count" in output:
                shown["execution_count"] = output.execution_count
            outputs.append(shown)
        cells.append(outputs)
    return cells


@pytest.mark.slow
def test_the_engine_records_what_a_real_kernel_does(tmp_path):
    notebook = _notebook(
        tmp_path,
        "same",
        "from IPython.display import HTML, Markdown, display, clear_output\n"
        "h = display(HTML('<b>first</b>'), display_id=True)\n"
        "print('to stdout')",
        "h.update(Markdown('*second*'))\n'a result'",
        "display(HTML('gone'))\nclear_output(wait=True)\ndisplay(HTML('kept'))",
        "",
        "import sys\nprint('to stderr', file=sys.stderr)\n{'key': [1, 2]}",
        "class Picture:\n"
        "    def __repr__(self):\n"
        "        return 'Picture'\n"
        "    def _repr_png_(self):\n"
        "        return bytes.fromhex('89504e470d0a1a0a')\n"
        "Picture()",
        "raise KeyError('missing')",
    )
    kernel_out, engine_out = tmp_path / "kernel.ipynb", tmp_path / "engine.ipynb"
    with pytest.raises(papermill.PapermillExecutionError):
        papermill.execute_notebook(
            str(notebook), str(kernel_out), kernel_name="python3", progress_bar=False
        )
    _execute_in_subprocess(notebook, engine_out)
    kernel = nbformat.read(kernel_out, as_version=4)
    engine = nbformat.read(engine_out, as_version=4)
    assert _comparable(engine) == _comparable(kernel)
    counts = [[c.get("execution_count") for c in nb.cells] for nb in (engine, kernel)]
    assert counts[0] == counts[1]


@pytest.mark.slow
def test_an_export_that_hangs_is_stopped(tmp_path, monkeypatch):
    import reliability.report.render as render

    monkeypatch.setattr(render, "_write_page", lambda *args: time.sleep(120))  # forked too
    started = time.monotonic()
    with pytest.raises(RenderError) as caught:
        render_notebooks(
            [NotebookJob(PARAMETERS, {}, Path("p.html"), "p")], tmp_path / "out", timeout=1
        )
    assert time.monotonic() - started < 20
    assert str(caught.value) == (
        "notebook parameters.ipynb failed: exporting it to HTML took longer than 1 s and was "
        "stopped; no executed notebook was saved"
    )
