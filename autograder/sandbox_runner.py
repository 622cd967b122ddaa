"""The program that runs a student's notebook cells inside the box, one cell per command.

Started by autograder.sandbox with `python -I -S` inside the bubblewrap box. Before anything of the
student's runs it: sets the resource limits, copies the submission's files into its home, proves that
the reference can be neither imported nor found (the answer goes out in its first message, which the
grader checks before it sends a cell), and installs an audit hook (`sys.addaudithook`, which cannot be
removed) that reports to the grader, as it happens, what the student's code does that a notebook has
no need to: importing the grading packages, starting processes, signalling, sockets, ctypes, opening
files outside its folders, inspecting the interpreter's objects, shell magics. Then it reads commands
({"type": "run", "code": ..., "cell": ...}) as frames on one descriptor and answers on another.
"""
import hashlib
import json
import os
import resource
import shutil
import sys
import traceback

GRADING = ("solutions", "autograder")
KERNEL_SIDE = ("autograder", "autograder.harness", "autograder._sandbox_channel")  # what the test cells import


def set_limits(limits):
    for name, value in (("RLIMIT_AS", limits["memory_bytes"]), ("RLIMIT_NPROC", limits["processes"]),
                        ("RLIMIT_FSIZE", limits["file_bytes"]), ("RLIMIT_CORE", 0),
                        ("RLIMIT_CPU", limits["cpu_seconds"])):
        resource.setrlimit(getattr(resource, name), (value, value))


def grading_module(name):
    name = str(name)
    return any(name == g or name.startswith(g + ".") for g in GRADING)


def prove(cfg):
    """What of the reference this process can reach: importable grading modules and forbidden paths."""
    import importlib.util

    reached = []
    for name in ("solutions", "solutions.rnn", "autograder.judge", "autograder.checks", "autograder.specs",
                 "autograder.grading"):
        try:
            if importlib.util.find_spec(name) is not None:
                reached.append(f"the module {name} can be imported")
        except (ImportError, ValueError):
            pass
    for path in cfg.get("forbidden", []):
        if os.path.exists(path):
            reached.append(f"{path} exists in the box")
    return reached


def scan(fingerprints):
    """Walk the whole visible file system; [(path, why)] for files that match a fingerprint (size and
    sha256 of a reference file) and folders that look like a copy of the course."""
    sizes = {}
    for size, digest in fingerprints:
        sizes.setdefault(int(size), set()).add(digest)
    found = []
    for top, folders, files in os.walk("/", onerror=lambda e: None):
        if top in ("/proc", "/sys", "/dev"):
            folders[:] = []
            continue
        if os.path.basename(top) == "solutions" and "bptt.py" in files:
            found.append((top, "a folder that looks like the reference package"))
        for name in files:
            path = os.path.join(top, name)
            if name == "gradebook.db":
                found.append((path, "an nbgrader gradebook"))
            try:
                size = os.lstat(path).st_size
                if size in sizes and os.path.isfile(path):
                    with open(path, "rb") as fh:
                        if hashlib.sha256(fh.read()).hexdigest() in sizes[size]:
                            found.append((path, "a copy of a reference file"))
            except OSError:
                pass
    return found[:50]


class Capture:
    """A text stream that keeps the first `limit` characters and counts the rest."""

    def __init__(self, limit):
        self.limit, self.parts, self.kept, self.dropped = limit, [], 0, 0

    def write(self, text):
        text = str(text)
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(text[:room])
            self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False

    def value(self):
        return "".join(self.parts)


class Auditor:
    """The audit hook: reports the student's suspicious actions to the grader as they happen."""

    PROCESS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
               "pty.spawn")
    SIGNAL = ("os.kill", "os.killpg", "signal.pthread_kill")
    SOCKET = ("socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.sendto",
              "socket.gethostbyname")
    CHANGE = ("os.remove", "os.rename", "os.rmdir", "os.chmod", "os.chown", "os.link", "os.symlink", "os.truncate",
              "os.mkdir", "shutil.rmtree", "shutil.copyfile", "os.listdir", "os.scandir")
    INSPECT = ("gc.get_objects", "gc.get_referrers", "gc.get_referents")
    EVENTS = frozenset(PROCESS + SIGNAL + SOCKET + CHANGE + INSPECT + ("open", "import"))
    PER_KIND = 5  # actions of one kind reported per cell

    def __init__(self, cfg, send):
        self.send, self.cell, self.sent, self.busy = send, None, {}, False
        self.cells = {}  # IPython's execution count -> the grader's cell index
        self.home, self.grader = cfg["home"], cfg["grader_dir"]
        self.site, self.stdlib = tuple(cfg["site"]), tuple(cfg["stdlib"])
        self.channel = {cfg["cmd_fd"], cfg["reply_fd"]}
        self.forbidden = tuple(cfg.get("forbidden", ()))
        self.writable = (self.home, "/tmp", "/var/tmp", "/dev/shm", "/dev/null")
        self.readable = self.writable + self.site + self.stdlib + (self.grader, "/dev/zero", "/dev/urandom",
                                                                   "/dev/random")

    def hook(self, event, args):
        if event not in self.EVENTS and not event.startswith("ctypes.") or self.busy:
            return
        self.busy = True
        try:
            self.check(event, args)
        except Exception:  # noqa: BLE001  the hook must never break the student's code
            pass
        finally:
            self.busy = False

    def origin(self):
        """(cell of the innermost student frame or None, is the innermost non-stdlib frame the student's,
        is a shell magic on the stack)."""
        frame, innermost, cell, magic = sys._getframe(3), None, None, False
        while frame is not None:
            name = frame.f_code.co_filename
            mine = name.startswith("<ipython-input-") or name.startswith(self.home + "/")
            library = name.startswith(self.site) or name.startswith(self.grader)
            if library and frame.f_code.co_name == "_modified_open":  # IPython's own `open` in a cell
                library = False
            if library and frame.f_code.co_name in ("system", "system_piped", "system_raw", "getoutput"):
                magic = True
            if innermost is None and (mine or library):
                innermost = mine
            if mine and cell is None:
                count = name[len("<ipython-input-"):].split("-")[0]
                cell = self.cells.get(int(count), self.cell) if count.isdigit() else self.cell
            frame = frame.f_back
        return cell, bool(innermost), magic

    def check(self, event, args):
        what, always = None, False
        if event == "import":
            name = str(args[0])
            if grading_module(name) and name not in KERNEL_SIDE:
                what, always = f"imports the grading package module {name}", True
        elif event == "open":
            what = self.opening(args)
        elif event.startswith(self.PROCESS):
            what, always = f"starts a process ({event}: {_short(args)})", True
        elif event.startswith(self.SIGNAL):
            what, always = f"sends a signal ({event}{_short(args)})", True
        elif event.startswith(self.SOCKET):
            what, always = f"uses a socket ({event})", True
        elif event.startswith("ctypes."):
            what = f"calls into C through ctypes ({event})"
        elif event in self.INSPECT:
            what = f"inspects the interpreter's objects ({event})"
        elif event in self.CHANGE:
            path = str(args[0]) if args else ""
            if event in ("os.listdir", "os.scandir"):
                if path and (not self._under(_abs(path), self.readable) or self._under(_abs(path), self.forbidden)):
                    what = f"lists a folder outside its own ({path[:200]})"
            elif not self._under(_abs(path), self.writable) or self._under(_abs(path), self.forbidden):
                what = f"changes files outside its folder ({event} {path[:200]})"
        if what is None:
            return
        cell, innermost, magic = self.origin()
        if cell is None or not (always or innermost):  # not the student's doing
            return
        if magic and event.startswith(self.PROCESS):
            what = f"runs a shell command through an IPython magic ({_short(args)})"
        self.report(cell, what)

    WATCHED = ("allclose", "isclose", "array_equal", "array_equiv", "testing")

    def snapshot(self):
        """What a student might patch to fool a check in the kernel: numpy's comparison functions and the
        builtins, by identity."""
        import builtins

        numpy = sys.modules.get("numpy")
        watched = {f"numpy.{n}": id(getattr(numpy, n, None)) for n in self.WATCHED} if numpy else {}
        return {**watched, **{f"builtins.{k}": id(v) for k, v in vars(builtins).items()}}

    OUTPUT_HISTORY = ("builtins._", "builtins.__", "builtins.___")  # IPython sets these after every cell

    def after_cell(self, before):
        """Report what the cell replaced among the watched objects, or added to the builtins."""
        after = self.snapshot()
        changed = sorted(k for k in after if k not in self.OUTPUT_HISTORY and (
            before.get(k, after[k]) != after[k] or (k not in before and k.startswith("builtins."))))
        if changed:
            self.report(self.cell, "replaces " + ", ".join(changed[:8]))

    def opening(self, args):
        path, mode = args[0], str(args[1] or "r") if len(args) > 1 else "r"
        if isinstance(path, int):
            return f"opens the grader's channel (descriptor {path})" if path in self.channel else None
        path = _abs(os.fsdecode(path))
        writing = any(c in mode for c in "wax+")
        if self._under(path, self.forbidden):
            return f"reaches for the grader's or the course's files ({path[:200]}, mode {mode!r})"
        if not writing and not os.path.exists(path) and not self._under(path, (self.home,)):
            return f"tries to open a file the box does not have ({path[:200]}, mode {mode!r})"
        if self._under(path, self.writable) or (not writing and self._under(path, self.readable)):
            return None
        return f"opens a file outside its folder ({path[:200]}, mode {mode!r})"

    @staticmethod
    def _under(path, roots):
        return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)

    def report(self, cell, what):
        """Send one action to the grader: the first few of each kind per cell, then one note that there
        were more (so that a flood of one kind cannot hide another)."""
        kind = what.split(" (")[0]
        seen = self.sent.setdefault((cell, kind), set())
        if what in seen or len(seen) > self.PER_KIND:
            return
        seen.add(what)
        self.send({"type": "audit", "cell": cell, "what": what if len(seen) <= self.PER_KIND else kind + " (more)"})


class Sentinel:
    """A finder first on sys.meta_path that reports lookups of the grading packages (importlib's own
    import_module and find_spec raise no audit event); it finds nothing."""

    def __init__(self, auditor):
        self.auditor = auditor

    def find_spec(self, name, path=None, target=None):
        if grading_module(name) and name not in KERNEL_SIDE:
            cell, _, _ = self.auditor.origin()
            if cell is not None:
                self.auditor.report(cell, f"looks up the grading package module {name}")
        return None


def _abs(path):
    return os.path.normpath(os.path.join(os.getcwd(), path)) if path else path


def _short(args):
    text = repr(args)
    return text if len(text) < 200 else text[:200] + "..."


def main():
    cfg = json.loads(sys.argv[1])
    set_limits(cfg["limits"])
    os.makedirs(cfg["home"], exist_ok=True)
    for name in os.listdir(cfg["inbox"]):
        shutil.copyfile(os.path.join(cfg["inbox"], name), os.path.join(cfg["home"], name))
    os.chdir(cfg["home"])
    sys.path[:] = [cfg["grader_dir"], cfg["home"], *sys.path, *cfg["site"]]
    from autograder import _sandbox_channel as channel  # the kernel-side copy in grader_dir

    cmd_fd, reply_fd = cfg["cmd_fd"], cfg["reply_fd"]
    channel.setup(cmd_fd, reply_fd)
    ready = {"type": "ready", "reached": prove(cfg)}
    if cfg.get("fingerprints"):
        ready["found"] = scan(cfg["fingerprints"])
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance(colors="NoColor")
    run_cell = shell.run_cell  # bound now: a student replacing shell methods changes nothing here
    auditor = Auditor(cfg, lambda frame: channel.write_frame(reply_fd, frame))
    sys.meta_path.insert(0, Sentinel(auditor))
    sys.addaudithook(auditor.hook)
    real_stdout, real_stderr = sys.stdout, sys.stderr
    limit = cfg["limits"]["output_chars"]
    channel.write_frame(reply_fd, ready)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # past this point nothing of the student's reaches the host's log
    os.dup2(devnull, 2)
    while True:
        try:
            command = channel.read_frame(cmd_fd)
        except EOFError:
            return
        if command.get("type") != "run":
            return
        auditor.cell = command.get("cell")
        auditor.cells[shell.execution_count] = command.get("cell")
        out, err = Capture(limit), Capture(limit)
        sys.stdout, sys.stderr = out, err
        error, before = None, auditor.snapshot()
        try:
            result = run_cell(command["code"], store_history=True, silent=False)
            exc = result.error_before_exec or result.error_in_exec
            if exc is not None:
                error = {"ename": type(exc).__name__, "evalue": str(exc)[:2000],
                         "traceback": "".join(traceback.format_exception(exc))[-8000:]}
        except BaseException as exc:  # noqa: BLE001  (SystemExit and the like, past IPython)
            error = {"ename": type(exc).__name__, "evalue": str(exc)[:2000], "traceback": ""}
        finally:
            sys.stdout, sys.stderr = real_stdout, real_stderr
        try:
            auditor.after_cell(before)
        except Exception:  # noqa: BLE001  a student's odd builtins must not stop the report of the cell
            pass
        channel.write_frame(reply_fd, {"type": "done", "error": error, "stdout": out.value(), "stderr": err.value(),
                                       "dropped": out.dropped + err.dropped})


if __name__ == "__main__":
    try:
        main()
    except Exception:  # noqa: BLE001  the runner itself failed: the grader sees the process end
        sys.__stderr__.write(traceback.format_exc())
        os._exit(3)
