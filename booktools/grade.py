"""Grade a folder of submitted notebooks: ``python -m booktools.grade DIR`` (``make grade``).

The verdict is computed here, in a process that runs no student code. For every
notebook under ``DIR`` and every code exercise it is graded on:

1. **Find and vet.** The last code cell defining the exercise's function
   (:data:`helpers.exercises.EXERCISES` names it) is taken, reduced to its imports,
   definitions and the assignments they use, and read -- never run -- by
   :func:`booktools.vet.vet`: a reference to the book's helpers (directly, by alias,
   via getattr, importlib, ``sys.modules`` or ``__import__``), autograd where the
   exercise forbids it, or anything it cannot vet (exec/eval, dunder attributes,
   names the cell does not define) gets no credit, with a diagnosis.
2. **Run, in a sandbox.** Cases are drawn from a fresh secret seed, saved as data
   (tensors and small specs), and a three-cell notebook -- a trusted first cell, the
   vetted cell, a trusted cell that calls the function on every case with
   :func:`helpers.harness.run_case` under the runtime guard of :mod:`booktools.guard`
   (autograd, ``torch.func`` and the exercise's forbidden ops refused and recorded as
   they run) and saves the records and the guard's record with ``torch.save`` -- is
   executed by :mod:`booktools.grade_worker` (nbclient and a fresh kernel) inside the
   sandbox of :mod:`booktools.sandbox`: no network, a read-only filesystem without
   the book, the submissions or your home folder, one writable folder, limits on
   memory, processes, CPU time and file size, and a time limit per cell and in all.
3. **Judge, as data.** The records are loaded with ``torch.load(weights_only=True)``
   (no pickled objects), validated, and judged by :func:`helpers.exercises.verdict`,
   the same body the self-check cells use. A missing, huge, forged or malformed
   outputs file, a timeout, a dead kernel: each costs that exercise only, with a
   diagnosis. Nothing the student's code patches, prints or writes sets a verdict.

Which exercises a notebook is graded on: ``--exercises`` if given, else every label in
:data:`~helpers.exercises.EXERCISES` whose label or ``def my_...`` appears in the file, or
whose chapter's name is part of the file name. The results go to a CSV file
(``student_file, exercise, result, diagnosis``). ``--shard K/N`` grades every N-th
notebook starting at the K-th (in sorted order), so that N machines share a class and
their CSV files concatenate. ``--no-sandbox`` runs the worker without bubblewrap
(then a submission can do anything your user can: only for trusted code).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from queue import Queue

from . import sandbox
from . import readnb
from .readnb import read_capped
from .vet import Rejected, extract, find_cell, vet

# as in grade_worker.py: nbformat would load rfc3987_syntax through jsonschema and compile
# an IRI grammar (1.1 s) that notebook validation never uses
sys.modules.setdefault("rfc3987_syntax", None)

__all__ = ["Options", "expected_labels", "grade_exercise", "grade_folder", "main"]

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "helpers" / "harness.py"
WORKER = Path(__file__).resolve().parent / "grade_worker.py"
GUARD = Path(__file__).resolve().parent / "guard.py"
#: the largest outputs file the grader loads (the records of the cases are ~100 kB)
MAX_OUTPUTS_BYTES = 32 * 2 ** 20
WARMUP_TIMEOUT = 300  # the trusted first cell imports torch: not the student's time


@dataclass
class Options:
    cell_timeout: float = 60
    timeout: float = 600
    jobs: int = 1
    use_sandbox: bool = True
    vet: bool = True  #: False only to test the sandbox alone (``--no-vet``)
    uid_base: int = sandbox.BASE_UID  #: as root: the job slots claim the first free uids from here
    limits: sandbox.Limits = field(default_factory=sandbox.Limits)
    hide: list = field(default_factory=list)  #: more folders the sandbox must not show


def expected_labels(path: Path, text: str) -> list[str]:
    """The exercises a submission is graded on (see the module docstring)."""
    from helpers.exercises import EXERCISES

    return readnb.labels_in(path, text, [(lab, ex.func, ex.chapter)
                                         for lab, ex in EXERCISES.items()])


# ------------------------------------------------------------------ one exercise

def _notebook(ex, code: str, cell_timeout: float) -> dict:
    """The notebook the worker executes: trusted cell, student's cell, trusted cell."""
    import nbformat

    imports = "".join(f"import {m}\n" for m in ex.policy.modules)
    first = nbformat.v4.new_code_cell(
        "import torch as _grader_torch, _book_harness as _grader_harness\n"
        "import _book_guard as _grader_guard_module\n" + imports)
    first.metadata["grader_timeout"] = WARMUP_TIMEOUT
    student = nbformat.v4.new_code_cell(code)
    # the runtime guard (booktools/guard.py) is armed around each call of the student's
    # function: what the static pass could not see (autograd reached at run time, a
    # forbidden op by another name) is refused and recorded; a record that is not empty
    # fails the exercise even if the student's code caught the refusal
    last = nbformat.v4.new_code_cell(
        "_grader_cases = _grader_torch.load('cases.pt', weights_only=True)\n"
        f"_grader_fn = globals().get({ex.func!r})\n"
        f"_grader_guard = _grader_guard_module.Guard(autograd={bool(ex.policy.autograd)!r},\n"
        f"                                           forbidden={tuple(ex.policy.forbidden)!r},\n"
        f"                                           op_budget={ex.policy.op_budget!r})\n"
        "_grader_records = []\n"
        "for _c in (_grader_cases if callable(_grader_fn) else []):\n"
        "    with _grader_guard_module.guarded(_grader_guard):\n"
        f"        _grader_records.append(_grader_harness.run_case(_grader_fn, _c, {ex.args!r}))\n"
        "_grader_out = {'defined': callable(_grader_fn), 'type': type(_grader_fn).__name__,\n"
        "               'records': _grader_records,\n"
        "               'guard': [str(_r)[:300] for _r in _grader_guard.record]}\n"
        "_grader_torch.save(_grader_out, 'outputs.pt')")
    nb = nbformat.v4.new_notebook(cells=[first, student, last])
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                  "language": "python"}}
    return nb


def _is_stub(code: str, func: str) -> bool:
    """Whether ``func``'s body is only (a docstring and) ``raise NotImplementedError(...)``."""
    import ast

    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    last = None  # the cell's final binding of the name decides (a stub then a rebinding:
    for node in tree.body:  # the rebinding is what runs)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == func:
            last = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(func in {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
                   for t in targets):
                last = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((a.asname or a.name.split(".")[0]) == func for a in node.names):
                last = node
    if not isinstance(last, ast.FunctionDef):
        return False
    body = [n for n in last.body if not (isinstance(n, ast.Expr)
                                         and isinstance(n.value, ast.Constant))]
    return (len(body) == 1 and isinstance(body[0], ast.Raise) and body[0].exc is not None
            and "NotImplementedError" in ast.unparse(body[0].exc))


_BOOK_DIRS: list[Path] | None = None


def _book_dirs() -> list[Path]:
    """Every checkout of the book a sandboxed Python could import ``helpers`` from: this
    one, and the one an editable install (``pip install -e``) points to."""
    global _BOOK_DIRS
    if _BOOK_DIRS is None:
        dirs = {ROOT}
        probe = subprocess.run(
            [sys.executable, "-I", "-c", "import importlib.util as u; s = u.find_spec('helpers');"
             " print(s.submodule_search_locations[0] if s and s.submodule_search_locations"
             " else '')"], capture_output=True, text=True, cwd="/", timeout=60,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        found = probe.stdout.strip()
        if found and Path(found).is_dir():
            dirs.add(Path(found).resolve().parent)
        _BOOK_DIRS = sorted(dirs)
    return _BOOK_DIRS


#: where graders running as root claim their uids (one lock file per uid, held with flock
#: for the grader's lifetime: the kernel releases it when the grader exits, however it ends)
UID_LOCKS = Path(tempfile.gettempdir()) / "book-grader-uids"
UID_POOL = 4096  #: uids tried from the base upwards


def _uids(jobs: int, base: int = sandbox.BASE_UID, claim: bool = False) -> tuple[Queue, list]:
    """The uids of the job slots and the lock files that hold them. With ``claim`` (as root,
    sandboxed) each uid is claimed with an exclusive ``flock`` and skipped when another
    grader holds it or a process of that uid still runs: two graders started at once get
    disjoint uids, so their process limits (RLIMIT_NPROC counts per uid) never starve
    each other (tests/test_grade.py)."""
    import fcntl

    q: Queue = Queue()
    held = []
    if not claim:
        for k in range(max(1, jobs)):
            q.put(base + k)
        return q, held
    UID_LOCKS.mkdir(mode=0o700, exist_ok=True)
    uid = base
    while len(held) < max(1, jobs):
        if uid >= base + UID_POOL:
            for fh in held:
                fh.close()
            raise RuntimeError(f"no free grader uid in {base}..{base + UID_POOL - 1}: "
                               f"{len(held)} of {jobs} claimed")
        fh = open(UID_LOCKS / f"{uid}.lock", "w")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            uid += 1
            continue
        if _nproc_of(uid):  # a process of that uid still runs (not ours): skip it
            fh.close()
            uid += 1
            continue
        held.append(fh)
        q.put(uid)
        uid += 1
    return q, held


def _nproc_of(uid: int) -> int:
    """Tasks (processes and threads) of ``uid`` now (RLIMIT_NPROC counts them all)."""
    n = 0
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if p.stat().st_uid == uid:
                    n += len(os.listdir(p / "task"))
            except OSError:
                pass
    return n


def _run(workdir: Path, opts: Options, uid: int | None) -> str | None:
    """Run the worker on ``workdir/run.ipynb``; return a diagnosis if it had to be killed."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(workdir),
           "TMPDIR": str(workdir), "PYTHONPATH": str(workdir), "MPLBACKEND": "Agg",
           "MPLCONFIGDIR": str(workdir / ".mpl"), "IPYTHONDIR": str(workdir / ".ipython"),
           "JUPYTER_RUNTIME_DIR": str(workdir / ".jupyter"), "JUPYTER_PLATFORM_DIRS": "1",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
           "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}
    cmd = [sys.executable, str(workdir / "grade_worker.py"), "run.ipynb",
           str(opts.cell_timeout)] + ([str(uid)] if uid is not None else [])
    limits = opts.limits
    if opts.use_sandbox:
        if uid is None:  # not root: the limit counts every task of this user
            limits = replace(limits, processes=limits.processes + _nproc_of(os.getuid()))
        cmd = sandbox.command(cmd, workdir=workdir, hide=[*_book_dirs(), *opts.hide], env=env, uid=uid)
        run_env = {}
    else:
        run_env = dict(env)
        # no process limit of the grader's own: keep the current hard limit (raising it
        # needs CAP_SYS_RESOURCE, which root in a container such as Gradescope's lacks)
        hard = resource.getrlimit(resource.RLIMIT_NPROC)[1]
        limits = replace(limits, processes=10 ** 6 if hard == resource.RLIM_INFINITY
                         else min(hard, 10 ** 6))
    # one control group for the whole sandbox where the machine allows it (memory, tasks
    # and CPU of all its processes together); per-process limits are there either way
    group = None
    if opts.use_sandbox and sandbox.cgroup_support()[0]:
        try:
            group = sandbox.Cgroup(f"book-grader-{os.getpid()}-{workdir.name}", opts.limits)
        except OSError as exc:
            print(f"  warning: no cgroup for this exercise ({exc}); per-process limits only",
                  file=sys.stderr, flush=True)
    # the worker's own output is never read (a kernel flooding it would fill the grader's
    # memory): what the grader needs comes back in files, read with read_capped
    try:
        proc = subprocess.Popen(cmd, cwd=workdir, env=run_env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                preexec_fn=sandbox.preexec(limits, group))
        try:
            proc.wait(timeout=opts.timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # bwrap and everything in the sandbox
            except ProcessLookupError:
                pass
            proc.wait()
            return f"time limit: the exercise did not finish within {opts.timeout:g} s"
        # nothing survives: the sandbox has its own PID namespace, which ends with bwrap
        if group is not None and group.oom_killed():
            return (f"memory limit: the sandbox's processes together went over "
                    f"{limits.group_memory_mb} MB and the kernel killed one")
        return None
    finally:
        if group is not None:
            group.close()


def _explain_missing(workdir: Path, opts: Options) -> str:
    """Why there is no outputs file (from the worker's status file, which the student's
    code could have rewritten: it only words the diagnosis of a failure)."""
    try:
        raw = read_capped(workdir / "status.json", 100_000)
        if not isinstance(raw, bytes):
            raise ValueError(raw)
        st = json.loads(raw.decode("utf-8", errors="replace"))
        cells = st.get("cells", {}) if isinstance(st, dict) else {}
        dead = st.get("dead") if isinstance(st, dict) else None
    except (OSError, ValueError, RecursionError):
        return ("the exercise produced no outputs and the worker no status (it was killed: "
                "memory, process or CPU limit?)")
    where = {1: "while your cell ran", 2: "while your function ran on the grader's cases"}
    what = {1: "your cell", 2: "your function, on the grader's cases,"}
    if dead in (1, 2):
        return (f"the kernel died {where[dead]} (os._exit, a crash, or the memory, process "
                f"or CPU limit)")
    if dead == 0 or (isinstance(cells, dict) and "0" in cells):
        return "the grader's kernel could not start (environment problem, not the student's)"
    for k in ("2", "1"):
        c = cells.get(k) if isinstance(cells, dict) else None
        if isinstance(c, dict):
            if c.get("ename") == "GradeCellTimeout":
                return (f"time limit: {what[int(k)]} did not finish within "
                        f"{opts.cell_timeout:g} s (an infinite loop?)")
            return (f"{what[int(k)].rstrip(',').capitalize()} raised "
                    f"{str(c.get('ename'))[:80]}: {str(c.get('evalue'))[:300]}")
    return "the exercise produced no outputs file"


def _load_outputs(path: Path):
    """The outputs file as plain data, or a diagnosis (str) of what is wrong with it."""
    import torch

    import io

    raw = read_capped(path, MAX_OUTPUTS_BYTES)
    if raw is None:
        return None
    if isinstance(raw, str):
        return f"malformed outputs: {raw.replace('the outputs.pt file', 'the outputs file')}"
    try:
        data = torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - anything unloadable is the submission's
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        return (f"malformed outputs: not loadable as plain data with weights_only=True "
                f"(pickled objects?): {type(exc).__name__}: {first}")
    if (not isinstance(data, dict) or not isinstance(data.get("records"), list)
            or type(data.get("defined")) is not bool or not isinstance(data.get("type"), str)
            or not isinstance(data.get("guard"), list)
            or not all(isinstance(r, str) for r in data["guard"])):
        return (f"malformed outputs: expected the grader's dict (defined, type, records, "
                f"guard), got "
                f"{type(data).__name__}" + (f" with keys {sorted(map(str, data))[:6]}"
                                            if isinstance(data, dict) else ""))
    return data


def grade_exercise(nb, label: str, opts: Options, uids: Queue | None = None) -> tuple[str, str]:
    """Grade one exercise of one notebook (an nbformat node): ``(result, diagnosis)``."""
    import torch

    from helpers import __all__ as reference_names
    from helpers.exercises import EXERCISES, verdict

    ex = EXERCISES[label]
    src = find_cell(nb.get("cells", []), ex.func)
    if src is None:
        return "fail", (f"{label}: {ex.func} is not defined: no code cell defines it (the cell "
                        f"was deleted or renamed?)")
    try:
        code = extract(src, ex.func) if opts.vet else src
        if opts.vet:
            vet(code, func=ex.func, policy=ex.policy, reference_names=set(reference_names),
                provided=set(ex.policy.modules))
    except Rejected as exc:
        return "fail", f"{label}: no credit: {exc}"
    if _is_stub(code, ex.func):  # no kernel needed to know what it would do
        return "fail", f"{label}: not implemented yet (the stub still raises NotImplementedError)"
    cases = ex.cases(secrets.randbits(62))
    workdir = Path(tempfile.mkdtemp(prefix="grade-"))
    uid = None
    # as root, the writable folder is a tmpfs of its own: what a submission writes in
    # total is capped, not only each file (mounted before anything is put in it)
    mounted = (opts.use_sandbox and sandbox.workdir_support()
               and sandbox.mount_workdir(workdir, opts.limits.workdir_mb))
    try:
        torch.save(cases, workdir / "cases.pt")
        shutil.copy(HARNESS, workdir / "_book_harness.py")
        shutil.copy(WORKER, workdir / "grade_worker.py")
        shutil.copy(GUARD, workdir / "_book_guard.py")
        import nbformat

        nbformat.write(_notebook(ex, code, opts.cell_timeout), str(workdir / "run.ipynb"))
        if opts.use_sandbox and os.geteuid() == 0:
            uid = uids.get() if uids is not None else opts.uid_base
            for p in [workdir, *workdir.iterdir()]:
                os.chown(p, uid, uid)
        killed = _run(workdir, opts, uid)
        data = _load_outputs(workdir / "outputs.pt")
        if isinstance(data, str):
            return "fail", f"{label}: {data}"
        if data is None:
            return "fail", f"{label}: {killed or _explain_missing(workdir, opts)}"
        if data.get("defined") is not True:
            return "fail", (f"{label}: {ex.func} is not a function (the cell left a "
                            f"{str(data.get('type'))[:60]})")
        if data["guard"]:
            refused = ", ".join(dict.fromkeys(data["guard"]))
            return "fail", (f"{label}: no credit: the grader's runtime guard refused "
                            f"{refused[:300]} while your function ran (this exercise forbids "
                            f"it; catching the error does not help)")
        ok, text = verdict(label, cases, data["records"])
        if ok is None:
            return "fail", f"{label}: not implemented yet (the stub still raises NotImplementedError)"
        return ("pass", "") if ok else ("fail", text)
    finally:
        if uid is not None and uids is not None:
            uids.put(uid)
        if mounted:
            sandbox.unmount_workdir(workdir)
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------------- a folder

def _shard(paths: list[Path], shard: tuple[int, int] | None) -> list[Path]:
    if shard is None:
        return paths
    k, n = shard
    return [p for i, p in enumerate(paths) if i % n == k - 1]


def grade_folder(folder: str | Path, out: str | Path | None = None, *,
                 opts: Options | None = None, exercises: list[str] | None = None,
                 shard: tuple[int, int] | None = None) -> list[dict]:
    """Grade every notebook under ``folder`` (or its shard); write the CSV; return its rows."""
    from helpers.exercises import EXERCISES

    opts = opts or Options()
    folder = Path(folder).resolve()
    paths = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    paths = _shard(paths, shard)
    out = Path(out) if out is not None else folder / "grades.csv"
    opts.hide = [*opts.hide, folder, out.resolve().parent]
    tasks, rows_of = [], {}
    known = [(label, ex.func, ex.chapter) for label, ex in EXERCISES.items()]
    for p in paths:
        name = str(p.relative_to(folder))
        # parsed in a limited, timed process of its own (booktools/readnb.py): regular
        # files only (no links, folders, FIFOs), size-capped; only the code cells come back
        got = readnb.read(p, known)
        labels = exercises or got["labels"]
        if got["error"]:
            nb, err = None, f"the file is not a valid notebook ({got['error']})"
        else:
            nb, err = {"cells": got["cells"]}, None
        rows_of[name] = {}
        if not labels:
            rows_of[name][""] = ("fail", "no exercise found in this file (is it a chapter?)")
        for lab in labels:
            if err:
                rows_of[name][lab] = ("fail", f"{lab}: {err}")
            else:
                tasks.append((name, nb, lab))
    uids, held = _uids(opts.jobs, opts.uid_base,
                       claim=opts.use_sandbox and os.geteuid() == 0)
    if held:
        print(f"  sandbox uids: {', '.join(str(u) for u in list(uids.queue))}",
              file=sys.stderr, flush=True)
    lock = threading.Lock()
    fields = ["student_file", "exercise", "result", "diagnosis"]

    def row(name, lab, result):
        return {"student_file": name, "exercise": lab, "result": result[0],
                "diagnosis": " ".join(str(result[1]).split())}

    # each row is appended (and flushed) as it is decided, so that a grader that dies half
    # way keeps every grade it gave; the finished file is rewritten in a stable order
    out.parent.mkdir(parents=True, exist_ok=True)
    live = open(out, "w", newline="")
    writer = csv.DictWriter(live, fieldnames=fields)
    writer.writeheader()
    for name in rows_of:
        for lab, result in rows_of[name].items():
            writer.writerow(row(name, lab, result))
    live.flush()

    def one(task):
        name, nb, lab = task
        start = time.perf_counter()
        try:
            result = grade_exercise(nb, lab, opts, uids)
        except Exception as exc:  # noqa: BLE001 - a bug or an environment problem: report it
            result = ("fail", f"{lab}: the grader failed on this exercise: "
                              f"{type(exc).__name__}: {exc}")
        with lock:
            writer.writerow(row(name, lab, result))
            live.flush()
            print(f"  {name} {lab}: {result[0]} ({time.perf_counter() - start:.1f} s)",
                  file=sys.stderr, flush=True)
        return name, lab, result

    try:
        with ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as pool:
            for name, lab, result in pool.map(one, tasks):
                rows_of[name][lab] = result
    finally:
        live.close()
        for fh in held:
            fh.close()
    rows = [row(name, lab, result) for name in rows_of for lab, result in rows_of[name].items()]
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, out)
    return rows


def _parse_shard(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)/(\d+)", text or "")
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise argparse.ArgumentTypeError(f"--shard takes K/N with 1 <= K <= N, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def _own_peak_mb() -> float:
    """This process's peak resident memory since it started the grader, in MB: VmHWM of
    /proc/self/status (getrusage's ru_maxrss keeps the high-water mark of the process it
    was forked from, e.g. a test runner, across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m booktools.grade",
        description="Grade the code exercises of every notebook in a folder, in a sandbox.")
    parser.add_argument("folder", help="folder of submitted notebooks (searched recursively)")
    parser.add_argument("--out", help="CSV file to write (default: FOLDER/grades.csv)")
    parser.add_argument("--cell-timeout", type=float, default=60,
                        help="seconds the student's cell and the cases may each run (default 60)")
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds one exercise may take in all (default 600)")
    parser.add_argument("--jobs", type=int, default=1, help="exercises graded at once")
    parser.add_argument("--exercises", help="comma-separated labels (default: found in each file)")
    parser.add_argument("--shard", type=_parse_shard, help="K/N: grade the K-th of N shares")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run submissions without bubblewrap (trusted code only)")
    parser.add_argument("--no-vet", action="store_true",
                        help="skip the static check of the cells (only to test the sandbox)")
    parser.add_argument("--uid-base", type=int, default=sandbox.BASE_UID,
                        help="as root, the jobs run as the first free uids from this one up "
                             "(graders running at once claim disjoint uids)")
    parser.add_argument("--memory-mb", type=int, default=sandbox.Limits.memory_mb)
    parser.add_argument("--processes", type=int, default=sandbox.Limits.processes)
    parser.add_argument("--cpu-seconds", type=int, default=sandbox.Limits.cpu_seconds)
    parser.add_argument("--group-memory-mb", type=int, default=sandbox.Limits.group_memory_mb,
                        help="memory of all of one sandbox's processes together (cgroup)")
    parser.add_argument("--workdir-mb", type=int, default=sandbox.Limits.workdir_mb,
                        help="size of the writable folder, a tmpfs when the grader is root")
    args = parser.parse_args(argv)
    labels = [s for s in (args.exercises or "").split(",") if s] or None
    use = not args.no_sandbox
    works, what = sandbox.status() if use else (False, "")
    if use and works:
        broken = sandbox.self_test()
        if broken:
            print(f"error: the sandbox works but cannot run the grader: {broken}. Nothing "
                  f"was graded (an environment problem is never a student's fail); fix "
                  f"the environment, or grade trusted code with --no-sandbox",
                  file=sys.stderr)
            return 2
    if use and works:
        kind, how = sandbox.cgroup_support()
        group = (f"per sandbox ({how}): {args.group_memory_mb} MB, {args.processes} tasks, "
                 f"one core" if kind else f"no limit per sandbox: {how}")
        group += (f"; writable folder: a tmpfs of {args.workdir_mb} MB"
                  if sandbox.workdir_support() else
                  "; writable folder on the disk (only each file's size is limited)")
        print(f"sandbox: on ({what}: no network, read-only filesystem without the book, the "
              f"submissions or your home; limits per process {args.memory_mb} MB, "
              f"{args.processes} processes, {args.cpu_seconds} s CPU; {group})", flush=True)
    elif use:
        print(f"sandbox: OFF ({what}); submissions run with your rights: grade only trusted "
              f"code, or install bubblewrap", flush=True)
    else:
        print("sandbox: OFF (--no-sandbox); submissions run with your rights", flush=True)
    if args.no_vet:
        print("static check: OFF (--no-vet): delegation is not detected", flush=True)
    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"error: {folder} is not a folder", file=sys.stderr)
        return 2
    from helpers.exercises import EXERCISES

    unknown = [lab for lab in labels or [] if lab not in EXERCISES]
    if unknown:
        print(f"error: unknown exercise labels {unknown}; known: {sorted(EXERCISES)}",
              file=sys.stderr)
        return 2
    opts = Options(cell_timeout=args.cell_timeout, timeout=args.timeout, jobs=args.jobs,
                   use_sandbox=use and works, vet=not args.no_vet, uid_base=args.uid_base,
                   limits=sandbox.Limits(args.memory_mb, args.processes, args.cpu_seconds,
                                         group_memory_mb=args.group_memory_mb,
                                         workdir_mb=args.workdir_mb))
    start = time.perf_counter()
    out = Path(args.out) if args.out else folder / "grades.csv"
    rows = grade_folder(folder, out, opts=opts, exercises=labels, shard=args.shard)
    files = len({r["student_file"] for r in rows})
    passed = sum(r["result"] == "pass" for r in rows)
    seconds = time.perf_counter() - start
    print(f"graded {files} notebooks, {len(rows)} exercise results: {passed} passed, "
          f"{len(rows) - passed} failed, in {seconds:.1f} s "
          f"({60 * files / max(seconds, 1e-9):.1f} notebooks per minute); CSV: {out}")
    own = _own_peak_mb()
    kernel = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak memory: {own:.0f} MB (this grader), {kernel:.0f} MB (its largest child, "
          f"a sandboxed kernel or a notebook parser)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
