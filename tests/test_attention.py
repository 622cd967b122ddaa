"""solutions.attention: the numpy layer against loops, finite differences and autograd; the torch model."""
import numpy as np
import pytest
import torch

from conftest import TORCH_TOL, assert_close, check_grads_fd, n, t
from solutions.attention import (
    AttnSeq2Seq,
    additive_attention_backward,
    additive_attention_forward,
    count_parameters,
    exact_matches,
    greedy_decode_attention,
    masked_softmax,
)
from solutions.data import pad_batch
from solutions.seq2seq import Seq2Seq, greedy_decode_batch, train

V_SRC, V, D, H = 9, 7, 5, 6


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread is fastest, and spares a busy machine; restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# (N, S, H, A) with the edges N = 1, S = 1, H = 1, A = 1
SIZES = [(3, 5, 4, 3), (1, 4, 3, 5), (2, 1, 3, 2), (2, 3, 1, 1), (1, 1, 1, 1)]


def make_layer(rng, N, S, Hd, A):
    """Random inputs of the numpy layer; the last rows are padded to lengths S, S-1, ... (at least 1)."""
    lengths = [max(1, S - i) for i in range(N)]
    mask = np.arange(S)[None, :] < np.array(lengths)[:, None]
    def r(*shape):
        return rng.standard_normal(shape) * 0.5  # moderate scores: a smooth softmax for the differences

    return r(N, Hd), r(N, S, Hd), mask, r(Hd, A), r(Hd, A), r(A)


def torch_layer(h_dec, h_enc, mask, Wa, Ua, v):
    """The same equations written in torch, for autograd."""
    e = torch.tanh((h_dec @ Wa)[:, None, :] + h_enc @ Ua) @ v  # (N, S)
    alpha = torch.softmax(e.masked_fill(~torch.as_tensor(mask), float("-inf")), dim=1)
    return torch.einsum("ns,nsh->nh", alpha, h_enc), alpha


# ---- masked softmax and the forward ---------------------------------------------------------------


def test_masked_softmax_sums_to_one_and_ignores_padding(rng):
    e = rng.standard_normal((3, 5)) * 10
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]], dtype=bool)
    alpha = masked_softmax(e, mask)
    assert_close(alpha.sum(1), np.ones(3), 1e-14, "sums")
    assert (alpha[~mask] == 0).all()
    assert alpha[2, 0] == 1.0
    for i, k in enumerate((5, 2, 1)):  # equals the ordinary softmax of the real prefix
        w = np.exp(e[i, :k] - e[i, :k].max())
        assert_close(alpha[i, :k], w / w.sum(), 1e-14, "prefix")
    e2 = e.copy()
    e2[~mask] = 1e6  # the padded scores do not matter, however large
    np.testing.assert_array_equal(masked_softmax(e2, mask), alpha)
    assert_close(masked_softmax(e + 123.0, mask), alpha, 1e-12, "shift")


@pytest.mark.parametrize("N, S, Hd, A", SIZES)
def test_forward_equals_loops(rng, N, S, Hd, A):
    h_dec, h_enc, mask, Wa, Ua, v = make_layer(rng, N, S, Hd, A)
    context, alpha, _ = additive_attention_forward(h_dec, h_enc, mask, Wa, Ua, v)
    assert context.shape == (N, Hd) and alpha.shape == (N, S)
    for i in range(N):
        k = int(mask[i].sum())
        e = np.array([np.tanh(h_dec[i] @ Wa + h_enc[i, s] @ Ua) @ v for s in range(k)])
        a = np.exp(e - e.max()) / np.exp(e - e.max()).sum()
        assert_close(alpha[i, :k], a, 1e-13, "alpha")
        assert (alpha[i, k:] == 0).all()
        assert_close(context[i], sum(a[s] * h_enc[i, s] for s in range(k)), 1e-13, "context")


def test_forward_ignores_padded_states(rng):
    h_dec, h_enc, mask, Wa, Ua, v = make_layer(rng, 3, 5, 4, 3)
    junk = h_enc.copy()
    junk[~mask] = 1e3 * rng.standard_normal(((~mask).sum(), 4))
    a = additive_attention_forward(h_dec, h_enc, mask, Wa, Ua, v)
    b = additive_attention_forward(h_dec, junk, mask, Wa, Ua, v)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_forward_does_not_modify_inputs(rng):
    args = make_layer(rng, 2, 4, 3, 2)
    copies = [np.copy(a) for a in args]
    additive_attention_backward(rng.standard_normal((2, 3)), additive_attention_forward(*args)[2])
    for a, c in zip(args, copies):
        np.testing.assert_array_equal(a, c)


def test_forward_rejects_bad_masks(rng):
    h_dec, h_enc, mask, Wa, Ua, v = make_layer(rng, 2, 3, 2, 2)
    with pytest.raises(ValueError, match="at least one"):
        additive_attention_forward(h_dec, h_enc, np.zeros_like(mask), Wa, Ua, v)
    with pytest.raises(ValueError, match="shape"):
        additive_attention_forward(h_dec, h_enc, mask[:, :2], Wa, Ua, v)
    with pytest.raises(ValueError, match="bools"):
        additive_attention_forward(h_dec, h_enc, mask.astype(int), Wa, Ua, v)


@pytest.mark.parametrize("N, S, Hd, A", SIZES)
def test_forward_equals_torch(rng, N, S, Hd, A):
    h_dec, h_enc, mask, Wa, Ua, v = make_layer(rng, N, S, Hd, A)
    context, alpha, _ = additive_attention_forward(h_dec, h_enc, mask, Wa, Ua, v)
    c_t, a_t = torch_layer(t(h_dec), t(h_enc), mask, t(Wa), t(Ua), t(v))
    assert_close(context, n(c_t), TORCH_TOL, "context")
    assert_close(alpha, n(a_t), TORCH_TOL, "alpha")


# ---- the backward ----------------------------------------------------------------------------------


@pytest.mark.parametrize("N, S, Hd, A", SIZES)
def test_backward_finite_differences(rng, N, S, Hd, A):
    h_dec, h_enc, mask, Wa, Ua, v = make_layer(rng, N, S, Hd, A)
    dcontext = rng.standard_normal((N, Hd))
    context, _, cache = additive_attention_forward(h_dec, h_enc, mask, Wa, Ua, v)
    grads = additive_attention_backward(dcontext, cache)

    def moved(*a):
        """The context's change from the base point: where a gradient is exactly 0 (padding, a source
        of length 1), every difference is then exactly 0 too, free of the stencil's round-off."""
        return (additive_attention_forward(a[0], a[1], mask, *a[2:])[0] - context,)

    check_grads_fd(moved, [h_dec, h_enc, Wa, Ua, v], grads, ["h_dec", "h_enc", "Wa", "Ua", "v"], [dcontext])


@pytest.mark.parametrize("N, S, Hd, A", SIZES)
def test_backward_equals_autograd(rng, N, S, Hd, A):
    h_dec, h_enc, mask, Wa, Ua, v = make_layer(rng, N, S, Hd, A)
    dcontext = rng.standard_normal((N, Hd))
    grads = additive_attention_backward(dcontext, additive_attention_forward(h_dec, h_enc, mask, Wa, Ua, v)[2])
    leaves = [t(a, grad=True) for a in (h_dec, h_enc, Wa, Ua, v)]
    (torch_layer(leaves[0], leaves[1], mask, *leaves[2:])[0] * t(dcontext)).sum().backward()
    for name, mine, leaf in zip(["h_dec", "h_enc", "Wa", "Ua", "v"], grads, leaves):
        assert mine.shape == leaf.shape
        assert_close(mine, n(leaf.grad), TORCH_TOL, f"d{name}")


def test_score_gradient_formula(rng):
    """dL/de = alpha * (g - sum alpha g), g = h_s . dc: zero on padding, summing to zero over s."""
    h_dec, h_enc, mask, Wa, Ua, v = make_layer(rng, 3, 5, 4, 3)
    dc = rng.standard_normal((3, 4))
    e = t(np.tanh((h_dec @ Wa)[:, None, :] + h_enc @ Ua) @ v, grad=True)
    alpha = torch.softmax(e.masked_fill(~torch.as_tensor(mask), float("-inf")), dim=1)
    (torch.einsum("ns,nsh->nh", alpha, t(h_enc)) * t(dc)).sum().backward()
    a = n(alpha)
    g = np.einsum("nsh,nh->ns", h_enc, dc)
    de = a * (g - (a * g).sum(1, keepdims=True))
    assert_close(de, n(e.grad), TORCH_TOL, "de")
    assert np.abs(de.sum(1)).max() < 1e-12
    assert (de[~mask] == 0).all()


# ---- the torch model -------------------------------------------------------------------------------


def make_model(seed=0, attn_dim=4):
    torch.manual_seed(seed)
    return AttnSeq2Seq(V_SRC, V, D, H, attn_dim).double().eval()


def make_batch(N=4, S=5, T=6, seed=0):
    """Sources of lengths S, S-1, ... (at least 1), right-padded; random targets after <bos>."""
    g = torch.Generator().manual_seed(seed)
    seqs = [torch.randint(3, V_SRC, (max(1, S - i),), generator=g).tolist() for i in range(N)]
    src, src_mask = (torch.as_tensor(a) for a in pad_batch(seqs, 0))
    tgt_in = torch.randint(3, V, (N, T), generator=g)
    tgt_in[:, 0] = 1
    return src, src_mask, tgt_in


def test_attend_equals_the_numpy_layer():
    model = make_model()
    src, src_mask, _ = make_batch()
    with torch.no_grad():
        h_enc, h_last = model.encoder_states(src, src_mask)
        c, a = model.attend(h_last, h_enc, h_enc @ model.Ua, src_mask)
    context, alpha, _ = additive_attention_forward(n(h_last), n(h_enc), n(src_mask), n(model.Wa), n(model.Ua),
                                                   n(model.v))
    assert_close(n(c), context, TORCH_TOL, "context")
    assert_close(n(a), alpha, TORCH_TOL, "alpha")


def test_encoder_states_and_last_state():
    model = make_model()
    src, src_mask, _ = make_batch()
    h_enc, h_last = model.encoder_states(src, src_mask)
    assert h_enc.shape == (4, 5, H) and h_last.shape == (4, H)
    plain = Seq2Seq(V_SRC, V, D, H).double()
    plain.src_emb.load_state_dict(model.src_emb.state_dict())
    plain.encoder.load_state_dict(model.encoder.state_dict())
    torch.testing.assert_close(h_last, plain.encode(src, src_mask)[0])  # the same encoder as Seq2Seq's


@pytest.mark.parametrize("ratio", [1.0, 0.5, 0.0])
def test_forward_equals_a_step_loop(ratio):
    model = make_model()
    src, src_mask, tgt_in = make_batch()
    logits, alpha = model(src, src_mask, tgt_in, ratio, torch.Generator().manual_seed(3), return_attention=True)
    assert logits.shape == (4, 6, V) and alpha.shape == (4, 6, 5)
    g = torch.Generator().manual_seed(3)
    h_enc, h = model.encoder_states(src, src_mask)
    keys, y, out = h_enc @ model.Ua, tgt_in[:, 0], []
    for step in range(6):
        if step > 0:
            pred = out[-1].argmax(-1)
            if ratio == 1.0:
                y = tgt_in[:, step]
            elif ratio == 0.0:
                y = pred
            else:
                y = torch.where(torch.rand(4, generator=g) < ratio, tgt_in[:, step], pred)
        o, h, _ = model.step(y, h, h_enc, keys, src_mask)
        out.append(o)
    torch.testing.assert_close(logits, torch.stack(out, 1))
    torch.testing.assert_close(alpha.sum(2), torch.ones(4, 6))
    assert (alpha[~src_mask[:, None, :].expand(-1, 6, -1)] == 0).all()


def test_padding_does_not_change_the_logits():
    model = make_model()
    src, src_mask, tgt_in = make_batch()
    together = model(src, src_mask, tgt_in)
    for i in range(4):
        k = int(src_mask[i].sum())
        alone = model(src[i:i + 1, :k], src_mask[i:i + 1, :k], tgt_in[i:i + 1])
        torch.testing.assert_close(alone[0], together[i])
    wide = torch.cat([src, torch.randint(3, V_SRC, (4, 2))], 1)  # garbage in extra padded columns
    wide_mask = torch.cat([src_mask, torch.zeros(4, 2, dtype=torch.bool)], 1)
    torch.testing.assert_close(model(wide, wide_mask, tgt_in), together)


def test_gradients_reach_the_attention_parameters():
    model = make_model().train()
    src, src_mask, tgt_in = make_batch()
    model(src, src_mask, tgt_in).logsumexp(-1).sum().backward()
    for p in (model.Wa, model.Ua, model.v):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_greedy_decode_matches_free_running():
    model = make_model()
    src, src_mask, tgt_in = make_batch()
    tokens, alpha = greedy_decode_attention(model, src, src_mask, 6)
    logits, alpha_free = model(src, src_mask, tgt_in, 0.0, return_attention=True)
    free = logits.argmax(-1)
    for i in range(4):
        hit = (free[i] == model.eos_id).nonzero()
        end = int(hit[0]) + 1 if len(hit) else 6
        assert tokens[i, :end].tolist() == free[i, :end].tolist()
        assert (tokens[i, end:] == model.pad_id).all()
        torch.testing.assert_close(alpha[i, :end], alpha_free[i, :end])
        assert (alpha[i, end:] == 0).all()


def test_exact_matches_against_the_models_own_outputs():
    for model in (make_model(), Seq2Seq(V_SRC, V, D, H).double().eval()):
        src, src_mask, _ = make_batch(N=6, seed=1)
        if isinstance(model, AttnSeq2Seq):
            tokens = greedy_decode_attention(model, src, src_mask, 4)[0]
        else:
            tokens = greedy_decode_batch(model, src, src_mask, 4)[0]
        tgt_mask = torch.ones_like(tokens, dtype=torch.bool)
        data = {"src": src, "src_mask": src_mask, "tgt_in": tokens, "tgt_out": tokens, "tgt_mask": tgt_mask}
        assert exact_matches(model, data, batch_size=4).all()
        wrong = tokens.clone()
        wrong[0, 0] = (wrong[0, 0] + 1) % V
        got = exact_matches(model, {**data, "tgt_out": wrong})
        assert got.tolist() == [False] + [True] * 5
    with pytest.raises(TypeError):
        exact_matches(torch.nn.Linear(2, 2), data)


@pytest.mark.parametrize("Hd, A", [(6, 4), (3, 3), (5, 1)])
def test_parameter_count(Hd, A):
    extra = count_parameters(AttnSeq2Seq(V_SRC, V, D, Hd, A)) - count_parameters(Seq2Seq(V_SRC, V, D, Hd))
    assert extra == 2 * Hd * A + A
    assert AttnSeq2Seq(V_SRC, V, D, Hd).Wa.shape == (Hd, Hd)  # A defaults to H


def test_model_argument_errors():
    model = make_model()
    src, src_mask, tgt_in = make_batch()
    with pytest.raises(ValueError, match="teacher_forcing_ratio"):
        model(src, src_mask, tgt_in, -0.1)
    holes = src_mask.clone()
    holes[0, 1] = False
    with pytest.raises(ValueError, match="prefix"):
        model.encoder_states(src, holes)
    with pytest.raises(ValueError, match="attn_dim"):
        AttnSeq2Seq(5, 5, 4, 4, attn_dim=0)
    with pytest.raises(ValueError, match="bos_id"):
        AttnSeq2Seq(5, 5, 4, 4, bos_id=7)
    with pytest.raises(ValueError, match="max_len"):
        greedy_decode_attention(model, src, src_mask, 0)


def test_trains_on_a_tiny_copy_task():
    """solutions.seq2seq.train trains the model: the loss on copies of 1 to 3 symbols falls."""
    g = np.random.default_rng(0)
    seqs = [g.integers(3, 6, size=g.integers(1, 4)).tolist() for _ in range(256)]
    src, src_mask = pad_batch(seqs, 0)
    tgt_in, _ = pad_batch([[1] + s for s in seqs], 0)
    tgt_out, tgt_mask = pad_batch([s + [2] for s in seqs], 0)
    data = {"src": src, "src_mask": src_mask, "tgt_in": tgt_in, "tgt_out": tgt_out, "tgt_mask": tgt_mask}
    torch.manual_seed(0)
    model = AttnSeq2Seq(6, 6, 8, 16)
    history = train(model, data, steps=60, batch_size=64, lr=2e-2, seed=0)
    assert np.mean(history["loss"][-5:]) < 0.5 * np.mean(history["loss"][:5])
    assert exact_matches(model, data).mean() > 0.5
