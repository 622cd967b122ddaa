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
    """What in a release gives away a solution or a hidden test, imports the reference, or holds an answer
    that earns points in any assignment of the course (see `answers_in`)."""
    found = []
    graded = graded_functions()
    for path in sorted(Path(release_dir).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            src = cell.source
            for marker in LEAK_MARKERS:
                if re.search(marker, src):
                    found.append(f"{path.name}: cell {i} contains {marker!r}")
            if cell.cell_type == "code":
                found += [f"{path.name}: cell {i} {what}" for what in answers_in(src, graded)]
    for path in sorted(Path(release_dir).glob("*.py")):
        found += [f"{path.name}: {what}" for what in answers_in(path.read_text(), graded)]
    return found


def graded_functions():
    """The names of the functions that students write for points, in any assignment: those defined in the
    solution cells of the source notebooks."""
    names = set()
    for name in assignments():
        nb = nbformat.read(EXERCISES / name / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
                names |= set(re.findall(r"^def\s+([A-Za-z_]\w*)\s*\(", cell.source, re.M))
    return names


def answers_in(code, graded):
    """What in `code` defines one of the `graded` functions other than as a stub (a body that raises
    NotImplementedError): a def with a body, an assignment to the name, or an import under that name. A
    method of a class (a torch module's `encode`) is not the graded function."""
    import ast

    try:
        tree = ast.parse(code)
    except SyntaxError:  # a cell with IPython syntax: read its top-level defs from the text
        return [f"defines {name}" for name in re.findall(r"^def\s+([A-Za-z_]\w*)\s*\(", code, re.M)
                if name in graded and "raise NotImplementedError" not in code]
    found = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in graded:
            stub = any(isinstance(s, ast.Raise) and "NotImplementedError" in ast.unparse(s.exc or s) for s in node.body)
            if not stub:
                found.append(f"defines {node.name} with a working body (line {node.lineno})")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            found += [f"assigns {name} (line {node.lineno})" for name in sorted(names & graded)]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = {(a.asname or a.name).split(".")[0] for a in node.names}
            found += [f"imports {name} (line {node.lineno})" for name in sorted(names & graded)]
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


def synthetic_class(course, name, n, prefix="student"):
    """Submit n synthetic notebooks of a released assignment, for benchmarks and tests: a third right, a third
    with the first graded function wrong (its solution with tanh made sin, or left blank), a third untouched.
    Returns the students' ids."""
    from autograder.notebooks import paste_cells

    source = nbformat.read(Path(course) / "source" / name / f"{name}.ipynb", as_version=4)
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
                 if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"}
    first = next(gid for gid in solutions if gid not in paste_cells(name))
    students = [f"{prefix}{i:03d}" for i in range(n)]
    for i, student in enumerate(students):
        nb = nbformat.read(Path(course) / "release" / name / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid not in solutions or i % 3 == 2:
                continue
            if i % 3 == 1 and gid == first:
                if "np.tanh" in solutions[gid]:
                    cell.source = solutions[gid].replace("np.tanh", "np.sin")
                continue
            cell.source = solutions[gid]
        submit(course, student, name, nb)
    return students


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
