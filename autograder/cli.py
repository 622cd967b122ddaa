"""Argument parsing for `python -m autograder`: one thin shim per function of autograder.commands."""
import argparse
import os
import sys


def build_parser():
    p = argparse.ArgumentParser(prog="python -m autograder", description="Release, collect, grade and report "
                                "on the course's nbgrader assignments.")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name, help_):
        c = sub.add_parser(name, help=help_, description=help_)
        return c

    def course_arg(c):
        c.add_argument("--course", default=os.environ.get("RNN_COURSE", "course"),
                       help="the course folder (default: ./course, or $RNN_COURSE)")

    c = add("release", "make the student version of every (or the named) assignment, checked for leaks")
    course_arg(c)
    c.add_argument("assignments", nargs="*")
    c = add("collect", "copy submissions (a folder or zip; nbgrader layout or <student>_<assignment>.ipynb) into the course")
    course_arg(c)
    c.add_argument("source")
    c = add("grade", "grade every submission of an assignment in the sandbox, in parallel")
    course_arg(c)
    c.add_argument("assignment")
    c.add_argument("--workers", type=int, default=None, help="parallel jobs (default: one per core)")
    c.add_argument("--cell-timeout", type=float, default=60.0, help="seconds a cell may run (default 60)")
    c.add_argument("--notebook-timeout", type=float, default=600.0, help="seconds a notebook may run (default 600)")
    c.add_argument("--force", action="store_true", help="grade again submissions already graded")
    c.add_argument("--student", action="append", help="grade only this student (repeatable)")
    c.add_argument("--scheduler", default=None, help="the address of a Dask scheduler (tcp://host:8786) whose "
                   "workers run the jobs (default: $RNN_SCHEDULER; without either, grade here)")
    c.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="grade without the bubblewrap box where none can be had: student code could then read the "
                        "reference and change grades (every report says so); for trusted notebooks only")
    c = add("feedback", "write nbgrader's HTML feedback for every graded student")
    course_arg(c)
    c.add_argument("assignment")
    c = add("export", "write every grade as CSV")
    course_arg(c)
    c.add_argument("--out", default=None, help="the CSV file (default: <course>/grades.csv)")
    c = add("report", "write a score histogram, pass rates per test and an HTML page")
    course_arg(c)
    c.add_argument("assignment")
    c.add_argument("--out", default=None, help="the folder (default: <course>/reports/<assignment>)")
    c = add("notebooks", "regenerate exercises/*/*.ipynb from sources/*.py (or --check that they are current)")
    c.add_argument("--check", action="store_true")
    c = add("mistakes", "list the catalogue of known mistakes and the message each produces")
    c.add_argument("assignment", nargs="?")
    c = add("student-files", "zip the student notebooks (for the book's download links)")
    c.add_argument("--out", required=True)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    from autograder import commands

    try:
        if args.command == "release":
            commands.release(course=args.course, names=args.assignments)
        elif args.command == "collect":
            commands.collect(course=args.course, source=args.source)
        elif args.command == "grade":
            commands.grade(course=args.course, name=args.assignment, workers=args.workers, force=args.force,
                           cell_seconds=args.cell_timeout, notebook_seconds=args.notebook_timeout,
                           progress=sys.stderr.isatty(), students=args.student,
                           unsafe_no_sandbox=args.unsafe_no_sandbox, scheduler=args.scheduler)
        elif args.command == "feedback":
            commands.feedback(course=args.course, name=args.assignment)
        elif args.command == "export":
            commands.export(course=args.course, out=args.out)
        elif args.command == "report":
            commands.report(course=args.course, name=args.assignment, out=args.out)
        elif args.command == "notebooks":
            from autograder.notebooks import stale_notebooks, write_notebooks

            if args.check:
                stale = stale_notebooks()
                if stale:
                    print(f"stale notebooks (run `python -m autograder notebooks`): {', '.join(stale)}")
                    return 1
                print("every notebook is current")
            else:
                for path in write_notebooks():
                    print(f"wrote {path}")
        elif args.command == "mistakes":
            from autograder.judge import catalogue

            for mid, (message, checks, submission) in sorted(catalogue(args.assignment).items()):
                where = submission[0] if submission else "?"
                print(f"{where:<20} {mid:<36} {', '.join(checks)}\n{'':<20} {message}\n")
        elif args.command == "student-files":
            commands.student_files(out=args.out)
    except (commands.CommandError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
