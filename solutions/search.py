"""Decoding as search: exhaustive, greedy and beam search over a next-token model.

Backs the chapter "Search". A model is a function next_logprobs(prefix) -> (V,) array of
log-probabilities of the next token given the tuple of tokens generated so far (no start token).
"""
from dataclasses import dataclass

import numpy as np

from solutions._checks import positive_int


@dataclass(frozen=True)
class Hypothesis:
    """A decoded sequence: its tokens (ending with eos when finished), log-probability and score."""

    tokens: tuple
    logprob: float
    score: float
    finished: bool


def length_normalized(logprob, length, length_penalty):
    """score = logprob / length ** length_penalty (0: raw log-probability, 1: per-token average)."""
    if length == 0 or length_penalty == 0:
        return float(logprob)
    return float(logprob) / length**length_penalty


def _hypothesis(tokens, logprob, finished, length_penalty):
    return Hypothesis(tuple(tokens), float(logprob), length_normalized(logprob, len(tokens), length_penalty), finished)


def _rank_key_score(h):
    """Best score first; ties broken by the tokens, lexicographically smallest first."""
    return (-h.score, h.tokens)


def _logprobs(next_logprobs, prefix):
    """Call the model and check what it returns."""
    lp = np.asarray(next_logprobs(tuple(prefix)), dtype=np.float64)
    if lp.ndim != 1 or lp.size == 0:
        raise ValueError(f"next_logprobs must return a (V,) array, got shape {lp.shape} for prefix {tuple(prefix)}")
    return lp


def _check_common(eos, max_len, length_penalty=0.0):
    positive_int("max_len", max_len)
    if isinstance(eos, bool) or int(eos) != eos or eos < 0:
        raise ValueError(f"eos must be a non-negative token id, got {eos!r}")
    if not np.isfinite(length_penalty) or length_penalty < 0:
        raise ValueError(f"length_penalty must be a finite number >= 0, got {length_penalty!r}")


def _check_eos(eos, V):
    if eos >= V:
        raise ValueError(f"eos = {eos} is not a token of a vocabulary of size V = {V}")


def greedy_search(next_logprobs, eos, max_len):
    """
    Pick the most probable next token at every step (lowest id on a tie) until eos or max_len.

    Inputs:
    - next_logprobs: the model, prefix -> (V,) log-probabilities
    - eos: id of the end-of-sequence token
    - max_len: the most tokens to generate, eos included

    Returns a Hypothesis (score = logprob).
    """
    _check_common(eos, max_len)
    tokens, logprob = [], 0.0
    while len(tokens) < max_len:
        lp = _logprobs(next_logprobs, tokens)  # (V,)
        _check_eos(eos, lp.size)
        v = int(np.argmax(lp))  # argmax returns the first, so the lowest id, on a tie
        tokens.append(v)
        logprob += lp[v]
        if v == eos:
            return _hypothesis(tokens, logprob, True, 0.0)
    return _hypothesis(tokens, logprob, False, 0.0)


def exhaustive_search(next_logprobs, vocab_size, eos, max_len, length_penalty=0.0):
    """
    The best-scoring sequence among all that end with eos within max_len tokens or reach max_len
    tokens without it. Calls the model once for every prefix without eos shorter than max_len:
    1 + (V-1) + ... + (V-1)^(max_len-1) calls.

    Inputs:
    - next_logprobs: the model, prefix -> (V,) log-probabilities
    - vocab_size: V, the number of tokens the model scores
    - eos: id of the end-of-sequence token
    - max_len: the most tokens in a sequence, eos included
    - length_penalty: the exponent of the length in score = logprob / len ** length_penalty

    Returns a Hypothesis.
    """
    _check_common(eos, max_len, length_penalty)
    positive_int("vocab_size", vocab_size)
    _check_eos(eos, vocab_size)
    best = None
    stack = [((), 0.0)]  # prefixes without eos, to be expanded
    while stack:
        prefix, logprob = stack.pop()
        lp = _logprobs(next_logprobs, prefix)
        if lp.size != vocab_size:
            raise ValueError(f"next_logprobs returned {lp.size} log-probabilities, expected vocab_size = {vocab_size}")
        for v in range(vocab_size):
            tokens, total = prefix + (v,), logprob + lp[v]
            if v == eos or len(tokens) == max_len:
                h = _hypothesis(tokens, total, v == eos, length_penalty)
                if best is None or _rank_key_score(h) < _rank_key_score(best):
                    best = h
            else:
                stack.append((tokens, total))
    return best


def _top(values, m):
    """Indices of the m largest values and of every value tied with the m-th: a prefix of the ranking.

    The walk of one beam step visits at most 2K candidates (K alive ones and at most one eos per
    expanded hypothesis), so ranking these instead of all K*V keeps a step at O(K V) plus a small sort.
    """
    if m >= values.size:
        return np.arange(values.size)
    threshold = np.partition(values, values.size - m)[values.size - m]
    return np.flatnonzero(values >= threshold)


def beam_search(next_logprobs, eos, max_len, beam_width, n_best=1, length_penalty=0.0):
    """
    Beam search with the stopping rules and length normalization of the course contract.

    At every step each alive hypothesis is expanded by every token and the candidates are ranked
    by cumulative log-probability (ties: tokens, lexicographically). Walking the ranking from the
    top, a candidate ending in eos is finished and saved when its rank is below beam_width and
    dropped otherwise; any other candidate joins the new beam until it holds beam_width. The search
    stops after the first step that leaves n_best or more finished hypotheses (the pool is then the
    finished ones), or after step max_len (the pool is the finished ones plus the alive ones, marked
    unfinished). The pool is ranked by score (ties: tokens) and the first n_best are returned.

    Inputs:
    - next_logprobs: the model, prefix -> (V,) log-probabilities
    - eos: id of the end-of-sequence token
    - max_len: the most tokens in a sequence, eos included
    - beam_width: K, the number of alive hypotheses kept
    - n_best: how many hypotheses to return
    - length_penalty: the exponent of the length in score = logprob / len ** length_penalty

    Returns a list of at most n_best Hypothesis objects, best score first.
    """
    _check_common(eos, max_len, length_penalty)
    beam_width, n_best = positive_int("beam_width", beam_width), positive_int("n_best", n_best)
    alive = [((), 0.0)]  # (tokens, logprob) of the hypotheses still growing
    finished = []
    for _ in range(int(max_len)):
        lps = [_logprobs(next_logprobs, tokens) for tokens, _ in alive]  # K arrays of (V,)
        V = lps[0].size
        _check_eos(eos, V)
        if any(lp.size != V for lp in lps):
            raise ValueError("next_logprobs must return arrays of one size V for every prefix")
        totals = (np.array([logprob for _, logprob in alive])[:, None] + np.stack(lps)).ravel()  # (K*V,)
        candidates = [(totals[i], alive[i // V][0] + (int(i % V),)) for i in _top(totals, 2 * beam_width)]
        kept, ended = rank_walk(candidates, eos, beam_width)
        alive = [(tokens, float(logprob)) for logprob, tokens in kept]
        finished += [_hypothesis(tokens, logprob, True, length_penalty) for logprob, tokens in ended]
        if len(finished) >= n_best or not alive:
            break
    else:
        finished += [_hypothesis(tokens, logprob, False, length_penalty) for tokens, logprob in alive]
    return sorted(finished, key=_rank_key_score)[: int(n_best)]


def rank_walk(candidates, eos, beam_width):
    """
    One step of beam search after the expansion: the candidates ranked by cumulative log-probability
    (ties: tokens, lexicographically) and walked from the top.

    Inputs:
    - candidates: the expanded hypotheses, (logprob, tokens, ...) tuples with the cumulative
      log-probability first; anything after tokens is carried along
    - eos: the end-of-sequence id
    - beam_width: K, the most alive candidates kept

    Returns a tuple of:
    - alive: the first K candidates not ending in eos, best first (the next step's beam)
    - finished: the candidates ending in eos whose rank is below K, best first
    """
    alive, finished = [], []
    for rank, candidate in enumerate(sorted(candidates, key=lambda c: (-c[0], c[1]))):
        if candidate[1][-1] == eos:
            if rank < beam_width:
                finished.append(candidate)
        elif len(alive) < beam_width:
            alive.append(candidate)
        elif rank >= beam_width:
            break  # the beam is full and no later eos can rank below beam_width
    return alive, finished


def slides_example():
    """
    The lectures' worked example as a model over tokens A, B, C, eos (ids 0, 1, 2, 3).

    Greedy search follows A, B, C, eos (probability 0.048) while A, C, B, eos has 0.054. Prefixes
    the slides give no column for get the uniform distribution.

    Returns a tuple of:
    - next_logprobs: the model, prefix -> (4,) log-probabilities
    - names: the tokens' names by id, ("A", "B", "C", "<eos>")
    - eos: id of the end-of-sequence token, 3
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
        with np.errstate(divide="ignore"):  # a probability of 0 is a log-probability of -inf
            return np.log(np.asarray(table.get(tuple(prefix), [0.25] * 4)))

    return next_logprobs, ("A", "B", "C", "<eos>"), 3


def sequence_logprob(next_logprobs, tokens):
    """Sum of the model's log-probabilities of `tokens`, one call per token."""
    return float(sum(_logprobs(next_logprobs, tokens[:i])[v] for i, v in enumerate(tokens)))


__all__ = [
    "Hypothesis",
    "beam_search",
    "exhaustive_search",
    "greedy_search",
    "length_normalized",
    "sequence_logprob",
    "slides_example",
]
