"""The lock file: ``requirements.lock`` pins the whole environment, with hashes.

``requirements.txt`` holds the top-level pins (what the book needs, chosen by hand);
``requirements.lock`` is pip-tools' ``pip-compile --generate-hashes`` output for it: every
package of the environment, transitive ones included, at one version, with the sha256 of
each file pip may install. ``make venv`` installs the lock (``pip install --require-hashes``)
and then the book's own ``helpers`` package, editable, without dependencies.

    python -m booktools.lockfile compile   # what `make lock` runs (needs the package index)
    python -m booktools.lockfile check     # offline, stdlib only: is the lock up to date?

``check`` fails when a top-level pin of ``requirements.txt`` (or a dependency named in
``pyproject.toml``) is missing from the lock or locked at another version, or when the lock
still holds a top-level pin that ``requirements.txt`` no longer has. It reads both files
only, so it is fast and works without network; ``tests/test_lock.py`` runs it and
``make venv`` runs it before installing.

The editable line ``-e .`` of ``requirements.txt`` cannot go into the lock: pip-compile
writes it as an absolute ``file:///`` URL of the machine that ran it, and pip refuses an
editable requirement in hash-checking mode. :func:`compile_lock` drops it; ``make venv``
installs the package with ``pip install --no-deps --no-build-isolation -e .``.
Index options (the machine's ``find-links``/``extra-index-url`` from pip's configuration)
are not written into the lock either: they belong to the machine, not to the repository.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements.txt"
LOCK = ROOT / "requirements.lock"
PYPROJECT = ROOT / "pyproject.toml"

#: the command written into the lock's header
COMPILE_COMMAND = "make lock"
PIP_COMPILE_ARGS = ["--generate-hashes", "--allow-unsafe", "--strip-extras",
                    "--no-emit-index-url", "--no-emit-find-links", "--no-emit-trusted-host",
                    "--resolver=backtracking", "--quiet"]

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*==\s*([^\s;\\#]+)")
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalize(name: str) -> str:
    """PEP 503 normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_lines(text: str) -> list[str]:
    """Requirement lines of a requirements file (no comments, options, blank lines)."""
    out = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#") or line.startswith("-"):
            continue
        out.append(line)
    return out


def top_level(text: str) -> dict[str, str | None]:
    """``{name: version or None}`` for each requirement of ``requirements.txt``."""
    out: dict[str, str | None] = {}
    for line in requirement_lines(text):
        m = _PIN.match(line)
        if m:
            out[normalize(m.group(1))] = m.group(2)
        elif (n := _NAME.match(line)):
            out[normalize(n.group(1))] = None
    return out


def locked(text: str) -> dict[str, tuple[str, list[str]]]:
    """``{name: (version, [via ...])}`` for each package of a pip-compile lock."""
    out: dict[str, tuple[str, list[str]]] = {}
    current = None
    in_via = False
    for raw in text.splitlines():
        if raw and not raw[0].isspace() and not raw.startswith(("#", "-")):
            m = _PIN.match(raw)
            if m:
                current = normalize(m.group(1))
                out[current] = (m.group(2), [])
                in_via = False
            continue
        s = raw.strip()
        if current is None or not s.startswith("#"):
            continue
        body = s[1:].strip()
        if body.startswith("via"):
            in_via = True
            rest = body[3:].strip()
            if rest:
                out[current][1].append(rest)
        elif in_via and body:
            out[current][1].append(body)
        else:
            in_via = False
    return out


def _same_version(pinned: str, lock_version: str) -> bool:
    """``==2.13.0`` accepts ``2.13.0+cpu`` (PEP 440: no local label in the pin)."""
    return lock_version == pinned or ("+" not in pinned and lock_version.split("+")[0] == pinned)


def pyproject_dependencies(path: Path = PYPROJECT) -> list[str]:
    try:
        import tomllib
    except ImportError:  # Python 3.10: skip this part of the check
        return []
    deps = tomllib.loads(path.read_text()).get("project", {}).get("dependencies", [])
    return [normalize(_NAME.match(d).group(1)) for d in deps if _NAME.match(d)]


def problems(requirements: str, lock: str, deps: list[str] = ()) -> list[str]:
    """Why ``lock`` is out of date with ``requirements`` (empty when it is not)."""
    top, pins = top_level(requirements), locked(lock)
    found = []
    for name, version in top.items():
        if name not in pins:
            found.append(f"{name}: in requirements.txt, missing from requirements.lock")
        elif version is not None and not _same_version(version, pins[name][0]):
            found.append(f"{name}: requirements.txt pins {version}, "
                         f"requirements.lock has {pins[name][0]}")
    for name, (version, via) in pins.items():
        if any(v.startswith("-r ") for v in via) and name not in top:
            found.append(f"{name}=={version}: locked as a top-level pin, "
                         "no longer in requirements.txt")
    for name in deps:
        if name not in pins:
            found.append(f"{name}: a dependency in pyproject.toml, missing from requirements.lock")
    return found


def check() -> int:
    if not LOCK.is_file():
        print("requirements.lock is missing: run `make lock`", file=sys.stderr)
        return 1
    found = problems(REQUIREMENTS.read_text(), LOCK.read_text(), pyproject_dependencies())
    for p in found:
        print(f"requirements.lock is out of date: {p}", file=sys.stderr)
    if found:
        print("Regenerate it with `make lock` (needs the package index), then commit it.",
              file=sys.stderr)
    return 1 if found else 0


def strip_editable(text: str) -> str:
    """Remove pip-compile's block for ``-e .`` (absolute URL, refused under --require-hashes)."""
    lines = text.splitlines()
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("# WARNING: pip install will require the following package to be hashed"):
            i += 1
            while i < len(lines) and lines[i].startswith("# Consider using a hashable URL"):
                i += 1
            continue
        if line.startswith("-e "):
            i += 1
            while i < len(lines) and lines[i].startswith("    "):
                i += 1
            continue
        out.append(line)
        i += 1
    return "\n".join(out) + "\n"


def compile_lock(extra_args: list[str] = ()) -> int:
    env = dict(os.environ, CUSTOM_COMPILE_COMMAND=COMPILE_COMMAND)
    tmp = LOCK.with_suffix(".lock.tmp")
    cmd = [sys.executable, "-m", "piptools", "compile", *PIP_COMPILE_ARGS, *extra_args,
           "--output-file", tmp.name, REQUIREMENTS.name]
    if LOCK.is_file():  # keep the versions already locked unless a pin forces a change
        tmp.write_text(LOCK.read_text())
    print("+", " ".join(cmd[2:]), flush=True)
    rc = subprocess.call(cmd, cwd=ROOT, env=env)
    if rc != 0:
        tmp.unlink(missing_ok=True)
        return rc
    LOCK.write_text(strip_editable(tmp.read_text()))
    tmp.unlink()
    print(f"wrote {LOCK.name}: {len(locked(LOCK.read_text()))} packages (pip-compile's "
          "warning above is about `-e .`, which is left out of the lock: make venv installs it)")
    return check()


def main(argv: list[str]) -> int:
    if argv[:1] == ["check"]:
        return check()
    if argv[:1] == ["compile"]:
        return compile_lock(argv[1:])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
