"""Build the nbgrader source notebooks in exercises/ from readable percent-format sources.

Each assignment's source is sources/<assignment>.py, in jupytext's percent format: `# %%` lines start
cells, so any editor with jupytext opens it as a notebook. It lives outside exercises/, so that a course
using exercises/ as nbgrader's source folder releases the notebook alone, never this file with its
solutions and hidden tests. jupytext reads each marker's title and `points=P`; `nbgrader_metadata`
turns them into what nbgrader should make of the cell:

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
<assignment>.ipynb carries the nbgrader metadata; nobody edits its JSON by hand, and `stale_notebooks`
says when it is stale.
"""
import json
import re
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = ROOT / "exercises"
SOURCES = ROOT / "sources"
# jupytext reads the percent format; magics stay comments, as in the .py file an editor shows
PERCENT = {"extension": ".py", "format_name": "percent", "comment_magics": False}
TITLE = re.compile(r"^(?P<kind>answer|setup|solution|test)\s*(?::\s*(?P<id>[A-Za-z_][\w-]*))?$")
PASTE = re.compile(r"^#\| paste (?P<assignment>\w+):(?P<ids>(?:\s+[A-Za-z_][\w-]*)+)\s*$")


class SourceError(ValueError):
    """A notebook source that cannot be turned into a notebook; the message names file and line."""


def nbgrader_metadata(cell_type, jupytext_metadata, where, fallback_id):
    """nbgrader's metadata for a cell whose percent-format header jupytext read as `jupytext_metadata`.

    The header's title names the kind and the id (`solution: rnn_forward`), its `points=P` the points;
    `fallback_id` names the locked cells that have no id of their own."""
    meta = {k: v for k, v in jupytext_metadata.items() if k != "lines_to_next_cell"}
    title, points = meta.pop("title", ""), meta.pop("points", None)
    if meta:
        unread = meta.get("incorrectly_encoded_metadata") or " ".join(f"{k}={v!r}" for k, v in meta.items())
        raise SourceError(f"{where}: cannot read {unread!r} in the cell marker; a marker holds a kind, an id "
                          "and points=P")
    spec = TITLE.match(title) if title else None
    if title and not spec:
        raise SourceError(f"{where}: cannot read the cell marker {title!r}; the kinds are answer, setup, solution "
                          "and test")
    kind, grade_id = (spec.group("kind"), spec.group("id")) if spec else (None, None)
    markdown = cell_type == "markdown"
    if kind in ("answer", "solution", "test") and not grade_id:
        raise SourceError(f"{where}: a {kind} cell needs an id, as in '# %% {kind}: name'")
    if kind in ("answer", "test") and points is None:
        raise SourceError(f"{where}: a graded cell needs points, as in '# %% {kind}: {grade_id} points=2'")
    if points is not None and (kind not in ("answer", "test") or isinstance(points, bool)
                               or not isinstance(points, (int, float)) or points <= 0):
        raise SourceError(f"{where}: points={points!r}: only answer and test cells carry points, a positive number")
    if kind == "answer" and not markdown:
        raise SourceError(f"{where}: an answer cell is markdown: '# %% [markdown] answer: {grade_id} points=P'")
    if kind in ("setup", "solution", "test") and markdown:
        raise SourceError(f"{where}: a {kind} cell holds code, not markdown")
    if kind is None and not markdown:
        return {}
    nb = {"grade": kind in ("answer", "test"), "solution": kind in ("answer", "solution"),
          "locked": kind in ("setup", "test") or kind is None, "grade_id": grade_id or fallback_id,
          "schema_version": 3}
    if nb["grade"]:
        nb["points"] = int(points) if float(points).is_integer() else float(points)
    return {"nbgrader": nb}


def _cells(path):
    """[(cell_type, lines, metadata, where)] of a source file, read by jupytext, before paste cells are filled."""
    path = Path(path)
    text = path.read_text()
    if not text.startswith("# %%"):
        raise SourceError(f"{path}:1: a source starts with a cell marker ('# %% [markdown]' or '# %% setup')")
    headers = [n for n, line in enumerate(text.splitlines(), 1) if line.startswith("# %%")]
    read = jupytext.reads(text, fmt=PERCENT).cells
    if len(read) != len(headers):  # pragma: no cover - jupytext splits exactly at the markers
        raise SourceError(f"{path}: jupytext read {len(read)} cells from {len(headers)} cell markers")
    cells, seen = [], set()
    for cell, lineno in zip(read, headers):
        where = f"{path}:{lineno}"
        fallback = f"{path.stem}_{cell.metadata.get('title') or 'markdown'}_{len(cells) + 1}"  # unique course-wide
        meta = nbgrader_metadata(cell.cell_type, cell.metadata, where, fallback)
        grade_id = meta.get("nbgrader", {}).get("grade_id")
        if grade_id in seen:
            raise SourceError(f"{where}: the id {grade_id!r} is used twice")
        seen.add(grade_id)
        cells.append((cell.cell_type, cell.source.splitlines(), meta, where))
    return cells


def parse_source(path):
    """Return a list of (cell_type, source, metadata) from a percent-format source file."""
    out = []
    for cell_type, body, meta, _ in _cells(path):
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
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
    return {meta["nbgrader"]["grade_id"] for cell_type, body, meta, _ in _cells(source_path(assignment))
            if meta.get("nbgrader", {}).get("solution") and cell_type == "code" and any(map(PASTE.match, body))}


def points(assignment):
    """{grade_id: points} of the graded cells of an assignment."""
    return {
        meta["nbgrader"]["grade_id"]: meta["nbgrader"]["points"]
        for _, _, meta in parse_source(source_path(assignment))
        if meta.get("nbgrader", {}).get("grade")
    }


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps({a: points(a) for a in assignments()}, indent=1))
