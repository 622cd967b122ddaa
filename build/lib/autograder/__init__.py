"""The instructor's tooling around nbgrader: notebook sources, the grading harness, release and grading.

`python -m autograder <command>`; every command is a thin shim over a function in this package.
"""
