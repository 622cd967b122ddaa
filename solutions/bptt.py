"""The whole RNN language model trained by BPTT: loss and gradients, truncation, clipping, Jacobian norms.

Backs the chapters "Backpropagation through time" and "Vanishing and exploding gradients".
The model is h_t = tanh(x_t Wxh + h_{t-1} Whh + bh), o_t = h_t Why + by, softmax cross-entropy.
"""
import numpy as np

from solutions._checks import as_float, positive_int
from solutions.rnn import (
    rnn_backward,
    rnn_forward,
    temporal_affine_backward,
    temporal_affine_forward,
    temporal_softmax_loss,
)

PARAM_NAMES = ("Wxh", "Whh", "bh", "Why", "by")


def init_params(D, H, V, seed=0, scale=1.0):
    """
    Random parameters for the RNN language model.

    Weights are Gaussian with standard deviation scale / sqrt(fan_in), so `scale` is roughly the
    spectral radius of Whh: below 1 gradients tend to vanish, above 1 they tend to explode.
    Biases start at zero.

    Inputs:
    - D, H, V: input, hidden and vocabulary sizes
    - seed: seed of the random generator
    - scale: weight scale

    Returns a dict of the model's parameters: input-to-hidden weights Wxh (D, H), hidden-to-hidden
    weights Whh (H, H), hidden bias bh (H,), hidden-to-output weights Why (H, V), output bias by (V,).
    """
    D, H, V = (positive_int(name, n) for name, n in (("D", D), ("H", H), ("V", V)))
    rng = np.random.default_rng(seed)
    return {
        "Wxh": rng.standard_normal((D, H)) * scale / np.sqrt(D),
        "Whh": rng.standard_normal((H, H)) * scale / np.sqrt(H),
        "bh": np.zeros(H),
        "Why": rng.standard_normal((H, V)) * scale / np.sqrt(H),
        "by": np.zeros(V),
    }


def _check_params(params):
    """Return the five parameter arrays in PARAM_NAMES order, checking the keys."""
    missing = [k for k in PARAM_NAMES if k not in params]
    if missing:
        raise ValueError(f"params is missing {missing}; expected keys {list(PARAM_NAMES)}")
    return [np.asarray(params[k], dtype=np.float64) for k in PARAM_NAMES]


def _h0(h0, x, H):
    """Zeros of shape (N, H) when h0 is None, else h0 itself."""
    return np.zeros((np.shape(x)[0], H)) if h0 is None else h0


def loss_and_grads(params, x, y, h0=None, mask=None):
    """
    Loss and BPTT gradients of the whole model on a batch of sequences.

    Inputs:
    - params: the model's parameters, dict with Wxh (D, H), Whh (H, H), bh (H,), Why (H, V), by (V,)
    - x: inputs, (N, T, D)
    - y: integer targets, (N, T)
    - h0: initial hidden state, (N, H); None means zeros
    - mask: optional bools, (N, T); a False step is left out of the loss

    Returns a tuple of:
    - loss: a float, summed over time and averaged over the batch
    - grads: dict with the same keys and shapes as params
    """
    Wxh, Whh, bh, Why, by = _check_params(params)
    x = as_float("x", x, 3)
    h, rnn_cache = rnn_forward(x, _h0(h0, x, Whh.shape[0]), Wxh, Whh, bh)  # (N, T, H)
    o, affine_cache = temporal_affine_forward(h, Why, by)  # (N, T, V)
    loss, do = temporal_softmax_loss(o, y, mask)
    dh, dWhy, dby = temporal_affine_backward(do, affine_cache)  # dh: (N, T, H)
    _, _, dWxh, dWhh, dbh = rnn_backward(dh, rnn_cache)
    return loss, {"Wxh": dWxh, "Whh": dWhh, "bh": dbh, "Why": dWhy, "by": dby}


def truncated_loss_and_grads(params, x, y, k, h0=None):
    """
    Loss and truncated-BPTT gradients: windows of k steps, state carried, gradient cut.

    The sequence is cut into consecutive windows of k steps (the last may be shorter). The hidden
    state is carried forward from one window into the next, but no gradient flows back across a
    window's start. The loss is the full loss; the gradients are summed over the windows, so k >= T
    gives exactly loss_and_grads.

    Inputs:
    - params: as in loss_and_grads
    - x: inputs, (N, T, D)
    - y: integer targets, (N, T)
    - k: window length, a positive integer
    - h0: initial hidden state, (N, H), or None for zeros

    Returns a tuple of:
    - loss: the full loss, the sum of the windows' losses, a float
    - grads: dict with the same keys and shapes as params
    """
    k = positive_int("k", k)
    Wxh, Whh, bh, Why, by = _check_params(params)
    x = as_float("x", x, 3)
    y = np.asarray(y)
    T = x.shape[1]
    if y.shape != x.shape[:2]:
        raise ValueError(f"y must have shape (N, T) = {x.shape[:2]}, got {y.shape}")
    h_start = _h0(h0, x, Whh.shape[0])
    loss = 0.0
    grads = {name: np.zeros_like(p) for name, p in zip(PARAM_NAMES, (Wxh, Whh, bh, Why, by))}
    for s in range(0, T, int(k)):
        window = slice(s, min(s + int(k), T))
        h, rnn_cache = rnn_forward(x[:, window], h_start, Wxh, Whh, bh)  # (N, k, H)
        o, affine_cache = temporal_affine_forward(h, Why, by)  # (N, k, V)
        window_loss, do = temporal_softmax_loss(o, y[:, window])
        dh, dWhy, dby = temporal_affine_backward(do, affine_cache)
        _, _, dWxh, dWhh, dbh = rnn_backward(dh, rnn_cache)  # the gradient on h_start is dropped
        loss += window_loss
        for name, g in zip(PARAM_NAMES, (dWxh, dWhh, dbh, dWhy, dby)):
            grads[name] += g
        h_start = h[:, -1]  # the state, not its gradient, crosses into the next window
    return loss, grads


def clip_grad_norm(grads, max_norm):
    """
    Rescale a dict of gradients so that their joint L2 norm is at most max_norm.

    Inputs:
    - grads: the gradients, a dict of arrays, left untouched
    - max_norm: the largest joint norm allowed, a positive float

    Returns a tuple of:
    - clipped: a new dict; every array scaled by max_norm / total_norm when total_norm > max_norm
    - total_norm: the L2 norm over all arrays together, before clipping
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be positive, got {max_norm!r}")
    total_norm = float(np.sqrt(sum(np.sum(np.asarray(g, dtype=np.float64) ** 2) for g in grads.values())))
    factor = max_norm / total_norm if total_norm > max_norm else 1.0
    clipped = {name: np.asarray(g, dtype=np.float64) * factor for name, g in grads.items()}
    return clipped, total_norm


def hidden_jacobian_norms(params, x, h0=None):
    """
    Spectral norms of d h_{T-1} / d h_k for every k, on one sequence.

    With row vectors, d h_t / d h_{t-1} = diag(1 - h_t^2) Whh^T, and d h_{T-1} / d h_k is the
    product of those factors for t = T-1 down to k+1.

    Inputs:
    - params: as in loss_and_grads (Why and by are not used)
    - x: one input sequence, (1, T, D)
    - h0: initial hidden state, (1, H), or None for zeros

    Returns:
    - norms: (T,), entry k the spectral norm of d h_{T-1} / d h_k; entry T-1 is 1
    """
    Wxh, Whh, bh, _, _ = _check_params(params)
    x = as_float("x", x, 3)
    if x.shape[0] != 1:
        raise ValueError(f"x must hold one sequence, shape (1, T, D), got {x.shape}")
    h, _ = rnn_forward(x, _h0(h0, x, Whh.shape[0]), Wxh, Whh, bh)
    h = h[0]  # (T, H)
    T, H = h.shape
    norms = np.empty(T)
    J = np.eye(H)  # d h_{T-1} / d h_k, starting at k = T-1
    norms[T - 1] = 1.0
    for k in reversed(range(T - 1)):
        J = J @ ((1.0 - h[k + 1] ** 2)[:, None] * Whh.T)  # times d h_{k+1} / d h_k
        norms[k] = np.linalg.norm(J, 2)
    return norms
