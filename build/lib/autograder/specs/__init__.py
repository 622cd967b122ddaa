"""Hidden checks, one module per assignment; each registers its checks with autograder.judge.spec."""
