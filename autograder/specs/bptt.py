"""Hidden checks of assignment 2 (bptt): every backward pass and the whole model's BPTT.

The catalogue of BPTT mistakes lives here, as three variant implementations with a `bug` switch:
one RNN step backward, the whole sequence backward, and the loss with its gradient. Each mistake is
recognised where it is made and, lifted, in every larger function that calls the buggy one.
"""
import numpy as np

from autograder.judge import forward_part, lifted, spec, uncharged, variant_mistake
from autograder.specs.common import normal, rnn_params, rnn_sizes
from autograder.specs.rnn import loss_cases, temporal_softmax_loss_variant
from solutions import bptt as ref_bptt
from solutions import rnn as ref


def rnn_step_backward_variant(dh, cache, bug=None):
    """rnn_step_backward with one of the catalogued mistakes switched on."""
    x, h_prev, Wxh, Whh, h = cache
    if bug == "no_tanh_derivative":
        da = dh
    elif bug == "tanh_derivative_at_previous_state":
        da = dh * (1 - h_prev**2)
    elif bug == "tanh_applied_twice":
        da = dh * (1 - np.tanh(h) ** 2)
    else:
        da = dh * (1 - h**2)
    dx = da @ Wxh.T
    dh_prev = da @ (Whh if bug == "whh_not_transposed" else Whh.T)
    dWxh = x.T @ da
    dWhh = (h if bug == "states_swapped" else h_prev).T @ da
    dbh = da.mean(axis=0) if bug == "bias_averaged" else da.sum(axis=1 if bug == "bias_wrong_axis" else 0)
    return dx, dh_prev, dWxh, dWhh, dbh


def rnn_backward_variant(dh, cache, bug=None):
    """rnn_backward with one of the catalogued mistakes switched on."""
    x, h0, Wxh, Whh, h = cache
    N, T, D = x.shape
    H = h.shape[2]
    dx, dWxh, dWhh, dbh = np.zeros((N, T, D)), np.zeros((D, H)), np.zeros((H, H)), np.zeros(H)
    dh_next = np.zeros((N, H))
    for t in reversed(range(T)):
        h_prev = h0 if t == 0 else h[:, t - 1]
        if bug == "carry_skips_tanh":
            da = dh[:, t] * (1 - h[:, t] ** 2) + dh_next
        elif bug == "no_carry":
            da = dh[:, t] * (1 - h[:, t] ** 2)
        elif bug == "tanh_derivative_at_next_state":  # the state of the step handled before, t + 1
            da = (dh[:, t] + dh_next) * (1 - h[:, min(t + 1, T - 1)] ** 2)
        else:
            da = (dh[:, t] + dh_next) * (1 - h[:, t] ** 2)
        dx[:, t] = da @ Wxh.T
        dWxh += x[:, t].T @ da
        dWhh += h_prev.T @ da
        dbh += da.sum(axis=0)
        dh_next = da @ Whh.T
    return dx, np.zeros_like(h0) if bug == "dh0_not_returned" else dh_next, dWxh, dWhh, dbh


def temporal_affine_backward_variant(dout, cache, bug=None):
    """temporal_affine_backward with one of the catalogued mistakes switched on."""
    h, W = cache
    N, T, H = h.shape
    V = W.shape[1]
    dh = dout @ W.T
    if bug == "last_step_only":
        dW = h[:, -1].T @ dout[:, -1]
    else:
        dW = h.reshape(N * T, H).T @ dout.reshape(N * T, V)
    db = dout.sum(axis=0) if bug == "bias_batch_only" else dout.sum(axis=(0, 1))
    if bug == "bias_averaged":
        db = dout.mean(axis=(0, 1))
    return dh, dW, db


def rnn_backward_from_steps(step_backward):
    """rnn_backward built from a step backward, as the notebook's solution builds it."""
    def rnn_backward(dh, cache):
        x, h0, Wxh, Whh, h = cache
        N, T, D = x.shape
        H = h.shape[2]
        dx, dWxh, dWhh, dbh = np.zeros((N, T, D)), np.zeros((D, H)), np.zeros((H, H)), np.zeros(H)
        dh_next = np.zeros((N, H))
        for t in reversed(range(T)):
            h_prev = h0 if t == 0 else h[:, t - 1]
            dx[:, t], dh_next, dWxh_t, dWhh_t, dbh_t = step_backward(
                dh[:, t] + dh_next, (x[:, t], h_prev, Wxh, Whh, h[:, t])
            )
            dWxh += dWxh_t
            dWhh += dWhh_t
            dbh += dbh_t
        return dx, dh_next, dWxh, dWhh, dbh
    return rnn_backward


def model_loss_and_grads(rnn_backward=ref.rnn_backward, affine_backward=ref.temporal_affine_backward,
                         softmax_loss=ref.temporal_softmax_loss, rnn_forward=ref.rnn_forward,
                         affine_forward=ref.temporal_affine_forward):
    """loss_and_grads of the whole model from its parts, so that a part's mistake can be lifted."""
    def loss_and_grads(params, x, y, h0=None, mask=None):
        if h0 is None:
            h0 = np.zeros((x.shape[0], params["Whh"].shape[0]))
        h, rnn_cache = rnn_forward(x, h0, params["Wxh"], params["Whh"], params["bh"])
        o, affine_cache = affine_forward(h, params["Why"], params["by"])
        loss, do = softmax_loss(o, y, mask)
        dh, dWhy, dby = affine_backward(do, affine_cache)
        _, _, dWxh, dWhh, dbh = rnn_backward(dh, rnn_cache)
        return loss, {"Wxh": dWxh, "Whh": dWhh, "bh": dbh, "Why": dWhy, "by": dby}
    return loss_and_grads


def _step(bug, message):
    return variant_mistake(f"step_{bug}", message, rnn_step_backward_variant, bug, "bptt", "rnn_step_backward",
                           "rnn_step_backward", "dh, cache")


def _seq(bug, message):
    return variant_mistake(f"seq_{bug}", message, rnn_backward_variant, bug, "bptt", "rnn_backward",
                           "rnn_backward", "dh, cache")


TANH = ("the gradient must go through tanh: multiply the upstream gradient by the tanh derivative "
        "1 - h_t**2 before the matrix products.")
STEP_MISTAKES = [
    _step("no_tanh_derivative", "the tanh derivative is missing: " + TANH),
    _step("tanh_applied_twice", "the tanh derivative is written 1 - tanh(h)**2, but h is already tanh of the "
          "pre-activation: the derivative is 1 - h**2."),
    _step("states_swapped", "dWhh uses the new state h_t where it needs the previous one: dWhh = h_prev.T @ da."),
    _step("whh_not_transposed", "the gradient on h_prev multiplies by Whh instead of Whh.T: with row vectors, "
          "a = h_prev @ Whh gives dh_prev = da @ Whh.T."),
    _step("tanh_derivative_at_previous_state", "the tanh derivative is taken at the previous state: the step's "
          "output is h = tanh(a), so dh/da = 1 - h**2 with the step's own output h, not h_prev."),
    _step("bias_averaged", "dbh is averaged over the batch: the loss adds every example's contribution, so the "
          "bias gradient sums da over the batch (axis 0), as dWxh and dWhh sum over it through the products."),
    _step("bias_wrong_axis", "dbh is summed over the hidden units instead of over the batch: sum da over axis 0, "
          "to get shape (H,)."),
]
SEQ_MISTAKES = [
    _seq("no_carry", "the gradient from step t+1 is not carried back: add dh_next (the gradient on h_t coming "
         "from step t+1) to dh[:, t] before going through tanh, or no gradient flows back in time."),
    _seq("tanh_derivative_at_next_state", "the tanh derivative at step t is taken at the next state h_{t+1} "
         "(the one of the step handled just before): at step t it is 1 - h_t**2, with h_t = h[:, t]."),
    _seq("dh0_not_returned", "the gradient on the initial state h0 is not returned: it is what is carried out of "
         "the first step (dh_prev after the loop), not zeros."),
    _seq("carry_skips_tanh", "the gradient carried from step t+1 skips the tanh derivative: add dh_next to "
         "dh[:, t] first, then multiply the sum by 1 - h_t**2."),
]
AFFINE_MISTAKES = [
    variant_mistake("affine_bias_batch_only", "db is summed over the batch but not over time: the bias is shared "
                    "by every step, so sum dout over axes (0, 1) to get shape (V,).",
                    temporal_affine_backward_variant, "bias_batch_only", "bptt", "temporal_affine_backward",
                    "temporal_affine_backward", "dout, cache"),
    variant_mistake("affine_last_step_only", "dW uses the last time step only: W is shared by every step, so its "
                    "gradient sums h[:, t].T @ dout[:, t] over all t.", temporal_affine_backward_variant,
                    "last_step_only", "bptt", "temporal_affine_backward", "temporal_affine_backward", "dout, cache"),
    variant_mistake("affine_bias_averaged", "db is averaged over the batch and time: the bias adds to every "
                    "output, so its gradient is the sum of dout over axes (0, 1), not the mean.",
                    temporal_affine_backward_variant, "bias_averaged", "bptt", "temporal_affine_backward",
                    "temporal_affine_backward", "dout, cache"),
]


def _loss(bug, message):
    return variant_mistake(f"grad_{bug}", message, temporal_softmax_loss_variant, bug, "bptt", "temporal_softmax_loss",
                           "temporal_softmax_loss", "o, y, mask=None")


LOSS_MISTAKES = [
    _loss("no_batch_average_in_gradient", "the gradient is not divided by N: the loss is averaged over the batch, "
          "so do is (softmax(o) - onehot(y)) / N."),
    _loss("logit_instead_of_probability", "the gradient uses the logits instead of the probabilities: "
          "dL/do = softmax(o) - onehot(y), not o - onehot(y)."),
    _loss("mask_on_loss_only", "the mask is applied to the loss but not to its gradient: a masked-out step adds "
          "nothing to the loss, so its row of do must be zero too."),
    _loss("mask_ignored", "the mask is ignored: masked-out steps (mask False) add nothing to the loss and get "
          "zero gradient."),
]


def _through_steps(m):
    return lifted(m, rnn_backward_from_steps, "(in rnn_step_backward) ", charged=False)


def _model(part):
    """Wrap a part's mistake into the whole model's loss_and_grads."""
    return lambda fn: model_loss_and_grads(**{part: fn})


# ---------------------------------------------------------------------------- the checks


@spec("rnn_step_backward", "rnn_step_backward", "backward", ref.rnn_step_backward,
      outputs=("dx", "dh_prev", "dWxh", "dWhh", "dbh"), helpers={"forward": ref.rnn_step_forward},
      mistakes=STEP_MISTAKES, stock=ref.rnn_step_backward, given=("rnn_step_forward",),
      build=forward_part("rnn_step_forward", ref.rnn_step_backward, ref.rnn_step_forward))
def _(rng):
    cases = []
    for _, N, _, D, H in rnn_sizes(rng):
        fwd = (normal(rng, N, D), normal(rng, N, H), *rnn_params(rng, D, H))
        cases.append({"forward_args": fwd, "douts": (normal(rng, N, H),), "label": f"N={N}, D={D}, H={H}"})
    return cases


@spec("rnn_backward", "rnn_backward", "backward", ref.rnn_backward, outputs=("dx", "dh0", "dWxh", "dWhh", "dbh"),
      helpers={"forward": ref.rnn_forward}, mistakes=SEQ_MISTAKES + [_through_steps(m) for m in STEP_MISTAKES],
      parts=("rnn_step_backward",), given=("rnn_forward",),
      build=lambda record: (rnn_backward_from_steps(record("rnn_step_backward", ref.rnn_step_backward)),
                            {"forward": record("rnn_forward", ref.rnn_forward)}), stock=ref.rnn_backward)
def _(rng):
    return [{"forward_args": (normal(rng, N, T, D), normal(rng, N, H), *rnn_params(rng, D, H)),
             "douts": (normal(rng, N, T, H),), "label": label} for label, N, T, D, H in rnn_sizes(rng)]


@spec("temporal_affine_backward", "temporal_affine_backward", "backward", ref.temporal_affine_backward,
      outputs=("dh", "dW", "db"), helpers={"forward": ref.temporal_affine_forward}, mistakes=AFFINE_MISTAKES,
      stock=ref.temporal_affine_backward, given=("temporal_affine_forward",),
      build=forward_part("temporal_affine_forward", ref.temporal_affine_backward, ref.temporal_affine_forward))
def _(rng):
    cases = []
    for label, N, T, _, H in rnn_sizes(rng):
        V = int(rng.integers(2, 7))
        T = max(T, 2)  # one step would hide the sums over time
        cases.append({"forward_args": (normal(rng, N, T, H), normal(rng, H, V), normal(rng, V)),
                      "douts": (normal(rng, N, T, V),), "label": f"N={N}, T={T}, H={H}, V={V}"})
    return cases


@spec("temporal_softmax_loss", "temporal_softmax_loss", "call", ref.temporal_softmax_loss, outputs=("loss", "do"),
      mistakes=LOSS_MISTAKES, stock=ref.temporal_softmax_loss)
def _(rng):
    return loss_cases(rng)


@spec("loss_and_grads", "loss_and_grads", "call", ref_bptt.loss_and_grads, outputs=("loss", "grads"),
      mistakes=uncharged(
          [lifted(m, _model("rnn_backward"), "(in rnn_backward) ") for m in SEQ_MISTAKES
           if m.id != "seq_dh0_not_returned"]  # the model's loss has no use for dh0
          + [lifted(m, lambda f: model_loss_and_grads(rnn_backward=rnn_backward_from_steps(f)),
                    "(in rnn_step_backward) ") for m in STEP_MISTAKES]
          + [lifted(m, _model("affine_backward"), "(in temporal_affine_backward) ") for m in AFFINE_MISTAKES]
          + [lifted(m, _model("softmax_loss"), "(in temporal_softmax_loss) ") for m in LOSS_MISTAKES]),
      parts=("rnn_backward", "rnn_step_backward", "temporal_affine_backward", "temporal_softmax_loss"),
      given=("rnn_forward", "temporal_affine_forward"),
      build=lambda record: (model_loss_and_grads(
          record("rnn_backward", rnn_backward_from_steps(record("rnn_step_backward", ref.rnn_step_backward))),
          record("temporal_affine_backward", ref.temporal_affine_backward),
          record("temporal_softmax_loss", ref.temporal_softmax_loss),
          record("rnn_forward", ref.rnn_forward), record("temporal_affine_forward", ref.temporal_affine_forward)), {}))
def _(rng):
    cases = []
    for i, (label, N, T, D, H) in enumerate(rnn_sizes(rng)):
        V = int(rng.integers(2, 6))
        params = ref_bptt.init_params(D, H, V, seed=int(rng.integers(1 << 30)))
        params["bh"], params["by"] = normal(rng, H, scale=0.1), normal(rng, V, scale=0.1)
        y = rng.integers(0, V, (N, T))
        h0 = None if i % 2 else normal(rng, N, H, scale=0.5)
        mask = rng.random((N, T)) > 0.25 if i >= 2 else None
        cases.append({"args": (params, normal(rng, N, T, D), y), "kwargs": {"h0": h0, "mask": mask},
                      "label": f"{label}, V={V}"})
    return cases
