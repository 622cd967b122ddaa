"""A hostile class, graded through the command line as root and as an ordinary user.

One batch per grader: honest students between the attackers (one submission per attack), each
attacker's other functions right. Every attacker that reaches for the reference has a wrong
`rnn_forward` unless it finds the reference, so it must score what plain wrong code scores; every
other attack may cost only its own cell. Honest students before and after every attacker keep full
marks, the batch ends within its limits, nothing a box wrote is left on the host, no process of a box
outlives it, and each attack is flagged for the instructor with what the code did.

The ordinary user is created by the test suite. Where the interpreter lies under a folder that user
cannot enter (root's home, as in CI), the test runs the grader in a mount namespace in which that
folder is searchable, as if Python were installed system-wide; the grader itself gets no privilege.
"""
import fcntl
import json
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from autograder import commands
from autograder import course as C
from autograder.coordinator import read_record
from autograder.notebooks import ROOT
from test_grading import FULL, NAME, WRONG_FORWARD, put, reference, release_nb

WRONG = {**FULL, "rnn_forward_hidden_states": 0.0}
USER = "rnn-grading-test"
PLANTED = "rnn-planted-by-a-student"


def body(code):
    """A right rnn_forward that first runs `code` each time it is called."""
    ref = reference()["rnn_forward"]
    lines = "".join(f"    {line}\n" for line in code.splitlines())
    return ref.replace("    ### BEGIN SOLUTION\n", "    ### BEGIN SOLUTION\n" + lines, 1)


def wrong_unless(found_code):
    """A wrong rnn_forward, unless `found_code` (run first, in the cell) defined a right one."""
    return found_code + "\n" + "if 'rnn_forward' not in dir():\n" + "".join(
        f"    {line}\n" for line in WRONG_FORWARD.strip().splitlines())


def attacks(course, decoy, port, who="root"):
    """{student: (rnn_forward cell's code, expected scores, words every one of which a flag must hold)}."""
    gradebook, other = course / "gradebook.db", course / "submitted" / "000-honest" / NAME / f"{NAME}.ipynb"
    A = {}
    # reaching for the reference: all of these must score exactly what wrong code scores
    A["searches-disk"] = (wrong_unless(
        "import os, sys\n"
        "for top, dirs, files in os.walk('/'):\n"
        "    if top.startswith(('/proc', '/sys')):\n"
        "        dirs[:] = []\n"
        "    if os.path.basename(top) == 'solutions' and 'rnn.py' in files:\n"
        "        sys.path.insert(0, os.path.dirname(top))\n"
        "        from solutions.rnn import rnn_forward\n"
        "        break"), WRONG, ["lists a folder outside"])
    A["imports-solutions"] = (wrong_unless(
        "try:\n    from solutions.rnn import rnn_forward\nexcept ImportError:\n    pass\n"
        "import importlib\n"
        "try:\n    rnn_forward = importlib.import_module('sol' + 'utions.rnn').rnn_forward\n"
        "except ImportError:\n    pass"),
        WRONG, ["grading package module solutions"])
    A["imports-judge"] = (wrong_unless(
        "try:\n    mod = __import__('autograder.' + 'judge', fromlist=['x'])\nexcept ImportError:\n    pass"),
        WRONG, ["grading package module autograder.judge"])
    A["reads-reference"] = (wrong_unless(
        f"try:\n    exec(open({str(ROOT / 'solutions' / 'rnn.py')!r}).read())\nexcept OSError:\n    pass"),
        WRONG, ["reaches for the grader's", "solutions/rnn.py"])
    A["reads-decoy-clone"] = (wrong_unless(
        f"try:\n    exec(open({str(decoy / 'solutions' / 'rnn.py')!r}).read())\nexcept OSError:\n    pass"),
        WRONG, ["open a file the box does not have", "last-term/solutions/rnn.py"])
    A["reads-hidden-tests"] = (wrong_unless(
        f"try:\n    src = open({str(course / 'source' / NAME / 'rnn.ipynb')!r}).read()\nexcept OSError:\n    pass"),
        WRONG, ["reaches for the grader's", "source/rnn/rnn.ipynb"])
    A["reads-grader-process"] = (wrong_unless(
        "import os\nseen = []\nfor pid in os.listdir('/proc'):\n    if pid.isdigit():\n"
        "        try:\n            seen.append(open(f'/proc/{pid}/environ', 'rb').read())\n"
        "        except OSError:\n            pass"), WRONG, ["/proc"])
    A["ctypes-call"] = (wrong_unless("import ctypes\nctypes.CDLL(None).getpid()"), WRONG, ["ctypes"])
    A["shell-magic"] = (wrong_unless("listing = get_ipython().getoutput('ls / ; cat /etc/passwd')"), WRONG,
                        ["shell command"])
    A["aliased-numpy-patch"] = ("import numpy as _np\n_np.allclose = lambda *a, **k: True\n"
                                "_np.testing = None\n" + WRONG_FORWARD, WRONG, ["replaces numpy.allclose"])
    # harming the grader, the class or the machine: each may cost only its own cell
    A["writes-gradebook"] = (body(f"try:\n    open({str(gradebook)!r}, 'wb').write(b'gone')\n"
                                  "except OSError:\n    pass"),
                             FULL, ["reaches for the grader's", "gradebook.db"])
    A["writes-other-student"] = (body(f"try:\n    open({str(other)!r}, 'w').write('{{}}')\nexcept OSError:\n    pass"),
                                 FULL, ["reaches for the grader's", "submitted"])
    A["kills-everything"] = (body("import os, signal\nfor pid in [os.getppid(), 1, *range(2, 400)]:\n"
                                  "    try:\n        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass\n"
                                  "os.kill(-1, signal.SIGKILL)"), WRONG, ["sends a signal"])
    A["leaves-a-process"] = (body(
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(4)\n"
        f"    open({str(gradebook)!r}, 'wb').write(b'late')\n    os._exit(0)"), FULL, ["starts a process"])
    A["floods-requests"] = (body(
        "from autograder import _sandbox_channel as ch\nfor i in range(100000):\n"
        "    ch.write_frame(ch._fds['reply'], {'type': 'cases', 'name': 'rnn_forward'})"), WRONG,
        ["sent the grader a request"])
    A["huge-results"] = (body(
        "from autograder import _sandbox_channel as ch\nimport os, struct\nfor i in range(4):\n"
        "    os.write(ch._fds['reply'], struct.pack('>I', 32 << 20) + b' ' * (1 << 20))"), WRONG,
        ["bytes where at most"])
    A["forges-frames"] = ("import os\nfor fd in range(3, 64):\n    try:\n"
                          "        os.write(fd, b'\\x00\\x00\\x00\\x02{}')\n    except OSError:\n        pass\n"
                          + WRONG_FORWARD, WRONG, ["sent the grader"])
    A["plants-tmp-files"] = (body(
        "import os\nfor d in ('/tmp', '/var/tmp', '/dev/shm', os.path.expanduser('~')):\n"
        f"    open(os.path.join(d, {PLANTED!r}), 'w').write('x')"), FULL, [])
    A["reads-tmp-files"] = (body(
        "import os\nfor d in ('/tmp', '/var/tmp', '/dev/shm', os.path.expanduser('~')):\n"
        f"    if os.path.exists(os.path.join(d, {PLANTED!r})):\n"
        "        raise RuntimeError('planted file seen')"), FULL, [])
    A["opens-socket"] = (body(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)"),
                         WRONG, ["socket"])
    A["infinite-loop"] = (body("while True:\n    pass"), WRONG, ["time limit"])
    A["memory-bomb"] = (body("hog = [bytearray(1 << 28) for _ in range(64)]"), WRONG, [])
    A["fork-bomb"] = (body("import os\nwhile True:\n    os.fork()"), WRONG, ["starts a process"])
    A["fills-disk"] = (body(f"PLANTED = {PLANTED!r}\nblob = b'x' * (1 << 20)\n"
                            "with open('/tmp/' + PLANTED + '-fill', 'wb') as f:\n"
                            "    for _ in range(2000):\n        f.write(blob)"), WRONG, [])
    # as root a control group caps the whole box's memory, so the hogs may ask for more than the machine
    # has; an ordinary user's box has per-process caps only, so there they ask for what the machine can hold
    A["forks-memory-hogs"] = (body(
        f"import os, time\nfor i in range({16 if who == 'root' else 3}):\n    if os.fork() == 0:\n"
        "        hog = bytearray(1 << 30)\n"
        "        for j in range(0, len(hog), 4096):\n            hog[j] = 1\n        time.sleep(30)\n"
        "        os._exit(0)\nraise MemoryError('the children hold the memory')"), WRONG, ["starts a process"])
    A["floods-output"] = (body("print('x' * 5_000_000)"), FULL, ["characters more"])
    A["exits-kernel"] = ("import sys\nsys.exit(0)\n" + reference()["rnn_forward"], WRONG, [])
    A["patches-builtins"] = ("import builtins\nbuiltins.abs = lambda v: 0\n" + WRONG_FORWARD, WRONG,
                             ["replaces builtins.abs"])
    return A


class Listener:
    """A TCP server on loopback that counts connections."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port, self.connections, self.stop = self.sock.getsockname()[1], 0, False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def ordinary_user():
    """The uid of a user without privileges, created once (under a lock: tests run in parallel)."""
    with open(Path(tempfile.gettempdir()) / "rnn-grading-test-user.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return pwd.getpwnam(USER).pw_uid
        except KeyError:
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", USER], check=True)
            return pwd.getpwnam(USER).pw_uid


def searchable(path, uid):
    st = os.stat(path)
    return bool(st.st_mode & 0o001 or (st.st_uid == uid and st.st_mode & 0o100))


def as_user(uid, argv, paths):
    """argv run as `uid`, in a mount namespace where every folder above `paths` that the user could not
    enter is replaced by a searchable one holding just the way to those paths."""
    blocked = {}
    for path in paths:
        path = Path(path)
        chain = [*reversed(path.parents), path]
        for i, folder in enumerate(chain[:-1]):
            if not searchable(folder, uid):
                blocked.setdefault(str(folder), set()).add(chain[i + 1].name)
    if not blocked:
        return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", *argv]
    stash = tempfile.mkdtemp(prefix="rnn-test-stash-")
    lines = []
    for k, (folder, children) in enumerate(sorted(blocked.items())):
        lines.append(f"mkdir -p '{stash}/{k}' && mount --bind '{folder}' '{stash}/{k}'")
        lines.append(f"mount -t tmpfs -o mode=755 tmpfs '{folder}'")
        for child in sorted(children):
            lines.append(f"if [ -d '{stash}/{k}/{child}' ]; then mkdir -p '{folder}/{child}'; "
                         f"else touch '{folder}/{child}'; fi && mount --bind '{stash}/{k}/{child}' '{folder}/{child}'")
    script = " && ".join(lines) + f' && exec setpriv --reuid={uid} --regid={uid} --clear-groups -- "$@"'
    return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", *argv]


def processes_of(course):
    """Processes still alive whose command line names the course folder (every box runner's does)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(course).encode() in (entry / "cmdline").read_bytes():
                found.append(entry.name)
        except OSError:
            pass
    return found


def run_grader(course, who, tmp, extra=()):
    argv = [sys.executable, "-m", "autograder", "grade", NAME, "--course", str(course), "--workers", "2",
            "--cell-timeout", "8", "--notebook-timeout", "60", *extra]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV"))}
    env.update(PYTHONPATH=str(ROOT), TMPDIR=str(tmp))
    if who == "user":
        uid = ordinary_user()
        home = pwd.getpwuid(uid).pw_dir
        env.update(HOME=home, USER=USER, LOGNAME=USER)
        argv = as_user(uid, argv, [sys.executable, os.path.realpath(sys.executable), sys.prefix, sys.base_prefix,
                                   str(ROOT), str(course)])
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(course), timeout=900)


pytestmark = pytest.mark.xdist_group("sandbox-attacks")


@pytest.fixture(scope="module", params=["root", "user"])
def batch(request, tmp_path_factory):
    who = request.param
    if os.geteuid() != 0:
        pytest.skip("grading as root and as a created ordinary user needs the tests to run as root (CI does)")
    base = Path(tempfile.mkdtemp(prefix=f"rnn-attacks-{who}-"))
    os.chmod(base, 0o755)
    course = base / "course"
    commands.release(course=course, names=[NAME], log=lambda *_: None)
    decoy = base / "last-term"  # a second, world-readable copy of the reference and of a course
    shutil.copytree(ROOT / "solutions", decoy / "solutions")
    shutil.copytree(course / "source", decoy / "course" / "source")
    shutil.copy2(course / "gradebook.db", decoy / "course" / "gradebook.db")
    listener = Listener()
    cases = attacks(course, decoy, listener.port, who)
    students = []
    for i, (attack, (code, _, _)) in enumerate(cases.items()):
        honest = f"{2 * i:03d}-honest"
        put(course, honest, release_nb(course))
        put(course, f"{2 * i + 1:03d}-{attack}", release_nb(course, {"rnn_forward": code}))
        students += [honest, f"{2 * i + 1:03d}-{attack}"]
    last = f"{2 * len(cases):03d}-honest"
    put(course, last, release_nb(course))
    students.append(last)
    other = course / "submitted" / "000-honest" / NAME / f"{NAME}.ipynb"
    other_bytes = other.read_bytes()
    if who == "user":
        subprocess.run(["chown", "-R", f"{ordinary_user()}:{ordinary_user()}", str(course)], check=True)
    tmp_before = {d: set(os.listdir(d)) for d in ("/tmp", "/var/tmp", "/dev/shm")}
    tmp = base / "tmp"  # the grader's own temporary folder, to see what it leaves there
    tmp.mkdir(mode=0o1777)
    os.chmod(tmp, 0o1777)
    start = time.monotonic()
    proc = run_grader(course, who, tmp)
    seconds = time.monotonic() - start
    time.sleep(5)  # a process a box left behind would write the gradebook by now
    listener.close()
    return {"who": who, "course": course, "cases": cases, "students": students, "proc": proc,
            "seconds": seconds, "connections": listener.connections, "other_bytes": other_bytes,
            "tmp_before": tmp_before, "tmp": tmp, "leftover": processes_of(course)}


def scores_of(course, student):
    return {cell: score for cell, (score, _) in C.scores(course, NAME, student).items()}


def test_the_batch_ends_in_time_and_grades_everybody(batch):
    proc = batch["proc"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"graded {len(batch['students'])} submission(s)" in proc.stdout, proc.stdout
    assert batch["seconds"] < 600, batch["seconds"]
    assert "warning" not in proc.stdout.lower() and "WITHOUT" not in proc.stdout


def test_honest_students_before_and_after_every_attacker_keep_full_marks(batch):
    course = batch["course"]
    for student in batch["students"]:
        if student.endswith("-honest"):
            assert scores_of(course, student) == FULL, (student, read_record(course, NAME, student))
            assert read_record(course, NAME, student)["flags"] == [], student


@pytest.mark.parametrize("attack", list(attacks(Path("/c"), Path("/d"), 1)))
def test_each_attack_costs_only_its_author_and_is_flagged(batch, attack):
    course = batch["course"]
    student = next(s for s in batch["students"] if s.endswith("-" + attack))
    _, expected, words = batch["cases"][attack]
    record = read_record(course, NAME, student)
    assert scores_of(course, student) == expected, (record["messages"], record["flags"])
    flags = "\n".join(record["flags"])
    for word in words:
        assert word.lower() in flags.lower(), flags
    assert record["protections"]["sandbox"] == "bubblewrap"
    assert record["protections"]["own_uid"] == (batch["who"] == "root")
    assert record["protections"]["cgroup"] == (batch["who"] == "root")


def test_nothing_of_the_boxes_is_left_on_the_host(batch):
    course = batch["course"]
    assert batch["connections"] == 0
    assert batch["leftover"] == [], batch["leftover"]
    with sqlite3.connect(course / "gradebook.db") as db:
        assert db.execute("select count(*) from student").fetchone()[0] == len(batch["students"])
    assert (course / "submitted" / "000-honest" / NAME / f"{NAME}.ipynb").read_bytes() == batch["other_bytes"]
    for folder, before in batch["tmp_before"].items():
        new = set(os.listdir(folder)) - before
        assert not any(PLANTED in n for n in new), new
    assert os.listdir(batch["tmp"]) == []
    homes = [Path.home()] + ([Path(pwd.getpwnam(USER).pw_dir)] if batch["who"] == "user" else [])
    assert not [p for home in homes for p in home.glob(PLANTED + "*")]
    records = [json.loads(p.read_text()) for p in (course / "grading" / NAME).glob("*.json")]
    assert len(records) == len(batch["students"])
