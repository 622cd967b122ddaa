"""Grade a whole class: find the submissions, run grading jobs in parallel, record every result once.

Only this process writes the course folder. Each finished job is stored at once and in one piece: the
gradebook rows in one transaction, then the graded notebook, then a record of the submission's hash,
so a run that is killed halfway and started again grades what is left and never loses or doubles a
grade. A submission whose record matches its current bytes is not graded again unless asked.
"""
import ctypes
import fcntl
import hashlib
import importlib.util
import json
import multiprocessing
import os
import resource
import signal
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

import nbformat

from autograder.grading import JobResult, grade_submission
from autograder.notebooks import ROOT
from autograder.sandbox import IsolationError, Limits, Sandbox, clean_stale_folders

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


class GradingBusy(RuntimeError):
    """Another `grade` is running on the same course folder."""


@contextmanager
def course_lock(course):
    """Held while one `grade` runs on the course: a second one is refused, saying who holds it. The lock is
    the operating system's (flock) on <course>/.grade.lock, so a grader that dies lets it go."""
    path = Path(course) / ".grade.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise GradingBusy(f"another `grade` is running on {course} ({holder}); "
                              "wait until it has finished") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}")
        handle.flush()
        try:
            yield
        finally:
            path.unlink(missing_ok=True)  # before letting go: a grade that starts now makes a new lock file
            fcntl.flock(handle, fcntl.LOCK_UN)


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


def _job(conn, kwargs, memory_bytes, coordinator):
    """The grading job in a forked process of its own: its result (or why it has none) goes to `conn`."""
    os.setsid()  # its own process group, so that the coordinator can end it with everything it started
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the coordinator
        if os.getppid() != coordinator:  # it died before that took effect
            os._exit(1)
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(1)
        message = ("ok", grade_submission(**kwargs))
    except IsolationError as exc:
        message = ("isolation", str(exc))
    except BaseException as exc:  # noqa: BLE001  reported as this student's flagged zero
        message = ("failed", f"{type(exc).__name__}: {str(exc)[:500]}")
    try:
        conn.send(message)
    finally:
        conn.close()
        os._exit(0)


@dataclass
class Running:
    process: object
    conn: object
    submission: object
    timestamp: str
    deadline: float


def run_jobs(jobs, workers, limits, on_result):
    """Run each job ({"submission", "timestamp", "kwargs"}) in a forked process of its own, `workers` at a
    time. A job that overruns its time limit, dies or fails becomes a flagged zero for its student alone;
    `on_result(submission, timestamp, JobResult or None, why)` is called once per job, in this process."""
    ctx = multiprocessing.get_context("fork")
    todo, running = list(jobs), []
    job_seconds = limits.job_limit
    try:
        while todo or running:
            while todo and len(running) < workers:
                job = todo.pop(0)
                here, there = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_job, args=(there, job["kwargs"], limits.trusted_memory_bytes, os.getpid()),
                                   daemon=True)
                proc.start()
                there.close()
                running.append(Running(proc, here, job["submission"], job["timestamp"], time.monotonic() + job_seconds))
            soonest = min(r.deadline for r in running)
            wait([r.conn for r in running] + [r.process.sentinel for r in running],
                 timeout=max(0.0, soonest - time.monotonic()))
            for r in list(running):
                message = None
                if r.conn.poll():
                    try:
                        message = r.conn.recv()
                    except (EOFError, OSError):
                        message = ("failed", f"the grading process died (exit code {r.process.exitcode})")
                elif not r.process.is_alive():
                    r.process.join()
                    message = ("failed", f"the grading process died (exit code {r.process.exitcode})")
                elif time.monotonic() > r.deadline:
                    message = ("failed", f"grading took longer than its limit of {job_seconds:.0f} s")
                if message is None:
                    continue
                _end(r)
                running.remove(r)
                status, payload = message
                if status == "isolation":
                    raise IsolationError(payload)
                on_result(r.submission, r.timestamp, payload if status == "ok" else None, payload)
    finally:
        for r in running:
            _end(r)
        clean_stale_folders()  # the box folders of jobs that were killed or died


def _end(r):
    try:
        os.killpg(r.process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    r.process.join(timeout=10)
    r.conn.close()


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
    unsafe: bool = False  # graded without a box

    def lines(self):
        totals = [r.total for r in self.graded]
        out = [f"{self.assignment}: graded {len(self.graded)} submission(s), skipped {len(self.skipped)} already "
               f"graded, in {self.seconds:.1f} s"]
        if self.unsafe:
            out.append("  WARNING: graded WITHOUT a sandbox (--unsafe-no-sandbox): student code could read the "
                       "reference and change grades; every report says so")
        if totals:
            out.append(f"  scores: mean {sum(totals) / len(totals):.2f}, min {min(totals):.2f}, max {max(totals):.2f}")
        for student, lines in sorted(self.problems.items()):
            for line in lines:
                out.append(f"  {student}: {line}")
        flagged = [r for r in self.graded if r.flags]
        if flagged:
            out.append(f"  flagged for review: {', '.join(r.student for r in flagged)} (see the report)")
        return out


def grade_all(course, assignment, workers=None, limits=None, force=False, progress=True, students=None,
              unsafe=False, scheduler=None):
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
    - unsafe: run the notebooks without a box (only where none can be had, and only when asked by name)
    - scheduler: the address of a Dask scheduler whose workers run the jobs (see autograder.cluster); None
      grades here, in a pool of forked processes

    Returns a Summary. Raises IsolationError, before grading anybody, when no safe box can be had;
    GradingBusy when another grade runs on the course; cluster.SchedulerError, with nothing written, when
    the scheduler does not answer.
    """
    course = Path(course).resolve()
    if scheduler is None:
        with course_lock(course):
            return _grade_all(course, assignment, workers, limits, force, progress, students, unsafe, None)
    from autograder.cluster import connect

    with connect(scheduler) as client, course_lock(course):  # a scheduler that does not answer: nothing written
        return _grade_all(course, assignment, workers, limits, force, progress, students, unsafe, client)


def _grade_all(course, assignment, workers, limits, force, progress, students, unsafe, client):
    start = time.monotonic()
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
    forbidden = forbidden_paths(course)
    summary = Summary(assignment)
    limits = limits or Limits()
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
        stamp = sub.path.parent / "timestamp.txt"
        timestamp = stamp.read_text().strip() if stamp.exists() else None
        kwargs = dict(data=data, source_json=source_json, student=sub.student, assignment=assignment, files=files,
                      filename=filename, limits=limits, unsafe=unsafe, forbidden=forbidden, others=others)
        todo.append({"submission": sub, "timestamp": timestamp, "kwargs": kwargs, "digest": digest})
    summary.unsafe = unsafe
    if not todo:
        summary.seconds = time.monotonic() - start
        return summary
    if client is None:
        clean_stale_folders()
        from autograder.judge import load_specs

        with ThreadPoolExecutor(1) as pool:  # the probe box walks its file system while the reference loads
            proof = None if unsafe else pool.submit(prove_isolation, course, files, limits, forbidden)
            load_specs()  # once here, so that every forked job starts with the reference loaded
            if proof is not None:
                proof.result()
    digests = {job["submission"].student: job["digest"] for job in todo}
    bar = Progress(len(todo), progress)

    def on_result(sub, timestamp, result, why):
        if result is None:
            result = _zero(source_json, sub.student, assignment, digests[sub.student], [f"grading failed: {why}"])
            result.flags.append(f"grading failed: {why}")
        result.problems = sub.problems + [p for p in result.problems if p not in sub.problems]
        if unsafe:
            result.protections = {**result.protections, "sandbox": "none (unsafe)"}
        store(course, result, timestamp)
        if result.problems:
            summary.problems[sub.student] = result.problems
        summary.graded.append(result)
        bar.step(sub.student)

    try:
        if client is None:
            run_jobs(todo, max(1, int(workers or os.cpu_count() or 1)), limits, on_result)
        else:
            from autograder.cluster import run_jobs_on

            run_jobs_on(client, course, todo, limits, fingerprints(course), on_result)
    finally:
        bar.close()
    summary.seconds = time.monotonic() - start
    return summary


def forbidden_paths(course):
    """Host paths that must not exist in any box: the reference, the grader, the exercises, the course."""
    paths = [ROOT / "solutions", ROOT / "exercises", ROOT / "sources", ROOT / "autograder",
             Path(__file__).resolve().parent]
    spec = importlib.util.find_spec("solutions")
    if spec is not None and spec.submodule_search_locations:
        paths += [Path(p) for p in spec.submodule_search_locations]
    course = Path(course)
    paths += [course / "source", course / "gradebook.db", course / "submitted", course / "autograded"]
    return sorted({str(p) for p in paths})


STUDENT_SAFE = ("gradcheck.py",)  # modules of the reference package that every release ships to students


def own_fingerprints():
    """(size, sha256) of every file of this machine's reference package."""
    files = []
    spec = importlib.util.find_spec("solutions")
    for folder in (spec.submodule_search_locations if spec and spec.submodule_search_locations else []):
        files += [p for p in Path(folder).rglob("*.py") if p.name not in STUDENT_SAFE]
    return _prints(files)


def fingerprints(course):
    """(size, sha256) of every file of the reference package and of the course's source notebooks."""
    files = (list((Path(course) / "source").glob("*/*.ipynb")) + list((ROOT / "exercises").glob("*/*.ipynb"))
             + list((ROOT / "sources").glob("*.py")))
    return sorted(set(own_fingerprints()) | set(_prints(files)))


def _prints(files):
    out = set()
    for path in files:
        data = path.read_bytes()
        if len(data) >= 256:  # tiny files (an empty __init__.py) match too much to mean anything
            out.add((len(data), hashlib.sha256(data).hexdigest()))
    return sorted(out)


_PROVEN = set()


def prove_isolation(course, files, limits, forbidden, prints=None):
    """Start one box that walks its whole file system for copies of the reference and the course's
    hidden notebooks (`prints`, by default the course's own), and proves it cannot import them; raise
    IsolationError if it can reach any. Once per process for the same files and paths."""
    prints = fingerprints(course) if prints is None else sorted({tuple(p) for p in prints} | set(own_fingerprints()))
    shipped = tuple(sorted((name, hashlib.sha256(data).hexdigest()) for name, data in files.items()))
    key = (tuple(forbidden), tuple(prints), shipped, os.geteuid())  # a file added to the release: prove again
    if key in _PROVEN:
        return
    with Sandbox(files, limits, forbidden=forbidden, fingerprints=prints) as box:
        found = box.scan()
    if found:
        raise IsolationError("the box can see copies of the reference or the course, so nothing was graded: "
                             + "; ".join(f"{path} ({why})" for path, why in found[:10]))
    _PROVEN.add(key)
