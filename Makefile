# Two commands set everything up on a fresh machine: `make book` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JOBS ?= 2
# the venv's tools (jupyter-book, nbgrader's alembic) first on the PATH, as if it were activated
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: venv book test browser sandbox bench clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

venv: $(STAMP)

# The student notebooks the book links to, made with nbgrader from exercises/ (only when they change).
NOTEBOOKS := book/notebooks/.made
$(NOTEBOOKS): $(STAMP) $(wildcard exercises/*/*.ipynb) solutions/gradcheck.py exercises/requirements-student.txt exercises/requirements-torch.txt
	rm -rf book/notebooks
	$(BIN)/python -m autograder student-files --out book/notebooks
	touch $@

# The notebook execution cache keys on a chapter's own text and does not notice a change in the
# modules it imports (solutions/, its subpackages and book/*.py): when one changes, the cache and Sphinx's
# record of what it read go, and every chapter runs again.
CACHE_STAMP := _build/.cache-matches-imports
$(CACHE_STAMP): $(wildcard solutions/*.py solutions/*/*.py book/*.py)
	rm -rf _build/.jupyter_cache _build/.doctrees
	mkdir -p _build && touch $@

# Build the HTML book into _build/html (a warning fails the build).
book: $(STAMP) $(NOTEBOOKS) $(CACHE_STAMP)
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going

# Debian's chromium for the browser tests of the built book.
browser:
	command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)

# Debian's bubblewrap, the box every submission is graded in.
sandbox:
	command -v bwrap >/dev/null || (apt-get update -q && apt-get install -y -q bubblewrap)

# Run the whole test suite: builds the book first, since the browser tests read it.
test: book browser sandbox
	$(BIN)/python -m pytest -n $(JOBS) --dist loadgroup tests

bench: $(STAMP) $(NOTEBOOKS) sandbox
	$(BIN)/python bench/bptt_speed.py
	$(BIN)/python bench/search_calls.py
	$(BIN)/python bench/train_seq2seq.py
	$(BIN)/python bench/grading_speed.py
	$(BIN)/python bench/mutation_analysis.py
	$(BIN)/python bench/book_build.py

clean:
	rm -rf _build book/notebooks
