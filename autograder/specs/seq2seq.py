"""Hidden checks of assignment 6 (seq2seq): a GRU encoder-decoder in torch, forward pass and masked loss.

The student's functions take torch tensors; hidden cases are plain numpy data (float64, int64 and
bool arrays), and the notebook's hidden cells hand them over through `on_tensors`, which turns every
array into a tensor sharing its memory (so an input changed in place is still noticed). The
reference is solutions.seq2seq.Seq2Seq with the case's weights copied in (`reference_model`); the
mistakes are variants of the small torch implementations below (gru_cell, encode, decode_step,
seq2seq_forward), written in the notebook's own layout, which match that reference to round-off on
the hidden cases (on_tensors(encode) against ref_encode, and so on). A mistake made in the
GRU cell reaches the encoder, the decoder step and the whole forward pass; one made in the encoder
or the decoder step reaches the forward pass: each of those checks lists it, seen through the
larger function.
"""
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F

from autograder.judge import lifted, spec, uncharged, variant_mistake
from autograder.specs.common import as_tensors, normal
from solutions import gru as gru_ref
from solutions import seq2seq as ref

PARAM_KEYS = ("src_emb", "tgt_emb", "enc_Wx", "enc_Wh", "enc_bx", "enc_bh",
              "dec_Wx", "dec_Wh", "dec_bx", "dec_bh", "W_out", "b_out")


# ---------------------------------------------------------------------------- tensors in, plain data out


def on_tensors(fn):
    """fn called with its numpy arguments turned into tensors, as the notebook's helper of that name does."""
    def wrapper(*args, **kwargs):
        return fn(*as_tensors(args), **as_tensors(kwargs))
    wrapper.__name__ = getattr(fn, "__name__", "fn")
    return wrapper


# ---------------------------------------------------------------------------- the reference, from solutions


def reference_model(params):
    """A float64 solutions.seq2seq.Seq2Seq holding the weights of a params dict (numpy or torch)."""
    p = {k: torch.as_tensor(np.asarray(v, dtype=np.float64)) for k, v in params.items()}
    Vs, E = p["src_emb"].shape
    Vt, H = p["tgt_emb"].shape[0], p["enc_Wh"].shape[0]
    with torch.random.fork_rng(devices=[]):  # the random init must not move the kernel's random state
        model = ref.Seq2Seq(Vs, Vt, E, H).double()
    with torch.no_grad():
        model.src_emb.weight.copy_(p["src_emb"])
        model.tgt_emb.weight.copy_(p["tgt_emb"])
        for gru, side in ((model.encoder, "enc"), (model.decoder, "dec")):
            gru.weight_ih_l0.copy_(p[f"{side}_Wx"].T)
            gru.weight_hh_l0.copy_(p[f"{side}_Wh"].T)
            gru.bias_ih_l0.copy_(p[f"{side}_bx"])
            gru.bias_hh_l0.copy_(p[f"{side}_bh"])
        model.out.weight.copy_(p["W_out"].T)
        model.out.bias.copy_(p["b_out"])
    return model.eval()


def _long(a):
    return torch.as_tensor(np.asarray(a, dtype=np.int64))


def _bool(a):
    return torch.as_tensor(np.asarray(a, dtype=bool))


def ref_gru_cell(x, h_prev, Wx, Wh, bx, bh):
    return gru_ref.gru_step_forward(x, h_prev, Wx, Wh, bx, bh)[0]


@torch.no_grad()
def ref_encode(params, src, src_mask):
    return reference_model(params).encode(_long(src), _bool(src_mask))[-1]


@torch.no_grad()
def ref_decode_step(params, y_prev, context, h):
    logits, h = reference_model(params).decode_step(_long(y_prev), torch.as_tensor(context), torch.as_tensor(h)[None])
    return logits, h[0]


@torch.no_grad()
def ref_seq2seq_forward(params, src, src_mask, tgt_in):
    return reference_model(params)(_long(src), _bool(src_mask), _long(tgt_in))


@torch.no_grad()
def ref_masked_cross_entropy(logits, targets, mask):
    return ref.masked_cross_entropy(torch.as_tensor(logits), _long(targets), _bool(mask)).item()


def _as_float(fn):
    """A scalar loss judged as a number: a student's 0-d tensor (an array of shape () once plain) matches it,
    and so does the one-element array into which the sandbox's channel turns it."""
    return lambda *args: float(fn(*args))


# ---------------------------------------------------------------------------- the notebook's functions, in torch
# The variants below call gru_cell, encode and decode_step by these names, as a student's cells do.


def gru_cell(x, h_prev, Wx, Wh, bx, bh):
    H = h_prev.shape[1]
    gx = x @ Wx + bx
    gh = h_prev @ Wh + bh
    r = torch.sigmoid(gx[:, :H] + gh[:, :H])
    z = torch.sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
    n = torch.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
    return (1 - z) * n + z * h_prev


def _encode(params, src, src_mask, cell):
    N, S = src.shape
    emb = params["src_emb"][src]
    h = torch.zeros(N, params["enc_Wh"].shape[0], dtype=emb.dtype)
    for t in range(S):
        h_new = cell(emb[:, t], h, params["enc_Wx"], params["enc_Wh"], params["enc_bx"], params["enc_bh"])
        h = torch.where(src_mask[:, t, None], h_new, h)
    return h


def _decode_step(params, y_prev, context, h, cell):
    x = torch.cat([params["tgt_emb"][y_prev], context], dim=1)
    h = cell(x, h, params["dec_Wx"], params["dec_Wh"], params["dec_bx"], params["dec_bh"])
    return h @ params["W_out"] + params["b_out"], h


def _forward(params, src, src_mask, tgt_in, encode_fn, decode_fn):
    context = encode_fn(params, src, src_mask)
    h, logits = context, []
    for t in range(tgt_in.shape[1]):
        step, h = decode_fn(params, tgt_in[:, t], context, h)
        logits.append(step)
    return torch.stack(logits, dim=1)


def encode(params, src, src_mask):
    return _encode(params, src, src_mask, gru_cell)


def decode_step(params, y_prev, context, h):
    return _decode_step(params, y_prev, context, h, gru_cell)


def seq2seq_forward(params, src, src_mask, tgt_in):
    return _forward(params, src, src_mask, tgt_in, encode, decode_step)


# ---------------------------------------------------------------------------- variants (as submissions)


def gru_cell_variant(x, h_prev, Wx, Wh, bx, bh, bug=None):
    """gru_cell with one of the catalogued mistakes switched on."""
    H = h_prev.shape[1]
    gx = x @ Wx + bx
    gh = h_prev @ Wh + bh
    r = torch.sigmoid(gx[:, :H] + gh[:, :H])
    z = torch.sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
    if bug == "reset_before_product":
        n = torch.tanh(gx[:, 2 * H:] + (r * h_prev) @ Wh[:, 2 * H:] + bh[2 * H:])
    else:
        n = torch.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
    if bug == "z_reversed":
        return z * n + (1 - z) * h_prev
    return (1 - z) * n + z * h_prev


def encode_variant(params, src, src_mask, bug=None):
    """encode with one of the catalogued mistakes switched on."""
    N, S = src.shape
    emb = params["src_emb"][src]
    h = torch.zeros(N, params["enc_Wh"].shape[0], dtype=emb.dtype)
    for t in range(S):
        h_new = gru_cell(emb[:, t], h, params["enc_Wx"], params["enc_Wh"], params["enc_bx"], params["enc_bh"])
        if bug == "pad_not_masked":
            h = h_new
        elif bug == "pad_zeroed":
            h = h_new * src_mask[:, t, None]
        else:
            h = torch.where(src_mask[:, t, None], h_new, h)
    return h


def decode_step_variant(params, y_prev, context, h, bug=None):
    """decode_step with one of the catalogued mistakes switched on."""
    emb = params["tgt_emb"][y_prev]
    x = torch.cat([context, emb] if bug == "context_first" else [emb, context], dim=1)
    h_new = gru_cell(x, h, params["dec_Wx"], params["dec_Wh"], params["dec_bx"], params["dec_bh"])
    logits = (h if bug == "logits_from_old_state" else h_new) @ params["W_out"] + params["b_out"]
    return logits, h_new


def seq2seq_forward_variant(params, src, src_mask, tgt_in, bug=None):
    """seq2seq_forward with one of the catalogued mistakes switched on."""
    context = encode(params, src, src_mask)
    h = torch.zeros_like(context) if bug == "decoder_starts_from_zero" else context
    logits = []
    for t in range(tgt_in.shape[1]):
        step, h = decode_step(params, tgt_in[:, t], h if bug == "state_as_context" else context, h)
        logits.append(step)
    return torch.stack(logits, dim=1)


def masked_cross_entropy_variant(logits, targets, mask, bug=None):
    """masked_cross_entropy with one of the catalogued mistakes switched on."""
    N, T, V = logits.shape
    ce = F.cross_entropy(logits.reshape(N * T, V), targets.reshape(N * T), reduction="none").reshape(N, T)
    if bug == "mask_ignored":
        return ce.sum() / N
    if bug == "per_token":
        return (ce * mask).sum() / mask.sum()
    if bug == "mean_over_all":
        return (ce * mask).sum() / (N * T)
    return (ce * mask).sum() / N


def _m(prefix, variant, function, params):
    def make(bug, message):
        return variant_mistake(f"s2s_{prefix}_{bug}", message, variant, bug, "seq2seq", function, function, params)
    return make


_cell = _m("cell", gru_cell_variant, "gru_cell", "x, h_prev, Wx, Wh, bx, bh")
_enc = _m("encode", encode_variant, "encode", "params, src, src_mask")
_dec = _m("decode", decode_step_variant, "decode_step", "params, y_prev, context, h")
_fwd = _m("forward", seq2seq_forward_variant, "seq2seq_forward", "params, src, src_mask, tgt_in")
_loss = _m("loss", masked_cross_entropy_variant, "masked_cross_entropy", "logits, targets, mask")

CELL_MISTAKES = [
    _cell("z_reversed", "the update gate is used the wrong way round: h = (1 - z) * n + z * h_prev, so that "
          "z close to 1 keeps the old state (the convention of torch.nn.GRU)."),
    _cell("reset_before_product", "the reset gate multiplies h_prev before the matrix product; in torch.nn.GRU it "
          "multiplies the product: n = tanh(x Wx_n + bx_n + r * (h_prev Wh_n + bh_n))."),
]
ENCODE_MISTAKES = [
    _enc("pad_not_masked", "the encoder's state changes on padded steps: where src_mask is False the state must "
         "stay exactly as it was (torch.where(mask, h_new, h)), so that each context is the state after the "
         "sequence's own last token."),
    _enc("pad_zeroed", "on a padded step the encoder's state is set to zero; it must be kept as it was, so "
         "that the context is the state after the sequence's last real token, not zero."),
]
DECODE_MISTAKES = [
    _dec("context_first", "the decoder's input has its two parts the wrong way round: it is the embedding of "
         "y_prev followed by the context, torch.cat([emb, context], dim=1): the first E rows of dec_Wx read "
         "the embedding."),
    _dec("logits_from_old_state", "the logits are computed from the state the step started from; they come from "
         "the new state that the GRU cell returns."),
]
FORWARD_MISTAKES = [
    _fwd("state_as_context", "the decoder's changing state is passed where the context belongs: the context is "
         "the encoder's final state, the same vector at every step, while h is updated."),
    _fwd("decoder_starts_from_zero", "the decoder starts from a zero state; its first state is the context, the "
         "encoder's final state."),
]
LOSS_MISTAKES = [
    _loss("mask_ignored", "the mask is ignored: the steps where mask is False (padding) must add nothing to "
          "the loss."),
    _loss("per_token", "the loss is divided by the number of unmasked tokens; the course's loss is summed over "
          "the unmasked steps and averaged over the batch: divide by N."),
    _loss("mean_over_all", "the loss is divided by N * T (all positions, as F.cross_entropy's default mean "
          "does); it is summed over the unmasked steps and divided by N only."),
]


def _t(m, wrap=None, where=""):
    """A mistake judged on numpy cases: through on_tensors, and through a larger function if wrap is given."""
    return lifted(m, lambda fn: on_tensors(wrap(fn) if wrap else fn), where)


def _encode_with_cell(cell):
    return partial(_encode, cell=cell)


def _decode_with_cell(cell):
    return partial(_decode_step, cell=cell)


def _forward_with(cell=gru_cell, encode_fn=None, decode_fn=None):
    return partial(_forward, encode_fn=encode_fn or _encode_with_cell(cell),
                   decode_fn=decode_fn or _decode_with_cell(cell))


IN_CELL = "(in gru_cell) "


# ---------------------------------------------------------------------------- cases


def model_sizes(rng):
    """(label, N, S, T, E, H, Vs, Vt): three random sizes and the edges N = 1, S = 1, T = 1, H = 1, E = 1."""
    def r(lo, hi):
        return int(rng.integers(lo, hi + 1))

    sizes = [(r(2, 4), r(3, 6), r(2, 5), r(2, 5), r(2, 6)), (r(3, 5), r(3, 6), r(2, 5), r(2, 4), r(2, 5)),
             (1, r(3, 6), r(2, 5), r(2, 4), r(2, 5)), (r(2, 4), 1, r(2, 4), r(2, 4), r(2, 5)),
             (r(2, 4), r(2, 5), 1, r(2, 4), r(2, 5)), (r(2, 3), r(2, 5), r(2, 4), 1, 1)]
    out = []
    for N, S, T, E, H in sizes:
        Vs, Vt = r(4, 8), r(4, 8)
        out.append((f"N={N}, S={S}, T={T}, E={E}, H={H}, Vs={Vs}, Vt={Vt}", N, S, T, E, H, Vs, Vt))
    return out


def make_params(rng, Vs, Vt, E, H):
    """A params dict of float64 arrays with scales that keep the gates away from saturation."""
    return {
        "src_emb": normal(rng, Vs, E), "tgt_emb": normal(rng, Vt, E),
        "enc_Wx": normal(rng, E, 3 * H, scale=1 / np.sqrt(E)), "enc_Wh": normal(rng, H, 3 * H, scale=1 / np.sqrt(H)),
        "enc_bx": normal(rng, 3 * H, scale=0.3), "enc_bh": normal(rng, 3 * H, scale=0.3),
        "dec_Wx": normal(rng, E + H, 3 * H, scale=1 / np.sqrt(E + H)),
        "dec_Wh": normal(rng, H, 3 * H, scale=1 / np.sqrt(H)),
        "dec_bx": normal(rng, 3 * H, scale=0.3), "dec_bh": normal(rng, 3 * H, scale=0.3),
        "W_out": normal(rng, H, Vt, scale=1.5 / np.sqrt(H)), "b_out": normal(rng, Vt, scale=0.3),
    }


def source_batch(rng, N, S, V):
    """src (N, S) int64 right-padded with 0, and its mask; some row is padded whenever S > 1."""
    lengths = rng.integers(1, S + 1, N)
    if S > 1:
        lengths[rng.integers(N)] = rng.integers(1, S)  # at least one padded row
        if N > 1:
            lengths[rng.integers(N)] = S  # and, in a batch, usually a full one
    mask = np.arange(S)[None, :] < lengths[:, None]
    src = np.where(mask, rng.integers(3, V, (N, S)), 0)
    return src.astype(np.int64), mask


def target_inputs(rng, N, T, V):
    """tgt_in (N, T): <bos> (1), then tokens, right-padded with 0 in some rows."""
    lengths = rng.integers(1, T + 1, N)
    body = rng.integers(2, V, (N, T))
    body[:, 0] = 1
    return np.where(np.arange(T)[None, :] < lengths[:, None], body, 0).astype(np.int64)


def _cell_cases(rng):
    cases = []
    for label, N, _, _, E, H, _, _ in model_sizes(rng):
        D = E + H
        args = (normal(rng, N, D), normal(rng, N, H, scale=0.8), normal(rng, D, 3 * H, scale=1 / np.sqrt(D)),
                normal(rng, H, 3 * H, scale=1 / np.sqrt(H)), normal(rng, 3 * H, scale=0.3),
                normal(rng, 3 * H, scale=0.3))
        cases.append({"args": args, "label": f"N={N}, D={D}, H={H}"})
    return cases


# ---------------------------------------------------------------------------- the checks


@spec("gru_cell", "gru_cell", "call", ref_gru_cell, outputs=("h",), mistakes=[_t(m) for m in CELL_MISTAKES],
      stock=gru_cell)
def _(rng):
    return _cell_cases(rng)


@spec("encode", "encode", "call", ref_encode, outputs=("context",),
      mistakes=[_t(m) for m in ENCODE_MISTAKES] + uncharged([_t(m, _encode_with_cell, IN_CELL) for m in CELL_MISTAKES]),
      parts=("gru_cell",), build=lambda record: (on_tensors(_encode_with_cell(record("gru_cell", gru_cell))), {}),
      stock=encode)
def _(rng):
    cases = []
    for _, N, S, _, E, H, Vs, Vt in model_sizes(rng):
        src, mask = source_batch(rng, N, S, Vs)
        cases.append({"args": (make_params(rng, Vs, Vt, E, H), src, mask),
                      "label": f"N={N}, S={S}, E={E}, H={H}, Vs={Vs}, lengths {mask.sum(1).tolist()}"})
    return cases


@spec("decode_step", "decode_step", "call", ref_decode_step, outputs=("logits", "h"),
      mistakes=[_t(m) for m in DECODE_MISTAKES] + uncharged([_t(m, _decode_with_cell, IN_CELL) for m in CELL_MISTAKES]),
      parts=("gru_cell",), build=lambda record: (on_tensors(_decode_with_cell(record("gru_cell", gru_cell))), {}),
      stock=decode_step)
def _(rng):
    cases = []
    for _, N, _, _, E, H, Vs, Vt in model_sizes(rng):
        y_prev = rng.integers(0, Vt, N).astype(np.int64)
        context = np.tanh(normal(rng, N, H))
        h = np.tanh(normal(rng, N, H))
        cases.append({"args": (make_params(rng, Vs, Vt, E, H), y_prev, context, h),
                      "label": f"N={N}, E={E}, H={H}, Vt={Vt}"})
    return cases


@spec("seq2seq_forward", "seq2seq_forward", "call", ref_seq2seq_forward, outputs=("logits",),
      mistakes=[_t(m) for m in FORWARD_MISTAKES]
      + uncharged([_t(m, lambda f: _forward_with(encode_fn=f), "(in encode) ") for m in ENCODE_MISTAKES]
                  + [_t(m, lambda f: _forward_with(decode_fn=f), "(in decode_step) ") for m in DECODE_MISTAKES]
                  + [_t(m, lambda f: _forward_with(cell=f), IN_CELL) for m in CELL_MISTAKES]),
      parts=("encode", "decode_step", "gru_cell"), build=lambda record: (on_tensors(_forward_with(
          encode_fn=record("encode", _encode_with_cell(record("gru_cell", gru_cell))),
          decode_fn=record("decode_step", _decode_with_cell(record("gru_cell", gru_cell))))), {}))
def _(rng):
    cases = []
    for label, N, S, T, E, H, Vs, Vt in model_sizes(rng):
        src, mask = source_batch(rng, N, S, Vs)
        cases.append({"args": (make_params(rng, Vs, Vt, E, H), src, mask, target_inputs(rng, N, T, Vt)),
                      "label": f"{label}, source lengths {mask.sum(1).tolist()}"})
    return cases


@spec("masked_cross_entropy", "masked_cross_entropy", "call", ref_masked_cross_entropy, outputs=("loss",),
      mistakes=[_t(m, _as_float) for m in LOSS_MISTAKES])
def _(rng):
    cases = []
    for label, N, _, T, _, _, _, V in model_sizes(rng):
        T = max(T, 2) if N == 1 else T  # one row of one step would make every average the same
        lengths = rng.integers(1, T + 1, N)
        lengths[rng.integers(N)] = T
        if T > 1:
            lengths[rng.integers(N)] = rng.integers(1, T)
        mask = np.arange(T)[None, :] < lengths[:, None]
        logits = normal(rng, N, T, V, scale=2.0)
        cases.append({"args": (logits, rng.integers(0, V, (N, T)).astype(np.int64), mask),
                      "label": f"N={N}, T={T}, V={V}"})
    big = cases[0]["args"]  # logits in the thousands: a softmax without the maximum subtracted overflows
    cases.append({"args": (big[0] * 500.0, big[1], big[2]), "label": cases[0]["label"] + ", logits in the thousands"})
    return cases
