"""GRU layers as forward/backward pairs, gate order (r, z, n) as in torch.nn.GRU.

Backs the chapter "LSTM and GRU". r = sigmoid(x Wx_r + bx_r + h Wh_r + bh_r), z likewise,
n = tanh(x Wx_n + bx_n + r * (h Wh_n + bh_n)), h_t = (1 - z) * n + z * h_{t-1}. With
Wx = weight_ih.T, Wh = weight_hh.T, bx = bias_ih, bh = bias_hh this equals torch.nn.GRU.
"""
import numpy as np

from solutions._checks import as_float, expect_shape
from solutions.lstm import sigmoid


def _check_gru_args(x, h_prev, Wx, Wh, bx, bh, x_ndim):
    x = as_float("x", x, x_ndim)
    h_prev = as_float("h0" if x_ndim == 3 else "h_prev", h_prev, 2)
    Wx = as_float("Wx", Wx, 2)
    Wh = as_float("Wh", Wh, 2)
    bx = as_float("bx", bx, 1)
    bh = as_float("bh", bh, 1)
    N, D, H = x.shape[0], x.shape[-1], Wh.shape[0]
    expect_shape("Wh", Wh, (H, 3 * H), "(H, 3H)")
    expect_shape("Wx", Wx, (D, 3 * H), "(D, 3H)")
    expect_shape("bx", bx, (3 * H,), "(3H,)")
    expect_shape("bh", bh, (3 * H,), "(3H,)")
    expect_shape("h0" if x_ndim == 3 else "h_prev", h_prev, (N, H), "(N, H)")
    return x, h_prev, Wx, Wh, bx, bh


def _step(x, h_prev, Wx, Wh, bx, bh):
    """The GRU step on checked arrays."""
    H = h_prev.shape[1]
    gx = x @ Wx + bx  # input side of all three gates, (N, 3H)
    gh = h_prev @ Wh + bh  # hidden side, (N, 3H)
    r = sigmoid(gx[:, :H] + gh[:, :H])  # reset (relevance) gate
    z = sigmoid(gx[:, H : 2 * H] + gh[:, H : 2 * H])  # update gate
    ghn = gh[:, 2 * H :]  # (N, H)
    n = np.tanh(gx[:, 2 * H :] + r * ghn)  # candidate state
    h = (1.0 - z) * n + z * h_prev  # (N, H)
    return h, (x, h_prev, Wx, Wh, r, z, n, ghn)


def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    """
    One GRU step.

    Inputs:
    - x: inputs at this step, (N, D)
    - h_prev: previous hidden state, (N, H)
    - Wx: the three gates' input weights, stacked in the order (r, z, n), (D, 3H)
    - Wh: the three gates' hidden-state weights, same order, (H, 3H)
    - bx: the three gates' input-side biases, same order, (3H,)
    - bh: the three gates' hidden-side biases, same order, (3H,)

    Returns a tuple of:
    - h: the new hidden state, (N, H)
    - cache: (x, h_prev, Wx, Wh, r, z, n, h_prev Wh_n + bh_n), the last four (N, H)
    """
    return _step(*_check_gru_args(x, h_prev, Wx, Wh, bx, bh, 2))


def gru_step_backward(dh, cache):
    """
    Backward pass of one GRU step.

    Inputs:
    - dh: upstream gradient on h, (N, H)
    - cache: from gru_step_forward

    Returns a tuple of:
    - dx: gradient of the loss on x, (N, D)
    - dh_prev: gradient on h_prev, (N, H)
    - dWx: gradient on Wx, the three gates' input weights stacked in the order (r, z, n), (D, 3H)
    - dWh: gradient on Wh, the three gates' hidden-state weights in the same order, (H, 3H)
    - dbx: gradient on bx, the input-side biases, (3H,)
    - dbh: gradient on bh, the hidden-side biases, (3H,)
    """
    x, h_prev, Wx, Wh, r, z, n, ghn = cache
    dh = as_float("dh", dh, 2)
    expect_shape("dh", dh, z.shape, "(N, H)")
    dn = dh * (1.0 - z)
    dz = dh * (h_prev - n)
    dan = dn * (1.0 - n**2)  # through the candidate's tanh
    dar = dan * ghn * r * (1.0 - r)  # through r * (h Wh_n + bh_n) and the sigmoid
    daz = dz * z * (1.0 - z)
    dgx = np.concatenate([dar, daz, dan], axis=1)  # (N, 3H)
    dgh = np.concatenate([dar, daz, dan * r], axis=1)  # the reset gate scales the hidden side of n
    dx = dgx @ Wx.T  # (N, D)
    dh_prev = dh * z + dgh @ Wh.T  # the direct path plus the gates, (N, H)
    dWx = x.T @ dgx  # (D, 3H)
    dWh = h_prev.T @ dgh  # (H, 3H)
    return dx, dh_prev, dWx, dWh, dgx.sum(axis=0), dgh.sum(axis=0)


def gru_forward(x, h0, Wx, Wh, bx, bh):
    """
    Run a GRU over a whole sequence.

    Inputs:
    - x: input sequence, (N, T, D)
    - h0: initial hidden state, (N, H)
    - Wx: the three gates' input weights, stacked in the order (r, z, n), (D, 3H)
    - Wh: the three gates' hidden-state weights, same order, (H, 3H)
    - bx: the three gates' input-side biases, same order, (3H,)
    - bh: the three gates' hidden-side biases, same order, (3H,)

    Returns a tuple of:
    - h: hidden states for every step, (N, T, H)
    - cache: (x shape, list of T step caches)
    """
    return forward_over_time(_step, *_check_gru_args(x, h0, Wx, Wh, bx, bh, 3))


def forward_over_time(step, x, h0, Wx, Wh, bx, bh):
    """
    gru_forward's loop over time with a given step and no checks of the arguments.

    Inputs:
    - step: one step, step(x_t, h_prev, Wx, Wh, bx, bh) -> (h, step cache)
    - x, h0, Wx, Wh, bx, bh: as in gru_forward

    Returns h and cache as gru_forward does.
    """
    N, T, _ = x.shape
    h = np.empty((N, T, h0.shape[1]))
    h_prev, caches = h0, []
    for t in range(T):
        h_prev, step_cache = step(x[:, t], h_prev, Wx, Wh, bx, bh)
        h[:, t] = h_prev
        caches.append(step_cache)
    return h, (x.shape, caches)


def gru_backward(dh, cache):
    """
    Backpropagation through time for a GRU.

    Inputs:
    - dh: upstream gradient on every hidden state, (N, T, H)
    - cache: from gru_forward

    Returns a tuple of:
    - dx: gradient of the loss on x, (N, T, D)
    - dh0: gradient on h0, (N, H)
    - dWx: gradient on Wx, the three gates' input weights stacked in the order (r, z, n), (D, 3H)
    - dWh: gradient on Wh, the three gates' hidden-state weights in the same order, (H, 3H)
    - dbx: gradient on bx, the input-side biases, (3H,)
    - dbh: gradient on bh, the hidden-side biases, (3H,)
    """
    x_shape, caches = cache
    N, T, _ = x_shape
    dh = as_float("dh", dh, 3)
    expect_shape("dh", dh, (N, T, caches[0][1].shape[1]), "(N, T, H)")
    return backward_over_time(gru_step_backward, dh, cache)


def backward_over_time(step_backward, dh, cache):
    """
    gru_backward's loop over time with a given step backward and no checks of the arguments.

    Inputs:
    - step_backward: step_backward(dh, step cache) -> (dx, dh_prev, dWx, dWh, dbx, dbh)
    - dh, cache: as in gru_backward

    Returns the gradients as gru_backward does.
    """
    x_shape, caches = cache
    N, T, D = x_shape
    H = dh.shape[2]
    dx = np.empty(x_shape)
    dWx, dWh = np.zeros((D, 3 * H)), np.zeros((H, 3 * H))
    dbx, dbh = np.zeros(3 * H), np.zeros(3 * H)
    dh_next = np.zeros((N, H))  # from step t+1
    for t in reversed(range(T)):
        dx[:, t], dh_next, dWx_t, dWh_t, dbx_t, dbh_t = step_backward(dh[:, t] + dh_next, caches[t])
        dWx = dWx + dWx_t
        dWh = dWh + dWh_t
        dbx = dbx + dbx_t
        dbh = dbh + dbh_t
    return dx, dh_next, dWx, dWh, dbx, dbh
