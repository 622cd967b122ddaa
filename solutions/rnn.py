"""Vanilla RNN layers as forward/backward pairs: steps, whole sequences, the output layer and the loss.

Backs the chapters "Recurrent neural networks" and "Backpropagation through time". Row vectors,
batch first, as in the lecture slides: h_t = tanh(x_t Wxh + h_{t-1} Whh + bh).
"""
import numpy as np

from solutions._checks import as_float, as_mask, expect_shape


def _check_rnn_args(x, h_prev, Wxh, Whh, bh, x_ndim):
    """Validate and convert the arguments shared by the step and sequence forwards."""
    x = as_float("x", x, x_ndim)
    h_prev = as_float("h0" if x_ndim == 3 else "h_prev", h_prev, 2)
    Wxh = as_float("Wxh", Wxh, 2)
    Whh = as_float("Whh", Whh, 2)
    bh = as_float("bh", bh, 1)
    N, D = x.shape[0], x.shape[-1]
    H = Whh.shape[0]
    expect_shape("Whh", Whh, (H, H), "(H, H)")
    expect_shape("Wxh", Wxh, (D, H), "(D, H)")
    expect_shape("bh", bh, (H,), "(H,)")
    expect_shape("h0" if x_ndim == 3 else "h_prev", h_prev, (N, H), "(N, H)")
    return x, h_prev, Wxh, Whh, bh


def rnn_step_forward(x, h_prev, Wxh, Whh, bh):
    """
    One time step of a vanilla RNN with a tanh nonlinearity.

    Inputs:
    - x: inputs at this step, (N, D)
    - h_prev: hidden state of the previous step, (N, H)
    - Wxh: input-to-hidden weights, (D, H)
    - Whh: hidden-to-hidden weights, (H, H)
    - bh: hidden bias, (H,)

    Returns a tuple of:
    - h: the new hidden state, (N, H)
    - cache: (x, h_prev, Wxh, Whh, h)
    """
    x, h_prev, Wxh, Whh, bh = _check_rnn_args(x, h_prev, Wxh, Whh, bh, 2)
    h = np.tanh(x @ Wxh + h_prev @ Whh + bh)  # (N, H)
    return h, (x, h_prev, Wxh, Whh, h)


def rnn_step_backward(dh, cache):
    """
    Backward pass of one RNN step.

    Inputs:
    - dh: upstream gradient on the new hidden state, (N, H)
    - cache: from rnn_step_forward

    Returns a tuple of:
    - dx: gradient of the loss on x, (N, D)
    - dh_prev: gradient on h_prev, (N, H)
    - dWxh: gradient on Wxh, (D, H)
    - dWhh: gradient on Whh, (H, H)
    - dbh: gradient on bh, (H,)
    """
    x, h_prev, Wxh, Whh, h = cache
    dh = as_float("dh", dh, 2)
    expect_shape("dh", dh, h.shape, "(N, H)")
    da = dh * (1.0 - h * h)  # through tanh, (N, H)
    dx = da @ Wxh.T  # (N, D)
    dh_prev = da @ Whh.T  # (N, H)
    dWxh = x.T @ da  # (D, H)
    dWhh = h_prev.T @ da  # (H, H)
    dbh = da.sum(axis=0)  # (H,)
    return dx, dh_prev, dWxh, dWhh, dbh


def rnn_forward(x, h0, Wxh, Whh, bh):
    """
    Run a vanilla RNN over a whole sequence.

    Inputs:
    - x: input sequence, (N, T, D)
    - h0: initial hidden state, (N, H)
    - Wxh: input-to-hidden weights, (D, H)
    - Whh: hidden-to-hidden weights, (H, H)
    - bh: hidden bias, (H,)

    Returns a tuple of:
    - h: hidden states for every step, (N, T, H)
    - cache: (x, h0, Wxh, Whh, h)
    """
    x, h0, Wxh, Whh, bh = _check_rnn_args(x, h0, Wxh, Whh, bh, 3)
    N, T, _ = x.shape
    H = Whh.shape[0]
    xw = x @ Wxh + bh  # input contributions for every step at once, (N, T, H)
    h = np.empty((N, T, H))
    h_prev = h0
    for t in range(T):
        h_prev = np.tanh(xw[:, t] + h_prev @ Whh)  # (N, H)
        h[:, t] = h_prev
    return h, (x, h0, Wxh, Whh, h)


def rnn_backward(dh, cache):
    """
    Backpropagation through time for a whole sequence.

    Inputs:
    - dh: upstream gradient on every hidden state, (N, T, H); the hidden states also
      pass gradient to each other through Whh, which this function adds
    - cache: from rnn_forward

    Returns a tuple of:
    - dx: gradient of the loss on x, (N, T, D)
    - dh0: gradient on h0, (N, H)
    - dWxh: gradient on Wxh, (D, H)
    - dWhh: gradient on Whh, (H, H)
    - dbh: gradient on bh, (H,)
    """
    x, h0, Wxh, Whh, h = cache
    dh = as_float("dh", dh, 3)
    expect_shape("dh", dh, h.shape, "(N, T, H)")
    N, T, D = x.shape
    H = h.shape[2]
    da = np.empty_like(h)  # gradient on the pre-activations, (N, T, H)
    dh_next = np.zeros((N, H))  # gradient flowing back from step t+1
    for t in reversed(range(T)):
        da[:, t] = (dh[:, t] + dh_next) * (1.0 - h[:, t] ** 2)  # through tanh
        dh_next = da[:, t] @ Whh.T  # on to h_{t-1}
    # The parameter gradients are sums over t of per-step outer products; with every da known,
    # each sum is one matrix product over all N*T rows, which is much faster than T small ones.
    h_prev = np.concatenate([h0[:, None, :], h[:, :-1]], axis=1)  # h_{t-1} for every t, (N, T, H)
    da2 = da.reshape(N * T, H)
    dx = da @ Wxh.T  # (N, T, D)
    dWxh = x.reshape(N * T, D).T @ da2  # (D, H)
    dWhh = h_prev.reshape(N * T, H).T @ da2  # (H, H)
    dbh = da2.sum(axis=0)  # (H,)
    return dx, dh_next, dWxh, dWhh, dbh


def temporal_affine_forward(h, W, b):
    """
    The output layer applied at every time step: o_t = h_t W + b.

    Inputs:
    - h: hidden states for every step, (N, T, H)
    - W: hidden-to-output weights, (H, V)
    - b: output bias, (V,)

    Returns a tuple of:
    - out: output scores (logits) for every step, (N, T, V)
    - cache: (h, W)
    """
    h = as_float("h", h, 3)
    W = as_float("W", W, 2)
    b = as_float("b", b, 1)
    H = h.shape[2]
    if W.shape[0] != H:
        raise ValueError(f"W must have shape (H, V) with H = {H}, got {W.shape}")
    expect_shape("b", b, (W.shape[1],), "(V,)")
    out = h @ W + b  # (N, T, V)
    return out, (h, W)


def temporal_affine_backward(dout, cache):
    """
    Backward pass of temporal_affine_forward.

    Inputs:
    - dout: upstream gradient on out, (N, T, V)
    - cache: from temporal_affine_forward

    Returns a tuple of:
    - dh: gradient of the loss on h, (N, T, H)
    - dW: gradient on W, (H, V)
    - db: gradient on b, (V,)
    """
    h, W = cache
    dout = as_float("dout", dout, 3)
    N, T, H = h.shape
    expect_shape("dout", dout, (N, T, W.shape[1]), "(N, T, V)")
    V = W.shape[1]
    dh = dout @ W.T  # (N, T, H)
    dW = h.reshape(N * T, H).T @ dout.reshape(N * T, V)  # (H, V)
    db = dout.sum(axis=(0, 1))  # (V,)
    return dh, dW, db


def temporal_softmax_loss(o, y, mask=None):
    """
    Softmax cross-entropy summed over time steps and averaged over the batch.

    Inputs:
    - o: logits, (N, T, V)
    - y: integer labels in [0, V), (N, T)
    - mask: optional bools, (N, T); a False step contributes neither loss nor gradient

    Returns a tuple of:
    - loss: the cross-entropy, a float
    - do: gradient of the loss on o, (N, T, V)
    """
    o = as_float("o", o, 3)
    N, T, V = o.shape
    y = np.asarray(y)
    if y.shape != (N, T):
        raise ValueError(f"y must have shape (N, T) = {(N, T)}, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must hold integer labels, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= V):
        raise ValueError(f"y must hold labels in [0, V) = [0, {V}), got values in [{y.min()}, {y.max()}]")
    mask = np.ones((N, T), dtype=bool) if mask is None else as_mask(mask, (N, T))
    shifted = o - o.max(axis=2, keepdims=True)  # for numerical stability, (N, T, V)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True))  # (N, T, V)
    picked = np.take_along_axis(log_p, y[..., None], axis=2)[..., 0]  # (N, T)
    loss = -(picked * mask).sum() / N
    do = np.exp(log_p)  # softmax probabilities, (N, T, V)
    np.put_along_axis(do, y[..., None], np.take_along_axis(do, y[..., None], axis=2) - 1.0, axis=2)
    do *= mask[..., None] / N
    return float(loss), do
