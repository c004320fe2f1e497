"""Binder configuration (binder/): CPU-only torch, helpers installed, pins from requirements.txt.

The pins have one source of truth, ../requirements.txt; binder/requirements.txt only says
which of those packages Binder installs, and ``binder/sync_requirements.py`` copies the
versions. The slow simulation of the Binder build itself is tests/envs/test_binder_build.py
(``make test-envs``).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
#: lock files another tool may generate from requirements.txt (pip-compile and the like)
LOCK_CANDIDATES = ("requirements.lock", "requirements-lock.txt", "requirements.lock.txt")


def _sync():
    spec = importlib.util.spec_from_file_location("binder_sync", BINDER / "sync_requirements.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sync = _sync()


def test_binder_torch_is_the_cpu_build():
    text = (BINDER / "requirements.txt").read_text()
    assert f"--extra-index-url {CPU_INDEX}" in text.splitlines()
    binder = sync.pins(text)
    assert binder.get("torch") == sync.pins((ROOT / "requirements.txt").read_text())["torch"]


def test_binder_pins_match_the_root_requirements():
    diff = sync.differences((BINDER / "requirements.txt").read_text(),
                            (ROOT / "requirements.txt").read_text())
    assert diff == [], "binder/ disagrees with requirements.txt: run python binder/sync_requirements.py"


def test_binder_pins_match_the_lock_file():
    """When a lock file generated from requirements.txt exists, binder/ agrees with it too."""
    locks = [ROOT / name for name in LOCK_CANDIDATES if (ROOT / name).is_file()]
    if not locks:
        pytest.skip("no lock file (requirements.lock) in the repository")
    binder = sync.pins((BINDER / "requirements.txt").read_text())
    for lock in locks:
        locked = sync.pins(lock.read_text())
        # a local version label (torch 2.13.0+cpu: the CPU build) is the same release: Binder
        # gets the CPU build of 2.13.0 from its extra index, this machine from a local wheel
        differ = {n: (v, locked.get(n)) for n, v in binder.items()
                  if n in locked and locked[n].split("+")[0] != v.split("+")[0]}
        missing = sorted(n for n in binder if n not in locked)
        assert differ == {}, f"binder/ vs {lock.name}: (binder, lock); regenerate the lock"
        assert missing == [], f"binder/ packages missing from {lock.name}"


def test_the_check_catches_a_drifted_pin():
    """The sync check is not true by construction: a changed version or a stray line fails it."""
    root = "numpy==2.4.6\ntorch==2.13.0\n"
    assert sync.differences("--extra-index-url x\ntorch==2.13.0\nnumpy==2.4.6\n", root) == []
    assert sync.differences("numpy==2.4.5\n", root) == [
        "numpy: binder/ has 2.4.5, requirements.txt has 2.4.6"]
    assert len(sync.differences("numpy>=2\n", root)) == 1      # not an exact pin
    assert len(sync.differences("scipy==1.0\n", root)) == 1    # not pinned in the root file
    text, problems = sync.synced("# c\nNumPy==1.0  # why\n", root)
    assert (text, problems) == ("# c\nNumPy==2.4.6  # why\n", [])


def test_binder_installs_the_helpers():
    post = (BINDER / "postBuild").read_text()
    assert re.search(r"pip install .*-e \.", post), "postBuild must pip install -e ."
    assert (BINDER / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"
    assert "helpers" in (ROOT / "pyproject.toml").read_text()


def test_binder_python_is_the_tested_one():
    import sys

    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert runtime == f"python-{sys.version_info.major}.{sys.version_info.minor}", (
        "binder/runtime.txt names another Python than the one the tests run on")
