"""The instructor's commands, each a function with keyword-only options (the CLI is a thin shim).

A term with them: `release` the assignments, `collect` what students hand in, `grade` it in the
sandbox, write `feedback`, `export` the grades as CSV, and `report` on the class.
"""
import re
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

from autograder import course as C
from autograder.notebooks import assignments
from autograder.offline import offline_feedback


class CommandError(RuntimeError):
    """A failure the instructor can fix; the message says what and where."""


def _course(course, must_exist=True):
    course = Path(course).resolve()
    if must_exist and not (course / "nbgrader_config.py").exists():
        raise CommandError(f"{course} is not a course folder (no nbgrader_config.py): run `release` first")
    return course


def _names(names, course=None):
    known = assignments() if course is None else sorted(p.name for p in (Path(course) / "source").iterdir())
    names = list(names or known)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise CommandError(f"unknown assignment(s) {unknown}; known: {known}")
    return names


def release(*, course, names=None, log=print):
    """Make the student version of every (or the named) assignment and check it gives nothing away."""
    course = _course(course, must_exist=False)
    names = _names(names)
    C.init_course(course, names)
    out = []
    for name in names:
        folder = C.generate_release(course, name)
        leaks = C.leaks(folder)
        if leaks:
            shutil.rmtree(folder)
            raise CommandError(f"the release of {name} gives answers away, so it was removed: " + "; ".join(leaks))
        archive = C.student_zip(folder, name, course / "release" / f"{name}.zip")
        log(f"released {name}: {folder} (and {archive.name} to hand out)")
        out.append(folder)
    return out


def student_files(*, out, names=None, log=print):
    """Zips of the student notebooks (release + gradcheck.py + requirements), made with nbgrader, for the book."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = _names(names)
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp) / "course"
        C.init_course(course, names)
        for name in names:
            folder = C.generate_release(course, name)
            leaks = C.leaks(folder)
            if leaks:
                raise CommandError(f"the release of {name} gives answers away: {leaks}")
            log(f"wrote {C.student_zip(folder, name, out / f'{name}.zip')}")
    return [out / f"{n}.zip" for n in names]


FLAT = re.compile(r"^(?P<stem>.+)\.ipynb$")


def collect(*, course, source, names=None, log=print):
    """
    Copy submissions into submitted/<student>/<assignment>/ from a folder or a zip: either nbgrader's
    layout (<student>/<assignment>/<notebook>.ipynb) or the flat files of an LMS download
    (<student>_<assignment>.ipynb). Returns the lines of what could not be placed.
    """
    course = _course(course)
    known = _names(names, course)
    source = Path(source)
    if not source.exists():
        raise CommandError(f"{source} does not exist")
    problems, placed = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        if source.is_file():
            if not zipfile.is_zipfile(source):
                raise CommandError(f"{source} is neither a folder nor a zip file")
            root = Path(tmp)
            from autograder.grading import MAX_NOTEBOOK_BYTES

            with zipfile.ZipFile(source) as zf:
                for info in zf.infolist():
                    member = info.filename
                    if info.is_dir() or not member.endswith(".ipynb"):
                        continue  # only notebooks are collected: nothing else is unpacked
                    if info.file_size > MAX_NOTEBOOK_BYTES:
                        problems.append(f"{source}: skipped {member!r}: {info.file_size / 2**20:.0f} MB unpacked, more "
                                        f"than the {MAX_NOTEBOOK_BYTES >> 20} MB a notebook may be")
                        continue
                    target = (root / member).resolve()
                    if root.resolve() not in target.parents and target != root.resolve():
                        problems.append(f"{source}: skipped {member!r}, a path outside the archive")
                        continue
                    try:
                        zf.extract(member, root)
                    except (OSError, ValueError, zipfile.BadZipFile) as exc:
                        problems.append(f"{source}: skipped {member[:80]!r}{'...' if len(member) > 80 else ''}: "
                                        f"it cannot be unpacked ({_reason(exc)})")
        else:
            root = source
        for path in sorted(root.rglob("*.ipynb")):
            rel = path.relative_to(root)
            if any(part.startswith(".") or part == "__MACOSX" for part in rel.parts):
                continue
            student, name = _who(rel, known)
            if student is None:
                problems.append(f"{rel}: cannot tell the student and the assignment from the name "
                                f"(expected <student>/<assignment>/{{notebook}}.ipynb or <student>_<assignment>.ipynb)")
                continue
            dest = course / "submitted" / student / name
            try:
                dest.mkdir(parents=True, exist_ok=True)
                target = dest / (path.name if len(rel.parts) == 3 else f"{name}.ipynb")
                shutil.copy2(path, target)
                stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(path.stat().st_mtime))
                (dest / "timestamp.txt").write_text(stamp)
            except OSError as exc:
                problems.append(f"{rel}: not collected ({_reason(exc)})")
                continue
            placed += 1
    log(f"collected {placed} notebook(s) into {course / 'submitted'}")
    for line in problems:
        log(f"  {line}")
    return problems


def _reason(exc):
    if getattr(exc, "errno", None) == 36:
        return "its name is longer than the file system allows"
    return f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"


def _who(rel, known):
    if len(rel.parts) == 3 and rel.parts[1] in known:
        return rel.parts[0], rel.parts[1]
    if len(rel.parts) == 1:
        stem = rel.name[:-len(".ipynb")]
        for name in sorted(known, key=len, reverse=True):
            if stem.endswith("_" + name) and len(stem) > len(name) + 1:
                return stem[: -len(name) - 1], name
    return None, None


def grade(*, course, name, workers=None, cell_seconds=60.0, notebook_seconds=600.0, force=False, progress=True,
          students=None, unsafe_no_sandbox=False, scheduler=None, log=print):
    """Grade every submission of one assignment in the sandbox; print a summary; return it.

    With `scheduler` (or $RNN_SCHEDULER), the jobs run on that Dask cluster's workers (autograder.cluster);
    without, here. Refuses (CommandError, nothing graded) where no sandbox can be had, unless
    `unsafe_no_sandbox`; when another grade runs on the course; and when the scheduler does not answer."""
    from autograder.cluster import SchedulerError, scheduler_address
    from autograder.coordinator import GradingBusy, grade_all
    from autograder.sandbox import IsolationError, Limits

    course = _course(course)
    _names([name], course)
    try:
        summary = grade_all(course, name, workers=workers, force=force, progress=progress, students=students,
                            limits=Limits(cell_seconds=cell_seconds, notebook_seconds=notebook_seconds),
                            unsafe=unsafe_no_sandbox, scheduler=scheduler_address(scheduler))
    except IsolationError as exc:
        raise CommandError(f"not grading {name}: {exc}. Student code must run in a box; to grade trusted "
                           "notebooks without one anyway, pass --unsafe-no-sandbox") from None
    except (GradingBusy, SchedulerError) as exc:
        raise CommandError(f"not grading {name}: {exc}") from None
    for line in summary.lines():
        log(line)
    return summary


def feedback(*, course, name, log=print):
    """nbgrader's HTML feedback for every graded student of an assignment."""
    course = _course(course)
    graded = sorted(p.parent.parent.name for p in (course / "autograded").glob(f"*/{name}/{name}.ipynb"))
    api = C.api(course)
    failed = []
    for student in graded:
        result = api.generate_feedback(name, student, force=True)
        if not result["success"]:
            failed.append(student)
            log(f"  {student}: feedback failed: {result.get('error', '')[-300:]}")
    pages = [course / "feedback" / s / name / f"{name}.html" for s in graded if s not in failed]
    for page in pages:  # formulas that render offline (nbgrader's template loads MathJax from a CDN)
        page.write_text(offline_feedback(page.read_text()))
    log(f"feedback for {len(pages)} student(s) in {course / 'feedback'}")
    return pages


def export(*, course, out=None, log=print):
    """The grades of every assignment and student as CSV: nbgrader's columns, and a `status` column that keeps
    an assignment never handed in ("not submitted", its scores left empty) apart from a zero ("graded"), and
    says where a written answer still waits for the instructor ("needs manual grading")."""
    import csv
    import warnings

    from nbgrader.api import Gradebook, MissingEntry

    course = _course(course)
    out = Path(out or course / "grades.csv").resolve()
    keys = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email", "status",
            "raw_score", "late_submission_penalty", "score", "max_score"]
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb, \
            open(out, "w", newline="") as fh:
        warnings.simplefilter("ignore")
        writer = csv.DictWriter(fh, keys)
        writer.writeheader()
        for assignment in gb.assignments:
            for student in gb.students:
                row = {"assignment": assignment.name, "duedate": assignment.duedate or "", "student_id": student.id,
                       "last_name": student.last_name or "", "first_name": student.first_name or "",
                       "email": student.email or "", "max_score": assignment.max_score}
                try:
                    sub = gb.find_submission(assignment.name, student.id)
                except MissingEntry:
                    row.update(status="not submitted", timestamp="", raw_score="", late_submission_penalty="",
                               score="")
                else:
                    penalty = sub.late_submission_penalty or 0.0
                    row.update(status="needs manual grading" if sub.needs_manual_grade else "graded",
                               timestamp=sub.timestamp or "", raw_score=sub.score, late_submission_penalty=penalty,
                               score=max(0.0, sub.score - penalty))
                writer.writerow(row)
    log(f"wrote {out}")
    return out


def report(*, course, name, out=None, log=print):
    """A histogram of scores, pass rates per test, and one HTML page listing every student's result."""
    from autograder.report import write_report

    course = _course(course)
    path = write_report(course, name, Path(out) if out else course / "reports" / name)
    log(f"wrote {path}")
    return path


def notebooks(*, check=False, log=print):
    """Regenerate exercises/*/*.ipynb from sources/*.py; with `check`, only say whether they are current
    (CommandError when one is stale)."""
    from autograder.notebooks import stale_notebooks, write_notebooks

    if check:
        stale = stale_notebooks()
        if stale:
            raise CommandError(f"stale notebooks (run `python -m autograder notebooks`): {', '.join(stale)}")
        log("every notebook is current")
        return []
    written = write_notebooks()
    for path in written:
        log(f"wrote {path}")
    return written


def mistakes(*, assignment=None, log=print):
    """The catalogue of mistakes the grader recognises (of one assignment, or all), with the message each
    produces and the checks that recognise it."""
    from autograder.judge import catalogue

    found = catalogue(assignment)
    for mid, (message, checks, submission) in sorted(found.items()):
        where = submission[0] if submission else "?"
        log(f"{where:<20} {mid:<36} {', '.join(checks)}\n{'':<20} {message}\n")
    return found
