"""solutions.gru: steps and sequences against finite differences and torch.nn.GRU."""
import numpy as np
import pytest
import torch

from conftest import SIZES, TORCH_TOL, assert_close, check_grads_fd, n, t
from solutions.gru import gru_backward, gru_forward, gru_step_backward, gru_step_forward


def make_gru(rng, N, T, D, H):
    return (
        rng.standard_normal((N, T, D)),
        rng.standard_normal((N, H)),
        rng.standard_normal((D, 3 * H)) * 0.5,
        rng.standard_normal((H, 3 * H)) * 0.5,
        rng.standard_normal(3 * H) * 0.5,
        rng.standard_normal(3 * H) * 0.5,
    )


def test_step_forward_value_by_hand():
    # All weights zero, bx_z = big: z = 1 and h keeps h_prev exactly; bx_z = -big: h = n = tanh(0) = 0.
    Wx, Wh, bh = np.zeros((1, 3)), np.zeros((1, 3)), np.zeros(3)
    keep, _ = gru_step_forward(np.ones((1, 1)), np.array([[0.7]]), Wx, Wh, np.array([0.0, 50.0, 0.0]), bh)
    drop, _ = gru_step_forward(np.ones((1, 1)), np.array([[0.7]]), Wx, Wh, np.array([0.0, -50.0, 0.0]), bh)
    assert keep[0, 0] == pytest.approx(0.7)
    assert drop[0, 0] == pytest.approx(0.0, abs=1e-20)


@pytest.mark.parametrize("N,T,D,H", SIZES)
def test_step_gradients(rng, N, T, D, H):
    x, h0, Wx, Wh, bx, bh = make_gru(rng, N, 1, D, H)
    x = x[:, 0]
    h, cache = gru_step_forward(x, h0, Wx, Wh, bx, bh)
    assert h.shape == (N, H)
    dh = rng.standard_normal((N, H))
    grads = gru_step_backward(dh, cache)
    assert [g.shape for g in grads] == [(N, D), (N, H), (D, 3 * H), (H, 3 * H), (3 * H,), (3 * H,)]
    check_grads_fd(gru_step_forward, [x, h0, Wx, Wh, bx, bh], grads, ["x", "h_prev", "Wx", "Wh", "bx", "bh"], [dh])


@pytest.mark.parametrize("N,T,D,H", SIZES)
def test_sequence_gradients(rng, N, T, D, H):
    args = make_gru(rng, N, T, D, H)
    h, cache = gru_forward(*args)
    assert h.shape == (N, T, H)
    dh = rng.standard_normal((N, T, H))
    grads = gru_backward(dh, cache)
    assert [g.shape for g in grads] == [(N, T, D), (N, H), (D, 3 * H), (H, 3 * H), (3 * H,), (3 * H,)]
    check_grads_fd(gru_forward, list(args), grads, ["x", "h0", "Wx", "Wh", "bx", "bh"], [dh])


@pytest.mark.parametrize("N,T,D,H", SIZES)
def test_sequence_matches_torch(rng, N, T, D, H):
    x, h0, Wx, Wh, bx, bh = make_gru(rng, N, T, D, H)
    h, cache = gru_forward(x, h0, Wx, Wh, bx, bh)
    net = torch.nn.GRU(D, H, batch_first=True)
    with torch.no_grad():
        for param, value in zip(net.parameters(), (Wx.T, Wh.T, bx, bh)):
            param.copy_(t(value))
    xt, h0t = t(x, True), t(h0, True)
    out, _ = net(xt, h0t[None])
    assert_close(h, n(out), TORCH_TOL, "h")  # forward
    dh = rng.standard_normal((N, T, H))
    grads = gru_backward(dh, cache)
    (out * t(dh)).sum().backward()
    expected = [n(xt.grad), n(h0t.grad), n(net.weight_ih_l0.grad).T, n(net.weight_hh_l0.grad).T,
                n(net.bias_ih_l0.grad), n(net.bias_hh_l0.grad)]
    for g, e, name in zip(grads, expected, ["dx", "dh0", "dWx", "dWh", "dbx", "dbh"]):
        assert_close(g, e, TORCH_TOL, name)  # backward


def test_bad_shapes_are_named(rng):
    x, h0, Wx, Wh, bx, bh = make_gru(rng, 2, 3, 2, 3)
    with pytest.raises(ValueError, match=r"bh must have shape \(3H,\) = \(9,\), got \(8,\)"):
        gru_forward(x, h0, Wx, Wh, bx, bh[:8])
