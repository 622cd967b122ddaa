# %% [markdown]
# # Assignment 2: backpropagation through time
#
# This assignment is the heart of the course: you derive and implement the gradients of an RNN
# language model by backpropagation through time (BPTT), as in the book's chapter *Backpropagation
# through time*. The model is
#
# $$h_t = \tanh(a_t),\quad a_t = x_t W_{xh} + h_{t-1} W_{hh} + b_h, \qquad o_t = h_t W_{hy} + b_y,$$
#
# with the softmax cross-entropy loss summed over time steps and averaged over the batch.
#
# **Conventions.** float64, batch first, row vectors: `x` is `(N, T, D)`, hidden states `(N, T, H)`,
# labels `y` `(N, T)`. A backward function takes the upstream gradient and the cache of its forward, and
# returns the gradients in the order of the forward's inputs. Never modify an input in place.
#
# **Your forward passes.** The backward passes take the caches of your forward passes of assignment 1:
# paste those into the first cell below (part 0).
#
# **How to work.** In each function, replace `# YOUR CODE HERE` and the `raise NotImplementedError()` line
# with your code. Under each function a test cell checks shapes and compares your gradients with finite
# differences (`gradcheck.py`, shipped beside this notebook, computes them): a relative error below about
# 1e-7 means your gradient is right on that case. When you hand in, hidden tests check your functions on
# other inputs and, when something is wrong, say which gradient and, where they recognise it, which mistake.
# Run `nbgrader validate bptt.ipynb` before you submit.

# %% setup
import numpy as np

from gradcheck import check_gradients, rel_error


def make_params(D, H, V, seed=0):
    """Small random parameters of the whole model, for the tests."""
    rng = np.random.default_rng(seed)
    return {"Wxh": rng.standard_normal((D, H)) * 0.5, "Whh": rng.standard_normal((H, H)) * 0.5,
            "bh": rng.standard_normal(H) * 0.1, "Why": rng.standard_normal((H, V)) * 0.5,
            "by": rng.standard_normal(V) * 0.1}

# %% [markdown]
# ## 0. Your forward passes from assignment 1
#
# Paste your `rnn_step_forward`, `rnn_forward` and `temporal_affine_forward` of assignment 1 into the next
# cell, in place of `# YOUR CODE HERE` and `raise NotImplementedError()`. Their caches are what the backward passes below receive:
# `(x, h_prev, Wxh, Whh, h)` from `rnn_step_forward`, `(x, h0, Wxh, Whh, h)` from `rnn_forward` and
# `(h, W)` from `temporal_affine_forward`. This cell earns no points: assignment 1 graded these functions.
# The visible tests below run yours; the hidden tests give your new functions the course's own forward
# results, so a mistake left in assignment 1 is not charged again here.

# %% solution: forward_passes_of_assignment_1
# Your rnn_step_forward, rnn_forward and temporal_affine_forward of assignment 1
#| paste rnn: rnn_step_forward rnn_forward temporal_affine_forward

# %% [markdown]
# ## 1. One step backward
#
# Given `dh`, the gradient of the loss on the step's output `h`, compute the gradients on every input of
# `rnn_step_forward`. The tanh derivative is $1 - \tanh(a)^2 = 1 - h^2$, and the cache holds `h`.

# %% solution: rnn_step_backward
def rnn_step_backward(dh, cache):
    """
    Backward pass of one RNN step.

    Inputs:
    - dh: upstream gradient on the new hidden state, (N, H)
    - cache: from rnn_step_forward

    Returns a tuple of:
    - dx: gradient of the loss on x, (N, D)
    - dh_prev: gradient on h_prev, (N, H)
    - dWxh: gradient on Wxh, (D, H)
    - dWhh: gradient on Whh, (H, H)
    - dbh: gradient on bh, (H,)
    """
    ### BEGIN SOLUTION
    x, h_prev, Wxh, Whh, h = cache
    da = dh * (1 - h**2)
    dx = da @ Wxh.T
    dh_prev = da @ Whh.T
    dWxh = x.T @ da
    dWhh = h_prev.T @ da
    dbh = da.sum(axis=0)
    ### END SOLUTION
    return dx, dh_prev, dWxh, dWhh, dbh

# %% test: rnn_step_backward_gradients points=4
"""rnn_step_backward: shapes and finite differences for every input."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("rnn_step_backward", rnn_step_backward, forward="rnn_step_forward")
### END HIDDEN TESTS
rng = np.random.default_rng(0)
args = [rng.standard_normal((3, 4)), rng.standard_normal((3, 5)), rng.standard_normal((4, 5)) * 0.5,
        rng.standard_normal((5, 5)) * 0.5, rng.standard_normal(5) * 0.5]
dh = rng.standard_normal((3, 5))
grads = rnn_step_backward(dh, rnn_step_forward(*args)[1])
# every gradient's error is printed (0: right, 1: zeros, 2: wrong sign), then the wrong ones are named
check_gradients(lambda *a: np.sum(rnn_step_forward(*a)[0] * dh), args, grads,
                ["dx", "dh_prev", "dWxh", "dWhh", "dbh"], of="sum(rnn_step_forward(...)[0] * dh)")

# %% [markdown]
# ## 2. Backpropagation through time
#
# `dh[:, t]` is the gradient that reaches `h_t` from outside the recurrence (from the output layer).
# But `h_t` also feeds step `t+1`, so the total gradient on `h_t` is `dh[:, t]` plus what step `t+1` sends
# back. Walk `for t in reversed(range(T))`, carry that gradient (`dh_next`) from step to step, and add up
# the parameter gradients of every step. Use your `rnn_step_backward`: rebuild each step's cache from the
# sequence cache. The gradient left over after step 0 is `dh0`.

# %% solution: rnn_backward
def rnn_backward(dh, cache):
    """
    Backpropagation through time for a whole sequence.

    Inputs:
    - dh: upstream gradient on every hidden state, (N, T, H)
    - cache: from rnn_forward

    Returns a tuple of:
    - dx: gradient of the loss on x, (N, T, D)
    - dh0: gradient on h0, (N, H)
    - dWxh: gradient on Wxh, (D, H)
    - dWhh: gradient on Whh, (H, H)
    - dbh: gradient on bh, (H,)
    """
    ### BEGIN SOLUTION
    x, h0, Wxh, Whh, h = cache
    N, T, D = x.shape
    H = h.shape[2]
    dx = np.zeros((N, T, D))
    dWxh, dWhh, dbh = np.zeros((D, H)), np.zeros((H, H)), np.zeros(H)
    dh_next = np.zeros((N, H))
    for t in reversed(range(T)):
        h_prev = h0 if t == 0 else h[:, t - 1]
        step_cache = (x[:, t], h_prev, Wxh, Whh, h[:, t])
        dx[:, t], dh_next, dWxh_t, dWhh_t, dbh_t = rnn_step_backward(dh[:, t] + dh_next, step_cache)
        dWxh += dWxh_t
        dWhh += dWhh_t
        dbh += dbh_t
    dh0 = dh_next
    ### END SOLUTION
    return dx, dh0, dWxh, dWhh, dbh

# %% test: rnn_backward_gradients points=4
"""rnn_backward: shapes and finite differences for every input."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("rnn_backward", rnn_backward, forward="rnn_forward")
### END HIDDEN TESTS
rng = np.random.default_rng(1)
args = [rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 4)), rng.standard_normal((3, 4)) * 0.5,
        rng.standard_normal((4, 4)) * 0.5, rng.standard_normal(4) * 0.5]
dh = rng.standard_normal((2, 5, 4))
grads = rnn_backward(dh, rnn_forward(*args)[1])
check_gradients(lambda *a: np.sum(rnn_forward(*a)[0] * dh), args, grads, ["dx", "dh0", "dWxh", "dWhh", "dbh"],
                of="sum(rnn_forward(...)[0] * dh)")

# %% [markdown]
# ## 3. The output layer backward
#
# The output layer is the same matrix at every step, so its gradients are sums over the batch **and** time.

# %% solution: temporal_affine_backward
def temporal_affine_backward(dout, cache):
    """
    Backward pass of temporal_affine_forward.

    Inputs:
    - dout: upstream gradient on out, (N, T, V)
    - cache: from temporal_affine_forward

    Returns a tuple of:
    - dh: gradient of the loss on h, (N, T, H)
    - dW: gradient on W, (H, V)
    - db: gradient on b, (V,)
    """
    ### BEGIN SOLUTION
    h, W = cache
    N, T, H = h.shape
    dh = dout @ W.T
    dW = h.reshape(N * T, H).T @ dout.reshape(N * T, -1)
    db = dout.sum(axis=(0, 1))
    ### END SOLUTION
    return dh, dW, db

# %% test: temporal_affine_backward_gradients points=4
"""temporal_affine_backward: shapes and finite differences."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("temporal_affine_backward", temporal_affine_backward, forward="temporal_affine_forward")
### END HIDDEN TESTS
rng = np.random.default_rng(2)
args = [rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)]
dout = rng.standard_normal((2, 3, 5))
grads = temporal_affine_backward(dout, temporal_affine_forward(*args)[1])
check_gradients(lambda *a: np.sum(temporal_affine_forward(*a)[0] * dout), args, grads, ["dh", "dW", "db"],
                of="sum(temporal_affine_forward(...)[0] * dout)")

# %% [markdown]
# ## 4. The loss and its gradient
#
# Complete `temporal_softmax_loss` of assignment 1 with the gradient `do` on the logits. Work out
# $\partial L / \partial o_t$ for one step first; remember the average over the batch and the mask.

# %% solution: temporal_softmax_loss
def temporal_softmax_loss(o, y, mask=None):
    """
    Softmax cross-entropy summed over time steps and averaged over the batch.

    Inputs:
    - o: logits, (N, T, V)
    - y: integer labels in [0, V), (N, T)
    - mask: optional bools, (N, T); a False step contributes neither loss nor gradient

    Returns a tuple of:
    - loss: the cross-entropy, a float
    - do: gradient of the loss on o, (N, T, V)
    """
    ### BEGIN SOLUTION
    N, T, V = o.shape
    if mask is None:
        mask = np.ones((N, T), dtype=bool)
    shifted = o - o.max(axis=2, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True))
    picked = np.take_along_axis(log_p, y[..., None], axis=2)[..., 0]
    loss = -(picked * mask).sum() / N
    do = np.exp(log_p)
    do[np.arange(N)[:, None], np.arange(T), y] -= 1
    do *= mask[..., None] / N
    ### END SOLUTION
    return loss, do

# %% test: temporal_softmax_loss_and_gradient points=4
"""temporal_softmax_loss: the loss of uniform logits and finite differences of the gradient."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("temporal_softmax_loss", temporal_softmax_loss)
### END HIDDEN TESTS
loss, do = temporal_softmax_loss(np.zeros((1, 2, 4)), np.array([[1, 3]]))
assert rel_error(loss, 2 * np.log(4)) < 1e-12, f"uniform logits: expected 2 log 4, got {loss}"
assert do.shape == (1, 2, 4), f"do should have shape (N, T, V) = (1, 2, 4), got {do.shape}"
rng = np.random.default_rng(3)
o, y = rng.standard_normal((3, 4, 5)), rng.integers(0, 5, (3, 4))
mask = rng.random((3, 4)) > 0.3
for m in (None, mask):
    check_gradients(lambda v: temporal_softmax_loss(v, y, m)[0], [o], [temporal_softmax_loss(o, y, m)[1]],
                    [f"do, mask {'on' if m is not None else 'off'}"], of="the loss")

# %% [markdown]
# ## 5. The whole model
#
# Put it together: `loss_and_grads` runs the forward pass of the whole model (`h0=None` means zeros),
# the loss, and every backward pass, and returns the loss and a dict of gradients with the keys of
# `params`.

# %% solution: loss_and_grads
def loss_and_grads(params, x, y, h0=None, mask=None):
    """
    Loss and BPTT gradients of the whole model on a batch of sequences.

    Inputs:
    - params: the model's parameters, dict with Wxh (D, H), Whh (H, H), bh (H,), Why (H, V), by (V,)
    - x: inputs, (N, T, D)
    - y: integer targets, (N, T)
    - h0: initial hidden state, (N, H); None means zeros
    - mask: optional bools, (N, T); a False step is left out of the loss

    Returns a tuple of:
    - loss: the loss summed over time and averaged over the batch, a float
    - grads: dict with the same keys and shapes as params
    """
    ### BEGIN SOLUTION
    if h0 is None:
        h0 = np.zeros((x.shape[0], params["Whh"].shape[0]))
    h, rnn_cache = rnn_forward(x, h0, params["Wxh"], params["Whh"], params["bh"])
    o, affine_cache = temporal_affine_forward(h, params["Why"], params["by"])
    loss, do = temporal_softmax_loss(o, y, mask)
    dh, dWhy, dby = temporal_affine_backward(do, affine_cache)
    _, _, dWxh, dWhh, dbh = rnn_backward(dh, rnn_cache)
    grads = {"Wxh": dWxh, "Whh": dWhh, "bh": dbh, "Why": dWhy, "by": dby}
    ### END SOLUTION
    return loss, grads

# %% test: loss_and_grads_every_parameter points=4
"""loss_and_grads: the keys and shapes, and finite differences for every parameter."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("loss_and_grads", loss_and_grads)
### END HIDDEN TESTS
params = make_params(3, 4, 5, seed=4)
rng = np.random.default_rng(4)
x, y = rng.standard_normal((2, 6, 3)), rng.integers(0, 5, (2, 6))
loss, grads = loss_and_grads(params, x, y)
assert sorted(grads) == sorted(params), f"grads should have the keys {sorted(params)}, got {sorted(grads)}"
names = list(params)
check_gradients(lambda *values: loss_and_grads(dict(zip(names, values)), x, y)[0], [params[n] for n in names],
                [grads[n] for n in names], names, of="loss_and_grads(...)[0]")
