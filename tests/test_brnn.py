"""solutions.brnn: both directions against finite differences and torch's bidirectional RNN."""
import numpy as np
import pytest
import torch

from conftest import SIZES, TORCH_TOL, assert_close, check_grads_fd, n, t
from solutions.brnn import birnn_backward, birnn_forward
from solutions.rnn import rnn_forward


def make_params(rng, D, H):
    return (rng.standard_normal((D, H)) * 0.5, rng.standard_normal((H, H)) * 0.5, rng.standard_normal(H) * 0.5)


def make_birnn(rng, N, T, D, H):
    return (rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H)),
            make_params(rng, D, H), make_params(rng, D, H))


def test_layout_forward_half_reads_the_past_backward_half_the_future(rng):
    x, h0f, h0b, pf, pb = make_birnn(rng, 2, 5, 3, 4)
    h, _ = birnn_forward(x, h0f, h0b, pf, pb)
    assert h.shape == (2, 5, 8)
    np.testing.assert_allclose(h[:, 2, :4], rnn_forward(x[:, :3], h0f, *pf)[0][:, -1], rtol=1e-14)
    np.testing.assert_allclose(h[:, 2, 4:], rnn_forward(x[:, 2:][:, ::-1], h0b, *pb)[0][:, -1], rtol=1e-14)


@pytest.mark.parametrize("N,T,D,H", SIZES)
def test_gradients(rng, N, T, D, H):
    x, h0f, h0b, pf, pb = make_birnn(rng, N, T, D, H)
    h, cache = birnn_forward(x, h0f, h0b, pf, pb)
    dh = rng.standard_normal((N, T, 2 * H))
    dx, dh0f, dh0b, dpf, dpb = birnn_backward(dh, cache)
    flat_args = [x, h0f, h0b, *pf, *pb]
    flat_grads = [dx, dh0f, dh0b, *dpf, *dpb]
    names = ["x", "h0_fwd", "h0_bwd", "Wxh_fwd", "Whh_fwd", "bh_fwd", "Wxh_bwd", "Whh_bwd", "bh_bwd"]
    check_grads_fd(lambda x, a, b, *p: birnn_forward(x, a, b, p[:3], p[3:]), flat_args, flat_grads, names, [dh])


@pytest.mark.parametrize("N,T,D,H", SIZES)
def test_matches_torch_bidirectional(rng, N, T, D, H):
    x, h0f, h0b, pf, pb = make_birnn(rng, N, T, D, H)
    h, cache = birnn_forward(x, h0f, h0b, pf, pb)
    net = torch.nn.RNN(D, H, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for suffix, (Wxh, Whh, bh) in (("l0", pf), ("l0_reverse", pb)):
            getattr(net, f"weight_ih_{suffix}").copy_(t(Wxh.T))
            getattr(net, f"weight_hh_{suffix}").copy_(t(Whh.T))
            getattr(net, f"bias_ih_{suffix}").copy_(t(bh))
            getattr(net, f"bias_hh_{suffix}").zero_()
    xt, h0t = t(x, True), t(np.stack([h0f, h0b]), True)
    out, _ = net(xt, h0t)
    assert_close(h, n(out), TORCH_TOL, "h")  # forward
    dh = rng.standard_normal((N, T, 2 * H))
    dx, dh0f, dh0b, dpf, dpb = birnn_backward(dh, cache)
    (out * t(dh)).sum().backward()
    assert_close(dx, n(xt.grad), TORCH_TOL, "dx")  # backward
    assert_close(dh0f, n(h0t.grad[0]), TORCH_TOL, "dh0_fwd")
    assert_close(dh0b, n(h0t.grad[1]), TORCH_TOL, "dh0_bwd")
    for suffix, dp in (("l0", dpf), ("l0_reverse", dpb)):
        assert_close(dp[0], n(getattr(net, f"weight_ih_{suffix}").grad).T, TORCH_TOL, f"dWxh_{suffix}")
        assert_close(dp[1], n(getattr(net, f"weight_hh_{suffix}").grad).T, TORCH_TOL, f"dWhh_{suffix}")
        assert_close(dp[2], n(getattr(net, f"bias_ih_{suffix}").grad), TORCH_TOL, f"dbh_{suffix}")


def test_bad_params_are_named(rng):
    x, h0f, h0b, pf, pb = make_birnn(rng, 2, 3, 2, 3)
    with pytest.raises(ValueError, match=r"params_bwd must be a tuple \(Wxh, Whh, bh\)"):
        birnn_forward(x, h0f, h0b, pf, pb[:2])
    with pytest.raises(ValueError, match=r"dh must have shape \(N, T, 2H\) with 2H = 6"):
        birnn_backward(np.zeros((2, 3, 3)), birnn_forward(x, h0f, h0b, pf, pb)[1])
