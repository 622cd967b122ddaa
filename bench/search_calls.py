"""Beam search's cost against the number of model calls it makes, beside greedy and exhaustive search.

Run: .venv/bin/python bench/search_calls.py
For a random next-token model (vocabulary V, eos never likely enough to stop early) and several
beam widths K and maximum lengths T, prints the model calls, the wall time, and the time per call:
beam search makes at most 1 + K (T - 1) calls, greedy T, exhaustive 1 + (V-1) + ... + (V-1)^(T-1).
"""
import time

import numpy as np

from solutions.search import beam_search, exhaustive_search, greedy_search


class CountingModel:
    """A random model whose distribution depends on the whole prefix, counting its calls."""

    def __init__(self, V, seed=0):
        self.V, self.seed, self.calls = V, seed, 0

    def __call__(self, prefix):
        self.calls += 1
        logits = np.random.default_rng([self.seed, len(prefix), *prefix]).standard_normal(self.V)
        logits[0] -= 6.0  # eos (id 0) rarely ranks high: searches run to max_len
        return logits - np.log(np.exp(logits).sum())


def run(label, search, V):
    model = CountingModel(V)
    start = time.perf_counter()
    search(model)
    elapsed = time.perf_counter() - start
    print(f"{label:<28} {model.calls:>8} {1e3 * elapsed:>10.2f} {1e6 * elapsed / model.calls:>12.1f}")
    return model.calls


def main():
    print(f"{'search':<28} {'calls':>8} {'ms':>10} {'us per call':>12}")
    V = 6
    for T in (3, 5, 7):
        run(f"exhaustive V={V} T={T}", lambda m, T=T: exhaustive_search(m, V, 0, T), V)
    V = 1000
    for T in (10, 20, 40):
        run(f"greedy V={V} T={T}", lambda m, T=T: greedy_search(m, 0, T), V)
        for K in (1, 4, 16):
            calls = run(f"beam K={K} V={V} T={T}", lambda m, K=K, T=T: beam_search(m, 0, T, K, n_best=K), V)
            assert calls <= 1 + K * (T - 1)


if __name__ == "__main__":
    main()
