"""Time grading a class: stock `nbgrader autograde` against `python -m autograder grade` on 1 and 2 workers.

Run: .venv/bin/python bench/grading_speed.py [--students 40] [--assignment bptt]
Makes a course folder in a temporary directory, releases one assignment, and submits synthetic
notebooks (a third right, a third with one wrong function, a third untouched). Then it grades them all
three ways, checks that the three agree on every score, and prints the throughput of each and the
speed-up of the sandboxed grader over stock nbgrader (target on two cores: at least 10 times with
two workers; stock nbgrader runs each notebook in a Jupyter kernel of its own, with no box).
"""
import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from autograder import commands
from autograder import course as C
from autograder.coordinator import grade_all


def make_class(course, name, n):
    source = nbformat.read(course / "source" / name / f"{name}.ipynb", as_version=4)
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    first = next(iter(solutions))
    for i in range(n):
        nb = nbformat.read(course / "release" / name / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in solutions and i % 3 != 2 and not (i % 3 == 1 and gid == first):
                cell.source = solutions[gid]
        C.submit(course, f"student{i:03d}", name, nb)


def gradebook_scores(course, name, students):
    return {s: {k: v[0] for k, v in C.scores(course, name, s).items()} for s in students}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--assignment", default="bptt")
    args = parser.parse_args()
    name, n = args.assignment, args.students
    students = [f"student{i:03d}" for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp) / "course"
        commands.release(course=course, names=[name], log=lambda *_: None)
        make_class(course, name, n)
        start = time.perf_counter()
        stock = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", name, "--force"], cwd=course,
                               capture_output=True, text=True)
        t_stock = time.perf_counter() - start
        if stock.returncode != 0:
            sys.exit(f"stock nbgrader autograde failed:\n{stock.stderr[-3000:]}")
        want = gradebook_scores(course, name, students)
        times = {}
        for workers in (1, 2):
            start = time.perf_counter()
            summary = grade_all(course, name, workers=workers, force=True, progress=False)
            times[workers] = time.perf_counter() - start
            assert len(summary.graded) == n
            got = gradebook_scores(course, name, students)
            assert got == want, "the sandboxed grader and stock nbgrader disagree"
    print(f"{n} submissions of {name!r}; all three graders gave the same scores")
    print(f"{'grader':<34} {'seconds':>8} {'notebooks/s':>12} {'vs stock':>9}")
    print(f"{'stock nbgrader autograde':<34} {t_stock:>8.1f} {n / t_stock:>12.2f} {1.0:>9.2f}")
    for workers, t in times.items():
        print(f"{'autograder grade, ' + str(workers) + ' worker(s)':<34} {t:>8.1f} {n / t:>12.2f} {t_stock / t:>9.2f}")
    print(f"target: 2 workers at least 10 x stock -> {'met' if t_stock / times[2] >= 10 else 'NOT met'}")


if __name__ == "__main__":
    main()
