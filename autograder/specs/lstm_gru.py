"""Hidden checks of assignment 4 (lstm_gru): LSTM and GRU steps and sequences, forward and backward.

The variants below are written against the cache layout of solutions.lstm and solutions.gru, which the
assignment's own solution cells share, so that each one pasted as a submission is a whole student.
A mistake in a step reaches every function built on it: a step forward's mistake also shows in the
step backward (whose cache it fills) and in both sequence functions; a step backward's mistake also
shows in the sequence backward. Each such check lists the mistake, seen through the larger function.
"""
from functools import partial

import numpy as np

from autograder.judge import Mistake, forward_part, lifted, spec, uncharged, variant_mistake
from autograder.specs.common import normal, rnn_sizes
from solutions import gru as gru_ref
from solutions import lstm as lstm_ref

# the notebook's setup cell defines the same stable helper; the variants call it by this name
sigmoid = lstm_ref.sigmoid


# ---------------------------------------------------------------------------- variants (as submissions)


def lstm_step_forward_variant(x, h_prev, c_prev, Wx, Wh, b, bug=None):
    """lstm_step_forward with one of the catalogued mistakes switched on."""
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b
    i = sigmoid(a[:, :H])
    f = sigmoid(a[:, H:2 * H])
    if bug == "gates_swapped":
        i, f = f, i
    g = np.tanh(a[:, 2 * H:3 * H])
    o = sigmoid(a[:, 3 * H:])
    c = f * c_prev + i * g
    tc = c if bug == "h_without_tanh" else np.tanh(c)
    h = o * tc
    return h, c, (x, h_prev, c_prev, Wx, Wh, i, f, g, o, tc)


def lstm_step_backward_variant(dh, dc, cache, bug=None):
    """lstm_step_backward with one of the catalogued mistakes switched on."""
    x, h_prev, c_prev, Wx, Wh, i, f, g, o, tc = cache
    do = dh * tc
    if bug != "dc_missing_dh":
        dc = dc + dh * o * (1 - tc ** 2)
    di, df, dg = dc * g, dc * c_prev, dc * i
    dc_prev = dc if bug == "dc_prev_no_forget" else dc * f
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g ** 2), do * o * (1 - o)], axis=1)
    return da @ Wx.T, da @ Wh.T, dc_prev, x.T @ da, h_prev.T @ da, da.sum(axis=0)


def gru_step_forward_variant(x, h_prev, Wx, Wh, bx, bh, bug=None):
    """gru_step_forward with one of the catalogued mistakes switched on."""
    H = h_prev.shape[1]
    gx = x @ Wx + bx
    gh = h_prev @ Wh + bh
    r = sigmoid(gx[:, :H] + gh[:, :H])
    u = sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
    z = 1 - u if bug == "z_swapped" else u  # the gate that multiplies n taken for z
    ghn = gh[:, 2 * H:]
    if bug == "reset_before_product":
        n = np.tanh(gx[:, 2 * H:] + (r * h_prev) @ Wh[:, 2 * H:] + bh[2 * H:])
    else:
        n = np.tanh(gx[:, 2 * H:] + r * ghn)
    h = (1 - z) * n + z * h_prev
    return h, (x, h_prev, Wx, Wh, r, z, n, ghn)


def gru_step_backward_variant(dh, cache, bug=None):
    """gru_step_backward with one of the catalogued mistakes switched on."""
    x, h_prev, Wx, Wh, r, z, n, ghn = cache
    dan = dh * (1 - z) * (1 - n ** 2)
    dar = dan * ghn * r * (1 - r)
    daz = dh * (h_prev - n) * z * (1 - z)
    dgx = np.concatenate([dar, daz, dan], axis=1)
    dgh = np.concatenate([dar, daz, dan * r], axis=1)
    dh_prev = dgh @ Wh.T
    if bug != "no_direct_path":
        dh_prev = dh_prev + dh * z
    return dgx @ Wx.T, dh_prev, x.T @ dgx, h_prev.T @ dgh, dgx.sum(axis=0), dgh.sum(axis=0)


# ---------------------------------------------------------------------------- a step seen through a sequence


def lstm_sequence_forward(step):
    """lstm_forward built on a given step, with the reference's cache layout."""
    def forward(x, h0, Wx, Wh, b, c0=None):
        return lstm_ref.forward_over_time(step, x, h0, np.zeros_like(h0) if c0 is None else c0, Wx, Wh, b)
    return forward


def lstm_sequence_backward(step_backward):
    """lstm_backward built on a given step backward."""
    return partial(lstm_ref.backward_over_time, step_backward)


def gru_sequence_forward(step):
    """gru_forward built on a given step, with the reference's cache layout."""
    return partial(gru_ref.forward_over_time, step)


def gru_sequence_backward(step_backward):
    """gru_backward built on a given step backward."""
    return partial(gru_ref.backward_over_time, step_backward)


def through_cache(mistake, backward, forward):
    """A forward's mistake seen by a backward check: the buggy forward fills the cache, `backward` is right."""
    return Mistake(mistake.id, mistake.message, backward, {"forward": forward(mistake.fn)}, mistake.submission)


# ---------------------------------------------------------------------------- the catalogue

LSTM_STEP = ("lstm_gru", "lstm_step_forward", "lstm_step_forward", "x, h_prev, c_prev, Wx, Wh, b")
LSTM_STEP_BACK = ("lstm_gru", "lstm_step_backward", "lstm_step_backward", "dh, dc, cache")
GRU_STEP = ("lstm_gru", "gru_step_forward", "gru_step_forward", "x, h_prev, Wx, Wh, bx, bh")
GRU_STEP_BACK = ("lstm_gru", "gru_step_backward", "gru_step_backward", "dh, cache")

LSTM_FORWARD_MISTAKES = [
    variant_mistake(
        "lstm_gates_swapped", "lstm_step_forward mixes up the input and forget gates: the gate order is "
        "(i, f, g, o), so columns 0:H of the pre-activation give i (which scales g) and H:2H give f (which "
        "scales c_prev).", lstm_step_forward_variant, "gates_swapped", *LSTM_STEP),
    variant_mistake(
        "lstm_h_without_tanh", "lstm_step_forward computes h = o * c: the output is h = o * tanh(c), the cell "
        "squashed by tanh before the output gate.", lstm_step_forward_variant, "h_without_tanh", *LSTM_STEP),
]

LSTM_BACKWARD_MISTAKES = [
    variant_mistake(
        "lstm_dc_prev_no_forget", "lstm_step_backward passes dc on to c_prev unchanged: since c = f * c_prev + "
        "i * g, dc_prev = dc * f (where dc already includes the part coming through h).",
        lstm_step_backward_variant, "dc_prev_no_forget", *LSTM_STEP_BACK),
    variant_mistake(
        "lstm_dc_missing_dh", "lstm_step_backward leaves out the gradient reaching c through h: since "
        "h = o * tanh(c), the cell's total gradient is dc + dh * o * (1 - tanh(c)**2), and every gate's "
        "gradient and dc_prev are computed from that sum.", lstm_step_backward_variant, "dc_missing_dh",
        *LSTM_STEP_BACK),
]

GRU_FORWARD_MISTAKES = [
    variant_mistake(
        "gru_z_swapped", "gru_step_forward has z and 1 - z the wrong way round: h = (1 - z) * n + z * h_prev, "
        "where z = sigmoid(x Wx_z + bx_z + h_prev Wh_z + bh_z) weights the previous state (the lecture's "
        "update gate is 1 - z).", gru_step_forward_variant, "z_swapped", *GRU_STEP),
    variant_mistake(
        "gru_reset_before_product", "gru_step_forward applies the reset gate before the matrix product, "
        "(r * h_prev) @ Wh_n + bh_n, as in the lecture's form; the assignment follows torch.nn.GRU: "
        "n = tanh(x Wx_n + bx_n + r * (h_prev Wh_n + bh_n)), the gate multiplies the product and its bias.",
        gru_step_forward_variant, "reset_before_product", *GRU_STEP),
]

GRU_BACKWARD_MISTAKES = [
    variant_mistake(
        "gru_no_direct_path", "gru_step_backward misses the direct path to the previous state: h = (1 - z) * n "
        "+ z * h_prev, so dh_prev gets dh * z besides what flows back through the gates.",
        gru_step_backward_variant, "no_direct_path", *GRU_STEP_BACK),
]


def _lstm_step_backward_mistakes():
    """Forward mistakes fill the cache the step backward reads; the backward mistakes are its own."""
    return uncharged([through_cache(m, lstm_ref.lstm_step_backward, lambda fn: fn) for m in LSTM_FORWARD_MISTAKES]) \
        + LSTM_BACKWARD_MISTAKES


def _gru_step_backward_mistakes():
    return uncharged([through_cache(m, gru_ref.gru_step_backward, lambda fn: fn) for m in GRU_FORWARD_MISTAKES]) \
        + GRU_BACKWARD_MISTAKES


# ---------------------------------------------------------------------------- cases


def lstm_params(rng, D, H):
    """(Wx, Wh, b) with scales that keep the gates away from both saturation and 1/2."""
    return normal(rng, D, 4 * H, scale=0.6), normal(rng, H, 4 * H, scale=0.5), normal(rng, 4 * H, scale=0.5)


def gru_params(rng, D, H):
    """(Wx, Wh, bx, bh)."""
    return (normal(rng, D, 3 * H, scale=0.6), normal(rng, H, 3 * H, scale=0.5), normal(rng, 3 * H, scale=0.5),
            normal(rng, 3 * H, scale=0.5))


def step_sizes(rng):
    return [(f"N={N}, D={D}, H={H}", N, D, H) for _, N, _, D, H in rnn_sizes(rng)]


@spec("lstm_step_forward", "lstm_step_forward", "forward", lstm_ref.lstm_step_forward, outputs=("h", "c"),
      mistakes=LSTM_FORWARD_MISTAKES, stock=lstm_ref.lstm_step_forward)
def _(rng):
    return [{"args": (normal(rng, N, D), normal(rng, N, H), normal(rng, N, H), *lstm_params(rng, D, H)),
             "label": label} for label, N, D, H in step_sizes(rng)]


@spec("lstm_step_backward", "lstm_step_backward", "backward", lstm_ref.lstm_step_backward,
      outputs=("dx", "dh_prev", "dc_prev", "dWx", "dWh", "db"), helpers={"forward": lstm_ref.lstm_step_forward},
      blocks=(("gate i", "gate f", "gate g", "gate o"), ("dWx", "dWh", "db")),
      mistakes=_lstm_step_backward_mistakes(), parts=("lstm_step_forward",),
      build=forward_part("lstm_step_forward", lstm_ref.lstm_step_backward, lstm_ref.lstm_step_forward),
      stock=lstm_ref.lstm_step_backward)
def _(rng):
    return [{"forward_args": (normal(rng, N, D), normal(rng, N, H), normal(rng, N, H), *lstm_params(rng, D, H)),
             "douts": (normal(rng, N, H), normal(rng, N, H)), "label": label} for label, N, D, H in step_sizes(rng)]


def lstm_sequence_args(rng, i, N, T, D, H):
    """x, h0, Wx, Wh, b, then c0 for every other case (None elsewhere: zeros)."""
    args = (normal(rng, N, T, D), normal(rng, N, H), *lstm_params(rng, D, H))
    return args, (normal(rng, N, H) if i % 2 == 0 else None)


@spec("lstm_forward", "lstm_forward", "forward", lstm_ref.lstm_forward, outputs=("h",),
      mistakes=[lifted(m, lstm_sequence_forward, charged=False) for m in LSTM_FORWARD_MISTAKES],
      parts=("lstm_step_forward",),
      build=lambda record: (lstm_sequence_forward(record("lstm_step_forward", lstm_ref.lstm_step_forward)), {}),
      stock=lstm_ref.lstm_forward)
def _(rng):
    cases = []
    for i, (label, N, T, D, H) in enumerate(rnn_sizes(rng)):
        args, c0 = lstm_sequence_args(rng, i, N, T, D, H)
        cases.append({"args": args, "kwargs": {"c0": c0},
                      "label": f"{label}, c0 {'given' if c0 is not None else 'None'}"})
    return cases


@spec("lstm_backward", "lstm_backward", "backward", lstm_ref.lstm_backward, outputs=("dx", "dh0", "dWx", "dWh", "db"),
      helpers={"forward": lstm_ref.lstm_forward},
      blocks=(("gate i", "gate f", "gate g", "gate o"), ("dWx", "dWh", "db")),
      mistakes=uncharged([through_cache(m, lstm_ref.lstm_backward, lstm_sequence_forward)
                          for m in LSTM_FORWARD_MISTAKES]
                         + [lifted(m, lstm_sequence_backward) for m in LSTM_BACKWARD_MISTAKES]),
      parts=("lstm_forward", "lstm_step_forward", "lstm_step_backward"),
      build=lambda record: (lstm_sequence_backward(record("lstm_step_backward", lstm_ref.lstm_step_backward)), {
          "forward": record("lstm_forward",
                            lstm_sequence_forward(record("lstm_step_forward", lstm_ref.lstm_step_forward)))}))
def _(rng):
    cases = []
    for i, (label, N, T, D, H) in enumerate(rnn_sizes(rng)):
        args, c0 = lstm_sequence_args(rng, i, N, T, D, H)
        cases.append({"forward_args": args + ((c0,) if c0 is not None else ()), "douts": (normal(rng, N, T, H),),
                      "label": f"{label}, c0 {'given' if c0 is not None else 'None'}"})
    return cases


@spec("gru_step_forward", "gru_step_forward", "forward", gru_ref.gru_step_forward, outputs=("h",),
      mistakes=GRU_FORWARD_MISTAKES, stock=gru_ref.gru_step_forward)
def _(rng):
    return [{"args": (normal(rng, N, D), normal(rng, N, H), *gru_params(rng, D, H)), "label": label}
            for label, N, D, H in step_sizes(rng)]


@spec("gru_step_backward", "gru_step_backward", "backward", gru_ref.gru_step_backward,
      outputs=("dx", "dh_prev", "dWx", "dWh", "dbx", "dbh"), helpers={"forward": gru_ref.gru_step_forward},
      blocks=(("gate r", "gate z", "gate n"), ("dWx", "dWh", "dbx", "dbh")),
      mistakes=_gru_step_backward_mistakes(), parts=("gru_step_forward",),
      build=forward_part("gru_step_forward", gru_ref.gru_step_backward, gru_ref.gru_step_forward),
      stock=gru_ref.gru_step_backward)
def _(rng):
    return [{"forward_args": (normal(rng, N, D), normal(rng, N, H), *gru_params(rng, D, H)),
             "douts": (normal(rng, N, H),), "label": label} for label, N, D, H in step_sizes(rng)]


@spec("gru_forward", "gru_forward", "forward", gru_ref.gru_forward, outputs=("h",),
      mistakes=[lifted(m, gru_sequence_forward, charged=False) for m in GRU_FORWARD_MISTAKES],
      parts=("gru_step_forward",),
      build=lambda record: (gru_sequence_forward(record("gru_step_forward", gru_ref.gru_step_forward)), {}),
      stock=gru_ref.gru_forward)
def _(rng):
    return [{"args": (normal(rng, N, T, D), normal(rng, N, H), *gru_params(rng, D, H)), "label": label}
            for label, N, T, D, H in rnn_sizes(rng)]


@spec("gru_backward", "gru_backward", "backward", gru_ref.gru_backward,
      outputs=("dx", "dh0", "dWx", "dWh", "dbx", "dbh"), helpers={"forward": gru_ref.gru_forward},
      blocks=(("gate r", "gate z", "gate n"), ("dWx", "dWh", "dbx", "dbh")),
      mistakes=uncharged([through_cache(m, gru_ref.gru_backward, gru_sequence_forward) for m in GRU_FORWARD_MISTAKES]
                         + [lifted(m, gru_sequence_backward) for m in GRU_BACKWARD_MISTAKES]),
      parts=("gru_forward", "gru_step_forward", "gru_step_backward"),
      build=lambda record: (gru_sequence_backward(record("gru_step_backward", gru_ref.gru_step_backward)), {
          "forward": record("gru_forward",
                            gru_sequence_forward(record("gru_step_forward", gru_ref.gru_step_forward)))}))
def _(rng):
    return [{"forward_args": (normal(rng, N, T, D), normal(rng, N, H), *gru_params(rng, D, H)),
             "douts": (normal(rng, N, T, H),), "label": label} for label, N, T, D, H in rnn_sizes(rng)]
