# %% [markdown]
# # Assignment 8: decoding as search
#
# A trained decoder gives, for every prefix of an output, a distribution over the next token; turning
# that into one output sequence is a search. In this assignment you implement the three searches of
# the book's chapter *Search*: greedy search, exhaustive search and beam search, with the course's
# rules for finishing, stopping and length normalization.
#
# **The model.** A model is a function `next_logprobs(prefix)` that takes the tuple of tokens generated
# so far (the empty tuple at the start; there is no start token) and returns a `(V,)` array of the
# log-probabilities of the `V` possible next tokens. One token, `eos`, ends a sequence. Searches add
# log-probabilities: the log-probability of a sequence is the sum of its tokens' log-probabilities,
# each given the tokens before it.
#
# **The result.** Every search returns `Hypothesis` objects (defined in the setup cell) with four fields:
# `tokens`, a tuple that ends with `eos` when the sequence is finished; `logprob`, its log-probability;
# `score`; and `finished`. The score is
#
# $$\text{score} = \frac{\text{logprob}}{\text{len(tokens)}^{\,\alpha}},$$
#
# where $\alpha \geq 0$ is the `length_penalty` and `len(tokens)` counts every token, `eos` included;
# $\alpha = 0$ gives the raw log-probability and $\alpha = 1$ the average per token. The setup cell's
# `length_normalized(logprob, length, length_penalty)` computes it. A sequence may hold at most
# `max_len` tokens, `eos` included; one that reaches `max_len` tokens without `eos` is unfinished.
#
# **Ties.** Whenever two candidates have the same log-probability (or two hypotheses the same score),
# the one whose tokens come first lexicographically wins: `(0, 3)` before `(0, 4)` before `(1,)`.
# Python compares tuples this way, so sorting by a key such as `(-score, tokens)` does it for you.
# With this rule every search has exactly one right answer.
#
# **How to work.** In each function, replace `# YOUR CODE HERE` and the `raise NotImplementedError()` line
# with your code, and leave the rest of the function as it is; then run the test cells below it. The
# visible tests use the lectures' worked example (`slides_example()` in the setup cell) and small models
# you can follow by hand. When you hand in, hidden tests run your functions on other models and, when
# something is wrong, say which hypothesis differs and, where they recognise it, which mistake explains
# it. Run every test with `nbgrader validate search.ipynb` before you submit. Use plain Python and numpy.

# %% setup
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Hypothesis:
    """A decoded sequence: its tokens (ending with eos when finished), log-probability and score."""

    tokens: tuple
    logprob: float
    score: float
    finished: bool


def length_normalized(logprob, length, length_penalty):
    """score = logprob / length ** length_penalty (0: the raw log-probability, 1: the average per token)."""
    if length == 0 or length_penalty == 0:
        return float(logprob)
    return float(logprob) / length**length_penalty


def slides_example():
    """
    The lectures' worked example: tokens A, B, C and <eos> with ids 0, 1, 2, 3.

    The lectures give the next-token distribution after six prefixes; after any other prefix every
    token has probability 1/4. A probability of 0 is a log-probability of -inf.

    Returns a tuple of:
    - next_logprobs: prefix -> (4,) log-probabilities
    - names: ("A", "B", "C", "<eos>")
    - eos: 3
    """
    table = {
        (): [0.5, 0.2, 0.2, 0.1],
        (0,): [0.1, 0.4, 0.3, 0.2],
        (0, 1): [0.2, 0.2, 0.4, 0.2],
        (0, 1, 2): [0.0, 0.2, 0.2, 0.6],
        (0, 2): [0.1, 0.6, 0.2, 0.1],
        (0, 2, 1): [0.1, 0.2, 0.1, 0.6],
    }

    def next_logprobs(prefix):
        with np.errstate(divide="ignore"):
            return np.log(np.asarray(table.get(tuple(prefix), [0.25] * 4)))

    return next_logprobs, ("A", "B", "C", "<eos>"), 3


def table_model(default, table=None):
    """A model given by probabilities: table[prefix] after the listed prefixes, default after the others."""
    table = {tuple(k): np.asarray(v, dtype=np.float64) for k, v in (table or {}).items()}
    default = np.asarray(default, dtype=np.float64)

    def next_logprobs(prefix):
        with np.errstate(divide="ignore"):
            return np.log(table.get(tuple(prefix), default))

    return next_logprobs


def show(h, names=("A", "B", "C", "<eos>")):
    """A hypothesis as text, e.g. 'A C B <eos>  P = 0.054  score = -2.919  finished'."""
    words = " ".join(names[v] for v in h.tokens)
    return f"{words}  P = {np.exp(h.logprob):.4g}  score = {h.score:.4g}  {'finished' if h.finished else 'unfinished'}"


next_logprobs, names, eos = slides_example()
A, B, C = 0, 1, 2
print("P(next | A) =", np.exp(next_logprobs((A,))))

# %% [markdown]
# ## 1. Greedy search
#
# Greedy search takes the most probable next token at every step (the lowest id on a tie, which is what
# `np.argmax` returns) and stops after `eos` or after `max_len` tokens. Its score is its log-probability.
# On the lectures' example it follows A, B, C, `<eos>`, a sequence of probability 0.048.

# %% solution: greedy_search
def greedy_search(next_logprobs, eos, max_len):
    """
    Pick the most probable next token at every step until eos or max_len tokens.

    Inputs:
    - next_logprobs: the model, prefix (tuple of ints) -> (V,) log-probabilities
    - eos: id of the end-of-sequence token
    - max_len: the most tokens to generate, eos included

    Returns a Hypothesis with score = logprob; finished says whether it ends with eos.
    """
    ### BEGIN SOLUTION
    tokens, logprob = (), 0.0
    while len(tokens) < max_len:
        lp = next_logprobs(tokens)
        v = int(np.argmax(lp))  # the first maximum, so the lowest id on a tie
        tokens, logprob = tokens + (v,), logprob + float(lp[v])
        if v == eos:
            return Hypothesis(tokens, logprob, logprob, True)
    return Hypothesis(tokens, logprob, logprob, False)
    ### END SOLUTION

# %% test: greedy_search_output points=3
"""greedy_search: the lectures' example, a cut at max_len and a tie."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("greedy_search", lambda *args, **kwargs: (greedy_search(*args, **kwargs),))
### END HIDDEN TESTS
h = greedy_search(next_logprobs, eos, max_len=10)
print(show(h))
assert isinstance(h, Hypothesis), f"greedy_search should return a Hypothesis, got {type(h).__name__}"
assert h.tokens == (A, B, C, eos), f"expected A B C <eos>, got {show(h)}"
assert np.isclose(np.exp(h.logprob), 0.048) and h.score == h.logprob and h.finished
# cut after two tokens: A (0.5) then B (0.4), not finished
h = greedy_search(next_logprobs, eos, max_len=2)
assert h.tokens == (A, B) and not h.finished, f"with max_len=2 expected the unfinished A B, got {show(h)}"
assert np.isclose(h.logprob, np.log(0.5 * 0.4)), f"logprob should be log(0.5 * 0.4), got {h.logprob}"
# three equally likely tokens: the lowest id wins every tie
h = greedy_search(table_model([1 / 3] * 3), eos=2, max_len=3)
assert h.tokens == (0, 0, 0) and not h.finished, f"on ties the lowest id wins: expected (0, 0, 0), got {h.tokens}"
print("visible tests passed")

# %% [markdown]
# ## 2. Exhaustive search
#
# Exhaustive search scores every complete sequence: every sequence that ends with `eos` within `max_len`
# tokens, and every sequence of `max_len` tokens without `eos` (unfinished). It returns the one with the
# best score (ties: tokens). Walk the tree of prefixes, for instance depth first with recursion or a
# stack: a prefix that does not end with `eos` and is shorter than `max_len` is extended by every token.
# It costs one model call per such prefix, $1 + (V-1) + \dots + (V-1)^{T-1}$ in all for `max_len` $= T$,
# so keep `max_len` small.
#
# On the lectures' example the raw log-probability (`length_penalty=0`) prefers the shortest sequences:
# `<eos>` alone and A `<eos>` both have probability 0.1, more than any longer sequence. With
# `length_penalty=1` the per-token average decides, and A C B `<eos>` (0.054) wins.

# %% solution: exhaustive_search
def exhaustive_search(next_logprobs, vocab_size, eos, max_len, length_penalty=0.0):
    """
    The best-scoring complete sequence: ending with eos within max_len tokens, or max_len tokens without eos.

    Inputs:
    - next_logprobs: the model, prefix (tuple of ints) -> (V,) log-probabilities
    - vocab_size: V, the number of tokens the model scores
    - eos: id of the end-of-sequence token
    - max_len: the most tokens in a sequence, eos included
    - length_penalty: alpha in score = logprob / len(tokens) ** alpha

    Returns a Hypothesis.
    """
    ### BEGIN SOLUTION
    best = None

    def visit(prefix, logprob):
        nonlocal best
        lp = next_logprobs(prefix)
        for v in range(vocab_size):
            tokens, total = prefix + (v,), logprob + float(lp[v])
            if v == eos or len(tokens) == max_len:
                h = Hypothesis(tokens, total, length_normalized(total, len(tokens), length_penalty), v == eos)
                if best is None or (-h.score, h.tokens) < (-best.score, best.tokens):
                    best = h
            else:
                visit(tokens, total)

    visit((), 0.0)
    return best
    ### END SOLUTION

# %% test: exhaustive_search_best_sequence points=4
"""exhaustive_search: the lectures' example with and without length normalization, an unfinished winner."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("exhaustive_search", lambda *args, **kwargs: (exhaustive_search(*args, **kwargs),))
### END HIDDEN TESTS
h = exhaustive_search(next_logprobs, 4, eos, max_len=4)
print("length_penalty=0:", show(h))
assert isinstance(h, Hypothesis), f"exhaustive_search should return a Hypothesis, got {type(h).__name__}"
assert len(h.tokens) <= 2 and h.finished and np.isclose(np.exp(h.logprob), 0.1), \
    f"length_penalty=0: a 1- or 2-token sequence of probability 0.1 wins, got {show(h)}"
assert h.tokens == (A, eos), f"tie at 0.1: A <eos> (smaller tokens) beats <eos>, got {h.tokens}"
h = exhaustive_search(next_logprobs, 4, eos, max_len=4, length_penalty=1.0)
print("length_penalty=1:", show(h))
assert h.tokens == (A, C, B, eos) and np.isclose(np.exp(h.logprob), 0.054), f"expected A C B <eos>, got {show(h)}"
assert np.isclose(h.score, np.log(0.054) / 4), f"the score is logprob / len(tokens), eos included: got {h.score}"
# eos has probability 0.05 after every prefix: three likely tokens beat it
h = exhaustive_search(table_model([0.8, 0.15, 0.05]), 3, eos=2, max_len=3)
assert h.tokens == (0, 0, 0) and not h.finished, f"expected the unfinished (0, 0, 0) (P = 0.512), got {h}"
print("visible tests passed")

# %% [markdown]
# ## 3. Beam search
#
# Beam search keeps the `beam_width` ($K$) best prefixes alive. Implementations differ in details that
# change the answer, so follow these rules exactly. Start with one alive hypothesis, the empty prefix
# with log-probability 0, and no finished ones; then, for steps 1, 2, ..., `max_len`:
#
# 1. **Expand and rank.** Extend every alive hypothesis by every token. A candidate's log-probability is
#    its parent's plus the new token's. Rank all the candidates of the step by this cumulative
#    log-probability, highest first (ties: tokens).
# 2. **Select.** Walk down the ranking, counting ranks from 0. A candidate that ends with `eos` is
#    finished and saved if its rank is below $K$, and dropped otherwise. Any other candidate joins the
#    new alive beam while the beam holds fewer than $K$ hypotheses; the rest are pruned. Finished
#    hypotheses never return to the beam.
# 3. **Stop.** If, after the step, there are `n_best` or more saved finished hypotheses, stop: the pool
#    is the finished ones. If the search reaches the end of step `max_len` without stopping, the pool is
#    the finished ones plus the alive ones, marked `finished=False`.
#
# Return the pool ranked by score (ties: tokens), at most `n_best` hypotheses, as a list. Only this last
# ranking uses the score: within a step all candidates have the same length, so normalizing them would
# not change their order. With $K = 1$ these rules give greedy search's answer; with $K = 2$ on the
# lectures' example the search keeps A C alive next to A B and finds A C B `<eos>` (0.054).

# %% solution: beam_search
def beam_search(next_logprobs, eos, max_len, beam_width, n_best=1, length_penalty=0.0):
    """
    Beam search with the course's rules for finishing, stopping and ranking.

    Inputs:
    - next_logprobs: the model, prefix (tuple of ints) -> (V,) log-probabilities
    - eos: id of the end-of-sequence token
    - max_len: the most tokens in a sequence, eos included
    - beam_width: K, the most alive hypotheses kept after each step
    - n_best: how many hypotheses to return; the search stops once this many have finished
    - length_penalty: alpha in score = logprob / len(tokens) ** alpha

    Returns a list of at most n_best Hypothesis objects, best score first.
    """
    ### BEGIN SOLUTION
    def hypothesis(tokens, logprob, finished):
        return Hypothesis(tokens, logprob, length_normalized(logprob, len(tokens), length_penalty), finished)

    alive, finished = [((), 0.0)], []
    pool = None
    for _ in range(max_len):
        candidates = []  # (cumulative log-probability, tokens)
        for tokens, logprob in alive:
            lp = next_logprobs(tokens)
            candidates += [(logprob + float(lp[v]), tokens + (v,)) for v in range(len(lp))]
        candidates.sort(key=lambda c: (-c[0], c[1]))
        alive = []
        for rank, (logprob, tokens) in enumerate(candidates):
            if tokens[-1] == eos:
                if rank < beam_width:
                    finished.append(hypothesis(tokens, logprob, True))
            elif len(alive) < beam_width:
                alive.append((tokens, logprob))
        if len(finished) >= n_best or not alive:
            pool = finished
            break
    if pool is None:  # max_len reached: the alive hypotheses compete too
        pool = finished + [hypothesis(tokens, logprob, False) for tokens, logprob in alive]
    return sorted(pool, key=lambda h: (-h.score, h.tokens))[:n_best]
    ### END SOLUTION

# %% test: beam_search_one_best points=4
"""beam_search with n_best=1 and no length penalty: the lectures' example, and beam_width=1 as greedy search."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("beam_search_basic", lambda *args, **kwargs: (beam_search(*args, **kwargs),))
### END HIDDEN TESTS
out = beam_search(next_logprobs, eos, max_len=10, beam_width=2)
assert isinstance(out, list) and len(out) == 1, f"beam_search returns a list of n_best=1 hypothesis, got {out!r}"
print("K=2:", show(out[0]))
assert out[0].tokens == (A, C, B, eos) and out[0].finished, f"with K=2 expected A C B <eos>, got {show(out[0])}"
assert np.isclose(np.exp(out[0].logprob), 0.054) and out[0].score == out[0].logprob
# beam width 1 follows greedy search: A B C <eos>
out = beam_search(next_logprobs, eos, max_len=10, beam_width=1)
print("K=1:", show(out[0]))
assert out[0].tokens == (A, B, C, eos), f"with K=1 beam search is greedy search (A B C <eos>), got {show(out[0])}"
print("visible tests passed")

# %% test: beam_search_n_best points=3
"""beam_search with n_best > 1: when the search stops and what it returns."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("beam_search_n_best", lambda *args, **kwargs: (beam_search(*args, **kwargs),))
### END HIDDEN TESTS
# with K=2 both eos candidates of step 4 rank 0 and 1: two finished hypotheses, the search stops there
out = beam_search(next_logprobs, eos, max_len=10, beam_width=2, n_best=2)
for h in out:
    print(show(h))
assert [h.tokens for h in out] == [(A, C, B, eos), (A, B, C, eos)], f"expected A C B <eos>, A B C <eos>, got {out}"
# a third hypothesis never finishes: the search runs to max_len, and an alive one fills the third place
out = beam_search(next_logprobs, eos, max_len=6, beam_width=2, n_best=3)
assert len(out) == 3, f"expected 3 hypotheses, got {len(out)}"
assert out[2].tokens[:4] == (A, C, B, B) and len(out[2].tokens) == 6 and not out[2].finished, \
    f"third should be unfinished A C B B . . (max_len=6), got {show(out[2])}"
print("visible tests passed")

# %% test: beam_search_length_penalty points=3
"""beam_search with a length penalty: the scores and the final ranking."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("beam_search_length_penalty", lambda *args, **kwargs: (beam_search(*args, **kwargs),))
### END HIDDEN TESTS
# with K=3, A <eos> (probability 0.1) finishes at step 2; A C B <eos> and A B C <eos> at step 4
raw = beam_search(next_logprobs, eos, max_len=10, beam_width=3, n_best=2)
avg = beam_search(next_logprobs, eos, max_len=10, beam_width=3, n_best=2, length_penalty=1.0)
for h in avg:
    print(show(h))
assert [h.tokens for h in raw] == [(A, eos), (A, C, B, eos)], \
    f"length_penalty=0: expected A <eos>, A C B <eos>, got {raw}"
assert [h.tokens for h in avg] == [(A, C, B, eos), (A, B, C, eos)], \
    f"length_penalty=1 puts the 4-token sequences first, got {avg}"
assert np.isclose(avg[0].score, np.log(0.054) / 4) and np.isclose(avg[0].logprob, np.log(0.054)), \
    f"score = logprob / len(tokens) ** length_penalty, eos included; got {avg[0]}"
print("visible tests passed")

# %% test: beam_search_at_max_len points=3
"""beam_search at max_len: the alive hypotheses are returned, unfinished."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("beam_search_max_len", lambda *args, **kwargs: (beam_search(*args, **kwargs),))
### END HIDDEN TESTS
out = beam_search(next_logprobs, eos, max_len=3, beam_width=2)
print(show(out[0]))
assert len(out) == 1 and out[0].tokens == (A, C, B) and not out[0].finished, \
    f"nothing finishes in 3 steps: expected unfinished A C B (P = 0.09), got {out}"
assert np.isclose(np.exp(out[0].logprob), 0.09)
out = beam_search(next_logprobs, eos, max_len=1, beam_width=2)
assert len(out) == 1 and out[0].tokens == (A,) and not out[0].finished, \
    f"with max_len=1 expected the unfinished A, got {out}"
print("visible tests passed")
