"""Hidden checks of assignment 3 (vanishing_gradients): Jacobian norms, clipping, truncated BPTT."""
from functools import partial

import numpy as np

from autograder.judge import spec, variant_mistake
from autograder.specs.common import normal
from solutions import bptt as ref
from solutions.rnn import (  # noqa: F401  (the variants below call these by name, as the notebook does)
    rnn_backward,
    rnn_forward,
    temporal_affine_backward,
    temporal_affine_forward,
    temporal_softmax_loss,
)


def hidden_jacobian_norms_variant(params, x, h0=None, bug=None, parts=None):
    """hidden_jacobian_norms with one of the catalogued mistakes switched on; `parts` replaces the functions
    of assignments 1 and 2 that it calls (by name), as the grader's records of them."""
    forward = (parts or {}).get("rnn_forward", rnn_forward)
    Whh = params["Whh"]
    H = Whh.shape[0]
    if h0 is None:
        h0 = np.zeros((1, H))
    h, _ = forward(x, h0, params["Wxh"], Whh, params["bh"])
    h = h[0]
    T = h.shape[0]
    norms = np.ones(T)
    J = np.eye(H)
    for k in reversed(range(T - 1)):
        slope = 1 - h[k if bug == "slope_of_wrong_step" else k + 1] ** 2
        factor = Whh.T * slope[None, :] if bug == "factor_wrong_side" else slope[:, None] * Whh.T
        J = J @ factor
        norms[k] = np.linalg.norm(J) if bug == "frobenius" else np.linalg.norm(J, 2)
    return norms


def clip_grad_norm_variant(grads, max_norm, bug=None):
    """clip_grad_norm with one of the catalogued mistakes switched on."""
    total = np.sqrt(sum(np.sum(g**2) for g in grads.values()))
    if bug == "per_array":
        return {k: g * min(1.0, max_norm / np.sqrt(np.sum(g**2))) for k, g in grads.items()}, total
    scale = max_norm / total if (total > max_norm or bug == "always_scaled") else 1.0
    clipped = {k: g * scale for k, g in grads.items()}
    if bug == "norm_after_clipping":
        total = np.sqrt(sum(np.sum(g**2) for g in clipped.values()))
    return clipped, total


def truncated_loss_and_grads_variant(params, x, y, k, h0=None, bug=None, parts=None):
    """truncated_loss_and_grads with one of the catalogued mistakes switched on; `parts` as above."""
    given = {"rnn_forward": rnn_forward, "temporal_affine_forward": temporal_affine_forward,
             "temporal_softmax_loss": temporal_softmax_loss, "temporal_affine_backward": temporal_affine_backward,
             "rnn_backward": rnn_backward, **(parts or {})}
    N, T, _ = x.shape
    H = params["Whh"].shape[0]
    h0 = np.zeros((N, H)) if h0 is None else h0
    h_start, loss = h0, 0.0
    grads = {name: np.zeros_like(p) for name, p in params.items()}
    windows = [(0, T)] if bug == "gradient_carried" else [(s, min(s + k, T)) for s in range(0, T, k)]
    for s, e in windows:
        start = h0 if bug == "state_reset" else h_start
        h, rnn_cache = given["rnn_forward"](x[:, s:e], start, params["Wxh"], params["Whh"], params["bh"])
        o, affine_cache = given["temporal_affine_forward"](h, params["Why"], params["by"])
        window_loss, do = given["temporal_softmax_loss"](o, y[:, s:e])
        dh, dWhy, dby = given["temporal_affine_backward"](do, affine_cache)
        _, _, dWxh, dWhh, dbh = given["rnn_backward"](dh, rnn_cache)
        loss += window_loss
        for name, g in zip(("Wxh", "Whh", "bh", "Why", "by"), (dWxh, dWhh, dbh, dWhy, dby)):
            grads[name] = g if bug == "last_window_only" else grads[name] + g
        h_start = h[:, -1]
    return loss, grads


def _jac(bug, message):
    return variant_mistake(f"jacobian_{bug}", message, hidden_jacobian_norms_variant, bug, "vanishing_gradients",
                           "hidden_jacobian_norms", "hidden_jacobian_norms", "params, x, h0=None")


def _clip(bug, message):
    return variant_mistake(f"clip_{bug}", message, clip_grad_norm_variant, bug, "vanishing_gradients",
                           "clip_grad_norm", "clip_grad_norm", "grads, max_norm")


def _trunc(bug, message):
    return variant_mistake(f"truncated_{bug}", message, truncated_loss_and_grads_variant, bug, "vanishing_gradients",
                           "truncated_loss_and_grads", "truncated_loss_and_grads", "params, x, y, k, h0=None")


TRUNCATED_PARTS = ("rnn_forward", "temporal_affine_forward", "temporal_softmax_loss", "temporal_affine_backward",
                   "rnn_backward")


def _given(variant, names):
    """`build` of a check whose reference calls functions of assignments 1 and 2: the variant without a
    mistake, calling recorded versions of them."""
    return lambda record: (partial(variant, parts={n: record(n, globals()[n]) for n in names}), {})


def _params(rng, D, H, V, scale):
    params = ref.init_params(D, H, V, seed=int(rng.integers(1 << 30)), scale=scale)
    params["bh"], params["by"] = normal(rng, H, scale=0.1), normal(rng, V, scale=0.1)
    return params


@spec("hidden_jacobian_norms", "hidden_jacobian_norms", "call", ref.hidden_jacobian_norms, outputs=("norms",),
      given=("rnn_forward",), build=_given(hidden_jacobian_norms_variant, ("rnn_forward",)),
      mistakes=[
          _jac("factor_wrong_side", "the tanh slope is on the wrong side: with row vectors dh_t/dh_{t-1} = "
               "diag(1 - h_t**2) @ Whh.T, so the slopes scale the rows of Whh.T, not its columns."),
          _jac("frobenius", "the norm is the Frobenius norm: the spectral norm is the largest singular value, "
               "np.linalg.norm(J, 2)."),
          _jac("slope_of_wrong_step", "the tanh slope comes from the wrong step: the factor dh_{k+1}/dh_k uses "
               "1 - h_{k+1}**2, the slope at the step that is computed."),
      ])
def _(rng):
    cases = []
    for i, (T, D, H) in enumerate([(int(rng.integers(5, 9)), 2, int(rng.integers(3, 6))), (1, 2, 3), (6, 1, 1),
                                   (int(rng.integers(4, 8)), 3, int(rng.integers(2, 5)))]):
        params = _params(rng, D, H, 3, scale=float(rng.uniform(0.8, 2.0)))
        h0 = None if i % 2 else normal(rng, 1, H, scale=0.5)
        cases.append({"args": (params, normal(rng, 1, T, D)), "kwargs": {"h0": h0}, "label": f"T={T}, D={D}, H={H}"})
    return cases


@spec("clip_grad_norm", "clip_grad_norm", "call", ref.clip_grad_norm, outputs=("clipped", "total_norm"),
      mistakes=[
          _clip("per_array", "each array is clipped by its own norm: the total norm is over all arrays together, "
                "and all are scaled by the same factor max_norm / total_norm."),
          _clip("always_scaled", "the gradients are rescaled even when their norm is below max_norm: clip only when "
                "total_norm > max_norm."),
          _clip("norm_after_clipping", "the returned norm is the norm after clipping: return the total norm of the "
                "gradients as they came in."),
      ])
def _(rng):
    cases = []
    for max_norm_factor in (0.3, 0.7, 1.5, 0.5):  # below and above the norm
        grads = {"W": normal(rng, 3, 4), "b": normal(rng, 4) * 3, "V": normal(rng, 2, 2) * 0.5}
        total = np.sqrt(sum(np.sum(g**2) for g in grads.values()))
        cases.append({"args": (grads, float(total * max_norm_factor)),
                      "label": f"max_norm = {max_norm_factor} x the norm"})
    return cases


@spec("truncated_loss_and_grads", "truncated_loss_and_grads", "call", ref.truncated_loss_and_grads,
      outputs=("loss", "grads"), given=TRUNCATED_PARTS, build=_given(truncated_loss_and_grads_variant, TRUNCATED_PARTS),
      mistakes=[
          _trunc("state_reset", "each window starts again from h0: the hidden state must be carried forward from "
                 "the previous window's last step; only the gradient is cut."),
          _trunc("gradient_carried", "this is full BPTT: the gradient must not flow back across a window's start "
                 "(run the backward pass separately for each window)."),
          _trunc("last_window_only", "only the last window's gradients are kept: the gradients of all windows are "
                 "added up."),
      ])
def _(rng):
    cases = []
    for N, T, k in ((int(rng.integers(2, 4)), 7, 3), (2, 8, 2), (1, 5, 1), (2, 4, 4), (3, 6, 10)):
        D, H, V = int(rng.integers(1, 4)), int(rng.integers(2, 5)), int(rng.integers(2, 5))
        params = _params(rng, D, H, V, scale=1.2)
        h0 = normal(rng, N, H, scale=0.5) if T % 2 == 0 else None
        cases.append({"args": (params, normal(rng, N, T, D), rng.integers(0, V, (N, T)), k), "kwargs": {"h0": h0},
                      "label": f"N={N}, T={T}, k={k}, D={D}, H={H}, V={V}"})
    return cases
