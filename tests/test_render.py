"""The rendering machinery: papermill on a pool of real Jupyter kernels, HTML export,
atomic output, what a notebook cannot do to the run."""

from __future__ import annotations

import contextlib
import gc
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
import plotly.graph_objects as go
import plotly.io as pio
import psutil
import pytest
from browser import Browser

from reliability.errors import RenderError
from reliability.report import plotting
from reliability.report.render import KernelPool, NotebookJob, render_notebooks

NOTEBOOKS = Path(__file__).parent / "notebooks"
PARAMETERS = NOTEBOOKS / "parameters.ipynb"
CHARTS = NOTEBOOKS / "plotly_charts.ipynb"
FAILING = NOTEBOOKS / "failing.ipynb"
PLOTLYJS_SCRIPT = re.compile(r'<script[^>]*data-reliability="plotly.js"[^>]*>.*?</script>', re.S)
MAX_REPORT_BYTES = 6_000_000
STUCK = 600
"""Seconds a stuck cell or helper process of these tests would run by itself. A run that must
stop it ends in well under half of that, however busy the machine (a kernel that is slow to
start is given up after the renderer's START_SECONDS)."""
PROMPT = STUCK / 2
GONE_SECONDS = 60
"""For a process that was killed to be gone, however busy the machine."""


def child_processes() -> set[int]:
    """Processes started by this test process that are still there (zombies included)."""
    return {child.pid for child in psutil.Process().children(recursive=True)}


def kernel_processes() -> set[int]:
    """This test process's Jupyter kernels that are still running."""
    running = set()
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.ZombieProcess, psutil.NoSuchProcess):
            if "ipykernel_launcher" in " ".join(child.cmdline()):
                running.add(child.pid)
    return running


def _notebook(folder: Path, name: str, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(pids, seconds: float = GONE_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    for pid in pids:
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(pid), pid


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


# -- fast checks, no kernel ------------------------------------------------------------


@pytest.mark.parametrize("bad", ["../index.html", "/tmp/index.html", "."])
def test_output_paths_must_stay_inside_the_report(bad, tmp_path):
    jobs = [NotebookJob(PARAMETERS, {}, Path(bad), "x")]
    with pytest.raises(ValueError, match="not a relative path inside the report"):
        render_notebooks(jobs, tmp_path / "out", progress=False)


def test_two_jobs_cannot_write_the_same_file(tmp_path):
    jobs = [NotebookJob(PARAMETERS, {}, Path("a.html"), "x")] * 2
    with pytest.raises(ValueError, match=r"a\.html would be written twice"):
        render_notebooks(jobs, tmp_path / "out", progress=False)


def test_parameters_must_be_plain_values(tmp_path):
    jobs = [NotebookJob(PARAMETERS, {"service": object()}, Path("a.html"), "x")]
    with pytest.raises(TypeError, match="parameter 'service'"):
        render_notebooks(jobs, tmp_path / "out", progress=False)


def test_only_extra_files_need_no_kernel(tmp_path):
    before, threads = child_processes(), threading.active_count()
    written = render_notebooks([], tmp_path / "out", files={"a/b.txt": "x"}, progress=False)
    assert written == [tmp_path / "out" / "a/b.txt"]
    assert (tmp_path / "out" / "a/b.txt").read_text() == "x"
    assert child_processes() - before == set()
    assert threading.active_count() == threads


def test_a_missing_notebook_is_named_before_any_kernel_starts(tmp_path):
    before = child_processes()
    jobs = [NotebookJob(tmp_path / "nowhere.ipynb", {}, Path("a.html"), "a")]
    with pytest.raises(RenderError, match=r"notebook .*nowhere\.ipynb not found"):
        render_notebooks(jobs, tmp_path / "out", progress=False)
    assert child_processes() - before == set()
    assert list(tmp_path.iterdir()) == []


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


# -- kernels: reused, reset, shut down -------------------------------------------------


@pytest.mark.slow
def test_no_variable_leaks_between_notebooks_on_one_kernel(tmp_path):
    jobs = [
        NotebookJob(PARAMETERS, {"service": f"s{i}"}, Path(f"p{i}.html"), f"p{i}") for i in range(3)
    ]
    for path in render_notebooks(jobs, tmp_path / "out", progress=False, workers=1):
        assert "leaked=False" in path.read_text()


@pytest.mark.slow
def test_a_kernel_is_reused_with_its_modules_but_not_its_variables(tmp_path):
    first = _notebook(
        tmp_path, "first", "import os, sys\nsecret = 1\nsys.marker_of_first = os.getpid()"
    )
    second = _notebook(
        tmp_path,
        "second",
        "import os, sys\nfrom IPython.display import HTML, display\n"
        "same = sys.marker_of_first == os.getpid()\n"
        "leaked = 'secret' in globals() or 'left_by_preload' in globals()\n"
        "display(HTML(f'<p>leaked={leaked} same={same} preloaded={sys.preloaded}</p>'))",
    )
    jobs = [
        NotebookJob(first, {}, Path("first.html"), "first"),
        NotebookJob(second, {}, Path("second.html"), "second"),
    ]
    with KernelPool(1, preload="import sys\nsys.preloaded = 42\nleft_by_preload = 1") as pool:
        render_notebooks(jobs, tmp_path / "out", pool=pool, progress=False)
        (kernel,) = kernel_processes()
        render_notebooks(jobs[1:], tmp_path / "again", pool=pool, progress=False)
        assert kernel_processes() == {kernel}  # the same kernel, still running
    assert (
        "<p>leaked=False same=True preloaded=42</p>" in (tmp_path / "out/second.html").read_text()
    )
    assert "leaked=False same=True" in (tmp_path / "again/second.html").read_text()
    _wait_gone([kernel])


@pytest.mark.slow
def test_a_run_leaves_no_process_thread_or_socket(tmp_path):
    # filterwarnings = error: a socket left open is a ResourceWarning, raised when collected
    before, threads = child_processes(), threading.active_count()
    files = psutil.Process().num_fds()
    jobs = [NotebookJob(PARAMETERS, {}, Path(f"{i}.html"), "ok") for i in range(4)]
    assert len(render_notebooks(jobs, tmp_path / "out", progress=False, workers=2)) == 4
    gc.collect()
    assert child_processes() - before == set()
    assert threading.active_count() == threads
    assert psutil.Process().num_fds() == files


@pytest.mark.slow
def test_unknown_parameters_are_reported(tmp_path, caplog):
    jobs = [NotebookJob(PARAMETERS, {"servce": "typo"}, Path("a.html"), "a")]
    render_notebooks(jobs, tmp_path / "out", progress=False)
    assert "parameters.ipynb: parameters not in its parameters cell: ['servce']" in caplog.text


# -- failures: one line naming the notebook and the cell -------------------------------


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
    assert message == (
        "notebook failing.ipynb (service='broken') failed at cell 1 \"value = 41\": "
        f"ValueError: boom for broken: value was 41; executed notebook saved to {saved}"
    )
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
    stubborn = _notebook(
        tmp_path,
        "stubborn",
        f"import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep({STUCK})",
    )
    jobs = [
        NotebookJob(stubborn, {}, Path("stubborn.html"), "stubborn"),
        NotebookJob(FAILING, {}, Path("failing.html"), "failing"),
    ]
    before = child_processes()
    started = time.monotonic()
    with pytest.raises(RenderError, match=r"failing\.ipynb"):
        render_notebooks(jobs, tmp_path / "out", progress=False, workers=2)
    assert time.monotonic() - started < PROMPT
    assert child_processes() - before == set()
    jobs = [NotebookJob(PARAMETERS, {}, Path(f"{i}.html"), "ok") for i in range(3)]
    assert len(render_notebooks(jobs, tmp_path / "out", progress=False)) == 3


@pytest.mark.slow
def test_a_notebook_that_kills_its_process_is_reported(tmp_path):
    dying = _notebook(tmp_path, "dying", "x = 1", "import os\nos._exit(3)")
    jobs = [NotebookJob(dying, {}, Path("dying.html"), "dying")]
    before = child_processes()
    with pytest.raises(RenderError) as caught:
        render_notebooks(jobs, tmp_path / "out", progress=False)
    saved = tmp_path / ".failed" / "out" / "dying.ipynb"
    assert str(caught.value) == (
        'notebook dying.ipynb failed at cell 1 "import os": the kernel died: exited with '
        f"status 3; executed notebook saved to {saved}"
    )
    assert nbformat.read(saved, as_version=4).cells[0].execution_count == 1
    assert not (tmp_path / "out").exists()
    assert child_processes() - before == set()
    jobs = [NotebookJob(PARAMETERS, {}, Path(f"{i}.html"), "ok") for i in range(3)]
    assert len(render_notebooks(jobs, tmp_path / "out", progress=False)) == 3


@pytest.mark.slow
def test_a_kernel_killed_by_a_signal_is_named_and_its_processes_go_with_it(tmp_path):
    # the notebook forks a process that keeps the kernel's sockets open, then the kernel dies
    killed = _notebook(
        tmp_path,
        "killed",
        f"import os, signal, time\nif os.fork() == 0:\n    time.sleep({STUCK})\n    os._exit(0)",
        "os.kill(os.getpid(), signal.SIGKILL)",
    )
    before = child_processes()
    started = time.monotonic()
    with pytest.raises(RenderError) as caught:
        render_notebooks([NotebookJob(killed, {}, Path("k.html"), "k")], tmp_path / "out")
    assert time.monotonic() - started < PROMPT  # not waiting for the forked helper
    assert str(caught.value).startswith(
        'notebook killed.ipynb failed at cell 1 "os.kill(os.getpid(), signal.SIGKILL)": the '
        "kernel died: killed by SIGKILL (out of memory?); executed notebook saved to "
    )
    assert child_processes() - before == set()  # the forked helper went with the kernel's group


@pytest.mark.slow
def test_a_cell_that_runs_too_long_is_stopped(tmp_path):
    # The cell before is text: no code but the slow cell's can reach the limit, however busy
    # the machine; the cells are still numbered as in the source.
    slow = _notebook(tmp_path, "slow", f"import time\ntime.sleep({STUCK})")
    nb = nbformat.read(slow, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("# A slow notebook"))
    nbformat.write(nb, slow)
    jobs = [NotebookJob(slow, {}, Path("slow.html"), "slow")]
    before = child_processes()
    started = time.monotonic()
    with pytest.raises(RenderError) as caught:
        render_notebooks(jobs, tmp_path / "out", progress=False, timeout=1.5)
    assert time.monotonic() - started < PROMPT
    assert str(caught.value).startswith(
        'notebook slow.ipynb failed at cell 1 "import time": the cell ran longer than 1.5 s;'
        " its kernel was stopped; executed notebook saved to "
    )
    assert child_processes() - before == set()


@pytest.mark.slow
def test_a_cell_cannot_swallow_its_timeout(tmp_path):
    stubborn = _notebook(
        tmp_path,
        "stubborn",
        "import signal, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
        f"for attempt in range({2 * STUCK}):\n"
        "    try:\n"
        "        time.sleep(0.5)\n"
        "    except BaseException:\n"
        "        pass",
    )
    before = child_processes()
    started = time.monotonic()
    with pytest.raises(RenderError, match=r'at cell 0 "import signal, time": the cell ran longer'):
        render_notebooks(
            [NotebookJob(stubborn, {}, Path("s.html"), "s")], tmp_path / "o", timeout=1
        )
    assert time.monotonic() - started < PROMPT
    assert child_processes() - before == set()


@pytest.mark.slow
def test_a_cell_that_replaces_its_process_is_stopped_by_the_timeout(tmp_path):
    replaced = _notebook(
        tmp_path, "replaced", f"import os\nos.execv('/bin/sleep', ['sleep', '{STUCK}'])"
    )
    before = child_processes()
    with pytest.raises(RenderError, match=r'at cell 0 "import os": the cell ran longer than 2 s'):
        render_notebooks(
            [NotebookJob(replaced, {}, Path("r.html"), "r")], tmp_path / "o", timeout=2
        )
    assert child_processes() - before == set()


@pytest.mark.slow
def test_a_timeout_outside_the_cell_code_is_a_cell_timeout(tmp_path):
    hooked = _notebook(
        tmp_path,
        "hooked",
        "import time\nget_ipython().events.register('post_run_cell', lambda r: time.sleep(5))",
        "x = 1",
    )
    with pytest.raises(RenderError) as caught:
        render_notebooks(
            [NotebookJob(hooked, {}, Path("h.html"), "h")], tmp_path / "out", timeout=1
        )
    message = str(caught.value)
    assert 'failed at cell 0 "import time": the cell ran longer than 1 s' in message
    assert "executed notebook saved to" in message


@pytest.mark.slow
def test_no_kernel_is_left_behind(tmp_path):
    before = child_processes()
    jobs = [
        NotebookJob(PARAMETERS, {}, Path("a.html"), "a"),
        NotebookJob(FAILING, {}, Path("b.html"), "b"),
    ]
    with pytest.raises(RenderError, match=r"failing\.ipynb"):
        render_notebooks(jobs, tmp_path / "out", workers=2, progress=False)
    assert child_processes() - before == set()
    assert not (tmp_path / "out").exists()

    written = render_notebooks(jobs[:1], tmp_path / "out", workers=2, progress=False)
    assert [p.name for p in written] == ["a.html"]
    assert child_processes() - before == set()


@pytest.mark.slow
def test_a_pool_survives_a_failed_run(tmp_path):
    with KernelPool(2) as pool:
        jobs = [NotebookJob(FAILING, {}, Path("b.html"), "b")]
        with pytest.raises(RenderError, match=r"failing\.ipynb"):
            render_notebooks(jobs, tmp_path / "out", pool=pool, progress=False)
        jobs = [NotebookJob(PARAMETERS, {}, Path(f"{i}.html"), "ok") for i in range(3)]
        assert len(render_notebooks(jobs, tmp_path / "out", pool=pool, progress=False)) == 3
        # A kernel killed by the failure starts again with its next job: never more than two.
        assert 1 <= len(kernel_processes()) <= 2
    assert kernel_processes() == set()


@pytest.mark.slow
def test_keyboard_interrupt_stops_every_kernel(tmp_path):
    before = child_processes()
    slow = _notebook(tmp_path, "slow", f"import time\ntime.sleep({STUCK})")
    jobs = [NotebookJob(slow, {}, Path(f"{i}.html"), "slow") for i in range(3)]
    timer = threading.Timer(5.0, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    # Ctrl-C as in a terminal, even when the test run was started in the background.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            render_notebooks(jobs, tmp_path / "out", workers=2, progress=False)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - started < PROMPT
    assert child_processes() - before == set()
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["slow.ipynb"]


@pytest.mark.slow
def test_a_cell_reading_stdin_fails_at_once(tmp_path):
    asking = _notebook(tmp_path, "asking", "answer = input('password: ')")
    with pytest.raises(RenderError, match=r'at cell 0 "answer = input.*StdinNotImplementedError'):
        render_notebooks([NotebookJob(asking, {}, Path("a.html"), "a")], tmp_path / "out")


@pytest.mark.slow
def test_an_export_failure_is_named_as_such(tmp_path, monkeypatch):
    import reliability.report.render as render

    def broken(nb, title):
        raise UnicodeEncodeError("utf-8", "\udcff", 0, 1, "surrogates not allowed")

    monkeypatch.setattr(render, "export_html", broken)
    notebook = _notebook(tmp_path, "exported", "x = 1", "y = 2")
    with pytest.raises(RenderError) as caught:
        render_notebooks([NotebookJob(notebook, {}, Path("s.html"), "s")], tmp_path / "out")
    saved = tmp_path / ".failed" / "out" / "s.ipynb"
    assert str(caught.value) == (
        "notebook exported.ipynb failed while exporting it to HTML: UnicodeEncodeError: 'utf-8' "
        "codec can't encode character '\\udcff' in position 0: surrogates not allowed; "
        f"executed notebook saved to {saved}"
    )
    assert [c.execution_count for c in nbformat.read(saved, as_version=4).cells] == [1, 2]


@pytest.mark.slow
def test_processes_a_notebook_starts_neither_stall_nor_outlive_the_run(tmp_path):
    marker = tmp_path / "helper.pid"
    notebook = _notebook(
        tmp_path,
        "helper",
        "import subprocess, sys\n"
        f"helper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep({STUCK})'])\n"
        f"open({str(marker)!r}, 'w').write(str(helper.pid))",
        "from IPython.display import HTML\nHTML('<p id=\"done\">done</p>')",
    )
    started = time.monotonic()
    render_notebooks([NotebookJob(notebook, {}, Path("a.html"), "a")], tmp_path / "out")
    assert time.monotonic() - started < PROMPT  # not waiting for the helper to end
    _wait_gone([int(marker.read_text())])
    assert 'id="done"' in (tmp_path / "out" / "a.html").read_text()


# -- the report process: stdout, signals -----------------------------------------------


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
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=PROMPT, check=True
    )
    assert result.stdout == "the report path\n"
    assert "from-a-subprocess" not in (tmp_path / "out" / "n.html").read_text()


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
    subprocess.run([sys.executable, "-c", script], check=True, timeout=PROMPT)
    assert "leaked=False" in (tmp_path / "out" / "p.html").read_text()


TERMINAL_CTRL_C = "import signal\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"
"""Ctrl-C as in a terminal: a test run started in the background (``make test &``) passes its
children SIGINT ignored, which a report rightly keeps ignored (docs/operations.md)."""


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
        TERMINAL_CTRL_C + before + "from pathlib import Path\n"
        "from reliability.report.render import NotebookJob, render_notebooks\n"
        + _render_line(notebook, tmp_path / "out", "l")
    )
    return subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.DEVNULL), helper_pid


def _wait_for(path: Path, seconds: float = PROMPT) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.exists()


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_stopping_the_report_process_stops_its_kernels_and_their_processes(tmp_path, stop):
    report, helper_pid = _report_process(tmp_path)
    _wait_for(helper_pid)
    kernels = [p.pid for p in psutil.Process(report.pid).children()]
    assert kernels
    report.send_signal(stop)
    assert report.wait(timeout=PROMPT) == -stop  # it ends by the signal, as a scheduler expects
    _wait_gone([*kernels, int(helper_pid.read_text())])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["helper.pid", "long.ipynb"]


@pytest.mark.slow
def test_an_ignored_hangup_stays_ignored(tmp_path, monkeypatch):
    # as under nohup: the report goes on and is written
    monkeypatch.setenv("NAP", "1.5")
    report, helper_pid = _report_process(
        tmp_path, before="import signal\nsignal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
    )
    _wait_for(helper_pid)
    report.send_signal(signal.SIGHUP)
    assert report.wait(timeout=PROMPT) == 0
    assert (tmp_path / "out" / "l.html").exists()
    _wait_gone([int(helper_pid.read_text())])
