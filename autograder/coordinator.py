"""Grade a whole class: find the submissions, run grading jobs in parallel, record every result once.

Only this process writes the course folder. Each finished job is stored at once and in one piece: the
gradebook rows in one transaction, then the graded notebook, then a record of the submission's hash,
so a run that is killed halfway and started again grades what is left and never loses or doubles a
grade. A submission whose record matches its current bytes is not graded again unless asked.
"""
import hashlib
import json
import multiprocessing
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.grading import JobResult, grade_submission
from autograder.notebooks import ROOT
from autograder.sandbox import Limits

GRADER_VERSION = "1"


@dataclass
class Submission:
    student: str
    path: Path = None  # the notebook to grade, or None when there is none
    problems: list = field(default_factory=list)


def submissions(course, assignment):
    """Every student folder of an assignment in submitted/, with the notebook to grade and any problems."""
    found = []
    root = Path(course) / "submitted"
    for folder in sorted(root.glob(f"*/{assignment}")):
        student = folder.parent.name
        expected = folder / f"{assignment}.ipynb"
        notebooks = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
        if expected.exists():
            found.append(Submission(student, expected))
        elif len(notebooks) == 1:
            found.append(Submission(student, notebooks[0], [
                f"{notebooks[0].name}: expected a notebook named {expected.name}; this one was graded instead"]))
        elif notebooks:
            found.append(Submission(student, None, [
                f"expected {expected.name} but found {len(notebooks)} other notebooks "
                f"({', '.join(p.name for p in notebooks)}): not graded"]))
        else:
            found.append(Submission(student, None, [f"no notebook in the submission folder {folder}"]))
    return found


def record_path(course, assignment, student):
    return Path(course) / "grading" / assignment / f"{student}.json"


def read_record(course, assignment, student):
    path = record_path(course, assignment, student)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _atomic_write(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def store(course, result, timestamp=None):
    """Write one job's result: gradebook, graded notebook, then the record. Idempotent."""
    from nbgrader.api import Gradebook

    course = Path(course)
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{course.resolve() / 'gradebook.db'}") as gb:
        warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy session warnings
        gb.update_or_create_student(result.student)
        kwargs = {"timestamp": timestamp} if timestamp else {}
        gb.update_or_create_submission(result.assignment, result.student, **kwargs)
        nb = gb.find_submission_notebook(result.assignment, result.assignment, result.student)
        for grade in nb.grades:
            score, _ = result.scores.get(grade.name, [0.0, None])
            grade.auto_score = score
            grade.needs_manual_grade = score is None
        nb.flagged = bool(result.flags)
        gb.db.commit()
    if result.notebook:
        _atomic_write(course / "autograded" / result.student / result.assignment / f"{result.assignment}.ipynb",
                      result.notebook)
    record = result.to_dict()
    record.pop("notebook")
    record["grader_version"] = GRADER_VERSION
    _atomic_write(record_path(course, result.assignment, result.student), json.dumps(record, indent=1))


def _zero(source_json, student, assignment, digest, problems):
    """A result of zero for every graded cell, with the reason as every cell's message."""
    from autograder.grading import graded_cells

    result = JobResult(student, assignment, digest, problems=list(problems))
    for gid, points, _ in graded_cells(nbformat.reads(source_json, as_version=4)):
        result.scores[gid] = [0.0, points]
        result.messages[gid] = "Not graded: " + "; ".join(problems)
    return result


def read_result(course, assignment, student):
    """The stored result of a student as a JobResult (without the notebook)."""
    record = read_record(course, assignment, student) or {}
    record.pop("grader_version", None)
    return JobResult(**record)


_SLOT = {"slot": 0}


def _init_worker(counter):
    with counter.get_lock():
        _SLOT["slot"] = counter.value
        counter.value += 1


def _job(data, source_json, student, assignment, files, filename, limits, hide, others):
    return grade_submission(data, source_json, student, assignment, files=files, filename=filename, limits=limits,
                            slot=_SLOT["slot"], hide=hide, others=others)


class Progress:
    """A one-line progress bar on stderr: done, left, and the time so far."""

    def __init__(self, total, enabled=True, width=30):
        self.total, self.done, self.enabled, self.width, self.start = total, 0, enabled, width, time.monotonic()

    def step(self, label=""):
        self.done += 1
        if self.enabled:
            filled = int(self.width * self.done / max(1, self.total))
            bar = "#" * filled + "." * (self.width - filled)
            sys.stderr.write(f"\r[{bar}] {self.done}/{self.total} graded, {self.total - self.done} left, "
                             f"{time.monotonic() - self.start:.0f} s {label[:30]:<30}")
            sys.stderr.flush()

    def close(self):
        if self.enabled and self.total:
            sys.stderr.write("\n")


@dataclass
class Summary:
    assignment: str
    graded: list = field(default_factory=list)  # JobResults of this run
    skipped: list = field(default_factory=list)  # students already graded with the same bytes
    problems: dict = field(default_factory=dict)  # student -> lines
    seconds: float = 0.0

    def lines(self):
        totals = [r.total for r in self.graded]
        out = [f"{self.assignment}: graded {len(self.graded)} submission(s), skipped {len(self.skipped)} already "
               f"graded, in {self.seconds:.1f} s"]
        if totals:
            out.append(f"  scores: mean {sum(totals) / len(totals):.2f}, min {min(totals):.2f}, max {max(totals):.2f}")
        for student, lines in sorted(self.problems.items()):
            for line in lines:
                out.append(f"  {student}: {line}")
        flagged = [r for r in self.graded if r.flags]
        if flagged:
            out.append(f"  flagged for review: {', '.join(r.student for r in flagged)} (see the report)")
        return out


def grade_all(course, assignment, workers=None, limits=None, force=False, progress=True, students=None):
    """
    Grade every submission of `assignment` in the course folder, in parallel.

    Inputs:
    - course: the course folder
    - assignment: its name
    - workers: parallel jobs (default: the number of cores)
    - limits: sandbox Limits
    - force: grade again even where the record says these bytes were graded
    - progress: draw a progress bar on stderr
    - students: only these students (default: all)

    Returns a Summary.
    """
    start = time.monotonic()
    course = Path(course).resolve()
    source_path = course / "source" / assignment / f"{assignment}.ipynb"
    if not source_path.exists():
        raise FileNotFoundError(f"{source_path} does not exist: run `python -m autograder release {assignment}` first")
    source_json = source_path.read_text()
    release = course / "release" / assignment
    files = {p.name: p.read_bytes() for p in release.glob("*") if p.is_file() and p.suffix != ".ipynb"}
    others = {}
    for other in (course / "source").glob("*/*.ipynb"):
        if other.parent.name != assignment:
            nb = nbformat.read(other, as_version=4)
            others[other.parent.name] = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells
                                         if c.metadata.get("nbgrader", {}).get("grade_id")]
    hide = [str(ROOT), str(course)]
    summary = Summary(assignment)
    todo = []
    for sub in submissions(course, assignment):
        if students and sub.student not in students:
            continue
        if sub.problems:
            summary.problems[sub.student] = list(sub.problems)
        data = sub.path.read_bytes() if sub.path else b""
        filename = sub.path.name if sub.path else f"{assignment}.ipynb"
        record = read_record(course, assignment, sub.student)
        digest = hashlib.sha256(data).hexdigest()
        if not force and record and record.get("sha256") == digest and record.get("grader_version") == GRADER_VERSION:
            summary.skipped.append(sub.student)
            continue
        if sub.path is None:  # nothing to run: a zero with the reason, recorded like any other result
            store(course, _zero(source_json, sub.student, assignment, digest, sub.problems))
            summary.graded.append(read_result(course, assignment, sub.student))
            continue
        stamp = sub.path.parent / "timestamp.txt" if sub.path else None
        timestamp = stamp.read_text().strip() if stamp and stamp.exists() else None
        todo.append((sub, data, filename, timestamp))
    limits = limits or Limits()
    workers = max(1, int(workers or os.cpu_count() or 1))
    bar = Progress(len(todo), progress)
    ctx = multiprocessing.get_context("fork")
    counter = ctx.Value("i", 0)
    with ProcessPoolExecutor(max_workers=min(workers, max(1, len(todo))), mp_context=ctx, initializer=_init_worker,
                             initargs=(counter,)) as pool:
        futures = {pool.submit(_job, data, source_json, sub.student, assignment, files, filename, limits, hide, others):
                   (sub, timestamp) for sub, data, filename, timestamp in todo}
        for future in as_completed(futures):
            sub, timestamp = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001  the job itself failed: zero, with the reason, and go on
                result = _zero(source_json, sub.student, assignment, "", [f"grading failed: {type(exc).__name__}: {exc}"])
            result.problems = sub.problems + [p for p in result.problems if p not in sub.problems]
            store(course, result, timestamp)
            if result.problems:
                summary.problems[sub.student] = result.problems
            summary.graded.append(result)
            bar.step(sub.student)
    bar.close()
    summary.seconds = time.monotonic() - start
    return summary
