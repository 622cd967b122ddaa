"""solutions.lstm: steps and sequences against finite differences and torch.nn.LSTM."""
import numpy as np
import pytest
import torch

from conftest import SIZES, TORCH_TOL, assert_close, check_grads_fd, n, t
from solutions.lstm import lstm_backward, lstm_forward, lstm_step_backward, lstm_step_forward, sigmoid


def make_lstm(rng, N, T, D, H):
    return (
        rng.standard_normal((N, T, D)),
        rng.standard_normal((N, H)),
        rng.standard_normal((D, 4 * H)) * 0.5,
        rng.standard_normal((H, 4 * H)) * 0.5,
        rng.standard_normal(4 * H) * 0.5,
        rng.standard_normal((N, H)),
    )


def torch_lstm(Wx, Wh, b):
    D, H = Wx.shape[0], Wh.shape[0]
    net = torch.nn.LSTM(D, H, batch_first=True)
    with torch.no_grad():
        net.weight_ih_l0.copy_(t(Wx.T))
        net.weight_hh_l0.copy_(t(Wh.T))
        net.bias_ih_l0.copy_(t(b * 0.3))  # any split of b between the two biases
        net.bias_hh_l0.copy_(t(b * 0.7))
    return net


def test_sigmoid_is_stable_and_exact():
    a = np.array([-800.0, -1.0, 0.0, 2.0, 800.0])
    np.testing.assert_allclose(sigmoid(a), [0.0, 1 / (1 + np.e), 0.5, 1 / (1 + np.exp(-2)), 1.0], rtol=1e-15)


def test_step_forward_value_by_hand():
    # H = 1, zero input weights: every gate is sigmoid(0) = 0.5 and g = tanh(0) = 0 with a zero bias,
    # so c = 0.5 * c_prev and h = 0.5 * tanh(c).
    h, c, _ = lstm_step_forward(
        np.ones((1, 2)), np.zeros((1, 1)), np.array([[0.8]]), np.zeros((2, 4)), np.zeros((1, 4)), np.zeros(4)
    )
    assert c[0, 0] == pytest.approx(0.4)
    assert h[0, 0] == pytest.approx(0.5 * np.tanh(0.4))


@pytest.mark.parametrize("N,T,D,H", SIZES)
def test_step_gradients(rng, N, T, D, H):
    x, h0, Wx, Wh, b, c0 = make_lstm(rng, N, 1, D, H)
    x = x[:, 0]
    h, c, cache = lstm_step_forward(x, h0, c0, Wx, Wh, b)
    assert h.shape == c.shape == (N, H)
    dh, dc = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    grads = lstm_step_backward(dh, dc, cache)
    assert [g.shape for g in grads] == [(N, D), (N, H), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,)]
    check_grads_fd(
        lambda x, h, c, Wx, Wh, b: lstm_step_forward(x, h, c, Wx, Wh, b),
        [x, h0, c0, Wx, Wh, b], grads, ["x", "h_prev", "c_prev", "Wx", "Wh", "b"], [dh, dc], outputs=(0, 1),
    )


@pytest.mark.parametrize("N,T,D,H", SIZES)
def test_sequence_gradients(rng, N, T, D, H):
    x, h0, Wx, Wh, b, c0 = make_lstm(rng, N, T, D, H)
    h, cache = lstm_forward(x, h0, Wx, Wh, b, c0)
    assert h.shape == (N, T, H)
    dh = rng.standard_normal((N, T, H))
    grads = lstm_backward(dh, cache)
    assert [g.shape for g in grads] == [(N, T, D), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,)]
    check_grads_fd(
        lambda x, h0, Wx, Wh, b: lstm_forward(x, h0, Wx, Wh, b, c0),
        [x, h0, Wx, Wh, b],
        grads,
        ["x", "h0", "Wx", "Wh", "b"],
        [dh],
    )


@pytest.mark.parametrize("N,T,D,H", SIZES)
def test_sequence_matches_torch(rng, N, T, D, H):
    x, h0, Wx, Wh, b, c0 = make_lstm(rng, N, T, D, H)
    h, cache = lstm_forward(x, h0, Wx, Wh, b, c0)
    net = torch_lstm(Wx, Wh, b)
    xt, h0t = t(x, True), t(h0, True)
    out, _ = net(xt, (h0t[None], t(c0)[None]))
    assert_close(h, n(out), TORCH_TOL, "h")  # forward
    dh = rng.standard_normal((N, T, H))
    dx, dh0, dWx, dWh, db = lstm_backward(dh, cache)
    (out * t(dh)).sum().backward()
    assert_close(dx, n(xt.grad), TORCH_TOL, "dx")  # backward
    assert_close(dh0, n(h0t.grad), TORCH_TOL, "dh0")
    assert_close(dWx, n(net.weight_ih_l0.grad).T, TORCH_TOL, "dWx")
    assert_close(dWh, n(net.weight_hh_l0.grad).T, TORCH_TOL, "dWh")
    assert_close(db, n(net.bias_ih_l0.grad), TORCH_TOL, "db")


def test_c0_none_means_zeros(rng):
    x, h0, Wx, Wh, b, _ = make_lstm(rng, 2, 3, 2, 3)
    a, _ = lstm_forward(x, h0, Wx, Wh, b)
    z, _ = lstm_forward(x, h0, Wx, Wh, b, np.zeros((2, 3)))
    np.testing.assert_array_equal(a, z)


def test_bad_shapes_are_named(rng):
    x, h0, Wx, Wh, b, c0 = make_lstm(rng, 2, 3, 2, 3)
    with pytest.raises(ValueError, match=r"Wx must have shape \(D, 4H\) = \(2, 12\), got \(2, 9\)"):
        lstm_forward(x, h0, Wx[:, :9], Wh, b)
    with pytest.raises(ValueError, match=r"c0 must have shape \(N, H\) = \(2, 3\)"):
        lstm_forward(x, h0, Wx, Wh, b, c0[:1])
