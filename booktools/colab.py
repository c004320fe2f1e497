"""The Colab setup cell: the first code cell of every chapter (tag ``remove-cell``).

In Colab, where torch is preinstalled but the book's helpers are not, the cell installs
them from the repository with pip's output captured, then prints ONE line saying so (or,
if pip fails, raises with pip's last lines). Where the helpers are importable (a local
``make lab``, Binder, the website's build) it prints nothing. No kernel restart is
needed: ``helpers`` was never imported, so the fresh install is what ``import helpers``
finds (``importlib.invalidate_caches`` makes the new folder visible).

``python -m booktools.colab --write chapters/*.ipynb`` puts :func:`setup_cell_source`
(with ``repository.url`` from ``_config.yml``) into the first code cell of each notebook,
keeping the cell's id and tags; ``--check`` lists the notebooks whose cell differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["setup_cell_source", "repo_url", "write_setup_cell"]

ROOT = Path(__file__).resolve().parent.parent


def repo_url(config: str | Path = ROOT / "_config.yml") -> str:
    """``repository.url`` of ``_config.yml``: the one place the address is written."""
    import yaml

    return yaml.safe_load(Path(config).read_text())["repository"]["url"]


def setup_cell_source(repo_url: str) -> str:
    """Source of the first code cell of every chapter (hidden on the website).

    Parameters
    ----------
    repo_url : str
        ``repository.url`` from ``_config.yml``, e.g.
        ``https://github.com/backprop-book/linear-layer-backprop``.

    Returns
    -------
    str
        Python code (no IPython magics, so it also runs under plain ``python``): silent
        when ``import helpers`` succeeds, one printed line when it installs them.
    """
    return (
        "# Setup for Colab (hidden on the website): install the book's helpers if missing.\n"
        "# Where they are installed already (make lab, Binder) this cell prints nothing.\n"
        "try:\n"
        "    import helpers\n"
        "except ModuleNotFoundError:\n"
        "    import importlib, subprocess, sys\n"
        "    _pip = subprocess.run(\n"
        '        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",\n'
        f'         "backprop-book-helpers @ git+{repo_url}"],\n'
        "        capture_output=True, text=True)\n"
        "    if _pip.returncode:\n"
        "        raise RuntimeError(\"installing the book's helpers failed:\\n\" + _pip.stderr[-3000:])\n"
        "    importlib.invalidate_caches()\n"
        "    import helpers\n"
        f"    print(\"Installed the book's helpers from {repo_url} (no restart needed).\")"
    )


def write_setup_cell(path: str | Path, url: str, write: bool = True) -> bool:
    """Make the first code cell of ``path`` the setup cell; return True if it differed.

    The cell keeps its id; its tags keep ``remove-cell`` (added if missing).
    """
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code")
    source = setup_cell_source(url)
    tags = list(cell.metadata.get("tags", []))
    changed = cell.source != source or "remove-cell" not in tags
    if changed and write:
        cell.source = source
        if "remove-cell" not in tags:
            cell.metadata["tags"] = tags + ["remove-cell"]
        path.write_text(nbformat.writes(nb) + "\n")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m booktools.colab", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="update the first code cell in place")
    mode.add_argument("--check", action="store_true", help="exit 1 if a notebook's cell differs")
    args = parser.parse_args(argv)
    url = repo_url()
    differ = [p for p in args.notebooks if write_setup_cell(p, url, write=args.write)]
    for p in differ:
        print(f"{'updated' if args.write else 'differs'}: {p}")
    return 1 if (args.check and differ) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
