"""Keep binder/requirements.txt's pins equal to ../requirements.txt (the one source of truth).

binder/requirements.txt lists which packages Binder installs (the ones the chapters import,
no book-building or test tools); the *versions* come from ../requirements.txt. This script
rewrites each ``name==version`` line of binder/requirements.txt with the root file's
version and leaves comments, options (``--extra-index-url``) and order alone.

    python binder/sync_requirements.py          # rewrite binder/requirements.txt
    python binder/sync_requirements.py --check  # exit 1 and list the differences

``tests/test_binder.py`` runs the check, so a pin changed in one file only fails the tests.
A package Binder needs must be pinned in ../requirements.txt first (the check fails for a
binder line whose package the root file does not pin, or pins without ``==``).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

BINDER = Path(__file__).resolve().parent
ROOT = BINDER.parent
#: ``name==version`` at the start of a requirements line (extras and markers not used here)
PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9_.\-]*)\s*==\s*([^\s;#]+)")
#: a requirement line that is not an option, a comment or blank
REQUIREMENT = re.compile(r"^\s*[A-Za-z0-9]")


def canonical(name: str) -> str:
    """PEP 503 normalised project name (``Jupyter_Book`` -> ``jupyter-book``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, str]:
    """``{canonical name: version}`` for every ``name==version`` line of a requirements text."""
    out = {}
    for line in text.splitlines():
        m = PIN.match(line)
        if m:
            out[canonical(m.group(1))] = m.group(2)
    return out


def synced(binder_text: str, root_text: str) -> tuple[str, list[str]]:
    """binder/requirements.txt with the root's versions, and the problems found.

    Returns
    -------
    text : str
        ``binder_text`` with every pinned version replaced by the root file's.
    problems : list of str
        One line per binder requirement the root file does not pin with ``==``, or that
        binder does not pin with ``==`` (those lines are left unchanged).
    """
    root = pins(root_text)
    lines, problems = [], []
    for line in binder_text.splitlines():
        m = PIN.match(line)
        if m:
            name = canonical(m.group(1))
            if name not in root:
                problems.append(f"{m.group(1)}: pinned in binder/ but not (with ==) in requirements.txt")
            else:
                line = line[:m.start(2)] + root[name] + line[m.end(2):]
        elif REQUIREMENT.match(line):
            problems.append(f"{line.strip()!r}: binder/ requirement without an exact == pin")
        lines.append(line)
    return "\n".join(lines) + "\n", problems


def differences(binder_text: str, root_text: str) -> list[str]:
    """Every disagreement between the two files, as readable lines (empty = in sync)."""
    new_text, problems = synced(binder_text, root_text)
    old, new = pins(binder_text), pins(new_text)
    return problems + [f"{name}: binder/ has {old[name]}, requirements.txt has {new[name]}"
                       for name in old if old[name] != new[name]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report, exit 1 on differences")
    args = parser.parse_args(argv)
    binder_file, root_file = BINDER / "requirements.txt", ROOT / "requirements.txt"
    binder_text, root_text = binder_file.read_text(), root_file.read_text()
    diff = differences(binder_text, root_text)
    if args.check:
        for line in diff:
            print(line)
        print("binder/requirements.txt is in sync with requirements.txt" if not diff
              else "run: python binder/sync_requirements.py")
        return 1 if diff else 0
    new_text, problems = synced(binder_text, root_text)
    if new_text != binder_text:
        binder_file.write_text(new_text)
        print(f"rewrote {binder_file.relative_to(ROOT)}")
    for line in problems:
        print("problem:", line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
