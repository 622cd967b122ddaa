"""Helpers shared by the hidden checks: sizes with the edges, random inputs, lifting variants."""
import numpy as np
import torch

LADDER = [(1, 1, 1, 1), (1, 2, 1, 1), (2, 3, 2, 2)]  # the smallest sizes, which every student faces


def rnn_sizes(rng):
    """(label, N, T, D, H) for eight cases: two random sizes, the edges N = 1, T = 1, H = 1, and a fixed
    ladder of the smallest sizes, so that a failure can be shown on the smallest case that fails."""
    def r(lo, hi):
        return int(rng.integers(lo, hi + 1))
    sizes = [(r(2, 4), r(3, 6), r(2, 5), r(2, 6)), (r(2, 4), r(3, 6), r(2, 5), r(2, 6)),
             (1, r(2, 5), r(2, 4), r(2, 5)), (r(2, 4), 1, r(2, 4), r(2, 5)), (r(2, 3), r(2, 5), r(1, 3), 1), *LADDER]
    return [(f"N={N}, T={T}, D={D}, H={H}", N, T, D, H) for N, T, D, H in sizes]


def normal(rng, *shape, scale=1.0):
    return rng.standard_normal(shape) * scale


def rnn_params(rng, D, H):
    """(Wxh, Whh, bh) with moderate scales so tanh is neither linear nor saturated."""
    return normal(rng, D, H, scale=0.6), normal(rng, H, H, scale=0.5), normal(rng, H, scale=0.3)


def as_tensors(obj):
    """numpy arrays (inside dicts, lists and tuples too) as torch tensors that share their memory."""
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj)
    if isinstance(obj, dict):
        return {k: as_tensors(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(as_tensors(v) for v in obj)
    return obj
