"""The sources in sources/ are jupytext percent files; a marker nbgrader could misread is refused with
the file and line."""
import pytest

from autograder.notebooks import SourceError, parse_source

GOOD = '''# %% [markdown]
# # Title
#
# Text.

# %% setup
import numpy as np

# %% solution: double
def double(x):
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION

# %% test: double_of_numbers points=2.5
"""double: numbers."""
assert double(2) == 4

# %% [markdown] answer: why points=1
# Why?

# %%
scratch = 1
'''


def test_a_source_becomes_cells_with_nbgraders_metadata(tmp_path):
    path = tmp_path / "tiny.py"
    path.write_text(GOOD)
    cells = parse_source(path)
    kinds = [(t, m.get("nbgrader", {}).get("grade_id"), m.get("nbgrader", {}).get("points")) for t, _, m in cells]
    assert kinds == [("markdown", "tiny_markdown_1", None), ("code", "tiny_setup_2", None),
                     ("code", "double", None), ("code", "double_of_numbers", 2.5), ("markdown", "why", 1),
                     ("code", None, None)]
    assert cells[0][1] == "# Title\n\nText."  # markdown comments read back as markdown
    flags = [{k: m["nbgrader"][k] for k in ("grade", "solution", "locked")} for _, _, m in cells[:5]]
    assert flags == [{"grade": False, "solution": False, "locked": True},
                     {"grade": False, "solution": False, "locked": True},
                     {"grade": False, "solution": True, "locked": False},
                     {"grade": True, "solution": False, "locked": True},
                     {"grade": True, "solution": True, "locked": False}]
    assert cells[5][2] == {}  # an ordinary cell: no nbgrader metadata


@pytest.mark.parametrize("bad, line, says", [
    ("# %% solutoin: double", 9, "the kinds are"),
    ("# %% solution", 9, "needs an id"),
    ("# %% test: double_of_numbers", 15, "needs points"),
    ("# %% test: double_of_numbers points=abc", 15, "cannot read"),
    ("# %% test: double_of_numbers points=0", 15, "positive number"),
    ("# %% solution: double points=2", 9, "only answer and test cells"),
    ("# %% test: double_of_numbers pts=2", 15, "cannot read"),
    ("# %% [markdown] answer: why", 19, "needs points"),
    ("# %% answer: why points=1", 19, "an answer cell is markdown"),
    ("# %% [markdown] solution: double", 9, "holds code"),
    ("# %% test: double points=2", 15, "used twice"),
])
def test_a_misread_marker_is_refused_with_file_and_line(tmp_path, bad, line, says):
    lines = GOOD.splitlines()
    lines[line - 1] = bad
    path = tmp_path / "tiny.py"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SourceError, match=rf"tiny\.py:{line}: .*{says}"):
        parse_source(path)


def test_a_solution_cell_without_its_region_is_refused(tmp_path):
    path = tmp_path / "tiny.py"
    path.write_text(GOOD.replace("    ### BEGIN SOLUTION\n", "").replace("    ### END SOLUTION\n", ""))
    with pytest.raises(SourceError, match=r"tiny\.py: solution cell 'double' has no ### BEGIN SOLUTION region"):
        parse_source(path)
