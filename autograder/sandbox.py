"""A box for running untrusted notebook code, built from an allow-list with bubblewrap.

The box sees nothing of the host's file system but what it is given: the system's shared libraries
and the interpreter read-only, a view of site-packages that holds only the third-party packages the
notebooks need (never `solutions` or `autograder`, however they were installed), a copy of the grader's
kernel-side files (autograder/harness.py and the channel), and the submission's files copied into a
private home. /tmp, /var/tmp, /dev/shm and the home are private, size-capped tmpfs: what a box writes
goes with it. It has its own user, PID, network, IPC, UTS and cgroup namespaces, cannot make more user
namespaces, and runs with memory, process, file-size and CPU limits and a clean environment. Run by
root, the box also runs as a user id of its own, fresh for each box.

The runner inside (autograder/sandbox_runner.py) proves before any student code that it can neither
import nor find the reference, installs an audit hook, and then executes one cell per command. This
side enforces a wall-clock limit per cell and per notebook and reads the runner's messages under a
size cap that the caller sets for each moment (`Sandbox.run`'s `channel`); writes into the box never
block past the cell's deadline. After a timeout, a crash or a message the protocol does not allow, the
runner is gone: the caller starts a fresh one and replays the cells that had run.
"""
import functools
import importlib.metadata
import json
import os
import re
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder import sandbox_channel

HERE = Path(__file__).resolve().parent
HOME, GRADER, SITE, INBOX = "/home/student", "/opt/grader", "/opt/site", "/opt/submission"
NEEDED = ("numpy", "torch", "ipython", "matplotlib")  # what the notebooks import; their requirements follow
NEVER = ("solutions", "autograder")  # top-level names no box may hold
UID_BASE, UID_SPAN = 300_000, 100_000  # host user ids of the boxes when the grader runs as root
TEMP_PREFIX = "rnn-box-"


@dataclass
class Limits:
    cell_seconds: float = 60.0
    notebook_seconds: float = 600.0
    memory_bytes: int = 3 << 30
    processes: int = 64
    file_bytes: int = 64 << 20
    tmpfs_bytes: int = 256 << 20  # each of /tmp, /var/tmp, /dev/shm and the home
    output_chars: int = 20_000
    start_seconds: float = 60.0
    job_seconds: float = None  # the whole job, judging included (default: see job_limit)
    trusted_memory_bytes: int = 8 << 30  # the trusted process that judges one submission

    @property
    def job_limit(self):
        """Seconds one grading job may take: the notebook's limit, two box starts and a minute to judge."""
        return self.job_seconds or self.notebook_seconds + 2 * self.start_seconds + 60

    @property
    def message_bytes(self):
        """The largest message the runner may send outside a hidden check (a cell's output and error)."""
        return 64_000 + 12 * self.output_chars


@dataclass
class CellRun:
    """What one cell did: status "ok", "error", "timeout", "died", "violation" or "skipped", and its output."""

    status: str
    stdout: str = ""
    stderr: str = ""
    error: dict = None
    dropped: int = 0
    seconds: float = 0.0


@dataclass
class Protections:
    sandbox: str = "none"  # "bubblewrap", or "none (unsafe)"
    namespaces: list = field(default_factory=list)
    own_uid: bool = False
    site_packages: list = field(default_factory=list)
    cgroup: bool = False  # the whole box's memory and processes capped by a control group


class SandboxError(RuntimeError):
    """The box itself failed (not the student's code): the message says how."""


class IsolationError(SandboxError):
    """No safe box can be had here; the message says why and what to do."""


class Violation(Exception):
    """The runner sent something the protocol does not allow at this moment; the message says what."""


# ---------------------------------------------------------------------------------- what the box holds


def _norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.lru_cache(maxsize=1)
def site_view():
    """{top-level name: host path} of the installed distributions the notebooks need, with everything
    they require; `solutions`, `autograder` and this project's own distribution are never in it."""
    from packaging.requirements import Requirement

    dists = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            dists.setdefault(_norm(name), dist)
    missing = [n for n in NEEDED if n not in dists]
    if missing:
        raise IsolationError(f"the packages the notebooks need are not installed: {', '.join(missing)}")
    seen, todo = set(), list(NEEDED)
    while todo:
        name = _norm(todo.pop())
        if name in seen or name not in dists or name == "rnn-course":
            continue
        seen.add(name)
        for line in dists[name].requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    view = {}
    for name in sorted(seen):
        dist = dists[name]
        base = Path(dist.locate_file(""))
        tops = {f.parts[0] for f in dist.files or [] if f.parts}
        for top in sorted(tops):
            stem = top.split(".")[0]
            if top in ("..", "__pycache__") or top.endswith(".pth") or stem in NEVER:
                continue
            path = base / top
            if path.exists():
                view[top] = str(path)
    return view


def interpreter():
    """(the interpreter's executable, [host paths it needs], [folders inside them to leave empty]): the
    binary, libpython, and the standard library with its site-packages folders emptied."""
    exe = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    paths = [exe]
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        lib = os.path.join(sysconfig.get_config_var("LIBDIR") or "", sysconfig.get_config_var("INSTSONAME") or "")
        if os.path.isfile(lib):
            paths.append(os.path.realpath(lib))
    emptied = []
    for folder in stdlib_folders():
        paths.append(folder)
        emptied += [os.path.join(folder, e) for e in ("site-packages", "dist-packages")
                    if os.path.isdir(os.path.join(folder, e))]
    return exe, sorted(set(paths)), emptied


def system_libraries():
    """The folders of the system's shared libraries and the dynamic loader (never /usr or /etc whole)."""
    arch = sysconfig.get_config_var("MULTIARCH") or ""
    found = []
    for folder in (f"/usr/lib/{arch}" if arch else None, f"/lib/{arch}" if arch else None, "/usr/lib64", "/lib64"):
        if folder and os.path.isdir(folder) and not os.path.islink(folder):
            real = os.path.realpath(folder)
            if real not in found:
                found.append(real)
    return found


def stdlib_folders():
    """The standard library's folders (a virtual environment's platstdlib holds only its site-packages)."""
    return sorted({p for p in (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
                   if os.path.isfile(os.path.join(p, "os.py"))})


# ---------------------------------------------------------------------------------- control groups


@functools.lru_cache(maxsize=1)
def cgroup_parents():
    """{"memory": folder, "pids": folder} (cgroup v1) or {"unified": folder} (v2) under which each box gets
    a control group of its own, capping the memory and the processes of the whole box (rlimits cap each
    process alone). Needs root and a writable hierarchy; {} where there is none."""
    if os.geteuid() != 0:
        return {}
    own = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else ["unified"]:
                own[name] = path
    except (OSError, ValueError):
        return {}
    v1 = {"memory": Path("/sys/fs/cgroup/memory"), "pids": Path("/sys/fs/cgroup/pids")}
    if all(name in own and (root / "cgroup.procs").exists() for name, root in v1.items()):
        parents = {name: root / own[name].lstrip("/") for name, root in v1.items()}
    elif own.get("unified") == "/" and Path("/sys/fs/cgroup/cgroup.controllers").exists():
        root = Path("/sys/fs/cgroup")
        if not {"memory", "pids"} <= set((root / "cgroup.controllers").read_text().split()):
            return {}
        try:
            (root / "cgroup.subtree_control").write_text("+memory +pids")
        except OSError:
            return {}
        parents = {"unified": root}
    else:
        return {}
    for folder in parents.values():  # can a group be made and removed here?
        probe = folder / f"{TEMP_PREFIX}probe-{os.getpid()}"
        try:
            probe.mkdir()
            probe.rmdir()
        except OSError:
            return {}
    return parents


def make_cgroups(name, limits):
    """Control groups for one box, with its caps written; [their folders] (empty where none can be had)."""
    made = []
    try:
        for kind, parent in cgroup_parents().items():
            folder = parent / name
            folder.mkdir()
            made.append(folder)
            if kind in ("memory", "unified"):
                (folder / ("memory.limit_in_bytes" if kind == "memory" else "memory.max")).write_text(
                    str(limits.memory_bytes))
            if kind in ("pids", "unified"):
                (folder / "pids.max").write_text(str(limits.processes))
    except OSError:
        remove_cgroups(made)
        return []
    return made


def remove_cgroups(folders):
    """Kill whatever is left in each control group (a process of the box that left the runner's process
    group), then remove the group."""
    for folder in folders:
        for _ in range(100):  # the box's processes may take a moment to leave
            try:
                if (folder / "cgroup.kill").exists():
                    (folder / "cgroup.kill").write_text("1")
                for pid in (folder / "cgroup.procs").read_text().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
                folder.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)


# ---------------------------------------------------------------------------------- availability


@functools.lru_cache(maxsize=1)
def isolation_problem():
    """None when bubblewrap can build a box here; else one line saying why not."""
    if not shutil.which("bwrap"):
        return ("bubblewrap (bwrap) is not installed; on Debian or Ubuntu: apt-get install bubblewrap "
                "(`make sandbox` installs it)")
    if os.geteuid() == 0 and not all(shutil.which(t) for t in ("unshare", "setpriv", "mount")):
        return "the grader runs as root but util-linux's unshare, setpriv or mount is missing"
    probe = subprocess.run(["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
                            "--ro-bind", "/", "/", "--", "true"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return (f"bubblewrap cannot create a box here ({probe.stderr.strip()[:300]}); user namespaces may be "
                "disabled (sysctl kernel.unprivileged_userns_clone=1, or user.max_user_namespaces > 0)")
    return None


def box_base():
    """The folder of the boxes' own folders: the temporary folder, where every user can pass through it
    (as root the box runs as another user, who must reach its files); else /tmp."""
    base = tempfile.gettempdir()
    if os.geteuid() == 0 and not all(_searchable(p, -1) for p in [*Path(base).parents, Path(base)]):
        return "/tmp"
    return base


def clean_stale_folders(base=None):
    """Remove the box folders of graders that were killed (their process is gone). Returns how many."""
    base = Path(base or box_base())
    removed = 0
    for folder in base.glob(TEMP_PREFIX + "*"):
        match = re.match(re.escape(TEMP_PREFIX) + r"(\d+)-(\d+)-", folder.name)
        if match and _start_time(int(match.group(1))) != match.group(2):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    if os.geteuid() == 0:  # and their control groups, named after the folders
        for parent in cgroup_parents().values():
            stale = [g for g in parent.glob(TEMP_PREFIX + "*")
                     if (m := re.match(re.escape(TEMP_PREFIX) + r"(\d+)-(\d+)-", g.name))
                     and _start_time(int(m.group(1))) != m.group(2)]
            remove_cgroups(stale)
    return removed


def _start_time(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


# ---------------------------------------------------------------------------------- the box


class Sandbox:
    """Run cells of one submission in a box.

    Inputs:
    - files: {name: bytes} put in the box's home (the release's helper files)
    - limits: Limits
    - unsafe: run without any box (only resource limits and a clean environment); the caller must
      have been told so explicitly
    - forbidden: host paths that must not exist inside the box (the reference, the course folder)
    - fingerprints: [(size, sha256)] of files that must not be visible anywhere in the box (checked by
      `scan`, which walks the box's whole file system)
    """

    def __init__(self, files, limits=None, unsafe=False, forbidden=(), fingerprints=()):
        self.files, self.limits, self.unsafe = dict(files), limits or Limits(), unsafe
        self.forbidden, self.fingerprints = [str(p) for p in forbidden], list(fingerprints)
        self.proc, self.dir, self.audit, self.cgroups = None, None, [], []
        self.protections = Protections()
        self.started = 0

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self):
        if not self.unsafe:
            problem = isolation_problem()
            if problem:
                raise IsolationError(problem)
        self.dir = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-{_start_time(os.getpid())}-",
                                         dir=box_base()))
        os.chmod(self.dir, 0o711)
        inbox, grader = self.dir / "in", self.dir / "grader"
        inbox.mkdir()
        (grader / "autograder").mkdir(parents=True)
        for name, data in self.files.items():
            (inbox / Path(name).name).write_bytes(data if isinstance(data, bytes) else data.encode())
        (grader / "autograder" / "__init__.py").write_text("")
        shutil.copy2(HERE / "harness.py", grader / "autograder" / "harness.py")
        shutil.copy2(HERE / "sandbox_channel.py", grader / "autograder" / "_sandbox_channel.py")
        shutil.copy2(HERE / "sandbox_runner.py", grader / "runner.py")
        etc = self.dir / "etc"  # what the box's /etc holds: its own user, and the loader's cache
        etc.mkdir()
        (etc / "passwd").write_text(f"student:x:1000:1000::{HOME}:/nonexistent\n")
        (etc / "group").write_text("student:x:1000:\n")
        if os.path.isfile("/etc/ld.so.cache"):
            shutil.copyfile("/etc/ld.so.cache", etc / "ld.so.cache")
        for path in (inbox, grader, etc, *inbox.iterdir(), *grader.rglob("*"), *etc.iterdir()):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        if self.unsafe:
            self._unsafe_site()
        try:
            self.ready = self.start(scan=bool(self.fingerprints))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def _unsafe_site(self):
        site = self.dir / "site"
        site.mkdir()
        for top, path in site_view().items():
            os.symlink(path, site / top)

    def _paths(self):
        """(home, grader folder, site folders, inbox) as the runner sees them."""
        if self.unsafe:
            home = self.dir / "home"
            home.mkdir(exist_ok=True)
            return str(home), str(self.dir / "grader"), [str(self.dir / "site")], str(self.dir / "in")
        return HOME, GRADER, [SITE], INBOX

    def _config(self, cmd_fd, reply_fd, scan=False):
        home, grader, site, inbox = self._paths()
        return {"home": home, "grader_dir": grader, "site": site, "inbox": inbox, "cmd_fd": cmd_fd,
                "reply_fd": reply_fd, "limits": {"memory_bytes": self.limits.memory_bytes,
                                                 "processes": self.limits.processes,
                                                 "file_bytes": self.limits.file_bytes,
                                                 "cpu_seconds": int(self.limits.notebook_seconds) + 5,
                                                 "output_chars": self.limits.output_chars},
                "stdlib": stdlib_folders(), "forbidden": self.forbidden,
                "fingerprints": self.fingerprints if scan else []}

    def _command(self, cfg):
        """The command line that starts the runner in the box, and the host user id it runs as."""
        exe, python_paths, emptied = interpreter()
        runner = [exe, "-I", "-S", "-B", f"{cfg['grader_dir']}/runner.py", json.dumps(cfg)]
        if self.unsafe:
            return runner, None
        mb = str(self.limits.tmpfs_bytes)
        args = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
                "--uid", "1000", "--gid", "1000", "--hostname", "box", "--clearenv",
                "--setenv", "PATH", "/nonexistent", "--setenv", "HOME", HOME, "--setenv", "LANG", "C.UTF-8",
                "--setenv", "MPLBACKEND", "Agg", "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib",
                "--setenv", "OMP_NUM_THREADS", "1", "--setenv", "OPENBLAS_NUM_THREADS", "1",
                "--setenv", "MKL_NUM_THREADS", "1", "--proc", "/proc", "--dev", "/dev"]
        for top in ("lib", "lib64", "lib32", "libx32", "bin", "sbin"):
            if os.path.islink(f"/{top}"):
                args += ["--symlink", os.readlink(f"/{top}"), f"/{top}"]
        sources = [(p, p) for p in system_libraries()] + [(p, p) for p in python_paths]
        sources += [(path, f"{SITE}/{top}") for top, path in site_view().items()]
        sources += [(str(self.dir / "grader"), GRADER), (str(self.dir / "in"), INBOX)]
        sources += [(str(src), f"/etc/{src.name}") for src in sorted((self.dir / "etc").iterdir())]
        uid, mounts = None, {}
        if os.geteuid() == 0:  # run as a fresh user; folders it cannot traverse are bound in for it
            uid = UID_BASE + (os.getpid() * 131 + self.started) % UID_SPAN
            for i, (src, dst) in enumerate(sources):
                if _reachable(src, uid):
                    continue
                anchor = _anchor(src, uid)
                if anchor not in mounts:
                    spot = self.dir / "mnt" / str(len(mounts))
                    spot.parent.mkdir(exist_ok=True)
                    spot.mkdir(exist_ok=True) if os.path.isdir(anchor) else spot.touch()
                    mounts[anchor] = str(spot)
                sources[i] = (os.path.join(mounts[anchor], os.path.relpath(src, anchor)), dst)
            if mounts:
                os.chmod(self.dir / "mnt", 0o755)
        for src, dst in sources:
            args += ["--ro-bind", src, dst]
        for folder in emptied:  # the interpreter's own site-packages: nothing of it is in the box
            args += ["--size", "4096", "--perms", "0555", "--tmpfs", folder]
        for folder in ("/tmp", "/var/tmp", "/dev/shm", HOME):
            args += ["--size", mb, "--perms", "1777" if folder != HOME else "0700", "--tmpfs", folder]
        args += ["--chdir", HOME, "--", *runner]
        if uid is None:
            return args, None
        drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all", "--", *args]
        self.cgroups = make_cgroups(f"{self.dir.name}-{self.started}", self.limits)  # unique, like the folder
        steps = [f'echo $$ > "{folder}/cgroup.procs"' for folder in self.cgroups]
        steps += [f'mount --bind "${2 * i + 1}" "${2 * i + 2}"' for i in range(len(mounts))]
        if not steps:
            return drop, uid
        flat = [p for pair in mounts.items() for p in pair]
        script = " && ".join(steps) + (f" && shift {len(flat)}" if flat else "") + ' && exec "$@"'
        shell = ["/bin/sh", "-c", script, "box", *flat, *drop]
        return (["unshare", "--mount", "--propagation", "private", "--", *shell] if mounts else shell), uid

    def start(self, scan=False):
        """Start a fresh runner in the box and wait until it has proved it cannot reach the reference."""
        cmd_r, cmd_w = os.pipe()
        reply_r, reply_w = os.pipe()
        cfg = self._config(cmd_r, reply_w, scan)
        command, uid = self._command(cfg)
        self.started += 1
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        if self.unsafe:
            home = cfg["home"]
            env.update(HOME=home, MPLBACKEND="Agg", MPLCONFIGDIR=f"{home}/.matplotlib", OMP_NUM_THREADS="1",
                       OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        log = open(self.dir / "runner.log", "wb")
        try:
            self.proc = subprocess.Popen(command, pass_fds=(cmd_r, reply_w), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, env=env, cwd=str(self.dir), start_new_session=True)
        finally:
            log.close()
            os.close(cmd_r)
            os.close(reply_w)
        os.set_blocking(cmd_w, False)
        self.cmd_fd, self.reply_fd, self.buffer = cmd_w, reply_r, b""
        self.protections = Protections(
            "none (unsafe)" if self.unsafe else "bubblewrap",
            [] if self.unsafe else ["user", "mount", "pid", "network", "ipc", "uts", "cgroup"],
            uid is not None, sorted(site_view()), bool(self.cgroups))
        deadline = time.monotonic() + self.limits.start_seconds * (4 if scan else 1)
        frame = self._read_frame(deadline, self.limits.message_bytes)
        if not isinstance(frame, dict) or frame.get("type") != "ready":
            detail = (self.dir / "runner.log").read_text(errors="replace")[-2000:]
            self.stop()
            raise SandboxError(f"the sandbox did not start ({_describe(frame)}): {detail}")
        reached = frame.get("reached") or []
        if reached and not self.unsafe:
            self.stop()
            raise IsolationError("the box can reach the reference, so nothing was graded: " + "; ".join(
                str(r) for r in reached[:10]))
        return frame

    def stop(self):
        """Kill the runner and everything it started."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        remove_cgroups(self.cgroups)
        self.cgroups = []
        for fd in (self.cmd_fd, self.reply_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.proc = None

    def restart(self):
        self.stop()
        self.start()

    # ------------------------------------------------------------------ running cells

    def run(self, code, deadline, cell=None, channel=None):
        """Run one cell; returns a CellRun. On "timeout", "died" or "violation" the runner is gone.

        `channel` answers the kernel's messages during the cell: `channel.limit()` is the largest message
        allowed next, `channel.handle(frame)` returns the reply (or None) or raises Violation.
        """
        start = time.monotonic()
        deadline = min(deadline, start + self.limits.cell_seconds)

        def ended(status, ename, evalue):
            self.stop()
            return CellRun(status, seconds=time.monotonic() - start,
                           error={"ename": ename, "evalue": evalue, "traceback": ""})

        if self.proc is None:
            return ended("died", "KernelDied", "the kernel had stopped")
        if not self._write({"type": "run", "code": code, "cell": cell}, deadline):
            return ended("timeout", "CellTimeout", "the kernel did not take the cell before its time limit")
        while True:
            limit = channel.limit() if channel else self.limits.message_bytes
            frame = self._read_frame(deadline, limit)
            if frame is _TIMEOUT:
                return ended("timeout", "CellTimeout",
                             f"the cell ran past its time limit ({time.monotonic() - start:.0f} s)")
            if frame is _EOF:
                return ended("died", "KernelDied", "the kernel stopped (it exited or was killed)")
            if not isinstance(frame, dict):
                return ended("violation", "ChannelViolation", f"the kernel sent the grader {_describe(frame)}")
            kind = frame.get("type")
            if kind == "audit":
                if len(self.audit) < 2000:
                    self.audit.append((cell if frame.get("cell") is None else frame.get("cell"),
                                       str(frame.get("what", ""))[:500]))
                continue
            if kind == "done":
                error = frame.get("error") if isinstance(frame.get("error"), dict) else None
                if error:
                    error = {k: str(error.get(k, ""))[:8000] for k in ("ename", "evalue", "traceback")}
                out = self.limits.output_chars
                return CellRun("error" if error else "ok", str(frame.get("stdout", ""))[:out],
                               str(frame.get("stderr", ""))[:out], error, _int(frame.get("dropped")),
                               time.monotonic() - start)
            try:
                if channel is None:
                    raise Violation(f"a message of type {str(kind)[:40]!r} outside a hidden check")
                reply = channel.handle(frame)
            except Violation as exc:
                return ended("violation", "ChannelViolation", f"the kernel sent the grader {exc}")
            if reply is not None and not self._write(reply, deadline):
                return ended("timeout", "CellTimeout", "the kernel did not read the grader's reply before the "
                                                        "cell's time limit")

    def scan(self):
        """[(path, why)] of the fingerprinted files the runner found when it walked the box's whole file
        system at its start (a box made with `fingerprints`: the probe before a grading run)."""
        found = self.ready.get("found") or []
        return [tuple(f) for f in found if isinstance(f, list) and len(f) == 2]

    def _write(self, obj, deadline):
        """Write one frame without blocking past the deadline; False when the box did not take it."""
        view = memoryview(sandbox_channel.pack(obj))
        sel = selectors.DefaultSelector()
        sel.register(self.cmd_fd, selectors.EVENT_WRITE)
        try:
            while view:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not sel.select(timeout=remaining):
                    if time.monotonic() >= deadline:
                        return False
                    continue
                try:
                    view = view[os.write(self.cmd_fd, view):]
                except BlockingIOError:
                    continue
                except OSError:
                    return False
            return True
        finally:
            sel.close()

    def _read_frame(self, deadline, limit):
        """The next frame: _TIMEOUT at the deadline, _EOF when the runner closed, or a bad-frame note.
        A frame longer than `limit` is refused from its header, before its body is read."""
        sel = selectors.DefaultSelector()
        sel.register(self.reply_fd, selectors.EVENT_READ)
        try:
            while True:
                if len(self.buffer) >= 4:
                    (n,) = struct.unpack(">I", self.buffer[:4])
                    if n > limit:
                        return _Bad(f"a message of {n} bytes where at most {limit} are allowed now")
                    if len(self.buffer) >= 4 + n:
                        payload, self.buffer = self.buffer[4:4 + n], self.buffer[4 + n:]
                        try:
                            return json.loads(payload)
                        except (ValueError, RecursionError):
                            return _Bad("a message that is not JSON")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return _TIMEOUT
                if not sel.select(timeout=remaining):
                    continue
                want = max(4 - len(self.buffer), 0) or (4 + struct.unpack(">I", self.buffer[:4])[0] - len(self.buffer))
                chunk = os.read(self.reply_fd, max(1, min(1 << 20, want)))
                if not chunk:
                    return _EOF
                self.buffer += chunk
        finally:
            sel.close()


class _Bad(str):
    """A note on a frame that could not be taken."""


_TIMEOUT = object()
_EOF = object()


def _describe(frame):
    if frame is _TIMEOUT:
        return "no answer in time"
    if frame is _EOF:
        return "it stopped"
    if isinstance(frame, _Bad):
        return str(frame)
    if not isinstance(frame, dict):
        return "a message that is not a record"
    return f"a message of type {str(frame.get('type'))[:40]!r}"


def _int(value):
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def _anchor(path, uid):
    """The folder to bind in so that `uid` can reach `path`: the child, on the way to it, of the last
    folder above it that `uid` cannot search."""
    path = Path(path)
    chain = [*reversed(path.parents), path]
    blocked = max(i for i, folder in enumerate(chain[:-1]) if not _searchable(folder, uid))
    return str(chain[blocked + 1])


def _searchable(folder, uid):
    try:
        st = folder.stat()
    except OSError:
        return False
    return bool(st.st_mode & 0o001 or (st.st_uid == uid and st.st_mode & 0o100))


def _reachable(path, uid):
    """Whether user `uid` (no groups) can reach `path` and read it: every folder above it searchable."""
    path = Path(path)
    if not all(_searchable(folder, uid) for folder in path.parents):
        return False
    try:
        st = path.stat()
    except OSError:
        return False
    return bool(st.st_mode & 0o004) and (not path.is_dir() or bool(st.st_mode & 0o001))
