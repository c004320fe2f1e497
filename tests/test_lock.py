"""requirements.lock is pip-compile's output for requirements.txt, and up to date with it.

Offline and fast: compares the top-level pins with the lock (booktools/lockfile.py), it
does not resolve anything. Regenerate the lock with `make lock`.
"""

from __future__ import annotations

import re

from booktools import lockfile

from .conftest import ROOT

REQ = (ROOT / "requirements.txt").read_text()
LOCK = (ROOT / "requirements.lock").read_text()


def test_lock_is_up_to_date_with_requirements():
    found = lockfile.problems(REQ, LOCK, lockfile.pyproject_dependencies())
    assert found == [], "run `make lock` and commit requirements.lock:\n" + "\n".join(found)


def test_the_check_sees_a_changed_added_or_removed_pin():
    numpy = re.search(r"^numpy==(\S+)$", REQ, re.M).group(1)
    bumped = REQ.replace(f"numpy=={numpy}", "numpy==0.0.1")
    assert any("numpy" in p for p in lockfile.problems(bumped, LOCK))
    added = REQ + "\nsome-new-package==1.0\n"
    assert any("some-new-package" in p for p in lockfile.problems(added, LOCK))
    removed = re.sub(r"^sympy==.*$", "", REQ, flags=re.M)
    assert any(p.startswith("sympy==") for p in lockfile.problems(removed, LOCK))
    assert lockfile.problems(REQ, LOCK) == []


def test_lock_pins_everything_with_hashes_and_no_machine_paths():
    pins = lockfile.locked(LOCK)
    assert len(pins) > len(lockfile.top_level(REQ))  # transitive packages are locked too
    blocks = re.split(r"\n(?=[A-Za-z0-9])", LOCK.split("\n\n", 1)[-1])
    unhashed = [b.split()[0] for b in blocks
                if lockfile._PIN.match(b) and "--hash=sha256:" not in b]
    assert unhashed == []
    assert not re.search(r"^(-e|--extra-index-url|--index-url|--find-links)", LOCK, re.M)
    assert "file://" not in LOCK and "/opt/" not in LOCK


def test_torch_is_locked_to_the_cpu_build():
    assert lockfile.locked(LOCK)["torch"][0].endswith("+cpu")


def test_editable_block_is_stripped():
    text = ("# WARNING: pip install will require the following package to be hashed.\n"
            "# Consider using a hashable URL like https://example.org/x.zip\n"
            "-e file:///somewhere/repo\n    # via -r requirements.txt\n"
            "numpy==2.4.6 \\\n    --hash=sha256:00\n    # via -r requirements.txt\n")
    out = lockfile.strip_editable(text)
    assert out.startswith("numpy==2.4.6") and "file://" not in out and "WARNING" not in out
