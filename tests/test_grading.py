"""The sandboxed grader on a class: hostile submissions, bad files, regrading and a run killed halfway.

One batch holds an honest student, a student with a wrong answer, and one submission per attack. Each
attack must cost its author the points it targets (or be flagged for the instructor, with the reason),
and must never change another student's grade or stop the batch.
"""
import copy
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import commands
from autograder import course as C
from autograder.coordinator import grade_all, read_record
from autograder.former_ids import FORMER_TEST_IDS
from autograder.notebooks import ROOT, notebook_path, paste_cells

NAME = "rnn"
CELLS = ["rnn_step_forward_new_state", "rnn_forward_hidden_states", "temporal_affine_forward_scores",
         "temporal_softmax_loss_value"]
FULL = {cell: 5.0 for cell in CELLS}
WRONG_FORWARD = '''
def rnn_forward(x, h0, Wxh, Whh, bh):
    return np.zeros((x.shape[0], x.shape[1], Whh.shape[0])), None
'''


def reference():
    nb = nbformat.read(notebook_path(NAME), as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")}


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


def _cell(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def _set(nb, gid, source):
    _cell(nb, gid).source = source


def scores_of(course, student):
    return {cell: score for cell, (score, _) in C.scores(course, NAME, student).items()}


@pytest.fixture(scope="module")
def edited(course):
    put(course, "honest", release_nb(course))
    put(course, "wrong", release_nb(course, {"rnn_forward": WRONG_FORWARD.strip()}))
    for student, edit in {
        "edits-test-cell": lambda nb: _set(nb, "rnn_forward_hidden_states", "pass"),
        "deletes-test-cell": lambda nb: nb.cells.remove(_cell(nb, "rnn_forward_hidden_states")),
        "former-ids": _former_ids,
        "forges-former-test-cell": _forged_former_test_cell,
    }.items():
        put(course, student, release_nb(course, {"rnn_forward": WRONG_FORWARD.strip()}, edit))
    return grade_all(course, NAME, workers=2, progress=False)


def _former_ids(nb):
    """The notebook as an earlier release named its test cells (`<function>_tests`), with a cell of the
    student's own after one of them."""
    former = {new: old for old, news in FORMER_TEST_IDS.items() for new in news}
    for cell in nb.cells:
        m = cell.metadata.get("nbgrader", {})
        if m.get("grade") and cell.cell_type == "code":
            m["grade_id"] = former[m["grade_id"]]
    at = nb.cells.index(_cell(nb, "rnn_forward_tests"))
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell("seen = rnn_forward  # mine"))


def _forged_former_test_cell(nb):
    """A test cell put back under its former id with the student's own code in it, and the real one deleted."""
    cell = _cell(nb, "rnn_forward_hidden_states")
    cell.metadata["nbgrader"]["grade_id"] = "rnn_forward_tests"
    cell.source = "pass"


def test_a_notebook_of_an_earlier_release_grades_as_a_current_one(course, edited):
    assert scores_of(course, "former-ids") == scores_of(course, "wrong")
    assert read_record(course, NAME, "former-ids")["flags"] == read_record(course, NAME, "wrong")["flags"] == []
    assert read_record(course, NAME, "former-ids")["messages"] == read_record(course, NAME, "wrong")["messages"]


def test_honest_and_wrong_students_are_graded_normally(course, edited):
    assert scores_of(course, "honest") == FULL
    assert scores_of(course, "wrong") == {**FULL, "rnn_forward_hidden_states": 0.0}
    record = read_record(course, NAME, "wrong")
    assert "rnn_forward is wrong" in record["messages"]["rnn_forward_hidden_states"]
    assert "Likely cause" not in record["messages"]["rnn_step_forward_new_state"]
    assert read_record(course, NAME, "honest")["flags"] == []


@pytest.mark.parametrize("student", ["edits-test-cell", "deletes-test-cell", "forges-former-test-cell"])
def test_edited_or_deleted_test_cell_runs_as_written_by_the_instructor(course, edited, student):
    assert scores_of(course, student) == {**FULL, "rnn_forward_hidden_states": 0.0}
    flags = " ".join(read_record(course, NAME, student)["flags"])
    assert "rnn_forward_hidden_states" in flags and ("edited" in flags or "deleted" in flags)


def test_the_box_is_clean_and_cannot_see_the_course(course, tmp_path):
    from autograder.coordinator import forbidden_paths
    from autograder.grading import grade_submission

    probe = ("import os, sys\nprint('ENV', sorted(os.environ))\nprint('SEES', os.path.exists("
             f"{str(course / 'gradebook.db')!r}), os.path.exists({str(ROOT / 'solutions')!r}), "
             "sorted(os.listdir('/')), "
             "os.getuid())\n" + reference()["rnn_forward"])
    nb = release_nb(course, {"rnn_forward": probe})
    source = (course / "source" / NAME / f"{NAME}.ipynb").read_text()
    files = {"gradcheck.py": (course / "release" / NAME / "gradcheck.py").read_bytes()}
    result = grade_submission(nbformat.writes(nb).encode(), source, "probe", NAME, files=files,
                              forbidden=forbidden_paths(course))
    graded = nbformat.reads(result.notebook, as_version=4)
    text = "".join(o.get("text", "") for c in graded.cells if c.cell_type == "code" for o in c.outputs)
    env_line = next(line for line in text.splitlines() if line.startswith("ENV"))
    assert "NBGRADER" not in env_line and "GRAD" not in env_line.upper().replace("ENV", "")
    top = sorted(p.name for p in Path("/").iterdir() if p.name in {"work", "srv", "mnt", "media", "boot", "root"})
    seen = next(line for line in text.splitlines() if line.startswith("SEES"))
    assert seen.startswith("SEES False False") and seen.endswith(" 1000"), seen
    for name in top:  # the host's other folders are not in the box (root only holds the interpreter's path)
        assert f"'{name}'" not in seen or name == "root", seen
    assert result.protections["sandbox"] == "bubblewrap"
    assert {"user", "mount", "pid", "network", "ipc"} <= set(result.protections["namespaces"])
    assert "solutions" not in result.protections["site_packages"]
    assert "numpy" in result.protections["site_packages"] and "torch" in result.protections["site_packages"]


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
    odd = copy.deepcopy(good)
    _cell(odd, "rnn_forward").metadata["nbgrader"] = [1, 2]
    _cell(odd, "rnn_step_forward").metadata["nbgrader"]["grade_id"] = {"not": "a name"}
    put(course, "odd-metadata", odd)
    put(course, "too-deep", raw=b'{"cells": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    put(course, "too-large", raw=nbformat.writes(good).encode() + b" " * (21 << 20))
    put(course, "bad-cells", raw=json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                                             "cells": [{"cell_type": "code", "source": 7, "metadata": []}]}).encode())
    summary = grade_all(course, NAME, workers=2, progress=False)
    return course, summary


@pytest.mark.parametrize("student,words", [
    ("not-json", "not valid JSON"), ("empty", "is empty"), ("old-format", "format version 3"),
    ("missing", "no notebook"), ("misnamed", "rnn (1).ipynb"), ("wrong-assignment", "assignment 'bptt'"),
    ("too-deep", "nested too deeply"), ("too-large", "more than the 20 MB"), ("bad-cells", "cannot read"),
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
    assert scores_of(course, "odd-metadata") == FULL
    assert any("unreadable" in p for p in read_record(course, NAME, "odd-metadata")["problems"])
    assert "lost its nbgrader metadata" in " ".join(read_record(course, NAME, "no-metadata")["flags"])
    for student in ("not-json", "empty", "missing", "wrong-assignment", "too-deep", "too-large", "bad-cells"):
        assert sum(scores_of(course, student).values()) == 0


# ------------------------------------------------------------------------------ regrading and crashes


def test_grading_again_gives_the_same_grades_and_skips_unchanged(course, edited):
    before = {s: scores_of(course, s) for s in ("honest", "wrong", "edits-test-cell")}
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
    tmp = Path(tempfile.mkdtemp(prefix="rnn-killed-"))  # the graders' own temporary folder, to see what the
    os.chmod(tmp, 0o1777)  # killed one leaves there; the boxes' users must pass through it
    env = {**os.environ, "TMPDIR": str(tmp)}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env=env)
    records = course / "grading" / NAME
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (len(list(records.glob("*.json"))) < 3 or not any(tmp.iterdir())):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(records.glob("*.json")))
    assert 3 <= done_before < len(students), "the run should be killed halfway"
    left = [p.name for p in tmp.iterdir()]
    rerun = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert rerun.returncode == 0, rerun.stderr
    for i, student in enumerate(students):
        expected = FULL if i % 2 else {**FULL, "rnn_forward_hidden_states": 0.0}
        assert scores_of(course, student) == expected, student
    with sqlite3.connect(course / "gradebook.db") as db:
        rows = db.execute("select count(*) from grade").fetchone()[0]
        subs = db.execute("select count(*) from submitted_assignment").fetchone()[0]
    assert subs == len(students) and rows == len(students) * len(CELLS)
    assert json.loads((records / "s00.json").read_text())["sha256"]
    # the killed run left its boxes' folders; the second run removed them and left none of its own
    assert left, "a run killed while grading leaves the folders of the boxes it had open"
    assert list(tmp.iterdir()) == []
    tmp.rmdir()


@pytest.mark.parametrize("name", __import__("autograder.notebooks", fromlist=["assignments"]).assignments())
def test_every_assignment_grades_in_the_sandbox(tmp_path, name):
    """The sandboxed grader gives the reference full marks and the untouched release zero, everywhere, and
    flags nothing in either."""
    from autograder.coordinator import forbidden_paths
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
    unpasted = copy.deepcopy(right)  # the earlier assignments' functions never pasted: graded there, not here
    for cell in unpasted.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in paste_cells(name):
            cell.source = "# nothing pasted"
    for nb, full in ((right, True), (unpasted, True), (blank, False)):
        result = grade_submission(nbformat.writes(nb).encode(), source, "sandbox-student", name, files=files,
                                  forbidden=forbidden_paths(course))
        for cell, (score, points) in result.scores.items():
            if full and score is None:
                continue  # a written answer waits for the instructor
            assert score == (points if full else 0.0), (cell, result.messages.get(cell), result.problems)
        assert result.flags == [] and result.problems == [], (result.flags, result.problems)


# ------------------------------------------------------------------------------ limits of the trusted side


def test_a_job_that_overruns_or_dies_is_a_flagged_zero_for_its_student_alone(tmp_path, monkeypatch):
    from autograder import coordinator
    from autograder.sandbox import Limits

    course = tmp_path / "jobs"
    commands.release(course=course, names=[NAME], log=lambda *_: None)
    slow = reference()["rnn_step_forward"].replace("    ### BEGIN SOLUTION\n", "    ### BEGIN SOLUTION\n"
                                                  "    import time\n    time.sleep(30)\n", 1)
    for student in ("a-honest", "b-slow", "c-dies", "d-honest"):
        put(course, student, release_nb(course, {"rnn_step_forward": slow} if student == "b-slow" else {}))
    real = coordinator.grade_submission

    def grade(**kwargs):  # the trusted process of one student dies (as if killed by the memory cap)
        if kwargs["student"] == "c-dies":
            os._exit(9)
        return real(**kwargs)

    monkeypatch.setattr(coordinator, "grade_submission", grade)
    limits = Limits(cell_seconds=60, notebook_seconds=60, job_seconds=12)
    summary = grade_all(course, NAME, workers=2, progress=False, limits=limits)
    assert len(summary.graded) == 4
    for student in ("a-honest", "d-honest"):
        assert scores_of(course, student) == FULL
    for student, words in (("b-slow", "longer than its limit of 12 s"), ("c-dies", "exit code 9")):
        assert sum(scores_of(course, student).values()) == 0
        record = read_record(course, NAME, student)
        assert any(words in f for f in record["flags"]), record["flags"]


# ------------------------------------------------------------------------------ refusing, installing, collecting


def cli(course, *args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "autograder", *args, "--course", str(course)], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=600)


def test_the_students_own_cells_run_where_they_stand(tmp_path):
    """A cell of the student's own after a test cell runs there: a later solution may use what it defines."""
    course = tmp_path / "c"
    commands.release(course=course, names=[NAME], log=lambda *_: None)

    def add_helper(nb):
        after = nb.cells.index(_cell(nb, "rnn_step_forward_new_state"))
        nb.cells.insert(after + 1, nbformat.v4.new_code_cell("def my_step(*args):\n    return rnn_step_forward(*args)"))

    uses_helper = reference()["rnn_forward"].replace("rnn_step_forward(", "my_step(")
    assert uses_helper != reference()["rnn_forward"]
    put(course, "own-cells", release_nb(course, {"rnn_forward": uses_helper}, add_helper))
    grade_all(course, NAME, workers=1, progress=False)
    assert scores_of(course, "own-cells") == FULL, read_record(course, NAME, "own-cells")["messages"]


def test_the_report_groups_the_class_by_diagnosis(course, edited, tmp_path):
    from autograder.report import collect_rows, reteach, write_report

    groups = reteach(collect_rows(course, NAME))
    text, function, students = groups[0]  # most common first
    assert function == "rnn_forward" and students == ["deletes-test-cell", "edits-test-cell",
                                                  "forges-former-test-cell", "former-ids", "wrong"]
    assert "zeros" in text and not any(ch.isdigit() for ch in text), text
    page = write_report(course, NAME, tmp_path / "report").read_text()
    assert "What to re-teach" in page
    assert "deletes-test-cell, edits-test-cell, forges-former-test-cell, former-ids, wrong" in page
    assert (tmp_path / "report" / "diagnoses.png").stat().st_size > 5000


def test_diagnoses_read_alike_for_different_numbers():
    from autograder.report import diagnoses

    one = ("rnn_backward is wrong on 3 of 24 hidden cases. First, hidden case 2 of 24 (N=2): dx: relative error 0.5.\n"
           "Where: dh0 is wrong; dx, dWxh are right.\ndx is right at steps 5..3 and wrong from step 2 down: x.")
    two = one.replace("5..3", "7..4").replace("step 2", "step 3").replace("0.5", "0.25")
    assert diagnoses(one) == diagnoses(two) == [("rnn_backward", "Where: dh# is wrong; dx, dWxh are right.")]
    named = "beam_search is wrong on 1 of 9 hidden cases. First, ...\nLikely cause: ties are broken the wrong way."
    assert diagnoses(named) == [("beam_search", "ties are broken the wrong way.")]


def test_feedback_renders_its_formulas_with_the_network_off(course, edited, tmp_path):
    pages = commands.feedback(course=course, name=NAME, log=lambda *_: None)
    assert pages and all(p.exists() for p in pages)
    page = pages[0]
    text = page.read_text()
    assert "cdnjs" not in text and "$$" not in text and "<math" in text
    script = f"""
from playwright.sync_api import sync_playwright
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                args=["--no-sandbox", "--disable-gpu"])
    context = browser.new_context(offline=True)
    asked = []
    context.on("request", lambda r: asked.append(r.url))
    view = context.new_page()
    view.goto({page.as_uri()!r})
    box = view.locator("math").first.bounding_box()
    print(view.locator("math").count(), box["width"] > 50 and box["height"] > 8,
          sum(1 for u in asked if not u.startswith("file:")))
    browser.close()
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    count, laid_out, remote = run.stdout.split()
    assert int(count) >= 1 and laid_out == "True" and remote == "0"


def test_export_keeps_not_submitted_apart_from_a_zero(course, edited, tmp_path):
    import csv
    import warnings

    from nbgrader.api import Gradebook

    copy_of = shutil.copytree(course, tmp_path / "class")  # the other tests keep their gradebook
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{copy_of / 'gradebook.db'}") as gb:
        warnings.simplefilter("ignore")
        gb.update_or_create_student("absent-student")
    with open(commands.export(course=copy_of, log=lambda *_: None)) as fh:
        rows = list(csv.DictReader(fh))
    absent = [r for r in rows if r["student_id"] == "absent-student"]
    assert absent and all(r["status"] == "not submitted" and r["score"] == "" for r in absent)
    rnn = {r["student_id"]: r for r in rows if r["assignment"] == NAME}
    assert rnn["honest"]["status"] == "graded" and float(rnn["honest"]["score"]) == sum(FULL.values())
    assert float(rnn["wrong"]["score"]) == sum(FULL.values()) - 5.0


def test_a_course_folder_still_works_when_copied_elsewhere(tmp_path):
    course = tmp_path / "here"
    commands.release(course=course, names=[NAME], log=lambda *_: None)
    moved = tmp_path / "there"
    shutil.copytree(course, moved)
    shutil.rmtree(course)
    shutil.rmtree(moved / "release")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", NAME, "--force"], cwd=moved,
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (moved / "release" / NAME / f"{NAME}.ipynb").exists() and not course.exists()


def test_grade_refuses_without_a_sandbox_unless_told_it_is_unsafe(tmp_path):
    course = tmp_path / "nobox"
    commands.release(course=course, names=[NAME], log=lambda *_: None)
    put(course, "honest", release_nb(course))
    put(course, "wrong", release_nb(course, {"rnn_forward": WRONG_FORWARD.strip()}))
    long_path = "/" + "x" * 240  # a flag that names it runs wider than any column
    put(course, "long-flag", release_nb(course, {"rnn_forward": f"try:\n    open({long_path!r})\nexcept OSError:\n"
                                                               "    pass\n" + WRONG_FORWARD.strip()}))
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # no bwrap on the PATH
    refused = cli(course, "grade", NAME, env=env)
    assert refused.returncode == 2
    assert "not grading rnn" in refused.stderr and "bubblewrap" in refused.stderr, refused.stderr
    assert "--unsafe-no-sandbox" in refused.stderr
    assert not (course / "grading").exists()  # nobody was graded
    graded = cli(course, "grade", NAME, "--unsafe-no-sandbox", env=env)
    assert graded.returncode == 0, graded.stderr
    assert "WITHOUT a sandbox" in graded.stdout
    assert scores_of(course, "honest") == FULL and scores_of(course, "wrong")["rnn_forward_hidden_states"] == 0
    assert read_record(course, NAME, "honest")["protections"]["sandbox"] == "none (unsafe)"
    assert cli(course, "report", NAME, env=env).returncode == 0
    page = course / "reports" / NAME / "index.html"
    assert "Graded without a sandbox" in page.read_text() and long_path[:150] in page.read_text()
    assert report_width(page, 1280) <= 1280  # the whole table, notes included, fits a 1280 px window


def report_width(page, width):
    """The width a report page takes in Debian's chromium, in a window `width` pixels wide (measured in a
    process of its own: the browser tests may already run Playwright in this one)."""
    script = f"""
from playwright.sync_api import sync_playwright
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                args=["--no-sandbox", "--disable-gpu"])
    view = browser.new_page(viewport={{"width": {width}, "height": 800}})
    view.goto({page.as_uri()!r})
    print(view.evaluate("document.documentElement.scrollWidth"))
    browser.close()
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return int(run.stdout.split()[-1])


def test_an_installed_grader_works_outside_the_repository_and_its_box_cannot_import_it(tmp_path):
    """`pip install .` (not editable) puts `solutions` beside the grader: the box still cannot import it."""
    site, src = tmp_path / "installed", tmp_path / "src"  # built from a copy: a build leaves files behind
    src.mkdir()
    for part in ("pyproject.toml", "README.md", "solutions", "autograder"):
        if (ROOT / part).is_dir():
            shutil.copytree(ROOT / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / part, src / part)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(site), str(src)], check=True, capture_output=True)
    assert (site / "autograder" / "specs" / "rnn.py").exists()  # every subpackage is installed
    course = tmp_path / "installed-course"
    commands.release(course=course, names=[NAME], log=lambda *_: None)
    put(course, "honest", release_nb(course))
    put(course, "wrong", release_nb(course, {"rnn_forward": WRONG_FORWARD.strip()}))
    put(course, "imports", release_nb(course, {"rnn_forward": "try:\n    from solutions.rnn import rnn_forward\n"
                                                              "except ImportError:\n    pass\n"
                                                              "if 'rnn_forward' not in dir():\n" +
                                                              WRONG_FORWARD.replace("\n", "\n    ")}))
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run([sys.executable, "-c", "import solutions, autograder; print(solutions.__file__, "
                            "autograder.__file__)"], capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert where.stdout.count(str(site)) == 2, where.stdout + where.stderr
    graded = cli(course, "grade", NAME, env=env, cwd=str(tmp_path))
    assert graded.returncode == 0, graded.stdout + graded.stderr
    assert scores_of(course, "honest") == FULL
    assert scores_of(course, "imports") == scores_of(course, "wrong") == {**FULL, "rnn_forward_hidden_states": 0.0}
    assert any("solutions" in f for f in read_record(course, NAME, "imports")["flags"])


def test_collect_reports_a_bad_entry_and_collects_the_rest(tmp_path):
    course = tmp_path / "collect"
    commands.release(course=course, names=[NAME], log=lambda *_: None)
    good = nbformat.writes(release_nb(course)).encode()
    archive = tmp_path / "lms.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("alice_rnn.ipynb", good)
        zf.writestr("x" * 300 + "_rnn.ipynb", good)  # longer than a file name may be
        zf.writestr("bob/rnn/rnn.ipynb", good)
        zf.writestr("../escape_rnn.ipynb", good)
        zf.writestr("carol_rnn.ipynb", b" " * (25 << 20), compress_type=zipfile.ZIP_DEFLATED)  # a zip bomb, small
        zf.writestr("dave/notes.txt", b"not a notebook")
    lines = []
    problems = commands.collect(course=course, source=archive, log=lines.append)
    assert (course / "submitted" / "alice" / NAME / "rnn.ipynb").exists()
    assert (course / "submitted" / "bob" / NAME / "rnn.ipynb").exists()
    assert any("x" * 40 in p and "name" in p.lower() for p in problems), problems
    assert any("escape_rnn" in p for p in problems), problems
    assert any("carol_rnn" in p and "25 MB" in p for p in problems), problems
    assert not (course / "submitted" / "carol").exists()
    assert "collected 2 notebook(s)" in lines[0]


def test_grade_refuses_when_a_box_could_reach_the_reference(tmp_path, monkeypatch):
    """Two ways a box could reach the reference: a copy among the files shipped beside the notebook, and
    a site-packages view that holds `solutions`. Either way nobody is graded and the reason is named."""
    from autograder import sandbox

    course = tmp_path / "leaky"
    commands.release(course=course, names=[NAME], log=lambda *_: None)
    put(course, "honest", release_nb(course))
    helper = course / "release" / NAME / "helpers.py"
    helper.write_bytes((ROOT / "solutions" / "rnn.py").read_bytes())
    with pytest.raises(commands.CommandError, match="can see copies of the reference.*helpers.py"):
        commands.grade(course=course, name=NAME, progress=False, log=lambda *_: None)
    helper.unlink()
    view = {**sandbox.site_view(), "solutions": str(ROOT / "solutions")}
    monkeypatch.setattr(sandbox, "site_view", lambda: view)
    with pytest.raises(commands.CommandError, match="can reach the reference.*solutions can be imported"):
        commands.grade(course=course, name=NAME, progress=False, log=lambda *_: None)
    assert not (course / "grading").exists()
