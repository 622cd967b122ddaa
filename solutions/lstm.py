"""LSTM layers as forward/backward pairs, gate order (i, f, g, o) as in torch.nn.LSTM.

Backs the chapter "LSTM and GRU". With Wx = weight_ih.T, Wh = weight_hh.T and b = bias_ih + bias_hh,
lstm_forward equals torch.nn.LSTM(batch_first=True).
"""
import numpy as np

from solutions._checks import as_float, expect_shape


def sigmoid(a):
    """Numerically stable logistic function."""
    out = np.empty_like(a)
    pos = a >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-a[pos]))
    e = np.exp(a[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _check_lstm_args(x, h_prev, c_prev, Wx, Wh, b, x_ndim):
    x = as_float("x", x, x_ndim)
    h_prev = as_float("h0" if x_ndim == 3 else "h_prev", h_prev, 2)
    Wx = as_float("Wx", Wx, 2)
    Wh = as_float("Wh", Wh, 2)
    b = as_float("b", b, 1)
    N, D, H = x.shape[0], x.shape[-1], Wh.shape[0]
    expect_shape("Wh", Wh, (H, 4 * H), "(H, 4H)")
    expect_shape("Wx", Wx, (D, 4 * H), "(D, 4H)")
    expect_shape("b", b, (4 * H,), "(4H,)")
    expect_shape("h0" if x_ndim == 3 else "h_prev", h_prev, (N, H), "(N, H)")
    if c_prev is None:
        c_prev = np.zeros((N, H))
    c_prev = as_float("c0" if x_ndim == 3 else "c_prev", c_prev, 2)
    expect_shape("c0" if x_ndim == 3 else "c_prev", c_prev, (N, H), "(N, H)")
    return x, h_prev, c_prev, Wx, Wh, b


def _step(x, h_prev, c_prev, Wx, Wh, b):
    """The LSTM step on checked arrays."""
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b  # (N, 4H)
    i = sigmoid(a[:, :H])  # input gate
    f = sigmoid(a[:, H : 2 * H])  # forget gate
    g = np.tanh(a[:, 2 * H : 3 * H])  # candidate cell
    o = sigmoid(a[:, 3 * H :])  # output gate
    c = f * c_prev + i * g  # (N, H)
    tc = np.tanh(c)  # (N, H)
    h = o * tc  # (N, H)
    return h, c, (x, h_prev, c_prev, Wx, Wh, i, f, g, o, tc)


def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    """
    One LSTM step.

    Inputs:
    - x: inputs at this step, (N, D)
    - h_prev: previous hidden state, (N, H)
    - c_prev: previous cell state, (N, H)
    - Wx: the four gates' input weights, stacked in the order (i, f, g, o), (D, 4H)
    - Wh: the four gates' hidden-state weights, same order, (H, 4H)
    - b: the four gates' biases, same order, (4H,)

    Returns a tuple of:
    - h: the new hidden state, (N, H)
    - c: the new cell state, (N, H)
    - cache: (x, h_prev, c_prev, Wx, Wh, i, f, g, o, tanh(c)), each gate (N, H)
    """
    return _step(*_check_lstm_args(x, h_prev, c_prev, Wx, Wh, b, 2))


def lstm_step_backward(dh, dc, cache):
    """
    Backward pass of one LSTM step.

    Inputs:
    - dh: upstream gradient on h, (N, H)
    - dc: upstream gradient on c, (N, H)
    - cache: from lstm_step_forward

    Returns a tuple of:
    - dx: gradient of the loss on x, (N, D)
    - dh_prev: gradient on h_prev, (N, H)
    - dc_prev: gradient on c_prev, (N, H)
    - dWx: gradient on Wx, the four gates' input weights stacked in the order (i, f, g, o), (D, 4H)
    - dWh: gradient on Wh, the four gates' hidden-state weights in the same order, (H, 4H)
    - db: gradient on b, the four gates' biases in the same order, (4H,)
    """
    x, h_prev, c_prev, Wx, Wh, i, f, g, o, tc = cache
    dh = as_float("dh", dh, 2)
    dc = as_float("dc", dc, 2)
    expect_shape("dh", dh, i.shape, "(N, H)")
    expect_shape("dc", dc, i.shape, "(N, H)")
    do = dh * tc  # through h = o * tanh(c)
    dc = dc + dh * o * (1.0 - tc**2)  # c feeds h as well as the next step
    di = dc * g
    df = dc * c_prev
    dg = dc * i
    dc_prev = dc * f  # the additive path: only the forget gate scales it
    da = np.concatenate(  # through the gate nonlinearities, (N, 4H)
        [di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)], axis=1
    )
    dx = da @ Wx.T  # (N, D)
    dh_prev = da @ Wh.T  # (N, H)
    dWx = x.T @ da  # (D, 4H)
    dWh = h_prev.T @ da  # (H, 4H)
    db = da.sum(axis=0)  # (4H,)
    return dx, dh_prev, dc_prev, dWx, dWh, db


def lstm_forward(x, h0, Wx, Wh, b, c0=None):
    """
    Run an LSTM over a whole sequence.

    Inputs:
    - x: input sequence, (N, T, D)
    - h0: initial hidden state, (N, H)
    - Wx: the four gates' input weights, stacked in the order (i, f, g, o), (D, 4H)
    - Wh: the four gates' hidden-state weights, same order, (H, 4H)
    - b: the four gates' biases, same order, (4H,)
    - c0: initial cell state, (N, H); None means zeros

    Returns a tuple of:
    - h: hidden states, (N, T, H)
    - cache: (x shape, list of T step caches)
    """
    return forward_over_time(_step, *_check_lstm_args(x, h0, c0, Wx, Wh, b, 3))


def forward_over_time(step, x, h0, c0, Wx, Wh, b):
    """
    lstm_forward's loop over time with a given step and no checks of the arguments.

    Inputs:
    - step: one step, step(x_t, h_prev, c_prev, Wx, Wh, b) -> (h, c, step cache)
    - x, h0, c0, Wx, Wh, b: as in lstm_forward (c0 an array)

    Returns h and cache as lstm_forward does.
    """
    N, T, _ = x.shape
    h = np.empty((N, T, h0.shape[1]))
    h_prev, c_prev, caches = h0, c0, []
    for t in range(T):
        h_prev, c_prev, step_cache = step(x[:, t], h_prev, c_prev, Wx, Wh, b)
        h[:, t] = h_prev
        caches.append(step_cache)
    return h, (x.shape, caches)


def lstm_backward(dh, cache):
    """
    Backpropagation through time for an LSTM.

    Inputs:
    - dh: upstream gradient on every hidden state, (N, T, H)
    - cache: from lstm_forward

    Returns a tuple of:
    - dx: gradient of the loss on x, (N, T, D)
    - dh0: gradient on h0, (N, H)
    - dWx: gradient on Wx, the four gates' input weights stacked in the order (i, f, g, o), (D, 4H)
    - dWh: gradient on Wh, the four gates' hidden-state weights in the same order, (H, 4H)
    - db: gradient on b, the four gates' biases in the same order, (4H,)
    """
    x_shape, caches = cache
    N, T, _ = x_shape
    dh = as_float("dh", dh, 3)
    expect_shape("dh", dh, (N, T, caches[0][1].shape[1]), "(N, T, H)")
    return backward_over_time(lstm_step_backward, dh, cache)


def backward_over_time(step_backward, dh, cache):
    """
    lstm_backward's loop over time with a given step backward and no checks of the arguments.

    Inputs:
    - step_backward: step_backward(dh, dc, step cache) -> (dx, dh_prev, dc_prev, dWx, dWh, db)
    - dh, cache: as in lstm_backward

    Returns the gradients as lstm_backward does.
    """
    x_shape, caches = cache
    N, T, D = x_shape
    H = dh.shape[2]
    dx = np.empty(x_shape)
    dWx, dWh, db = np.zeros((D, 4 * H)), np.zeros((H, 4 * H)), np.zeros(4 * H)
    dh_next, dc_next = np.zeros((N, H)), np.zeros((N, H))  # from step t+1
    for t in reversed(range(T)):
        dx[:, t], dh_next, dc_next, dWx_t, dWh_t, db_t = step_backward(dh[:, t] + dh_next, dc_next, caches[t])
        dWx = dWx + dWx_t
        dWh = dWh + dWh_t
        db = db + db_t
    return dx, dh_next, dWx, dWh, db
