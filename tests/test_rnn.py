"""solutions.rnn: steps, sequences, the output layer and the loss, against finite differences and torch."""
import numpy as np
import pytest
import torch

from conftest import FD_TOL, SIZES, TORCH_TOL, assert_close, check_grads_fd, n, t
from solutions.gradcheck import numerical_gradient
from solutions.rnn import (
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
    temporal_affine_backward,
    temporal_affine_forward,
    temporal_softmax_loss,
)


def make_rnn(rng, N, T, D, H):
    x = rng.standard_normal((N, T, D))
    h0 = rng.standard_normal((N, H))
    Wxh = rng.standard_normal((D, H)) * 0.5
    Whh = rng.standard_normal((H, H)) * 0.5
    bh = rng.standard_normal(H) * 0.5
    return x, h0, Wxh, Whh, bh


def torch_rnn(x, h0, Wxh, Whh, bh):
    """torch.nn.RNN with the same weights (weight_ih = Wxh.T, bias split between ih and hh)."""
    D, H = Wxh.shape
    net = torch.nn.RNN(D, H, batch_first=True, nonlinearity="tanh")
    with torch.no_grad():
        net.weight_ih_l0.copy_(t(Wxh.T))
        net.weight_hh_l0.copy_(t(Whh.T))
        net.bias_ih_l0.copy_(t(bh / 2))
        net.bias_hh_l0.copy_(t(bh / 2))
    return net


def test_step_forward_value_by_hand():
    # One unit, one input: h = tanh(2 * 0.5 + 1 * (-1) + 0.25) = tanh(0.25)
    h, _ = rnn_step_forward(
        np.array([[2.0]]), np.array([[1.0]]), np.array([[0.5]]), np.array([[-1.0]]), np.array([0.25])
    )
    assert h.shape == (1, 1)
    assert h[0, 0] == pytest.approx(np.tanh(0.25))


@pytest.mark.parametrize("N,T,D,H", SIZES)
def test_step_shapes_and_gradients(rng, N, T, D, H):
    x, h0, Wxh, Whh, bh = make_rnn(rng, N, 1, D, H)
    x = x[:, 0]
    h, cache = rnn_step_forward(x, h0, Wxh, Whh, bh)
    assert h.shape == (N, H)
    dh = rng.standard_normal((N, H))
    grads = rnn_step_backward(dh, cache)
    assert [g.shape for g in grads] == [(N, D), (N, H), (D, H), (H, H), (H,)]
    check_grads_fd(rnn_step_forward, [x, h0, Wxh, Whh, bh], grads, ["x", "h_prev", "Wxh", "Whh", "bh"], [dh])


@pytest.mark.parametrize("N,T,D,H", SIZES)
def test_sequence_shapes_and_gradients(rng, N, T, D, H):
    x, h0, Wxh, Whh, bh = make_rnn(rng, N, T, D, H)
    h, cache = rnn_forward(x, h0, Wxh, Whh, bh)
    assert h.shape == (N, T, H)
    dh = rng.standard_normal((N, T, H))
    grads = rnn_backward(dh, cache)
    assert [g.shape for g in grads] == [(N, T, D), (N, H), (D, H), (H, H), (H,)]
    check_grads_fd(rnn_forward, [x, h0, Wxh, Whh, bh], grads, ["x", "h0", "Wxh", "Whh", "bh"], [dh])


def test_sequence_forward_is_the_steps_in_order(rng):
    x, h0, Wxh, Whh, bh = make_rnn(rng, 2, 4, 3, 5)
    h, _ = rnn_forward(x, h0, Wxh, Whh, bh)
    h_prev = h0
    for step in range(4):
        h_prev, _ = rnn_step_forward(x[:, step], h_prev, Wxh, Whh, bh)
        np.testing.assert_allclose(h[:, step], h_prev, rtol=0, atol=1e-14)


@pytest.mark.parametrize("N,T,D,H", SIZES)
def test_sequence_matches_torch_forward(rng, N, T, D, H):
    x, h0, Wxh, Whh, bh = make_rnn(rng, N, T, D, H)
    h, _ = rnn_forward(x, h0, Wxh, Whh, bh)
    out, _ = torch_rnn(x, h0, Wxh, Whh, bh)(t(x), t(h0)[None])
    assert_close(h, n(out), TORCH_TOL, "h")


@pytest.mark.parametrize("N,T,D,H", SIZES)
def test_sequence_matches_torch_backward(rng, N, T, D, H):
    x, h0, Wxh, Whh, bh = make_rnn(rng, N, T, D, H)
    dh = rng.standard_normal((N, T, H))
    dx, dh0, dWxh, dWhh, dbh = rnn_backward(dh, rnn_forward(x, h0, Wxh, Whh, bh)[1])
    net = torch_rnn(x, h0, Wxh, Whh, bh)
    xt, h0t = t(x, True), t(h0, True)
    out, _ = net(xt, h0t[None])
    (out * t(dh)).sum().backward()
    assert_close(dx, n(xt.grad), TORCH_TOL, "dx")
    assert_close(dh0, n(h0t.grad), TORCH_TOL, "dh0")
    assert_close(dWxh, n(net.weight_ih_l0.grad).T, TORCH_TOL, "dWxh")
    assert_close(dWhh, n(net.weight_hh_l0.grad).T, TORCH_TOL, "dWhh")
    assert_close(dbh, n(net.bias_hh_l0.grad), TORCH_TOL, "dbh")


def test_inputs_are_not_modified(rng):
    args = make_rnn(rng, 2, 3, 4, 5)
    copies = [a.copy() for a in args]
    h, cache = rnn_forward(*args)
    rnn_backward(np.ones_like(h), cache)
    for a, c in zip(args, copies):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("N,T,H,V", [(2, 3, 4, 5), (1, 1, 1, 1)])
def test_affine_gradients_and_torch(rng, N, T, H, V):
    h = rng.standard_normal((N, T, H))
    W = rng.standard_normal((H, V))
    b = rng.standard_normal(V)
    out, cache = temporal_affine_forward(h, W, b)
    assert out.shape == (N, T, V)
    np.testing.assert_allclose(out[0, 0], h[0, 0] @ W + b, rtol=1e-14)
    dout = rng.standard_normal((N, T, V))
    grads = temporal_affine_backward(dout, cache)
    check_grads_fd(temporal_affine_forward, [h, W, b], grads, ["h", "W", "b"], [dout])
    ht, Wt, bt = t(h, True), t(W, True), t(b, True)
    (torch.nn.functional.linear(ht, Wt.T, bt) * t(dout)).sum().backward()
    for g, tg, name in zip(grads, (ht, Wt, bt), "hWb"):
        assert_close(g, n(tg.grad), TORCH_TOL, f"d{name} vs torch")


def test_softmax_loss_value_by_hand():
    # Uniform logits over V classes: every step costs log V; two steps, batch of one.
    loss, do = temporal_softmax_loss(np.zeros((1, 2, 4)), np.array([[1, 3]]))
    assert loss == pytest.approx(2 * np.log(4))
    np.testing.assert_allclose(do[0, 0], [0.25, -0.75, 0.25, 0.25])


@pytest.mark.parametrize("use_mask", [False, True])
def test_softmax_loss_against_torch_and_finite_differences(rng, use_mask):
    N, T, V = 4, 5, 6
    o = rng.standard_normal((N, T, V))
    y = rng.integers(0, V, (N, T))
    mask = rng.random((N, T)) > 0.3 if use_mask else None
    if use_mask:
        mask[2] = False  # a whole sequence removed
    loss, do = temporal_softmax_loss(o, y, mask)
    assert_close(do, numerical_gradient(lambda v: temporal_softmax_loss(v, y, mask)[0], o), FD_TOL, "do")
    ot = t(o, True)
    ce = torch.nn.functional.cross_entropy(ot.reshape(-1, V), torch.tensor(y.reshape(-1)), reduction="none")
    m = torch.ones(N * T) if mask is None else t(mask.reshape(-1).astype(float))
    torch_loss = (ce * m).sum() / N  # summed over time, averaged over the batch
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=1e-12)
    assert_close(do, n(ot.grad), TORCH_TOL, "do vs torch")
    if use_mask:
        assert np.all(do[2] == 0)


def test_softmax_loss_is_stable_for_large_logits():
    o = np.array([[[1000.0, 0.0], [0.0, 1000.0]]])
    loss, do = temporal_softmax_loss(o, np.array([[0, 0]]))
    assert np.isfinite(loss) and loss == pytest.approx(1000.0)
    assert np.all(np.isfinite(do))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: rnn_forward(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((3, 4)), np.zeros((4, 4)), np.zeros(4)),
         r"x must have 3 dimensions, got shape \(2, 3\)"),
        (lambda: rnn_forward(np.zeros((2, 3, 5)), np.zeros((2, 4)), np.zeros((3, 4)), np.zeros((4, 4)), np.zeros(4)),
         r"Wxh must have shape \(D, H\) = \(5, 4\), got \(3, 4\)"),
        (lambda: rnn_forward(np.zeros((2, 3, 3)), np.zeros((1, 4)), np.zeros((3, 4)), np.zeros((4, 4)), np.zeros(4)),
         r"h0 must have shape \(N, H\) = \(2, 4\), got \(1, 4\)"),
        (lambda: rnn_step_forward(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((3, 4)), np.zeros((4, 4)), np.zeros(5)),
         r"bh must have shape \(H,\) = \(4,\), got \(5,\)"),
        (lambda: temporal_softmax_loss(np.zeros((2, 3, 4)), np.zeros((2, 3))), r"y must hold integer labels"),
        (lambda: temporal_softmax_loss(np.zeros((2, 3, 4)), np.full((2, 3), 4)), r"labels in \[0, V\) = \[0, 4\)"),
        (lambda: temporal_softmax_loss(np.zeros((2, 3, 4)), np.zeros((2, 3), int), np.ones((3, 2), bool)),
         r"mask must have shape \(N, T\) = \(2, 3\)"),
        (lambda: temporal_affine_forward(np.zeros((2, 3, 4)), np.zeros((5, 6)), np.zeros(6)),
         r"W must have shape \(H, V\) with H = 4"),
    ],
)
def test_bad_input_names_the_argument_and_shape(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_backward_rejects_a_gradient_of_the_wrong_shape(rng):
    h, cache = rnn_forward(*make_rnn(rng, 2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"dh must have shape \(N, T, H\) = \(2, 3, 5\)"):
        rnn_backward(np.zeros((2, 3, 4)), cache)
