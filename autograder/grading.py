"""Grade one submission in a sandbox: a function from the notebook's bytes to scores, messages and flags.

`grade_submission` is the grading job. It reads the submitted notebook (saying clearly what is wrong
with a file that is not one), rebuilds the notebook to run from the source (locked and test cells as the
instructor wrote them, the student's own code in the solution cells), runs it cell by cell in an
autograder.sandbox box, answers the kernel's requests for hidden cases, and judges the results with
autograder.judge in this trusted process. It touches no course file: the coordinator (autograder.
coordinator) alone writes the gradebook, so jobs may run anywhere and a crash in one loses nothing.
"""
import base64
import contextlib
import hashlib
import json
import math
import pickle
import re
import time
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import nbformat
import numpy as np

from autograder import sandbox_channel
from autograder.former_ids import current_id
from autograder.harness import CALLS_KEPT, PREFIX_KEPT
from autograder.judge import Verdict, cases_for, evaluate, expected_results
from autograder.sandbox import CellRun, IsolationError, Limits, Sandbox, SandboxError, Violation

CHECK_CALL = re.compile(r'check\(\s*"([^"]+)"')
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
UNANSWERED = "YOUR ANSWER HERE"
SUSPICIOUS = [
    (r"\b(import|from)\s+solutions\b", "imports the reference package `solutions`"),
    (r"\b(import|from)\s+autograder\b", "imports the grading package `autograder`"),
    (r"\b(np|numpy)\s*\.\s*(allclose|isclose|array_equal|testing)\b[^\n]*=(?!=)",
     "reassigns a numpy checking function"),
    (r"\bsetattr\(\s*(np|numpy|builtins)\b", "patches numpy or builtins with setattr"),
    (r"\bbuiltins\b", "touches `builtins`"),
    (r"showtraceback", "overrides IPython's traceback display"),
    (r"\bos\._exit\b|\bsys\.exit\b|\bos\.kill\b|\bsignal\.", "exits or kills the kernel"),
    (r"\bos\.fork\b|\bmultiprocessing\b|\bsubprocess\b", "starts processes"),
    (r"\bsocket\b|\burllib\b|\brequests\b|\bhttp\.client\b", "opens network connections"),
    (r"\bos\.environ\b|\bgetenv\b", "reads environment variables"),
    (r"gradebook|\.\./|/submitted/|/autograded/", "reaches for files outside its folder"),
]


@dataclass
class JobResult:
    """What grading one submission produced; plain data, so it can travel between processes."""

    student: str
    assignment: str
    sha256: str
    scores: dict = field(default_factory=dict)  # grade_id -> [score or None, max]
    messages: dict = field(default_factory=dict)  # grade_id -> text for the student
    flags: list = field(default_factory=list)  # for the instructor
    problems: list = field(default_factory=list)  # what is wrong with the file itself
    notebook: str = None  # the graded notebook (JSON), for feedback
    seconds: float = 0.0
    protections: dict = field(default_factory=dict)

    @property
    def total(self):
        return sum(s or 0 for s, _ in self.scores.values())

    def to_dict(self):
        return asdict(self)


def meta(cell):
    """A cell's nbgrader metadata ({} where it is missing or not a record)."""
    m = cell.get("metadata", {}).get("nbgrader", {})
    return m if isinstance(m, dict) else {}


def graded_cells(source):
    """[(grade_id, points, kind)] of the source notebook's graded cells; kind "auto" or "manual"."""
    return [(meta(c)["grade_id"], float(meta(c).get("points", 0)), "auto" if c.cell_type == "code" else "manual")
            for c in source.cells if meta(c).get("grade")]


# ------------------------------------------------------------------------------------- reading the file


class BadSubmission(ValueError):
    """A file that cannot be graded as it is; the message says what is wrong."""


MAX_NOTEBOOK_BYTES = 20 << 20


def read_notebook(data, filename):
    """The notebook in `data`, upgraded to version 4; notes about what was done to read it. Any file that
    cannot be read as a notebook, for whatever reason, is a BadSubmission that says why."""
    notes = []
    if not data or not data.strip():
        raise BadSubmission(f"{filename} is empty")
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise BadSubmission(f"{filename} is {len(data) / 2**20:.1f} MB, more than the {MAX_NOTEBOOK_BYTES >> 20} MB a "
                            "notebook may be (clear its outputs and hand it in again)")
    try:
        raw = json.loads(data.decode("utf-8", errors="replace"))
    except RecursionError:
        raise BadSubmission(f"{filename} is not a notebook: its JSON is nested too deeply to read") from None
    except ValueError as exc:
        raise BadSubmission(f"{filename} is not a notebook: it is not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or ("cells" not in raw and "worksheets" not in raw):
        raise BadSubmission(f"{filename} is JSON but not a notebook (it has no cells)")
    major = raw.get("nbformat")
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
        for cell in nb.cells:
            if not isinstance(cell.get("source", ""), str) or not isinstance(cell.get("metadata", {}), dict):
                raise ValueError("a cell whose source or metadata is of the wrong type")
            m = cell.metadata.get("nbgrader")
            if m is not None and (not isinstance(m, dict) or not isinstance(m.get("grade_id", ""), str)):
                del cell.metadata["nbgrader"]  # unreadable grading metadata: the cell counts as the student's own
                notes.append(f"{filename}: a cell's nbgrader metadata was unreadable and was ignored")
    except RecursionError:
        raise BadSubmission(f"{filename} is a notebook nested too deeply to read") from None
    except Exception as exc:  # noqa: BLE001  nbformat raises many kinds
        raise BadSubmission(f"{filename} is a notebook nbformat cannot read ({type(exc).__name__}: "
                            f"{str(exc)[:300]})") from None
    if major != 4:
        notes.append(f"{filename} is a notebook of format version {major}; it was converted to version 4")
    return nb, notes


def identify(nb, source, others):
    """The other assignment this notebook belongs to, by the overlap of cell ids; None when it is this one."""
    ids = {meta(c).get("grade_id") for c in nb.cells} - {None}
    if not ids:
        return None

    def overlap(other_ids):
        other_ids = set(other_ids)
        return len(ids & other_ids) / len(ids | other_ids)

    mine = overlap(meta(c).get("grade_id") for c in source.cells if meta(c).get("grade_id"))
    best = max(others.items(), key=lambda kv: overlap(kv[1]), default=(None, []))
    return best[0] if best[0] is not None and overlap(best[1]) > mine else None


# ------------------------------------------------------------------------------------- the plan


def _defined(code):
    return set(re.findall(r"^def\s+([A-Za-z_]\w*)\s*\(", code, re.M))


class Step(NamedTuple):
    """One cell of the grading plan."""
    kind: str  # "solution", "test", "code" (given), "extra" (the student's own), "answer" or "markdown"
    gid: str  # the nbgrader grade id; None for the student's own cells
    code: str  # what runs (or, for an answer, the student's text)
    meta: dict  # the source cell's metadata


def build_plan(nb, source):
    """The cells to run, in order: source cells with the student's solutions, plus the student's own
    extra cells; and notes for the instructor about cells that were edited, deleted or unlabelled."""
    source_ids = {meta(c).get("grade_id") for c in source.cells} - {None}
    by_id, unlabelled = _student_cells(nb, source_ids)
    notes, used = [], set()
    plan = [_step(cell, by_id, unlabelled, used, notes) for cell in source.cells]
    return _with_extras(plan, nb, source_ids, unlabelled, used, notes), notes


def _student_cells(nb, source_ids):
    """The student's cells by grade id (the first of each; a test cell's former id read as the id it
    became), and their unlabelled code cells."""
    by_id, unlabelled = {}, []
    for cell in nb.cells:
        gid = current_id(meta(cell).get("grade_id"), source_ids)
        if gid:
            by_id.setdefault(gid, cell)
        elif cell.cell_type == "code" and cell.source.strip():
            unlabelled.append(cell)
    return by_id, unlabelled


def _step(cell, by_id, unlabelled, used, notes):
    """The plan's step for one source cell: the student's version of a solution or answer, the instructor's
    own code and text for everything else (with a note where the student changed or deleted it)."""
    m = meta(cell)
    gid = m.get("grade_id")
    if cell.cell_type == "markdown":
        if m.get("solution"):
            mine = by_id.get(gid)
            return Step("answer", gid, mine.source if mine is not None else "", cell.metadata)
        return Step("markdown", gid, cell.source, cell.metadata)
    if m.get("solution"):
        mine = by_id.get(gid) or _by_definitions(cell, gid, unlabelled, used, notes)
        if mine is None:
            notes.append(f"solution cell {gid!r} is missing")
        return Step("solution", gid, mine.source if mine is not None else "", cell.metadata)
    mine = by_id.get(gid) if gid else None
    what = "test" if m.get("grade") else "locked"
    if gid and m.get("locked") and mine is None:
        notes.append(f"{what} cell {gid!r} was deleted; the original was run")
    elif mine is not None and (m.get("locked") or m.get("grade")) and _released(mine.source) != _released(cell.source):
        notes.append(f"{what} cell {gid!r} was edited; the original was run")
    return Step("test" if m.get("grade") else "code", gid, cell.source, cell.metadata)


def _by_definitions(cell, gid, unlabelled, used, notes):
    """A solution cell copied without its metadata: the student's unlabelled cell that defines the same
    functions, or None."""
    wanted = _defined(cell.source)
    for i, extra in enumerate(unlabelled):
        if wanted and wanted <= _defined(extra.source) and i not in used:
            used.add(i)
            notes.append(f"solution cell {gid!r} had lost its nbgrader metadata; "
                         f"it was found by the function it defines ({', '.join(sorted(wanted))})")
            return extra
    return None


def _with_extras(plan, nb, source_ids, unlabelled, used, notes):
    """The plan with the student's own extra cells where they stand in the student's notebook: after the
    labelled cell (solution, test, given code or text) they follow; before any, first; after a cell the
    assignment does not have, last, with a note."""
    extras, last = {}, None
    for cell in nb.cells:
        gid = current_id(meta(cell).get("grade_id"), source_ids)
        if gid:
            last = gid
        elif cell.cell_type == "code" and cell.source.strip() and not any(cell is unlabelled[i] for i in used):
            extras.setdefault(last, []).append(cell.source)
    out = [Step("extra", None, code, {}) for code in extras.pop(None, [])]
    for step in plan:
        out.append(step)
        out += [Step("extra", None, code, {}) for code in (extras.pop(step.gid, []) if step.gid else [])]
    for gid, codes in extras.items():
        notes.append(f"{len(codes)} cell(s) of the student's own followed cell {gid!r}, which is not part of the "
                     "assignment; they were run at the end")
        out += [Step("extra", None, code, {}) for code in codes]
    return out


def _released(code):
    """A cell's code as the release shows it (hidden tests removed), for comparison."""
    return [line.rstrip() for line in HIDDEN.sub("", code).splitlines() if line.strip()]


def scan(plan):
    """A second opinion for the instructor, read from the text of the student's own code (solution and extra
    cells); the box's audit hook reports what the code did."""
    flags = []
    for kind, gid, code, _ in plan:
        if kind not in ("solution", "extra"):
            continue
        for pattern, what in SUSPICIOUS:
            if re.search(pattern, code):
                flags.append(f"{'cell ' + repr(gid) if gid else 'an extra cell'} {what} (read from its text)")
    return flags


# ------------------------------------------------------------------------------------- results


class Malformed(ValueError):
    """A result from the sandbox that is not what the harness writes."""


def decode(obj, depth=0):
    """Plain data from the sandbox's JSON, refusing anything the harness would not have written."""
    if depth > 8:
        raise Malformed("nested too deeply")
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj
    if isinstance(obj, list):
        return [decode(v, depth + 1) for v in obj]
    if isinstance(obj, dict):
        if "__nd__" in obj:
            dtype = {"<f8": np.float64, "<i8": np.int64, "|b1": np.bool_}.get(obj.get("__nd__"))
            shape = obj.get("shape")
            if dtype is None or not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
                raise Malformed("an array with a bad type or shape")
            raw = base64.b64decode(str(obj.get("data", "")), validate=True)
            if len(raw) != math.prod(shape) * np.dtype(dtype).itemsize:
                raise Malformed("an array whose size does not match its shape")
            return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        if "__float__" in obj:
            if obj["__float__"] not in ("nan", "inf", "-inf"):
                raise Malformed("a bad number")
            return float(obj["__float__"])
        return {str(k): decode(v, depth + 1) for k, v in obj.items()}
    raise Malformed(f"a value of type {type(obj).__name__}")


def decode_results(raw, n_cases):
    if not isinstance(raw, list) or len(raw) != n_cases:
        raise Malformed(f"expected results for {n_cases} cases")
    out = []
    for r in raw:
        if not isinstance(r, dict):
            raise Malformed("a result that is not a record")
        if "error" in r:
            out.append({"error": str(r["error"])[:2000]})
        elif "outputs" in r:
            changed = r.get("inputs_changed", [])
            if not isinstance(changed, list):
                raise Malformed("a bad list of changed inputs")
            out.append({"outputs": decode(r["outputs"]), "inputs_changed": [int(i) for i in changed]})
            if "calls" in r:
                out[-1]["calls"] = _calls(r["calls"])
        else:
            raise Malformed("a result with neither outputs nor an error")
    return out


def _calls(calls, limit=CALLS_KEPT, longest=PREFIX_KEPT):
    """A search's log of the prefixes it asked its model for (harness.logged), checked: plain token ids."""
    if not (isinstance(calls, list) and len(calls) <= limit and all(
            isinstance(c, list) and len(c) <= longest and all(type(v) is int for v in c) for c in calls)):
        raise Malformed("a bad log of model calls")
    return calls


# ------------------------------------------------------------------------------------- the channel


class CheckChannel:
    """What a test cell's kernel may send the grader: one outstanding request at a time, for each of the
    cell's hidden checks once (its cases), then that check's results, once, within a size cap derived from
    the reference's result on the same cases. Anything else is a Violation, which ends the box."""

    def __init__(self, names, student, limits, earlier=None):
        self.names, self.student, self.limits, self.earlier = (list(names), student, limits,
                                                                earlier if earlier is not None else {})
        self.asked, self.recorded, self.outstanding, self.cap = set(), {}, None, 0

    def limit(self):
        return self.limits.message_bytes + (self.cap if self.outstanding else 0)

    def handle(self, frame):
        kind, name = frame.get("type"), str(frame.get("name"))[:80]
        if kind == "cases":
            if self.outstanding is not None:
                raise Violation(f"a request for the cases of {name!r} while those of {self.outstanding!r} were "
                                "still out")
            if name not in self.names or name in self.asked:
                raise Violation(f"a request for the hidden cases of {name!r}, which this cell checks "
                                f"{'once only' if name in self.asked else 'not at all'}")
            wants = expected_results(name, self.student)[1]
            cases = cases_for(name, self.student, self.earlier)
            self.asked.add(name)
            self.outstanding = name
            size = len(json.dumps(sandbox_channel.encode([w.get("outputs") for w in wants]), allow_nan=False))
            self.cap = 8 * size + len(cases) * 4096 + 65536
            return {"type": "cases", "data": base64.b64encode(pickle.dumps([dict(c) for c in cases])).decode()}
        if kind == "results":
            if name != self.outstanding:
                why = "already judged" if name in self.recorded else "not asked for"
                raise Violation(f"results for {name!r}, whose cases were {why}")
            self.recorded[name], self.outstanding = frame.get("results"), None
            return None
        raise Violation(f"a message of type {str(kind)[:40]!r} during a hidden check")


# ------------------------------------------------------------------------------------- the job


def grade_submission(data, source_json, student, assignment, files=None, filename=None, limits=None,
                     unsafe=False, forbidden=(), others=None):
    """
    Grade one submission.

    Inputs:
    - data: the submitted notebook's bytes
    - source_json: the assignment's source notebook (with solutions and hidden tests), as JSON text
    - student, assignment: ids; the student's id seeds the hidden cases
    - files: {name: bytes} the release ships beside the notebook (gradcheck.py), put in the box
    - filename: the file's name, for messages
    - limits: sandbox Limits
    - unsafe: run without a box (the instructor asked for it by name)
    - forbidden: host paths the box must not see (the repository, the course folder); the box proves it
    - others: {assignment: [grade ids]} of the course's other assignments, to recognise a wrong one

    Returns a JobResult. Raises IsolationError when no safe box can be had (nothing is graded then).
    """
    start = time.monotonic()
    limits = limits or Limits()
    filename = filename or f"{assignment}.ipynb"
    source = nbformat.reads(source_json, as_version=4)
    result = JobResult(student, assignment, hashlib.sha256(data).hexdigest())
    cells = graded_cells(source)
    result.scores = {gid: [0.0, pts] for gid, pts, _ in cells}
    try:
        nb, notes = read_notebook(data, filename)
        result.problems += notes
        wrong = identify(nb, source, others or {})
        if wrong:
            raise BadSubmission(f"{filename} is the notebook of assignment {wrong!r}, not {assignment!r}")
        plan, notes = build_plan(nb, source)
    except BadSubmission as exc:
        result.problems.append(str(exc))
        result.messages = {gid: f"Not graded: {exc}." for gid, _, _ in cells}
        result.seconds = time.monotonic() - start
        return result
    result.flags += notes + scan(plan)
    runs, recorded = run_plan(plan, student, limits, unsafe, forbidden, result, files or {})
    judge_cells(source, plan, runs, recorded, student, result)
    result.notebook = nbformat.writes(graded_notebook(source, plan, runs, result))
    result.seconds = time.monotonic() - start
    return result


def checks_of(code):
    """The names of the hidden checks a test cell's code runs."""
    return CHECK_CALL.findall("\n".join(HIDDEN.findall(code)))


def run_plan(plan, student, limits, unsafe, forbidden, result, files):
    """Run the plan's code cells in a box. Returns ({plan index: CellRun}, {(plan index, check): Verdict}).

    Each test cell's checks are judged as soon as the cell has run, so that a later check knows which of the
    student's functions failed theirs (judge.cases_for)."""
    runs, recorded = {}, {}
    deadline = time.monotonic() + limits.notebook_seconds
    code_steps = [i for i, step in enumerate(plan) if step.kind not in ("answer", "markdown")]
    with contextlib.ExitStack() as stack:
        try:
            box = stack.enter_context(Sandbox(files, limits, unsafe=unsafe, forbidden=forbidden))
        except IsolationError:
            raise
        except SandboxError as exc:
            result.problems.append(f"the sandbox failed to start: {exc}")
            return {i: CellRun("skipped", error={"ename": "SandboxError", "evalue": str(exc), "traceback": ""})
                    for i in code_steps}, recorded
        result.protections = asdict(box.protections)
        _run_cells(box, plan, code_steps, student, limits, deadline, result, runs, recorded)
    result.flags += audit_flags(plan, box.audit)  # what the box saw, read once it is closed
    for i in code_steps:
        runs.setdefault(i, CellRun("skipped", error={"ename": "NotRun", "evalue": "not run", "traceback": ""}))
    return runs, recorded


def _run_cells(box, plan, code_steps, student, limits, deadline, result, runs, recorded):
    """Run the code steps in order until the notebook's time limit, judging each test cell's checks as soon
    as it has run; after a cell that times out, dies or breaks a rule, a fresh kernel replays the rest."""
    earlier = {}
    for i in code_steps:
        kind, gid, code, _ = plan[i]
        if time.monotonic() >= deadline:
            runs[i] = CellRun("skipped", error={"ename": "NotebookTimeout", "traceback": "", "evalue":
                                                "not run: the notebook's time limit of "
                                                f"{limits.notebook_seconds:.0f} s was reached"})
            continue
        channel = CheckChannel(checks_of(code), student, limits, earlier) if kind == "test" else None
        run = box.run(code, deadline, cell=i, channel=channel)
        runs[i] = run
        if channel is not None:
            for name, raw in channel.recorded.items():
                recorded[i, name] = judged(name, raw, student, earlier)
                earlier[name] = recorded[i, name].passed
        if run.dropped:
            result.flags.append(f"{_where(kind, gid)} printed {run.dropped} characters more than are kept")
        if run.status in ("timeout", "died", "violation"):
            result.flags.append(f"{_where(kind, gid)}: {run.error['evalue']}; a fresh kernel ran the rest")
            if not restart_and_replay(box, plan, runs, i, deadline):
                result.flags.append("the kernel could not be restarted; the remaining cells were not run")
                return


def audit_flags(plan, events):
    """Flags from what the box's audit hook saw the student's code do: one line per cell and kind of
    action, with its first few instances."""
    grouped = {}
    for cell, what in events:
        step = plan[cell] if isinstance(cell, int) and 0 <= cell < len(plan) else None
        if step is not None and step.kind not in ("solution", "extra"):
            continue  # the instructor's own cells
        kind, _, detail = what.partition(" (")
        details = grouped.setdefault((_where(step.kind, step.gid) if step else "a cell", kind), [])
        if detail and len(grouped) <= 100:
            details.append(detail[:-1] if detail.endswith(")") else detail)
    flags = []
    for (where, kind), details in grouped.items():
        shown = [d for d in dict.fromkeys(details) if d != "more"][:5]
        more = "; and more" if "more" in details else ""
        flags.append(f"{where} {kind}" + (f" ({'; '.join(shown)}{more})" if shown else ""))
    return flags


def restart_and_replay(box, plan, runs, failed, deadline):
    """A fresh kernel, with the code cells that had run well before `failed` run again (test cells aside)."""
    try:
        box.start()
    except SandboxError:
        return False
    for j in sorted(runs):
        if j < failed and plan[j].kind in ("code", "solution", "extra") and runs[j].status == "ok":
            replay = box.run(plan[j].code, deadline, cell=j)
            if replay.status in ("timeout", "died", "violation"):
                try:
                    box.start()
                except SandboxError:
                    return False
    return True


def _where(kind, gid):
    return f"cell {gid!r}" if gid else f"an {kind} cell"


def judged(name, raw, student, earlier):
    """The Verdict on a check's results as the box sent them."""
    try:
        return evaluate(name, decode_results(raw, len(expected_results(name, student)[0])), student, earlier)
    except Malformed as exc:
        return Verdict(False, f"{name}: the results were malformed ({exc}); graded zero.")


def judge_cells(source, plan, runs, recorded, student, result):
    """Scores and messages of the graded cells, from the recorded results and the cells' runs."""
    index_of = {step.gid: i for i, step in enumerate(plan) if step.gid}
    for gid, points, kind in graded_cells(source):
        i = index_of.get(gid)
        if kind == "manual":
            answer = plan[i].code if i is not None else ""
            if not answer.strip() or answer.strip() == UNANSWERED:
                result.scores[gid] = [0.0, points]
                result.messages[gid] = "No answer was given."
            else:
                result.scores[gid] = [None, points]
                result.messages[gid] = "Your instructor grades this answer."
            continue
        names = checks_of(plan[i].code) if i is not None else []
        verdicts = []
        for name in names:
            verdict = recorded.get((i, name))
            if verdict is None:
                run = runs.get(i)
                why = (f"{run.error['ename']}: {run.error['evalue']}" if run is not None and run.error
                       else "the check did not run")
                verdicts.append(Verdict(False, f"{name}: no result was recorded ({why})."))
                continue
            verdicts.append(verdict)
        ok = bool(verdicts) and all(v.passed for v in verdicts)
        result.scores[gid] = [points if ok else 0.0, points]
        result.messages[gid] = "\n".join(v.message for v in verdicts) or "This cell has no hidden check."


def graded_notebook(source, plan, runs, result):
    """The notebook as graded: the cells that ran, with their outputs and the grader's verdicts."""
    nb = nbformat.v4.new_notebook(metadata=source.metadata)
    for i, (kind, gid, code, md) in enumerate(plan):
        if kind == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(code, metadata=md))
        elif kind == "answer":
            nb.cells.append(nbformat.v4.new_markdown_cell(code or UNANSWERED, metadata=md))
        else:
            cell = nbformat.v4.new_code_cell(code, metadata=md)
            cell.outputs = _outputs(runs.get(i), result.messages.get(gid) if kind == "test" else None)
            nb.cells.append(cell)
    return nb


def _outputs(run, verdict):
    outputs = []
    if run is not None:
        if run.stdout:
            outputs.append(nbformat.v4.new_output("stream", name="stdout", text=run.stdout))
        if run.stderr:
            outputs.append(nbformat.v4.new_output("stream", name="stderr", text=run.stderr))
        if run.dropped:
            outputs.append(nbformat.v4.new_output("stream", name="stdout",
                                                  text=f"\n[{run.dropped} more characters of output were not kept]\n"))
        if run.error:
            outputs.append(nbformat.v4.new_output("error", ename=run.error.get("ename", "Error"),
                                                  evalue=run.error.get("evalue", ""),
                                                  traceback=[run.error.get("traceback", "")]))
    if verdict:
        outputs.append(nbformat.v4.new_output("stream", name="stdout", text=f"\nGrader: {verdict}\n"))
    return outputs
