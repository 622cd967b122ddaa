"""An nbgrader course folder made from exercises/: source notebooks, releases, submissions, gradebook.

The course folder is the instructor's, outside the repository. Its layout is nbgrader's:
source/<assignment>/ (the notebook and gradcheck.py), release/, submitted/<student>/<assignment>/,
autograded/, feedback/ and gradebook.db.
"""
import json
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat

from autograder.notebooks import EXERCISES, ROOT, assignments, source_path

GRADCHECK = ROOT / "solutions" / "gradcheck.py"
CONFIG = """\
# nbgrader configuration of this course folder, written by `python -m autograder`.
# Paths are relative to this file, so the folder can be copied or moved as a whole.
import os

c = get_config()  # noqa: F821
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "rnn-course"
c.Execute.timeout = {timeout}
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
c.Exchange.root = os.path.join(c.CourseDirectory.root, "exchange")
"""


class CourseError(ValueError):
    """A course folder or assignment problem; the message says which and what is wrong."""


def course_config(course):
    """A traitlets Config for nbgrader's API on this course folder."""
    from traitlets.config import Config

    course = Path(course).resolve()
    c = Config()
    c.CourseDirectory.root = str(course)
    c.CourseDirectory.course_id = "rnn-course"
    c.Execute.timeout = 120
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    c.Exchange.root = str(course / "exchange")
    return c


def _tools_on_path():
    """nbgrader runs `alembic` to set up a gradebook: make the tools beside this Python findable, as an
    activated virtual environment would, when the grader is run as .venv/bin/python -m autograder."""
    here = str(Path(sys.executable).parent)
    if here not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = here + os.pathsep + os.environ.get("PATH", "")


def api(course):
    _tools_on_path()
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config = course_config(course)
    return NbGraderAPI(CourseDirectory(config=config), config=config)


def student_requirements(name):
    """The text of an assignment's requirements-student.txt: the base list, and PyTorch (its CPU build) for
    an assignment whose notebook imports it."""
    text = (EXERCISES / "requirements-student.txt").read_text()
    if re.search(r"^import torch|^from torch", source_path(name).read_text(), re.M):
        text += (EXERCISES / "requirements-torch.txt").read_text()
    return text


def student_zip(folder, name, target):
    """The one way a student gets an assignment: a zip holding the folder <name>/ with the released notebook,
    gradcheck.py and its requirements-student.txt. Returns the zip's path."""
    import zipfile

    (Path(folder) / "requirements-student.txt").write_text(student_requirements(name))
    target = Path(target)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(Path(folder).iterdir()):
            if path.is_file():
                zf.write(path, f"{name}/{path.name}")
    return target


def init_course(course, names=None):
    """Create or refresh a course folder: config file and source/<assignment>/ from exercises/."""
    course = Path(course).resolve()
    names = list(names or assignments())
    unknown = [n for n in names if not (EXERCISES / n / f"{n}.ipynb").exists()]
    if unknown:
        raise CourseError(f"no such assignment(s) {unknown} in {EXERCISES}; known: {assignments()}")
    course.mkdir(parents=True, exist_ok=True)
    (course / "nbgrader_config.py").write_text(CONFIG.format(timeout=120))
    for name in names:
        src = course / "source" / name
        src.mkdir(parents=True, exist_ok=True)
        shutil.copy2(EXERCISES / name / f"{name}.ipynb", src / f"{name}.ipynb")
        shutil.copy2(GRADCHECK, src / "gradcheck.py")
    return course


def generate_release(course, name):
    """nbgrader generate_assignment for one assignment; raises CourseError when it fails."""
    result = api(course).generate_assignment(name, force=True, create=True)
    if not result["success"]:
        raise CourseError(f"generating the release of {name} failed:\n{result['log']}\n{result.get('error', '')}")
    return Path(course) / "release" / name


# What a released notebook must not contain: solution or hidden-test regions, the grading harness,
# or an import of the reference package.
LEAK_MARKERS = (r"### BEGIN SOLUTION", r"### BEGIN HIDDEN TESTS", r"\bautograder\b", r"(import|from)\s+solutions\b",
                r"\bcheck\(")


def leaks(release_dir):
    """Lines of the released notebooks that give away a solution or a hidden test, or import the reference."""
    found = []
    for path in sorted(Path(release_dir).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            src = cell.source
            for marker in LEAK_MARKERS:
                if re.search(marker, src):
                    found.append(f"{path.name}: cell {i} contains {marker!r}")
    return found


def submit(course, student, name, notebook, timestamp="2026-01-01 12:00:00 UTC"):
    """Place a student's notebook where nbgrader expects a submission; return its path."""
    dest = Path(course) / "submitted" / student / name
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / f"{name}.ipynb"
    if isinstance(notebook, (str, Path)):
        shutil.copy2(notebook, target)
    else:
        nbformat.write(notebook, target)
    (dest / "timestamp.txt").write_text(timestamp)
    release = Path(course) / "release" / name
    for extra in release.glob("*.py"):
        shutil.copy2(extra, dest / extra.name)
    return target


def scores(course, name, student):
    """{grade_id: (score, max_score)} of a student's autograded notebook, from the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{Path(course).resolve() / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(name, name, student)
        return {g.name: (g.score, g.max_score) for g in nb.grades}


def needs_manual_grade(course, name, student):
    """{grade_id: bool} of the graded cells: True where a person still has to grade the answer."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{Path(course).resolve() / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(name, name, student)
        return {g.name: bool(g.needs_manual_grade) for g in nb.grades}


def autograded_notebook(course, name, student):
    return nbformat.read(Path(course) / "autograded" / student / name / f"{name}.ipynb", as_version=4)


def cell_outputs_text(cell):
    """The text a cell printed or raised, for messages and tests."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}")
    return "".join(parts)


def dumps(obj):
    return json.dumps(obj, indent=1, sort_keys=True)
