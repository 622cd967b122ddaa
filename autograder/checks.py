"""The in-process grading backend: hidden cases and judgement in the notebook's own kernel.

Used when a course runs stock `nbgrader autograde`; the sandboxed grader (`python -m autograder
grade`) keeps the judge in a separate trusted process instead. The student's id, which seeds the
hidden cases, is read from the folder nbgrader grades in: .../autograded/<student>/<assignment>/.
"""
import os
from pathlib import Path

from autograder.judge import cases_for, evaluate, get_spec, given_references


def current_student():
    """The student whose notebook this kernel runs, from the grading folder; 'instructor' elsewhere."""
    if os.environ.get("AUTOGRADER_STUDENT"):
        return os.environ["AUTOGRADER_STUDENT"]
    parts = Path.cwd().parts
    for marker in ("autograded", "submitted"):
        if marker in parts and parts.index(marker) + 1 < len(parts):
            return parts[parts.index(marker) + 1]
    return "instructor"


def cases(name):
    return cases_for(name, current_student(), EARLIER)


EARLIER = {}  # check name -> passed, for this kernel's student: see judge.evaluate


def judge(name, results, namespace=None):
    verdict = evaluate(name, results, current_student(), EARLIER)
    EARLIER[name] = verdict.passed
    spec = get_spec(name)
    if not verdict.passed and spec.stock is not None and isinstance(namespace, dict):
        # Here the reference is in the kernel anyway: a function that failed its check gives way to the
        # reference for the rest of the notebook, so that the functions calling it, and their visible tests,
        # are judged on their own (the sandboxed grader does this with the reference's values instead).
        namespace[spec.function] = spec.stock
    if isinstance(namespace, dict):
        # The same for the functions of earlier assignments that the student pasted in (or did not): a test
        # cell passes or fails on this assignment's functions alone, as in the sandboxed grader.
        namespace.update(given_references(name))
    if not verdict.passed:
        raise AssertionError(verdict.message)
    print(verdict.message)

