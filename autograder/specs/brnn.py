"""Hidden checks of assignment 5 (brnn): a bidirectional RNN built from the given one-direction RNN.

The student pastes their own `rnn_forward` and `rnn_backward` of assignments 1 and 2 (caches as in
solutions.rnn) into the notebook; the variants below call them by those names, which here are the
reference's and in a submission the notebook's own. Those two are graded in assignments 1 and 2, so their
reference values always stand in for the student's (`given`).
"""
from functools import partial

import numpy as np

from autograder.judge import Mistake, spec, uncharged, variant_mistake
from autograder.specs.common import normal, rnn_params, rnn_sizes
from solutions import brnn as ref
from solutions.rnn import rnn_backward, rnn_forward  # noqa: F401 (called by the variants)


def birnn_forward_variant(x, h0_fwd, h0_bwd, params_fwd, params_bwd, bug=None, forward=None):
    """birnn_forward with one of the catalogued mistakes switched on; `forward` replaces rnn_forward (the
    grader's record of it)."""
    forward = forward or rnn_forward
    h_fwd, cache_fwd = forward(x, h0_fwd, *params_fwd)
    x_bwd = x if bug == "input_not_reversed" else x[:, ::-1]
    h_bwd, cache_bwd = forward(x_bwd, h0_bwd, *params_bwd)
    if bug != "states_not_rereversed":
        h_bwd = h_bwd[:, ::-1]
    return np.concatenate([h_fwd, h_bwd], axis=2), (cache_fwd, cache_bwd)


def birnn_backward_variant(dh, cache, bug=None, backward=None):
    """birnn_backward with one of the catalogued mistakes switched on; `backward` replaces rnn_backward."""
    backward = backward or rnn_backward
    cache_fwd, cache_bwd = cache
    H = dh.shape[2] // 2
    dx_fwd, dh0_fwd, dWxh_f, dWhh_f, dbh_f = backward(dh[:, :, :H], cache_fwd)
    dh_bwd = dh[:, :, H:] if bug == "dh_not_reversed" else dh[:, ::-1, H:]
    dx_bwd, dh0_bwd, dWxh_b, dWhh_b, dbh_b = backward(dh_bwd, cache_bwd)
    if bug == "dx_one_direction":
        dx = dx_fwd
    elif bug == "dx_not_reversed":
        dx = dx_fwd + dx_bwd
    else:
        dx = dx_fwd + dx_bwd[:, ::-1]
    return dx, dh0_fwd, dh0_bwd, (dWxh_f, dWhh_f, dbh_f), (dWxh_b, dWhh_b, dbh_b)


FORWARD = ("brnn", "birnn_forward", "birnn_forward", "x, h0_fwd, h0_bwd, params_fwd, params_bwd")
BACKWARD = ("brnn", "birnn_backward", "birnn_backward", "dh, cache")

STATES_NOT_REREVERSED = variant_mistake(
    "brnn_states_not_rereversed", "birnn_forward stores the backward direction's states in the order it "
    "computed them: run on the reversed sequence, its first state belongs to position T-1, so reverse the "
    "states back before concatenating (h[:, t, H:] must have read x[:, t:]).", birnn_forward_variant,
    "states_not_rereversed", *FORWARD)

INPUT_NOT_REVERSED = variant_mistake(
    "brnn_input_not_reversed", "birnn_forward runs the backward direction on x in its original order: it "
    "must read the reversed sequence x[:, ::-1], starting at the last position, so that h[:, t, H:] has "
    "read x[:, t:].", birnn_forward_variant, "input_not_reversed", *FORWARD)

BACKWARD_MISTAKES = [
    variant_mistake(
        "brnn_dh_not_reversed", "birnn_backward hands the backward direction its upstream gradient in reading "
        "order: that RNN ran over the reversed sequence, so it needs dh[:, ::-1, H:], reversed in time like "
        "its states.", birnn_backward_variant, "dh_not_reversed", *BACKWARD),
    variant_mistake(
        "brnn_dx_one_direction", "birnn_backward returns only the forward direction's dx: both directions read "
        "every x_t, so dx is the sum of the two contributions (the backward one reversed back to reading "
        "order).", birnn_backward_variant, "dx_one_direction", *BACKWARD),
    variant_mistake(
        "brnn_dx_not_reversed", "birnn_backward adds the backward direction's dx without reversing it: that "
        "RNN's dx[:, s] belongs to x[:, T-1-s], so reverse it in time before adding it to the forward "
        "direction's.", birnn_backward_variant, "dx_not_reversed", *BACKWARD),
]


def birnn_args(rng, N, T, D, H):
    return (normal(rng, N, T, D), normal(rng, N, H), normal(rng, N, H), rnn_params(rng, D, H), rnn_params(rng, D, H))


@spec("birnn_forward", "birnn_forward", "forward", ref.birnn_forward, outputs=("h",),
      blocks=(("the forward direction (h[..., :H])", "the backward direction (h[..., H:])"), ("h",)),
      mistakes=[STATES_NOT_REREVERSED, INPUT_NOT_REVERSED], stock=ref.birnn_forward, given=("rnn_forward",),
      build=lambda record: (partial(birnn_forward_variant, forward=record("rnn_forward", rnn_forward)), {}))
def _(rng):
    return [{"args": birnn_args(rng, N, T, D, H), "label": label} for label, N, T, D, H in rnn_sizes(rng)]


# Reversing the states only reorders the output: the caches, and so the gradients, are right, and the
# backward check does not list that mistake. A forward run on the unreversed input fills the cache wrongly;
# once birnn_forward has failed its check, the reference's forward stands in for it here, so that mistake is
# recognised (in a backward that repeats it) but not charged again.
@spec("birnn_backward", "birnn_backward", "backward", ref.birnn_backward,
      outputs=("dx", "dh0_fwd", "dh0_bwd", "dparams_fwd", "dparams_bwd"), helpers={"forward": ref.birnn_forward},
      mistakes=uncharged([Mistake(INPUT_NOT_REVERSED.id, INPUT_NOT_REVERSED.message, ref.birnn_backward,
                                  {"forward": INPUT_NOT_REVERSED.fn}, INPUT_NOT_REVERSED.submission)])
      + BACKWARD_MISTAKES, parts=("birnn_forward",), given=("rnn_forward", "rnn_backward"),
      build=lambda record: (partial(birnn_backward_variant, backward=record("rnn_backward", rnn_backward)), {
          "forward": record("birnn_forward",
                            partial(birnn_forward_variant, forward=record("rnn_forward", rnn_forward)))}))
def _(rng):
    return [{"forward_args": birnn_args(rng, N, T, D, H), "douts": (normal(rng, N, T, 2 * H),), "label": label}
            for label, N, T, D, H in rnn_sizes(rng)]
