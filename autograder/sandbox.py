"""A box for running untrusted notebook code: one submission, one folder, one unprivileged process.

The box is a fresh temporary folder holding only the submission's files, and a runner process
(autograder/sandbox_runner.py) that executes one cell per command. Where the grader runs as root the
runner starts inside new mount, network and PID namespaces (`unshare`), hides the repository and the
course folder under empty file systems, and switches to a user id of its own; everywhere it runs with
a clean environment, memory, process, file-size and CPU limits, an isolated Python that cannot see the
reference package, and a cap on the output it keeps. The parent enforces a wall-clock limit per cell
and per notebook; after a timeout or a crash it starts a fresh runner and replays the cells that had
run, so that a stuck cell can neither finish later nor pass a later test.
"""
import os
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from autograder import sandbox_channel

HERE = Path(__file__).resolve().parent
UID_BASE = 61000  # user ids of the boxes when the grader runs as root: UID_BASE + worker slot


@dataclass
class Limits:
    cell_seconds: float = 60.0
    notebook_seconds: float = 600.0
    memory_bytes: int = 3 << 30
    processes: int = 64
    file_bytes: int = 64 << 20
    output_chars: int = 20_000
    start_seconds: float = 60.0


@dataclass
class CellRun:
    """What one cell did: status "ok", "error", "timeout", "died" or "skipped", and its output."""

    status: str
    stdout: str = ""
    stderr: str = ""
    error: dict = None
    dropped: int = 0
    seconds: float = 0.0


@dataclass
class Protections:
    namespaces: bool = False
    user_switch: bool = False
    hidden: list = field(default_factory=list)


def isolation_available():
    """Whether this machine lets the grader use namespaces and switch users (it must run as root)."""
    return os.geteuid() == 0 and shutil.which("unshare") is not None and shutil.which("mount") is not None


class SandboxError(RuntimeError):
    """The box itself failed (not the student's code): the message says how."""


class Sandbox:
    """Run cells of one submission in a box; `requests` answers the kernel's calls for hidden cases."""

    def __init__(self, files, limits=None, slot=0, hide=(), requests=None):
        self.files, self.limits, self.slot = dict(files), limits or Limits(), slot
        # root's home holds the grader's own files (and often its Python): the box never sees it
        self.hide = [str(Path(p).resolve()) for p in (*hide, os.path.expanduser("~"))]
        self.requests = requests or (lambda frame: None)
        self.proc = None
        self.protections = Protections()
        self.dir = None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="rnn-grade-"))
        self.work = self.dir / "work"
        self.grader = self.dir / "grader"
        self.work.mkdir()
        (self.grader / "autograder").mkdir(parents=True)
        for name, data in self.files.items():
            target = self.work / Path(name).name
            target.write_bytes(data if isinstance(data, bytes) else data.encode())
        (self.grader / "autograder" / "__init__.py").write_text("")
        shutil.copy2(HERE / "harness.py", self.grader / "autograder" / "harness.py")
        shutil.copy2(HERE / "sandbox_channel.py", self.grader / "autograder" / "_sandbox_channel.py")
        shutil.copy2(HERE / "sandbox_runner.py", self.grader / "runner.py")
        self.isolated = isolation_available()
        if self.isolated:
            uid = UID_BASE + self.slot
            for path in [self.work, *self.work.iterdir()]:
                os.chown(path, uid, uid)
            os.chmod(self.dir, 0o711)
            os.chmod(self.work, 0o700)
            self.stash = self.dir / "stash"
            self.stash.mkdir(mode=0o700)
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _config(self, cmd_fd, reply_fd):
        site = [p for p in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]} if p]
        cfg = {"workdir": str(self.work), "grader_dir": str(self.grader), "site": site,
               "cmd_fd": cmd_fd, "reply_fd": reply_fd, "limits": asdict(self.limits)}
        if self.isolated:
            # the interpreter (a virtual environment and the Python it was made from) must stay readable
            # even where it lies under a hidden folder, such as root's home
            keep = sorted({p for p in (sys.prefix, sys.base_prefix) if any(_inside(p, h) for h in self.hide)})
            cfg.update(uid=UID_BASE + self.slot, gid=UID_BASE + self.slot, hide=self.hide, keep=keep,
                       stash=str(self.stash))
        return cfg

    def start(self):
        """Start a fresh runner in the box and wait until it is ready."""
        import json

        cmd_r, cmd_w = os.pipe()
        reply_r, reply_w = os.pipe()
        cfg = self._config(cmd_r, reply_w)
        python = [sys.executable, "-S", "-E", "-s", "-B", str(self.grader / "runner.py"), json.dumps(cfg)]
        if self.isolated:
            python = ["unshare", "--mount", "--net", "--pid", "--fork", "--mount-proc", "--", *python]
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(self.work), "LANG": "C.UTF-8",
               "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "MPLCONFIGDIR": str(self.work / ".matplotlib")}
        log = open(self.dir / "runner.log", "ab")
        try:
            self.proc = subprocess.Popen(python, pass_fds=(cmd_r, reply_w), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, env=env, cwd=str(self.dir), start_new_session=True)
        finally:
            log.close()
            os.close(cmd_r)
            os.close(reply_w)
        self.cmd_fd, self.reply_fd = cmd_w, reply_r
        self.buffer = b""
        self.protections = Protections(self.isolated, self.isolated, list(self.hide) if self.isolated else [])
        frame = self._read_frame(time.monotonic() + self.limits.start_seconds)
        if not isinstance(frame, dict) or frame.get("type") != "ready":
            detail = (self.dir / "runner.log").read_text(errors="replace")[-2000:]
            self.stop()
            raise SandboxError(f"the sandbox did not start ({frame!r}): {detail}")

    def stop(self):
        """Kill the runner and everything it started."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
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

    def run(self, code, deadline):
        """Run one cell; returns a CellRun. On "timeout" or "died" the runner is gone: restart it."""
        start = time.monotonic()
        deadline = min(deadline, start + self.limits.cell_seconds)
        try:
            sandbox_channel.write_frame(self.cmd_fd, {"type": "run", "code": code})
        except (BrokenPipeError, OSError):
            return CellRun("died", error={"ename": "KernelDied", "evalue": "the kernel had stopped", "traceback": ""})
        while True:
            frame = self._read_frame(deadline)
            elapsed = time.monotonic() - start
            if frame is _TIMEOUT:
                self.stop()
                return CellRun("timeout", seconds=elapsed, error={"ename": "CellTimeout", "traceback": "",
                                                                 "evalue": f"the cell ran past its time limit ({elapsed:.0f} s)"})
            if frame is _EOF or not isinstance(frame, dict):
                self.stop()
                what = "the kernel stopped (it exited or was killed)" if frame is _EOF else f"the kernel sent {frame}"
                return CellRun("died", seconds=elapsed, error={"ename": "KernelDied", "evalue": what, "traceback": ""})
            if frame.get("type") == "done":
                error = frame.get("error") if isinstance(frame.get("error"), dict) else None
                return CellRun("error" if error else "ok", str(frame.get("stdout", ""))[: self.limits.output_chars],
                               str(frame.get("stderr", ""))[: self.limits.output_chars], error,
                               int(frame.get("dropped", 0) or 0), elapsed)
            reply = self.requests(frame)
            if reply is not None:
                try:
                    sandbox_channel.write_frame(self.cmd_fd, reply)
                except OSError:
                    pass

    def _read_frame(self, deadline):
        """The next frame from the runner, _TIMEOUT at the deadline, _EOF when it closed, or a bad-frame note."""
        sel = selectors.DefaultSelector()
        sel.register(self.reply_fd, selectors.EVENT_READ)
        try:
            while True:
                if len(self.buffer) >= 4:
                    (n,) = struct.unpack(">I", self.buffer[:4])
                    if n > sandbox_channel.MAX_FRAME:
                        return f"a message of {n} bytes (more than the limit)"
                    if len(self.buffer) >= 4 + n:
                        payload, self.buffer = self.buffer[4:4 + n], self.buffer[4 + n:]
                        try:
                            import json

                            return json.loads(payload)
                        except ValueError:
                            return "a message that is not JSON"
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return _TIMEOUT
                if not sel.select(timeout=remaining):
                    continue
                chunk = os.read(self.reply_fd, 1 << 20)
                if not chunk:
                    return _EOF
                self.buffer += chunk
        finally:
            sel.close()


_TIMEOUT = object()
_EOF = object()


def _inside(path, folder):
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return path == folder or folder in path.parents
