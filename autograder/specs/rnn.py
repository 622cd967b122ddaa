"""Hidden checks of assignment 1 (rnn): the forward passes and the loss value."""
import numpy as np

from autograder.judge import lifted, spec, variant_mistake
from autograder.specs.common import normal, rnn_params, rnn_sizes
from solutions import rnn as ref


def rnn_forward_variant(x, h0, Wxh, Whh, bh, bug=None):
    """rnn_forward with one of the catalogued mistakes switched on."""
    N, T, _ = x.shape
    h = np.zeros((N, T, Whh.shape[0]))
    h_prev = h0
    for t in range(T):
        carried = h0 if bug == "state_not_carried" else h_prev
        a = x[:, t] @ Wxh + carried @ (Whh.T if bug == "whh_transposed" else Whh) + bh
        h_prev = a if bug == "no_tanh" else np.tanh(a)
        h[:, t] = h_prev
    return h, None


def temporal_softmax_loss_variant(o, y, mask=None, bug=None):
    """temporal_softmax_loss with one of the catalogued mistakes switched on (loss and gradient)."""
    N, T, V = o.shape
    mask = np.ones((N, T), bool) if mask is None or bug == "mask_ignored" else mask
    shifted = o - o.max(axis=2, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True))  # stable for logits in the thousands
    p = np.exp(logp)
    onehot = np.eye(V)[y]
    loss = -(np.sum(logp * onehot, axis=2) * mask).sum()
    do = ((o if bug == "logit_instead_of_probability" else p) - onehot) * mask[..., None]
    if bug == "mask_on_loss_only":  # the loss is masked, the gradient is not
        do = p - onehot
    if bug == "averaged_over_time":
        return loss / (N * T), do / (N * T)
    if bug == "no_batch_average":
        return loss, do
    if bug == "no_batch_average_in_gradient":
        return loss / N, do
    return loss / N, do / N


FORWARD_MISTAKES = [
    variant_mistake(
        "rnn_state_not_carried", "the hidden state is not carried forward: every step must use the previous "
        "step's output h_{t-1}, not h0.", rnn_forward_variant, "state_not_carried", "rnn", "rnn_forward",
        "rnn_forward", "x, h0, Wxh, Whh, bh"),
    variant_mistake(
        "rnn_no_tanh", "the tanh is missing: h_t = tanh(x_t Wxh + h_{t-1} Whh + bh).", rnn_forward_variant,
        "no_tanh", "rnn", "rnn_forward", "rnn_forward", "x, h0, Wxh, Whh, bh"),
    variant_mistake(
        "rnn_whh_transposed", "Whh is applied transposed: with row vectors the product is h_{t-1} @ Whh.",
        rnn_forward_variant, "whh_transposed", "rnn", "rnn_forward", "rnn_forward", "x, h0, Wxh, Whh, bh"),
]


def _loss_only(fn):
    return lambda *a, **k: fn(*a, **k)[0]


LOSS_VALUE_MISTAKES = [
    variant_mistake(
        "loss_no_batch_average", "the loss is summed over the batch but not divided by N: the course's loss is "
        "summed over time steps and averaged over the batch.", temporal_softmax_loss_variant, "no_batch_average",
        "rnn", "temporal_softmax_loss", "temporal_softmax_loss", "o, y, mask=None"),
    variant_mistake(
        "loss_averaged_over_time", "the loss is averaged over time steps too: it is summed over time and averaged "
        "over the batch only (divide by N, not N*T).", temporal_softmax_loss_variant, "averaged_over_time",
        "rnn", "temporal_softmax_loss", "temporal_softmax_loss", "o, y, mask=None"),
    variant_mistake(
        "loss_mask_ignored", "the mask is ignored: masked-out steps (mask False) must add nothing to the loss.",
        temporal_softmax_loss_variant, "mask_ignored", "rnn", "temporal_softmax_loss", "temporal_softmax_loss",
        "o, y, mask=None"),
]


def step_cases(rng):
    cases = []
    for label, N, _, D, H in rnn_sizes(rng):
        cases.append({"args": (normal(rng, N, D), normal(rng, N, H), *rnn_params(rng, D, H)),
                      "label": f"N={N}, D={D}, H={H}"})
    return cases


@spec("rnn_step_forward", "rnn_step_forward", "forward", ref.rnn_step_forward, outputs=("h",))
def _(rng):
    return step_cases(rng)


@spec("rnn_forward", "rnn_forward", "forward", ref.rnn_forward, outputs=("h",), mistakes=FORWARD_MISTAKES)
def _(rng):
    return [{"args": (normal(rng, N, T, D), normal(rng, N, H), *rnn_params(rng, D, H)), "label": label}
            for label, N, T, D, H in rnn_sizes(rng)]


@spec("temporal_affine_forward", "temporal_affine_forward", "forward", ref.temporal_affine_forward, outputs=("out",))
def _(rng):
    cases = []
    for label, N, T, _, H in rnn_sizes(rng):
        V = int(rng.integers(1, 7))
        cases.append({"args": (normal(rng, N, T, H), normal(rng, H, V), normal(rng, V)), "label": f"{label}, V={V}"})
    return cases


def loss_value(o, y, mask=None):
    return ref.temporal_softmax_loss(o, y, mask)[0]


def loss_cases(rng):
    """Logits, labels and masks; one case masks whole sequences, two have large logits (one in the thousands)."""
    cases = []
    for i, (label, N, T, _, _) in enumerate(rnn_sizes(rng)):
        V = int(rng.integers(2, 7))
        # large logits need a stable softmax: in the thousands, exp overflows unless the maximum is subtracted
        o = normal(rng, N, T, V, scale={1: 30.0, 7: 1000.0}.get(i, 1.5))
        y = rng.integers(0, V, (N, T))
        mask = None if i in (0, 1) else rng.random((N, T)) > 0.3
        if i == 4:
            mask[0] = False  # a whole sequence masked out
        cases.append({"args": (o, y), "kwargs": {"mask": mask},
                      "label": f"{label}, V={V}, mask {'on' if mask is not None else 'off'}"})
    return cases + [FAR_APART]


# The same for every student: rows of logits thousands apart, so that only a softmax shifted by each
# row's own maximum stays finite (no shift overflows; one shift for the whole array underflows).
FAR_APART = {"args": (np.array([[[1000.0, 0.0, -1000.0], [3.0, 1.0, 2.0]],
                                [[-2000.0, -1990.0, -2005.0], [0.5, 0.1, 0.2]]]), np.array([[0, 2], [1, 0]])),
             "kwargs": {"mask": None},
             "label": "N=2, T=2, V=3, rows of logits thousands apart"}


@spec("temporal_softmax_loss_value", "temporal_softmax_loss", "call", loss_value, outputs=("loss",),
      mistakes=[lifted(m, _loss_only) for m in LOSS_VALUE_MISTAKES])
def _(rng):
    return loss_cases(rng)
