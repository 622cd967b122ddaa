"""The assignments end to end through the real nbgrader pipeline: release, submit, autograde.

For every assignment: the committed notebook is what its source generates; the source notebook runs
clean with the reference in place; the release leaks no solution and no hidden test; its visible tests
pass without the reference package; the reference pasted into the release scores full marks; the
untouched release scores zero; every catalogued mistake, written as a submission, loses the points of
the checks it targets with the message it should; grading twice gives the same scores.
"""
import re
import shutil
import time

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import course as C
from autograder.judge import catalogue
from autograder.notebooks import EXERCISES as EXERCISES_DIR
from autograder.notebooks import assignments, notebook_path, points, stale_notebooks

ASSIGNMENTS = assignments()
TIMINGS = {}


def nbgrader_meta(cell):
    return cell.metadata.get("nbgrader", {})


def test_every_notebook_is_generated_from_its_source():
    assert stale_notebooks() == [], "regenerate with `python -m autograder notebooks`"


def test_every_notebook_totals_the_same_points():
    totals = {a: sum(points(a).values()) for a in ASSIGNMENTS}
    assert len(set(totals.values())) == 1, totals


@pytest.fixture(scope="module")
def courses(tmp_path_factory):
    made = {}

    def get(name):
        if name not in made:
            course = C.init_course(tmp_path_factory.mktemp(f"course-{name}"), [name])
            C.generate_release(course, name)
            made[name] = course
        return made[name]

    return get


def solution_sources(name):
    nb = nbformat.read(notebook_path(name), as_version=4)
    return {nbgrader_meta(c)["grade_id"]: c.source for c in nb.cells if nbgrader_meta(c).get("solution")}


def checks_of_cells(name):
    """{test cell id: [check names its hidden tests call]}."""
    nb = nbformat.read(notebook_path(name), as_version=4)
    return {nbgrader_meta(c)["grade_id"]: re.findall(r'check\(\s*"([^"]+)"', c.source)
            for c in nb.cells if nbgrader_meta(c).get("grade") and c.cell_type == "code"}


def release_with(course, name, replace):
    """The released notebook with some solution cells replaced: {cell id: source}."""
    nb = nbformat.read(course / "release" / name / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        gid = nbgrader_meta(cell).get("grade_id")
        if gid in replace:
            cell.source = replace[gid]
    return nb


def autograde(course, name, student, nb):
    C.submit(course, student, name, nb)
    start = time.perf_counter()
    result = C.api(course).autograde(name, student, force=True, create=True)
    TIMINGS.setdefault(name, []).append(time.perf_counter() - start)
    assert result["success"], result["log"][-4000:]
    return C.scores(course, name, student), C.autograded_notebook(course, name, student)


def outputs_by_cell(nb):
    return {nbgrader_meta(c).get("grade_id"): C.cell_outputs_text(c) for c in nb.cells if c.cell_type == "code"}


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_leaks_nothing(courses, name):
    course = courses(name)
    release = course / "release" / name
    assert C.leaks(release) == []
    nb = nbformat.read(release / f"{name}.ipynb", as_version=4)
    stubs = [c for c in nb.cells if nbgrader_meta(c).get("solution") and c.cell_type == "code"]
    assert stubs and all("raise NotImplementedError()" in c.source for c in stubs)
    assert (release / "gradcheck.py").exists()


def test_no_release_holds_an_answer_of_another_assignment(tmp_path):
    """The release check knows every function any assignment grades: a released notebook or file that defines
    one with a working body (as a given cell once held an earlier assignment's answers), assigns it or imports
    it under that name is a leak, whichever assignment it belongs to; stubs and a model's methods are not."""
    graded = C.graded_functions()
    assert {"rnn_forward", "rnn_backward", "loss_and_grads", "masked_cross_entropy", "beam_search"} <= graded
    rnn_backward = next(c.source for c in nbformat.read(notebook_path("bptt"), as_version=4).cells
                        if nbgrader_meta(c).get("grade_id") == "rnn_backward")
    stub = ('def rnn_forward(x, h0, Wxh, Whh, bh):\n    """Doc."""\n    # YOUR CODE HERE\n'
            '    raise NotImplementedError()\n')
    method = "class Seq2Seq:\n    def encode(self, src, src_mask):\n        return src\n"
    cases = {
        "given": (rnn_backward.replace("### BEGIN SOLUTION\n", "").replace("### END SOLUTION\n", ""), ["rnn_backward"]),
        "assigned": ("import numpy as np\nmasked_cross_entropy = lambda logits, y, mask: logits.sum()\n",
                     ["masked_cross_entropy"]),
        "imported": ("from helpers import beam_search\n", ["beam_search"]),
        "stub": (stub, []),
        "method": (method, []),
    }
    for name, (code, names) in cases.items():
        release = tmp_path / name
        release.mkdir()
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell("# An assignment"), nbformat.v4.new_code_cell(code)]
        nbformat.write(nb, release / "later.ipynb")
        found = C.leaks(release)
        assert [n for n in names if not any(n in f for f in found)] == [] and len(found) == len(names), (name, found)
        (release / "later.ipynb").unlink()
        (release / "helpers.py").write_text(code)
        assert len(C.leaks(release)) == len(names), name


def test_exercises_as_nbgraders_source_folder_releases_no_answers(tmp_path):
    """An instructor may point nbgrader at exercises/ itself: every release then holds the notebook alone,
    with no solution and no hidden test in any file."""
    course = tmp_path / "course"
    C.init_course(course)  # the config file, and gradcheck.py beside each notebook
    shutil.copytree(EXERCISES_DIR, course / "source", dirs_exist_ok=True)
    api = C.api(course)
    for name in ASSIGNMENTS:
        assert api.generate_assignment(name, force=True)["success"], name
        released = sorted(p.name for p in (course / "release" / name).iterdir())
        assert released == sorted(["gradcheck.py", f"{name}.ipynb"]), released
        assert C.leaks(course / "release" / name) == []


def test_a_student_gets_one_zip_with_a_folder_the_notebook_and_what_to_install(tmp_path):
    """`release` and the book's downloads package an assignment the same way: <name>/ with the notebook,
    gradcheck.py and requirements-student.txt, where only the PyTorch assignments ask for PyTorch (its CPU
    build) and the one file that asks for it serves the whole course."""
    import zipfile

    from autograder import commands

    course = tmp_path / "course"
    commands.release(course=course, names=["rnn", "seq2seq"], log=lambda *_: None)
    book = commands.student_files(out=tmp_path / "book", names=["rnn", "seq2seq"], log=lambda *_: None)
    for name in ("rnn", "seq2seq"):
        for archive in (course / "release" / f"{name}.zip", tmp_path / "book" / f"{name}.zip"):
            with zipfile.ZipFile(archive) as zf:
                names = sorted(zf.namelist())
                requirements = zf.read(f"{name}/requirements-student.txt").decode()
            assert names == sorted(f"{name}/{f}" for f in ("gradcheck.py", f"{name}.ipynb", "requirements-student.txt"))
            if name == "rnn":
                assert "torch" not in requirements and "numpy==" in requirements
            else:
                assert "torch==2.13.0+cpu" in requirements and "download.pytorch.org/whl/cpu" in requirements
                assert set((EXERCISES_DIR / "requirements-student.txt").read_text().splitlines()) <= \
                    set(requirements.splitlines())
    assert len(book) == 2


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_visible_tests_pass_without_the_reference_package(courses, name, tmp_path):
    course = courses(name)
    nb = release_with(course, name, solution_sources(name))
    # a student's environment has neither package: make importing them fail
    nb.cells.insert(0, nbformat.v4.new_code_cell("import sys\nsys.modules['solutions'] = None\n"
                                                 "sys.modules['autograder'] = None"))
    for extra in (course / "release" / name).glob("*.py"):
        (tmp_path / extra.name).write_text(extra.read_text())
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.output_type != "error", f"{nbgrader_meta(cell).get('grade_id')}: {out.get('evalue')}"
            assert not (out.output_type == "stream" and out.name == "stderr"), f"stderr: {out.text}"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_reference_scores_full_marks_and_blank_scores_zero(courses, name):
    course = courses(name)
    source = nbformat.read(course / "source" / name / f"{name}.ipynb", as_version=4)
    full, graded = autograde(course, name, "reference-source", source)
    auto_cells = checks_of_cells(name)
    assert all(score == maximum for cell, (score, maximum) in full.items() if cell in auto_cells), full
    # a written answer is left to the instructor: flagged for manual grading, not scored by the machine
    manual = C.needs_manual_grade(course, name, "reference-source")
    assert all(manual[cell] for cell in full if cell not in auto_cells), manual
    for cell in graded.cells:  # the source runs clean: no error and nothing on stderr
        for out in cell.get("outputs", []):
            assert out.output_type != "error" and out.get("name") != "stderr", (nbgrader_meta(cell), out)
    pasted, _ = autograde(course, name, "reference-pasted", release_with(course, name, solution_sources(name)))
    auto = {k: v for k, v in pasted.items() if k in checks_of_cells(name)}
    assert all(score == maximum for score, maximum in auto.values()), pasted
    blank, graded = autograde(course, name, "blank", release_with(course, name, {}))
    assert all(score == 0 for score, _ in blank.values()), blank
    assert not any(C.needs_manual_grade(course, name, "blank").values()), "an unanswered question needs no grading"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_regrading_gives_the_same_scores(courses, name):
    course = courses(name)
    # half right: the first solution cell from the reference, the rest left blank
    first = dict(list(solution_sources(name).items())[:1])
    nb = release_with(course, name, first)
    a, _ = autograde(course, name, "twice", nb)
    b, _ = autograde(course, name, "twice", nb)
    assert a == b


MISTAKES = [(a, mid) for a in ASSIGNMENTS for mid in sorted(catalogue(a))]


@pytest.fixture(scope="module")
def sandboxed(tmp_path_factory):
    """grade(name, student, nb) -> the sandboxed grader's result for a released notebook of assignment `name`."""
    from autograder import commands
    from autograder.coordinator import forbidden_paths
    from autograder.grading import grade_submission

    made = {}

    def grade(name, student, nb):
        if name not in made:
            course = tmp_path_factory.mktemp(f"boxed-{name}")
            commands.release(course=course, names=[name], log=lambda *_: None)
            made[name] = (course, (course / "source" / name / f"{name}.ipynb").read_text(),
                          {p.name: p.read_bytes() for p in (course / "release" / name).glob("*.py")})
        course, source, files = made[name]
        return grade_submission(nbformat.writes(nb).encode(), source, student, name, files=files,
                                forbidden=forbidden_paths(course))

    return grade


@pytest.mark.parametrize("name,mistake", MISTAKES)
def test_catalogued_mistake_costs_its_own_cells_alone_with_its_message(courses, sandboxed, name, mistake):
    """A mistake costs the cells whose checks charge it, with its message; every other cell keeps its points,
    those of larger functions that call the wrong one included (the reference's values stand in for it)."""
    message, check_names, (_, cell, code) = catalogue(name)[mistake]
    nb = release_with(courses(name), name, {**solution_sources(name), cell: code})
    result = sandboxed(name, f"m-{mistake}"[:60], nb)
    for test_cell, calls in checks_of_cells(name).items():
        score, maximum = result.scores[test_cell]
        if set(calls) & set(check_names):
            assert score == 0, f"{test_cell} should fail under {mistake}"
            assert message in result.messages[test_cell], f"{test_cell} lacks it:\n{result.messages[test_cell]}"
        else:
            assert score == maximum, f"{test_cell} should pass under {mistake}: {result.messages[test_cell]}"
    assert result.flags == [] and result.problems == [], (result.flags, result.problems)


@pytest.mark.parametrize("name,mistake", [("bptt", "step_states_swapped"), ("seq2seq", "s2s_cell_z_reversed")])
def test_stock_nbgrader_charges_a_mistake_once_too(courses, name, mistake):
    """In stock nbgrader's in-process grading, a function that fails its check gives way to the reference for
    the rest of the notebook: the functions that call it keep their points, visible tests included."""
    message, check_names, (_, cell, code) = catalogue(name)[mistake]
    course = courses(name)
    scores, graded = autograde(course, name, f"once-{mistake}"[:60],
                               release_with(course, name, {**solution_sources(name), cell: code}))
    for test_cell, calls in checks_of_cells(name).items():
        score, maximum = scores[test_cell]
        assert score == (0 if set(calls) & set(check_names) else maximum), (test_cell, score)


def test_two_students_get_different_hidden_inputs():
    """Every student faces the shared core first (the same code meets the same cases), then cases of their own."""
    import numpy as np

    from autograder.judge import CORE, make_cases

    def inputs(cases):  # the probes (the first core case with an input zeroed) aside
        return [np.asarray(c["args"][0]).tobytes() for c in cases if not c.get("probe")]

    a, b, core = (inputs(make_cases("rnn_forward", who)) for who in ("alice", "bob", CORE))
    assert inputs(make_cases("rnn_forward", "alice")) == a  # a regrade meets the same cases
    shared = next(k for k in range(len(a) + 1) if k == len(a) or a[k] != b[k])
    assert shared > 0 and a[:shared] == core[:shared]
    assert len(a) > shared and not set(a[shared:]) & set(b[shared:])
