"""solutions.bptt: the whole model's BPTT, truncation, clipping and Jacobian norms, against torch."""
import numpy as np
import pytest
import torch

from conftest import FD_TOL, TORCH_TOL, assert_close, n, t
from solutions.bptt import (
    PARAM_NAMES,
    clip_grad_norm,
    hidden_jacobian_norms,
    init_params,
    loss_and_grads,
    truncated_loss_and_grads,
)
from solutions.gradcheck import numerical_gradient, rel_error


def make_problem(rng, N, T, D, H, V, seed=0):
    params = init_params(D, H, V, seed=seed)
    params["bh"] = rng.standard_normal(H) * 0.1
    params["by"] = rng.standard_normal(V) * 0.1
    x = rng.standard_normal((N, T, D))
    y = rng.integers(0, V, (N, T))
    h0 = rng.standard_normal((N, H)) * 0.5
    return params, x, y, h0


def torch_model(params, x, y, h0, mask=None, k=None):
    """The same model in torch: autograd does the BPTT. With k, the state is detached every k steps."""
    p = {name: t(v, True) for name, v in params.items()}
    h = t(h0)
    N, T = y.shape
    loss = 0.0
    for step in range(T):
        if k is not None and step % k == 0:
            h = h.detach()  # no gradient across a window's start
        h = torch.tanh(t(x[:, step]) @ p["Wxh"] + h @ p["Whh"] + p["bh"])
        logp = torch.log_softmax(h @ p["Why"] + p["by"], dim=1)
        nll = -logp[torch.arange(N), torch.tensor(y[:, step])]
        if mask is not None:
            nll = nll * t(mask[:, step].astype(float))
        loss = loss + nll.sum() / N
    loss.backward()
    return loss.item(), {name: n(v.grad) for name, v in p.items()}


SIZES = [(3, 6, 4, 5, 7), (1, 1, 2, 3, 4), (2, 4, 1, 1, 2), (1, 5, 3, 4, 3)]


def test_init_params_shapes_and_scale():
    params = init_params(3, 200, 5, seed=1, scale=0.5)
    assert {k: v.shape for k, v in params.items()} == {
        "Wxh": (3, 200), "Whh": (200, 200), "bh": (200,), "Why": (200, 5), "by": (5,)
    }
    # scale / sqrt(H) entries put the spectral radius of Whh near the scale
    radius = np.max(np.abs(np.linalg.eigvals(params["Whh"])))
    assert 0.4 < radius < 0.6
    assert not np.array_equal(init_params(3, 4, 5, seed=1)["Whh"], init_params(3, 4, 5, seed=2)["Whh"])


@pytest.mark.parametrize("N,T,D,H,V", SIZES)
def test_loss_and_grads_against_torch(rng, N, T, D, H, V):
    params, x, y, h0 = make_problem(rng, N, T, D, H, V)
    loss, grads = loss_and_grads(params, x, y, h0)
    torch_loss, torch_grads = torch_model(params, x, y, h0)
    assert loss == pytest.approx(torch_loss, rel=1e-12)
    for name in PARAM_NAMES:
        assert grads[name].shape == params[name].shape
        assert_close(grads[name], torch_grads[name], TORCH_TOL, name)


@pytest.mark.parametrize("N,T,D,H,V", SIZES)
def test_loss_and_grads_against_finite_differences(rng, N, T, D, H, V):
    params, x, y, h0 = make_problem(rng, N, T, D, H, V)
    _, grads = loss_and_grads(params, x, y, h0)
    for name in PARAM_NAMES:
        def f(v, name=name):
            return loss_and_grads({**params, name: v}, x, y, h0)[0]
        assert_close(grads[name], numerical_gradient(f, params[name], h=1e-3, order=4), FD_TOL, name)


def test_mask_removes_steps_and_whole_sequences(rng):
    params, x, y, h0 = make_problem(rng, 3, 5, 2, 4, 3)
    mask = np.ones((3, 5), bool)
    mask[0, 3:] = False
    mask[1] = False  # a whole sequence gone
    loss, grads = loss_and_grads(params, x, y, h0, mask)
    torch_loss, torch_grads = torch_model(params, x, y, h0, mask)
    assert loss == pytest.approx(torch_loss, rel=1e-12)
    for name in PARAM_NAMES:
        assert_close(grads[name], torch_grads[name], TORCH_TOL, name)
    # masking everything leaves no loss and no gradient
    loss0, grads0 = loss_and_grads(params, x, y, h0, np.zeros((3, 5), bool))
    assert loss0 == 0.0 and all(np.all(g == 0) for g in grads0.values())


def test_h0_none_means_zeros(rng):
    params, x, y, _ = make_problem(rng, 2, 3, 2, 4, 3)
    loss_a, grads_a = loss_and_grads(params, x, y)
    loss_b, grads_b = loss_and_grads(params, x, y, np.zeros((2, 4)))
    assert loss_a == loss_b
    for name in PARAM_NAMES:
        np.testing.assert_array_equal(grads_a[name], grads_b[name])


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_truncated_against_torch_detach(rng, k):
    params, x, y, h0 = make_problem(rng, 2, 7, 3, 4, 5)
    loss, grads = truncated_loss_and_grads(params, x, y, k, h0)
    torch_loss, torch_grads = torch_model(params, x, y, h0, k=k)
    full_loss, full_grads = loss_and_grads(params, x, y, h0)
    assert loss == pytest.approx(torch_loss, rel=1e-12)
    assert loss == pytest.approx(full_loss, rel=1e-12)  # truncation changes gradients, never the loss
    for name in PARAM_NAMES:
        assert_close(grads[name], torch_grads[name], TORCH_TOL, name)
    # the output layer sees no recurrence, so its gradients are untouched by truncation
    assert_close(grads["Why"], full_grads["Why"], 1e-12, "Why")
    if k < 7:
        assert rel_error(grads["Whh"], full_grads["Whh"]) > 1e-6  # the recurrent ones differ


@pytest.mark.parametrize("k", [7, 8, 100])
def test_truncated_with_k_at_least_T_is_full_bptt(rng, k):
    params, x, y, h0 = make_problem(rng, 2, 7, 3, 4, 5)
    loss, grads = truncated_loss_and_grads(params, x, y, k, h0)
    full_loss, full_grads = loss_and_grads(params, x, y, h0)
    assert loss == pytest.approx(full_loss, rel=1e-14)
    for name in PARAM_NAMES:
        assert_close(grads[name], full_grads[name], 1e-12, name)


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_truncated_rejects_bad_k(rng, k):
    params, x, y, h0 = make_problem(rng, 1, 3, 2, 2, 2)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        truncated_loss_and_grads(params, x, y, k, h0)


def test_clip_grad_norm_matches_torch_and_leaves_input_alone(rng):
    grads = {"a": rng.standard_normal((3, 4)) * 5, "b": rng.standard_normal(6) * 5}
    before = {k: v.copy() for k, v in grads.items()}
    clipped, total = clip_grad_norm(grads, 1.5)
    tensors = [t(v, True) for v in grads.values()]
    for tensor, v in zip(tensors, grads.values()):
        tensor.grad = t(v)
    torch_total = torch.nn.utils.clip_grad_norm_(tensors, 1.5)
    assert total == pytest.approx(torch_total.item(), rel=1e-12)
    new_norm = np.sqrt(sum(np.sum(v**2) for v in clipped.values()))
    assert new_norm == pytest.approx(1.5, rel=1e-12)
    for tensor, name in zip(tensors, grads):
        # torch adds 1e-6 to the norm before dividing; the contract's factor is max_norm / total_norm
        assert_close(clipped[name], n(tensor.grad), 1e-6, name)
        np.testing.assert_array_equal(grads[name], before[name])


def test_clip_grad_norm_below_threshold_is_unchanged(rng):
    grads = {"a": np.array([0.3, 0.4])}
    clipped, total = clip_grad_norm(grads, 1.0)
    assert total == pytest.approx(0.5)
    np.testing.assert_array_equal(clipped["a"], grads["a"])
    assert clipped["a"] is not grads["a"]
    with pytest.raises(ValueError, match="max_norm must be positive"):
        clip_grad_norm(grads, 0)


@pytest.mark.parametrize("T,H", [(6, 4), (1, 3), (5, 1)])
def test_hidden_jacobian_norms_against_autograd(rng, T, H):
    params = init_params(2, H, 3, seed=3, scale=1.2)
    params["bh"] = rng.standard_normal(H) * 0.1
    x = rng.standard_normal((1, T, 2))
    h0 = rng.standard_normal((1, H))
    norms = hidden_jacobian_norms(params, x, h0)
    assert norms.shape == (T,)
    assert norms[T - 1] == 1.0
    Wxh, Whh, bh = (t(params[k]) for k in ("Wxh", "Whh", "bh"))
    for k in range(T - 1):
        h_k = torch.tanh(t(x[:, 0]) @ Wxh + t(h0) @ Whh + bh)
        for step in range(1, k + 1):
            h_k = torch.tanh(t(x[:, step]) @ Wxh + h_k @ Whh + bh)

        def from_k(h, k=k):
            for step in range(k + 1, T):
                h = torch.tanh(t(x[:, step]) @ Wxh + h @ Whh + bh)
            return h[0]

        J = torch.autograd.functional.jacobian(from_k, h_k)[:, 0, :]  # (H, H)
        assert norms[k] == pytest.approx(torch.linalg.matrix_norm(J, 2).item(), rel=1e-10)


def test_hidden_jacobian_norms_vanish_for_small_weights(rng):
    params = init_params(1, 20, 2, seed=0, scale=0.5)
    norms = hidden_jacobian_norms(params, rng.standard_normal((1, 30, 1)))
    assert norms[0] < 1e-5 and np.all(np.diff(norms) > 0)  # shrinking with distance


def test_hidden_jacobian_norms_wants_one_sequence(rng):
    params = init_params(2, 3, 4)
    with pytest.raises(ValueError, match=r"one sequence, shape \(1, T, D\), got \(2, 5, 2\)"):
        hidden_jacobian_norms(params, np.zeros((2, 5, 2)))


def test_missing_parameter_is_named(rng):
    params = init_params(2, 3, 4)
    del params["Why"]
    with pytest.raises(ValueError, match=r"params is missing \['Why'\]"):
        loss_and_grads(params, np.zeros((1, 2, 2)), np.zeros((1, 2), int))
