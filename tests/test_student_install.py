"""A student's set-up, as the README and the book's Assignments page give it, from the zip a student gets."""
import json
import subprocess
import sys
import zipfile

import nbformat

from autograder import commands
from autograder.notebooks import notebook_path

INSTRUCTOR_ONLY = ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                   "@jupyter/nbgrader:course-list", "@jupyter/nbgrader:assignment-list"]
SERVER_ONLY = ["nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.assignment_list",
               "nbgrader.server_extensions.course_list"]


def run(*args, cwd):
    done = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout + done.stderr


def test_a_student_installs_from_the_zip_validates_and_sees_no_instructor_tools(tmp_path):
    zipped = commands.student_files(out=tmp_path, names=["rnn"], log=lambda *_: None)[0]
    with zipfile.ZipFile(zipped) as zf:
        zf.extractall(tmp_path)
    folder = tmp_path / "rnn"
    run(sys.executable, "-m", "venv", ".venv", cwd=folder)
    bin_ = folder / ".venv" / "bin"
    run(str(bin_ / "pip"), "install", "-q", "-r", "requirements-student.txt", cwd=folder)
    size = sum(p.stat().st_size for p in (folder / ".venv").rglob("*") if p.is_file() and not p.is_symlink())
    print(f"the rnn environment takes {size / 2**20:.0f} MiB")
    assert size < 800 * 2**20  # a numpy-only assignment brings no torch
    assert run(str(bin_ / "python"), "-c", "import importlib.util as u; print(u.find_spec('torch') is None)",
               cwd=folder).strip() == "True"

    run(str(bin_ / "jupyter"), "labextension", "disable", "--level=sys_prefix", *INSTRUCTOR_ONLY, cwd=folder)
    run(str(bin_ / "jupyter"), "server", "extension", "disable", "--sys-prefix", *SERVER_ONLY, cwd=folder)
    pages = json.loads((folder / ".venv" / "etc" / "jupyter" / "labconfig" / "page_config.json").read_text())
    assert all(pages["disabledExtensions"].get(name) for name in INSTRUCTOR_ONLY)
    assert "@jupyter/nbgrader:validate-assignment" not in pages["disabledExtensions"]
    listed = run(str(bin_ / "jupyter"), "server", "extension", "list", cwd=folder)
    assert all(f"{name} \x1b[31mdisabled" in listed or f"{name} disabled" in listed for name in SERVER_ONLY), listed

    blank = run(str(bin_ / "nbgrader"), "validate", "rnn.ipynb", cwd=folder)
    assert "NotImplementedError" in blank or "failed" in blank.lower()
    nb = nbformat.read(folder / "rnn.ipynb", as_version=4)
    reference = nbformat.read(notebook_path("rnn"), as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in reference.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    nbformat.write(nb, folder / "rnn.ipynb")
    assert "Success! Your notebook passes all the tests." in run(str(bin_ / "nbgrader"), "validate", "rnn.ipynb",
                                                                 cwd=folder)
