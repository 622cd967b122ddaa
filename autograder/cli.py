"""Argument parsing for `python -m autograder`: one thin shim per function of autograder.commands.

Each subcommand names its command function and the arguments it takes; defaults and help come from that
function's signature and from here, never from two places. Every command's logic is in commands.py.
"""
import argparse
import inspect
import os
import sys

from autograder import commands


def _default(command, parameter):
    return inspect.signature(command).parameters[parameter].default


def _course(c):
    c.add_argument("--course", default=os.environ.get("RNN_COURSE", "course"),
                   help="the course folder (default: ./course, or $RNN_COURSE)")


def _release(c):
    _course(c)
    c.add_argument("names", nargs="*", metavar="assignment")


def _collect(c):
    _course(c)
    c.add_argument("source")


def _grade(c):
    _course(c)
    c.add_argument("name", metavar="assignment")
    c.add_argument("--workers", type=int, default=None, help="parallel jobs (default: one per core)")
    cell, notebook = _default(commands.grade, "cell_seconds"), _default(commands.grade, "notebook_seconds")
    c.add_argument("--cell-timeout", dest="cell_seconds", metavar="SECONDS", type=float, default=cell,
                   help=f"seconds a cell may run (default {cell:g})")
    c.add_argument("--notebook-timeout", dest="notebook_seconds", metavar="SECONDS", type=float, default=notebook,
                   help=f"seconds a notebook may run (default {notebook:g})")
    c.add_argument("--force", action="store_true", help="grade again submissions already graded")
    c.add_argument("--student", dest="students", metavar="STUDENT", action="append",
                   help="grade only this student (repeatable)")
    c.add_argument("--scheduler", default=None, help="the address of a Dask scheduler (tcp://host:8786) whose "
                   "workers run the jobs (default: $RNN_SCHEDULER; without either, grade here)")
    c.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="grade without the bubblewrap box where none can be had: student code could then read the "
                        "reference and change grades (every report says so); for trusted notebooks only")
    c.set_defaults(progress=sys.stderr.isatty())


def _one_assignment(c):
    _course(c)
    c.add_argument("name", metavar="assignment")


def _export(c):
    _course(c)
    c.add_argument("--out", default=None, help="the CSV file (default: <course>/grades.csv)")


def _report(c):
    _one_assignment(c)
    c.add_argument("--out", default=None, help="the folder (default: <course>/reports/<assignment>)")


def _notebooks(c):
    c.add_argument("--check", action="store_true", help="only say whether every notebook is current")


def _mistakes(c):
    c.add_argument("assignment", nargs="?")


def _student_files(c):
    c.add_argument("--out", required=True)


# subcommand: (its function in commands.py, what it does, its arguments)
COMMANDS = {
    "release": (commands.release, "make the student version of every (or the named) assignment, checked for "
                "leaks", _release),
    "collect": (commands.collect, "copy submissions (a folder or zip; nbgrader layout or "
                "<student>_<assignment>.ipynb) into the course", _collect),
    "grade": (commands.grade, "grade every submission of an assignment in the sandbox, in parallel", _grade),
    "feedback": (commands.feedback, "write nbgrader's HTML feedback for every graded student", _one_assignment),
    "export": (commands.export, "write every grade as CSV", _export),
    "report": (commands.report, "write a score histogram, pass rates per test and an HTML page", _report),
    "notebooks": (commands.notebooks, "regenerate exercises/*/*.ipynb from sources/*.py (or --check that they "
                  "are current)", _notebooks),
    "mistakes": (commands.mistakes, "list the catalogue of known mistakes and the message each produces",
                 _mistakes),
    "student-files": (commands.student_files, "zip the student notebooks (for the book's download links)",
                      _student_files),
}


def build_parser():
    p = argparse.ArgumentParser(prog="python -m autograder", description="Release, collect, grade and report "
                                "on the course's nbgrader assignments.")
    sub = p.add_subparsers(dest="command", required=True)
    for name, (command, help_, arguments) in COMMANDS.items():
        arguments(sub.add_parser(name, help=help_, description=help_))
    return p


def main(argv=None):
    args = vars(build_parser().parse_args(argv))
    command = COMMANDS[args.pop("command")][0]
    try:
        command(**args)
    except (commands.CommandError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
