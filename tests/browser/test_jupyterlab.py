"""A chapter opened in JupyterLab with jupyterlab-myst reads like the site (issue 12, item 1).

Starts ``jupyter lab`` (the version ``make lab`` installs, with ``jupyterlab-myst`` from
requirements.txt) on 127.0.0.1 with a random token, in a temporary root holding a copy of
chapter 5, and opens it in the system Chromium (``/usr/bin/chromium``; never
``playwright install``). Checks that the MyST markdown is rendered: an admonition with
its title, the solutions' code folded (a placeholder that opens on a click) and no raw
directive fence, role or ``(label)=`` target on screen.

A JupyterLab server is an environment of its own (the one Binder opens): the test is
marked ``envs`` and runs in `make test-envs`, which CI runs. Skipped with the reason when
Chromium, playwright, jupyterlab or jupyterlab-myst is missing, except with ``CI=true``,
where it fails. The server is given 120 s to start and
the page 180 s to render; it is stopped (its own process) at the end.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.envs

ROOT = Path(__file__).resolve().parents[2]
CHAPTER = ROOT / "chapters" / "05_linear_layer.ipynb"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ON_CI = os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM}"
    for module in ("playwright", "jupyterlab", "jupyterlab_myst"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (make lab installs jupyterlab; requirements.txt jupyterlab-myst)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    reason = _missing()
    if reason:
        if ON_CI:
            pytest.fail(f"JupyterLab test cannot run: {reason} (CI=true)", pytrace=False)
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("lab")
    (tmp / "root").mkdir()
    shutil.copy(CHAPTER, tmp / "root" / CHAPTER.name)
    # render every cell, not only those scrolled into view (JupyterLab 4 windowing)
    settings = tmp / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
               JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"))
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={tmp / 'root'}", "--LabApp.news_url=",
           "--ServerApp.port_retries=0"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("jupyter lab did not start:\n"
                                + (tmp / "server.log").read_text()[-3000:], pytrace=False)
                time.sleep(1)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def chromium(request, lab):
    """The browser suite's shared Chromium when the site is built, else one of our own
    (a second sync playwright cannot start while the shared one runs)."""
    try:
        shared = request.getfixturevalue("browser")
    except pytest.skip.Exception:
        shared = None
    if shared is not None:
        yield shared
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        own = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield own
        own.close()


def test_chapter_renders_with_jupyterlab_myst(lab, chromium):
    base, token = lab
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base)
                      or not r.request.url.startswith("http") else r.abort())
        page = context.new_page()
        page.goto(f"{base}/lab/tree/{CHAPTER.name}?token={token}", timeout=180_000)
        page.wait_for_selector(".jp-MarkdownCell .myst-admonition", timeout=180_000)

        # an admonition, rendered with its title
        admonition = page.locator(".jp-MarkdownCell .myst-admonition").first
        title = admonition.locator(".myst-admonition-header").inner_text().strip()
        assert title and admonition.is_visible()

        # an exercise's solution: the chapters' solutions are gated ({solution-start} ...
        # {solution-end}, so that code inside them runs), which jupyterlab-myst draws as an
        # empty "Start of Solution" box; the solution's code cells are folded instead
        # (metadata jupyter.source_hidden, set by booktools.notebooks): JupyterLab shows a
        # placeholder, not the code, until it is clicked
        page.wait_for_selector(".jp-CodeCell .jp-InputPlaceholder", timeout=60_000)
        folded = page.locator(".jp-CodeCell:has(.jp-InputPlaceholder)")
        assert folded.count() >= 2, "the solution code cells are not folded"
        shown = page.locator(".jp-CodeCell .jp-InputArea-editor").evaluate_all(
            "els => els.filter(e => e.offsetParent !== null).map(e => e.innerText).join('\\n')")
        assert "def my_linear_vjp" not in shown, "a solution's code is on screen"
        cell = folded.first.element_handle()      # a handle: the :has() above stops matching
        cell.scroll_into_view_if_needed()
        cell.query_selector(".jp-InputPlaceholder").click()
        page.wait_for_function(
            "c => { const e = c.querySelector('.jp-InputArea-editor');"
            " return e !== null && e.offsetParent !== null; }", arg=cell, timeout=30_000)

        # nothing raw on screen: directive fences, roles, (label)= targets
        text = page.locator(".jp-MarkdownCell .jp-RenderedMarkdown, .jp-MarkdownCell .myst") \
            .evaluate_all("els => els.map(e => e.innerText).join('\\n')")
        for raw in ("```{", ":::{", "{ref}`", "{eq}`", "{numref}`", ":label:", ":class:",
                    "(sec-linear)="):
            assert raw not in text, f"raw MyST on screen: {raw}"
    finally:
        context.close()
