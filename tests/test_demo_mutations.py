"""The book's checks can fail: mutations that must turn `make test-envs` red.

1. ``torch.testing.assert_close`` silently disabled inside the kernel (an IPython
   startup file): every chapter must then stop at a failure demo, because the demo's
   wrong formula is no longer rejected.
2. ``helpers.compare`` replaced by a function that accepts anything: the same.
3. A failure demo whose wrong formula is made right (a source edit of one chapter's
   demo): the chapter must fail at that demo.

Each run stops at the first failing cell, so these are partial executions -- but of a
chapter in a kernel broken on purpose, a third execution that `make test` (each chapter at
most twice) leaves out: they are marked ``envs`` and run by `make test-envs`, which CI runs.
"""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from .conftest import ROOT, chapter_paths

pytestmark = pytest.mark.envs

CHAPTERS = chapter_paths()
IDS = [p.stem for p in CHAPTERS]

DISABLERS = {
    "assert_close": ("import torch.testing\n"
                     "torch.testing.assert_close = lambda *args, **kwargs: None\n"),
    "compare": ("import sys, helpers\n"
                "def _accept(name, got, expected, **kwargs):\n"
                "    print(name, 'accepted without checking')\n"
                "    return 0.0\n"
                "sys.modules['helpers.compare'].compare = _accept\n"
                "helpers.compare = _accept\n"),
}


def _execute(nb, path, tmp_path, monkeypatch, startup: str | None = None):
    if startup is not None:
        folder = tmp_path / "ipython" / "profile_default" / "startup"
        folder.mkdir(parents=True)
        (folder / "00-mutation.py").write_text(startup)
        monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()


#: every chapter with assert_close disabled; compare disabled on one chapter (the same
#: mechanism rejects both: a demo whose check accepts the wrong formula raises)
MUTANTS = [(p, "assert_close") for p in CHAPTERS] + [
    (p, "compare") for p in CHAPTERS if p.stem == "05_linear_layer"]


@pytest.mark.parametrize("path, disabled", MUTANTS, ids=[f"{p.stem}-{d}" for p, d in MUTANTS])
def test_chapter_fails_when_its_checks_are_disabled(path, disabled, tmp_path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    with pytest.raises(CellExecutionError) as info:
        _execute(nb, path, tmp_path, monkeypatch, DISABLERS[disabled])
    assert "FailureDemoPassed" in str(info.value), (
        f"{path.name} with {disabled} disabled failed, but not at a failure demo:\n"
        f"{str(info.value)[-800:]}")


#: (chapter stem, the wrong formula in its demo, the same formula made right)
MADE_RIGHT = [
    ("05_linear_layer", "X.T @ G, Xr.grad", "G @ W.T, Xr.grad"),
]


@pytest.mark.parametrize("stem, wrong, right", MADE_RIGHT, ids=[m[0] for m in MADE_RIGHT])
def test_a_demo_made_right_fails_the_chapter(stem, wrong, right, tmp_path, monkeypatch):
    path = ROOT / "chapters" / f"{stem}.ipynb"
    nb = nbformat.read(path, as_version=4)
    demos = [c for c in nb.cells if c.cell_type == "code"
             and ("expect_wrong(" in c.source or "rejects(" in c.source) and wrong in c.source]
    assert demos, f"{stem}: no failure demo contains {wrong!r}; update MADE_RIGHT"
    demos[0].source = demos[0].source.replace(wrong, right)
    with pytest.raises(CellExecutionError) as info:
        _execute(nb, path, tmp_path, monkeypatch)
    assert "FailureDemoPassed" in str(info.value)
