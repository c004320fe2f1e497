"""The book's execution cache is never stale, and a prose-only edit executes nothing.

Fast checks of the keys (booktools/bookcache.py) run in `make test`; the build test (marked
``envs``, run by `make test-envs`) runs the real `make book` four times on a mini book (the
repository's Makefile, configuration, _ext/ and helpers/, one small notebook that counts
its own executions in a file next to it) in a temporary folder:

1. first build: the notebook runs once;
2. a markdown cell edited: nothing runs, and the page shows the new text;
3. a helper edited (helpers/__init__.py): the notebook runs again and shows the new value;
4. a code cell edited: the notebook runs again; a fifth build with no change runs nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from booktools import bookcache

from .conftest import ROOT

COPY_FILES = ["Makefile", "_config.yml", "references.bib", "pyproject.toml",
              "requirements.txt", "requirements.lock"]
COPY_DIRS = ["helpers", "booktools", "_ext", "_static"]


def mini_book(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in COPY_FILES:
        if (ROOT / name).is_file():
            shutil.copy(ROOT / name, dest / name)
    for name in COPY_DIRS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, dest / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if (ROOT / "web_vendor").is_dir():
        (dest / "web_vendor").symlink_to(ROOT / "web_vendor", target_is_directory=True)
    (dest / "intro.md").write_text("(sec-intro)=\n# Intro\n\nA mini book.\n")
    (dest / "chapters").mkdir()
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("(sec-mini)=\n# Mini chapter\n\nFirst prose.\n"),
        nbformat.v4.new_code_cell(
            'with open("runs.log", "a") as f:\n    f.write("run\\n")\n'
            'import helpers\nprint("probe:", getattr(helpers, "PROBE", "none"))'),
    ])
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                 "name": "python3"}
    nbformat.write(nb, str(dest / "chapters" / "mini.ipynb"))
    (dest / "_toc.yml").write_text(yaml.safe_dump({
        "format": "jb-book", "root": "intro",
        "parts": [{"caption": "Chapters", "chapters": [{"file": "chapters/mini"}]}]}))
    return dest


# ------------------------------------------------------------------ the keys (fast)

def test_exec_key_follows_helpers_and_lock_not_prose(tmp_path):
    book = mini_book(tmp_path / "book")
    key = bookcache.exec_key(book)
    assert bookcache.local_imports(book) == ["helpers"]
    nb_path = book / "chapters" / "mini.ipynb"
    nb = nbformat.read(str(nb_path), as_version=4)
    nb.cells[0].source += "More prose.\n"
    nbformat.write(nb, str(nb_path))
    assert bookcache.exec_key(book) == key, "a prose edit must not change the execution key"
    render = bookcache.render_key(book)
    with open(book / "helpers" / "__init__.py", "a") as f:
        f.write("\n# an edit\n")
    assert bookcache.exec_key(book) != key
    key = bookcache.exec_key(book)
    with open(book / "requirements.lock", "a") as f:
        f.write("\n# an edit\n")
    assert bookcache.exec_key(book) != key
    key = bookcache.exec_key(book)
    assert bookcache.render_key(book) != render
    render = bookcache.render_key(book)
    with open(book / "_config.yml", "a") as f:
        f.write("\n# an edit\n")
    assert bookcache.exec_key(book) == key and bookcache.render_key(book) != render


def test_a_new_local_module_imported_by_a_notebook_is_in_the_key(tmp_path):
    book = mini_book(tmp_path / "book")
    (book / "extra_mod.py").write_text("X = 1\n")
    key = bookcache.exec_key(book)
    nb_path = book / "chapters" / "mini.ipynb"
    nb = nbformat.read(str(nb_path), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import extra_mod"))
    nbformat.write(nb, str(nb_path))
    assert "extra_mod.py" in bookcache.local_imports(book)
    key2 = bookcache.exec_key(book)
    (book / "extra_mod.py").write_text("X = 2\n")
    assert bookcache.exec_key(book) != key2 != key


def test_prepare_empties_a_stale_cache_and_asks_for_all(tmp_path):
    book = mini_book(tmp_path / "book")
    assert bookcache.prepare(book) == "--all"  # nothing built yet
    (book / "_build" / ".jupyter_cache").mkdir()
    (book / "_build" / ".jupyter_cache" / "marker").write_text("x")
    bookcache.done(book)
    assert bookcache.prepare(book) == ""  # same keys, last build succeeded
    bookcache.failed(book)
    assert bookcache.prepare(book) == "--all"  # a failed build is never trusted
    bookcache.done(book)
    assert (book / "_build" / ".jupyter_cache" / "marker").exists()
    with open(book / "helpers" / "__init__.py", "a") as f:
        f.write("\n# an edit\n")
    assert bookcache.prepare(book) == "--all"
    assert not (book / "_build" / ".jupyter_cache").exists()


def test_cross_document_glue_makes_a_notebook_edit_read_every_page(tmp_path):
    import time

    book = mini_book(tmp_path / "book")
    bookcache.prepare(book)
    bookcache.done(book)
    nb_path = book / "chapters" / "mini.ipynb"
    later = time.time() + 5
    os.utime(nb_path, (later, later))
    assert bookcache.prepare(book) == ""  # no page pastes from another document
    bookcache.done(book)
    (book / "intro.md").write_text("# Intro\n\nLoss {glue:text}`chapters/mini.ipynb::k`.\n")
    assert bookcache.cross_document_glue(book)
    later += 5
    os.utime(nb_path, (later, later))
    assert bookcache.prepare(book) == "--all"


def test_the_executor_fills_the_cache_the_build_reads(tmp_path):
    """A notebook executed by booktools/executor.py (the first run of `make test`, the
    parallel executions of `make book`) is found by myst-nb's cache lookup (same
    jupyter-cache hash), so the build does not execute it again."""
    from jupyter_cache import get_cache

    from booktools import executor

    book = mini_book(tmp_path / "book")
    key = bookcache.prepare_cache(book, log=lambda m: None)
    path = book / "chapters" / "mini.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[1].source = 'print("a cheap cell")'  # the hash does not depend on what runs
    nbformat.write(nb, str(path))
    assert executor.toc_notebooks(book) == [path]
    assert executor.uncached([path], book) == [path]
    [run] = executor.execute_all([path], root=book)
    assert run.error is None and run.times["wall_s"] > 0
    assert executor.store_in_cache(run.nb, path, 1.0, key=key, root=book)
    assert executor.uncached([path], book) == []
    cache = get_cache(str(book / "_build" / ".jupyter_cache"))
    record = cache.match_cache_notebook(nbformat.read(str(path), as_version=4))
    assert record.uri == str(path)
    with open(book / "helpers" / "__init__.py", "a") as f:
        f.write("\n# an edit\n")
    assert not executor.store_in_cache(run.nb, path, 1.0, key=key, root=book)  # the key moved on


def test_make_books_executor_runs_what_the_cache_lacks_and_stops_on_a_raising_cell(
        tmp_path, capsys):
    """`python -m booktools.executor book`: two notebooks executed in parallel into the
    cache, nothing on the next call; a raising cell fails it with the cell's traceback
    and leaves that notebook out of the cache."""
    from booktools import executor

    book = mini_book(tmp_path / "book")
    chapters = book / "chapters"
    for name, source in [("mini", 'print("one")'), ("second", 'print("two")')]:
        nb = nbformat.read(str(chapters / "mini.ipynb"), as_version=4)
        nb.cells[1].source = source
        nbformat.write(nb, str(chapters / f"{name}.ipynb"))
    toc = yaml.safe_load((book / "_toc.yml").read_text())
    toc["parts"][0]["chapters"].append({"file": "chapters/second"})
    (book / "_toc.yml").write_text(yaml.safe_dump(toc))
    bookcache.prepare_cache(book, log=lambda m: None)
    assert executor.book(book) == 0
    assert "executing 2 notebook(s), 2 at a time" in capsys.readouterr().err
    assert executor.uncached(executor.toc_notebooks(book), book) == []
    assert executor.book(book) == 0 and capsys.readouterr().err == ""  # nothing to run

    nb = nbformat.read(str(chapters / "second.ipynb"), as_version=4)
    nb.cells[1].source = 'def f():\n    return 1 / 0\nf()'
    nbformat.write(nb, str(chapters / "second.ipynb"))
    assert executor.book(book) == 1
    err = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().err)
    assert "chapters/second.ipynb: Cell 0 (cell index 1) raised ZeroDivisionError" in err
    assert "return 1 / 0" in err
    assert executor.uncached(executor.toc_notebooks(book), book) == [chapters / "second.ipynb"]


# ------------------------------------------------------------- the real build (envs)

def _make_book(book: Path) -> str:
    venv = Path(sys.executable).parent.parent
    stamp = venv / ".installed"
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the kernels must import the mini book's helpers
    env["PYTHONPATH"] = str(book)
    proc = subprocess.run(["make", "--no-print-directory", "-o", str(stamp), "book",
                           f"VENV={venv}", f"STAMP={stamp}"],
                          cwd=book, env=env, capture_output=True, text=True, timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    return log


def _runs(book: Path) -> int:
    log = book / "chapters" / "runs.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def _page(book: Path) -> str:
    return (book / "_build" / "html" / "chapters" / "mini.html").read_text()


@pytest.mark.envs
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_book_reexecutes_exactly_when_it_must(tmp_path):
    book = mini_book(tmp_path / "book")
    nb_path = book / "chapters" / "mini.ipynb"

    log = _make_book(book)
    assert _runs(book) == 1, log[-3000:]
    assert "probe: none" in _page(book)
    assert "without encryption" not in log, "a kernel warned about its transport"

    nb = nbformat.read(str(nb_path), as_version=4)
    nb.cells[0].source = nb.cells[0].source.replace("First prose.", "Edited prose.")
    nbformat.write(nb, str(nb_path))
    log = _make_book(book)
    assert _runs(book) == 1, "a prose-only edit executed the notebook\n" + log[-3000:]
    assert "Edited prose." in _page(book) and "First prose." not in _page(book)

    with open(book / "helpers" / "__init__.py", "a") as f:
        f.write('\nPROBE = "edited helper"\n')
    log = _make_book(book)
    assert _runs(book) == 2, "a helper edit did not re-execute the notebook\n" + log[-3000:]
    assert "probe: edited helper" in _page(book)

    nb = nbformat.read(str(nb_path), as_version=4)
    nb.cells[1].source += '\nprint("second line")'
    nbformat.write(nb, str(nb_path))
    _make_book(book)
    assert _runs(book) == 3 and "second line" in _page(book)
    log = _make_book(book)
    assert _runs(book) == 3, "a build with no change executed the notebook\n" + log[-3000:]
