"""How many wrong programs the hidden checks catch, and how many get feedback that says where the bug is.

Run: .venv/bin/python bench/mutation_analysis.py [--assignments rnn bptt] [--ids 20] [--equivalence-ids 40]

For every graded function of an assignment (its solution cell in sources/<a>.py), an AST mutator
makes every single-edit variant: an arithmetic, comparison or augmented-assignment operator swapped, a
number changed, a unary minus or a `.T` dropped, a keyword argument dropped, two returned values
swapped, one statement of a body deleted. Each variant replaces the reference in a notebook namespace
where every other function is the reference (later functions that call it see the variant, as they
would a student's), and the assignment's hidden checks run in this process (no sandbox: speed).

- A variant that passes every check on `--equivalence-ids` students (several hundred inputs) computes
  what the reference computes on valid inputs: it is dropped as equivalent.
- The rest are graded on `--ids` other students: killed on every id, killed on some (the verdict then
  depends on the student's id, which must never happen), or surviving (each printed with its diff).
- Localised: the share of killed variants whose feedback names a step, an output or block, a rule or
  the line that raised (a "Where:", "By block:", step or "Likely cause:" line, or "[in f, line n"), not
  only numbers.

Targets: at least 99.5% killed on every id, none id-dependent, at least 90% localised.
"""
import argparse
import ast
import contextlib
import difflib
import io
import multiprocessing
import re
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import harness  # noqa: E402
from autograder.grading import HIDDEN  # noqa: E402
from autograder.judge import compare, evaluate, expected_results, get_spec, run_case  # noqa: E402
from autograder.notebooks import assignments, parse_source, paste_cells, source_path  # noqa: E402
from solutions import gradcheck  # noqa: E402

sys.modules["gradcheck"] = gradcheck  # what each release ships beside the notebook
try:  # torch's thread pool, once started, does not survive the fork into the workers: keep it to one thread
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover  (numpy-only assignments)
    pass

LOCALISED = re.compile(r"^(Where\b|By block:|Likely cause:)|\bsteps?\b|\[in \w+, line \d+", re.M)
SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.MatMult: ast.Mult,
         ast.Pow: ast.Mult, ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv,
         ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
         ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.And: ast.Or, ast.Or: ast.And}


# ------------------------------------------------------------------------------------------- mutants


def sites(tree):
    """Every place a single edit can be made, as (node path, kind)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in SWAPS:
            found.append((node, "op"))
        if isinstance(node, ast.AugAssign):
            found.append((node, "augassign"))
        if isinstance(node, ast.BoolOp) and type(node.op) in SWAPS:
            found.append((node, "op"))
        if isinstance(node, ast.Compare) and type(node.ops[0]) in SWAPS:
            found.append((node, "cmp"))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            found.append((node, "neg"))
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            found += [(node, "plus1"), (node, "zero")]
        if isinstance(node, ast.Attribute) and node.attr == "T":
            found.append((node, "transpose"))
        if isinstance(node, ast.Call):
            found += [(node, ("kw", i)) for i in range(len(node.keywords))]
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple) and len(node.value.elts) > 1:
            found += [(node, ("swap", i)) for i in range(len(node.value.elts) - 1)]
        for field in ("body", "orelse"):
            body = getattr(node, field, None)
            if isinstance(body, list) and not isinstance(node, ast.Module):
                found += [(node, ("delete", field, i)) for i, stmt in enumerate(body)
                          if len(body) > 1 and not isinstance(stmt, (ast.Return, ast.FunctionDef))
                          and not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))]
    return found


class _Replace(ast.NodeTransformer):
    def __init__(self, target, kind):
        self.target, self.kind = target, kind

    def visit(self, node):
        node = self.generic_visit(node)
        if node is not self.target:
            return node
        kind = self.kind
        if kind == "op":
            node.op = SWAPS[type(node.op)]()
        elif kind == "augassign":
            return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)
        elif kind == "cmp":
            node.ops = [SWAPS[type(node.ops[0])](), *node.ops[1:]]
        elif kind == "neg":
            return node.operand
        elif kind == "plus1":
            node.value = node.value + 1
        elif kind == "zero":
            node.value = 1 if node.value == 0 else 0
        elif kind == "transpose":
            return node.value
        elif kind[0] == "kw":
            node.keywords = [k for i, k in enumerate(node.keywords) if i != kind[1]]
        elif kind[0] == "swap":
            elts = node.value.elts
            elts[kind[1]], elts[kind[1] + 1] = elts[kind[1] + 1], elts[kind[1]]
        elif kind[0] == "delete":
            body = getattr(node, kind[1])
            del body[kind[2]]
        return node


def mutants(code):
    """(description, mutated source) of every single-edit variant of a solution cell's code."""
    tree = ast.parse(code)
    out, seen = [], {ast.unparse(tree)}
    for i, (node, kind) in enumerate(sites(tree)):
        fresh = ast.parse(code)
        target = sites(fresh)[i][0]
        try:
            mutated = ast.unparse(ast.fix_missing_locations(_Replace(target, kind).visit(fresh)))
        except Exception:  # noqa: BLE001  an edit that makes no valid program
            continue
        if mutated not in seen:
            seen.add(mutated)
            out.append((f"{kind} at line {getattr(node, 'lineno', '?')}", mutated))
    return out


# ------------------------------------------------------------------------------------------- grading


def load(assignment):
    """([(kind, id, code)] of the code cells in notebook order, {solution id: code}, [(test id, hidden code)])."""
    cells, solutions, tests = [], {}, []
    for cell_type, source, meta in parse_source(source_path(assignment)):
        nb = meta.get("nbgrader", {})
        if cell_type != "code":
            continue
        if nb.get("solution"):
            solutions[nb["grade_id"]] = source
            cells.append(("solution", nb["grade_id"], source))
        elif nb.get("grade"):
            tests.append((nb["grade_id"], "\n".join(HIDDEN.findall(source))))
        else:
            cells.append(("code", nb.get("grade_id"), source))
    return cells, solutions, tests


def checks_in(cells, solutions, tests, replace=None):
    """[(test id, check name, fn, helpers)] bound to a namespace where the code cells ran in order, with the
    reference solutions and one of them replaced. A solution cell that raises raises; any other cell that
    raises is passed over, as a notebook run goes on past it."""
    ns = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()):
        _run_cells(ns, cells, replace)
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
    found, real = [], harness.check
    try:
        for test, code in tests:
            harness.check = lambda name, fn, _t=test, **helpers: found.append((_t, name, fn, helpers))
            exec(compile(code, f"<{test}>", "exec"), ns)
    finally:
        harness.check = real
    return found


def _run_cells(ns, cells, replace):
    for kind, gid, code in cells:
        if kind == "solution":
            exec(compile(replace[1] if replace and replace[0] == gid else code, f"<{gid}>", "exec"), ns)
            continue
        try:
            exec(compile(code, f"<{gid}>", "exec"), ns)
        except Exception:  # noqa: BLE001
            pass


class VariantTimeout(BaseException):
    """A variant ran past its time limit."""


EXPECTED = {}


def expected(name, student):
    """The hidden cases and the reference's results, computed once (before the workers fork)."""
    if (name, student) not in EXPECTED:
        EXPECTED[name, student] = expected_results(name, student)
    return EXPECTED[name, student]


def passes(name, fn, helpers, student):
    s = get_spec(name)
    cases, wants = expected(name, student)
    for case, want in zip(cases, wants):
        got = run_case(case, fn, helpers)
        if "outputs" not in got or got.get("inputs_changed"):
            return False
        if compare(got["outputs"], want["outputs"], "out", s.tolerance):
            return False
    return True


def judge_variant(args):
    """One variant: "equivalent", or (killed ids, a feedback message) over the grading ids."""
    cells, solutions, tests, gid, code, eq_ids, ids = args

    def too_long(*_):
        raise VariantTimeout()  # not an Exception: the harness, which catches those, lets it through

    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(60)  # a variant that loops forever is stopped by the cell limit in real grading
    try:
        try:
            checks = checks_in(cells, solutions, tests, (gid, code))
        except Exception as exc:  # noqa: BLE001  the variant's cell raises: every id fails, with its traceback
            return ids, f"the cell raises when it is run: {type(exc).__name__}{harness._line_of(exc)}"
        if all(passes(name, fn, helpers, f"eq{i}") for i in range(eq_ids) for _, name, fn, helpers in checks):
            return "equivalent"
        killed, message = [], None
        for student in ids:
            failed = [(n, fn, h) for _, n, fn, h in checks if not passes(n, fn, h, student)]
            if failed:
                killed.append(student)
                if message is None:
                    name, fn, helpers = failed[0]
                    results = [run_case(c, fn, helpers) for c in expected(name, student)[0]]
                    message = evaluate(name, results, student).message
        return killed, message
    except VariantTimeout:
        return ids, "the variant ran past its time limit"
    finally:
        signal.alarm(0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignments", nargs="*", default=None)
    parser.add_argument("--ids", type=int, default=20)
    parser.add_argument("--equivalence-ids", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    names = args.assignments or assignments()
    ids = [f"student{i:02d}" for i in range(args.ids)]
    totals = {"variants": 0, "equivalent": 0, "every": 0, "some": 0, "survivors": 0, "localised": 0}
    ctx = multiprocessing.get_context("fork")
    for assignment in names:
        start = time.perf_counter()
        cells, solutions, tests = load(assignment)
        for _, name, _, _ in checks_in(cells, solutions, tests):
            for student in [f"eq{i}" for i in range(args.equivalence_ids)] + ids:
                expected(name, student)
        jobs, labels = [], []
        for gid, code in solutions.items():
            if gid in paste_cells(assignment):
                continue  # the student's functions of an earlier assignment, graded there

            for what, mutated in mutants(code):
                jobs.append((cells, solutions, tests, gid, mutated, args.equivalence_ids, ids))
                labels.append((gid, what, ast.unparse(ast.parse(code)), mutated))
        with ctx.Pool(args.workers, maxtasksperchild=20) as pool:
            outcomes = pool.map(judge_variant, jobs, chunksize=1)
        counts = dict.fromkeys(totals, 0)
        survivors, some, unlocalised = [], [], []
        for (gid, what, code, mutated), outcome in zip(labels, outcomes):
            counts["variants"] += 1
            if outcome == "equivalent":
                counts["equivalent"] += 1
                continue
            killed, message = outcome
            if len(killed) == len(ids):
                counts["every"] += 1
            elif killed:
                counts["some"] += 1
                some.append((gid, what, len(killed), code, mutated))
            else:
                counts["survivors"] += 1
                survivors.append((gid, what, 0, code, mutated))
            if killed and message and LOCALISED.search(message):
                counts["localised"] += 1
            elif killed:
                unlocalised.append((gid, what, message.splitlines()[0][:150] if message else ""))
        for k in totals:
            totals[k] += counts[k]
        report(assignment, counts, survivors, some, unlocalised, time.perf_counter() - start, len(ids))
    print("\nall assignments")
    report("total", totals, [], [], [], 0, len(ids), brief=True)


def report(name, c, survivors, some, unlocalised, seconds, n_ids, brief=False):
    graded = c["variants"] - c["equivalent"]
    killed = c["every"] + c["some"]

    def pct(a, b):
        return f"{100 * a / b:.1f}%" if b else "n/a"

    print(f"\n{name}: {c['variants']} variants, {c['equivalent']} equivalent, {graded} graded"
          + (f" in {seconds:.0f} s" if seconds else ""))
    print(f"  killed on every id: {c['every']} ({pct(c['every'], graded)}); on some ids only: {c['some']}; "
          f"survivors: {c['survivors']}; localised feedback: {c['localised']} of {killed} "
          f"({pct(c['localised'], killed)})")
    if brief:
        return
    for gid, what, k, code, mutated in some + survivors:
        diff = [line for line in difflib.unified_diff(code.splitlines(), mutated.splitlines(), lineterm="", n=0)
                if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))]
        print(f"  {'survivor' if not k else f'killed on {k} of {n_ids} ids'}: {gid}, {what}: {' | '.join(diff)[:200]}")
    for gid, what, first in unlocalised[:10]:
        print(f"  not localised: {gid}, {what}: {first}")


if __name__ == "__main__":
    main()
