"""Bidirectional RNN: a forward and a backward vanilla RNN whose states are concatenated.

Backs the chapter "Bidirectional RNNs". The layout is torch.nn.RNN's with bidirectional=True and
batch_first=True: h[:, t, :H] has read x[:, :t+1], h[:, t, H:] has read x[:, t:].
"""
import numpy as np

from solutions._checks import as_float
from solutions.rnn import rnn_backward, rnn_forward


def _unpack(name, params):
    if not isinstance(params, (tuple, list)) or len(params) != 3:
        raise ValueError(f"{name} must be a tuple (Wxh, Whh, bh), got {type(params).__name__}")
    return params


def birnn_forward(x, h0_fwd, h0_bwd, params_fwd, params_bwd):
    """
    Run a bidirectional RNN over a sequence.

    Inputs:
    - x: input sequence, (N, T, D)
    - h0_fwd: initial state of the forward direction, (N, H)
    - h0_bwd: initial state of the backward direction (it starts at t = T-1), (N, H)
    - params_fwd: (Wxh (D, H), Whh (H, H), bh (H,)) of the forward direction
    - params_bwd: the same for the backward direction

    Returns a tuple of:
    - h: (N, T, 2H), forward states then backward states
    - cache: (cache_fwd, cache_bwd)
    """
    x = as_float("x", x, 3)
    h_fwd, cache_fwd = rnn_forward(x, h0_fwd, *_unpack("params_fwd", params_fwd))  # (N, T, H)
    h_bwd, cache_bwd = rnn_forward(x[:, ::-1], h0_bwd, *_unpack("params_bwd", params_bwd))  # reversed time
    if h_fwd.shape != h_bwd.shape:
        raise ValueError(f"both directions must have the same H, got {h_fwd.shape[2]} and {h_bwd.shape[2]}")
    h = np.concatenate([h_fwd, h_bwd[:, ::-1]], axis=2)  # back in reading order, (N, T, 2H)
    return h, (cache_fwd, cache_bwd)


def birnn_backward(dh, cache):
    """
    Backpropagation through both directions.

    Inputs:
    - dh: upstream gradient, (N, T, 2H)
    - cache: from birnn_forward

    Returns a tuple of:
    - dx: gradient of the loss on x, (N, T, D)
    - dh0_fwd: gradient on h0_fwd, (N, H)
    - dh0_bwd: gradient on h0_bwd, (N, H)
    - dparams_fwd: (dWxh, dWhh, dbh) of the forward direction
    - dparams_bwd: the same for the backward direction
    """
    cache_fwd, cache_bwd = cache
    H = cache_fwd[3].shape[0]
    dh = as_float("dh", dh, 3)
    if dh.shape[2] != 2 * H:
        raise ValueError(f"dh must have shape (N, T, 2H) with 2H = {2 * H}, got {dh.shape}")
    dx_fwd, dh0_fwd, *dparams_fwd = rnn_backward(dh[:, :, :H], cache_fwd)
    dx_bwd, dh0_bwd, *dparams_bwd = rnn_backward(dh[:, ::-1, H:], cache_bwd)  # in the reversed time
    dx = dx_fwd + dx_bwd[:, ::-1]  # both directions read every x_t
    return dx, dh0_fwd, dh0_bwd, tuple(dparams_fwd), tuple(dparams_bwd)
