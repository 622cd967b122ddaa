"""Build the nbgrader source notebooks in exercises/ from readable percent-format sources.

Each assignment's source is sources/<assignment>.py, a script whose `# %%` lines start cells (it lives
outside exercises/, so that a course using exercises/ as nbgrader's source folder releases the notebook
alone, never this file with its solutions and hidden tests); the marker says what nbgrader should make
of the cell:

    # %% [markdown]                          instructions, locked
    # %% [markdown] answer: ID points=P      a written answer, graded by hand
    # %% setup                               code the student runs but does not edit (locked)
    # %% solution: ID                        the student's code, with ### BEGIN/END SOLUTION
    # %% test: ID points=P                   a docstring, the hidden checks, then the visible ones
    # %%                                     an ordinary code cell the student may edit

A solution cell may instead hold lines `#| paste ASSIGNMENT: ID ID ...`: the cell where a student pastes
their own functions of an earlier assignment. It is built from the solutions of those cells of that
assignment's source, so the instructor's notebook runs, and the release shows an empty cell.

Markdown lines are written as comments ("# text"). In a test cell the hidden checks come first:
a mistake then gets the hidden checks' diagnosis in the feedback, not only the first visible assertion
it trips (the released notebook shows the docstring and the visible checks alone). The generated
<assignment>.ipynb carries the nbgrader metadata; nobody edits its JSON by hand, and `check_notebooks`
says when it is stale.
"""
import json
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = ROOT / "exercises"
SOURCES = ROOT / "sources"
MARKER = re.compile(r"^# %%(?P<rest>.*)$")
PASTE = re.compile(r"^#\| paste (?P<assignment>\w+):(?P<ids>(?:\s+[A-Za-z_][\w-]*)+)\s*$")
SPEC = re.compile(
    r"^(?:(?P<markdown>\[markdown\])\s*)?"
    r"(?:(?P<kind>answer|setup|solution|test)\s*(?::\s*(?P<id>[A-Za-z_][\w-]*))?\s*(?:points=(?P<points>[0-9.]+))?)?\s*$"
)


class SourceError(ValueError):
    """A notebook source that cannot be turned into a notebook; the message names file and line."""


def _metadata(kind, grade_id, points, markdown):
    if kind is None:
        return {} if not markdown else {"nbgrader": {"grade": False, "solution": False, "locked": True,
                                                     "grade_id": grade_id, "schema_version": 3}}
    meta = {
        "grade": kind in ("answer", "test"),
        "solution": kind in ("answer", "solution"),
        "locked": kind in ("setup", "test"),
        "grade_id": grade_id,
        "schema_version": 3,
    }
    if meta["grade"]:
        meta["points"] = points
    return {"nbgrader": meta}


def parse_source(path):
    """Return a list of (cell_type, source, metadata) from a percent-format source file."""
    path = Path(path)
    cells, current, seen = [], None, set()
    lines = path.read_text().splitlines()
    for lineno, line in enumerate(lines, 1):
        m = MARKER.match(line)
        if not m:
            if current is not None:
                current[1].append(line)
            continue
        spec = SPEC.match(m.group("rest").strip())
        if not spec:
            raise SourceError(f"{path}:{lineno}: cannot read the cell marker {line!r}")
        kind, grade_id, points = spec.group("kind"), spec.group("id"), spec.group("points")
        markdown = bool(spec.group("markdown"))
        where = f"{path}:{lineno}"
        if kind in ("answer", "solution", "test") and not grade_id:
            raise SourceError(f"{where}: a {kind} cell needs an id, as in '# %% {kind}: name'")
        if kind in ("answer", "test") and points is None:
            raise SourceError(f"{where}: a graded cell needs points, as in '# %% {kind}: {grade_id} points=2'")
        if kind == "answer" and not markdown:
            raise SourceError(f"{where}: an answer cell is markdown: '# %% [markdown] answer: {grade_id} points=P'")
        if kind in ("setup", "solution", "test") and markdown:
            raise SourceError(f"{where}: a {kind} cell holds code, not markdown")
        if grade_id is None and (kind == "setup" or markdown):
            grade_id = f"{path.stem}_{kind or 'markdown'}_{len(cells) + 1}"  # unique across assignments
        if grade_id in seen:
            raise SourceError(f"{where}: the id {grade_id!r} is used twice")
        if grade_id:
            seen.add(grade_id)
        points = float(points) if points is not None else None
        if points is not None and points.is_integer():
            points = int(points)
        current = ("markdown" if markdown else "code", [], _metadata(kind, grade_id, points, markdown))
        cells.append(current)
    out = []
    for cell_type, body, meta in cells:
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
        if cell_type == "markdown":
            body = [re.sub(r"^# ?", "", b) for b in body]
        if meta.get("nbgrader", {}).get("solution") and cell_type == "code" and any(PASTE.match(b) for b in body):
            body = _pasted(path, meta["nbgrader"]["grade_id"], body)
        out.append((cell_type, "\n".join(body), meta))
    _check_regions(path, out)
    return out


def _pasted(path, grade_id, body):
    """A paste cell's lines: its comments, then one solution region holding the named solution cells of
    earlier assignments, in the order named."""
    code = []
    for line in body:
        m = PASTE.match(line)
        if not m:
            continue
        other = source_path(m.group("assignment"))
        if not other.exists():
            raise SourceError(f"{path}: paste cell {grade_id!r} names {m.group('assignment')!r}, which has no source")
        cells = {meta.get("nbgrader", {}).get("grade_id"): (kind, src) for kind, src, meta in parse_source(other)}
        for wanted in m.group("ids").split():
            kind, src = cells.get(wanted, (None, None))
            if kind != "code" or "### BEGIN SOLUTION" not in src:
                raise SourceError(f"{path}: paste cell {grade_id!r} names {wanted!r}, which is not a solution cell "
                                  f"of {other.name}")
            code += [line for line in src.splitlines()
                     if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")]
            code += ["", ""]
    comments = [line for line in body if not PASTE.match(line)]
    return comments + ["### BEGIN SOLUTION"] + code[:-2] + ["### END SOLUTION"]


def _check_regions(path, cells):
    """Solution cells must mark their solution, test cells must be readable and one outcome each."""
    for cell_type, source, meta in cells:
        nb = meta.get("nbgrader", {})
        gid = nb.get("grade_id")
        if cell_type == "markdown" and any(m in source for m in ("### BEGIN", "### END")):
            raise SourceError(f"{path}: markdown cell {gid!r} mentions an nbgrader marker, "
                              "which nbgrader would treat as one")
        if cell_type == "code" and nb.get("solution") and "### BEGIN SOLUTION" not in source:
            raise SourceError(f"{path}: solution cell {gid!r} has no ### BEGIN SOLUTION region")
        if nb.get("grade") and cell_type == "code":
            if not source.startswith('"""'):
                raise SourceError(f"{path}: test cell {gid!r} must open with a one-line docstring")
            if source.count("### BEGIN HIDDEN TESTS") != source.count("### END HIDDEN TESTS"):
                raise SourceError(f"{path}: test cell {gid!r} has unbalanced hidden-test markers")


def build_notebook(path):
    """The nbformat notebook for a source file."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for cell_type, source, meta in parse_source(path):
        make = nbformat.v4.new_markdown_cell if cell_type == "markdown" else nbformat.v4.new_code_cell
        cell = make(source, metadata=meta)
        cell.id = (meta.get("nbgrader", {}).get("grade_id") or f"cell-{len(nb.cells) + 1}").replace("_", "-")
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def assignments():
    """The assignment names, in course order (those with a source file)."""
    order = ["rnn", "bptt", "vanishing_gradients", "lstm_gru", "brnn", "seq2seq", "teacher_forcing", "search"]
    present = {p.stem for p in SOURCES.glob("*.py")}
    return [a for a in order if a in present] + sorted(present - set(order))


def source_path(assignment):
    return SOURCES / f"{assignment}.py"


def notebook_path(assignment):
    return EXERCISES / assignment / f"{assignment}.ipynb"


def render(assignment):
    """The generated notebook's text, as written to disk."""
    return nbformat.writes(build_notebook(source_path(assignment))) + "\n"


def write_notebooks(names=None):
    """Regenerate exercises/<a>/<a>.ipynb for every (or the named) assignment; return the paths."""
    written = []
    for name in names or assignments():
        path = notebook_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(name))
        written.append(path)
    return written


def stale_notebooks(names=None):
    """The assignments whose committed notebook differs from what its source generates."""
    stale = []
    for name in names or assignments():
        path = notebook_path(name)
        if not path.exists() or path.read_text() != render(name):
            stale.append(name)
    return stale


def paste_cells(assignment):
    """The grade ids of the cells where a student pastes functions of earlier assignments."""
    ids, current = set(), None
    for line in source_path(assignment).read_text().splitlines():
        m = MARKER.match(line)
        if m:
            spec = SPEC.match(m.group("rest").strip())
            current = spec.group("id") if spec and spec.group("kind") == "solution" else None
        elif current and PASTE.match(line):
            ids.add(current)
    return ids


def points(assignment):
    """{grade_id: points} of the graded cells of an assignment."""
    return {
        meta["nbgrader"]["grade_id"]: meta["nbgrader"]["points"]
        for _, _, meta in parse_source(source_path(assignment))
        if meta.get("nbgrader", {}).get("grade")
    }


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps({a: points(a) for a in assignments()}, indent=1))
