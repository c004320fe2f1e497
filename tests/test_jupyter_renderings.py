"""The Colab setup cell (booktools.colab) and the plain-Jupyter rendering (booktools.plain_jupyter)."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import types

import pytest

from booktools.colab import repo_url, setup_cell_source

URL = "https://github.com/backprop-book/linear-layer-backprop"


def _run_cell(source, monkeypatch, pip_result, helpers_importable):
    """Execute the setup cell with ``import helpers`` failing until the fake pip 'installs'."""
    calls = []
    real_import = __import__
    state = {"installed": helpers_importable}

    def fake_import(name, *args, **kwargs):
        if name == "helpers":
            if not state["installed"]:
                raise ModuleNotFoundError("No module named 'helpers'")
            return types.ModuleType("helpers")
        return real_import(name, *args, **kwargs)

    def fake_run(cmd, **kwargs):
        calls.append((cmd, kwargs))
        state["installed"] = pip_result.returncode == 0
        return pip_result

    monkeypatch.setattr(subprocess, "run", fake_run)
    out, err = io.StringIO(), io.StringIO()
    builtins = dict(__builtins__ if isinstance(__builtins__, dict) else vars(__builtins__))
    builtins["__import__"] = fake_import
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        exec(compile(source, "<setup cell>", "exec"), {"__builtins__": builtins})
    return out.getvalue(), err.getvalue(), calls


def test_setup_cell_silent_when_helpers_present(monkeypatch):
    ok = subprocess.CompletedProcess([], 0, "", "")
    out, err, calls = _run_cell(setup_cell_source(URL), monkeypatch, ok, True)
    assert (out, err, calls) == ("", "", [])


def test_setup_cell_one_line_when_installing(monkeypatch):
    # pip's own chatter (the restart note) is captured by the cell, never shown
    noisy = subprocess.CompletedProcess([], 0, "Successfully installed ...\n",
                                        "Note: you may need to restart the kernel to use "
                                        "updated packages.\n")
    out, err, calls = _run_cell(setup_cell_source(URL), monkeypatch, noisy, False)
    assert out.count("\n") == 1 and out.startswith("Installed the book's helpers from " + URL)
    assert "restart the kernel" not in out + err and err == ""
    (cmd, kwargs), = calls
    assert cmd[1:4] == ["-m", "pip", "install"] and f"git+{URL}" in cmd[-1]
    assert kwargs.get("capture_output") is True


def test_setup_cell_raises_with_pip_error(monkeypatch):
    bad = subprocess.CompletedProcess([], 1, "", "ERROR: could not clone\n")
    with pytest.raises(RuntimeError, match="could not clone"):
        _run_cell(setup_cell_source(URL), monkeypatch, bad, False)


def test_setup_cell_is_plain_python_and_uses_config_url():
    compile(setup_cell_source(URL), "<setup cell>", "exec")   # no %pip magic
    assert repo_url() == URL
