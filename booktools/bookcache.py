"""Keys that keep the book's execution cache never stale (``make book``, ``make test``).

``make book`` runs Jupyter Book with ``execute_notebooks: cache``: myst-nb stores each
executed notebook in jupyter-cache (``_build/.jupyter_cache``) under a hash of its code
cells and kernel, so an edit to a markdown cell reuses the stored outputs and an edit to a
code cell re-executes that notebook. jupyter-cache does not see what the code *imports*,
so this module adds two keys of its own:

* the **execution key**: a hash of every file under ``helpers/`` and of any other package
  or module of the repository that a notebook imports (found by scanning the code cells
  of every notebook for ``import``/``from`` lines), of ``requirements.lock`` and
  ``pyproject.toml``, and of the installed packages (name and version of every
  distribution the build's Python sees) and the Python version. When it
  differs from the key the cache was filled under, the cache is emptied: every notebook
  imports ``helpers``, so each one must run again.
* the **render key**: the execution key plus ``_config.yml``, ``_toc.yml``,
  ``references.bib`` and ``_ext/`` (the local Sphinx extensions). Sphinx re-reads only
  the pages whose source file changed, so after any change of these, or after a build
  that failed (its warnings would not be repeated by an incremental build), the next build
  passes ``--all`` (a fresh Sphinx environment: every page is read again, from the cache).
  So does a changed notebook when some page pastes a value glued in *another* document
  (``{glue:text}`path/to/notebook::key```): Sphinx would not rewrite the pasting page.

    python -m booktools.bookcache prepare   # before a build: empties a stale cache, prints
                                            # the extra jupyter-book flags ("--all" or "")
    python -m booktools.bookcache done      # after a successful build: records its keys
    python -m booktools.bookcache key       # print the execution key

``booktools/executor.py`` stores into the same cache, under the same key (only when the
key did not change while it ran): ``make book`` executes the notebooks the cache lacks, in
parallel, before jupyter-book reads them, and ``make test`` stores each notebook that nbval
validated (the first run's executed copy), so its book build executes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build"
CACHE = BUILD / ".jupyter_cache"          # jupyter-book's default for the book at ROOT
CACHE_KEY = BUILD / ".jupyter_cache.key"  # the execution key the cache was filled under
BUILT = BUILD / ".book-key.json"          # the keys of the last successful build
PENDING = BUILD / ".book-key.pending.json"

#: what the chapters import, and the environment they run in (plus local_imports())
EXEC_INPUTS = ["helpers", "requirements.lock", "pyproject.toml"]
_IMPORT = re.compile(r"^\s*(?:from|import)\s+([A-Za-z_][A-Za-z0-9_]*)", re.M)
_SKIP_DIRS = {"_build", ".venv", "node_modules", "student", ".git"}
#: what changes a page without changing its source file
RENDER_INPUTS = ["_config.yml", "_toc.yml", "references.bib", "_ext", "_static"]


def _hash_paths(h, root: Path, names: list[str]) -> None:
    for name in names:
        p = root / name
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            if "__pycache__" in f.parts or f.suffix == ".pyc" or not f.exists():
                continue
            h.update(f.relative_to(root).as_posix().encode() + b"\0")
            h.update(hashlib.sha256(f.read_bytes()).digest())


def local_imports(root: Path = ROOT) -> list[str]:
    """Top-level packages/modules of the repository that some notebook's code imports."""
    found = set()
    for nb in _sources(root, (".ipynb",)):
        try:
            cells = json.loads(nb.read_text()).get("cells", [])
        except (ValueError, OSError):
            continue
        for cell in cells:
            if cell.get("cell_type") != "code":
                continue
            src = cell.get("source", "")
            for name in _IMPORT.findall("".join(src) if isinstance(src, list) else src):
                if (root / name / "__init__.py").is_file() or (root / f"{name}.py").is_file():
                    found.add(name if (root / name).is_dir() else f"{name}.py")
    return sorted(found)


def environment() -> list[str]:
    """``name==version`` of every installed distribution, and the Python version."""
    from importlib import metadata

    # a set: the same distribution may be seen twice (an editable install and its
    # egg-info in the repository, both on sys.path)
    dists = sorted({f"{re.sub(r'[-_.]+', '-', d.metadata['Name']).lower()}=={d.version}"
                    for d in metadata.distributions() if d.metadata["Name"]})
    return [f"python=={sys.version}"] + dists


def exec_key(root: Path = ROOT) -> str:
    h = hashlib.sha256(b"exec-v1\0")
    _hash_paths(h, root, sorted(set(EXEC_INPUTS) | set(local_imports(root))))
    h.update("\n".join(environment()).encode())
    return h.hexdigest()


def render_key(root: Path = ROOT, exec_k: str | None = None) -> str:
    h = hashlib.sha256(b"render-v1\0" + (exec_k or exec_key(root)).encode())
    _hash_paths(h, root, RENDER_INPUTS)
    return h.hexdigest()


_CROSS_GLUE = re.compile(r"\{glue(?::\w+)?\}`[^`]*::")


def _sources(root: Path, suffixes=(".md", ".ipynb")):
    """The book's source files, without walking into .venv, _build, node_modules, ..."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(".")
                       and d != "web_vendor"]
        for name in filenames:
            if name.endswith(suffixes):
                yield Path(dirpath) / name


def cross_document_glue(root: Path = ROOT) -> bool:
    """Does some page paste a value glued in another document?"""
    return any(_CROSS_GLUE.search(f.read_text(errors="replace")) for f in _sources(root))


def notebook_changed_since(t: float, root: Path = ROOT) -> bool:
    return any(f.stat().st_mtime > t for f in _sources(root) if f.suffix == ".ipynb")


def _read(path: Path) -> str | None:
    return path.read_text().strip() if path.is_file() else None


def prepare_cache(root: Path = ROOT, key: str | None = None, log=print) -> str:
    """Empty the cache when it was filled under another execution key; return the key."""
    key = key or exec_key(root)
    build = root / "_build"
    cache, cache_key = build / CACHE.name, build / CACHE_KEY.name
    old = _read(cache_key)
    if old != key:
        if cache.exists():
            log("execution cache: helpers/ (or another local module a notebook imports), "
                "requirements.lock or the installed packages changed, "
                "every notebook runs again")
            shutil.rmtree(cache)
        build.mkdir(parents=True, exist_ok=True)
        cache_key.write_text(key + "\n")
    return key


def cache_is_current(key: str, root: Path = ROOT) -> bool:
    return _read(root / "_build" / CACHE_KEY.name) == key


def prepare(root: Path = ROOT) -> str:
    """Before a build: the extra jupyter-book flags ("--all" or "")."""
    def log(msg):
        print(msg, file=sys.stderr)

    ek = prepare_cache(root, log=log)
    keys = {"exec": ek, "render": render_key(root, ek)}
    build = root / "_build"
    (build / PENDING.name).write_text(json.dumps(dict(keys, started=time.time())))
    last = json.loads(_read(build / BUILT.name) or "null")
    if last is not None:
        last.pop("started", None)
    if last == keys:
        built = (build / BUILT.name).stat().st_mtime
        if cross_document_glue(root) and notebook_changed_since(built, root):
            log("book: a notebook changed and some page pastes a value glued in another "
                "document: every page is read")
            return "--all"
        return ""
    if last is None:
        log("book: no successful build recorded (first build, or the last one failed): "
            "every page is read")
    elif last.get("exec") != ek:
        log("book: helpers/ or the environment changed: every page is read")
    else:
        log("book: configuration, table of contents, bibliography or _ext/ changed: "
            "every page is read")
    return "--all"


def executed_since(started: float, root: Path = ROOT) -> list[tuple[str, float]]:
    """(notebook, seconds) for each cache record the build created (= executed)."""
    cache_dir = root / "_build" / CACHE.name
    if not cache_dir.is_dir():
        return []
    from datetime import timezone

    from jupyter_cache import get_cache

    out = []
    for rec in get_cache(str(cache_dir)).list_cache_records():
        created = rec.created if rec.created.tzinfo else rec.created.replace(tzinfo=timezone.utc)
        if created.timestamp() >= started - 1:
            uri = Path(rec.uri)
            name = uri.relative_to(root).as_posix() if uri.is_relative_to(root) else rec.uri
            out.append((name, float((rec.data or {}).get("execution_seconds") or 0.0)))
    return sorted(out)


def done(root: Path = ROOT) -> None:
    """After a successful build: record its keys and say which notebooks it executed."""
    build = root / "_build"
    pending = build / PENDING.name
    if not pending.is_file():
        return
    started = json.loads(pending.read_text()).get("started", time.time())
    pending.replace(build / BUILT.name)
    ran = executed_since(started, root)
    if ran:
        print(f"book: executed {len(ran)} notebook(s), every other page from the execution "
              "cache: " + ", ".join(f"{n} ({t:.1f} s)" for n, t in ran))
    else:
        print("book: no notebook executed (every output from the execution cache)")


def failed(root: Path = ROOT) -> None:
    for name in (BUILT.name, PENDING.name):
        (root / "_build" / name).unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else ""
    if cmd == "prepare":
        print(prepare())
    elif cmd == "prepare-cache":
        prepare_cache(log=lambda m: print(m, file=sys.stderr))
    elif cmd == "done":
        done()
    elif cmd == "failed":
        failed()
    elif cmd == "key":
        print(exec_key())
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
