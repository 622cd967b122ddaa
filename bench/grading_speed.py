"""Time grading a class: stock `nbgrader autograde` against `python -m autograder grade` on 1 and 2 workers,
and on a Dask cluster of two worker processes (`grade --scheduler`).

Run: .venv/bin/python bench/grading_speed.py [--students 40] [--assignment bptt] [--no-stock]
Makes a course folder in a temporary directory, releases one assignment, and submits synthetic
notebooks (a third right, a third with one wrong function, a third untouched). Then it grades them
every way, checks that all agree on every score, and prints the throughput of each, the speed-up of the
sandboxed grader over stock nbgrader (target on two cores: at least 10 times with two workers; stock
nbgrader runs each notebook in a Jupyter kernel of its own, with no box), the Dask path against the
local pool (target: at least 0.9 times its throughput with two workers each), and the cost of one
notebook to one worker, from which the time of a whole class follows.
"""
import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder import commands
from autograder import course as C
from autograder.coordinator import grade_all


def gradebook_scores(course, name, students):
    return {s: {k: v[0] for k, v in C.scores(course, name, s).items()} for s in students}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--assignment", default="bptt")
    parser.add_argument("--no-stock", action="store_true", help="skip stock nbgrader (the slowest part)")
    args = parser.parse_args()
    name, n = args.assignment, args.students
    students = [f"student{i:03d}" for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp) / "course"
        commands.release(course=course, names=[name], log=lambda *_: None)
        C.synthetic_class(course, name, n)
        want, t_stock = None, None
        if not args.no_stock:
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
            times[f"autograder grade, {workers} worker(s)"] = time.perf_counter() - start
            assert len(summary.graded) == n
            got = gradebook_scores(course, name, students)
            want = want or got
            assert got == want, "the sandboxed grader and stock nbgrader disagree"
        times["grade --scheduler, 2 Dask workers"] = on_dask(course, name, n)
        assert gradebook_scores(course, name, students) == want, "the Dask path and the local pool disagree"
    t_local, t_dask = times["autograder grade, 2 worker(s)"], times["grade --scheduler, 2 Dask workers"]
    print(f"{n} submissions of {name!r}; every grader gave the same scores")
    print(f"{'grader':<36} {'seconds':>8} {'notebooks/s':>12} {'vs stock':>9}")
    if t_stock:
        print(f"{'stock nbgrader autograde':<36} {t_stock:>8.1f} {n / t_stock:>12.2f} {1.0:>9.2f}")
    for label, t in times.items():
        print(f"{label:<36} {t:>8.1f} {n / t:>12.2f} {t_stock / t if t_stock else float('nan'):>9.2f}")
    if t_stock:
        print(f"target: 2 workers at least 10 x stock -> {'met' if t_stock / t_local >= 10 else 'NOT met'}")
    print(f"target: Dask at least 0.9 x the local pool -> {t_local / t_dask:.2f}, "
          f"{'met' if t_local / t_dask >= 0.9 else 'NOT met'}")
    per = 2 * t_dask / n
    print(f"one notebook costs one worker {per:.2f} s: 10,000 notebooks take one worker {per * 1e4 / 3600:.1f} h")


def on_dask(course, name, n):
    """Seconds to grade the class again on a local Dask cluster of two single-threaded worker processes. As for
    the local pool, whose proof of isolation and imports the earlier runs paid, the cluster's start-up, the
    workers' first imports and their proofs are not counted: a course keeps its cluster between batches."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        grade_all(course, name, force=True, progress=False, scheduler=cluster.scheduler_address,
                  students=["student000", "student001"])  # warms both workers
        start = time.perf_counter()
        summary = grade_all(course, name, force=True, progress=False, scheduler=cluster.scheduler_address)
        assert len(summary.graded) == n and not summary.problems, summary.problems
        return time.perf_counter() - start


if __name__ == "__main__":
    main()
