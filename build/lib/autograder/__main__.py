"""`python -m autograder <command>`: the instructor's command line; see `--help`."""
import sys

from autograder.cli import main

sys.exit(main())
