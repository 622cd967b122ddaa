"""The program that runs a student's notebook cells inside the sandbox, one cell per command.

Copied into the sandbox folder and started by autograder.sandbox with `python -S -E -s`, inside new
mount, network and PID namespaces where the machine allows. As its first act, while still privileged,
it hides the given paths under empty file systems, sets the resource limits and drops to the
unprivileged user; only then does it import IPython and run anything of the student's. It reads
commands ({"type": "run", "code": ...}) as frames on one descriptor and answers on another
({"type": "done", ...}); a hidden test cell's check() talks to the grader over the same pair.
"""
import json
import os
import resource
import subprocess
import sys
import traceback


def confine(cfg):
    """Hide paths, set limits, drop privileges. Runs before any student code."""
    stash = cfg.get("stash")
    if cfg.get("hide") and stash:
        def mount(*args):
            subprocess.run(["mount", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kept = []
        for i, keep in enumerate(cfg.get("keep", [])):
            spot = os.path.join(stash, str(i))
            os.makedirs(spot, exist_ok=True)
            mount("--bind", keep, spot)
            kept.append((spot, keep))
        for path in cfg["hide"]:
            if os.path.isdir(path):
                mount("-t", "tmpfs", "-o", "size=1m,mode=755", "tmpfs", path)
            elif os.path.exists(path):
                mount("--bind", "/dev/null", path)
        for spot, keep in kept:
            os.makedirs(keep, exist_ok=True)
            mount("--bind", spot, keep)
    limits = cfg["limits"]
    for name, value in (("RLIMIT_AS", limits["memory_bytes"]), ("RLIMIT_NPROC", limits["processes"]),
                        ("RLIMIT_FSIZE", limits["file_bytes"]), ("RLIMIT_CORE", 0),
                        ("RLIMIT_CPU", int(limits["notebook_seconds"]) + 5)):
        resource.setrlimit(getattr(resource, name), (value, value))
    if cfg.get("uid") is not None and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(cfg["gid"])
        os.setuid(cfg["uid"])
    os.chdir(cfg["workdir"])


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


def main():
    cfg = json.loads(sys.argv[1])
    confine(cfg)
    sys.path[:0] = [cfg["grader_dir"], cfg["workdir"]]
    sys.path.extend(cfg["site"])
    from autograder import _sandbox_channel as channel  # the stub package in grader_dir

    channel.setup(cfg["cmd_fd"], cfg["reply_fd"])
    cmd_fd, reply_fd = cfg["cmd_fd"], cfg["reply_fd"]
    write_frame, read_frame = channel.write_frame, channel.read_frame
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance(colors="NoColor")
    run_cell = shell.run_cell  # bound now: a student replacing shell methods changes nothing here
    real_stdout, real_stderr = sys.stdout, sys.stderr
    limit = cfg["limits"]["output_chars"]
    write_frame(reply_fd, {"type": "ready"})
    while True:
        try:
            command = read_frame(cmd_fd)
        except EOFError:
            return
        if command.get("type") != "run":
            return
        out, err = Capture(limit), Capture(limit)
        sys.stdout, sys.stderr = out, err
        error = None
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
        write_frame(reply_fd, {"type": "done", "error": error, "stdout": out.value(), "stderr": err.value(),
                               "dropped": out.dropped + err.dropped})


def write_error_and_exit(message):
    sys.__stderr__.write(message)
    os._exit(3)


if __name__ == "__main__":
    try:
        main()
    except Exception:  # noqa: BLE001  the runner itself failed: the grader sees the process end
        write_error_and_exit(traceback.format_exc())
