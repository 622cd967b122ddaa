# %% [markdown]
# # Assignment 1: a recurrent network, forward
#
# In this assignment you implement the forward pass of a vanilla RNN language model, the layers that
# chapter *Recurrent neural networks* of the course book describes:
#
# $$h_t = \tanh(x_t W_{xh} + h_{t-1} W_{hh} + b_h), \qquad o_t = h_t W_{hy} + b_y,$$
#
# and the softmax cross-entropy loss over a whole sequence.
#
# **Conventions.** Arrays are float64 and batch first: inputs `x` have shape `(N, T, D)`, hidden states
# `(N, T, H)`, labels `y` are integers of shape `(N, T)`. Vectors are rows, so a layer multiplies on the
# right (`x @ Wxh`). A forward function returns `(out, cache)`: the cache holds what the backward pass
# of the next assignment needs, and the line after your code builds it, so that your functions work in
# every later assignment that uses them. Never modify an input in place.
#
# **How to work.** In each function, replace `# YOUR CODE HERE` and the `raise NotImplementedError()` line
# with your code, and leave the rest of the function as it is; then run the test cell below it. The visible tests check shapes and
# small cases you can verify by hand; when you hand in, hidden tests check your functions on other inputs
# and say what is wrong if something is. Run every test with `nbgrader validate rnn.ipynb` before you submit.
# Use numpy only; loops over time are fine, loops over the batch are not needed.

# %% setup
import numpy as np

from gradcheck import rel_error

np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1. One step
#
# Implement `rnn_step_forward`, one step of the recurrence for a whole batch.

# %% solution: rnn_step_forward
def rnn_step_forward(x, h_prev, Wxh, Whh, bh):
    """
    One time step of a vanilla RNN with a tanh nonlinearity.

    Inputs:
    - x: inputs at this step, (N, D)
    - h_prev: hidden state of the previous step, (N, H)
    - Wxh: input-to-hidden weights, (D, H)
    - Whh: hidden-to-hidden weights, (H, H)
    - bh: hidden bias, (H,)

    Returns a tuple of:
    - h: the new hidden state, (N, H)
    - cache: what the backward pass will need (built for you)
    """
    ### BEGIN SOLUTION
    h = np.tanh(x @ Wxh + h_prev @ Whh + bh)
    ### END SOLUTION
    cache = (x, h_prev, Wxh, Whh, h)  # what the backward pass of assignment 2 reads
    return h, cache

# %% test: rnn_step_forward_new_state points=5
"""rnn_step_forward: shapes and a one-unit case."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("rnn_step_forward", rnn_step_forward)
### END HIDDEN TESTS
rng = np.random.default_rng(0)
h, _ = rnn_step_forward(rng.standard_normal((3, 4)), rng.standard_normal((3, 5)),
                        rng.standard_normal((4, 5)), rng.standard_normal((5, 5)), rng.standard_normal(5))
assert h.shape == (3, 5), f"h should have shape (N, H) = (3, 5), got {h.shape}"
assert np.all(np.abs(h) < 1), "every hidden unit goes through tanh, so |h| < 1"
# one unit, one input: h = tanh(2 * 0.5 + 1 * (-1) + 0.25) = tanh(0.25)
h, _ = rnn_step_forward(np.array([[2.0]]), np.array([[1.0]]), np.array([[0.5]]), np.array([[-1.0]]), np.array([0.25]))
assert rel_error(h, np.tanh([[0.25]])) < 1e-12, f"expected tanh(0.25) = {np.tanh(0.25):.6f}, got {h}"
print("visible tests passed")

# %% [markdown]
# ## 2. A whole sequence
#
# Implement `rnn_forward` by running the step over `t = 0, ..., T-1`, starting from `h0`. You may call
# your `rnn_step_forward`.

# %% solution: rnn_forward
def rnn_forward(x, h0, Wxh, Whh, bh):
    """
    Run a vanilla RNN over a whole sequence.

    Inputs:
    - x: input sequence, (N, T, D)
    - h0: initial hidden state, (N, H)
    - Wxh: input-to-hidden weights, (D, H)
    - Whh: hidden-to-hidden weights, (H, H)
    - bh: hidden bias, (H,)

    Returns a tuple of:
    - h: hidden states for every step, (N, T, H)
    - cache: what the backward pass will need (built for you)
    """
    ### BEGIN SOLUTION
    N, T, _ = x.shape
    h = np.zeros((N, T, h0.shape[1]))
    h_prev = h0
    for t in range(T):
        h_prev, _ = rnn_step_forward(x[:, t], h_prev, Wxh, Whh, bh)
        h[:, t] = h_prev
    ### END SOLUTION
    cache = (x, h0, Wxh, Whh, h)  # what the backward pass of assignment 2 reads
    return h, cache

# %% test: rnn_forward_hidden_states points=5
"""rnn_forward: shapes, agreement with the step, and a one-unit sequence."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("rnn_forward", rnn_forward)
### END HIDDEN TESTS
rng = np.random.default_rng(1)
x, h0 = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 5))
Wxh, Whh, bh = rng.standard_normal((3, 5)), rng.standard_normal((5, 5)) * 0.5, rng.standard_normal(5)
h, _ = rnn_forward(x, h0, Wxh, Whh, bh)
assert h.shape == (2, 4, 5), f"h should have shape (N, T, H) = (2, 4, 5), got {h.shape}"
first, _ = rnn_step_forward(x[:, 0], h0, Wxh, Whh, bh)
assert rel_error(h[:, 0], first) < 1e-12, "h[:, 0] should be one step from h0"
# one unit with Wxh = 0, Whh = 1, bh = 0: each state is tanh of the previous one
h, _ = rnn_forward(np.zeros((1, 3, 1)), np.array([[1.0]]), np.zeros((1, 1)), np.ones((1, 1)), np.zeros(1))
expected = [np.tanh(1.0), np.tanh(np.tanh(1.0)), np.tanh(np.tanh(np.tanh(1.0)))]
assert rel_error(h[0, :, 0], np.array(expected)) < 1e-12, f"expected {expected}, got {h[0, :, 0]}"
print("visible tests passed")

# %% [markdown]
# ## 3. The output layer at every step
#
# Implement `temporal_affine_forward`: `out[:, t] = h[:, t] @ W + b` for every `t`, without a loop.

# %% solution: temporal_affine_forward
def temporal_affine_forward(h, W, b):
    """
    The output layer applied at every time step.

    Inputs:
    - h: hidden states for every step, (N, T, H)
    - W: hidden-to-output weights, (H, V)
    - b: output bias, (V,)

    Returns a tuple of:
    - out: output scores (logits) for every step, (N, T, V)
    - cache: what the backward pass will need (built for you)
    """
    ### BEGIN SOLUTION
    out = h @ W + b
    ### END SOLUTION
    cache = (h, W)  # what the backward pass of assignment 2 reads
    return out, cache

# %% test: temporal_affine_forward_scores points=5
"""temporal_affine_forward: shapes and one step by hand."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("temporal_affine_forward", temporal_affine_forward)
### END HIDDEN TESTS
h = np.arange(12.0).reshape(2, 3, 2)
W = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]])
b = np.array([0.5, -0.5, 0.0])
out, _ = temporal_affine_forward(h, W, b)
assert out.shape == (2, 3, 3), f"out should have shape (N, T, V) = (2, 3, 3), got {out.shape}"
# h[1, 2] = [10, 11]: out = [10 + 0.5, 11 - 0.5, 20 - 11]
assert rel_error(out[1, 2], np.array([10.5, 10.5, 9.0])) < 1e-12, f"out[1, 2] should be [10.5, 10.5, 9], got {out[1, 2]}"
print("visible tests passed")

# %% [markdown]
# ## 4. The loss
#
# Implement the loss of `temporal_softmax_loss`: at every step the softmax of the logits `o[:, t]`
# gives a distribution over the vocabulary; the loss is minus the log-probability of the true label,
# **summed over time steps and averaged over the batch**. Where `mask` is given, a step with
# `mask[n, t] == False` adds nothing. Subtract the maximum logit before exponentiating, so that large
# logits do not overflow. The gradient `do` is the subject of the next assignment: return `None` for it here.

# %% solution: temporal_softmax_loss
def temporal_softmax_loss(o, y, mask=None):
    """
    Softmax cross-entropy summed over time steps and averaged over the batch.

    Inputs:
    - o: logits, (N, T, V)
    - y: integer labels in [0, V), (N, T)
    - mask: optional bools, (N, T); a False step adds nothing to the loss

    Returns a tuple of:
    - loss: the cross-entropy, a float
    - do: None in this assignment
    """
    ### BEGIN SOLUTION
    N, T, V = o.shape
    if mask is None:
        mask = np.ones((N, T), dtype=bool)
    shifted = o - o.max(axis=2, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True))
    picked = np.take_along_axis(log_p, y[..., None], axis=2)[..., 0]
    loss = -(picked * mask).sum() / N
    ### END SOLUTION
    return loss, None

# %% test: temporal_softmax_loss_value points=5
"""temporal_softmax_loss: uniform logits, a mask, and large logits."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("temporal_softmax_loss_value", lambda o, y, mask=None: temporal_softmax_loss(o, y, mask)[0])
### END HIDDEN TESTS
# uniform logits over 4 classes: every step costs log 4; two steps, batch of one
loss, _ = temporal_softmax_loss(np.zeros((1, 2, 4)), np.array([[1, 3]]))
assert rel_error(loss, 2 * np.log(4)) < 1e-12, f"expected 2 log 4 = {2 * np.log(4):.6f}, got {loss}"
# the batch average: two identical sequences cost the same as one
loss2, _ = temporal_softmax_loss(np.zeros((2, 2, 4)), np.array([[1, 3], [1, 3]]))
assert rel_error(loss2, loss) < 1e-12, "the loss is averaged over the batch"
# a masked step adds nothing
loss3, _ = temporal_softmax_loss(np.zeros((1, 2, 4)), np.array([[1, 3]]), mask=np.array([[True, False]]))
assert rel_error(loss3, np.log(4)) < 1e-12, f"with the second step masked, expected log 4, got {loss3}"
loss4, _ = temporal_softmax_loss(np.array([[[1000.0, 0.0]]]), np.array([[1]]))
assert np.isfinite(loss4) and rel_error(loss4, 1000.0) < 1e-9, f"large logits: expected 1000, got {loss4}"
print("visible tests passed")
