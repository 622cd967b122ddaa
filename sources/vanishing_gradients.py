# %% [markdown]
# # Assignment 3: vanishing and exploding gradients
#
# The gradient that BPTT carries from step $T-1$ back to step $k$ is multiplied by one Jacobian per step
# in between. In this assignment you measure how the size of that product depends on the recurrent
# weights, and you implement the two standard tools against gradients that grow or vanish: clipping the
# gradient norm, and truncated BPTT. The book's chapter *Vanishing and exploding gradients* covers the
# theory.
#
# **Conventions.** As in assignments 1 and 2: float64, batch first, row vectors,
# $h_t = \tanh(x_t W_{xh} + h_{t-1} W_{hh} + b_h)$. With row vectors the Jacobian of one step is
#
# $$\frac{\partial h_t}{\partial h_{t-1}} = \operatorname{diag}(1 - h_t^2)\, W_{hh}^\top ,$$
#
# an $H \times H$ matrix whose entry $(i, j)$ is $\partial h_{t,i} / \partial h_{t-1,j}$.
#
# **Your functions of assignments 1 and 2.** This assignment builds on your forward and backward passes
# and `loss_and_grads`: paste them into the first cell below (part 0).
#
# **How to work.** In each function, replace `# YOUR CODE HERE` and the `raise NotImplementedError()` line
# with your code, and run the test cell below it. The last part asks for a written answer, which your
# instructor grades by hand. Run `nbgrader validate vanishing_gradients.ipynb` before you submit.

# %% setup
import numpy as np
import matplotlib.pyplot as plt

from gradcheck import numerical_gradient, rel_error


def init_params(D, H, V, seed=0, scale=1.0):
    """Gaussian weights of standard deviation scale / sqrt(fan_in): scale is about Whh's spectral radius."""
    rng = np.random.default_rng(seed)
    return {"Wxh": rng.standard_normal((D, H)) * scale / np.sqrt(D), "Whh": rng.standard_normal((H, H)) * scale / np.sqrt(H),
            "bh": np.zeros(H), "Why": rng.standard_normal((H, V)) * scale / np.sqrt(H), "by": np.zeros(V)}

# %% [markdown]
# ## 0. Your functions of assignments 1 and 2
#
# Paste into the next cell, in place of `# YOUR CODE HERE` and `raise NotImplementedError()`, your
# `rnn_forward` and `temporal_affine_forward` of assignment 1, and your `rnn_backward`,
# `temporal_affine_backward`, `temporal_softmax_loss` and `loss_and_grads` of assignment 2, with the
# functions they call (`rnn_step_forward`, `rnn_step_backward`). This cell earns no points: those
# assignments graded these functions. The visible tests and the plot below run yours; the hidden tests give
# your new functions the course's own results of these, so a mistake left in an earlier assignment is not
# charged again here.

# %% solution: functions_of_assignments_1_and_2
# Your functions of assignments 1 and 2
#| paste rnn: rnn_step_forward rnn_forward temporal_affine_forward
#| paste bptt: rnn_step_backward rnn_backward temporal_affine_backward temporal_softmax_loss loss_and_grads

# %% [markdown]
# ## 1. How far back does a gradient reach?
#
# For one sequence (`N == 1`), compute the spectral norm (the largest singular value,
# `np.linalg.norm(J, 2)`) of $J_k = \partial h_{T-1} / \partial h_k$ for every $k = 0, \dots, T-1$.
# Build the product from the end: $J_{T-1} = I$ and $J_k = J_{k+1}\, \partial h_{k+1} / \partial h_k$.

# %% solution: hidden_jacobian_norms
def hidden_jacobian_norms(params, x, h0=None):
    """
    Spectral norms of d h_{T-1} / d h_k for every k, on one sequence.

    Inputs:
    - params: the model's parameters, dict with Wxh (D, H), Whh (H, H), bh (H,) (Why and by are not used)
    - x: one input sequence, (1, T, D)
    - h0: initial hidden state, (1, H); None means zeros

    Returns:
    - norms: (T,), entry k the spectral norm of d h_{T-1} / d h_k; entry T-1 is 1
    """
    ### BEGIN SOLUTION
    Whh = params["Whh"]
    H = Whh.shape[0]
    if h0 is None:
        h0 = np.zeros((1, H))
    h, _ = rnn_forward(x, h0, params["Wxh"], Whh, params["bh"])
    h = h[0]
    T = h.shape[0]
    norms = np.ones(T)
    J = np.eye(H)
    for k in reversed(range(T - 1)):
        J = J @ ((1 - h[k + 1] ** 2)[:, None] * Whh.T)
        norms[k] = np.linalg.norm(J, 2)
    ### END SOLUTION
    return norms

# %% test: hidden_jacobian_norms_per_step points=5
"""hidden_jacobian_norms: shape, the last entry, and one step checked by finite differences."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("hidden_jacobian_norms", hidden_jacobian_norms)
### END HIDDEN TESTS
params = init_params(2, 4, 3, seed=0, scale=1.5)
x = np.random.default_rng(0).standard_normal((1, 6, 2))
norms = hidden_jacobian_norms(params, x)
assert norms.shape == (6,), f"norms should have shape (T,) = (6,), got {norms.shape}"
assert rel_error(norms[-1], 1.0) < 1e-12, "d h_{T-1} / d h_{T-1} is the identity, whose norm is 1"
# one step back: the Jacobian of h_5 with respect to h_4, column by column with finite differences
h, _ = rnn_forward(x, np.zeros((1, 4)), params["Wxh"], params["Whh"], params["bh"])
step = lambda h4: np.tanh(x[0, 5] @ params["Wxh"] + h4 @ params["Whh"] + params["bh"])
J = np.stack([numerical_gradient(lambda v: step(v)[i], h[0, 4]) for i in range(4)])
assert rel_error(norms[4], np.linalg.norm(J, 2)) < 1e-7, f"norms[4] should be {np.linalg.norm(J, 2):.6f}, got {norms[4]:.6f}"

# %% [markdown]
# ## 2. Clipping the gradient norm
#
# `clip_grad_norm` computes the L2 norm of all the gradient arrays together (as if they were one long
# vector) and, when it exceeds `max_norm`, scales **every** array by `max_norm / total_norm`. It returns
# new arrays and leaves `grads` untouched.

# %% solution: clip_grad_norm
def clip_grad_norm(grads, max_norm):
    """
    Rescale a dict of gradients so that their joint L2 norm is at most max_norm.

    Inputs:
    - grads: the gradients, a dict of arrays; not modified
    - max_norm: the largest joint norm allowed, a positive float

    Returns a tuple of:
    - clipped: the clipped gradients, a new dict with the keys of grads
    - total_norm: the joint norm before clipping
    """
    ### BEGIN SOLUTION
    total_norm = float(np.sqrt(sum(np.sum(g**2) for g in grads.values())))
    scale = max_norm / total_norm if total_norm > max_norm else 1.0
    clipped = {name: g * scale for name, g in grads.items()}
    ### END SOLUTION
    return clipped, total_norm

# %% test: clip_grad_norm_rescaling points=4
"""clip_grad_norm: a 3-4-5 example, below the threshold, and the input left untouched."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("clip_grad_norm", clip_grad_norm)
### END HIDDEN TESTS
grads = {"a": np.array([3.0]), "b": np.array([4.0])}  # joint norm 5
clipped, total = clip_grad_norm(grads, 1.0)
assert rel_error(total, 5.0) < 1e-12, f"the joint norm of [3] and [4] is 5, got {total}"
assert rel_error(clipped["a"], np.array([0.6])) < 1e-12 and rel_error(clipped["b"], np.array([0.8])) < 1e-12, \
    f"scaled by 1/5: expected a = 0.6, b = 0.8, got {clipped}"
assert grads["a"][0] == 3.0, "grads must be left untouched"
same, _ = clip_grad_norm(grads, 10.0)
assert rel_error(same["a"], grads["a"]) < 1e-12, "below max_norm nothing changes"

# %% [markdown]
# ## 3. Truncated BPTT
#
# Cut the sequence into consecutive windows of `k` steps (the last may be shorter). Run each window
# forward from the hidden state where the previous window ended (the first from `h0`), compute its loss
# and run its backward pass **within the window only**: no gradient crosses a window's start. The loss is
# the sum of the windows' losses (so it equals the full loss), and the gradients are summed over windows.
# With `k >= T` the result is exactly `loss_and_grads`.

# %% solution: truncated_loss_and_grads
def truncated_loss_and_grads(params, x, y, k, h0=None):
    """
    Loss and truncated-BPTT gradients: windows of k steps, state carried, gradient cut.

    Inputs:
    - params: the model's parameters, dict with Wxh, Whh, bh, Why, by
    - x: inputs, (N, T, D)
    - y: integer targets, (N, T)
    - k: window length, a positive integer
    - h0: initial hidden state, (N, H); None means zeros

    Returns a tuple of:
    - loss: the full loss, the sum of the windows' losses, a float
    - grads: dict with the same keys and shapes as params
    """
    ### BEGIN SOLUTION
    N, T, _ = x.shape
    h_start = np.zeros((N, params["Whh"].shape[0])) if h0 is None else h0
    loss = 0.0
    grads = {name: np.zeros_like(p) for name, p in params.items()}
    for s in range(0, T, k):
        h, rnn_cache = rnn_forward(x[:, s:s + k], h_start, params["Wxh"], params["Whh"], params["bh"])
        o, affine_cache = temporal_affine_forward(h, params["Why"], params["by"])
        window_loss, do = temporal_softmax_loss(o, y[:, s:s + k])
        dh, dWhy, dby = temporal_affine_backward(do, affine_cache)
        _, _, dWxh, dWhh, dbh = rnn_backward(dh, rnn_cache)
        loss += window_loss
        for name, g in zip(("Wxh", "Whh", "bh", "Why", "by"), (dWxh, dWhh, dbh, dWhy, dby)):
            grads[name] += g
        h_start = h[:, -1]
    ### END SOLUTION
    return loss, grads

# %% test: truncated_bptt_gradients points=7
"""truncated_loss_and_grads: the loss is the full loss, k >= T is full BPTT, k = 1 keeps no recurrence."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("truncated_loss_and_grads", truncated_loss_and_grads)
### END HIDDEN TESTS
params = init_params(2, 3, 4, seed=1, scale=1.2)
rng = np.random.default_rng(1)
x, y = rng.standard_normal((2, 7, 2)), rng.integers(0, 4, (2, 7))
full_loss, full = loss_and_grads(params, x, y)
for k in (1, 3, 7, 20):
    loss, grads = truncated_loss_and_grads(params, x, y, k)
    assert sorted(grads) == sorted(params), f"grads should have the keys {sorted(params)}"
    assert rel_error(loss, full_loss) < 1e-12, f"k={k}: truncation never changes the loss ({loss} vs {full_loss})"
loss, grads = truncated_loss_and_grads(params, x, y, 7)
assert all(rel_error(grads[n], full[n]) < 1e-10 for n in params), "with k >= T the gradients are those of full BPTT"
# with k = 1 the gradient on Whh only sees one step: h_{t-1} is a constant in every window
loss, grads = truncated_loss_and_grads(params, x, y, 1)
assert rel_error(grads["Why"], full["Why"]) < 1e-10, "the output layer's gradient does not depend on truncation"
assert rel_error(grads["Whh"], full["Whh"]) > 1e-6, "with k = 1 the gradient on Whh must differ from full BPTT"

# %% [markdown]
# ## 4. Reading the plot
#
# Run the next cell: it draws your Jacobian norms against the distance $T-1-k$ for recurrent weights of
# several scales (`init_params` makes the scale about the spectral radius of $W_{hh}$).

# %% setup
T = 40
x_plot = np.random.default_rng(7).standard_normal((1, T, 2))
fig, ax = plt.subplots(figsize=(6, 3.5))
for scale in (0.5, 1.0, 2.0, 4.0):
    norms = hidden_jacobian_norms(init_params(2, 32, 3, seed=3, scale=scale), x_plot)
    ax.semilogy(np.arange(T)[::-1], norms, label=f"scale {scale}")
ax.set_xlabel("distance T-1-k (steps)")
ax.set_ylabel("spectral norm of d h_{T-1} / d h_k")
ax.legend()
plt.show()

# %% [markdown] answer: jacobian_plot_interpretation points=4
# With a small scale (0.5) the norm falls geometrically with the distance: every step multiplies it by at
# most the largest singular value of Whh times the largest tanh slope, both below one, so the gradient from
# a loss term reaches only a few steps back: it vanishes. At larger scales the product can grow at first,
# but the tanh saturates (h near ±1 makes the slopes 1 - h² small), so the norm still falls, only more slowly
# and irregularly; in a linear network it would grow without bound instead. This is why long-range
# dependencies are hard to learn with a vanilla RNN, and why clipping (which only limits large gradients)
# does not cure vanishing ones; gated units (LSTM, GRU) keep an additive path for the gradient.
