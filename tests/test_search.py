"""solutions.search: exhaustive, greedy and beam search against brute force and the contract's rules."""
import itertools
import math

import numpy as np
import pytest

from solutions.search import (
    Hypothesis,
    beam_search,
    exhaustive_search,
    greedy_search,
    sequence_logprob,
    slides_example,
)


def random_model(V, seed, temperature=1.0):
    """A fixed random next-token model: the distribution depends on the whole prefix."""
    def next_logprobs(prefix):
        logits = np.random.default_rng([seed, len(prefix), *prefix]).standard_normal(V) / temperature
        return logits - np.log(np.exp(logits).sum())
    return next_logprobs


def table_model(table, V, default=None):
    """A model given by probabilities for some prefixes, uniform elsewhere."""
    def next_logprobs(prefix):
        with np.errstate(divide="ignore"):
            return np.log(np.asarray(table.get(tuple(prefix), default or [1.0 / V] * V)))
    return next_logprobs


class Counting:
    """Wraps a model and counts its calls."""
    def __init__(self, model):
        self.model, self.calls = model, 0

    def __call__(self, prefix):
        self.calls += 1
        return self.model(prefix)


def brute_force_ranking(model, V, eos, max_len, length_penalty):
    """Every sequence the contract admits (ends with eos within max_len, or has max_len tokens
    without eos), scored one token at a time and ranked best first, ties by tokens."""
    seqs = []
    for length in range(1, max_len + 1):
        for body in itertools.product([v for v in range(V) if v != eos], repeat=length - 1):
            seqs.append(body + (eos,))
            if length == max_len:
                seqs.extend(body + (v,) for v in range(V) if v != eos)
    scored = []
    for s in seqs:
        lp = sequence_logprob(model, s)
        scored.append((-(lp / len(s) ** length_penalty), s, lp))
    scored.sort()
    return scored


# ---------------------------------------------------------------- the slides' worked example


def test_slides_example_greedy_is_0_048_and_beam_finds_0_054():
    model, names, eos = slides_example()
    greedy = greedy_search(model, eos, max_len=4)
    assert [names[v] for v in greedy.tokens] == ["A", "B", "C", "<eos>"]
    assert math.exp(greedy.logprob) == pytest.approx(0.048)
    best = beam_search(model, eos, max_len=4, beam_width=2)[0]
    assert [names[v] for v in best.tokens] == ["A", "C", "B", "<eos>"]
    assert math.exp(best.logprob) == pytest.approx(0.054)
    assert best.finished


def test_slides_example_exhaustive_prefers_short_sequences_without_normalization():
    model, _, eos = slides_example()
    raw = exhaustive_search(model, 4, eos, max_len=4)
    assert len(raw.tokens) <= 2 and math.exp(raw.logprob) == pytest.approx(0.1)
    normalized = exhaustive_search(model, 4, eos, max_len=4, length_penalty=1.0)
    assert normalized.tokens == (0, 2, 1, 3)
    assert normalized.score == pytest.approx(math.log(0.054) / 4)


# ---------------------------------------------------------------- exhaustive against brute force


@pytest.mark.parametrize("V,max_len,seed", [(2, 1, 0), (3, 3, 1), (4, 3, 2), (3, 4, 3)])
@pytest.mark.parametrize("length_penalty", [0.0, 0.7, 1.0])
def test_exhaustive_against_brute_force(V, max_len, seed, length_penalty):
    model = random_model(V, seed, temperature=0.7)
    eos = V - 1
    best = exhaustive_search(model, V, eos, max_len, length_penalty)
    neg_score, tokens, lp = brute_force_ranking(model, V, eos, max_len, length_penalty)[0]
    assert best.tokens == tokens
    assert best.logprob == pytest.approx(lp, abs=1e-12)
    assert best.score == pytest.approx(-neg_score, abs=1e-12)
    assert best.finished == (tokens[-1] == eos)


def test_exhaustive_call_count_is_exponential():
    model = Counting(random_model(3, 0))
    exhaustive_search(model, 3, 2, max_len=4)
    assert model.calls == 1 + 2 + 4 + 8  # one call per prefix without eos shorter than max_len


# ---------------------------------------------------------------- greedy and beam


@pytest.mark.parametrize("seed", range(8))
def test_beam_width_one_is_greedy(seed):
    model = random_model(5, seed)
    greedy = greedy_search(model, 4, max_len=6)
    beam = beam_search(model, 4, max_len=6, beam_width=1)
    assert beam == [greedy]


def test_greedy_breaks_ties_by_lowest_id_and_stops_at_max_len():
    model = table_model({}, 3)  # uniform: every step ties
    h = greedy_search(model, eos=2, max_len=3)
    assert h.tokens == (0, 0, 0) and not h.finished
    assert h.logprob == pytest.approx(3 * math.log(1 / 3))


@pytest.mark.parametrize("V,max_len,seed", [(3, 3, 0), (4, 3, 1), (3, 4, 2), (2, 5, 3)])
@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_wide_beam_with_large_n_best_is_exhaustive(V, max_len, seed, length_penalty):
    model = random_model(V, seed, temperature=0.8)
    eos = 0
    everything = V**max_len  # more than the number of sequences: nothing is pruned, no early stop
    ranked = beam_search(model, eos, max_len, beam_width=everything, n_best=everything, length_penalty=length_penalty)
    brute = brute_force_ranking(model, V, eos, max_len, length_penalty)
    assert [h.tokens for h in ranked] == [s for _, s, _ in brute]
    assert ranked[0] == exhaustive_search(model, V, eos, max_len, length_penalty)


def test_ties_are_broken_by_tokens():
    model = table_model({}, 3)  # uniform
    hyps = beam_search(model, eos=2, max_len=3, beam_width=2, n_best=2)
    assert [h.tokens for h in hyps] == [(0, 0, 0), (0, 0, 1)]
    assert not any(h.finished for h in hyps)
    first = beam_search(model, eos=0, max_len=3, beam_width=2, n_best=1)
    assert first[0].tokens == (0,) and first[0].finished  # eos ranks first on the tie


def test_eos_ranked_below_beam_width_is_dropped():
    # Step 1: A 0.5, B 0.3, eos 0.2. With beam_width 2, eos ranks third and is dropped even though
    # "eos alone" (0.2) beats everything longer; with beam_width 3 it is kept and wins.
    model = table_model({(): [0.5, 0.3, 0.2], (0,): [0.3, 0.3, 0.4], (1,): [0.3, 0.3, 0.4]}, 3)
    narrow = beam_search(model, eos=2, max_len=2, beam_width=2)
    assert narrow[0].tokens == (0, 2) and math.exp(narrow[0].logprob) == pytest.approx(0.2)
    wide = beam_search(model, eos=2, max_len=2, beam_width=3, n_best=3)
    assert (2,) in [h.tokens for h in wide]


def test_finished_hypotheses_are_not_expanded():
    # whatever is finished, no call ever sees a prefix that contains eos
    inner = random_model(4, 5)
    seen = []
    beam_search(lambda p: (seen.append(p), inner(p))[1], eos=3, max_len=4, beam_width=3, n_best=50)
    assert all(3 not in p for p in seen)


def test_stops_early_once_n_best_are_finished():
    # eos is likely at every step: after step 1 the top-ranked candidate is finished.
    model = Counting(table_model({}, 3, default=[0.2, 0.2, 0.6]))
    hyps = beam_search(model, eos=2, max_len=10, beam_width=2, n_best=1)
    assert hyps[0].tokens == (2,) and model.calls == 1
    model = Counting(table_model({}, 3, default=[0.2, 0.2, 0.6]))
    hyps = beam_search(model, eos=2, max_len=10, beam_width=2, n_best=3)
    # step 1 saves (2,); step 2 saves (0, 2) and (1, 2): three finished, stop after step 2
    assert [h.tokens for h in hyps] == [(2,), (0, 2), (1, 2)]
    assert model.calls == 1 + 2


def test_unfinished_hypotheses_are_kept_at_max_len():
    model = table_model({}, 3, default=[0.5, 0.49, 0.01])  # eos (2) never makes the beam
    hyps = beam_search(model, eos=2, max_len=3, beam_width=2, n_best=2)
    assert [h.tokens for h in hyps] == [(0, 0, 0), (0, 0, 1)]
    assert all(not h.finished and len(h.tokens) == 3 for h in hyps)


def test_pool_mixes_finished_and_unfinished_by_score():
    # One finished hypothesis after step 1 is fewer than n_best = 2: the search runs to max_len and
    # ranks it together with the alive ones.
    model = table_model({(): [0.4, 0.35, 0.25], (0,): [0.9, 0.09, 0.01], (1,): [0.9, 0.09, 0.01]}, 3)
    hyps = beam_search(model, eos=2, max_len=2, beam_width=3, n_best=2)
    assert [h.tokens for h in hyps] == [(0, 0), (1, 0)]
    hyps = beam_search(model, eos=2, max_len=2, beam_width=3, n_best=4)
    assert [(h.tokens, h.finished) for h in hyps] == [((0, 0), False), ((1, 0), False), ((2,), True), ((0, 1), False)]


def test_n_best_results_are_sorted_and_unique():
    model = random_model(5, 11)
    hyps = beam_search(model, eos=4, max_len=5, beam_width=4, n_best=4, length_penalty=1.0)
    assert 1 <= len(hyps) <= 4
    keys = [(-h.score, h.tokens) for h in hyps]
    assert keys == sorted(keys) and len({h.tokens for h in hyps}) == len(hyps)
    for h in hyps:
        assert h.logprob == pytest.approx(sequence_logprob(model, h.tokens), abs=1e-12)
        assert h.score == pytest.approx(h.logprob / len(h.tokens))


def test_length_penalty_changes_the_winner():
    model, _, eos = slides_example()
    raw = beam_search(model, eos, max_len=4, beam_width=3, n_best=3)
    normalized = beam_search(model, eos, max_len=4, beam_width=3, n_best=3, length_penalty=1.0)
    assert len(raw[0].tokens) < len(normalized[0].tokens)


def test_beam_cost_is_at_most_one_call_per_alive_hypothesis_per_step():
    model = Counting(random_model(6, 2))
    beam_search(model, eos=5, max_len=7, beam_width=3, n_best=100)
    assert model.calls <= 1 + 3 * 6


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: beam_search(m, 3, 4, 0), "beam_width must be a positive integer"),
        (lambda m: beam_search(m, 3, 4, 2, n_best=0), "n_best must be a positive integer"),
        (lambda m: beam_search(m, 3, 0, 2), "max_len must be a positive integer"),
        (lambda m: beam_search(m, 3, 4, 2, length_penalty=-1), "length_penalty must be"),
        (lambda m: greedy_search(m, 7, 4), r"eos = 7 is not a token of a vocabulary of size V = 4"),
        (lambda m: exhaustive_search(m, 5, 3, 2), "returned 4 log-probabilities, expected vocab_size = 5"),
        (lambda m: greedy_search(lambda p: np.zeros((2, 2)), 1, 3), r"must return a \(V,\) array"),
    ],
)
def test_bad_arguments_are_named(call, message):
    model, _, _ = slides_example()
    with pytest.raises(ValueError, match=message):
        call(model)


def test_hypothesis_is_a_value():
    a = Hypothesis((1, 2), -1.0, -0.5, True)
    assert a == Hypothesis((1, 2), -1.0, -0.5, True) and hash(a) == hash(Hypothesis((1, 2), -1.0, -0.5, True))


def naive_beam(model, eos, max_len, K, n_best, length_penalty):
    """The contract's rules written with a full sort of every candidate, for comparison."""
    alive, finished = [((), 0.0)], []
    for _ in range(max_len):
        cands = sorted(((lp + v_lp, toks + (v,)) for toks, lp in alive for v, v_lp in enumerate(model(toks))),
                       key=lambda c: (-c[0], c[1]))
        alive = []
        for rank, (lp, toks) in enumerate(cands):
            if toks[-1] == eos:
                if rank < K:
                    finished.append((toks, lp, True))
            elif len(alive) < K:
                alive.append((toks, lp))
        if len(finished) >= n_best or not alive:
            break
    else:
        finished += [(toks, lp, False) for toks, lp in alive]
    scored = sorted(finished, key=lambda f: (-(f[1] / len(f[0]) ** length_penalty), f[0]))
    return [(toks, done) for toks, _, done in scored[:n_best]]


@pytest.mark.parametrize("seed", range(6))
def test_pruned_beam_matches_a_full_sort(seed):
    V, K = 30, 3
    model = random_model(V, seed, temperature=0.5)
    eos = seed % V
    for n_best, lp in ((1, 0.0), (3, 1.0), (5, 0.5)):
        got = beam_search(model, eos, 6, K, n_best=n_best, length_penalty=lp)
        assert [(h.tokens, h.finished) for h in got] == naive_beam(model, eos, 6, K, n_best, lp)


def test_ties_at_the_pruning_threshold_keep_the_lexicographic_order():
    model = table_model({}, 10)  # uniform over 10 tokens: every candidate ties
    hyps = beam_search(model, eos=9, max_len=3, beam_width=2, n_best=2)
    assert [h.tokens for h in hyps] == [(0, 0, 0), (0, 0, 1)]
