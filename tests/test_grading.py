"""The sandboxed grader on a class: hostile submissions, bad files, regrading and a run killed halfway.

One batch holds an honest student, a student with a wrong answer, and one submission per attack. Each
attack must cost its author the points it targets (or be flagged for the instructor, with the reason),
and must never change another student's grade or stop the batch.
"""
import copy
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from autograder import commands
from autograder import course as C
from autograder.coordinator import grade_all, read_record
from autograder.notebooks import ROOT, notebook_path
from autograder.sandbox import isolation_available

NAME = "rnn"
CELLS = ["rnn_step_forward_tests", "rnn_forward_tests", "temporal_affine_forward_tests", "temporal_softmax_loss_tests"]
FULL = {cell: 5.0 for cell in CELLS}
WRONG_FORWARD = '''
def rnn_forward(x, h0, Wxh, Whh, bh):
    return np.zeros((x.shape[0], x.shape[1], Whh.shape[0])), None
'''


def reference():
    nb = nbformat.read(notebook_path(NAME), as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")}


def release_nb(course, replace=None, edit=None):
    """The released notebook with the reference solutions, some cells replaced, and an optional edit."""
    nb = nbformat.read(course / "release" / NAME / f"{NAME}.ipynb", as_version=4)
    sources = {**reference(), **(replace or {})}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in sources:
            cell.source = sources[gid]
    if edit:
        edit(nb)
    return nb


def put(course, student, nb=None, raw=None, filename=f"{NAME}.ipynb"):
    folder = course / "submitted" / student / NAME
    folder.mkdir(parents=True, exist_ok=True)
    if raw is not None:
        (folder / filename).write_bytes(raw)
    elif nb is not None:
        nbformat.write(nb, folder / filename)
    return folder


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("class")
    commands.release(course=course, names=[NAME, "bptt"], log=lambda *_: None)
    return course


class Listener:
    """A TCP server on loopback that records whether anybody connected."""

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


def attacks(course, port):
    """{student: (submission notebook, cells it may lose, words its flags must contain or None)}."""
    gradebook = course / "gradebook.db"
    other = course / "submitted" / "honest" / NAME / "rnn.ipynb"
    fwd = "rnn_forward"
    A = {}

    def body(code):
        """An rnn_forward solution that runs `code` when called, then answers correctly."""
        ref = reference()[fwd]
        return ref.replace("    ### BEGIN SOLUTION\n", "    ### BEGIN SOLUTION\n" + "".join(f"    {line}\n" for line in code.splitlines()), 1)

    A["imports-solutions"] = ({fwd: "from solutions.rnn import rnn_forward"}, ["rnn_forward_tests"], "imports the reference")
    A["imports-autograder"] = ({fwd: "from autograder.checks import cases\n" + WRONG_FORWARD}, ["rnn_forward_tests"],
                               "imports the grading")
    A["reads-reference"] = ({fwd: f"exec(open({str(ROOT / 'solutions' / 'rnn.py')!r}).read())"}, ["rnn_forward_tests"], None)
    A["reads-hidden-tests"] = ({fwd: f"src = open({str(course / 'source' / NAME / 'rnn.ipynb')!r}).read()\n" + WRONG_FORWARD},
                               ["rnn_forward_tests"], None)
    A["patches-numpy"] = ({fwd: "np.allclose = lambda *a, **k: True\nnp.testing.assert_allclose = lambda *a, **k: None\n"
                                "np.isclose = lambda *a, **k: True\n" + WRONG_FORWARD}, ["rnn_forward_tests"], "numpy")
    A["patches-builtins"] = ({fwd: "import builtins\nbuiltins.abs = lambda v: 0\nbuiltins.max = lambda *a, **k: 0\n"
                                   + WRONG_FORWARD}, ["rnn_forward_tests"], "builtins")
    A["hides-tracebacks"] = ({fwd: "get_ipython().showtraceback = lambda *a, **k: None\n"
                                   "def rnn_forward(*args):\n    raise RuntimeError('boom')"}, ["rnn_forward_tests"],
                             "traceback")
    A["sys-exit"] = ({fwd: "import sys\nsys.exit(0)\n" + reference()[fwd]}, ["rnn_forward_tests"], "exits")
    A["os-exit"] = ({fwd: body("import os\nos._exit(1)")}, ["rnn_forward_tests"], "exits")
    # in a PID namespace the kernel is the namespace's init, which ignores the signal: the code after it
    # runs and is right; without namespaces the kernel dies and the cell's function is never defined
    A["kills-kernel"] = ({fwd: "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n" + reference()[fwd]},
                         [] if isolation_available() else ["rnn_forward_tests"], "kill")
    A["infinite-loop"] = ({fwd: body("while True:\n    pass")}, ["rnn_forward_tests"], "time limit")
    A["memory-bomb"] = ({fwd: body("hog = [bytearray(1 << 28) for _ in range(64)]")}, ["rnn_forward_tests"], None)
    A["fork-bomb"] = ({fwd: body("import os\nwhile True:\n    os.fork()")}, ["rnn_forward_tests"], "processes")
    A["floods-output"] = ({fwd: body("print('x' * 5_000_000)")}, [], "characters more")
    A["opens-socket"] = ({fwd: body(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)")},
                         ["rnn_forward_tests"], "network")
    A["writes-gradebook"] = ({fwd: body(f"open({str(gradebook)!r}, 'wb').write(b'gone')")}, ["rnn_forward_tests"], "outside its folder")
    A["writes-other-student"] = ({fwd: body(f"open({str(other)!r}, 'w').write('{{}}')")}, ["rnn_forward_tests"], "outside")
    A["detects-grading"] = ({fwd: "import os, sys\nif any(k for k in os.environ if 'GRAD' in k.upper()) or os.path.exists("
                                  "'.grading-cases.pkl') or 'autograder' in sys.modules:\n    np.allclose = lambda *a, **k: True\n"
                                  + WRONG_FORWARD}, ["rnn_forward_tests"], "environment")
    return A


@pytest.fixture(scope="module")
def batch(course):
    listener = Listener()
    cases = attacks(course, listener.port)
    put(course, "honest", release_nb(course))
    put(course, "wrong", release_nb(course, {"rnn_forward": WRONG_FORWARD.strip()}))
    for student, (replace, _, _) in cases.items():
        put(course, student, release_nb(course, replace))
    for student, edit in {
        "edits-test-cell": lambda nb: _set(nb, "rnn_forward_tests", "pass"),
        "deletes-test-cell": lambda nb: nb.cells.remove(_cell(nb, "rnn_forward_tests")),
    }.items():
        put(course, student, release_nb(course, {"rnn_forward": WRONG_FORWARD.strip()}, edit))
    gradebook_before = (course / "gradebook.db").stat().st_size
    start = time.monotonic()
    from autograder.sandbox import Limits

    summary = grade_all(course, NAME, workers=2, progress=False, limits=Limits(cell_seconds=8, notebook_seconds=60))
    listener.close()
    return {"summary": summary, "cases": cases, "connections": listener.connections, "seconds": time.monotonic() - start,
            "gradebook_before": gradebook_before}


def _cell(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def _set(nb, gid, source):
    _cell(nb, gid).source = source


def scores_of(course, student):
    return {cell: score for cell, (score, _) in C.scores(course, NAME, student).items()}


def test_honest_and_wrong_students_are_graded_normally(course, batch):
    assert scores_of(course, "honest") == FULL
    assert scores_of(course, "wrong") == {**FULL, "rnn_forward_tests": 0.0}
    record = read_record(course, NAME, "wrong")
    assert "rnn_forward is wrong" in record["messages"]["rnn_forward_tests"]
    assert "Likely cause" not in record["messages"]["rnn_step_forward_tests"]


@pytest.mark.parametrize("student", [
    "imports-solutions", "imports-autograder", "reads-reference", "reads-hidden-tests", "patches-numpy",
    "patches-builtins", "hides-tracebacks", "sys-exit", "os-exit", "kills-kernel", "infinite-loop", "memory-bomb",
    "fork-bomb", "floods-output", "opens-socket", "writes-gradebook", "writes-other-student", "detects-grading",
])
def test_attack_costs_only_its_target(course, batch, student):
    _, lose, flag_words = batch["cases"][student]
    got = scores_of(course, student)
    expected = {cell: (0.0 if cell in lose else 5.0) for cell in CELLS}
    assert got == expected, read_record(course, NAME, student)["messages"]
    if flag_words:
        flags = " ".join(read_record(course, NAME, student)["flags"])
        assert flag_words.lower() in flags.lower(), flags


@pytest.mark.parametrize("student", ["edits-test-cell", "deletes-test-cell"])
def test_edited_or_deleted_test_cell_runs_as_written_by_the_instructor(course, batch, student):
    assert scores_of(course, student) == {**FULL, "rnn_forward_tests": 0.0}
    flags = " ".join(read_record(course, NAME, student)["flags"])
    assert "rnn_forward_tests" in flags and ("edited" in flags or "deleted" in flags)


def test_attacks_leave_the_machine_and_the_class_alone(course, batch):
    assert batch["connections"] == 0  # no submission reached the loopback server
    other = course / "submitted" / "honest" / NAME / "rnn.ipynb"
    assert nbformat.read(other, as_version=4).cells  # the honest notebook was not overwritten
    with sqlite3.connect(course / "gradebook.db") as db:  # the gradebook is still a database
        assert db.execute("select count(*) from student").fetchone()[0] >= 20
    assert len(batch["summary"].graded) == 22  # the batch went through to the end


def test_the_box_is_clean_and_cannot_see_the_course(course, tmp_path):
    from autograder.grading import grade_submission

    probe = ("import os, sys\nprint('ENV', sorted(os.environ))\nprint('SEES', os.path.exists("
             f"{str(course / 'gradebook.db')!r}), os.path.exists({str(ROOT / 'solutions')!r}) and "
             f"bool(os.listdir({str(ROOT / 'solutions')!r})))\n" + reference()["rnn_forward"])
    nb = release_nb(course, {"rnn_forward": probe})
    source = (course / "source" / NAME / f"{NAME}.ipynb").read_text()
    files = {"gradcheck.py": (course / "release" / NAME / "gradcheck.py").read_bytes()}
    result = grade_submission(nbformat.writes(nb).encode(), source, "probe", NAME, files=files,
                              hide=[str(ROOT), str(course)])
    graded = nbformat.reads(result.notebook, as_version=4)
    text = "".join(o.get("text", "") for c in graded.cells if c.cell_type == "code" for o in c.outputs)
    env_line = next(line for line in text.splitlines() if line.startswith("ENV"))
    assert "NBGRADER" not in env_line and "GRAD" not in env_line.upper().replace("ENV", "")
    if isolation_available():
        assert "SEES False False" in text
        assert result.protections["namespaces"] and result.protections["user_switch"]


# ------------------------------------------------------------------------------ bad input


@pytest.fixture(scope="module")
def bad_batch(tmp_path_factory):
    course = tmp_path_factory.mktemp("bad")
    commands.release(course=course, names=[NAME, "bptt"], log=lambda *_: None)
    good = release_nb(course)
    put(course, "not-json", raw=b"{this is not json")
    put(course, "empty", raw=b"")
    put(course, "old-format", raw=nbformat.v3.writes_json(nbformat.convert(copy.deepcopy(good), 3)).encode())
    (course / "submitted" / "missing" / NAME).mkdir(parents=True)
    put(course, "misnamed", good, filename="rnn (1).ipynb")
    stripped = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c.source) for c in good.cells
                                               if c.cell_type == "code"])
    put(course, "no-metadata", stripped)
    put(course, "wrong-assignment", nb=nbformat.read(course / "release" / "bptt" / "bptt.ipynb", as_version=4))
    summary = grade_all(course, NAME, workers=2, progress=False)
    return course, summary


@pytest.mark.parametrize("student,words", [
    ("not-json", "not valid JSON"), ("empty", "is empty"), ("old-format", "format version 3"),
    ("missing", "no notebook"), ("misnamed", "rnn (1).ipynb"), ("wrong-assignment", "assignment 'bptt'"),
])
def test_bad_input_gets_a_clear_line_and_the_batch_goes_on(bad_batch, student, words):
    course, summary = bad_batch
    lines = "\n".join(summary.lines())
    assert any(student in line and words in line for line in lines.splitlines()), lines
    assert student in {r.student for r in summary.graded}


def test_readable_bad_inputs_are_still_graded(bad_batch):
    course, _ = bad_batch
    assert scores_of(course, "old-format") == FULL
    assert scores_of(course, "misnamed") == FULL
    assert scores_of(course, "no-metadata") == FULL  # solution cells found by the functions they define
    assert "lost its nbgrader metadata" in " ".join(read_record(course, NAME, "no-metadata")["flags"])
    for student in ("not-json", "empty", "missing", "wrong-assignment"):
        assert sum(scores_of(course, student).values()) == 0


# ------------------------------------------------------------------------------ regrading and crashes


def test_grading_again_gives_the_same_grades_and_skips_unchanged(course, batch):
    before = {s: scores_of(course, s) for s in ("honest", "wrong", "infinite-loop")}
    summary = grade_all(course, NAME, workers=2, progress=False, students=list(before))
    assert summary.graded == [] and sorted(summary.skipped) == sorted(before)
    summary = grade_all(course, NAME, workers=2, progress=False, students=["honest", "wrong"], force=True)
    assert len(summary.graded) == 2
    assert {s: scores_of(course, s) for s in before} == before


def test_a_run_killed_halfway_completes_without_losing_or_doubling(tmp_path):
    course = tmp_path / "killed"
    commands.release(course=course, names=[NAME], log=lambda *_: None)
    students = [f"s{i:02d}" for i in range(12)]
    for i, student in enumerate(students):
        put(course, student, release_nb(course, {} if i % 2 else {"rnn_forward": WRONG_FORWARD.strip()}))
    cmd = [sys.executable, "-m", "autograder", "grade", NAME, "--course", str(course), "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    records = course / "grading" / NAME
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(records.glob("*.json"))) < 3:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(records.glob("*.json")))
    assert 3 <= done_before < len(students), "the run should be killed halfway"
    rerun = subprocess.run(cmd, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    for i, student in enumerate(students):
        expected = FULL if i % 2 else {**FULL, "rnn_forward_tests": 0.0}
        assert scores_of(course, student) == expected, student
    with sqlite3.connect(course / "gradebook.db") as db:
        rows = db.execute("select count(*) from grade").fetchone()[0]
        subs = db.execute("select count(*) from submitted_assignment").fetchone()[0]
    assert subs == len(students) and rows == len(students) * len(CELLS)
    assert json.loads((records / "s00.json").read_text())["sha256"]


@pytest.mark.parametrize("name", __import__("autograder.notebooks", fromlist=["assignments"]).assignments())
def test_every_assignment_grades_in_the_sandbox(tmp_path, name):
    """The sandboxed grader gives the reference full marks and the untouched release zero, everywhere."""
    from autograder.grading import grade_submission

    course = tmp_path / "c"
    commands.release(course=course, names=[name], log=lambda *_: None)
    source = (course / "source" / name / f"{name}.ipynb").read_text()
    files = {p.name: p.read_bytes() for p in (course / "release" / name).glob("*.py")}
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in nbformat.reads(source, as_version=4).cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    blank = nbformat.read(course / "release" / name / f"{name}.ipynb", as_version=4)
    right = copy.deepcopy(blank)
    for cell in right.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in solutions:
            cell.source = solutions[gid]
    for nb, full in ((right, True), (blank, False)):
        result = grade_submission(nbformat.writes(nb).encode(), source, "sandbox-student", name, files=files,
                                  hide=[str(ROOT), str(course)])
        for cell, (score, points) in result.scores.items():
            if full and score is None:
                continue  # a written answer waits for the instructor
            assert score == (points if full else 0.0), (cell, result.messages.get(cell), result.problems)
