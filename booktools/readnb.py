"""Read one submitted notebook in a process of its own: ``python -m booktools.readnb``.

The grader (:mod:`booktools.grade`) never parses a submission in its own process: a
notebook is the student's file, and a few megabytes of JSON can take gigabytes to parse
(nested lists) or minutes to validate. This module runs under a memory limit and a time
limit set by :func:`read`; it reads the file without following links (regular files only,
size-capped), parses it with nbformat, and prints, as one JSON object, only what grading
needs: the code cells' sources and the exercises the file is graded on.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

#: the largest submitted notebook the grader reads (a chapter with outputs is ~2 MB)
MAX_NOTEBOOK_BYTES = 64 * 2 ** 20
#: the parser's address-space limit and time limit
MEMORY_MB = 2048
TIMEOUT = 60


def read_capped(path: Path, cap: int) -> bytes | str | None:
    """The bytes of ``path`` if it is a regular file (not followed if it is a link) of at
    most ``cap`` bytes; ``None`` if it does not exist; else why not (str). The student's
    code writes some of the files read this way: ``status.json`` as a link to /dev/zero
    or a FIFO must cost nothing (it hung the grader, or filled its memory, before)."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:  # ELOOP: a symbolic link
        return f"{path.name} is not a regular file ({exc.strerror})"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return f"{path.name} is not a regular file"
        if st.st_size > cap:
            return f"the {path.name} file is {st.st_size} bytes (at most {cap})"
        chunks, n = [], 0
        while n <= cap:
            chunk = os.read(fd, min(1 << 20, cap + 1 - n))
            if not chunk:
                break
            chunks.append(chunk)
            n += len(chunk)
        if n > cap:
            return f"the {path.name} file is over {cap} bytes"
        return b"".join(chunks)
    finally:
        os.close(fd)


def labels_in(path: Path, text: str, exercises) -> list[str]:
    """The labels of ``exercises`` (``(label, function name, chapter)``) the file is graded
    on: the label or a ``def`` of the function appears in ``text``, or the chapter in the
    file's name."""
    return [label for label, func, chapter in exercises
            if label in text or re.search(rf"def\s+{re.escape(func)}\s*\(", text)
            or chapter in path.name]


def _parse(path: Path, exercises: list[list[str]]) -> dict:
    """``{"labels": [...], "cells": [...] or None, "error": str or None}``."""
    raw = read_capped(path, MAX_NOTEBOOK_BYTES)
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else ""
    labels = labels_in(path, text, exercises)
    if not isinstance(raw, bytes):
        why = (raw or "it vanished").replace(f"the {path.name} file", "it")
        return {"labels": labels, "cells": None, "error": f"ValueError: {why}"}
    sys.modules.setdefault("rfc3987_syntax", None)  # as in grade_worker.py: unused, 1.1 s
    import nbformat

    try:
        nb = nbformat.reads(text, as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("it has no list of cells")
    except MemoryError:
        return {"labels": labels, "cells": None,
                "error": f"MemoryError: it needs over {MEMORY_MB} MB to parse"}
    except Exception as exc:  # noqa: BLE001 - any unreadable file costs its exercises
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        return {"labels": labels, "cells": None, "error": f"{type(exc).__name__}: {first}"}
    cells = []
    for cell in nb["cells"]:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            src = cell.get("source", "")
            cells.append({"cell_type": "code",
                          "source": "".join(src) if isinstance(src, list) else str(src)})
    return {"labels": labels, "cells": cells, "error": None}


def _limits():
    os.setsid()
    mem = MEMORY_MB * 2 ** 20
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def read(path: Path, exercises: list[tuple[str, str, str]]) -> dict:
    """Parse ``path`` in a limited, timed subprocess; see :func:`_parse` for the result.

    ``exercises`` lists ``(label, function name, chapter)``: a file is graded on a label
    that appears in it, a ``def`` of its function, or its chapter in the file's name.
    A parser that runs out of memory or time costs this file only."""
    cmd = [sys.executable, "-m", "booktools.readnb", str(path), json.dumps(exercises)]
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH", "LANG", "HOME")}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parent.parent)] + ([env["PYTHONPATH"]]
                                                          if env.get("PYTHONPATH") else []))
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=TIMEOUT, env=env, preexec_fn=_limits)
    except subprocess.TimeoutExpired:
        return {"labels": _labels_from_name(path, exercises), "cells": None,
                "error": f"TimeoutError: it took over {TIMEOUT} s to parse"}
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["killed"]
        if "MemoryError" in tail[0]:
            tail = [f"MemoryError: it needs over {MEMORY_MB} MB to parse"]
        return {"labels": _labels_from_name(path, exercises), "cells": None,
                "error": tail[0][:200]}
    return json.loads(proc.stdout)


def _labels_from_name(path: Path, exercises) -> list[str]:
    return labels_in(path, "", exercises)


if __name__ == "__main__":
    result = _parse(Path(sys.argv[1]), json.loads(sys.argv[2]))
    sys.stdout.write(json.dumps(result))
