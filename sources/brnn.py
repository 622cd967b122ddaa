# %% [markdown]
# # Assignment 5: a bidirectional RNN
#
# A left-to-right RNN's state at position `t` has read `x_0, ..., x_t` and nothing after. When the whole
# input is available at once, as in tagging the words of a finished sentence, the words to the right
# often decide the answer. A *bidirectional* RNN runs a second RNN over the sequence from the end to the
# start and places the two states side by side at every position. In this assignment you build one from
# a one-direction RNN that is given to you, forward and backward, following chapter *Bidirectional RNNs*
# of the course book.
#
# The two directions have their own parameters, each a tuple `(Wxh, Whh, bh)` of shapes `(D, H)`,
# `(H, H)`, `(H,)`:
#
# $$h^{\rightarrow}_t = \tanh(x_t W^{\rightarrow}_{xh} + h^{\rightarrow}_{t-1} W^{\rightarrow}_{hh} + b^{\rightarrow}_h) \text{ for } t = 0, \dots, T-1, \qquad h^{\leftarrow}_t = \tanh(x_t W^{\leftarrow}_{xh} + h^{\leftarrow}_{t+1} W^{\leftarrow}_{hh} + b^{\leftarrow}_h) \text{ for } t = T-1, \dots, 0,$$
#
# starting from `h0_fwd` (before position 0) and `h0_bwd` (after position `T-1`). The output at
# position `t` is `h[:, t] = [h→_t, h←_t]`, of size `2H`: `h[:, t, :H]` has read `x[:, :t+1]` and
# `h[:, t, H:]` has read `x[:, t:]`. This is the layout of `torch.nn.RNN(bidirectional=True, batch_first=True)`.
#
# **Conventions.** Arrays are float64 and batch first: `x` is `(N, T, D)`, `h0_fwd` and `h0_bwd` are
# `(N, H)`. A forward function returns `(out, cache)`, and the matching backward function takes the
# upstream gradient and that cache and returns the gradients in the order of the forward's inputs; a
# parameter tuple's gradient is a tuple in the same order, `(dWxh, dWhh, dbh)`. What goes into the cache is
# your choice. Never modify an input in place.
#
# **How to work.** First paste your `rnn_forward(x, h0, Wxh, Whh, bh)` and `rnn_backward(dh, cache)` of
# assignments 1 and 2 into the cell of part 0: a vanilla RNN over a whole sequence and its backpropagation
# through time. Build both functions of this assignment from these two; you need no loop over time of your
# own, only the right slicing. In each function, replace `# YOUR CODE HERE` and the `raise NotImplementedError()` line with your
# code, and leave the rest of the function as it is; then run the test cell below it. The visible tests
# check shapes, which inputs each state depends on, and your backward pass against finite differences;
# when you hand in, hidden tests compare your functions with the reference on other inputs and say what
# is wrong. Run every test with `nbgrader validate brnn.ipynb` before you submit. Use numpy only.

# %% setup
import numpy as np

from gradcheck import check_gradients, rel_error

np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 0. Your RNN of assignments 1 and 2
#
# Paste into the next cell, in place of `# YOUR CODE HERE` and `raise NotImplementedError()`, your
# `rnn_forward` of assignment 1 and your `rnn_backward` of assignment 2, with the functions they call
# (`rnn_step_forward`, `rnn_backward`'s `rnn_step_backward`). `rnn_forward(x, h0, Wxh, Whh, bh)` returns
# `h (N, T, H)` and the cache `(x, h0, Wxh, Whh, h)`, where `h[:, t]` has read `x[:, :t+1]`;
# `rnn_backward(dh, cache)` returns `dx, dh0, dWxh, dWhh, dbh`. This cell earns no points: those
# assignments graded these functions. The visible tests below run yours; the hidden tests give your new
# functions the course's own results of these two, so a mistake left in an earlier assignment is not
# charged again here.

# %% solution: rnn_of_assignments_1_and_2
# Your rnn_forward and rnn_backward of assignments 1 and 2, with the functions they call
#| paste rnn: rnn_step_forward rnn_forward
#| paste bptt: rnn_step_backward rnn_backward

# %% [markdown]
# ## 1. The forward pass
#
# Implement `birnn_forward`. The forward direction is `rnn_forward` as it is. For the backward direction,
# let `rnn_forward` read the sequence reversed in time (`x[:, ::-1]` reverses the time axis), then put its
# states where they belong: the state it computed first belongs to the last position. Join the two
# halves along the last axis, forward first.

# %% solution: birnn_forward
def birnn_forward(x, h0_fwd, h0_bwd, params_fwd, params_bwd):
    """
    Run a bidirectional RNN over a sequence.

    Inputs:
    - x: input sequence, (N, T, D)
    - h0_fwd: initial state of the forward direction, (N, H)
    - h0_bwd: initial state of the backward direction, which starts at t = T-1, (N, H)
    - params_fwd: (Wxh (D, H), Whh (H, H), bh (H,)) of the forward direction
    - params_bwd: the same for the backward direction

    Returns a tuple of:
    - h: the hidden states of both directions, forward then backward, (N, T, 2H);
      h[:, t, :H] has read x[:, :t+1], h[:, t, H:] has read x[:, t:]
    - cache: what the backward pass will need
    """
    ### BEGIN SOLUTION
    h_fwd, cache_fwd = rnn_forward(x, h0_fwd, *params_fwd)
    h_bwd, cache_bwd = rnn_forward(x[:, ::-1], h0_bwd, *params_bwd)
    h = np.concatenate([h_fwd, h_bwd[:, ::-1]], axis=2)
    cache = (cache_fwd, cache_bwd)
    ### END SOLUTION
    return h, cache

# %% test: birnn_forward_both_directions points=10
"""birnn_forward: shapes, the first step of each direction, and which inputs each state has read."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("birnn_forward", birnn_forward)
### END HIDDEN TESTS
rng = np.random.default_rng(0)
N, T, D, H = 2, 5, 3, 4


def params():
    return rng.standard_normal((D, H)) * 0.6, rng.standard_normal((H, H)) * 0.5, rng.standard_normal(H) * 0.3


x, h0_fwd, h0_bwd = rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
params_fwd, params_bwd = params(), params()
(Wf, Uf, bf), (Wb, Ub, bb) = params_fwd, params_bwd
h, _ = birnn_forward(x, h0_fwd, h0_bwd, params_fwd, params_bwd)
assert h.shape == (N, T, 2 * H), f"h should have shape (N, T, 2H) = {(N, T, 2 * H)}, got {h.shape}"
# each direction's first step reads one input: x[:, 0] forwards, x[:, T-1] backwards
assert rel_error(h[:, 0, :H], np.tanh(x[:, 0] @ Wf + h0_fwd @ Uf + bf)) < 1e-12, \
    "h[:, 0, :H] should be one forward step from h0_fwd, reading x[:, 0]"
assert rel_error(h[:, T - 1, H:], np.tanh(x[:, T - 1] @ Wb + h0_bwd @ Ub + bb)) < 1e-12, \
    "h[:, T-1, H:] should be one backward step from h0_bwd, reading x[:, T-1]"
# change the first input: of the backward states only h[:, 0, H:] has read it
x2 = x.copy()
x2[:, 0] += 1.0
h2, _ = birnn_forward(x2, h0_fwd, h0_bwd, params_fwd, params_bwd)
assert np.allclose(h2[:, 1:, H:], h[:, 1:, H:]), "the backward state at t > 0 has read x[:, t:] only, not x[:, 0]"
assert not np.allclose(h2[:, 0, H:], h[:, 0, H:]), "the backward state at t = 0 has read x[:, 0]"
# change the last input: of the forward states only h[:, T-1, :H] has read it
x3 = x.copy()
x3[:, T - 1] += 1.0
h3, _ = birnn_forward(x3, h0_fwd, h0_bwd, params_fwd, params_bwd)
assert np.allclose(h3[:, :T - 1, :H], h[:, :T - 1, :H]), "the forward state at t < T-1 has read x[:, :t+1] only"
assert not any(np.allclose(h3[:, t, H:], h[:, t, H:]) for t in range(T)), "every backward state has read x[:, T-1]"
print("visible tests passed")

# %% [markdown]
# ## 2. The backward pass
#
# Implement `birnn_backward`. Split the upstream gradient into its two halves and give each to its
# direction's `rnn_backward`. Whatever you reversed in the forward pass, reverse here as well: the
# backward direction's RNN saw its states, and its inputs, in reversed time. Both directions read every
# `x_t`, so `dx` collects from both.
#
# The visible tests check two things separately. With `Whh = 0` neither direction has memory, so each
# state depends on its own input alone and `dx` can be written down by hand; this checks that every
# gradient lands at the right position in time. The finite-difference check uses a loss that weighs
# every forward state separately and adds up the backward states over all positions (as a classifier
# that pools them would); it checks every gradient of every parameter.

# %% solution: birnn_backward
def birnn_backward(dh, cache):
    """
    Backpropagation through both directions.

    Inputs:
    - dh: upstream gradient on h, (N, T, 2H)
    - cache: from birnn_forward

    Returns a tuple of:
    - dx: gradient of the loss on x, (N, T, D)
    - dh0_fwd: gradient on h0_fwd, (N, H)
    - dh0_bwd: gradient on h0_bwd, (N, H)
    - dparams_fwd: (dWxh, dWhh, dbh) of the forward direction
    - dparams_bwd: (dWxh, dWhh, dbh) of the backward direction
    """
    ### BEGIN SOLUTION
    cache_fwd, cache_bwd = cache
    H = dh.shape[2] // 2
    dx_fwd, dh0_fwd, *dparams_fwd = rnn_backward(dh[:, :, :H], cache_fwd)
    dx_bwd, dh0_bwd, *dparams_bwd = rnn_backward(dh[:, ::-1, H:], cache_bwd)
    dx = dx_fwd + dx_bwd[:, ::-1]
    dparams_fwd, dparams_bwd = tuple(dparams_fwd), tuple(dparams_bwd)
    ### END SOLUTION
    return dx, dh0_fwd, dh0_bwd, dparams_fwd, dparams_bwd

# %% test: birnn_backward_gradients points=10
"""birnn_backward: shapes, a case without memory, and a finite-difference check."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("birnn_backward", birnn_backward, forward=birnn_forward)
### END HIDDEN TESTS
rng = np.random.default_rng(1)
N, T, D, H = 2, 4, 3, 2
x, h0_fwd, h0_bwd = rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
Wf, Wb = rng.standard_normal((D, H)), rng.standard_normal((D, H))
bf, bb = rng.standard_normal(H) * 0.3, rng.standard_normal(H) * 0.3
dh = rng.standard_normal((N, T, 2 * H))
# no memory (Whh = 0): each state is tanh of its own input's affine map
_, cache = birnn_forward(x, h0_fwd, h0_bwd, (Wf, np.zeros((H, H)), bf), (Wb, np.zeros((H, H)), bb))
dx, dh0_fwd, dh0_bwd, dparams_fwd, dparams_bwd = birnn_backward(dh, cache)
assert dx.shape == (N, T, D), f"dx should have shape (N, T, D) = {(N, T, D)}, got {dx.shape}"
assert dh0_fwd.shape == (N, H) and dh0_bwd.shape == (N, H), "dh0_fwd and dh0_bwd should have shape (N, H)"
assert len(dparams_fwd) == 3 and len(dparams_bwd) == 3, "each dparams is a tuple (dWxh, dWhh, dbh)"
for dparams in (dparams_fwd, dparams_bwd):
    for name, grad, shape in zip(("dWxh", "dWhh", "dbh"), dparams, ((D, H), (H, H), (H,))):
        assert grad.shape == shape, f"{name} should have shape {shape}, got {grad.shape}"
da_fwd = dh[:, :, :H] * (1 - np.tanh(x @ Wf + bf) ** 2)
da_bwd = dh[:, :, H:] * (1 - np.tanh(x @ Wb + bb) ** 2)
assert rel_error(dx, da_fwd @ Wf.T + da_bwd @ Wb.T) < 1e-12, \
    "dx in the wrong time order? Without memory dx[:, t] comes from the states at t alone"
assert rel_error(dh0_fwd, np.zeros((N, H))) < 1e-12 and rel_error(dh0_bwd, np.zeros((N, H))) < 1e-12, \
    "without memory, no gradient reaches the initial states"
# finite differences: every forward state weighted separately, the backward states summed over time
dh = np.concatenate([rng.standard_normal((N, T, H)), np.repeat(rng.standard_normal((N, 1, H)), T, axis=1)], axis=2)
inputs = [x, h0_fwd, h0_bwd, Wf, rng.standard_normal((H, H)) * 0.5, bf, Wb, rng.standard_normal((H, H)) * 0.5, bb]


def loss(x, h0_fwd, h0_bwd, *p):
    return np.sum(birnn_forward(x, h0_fwd, h0_bwd, p[:3], p[3:])[0] * dh)


_, cache = birnn_forward(x, h0_fwd, h0_bwd, tuple(inputs[3:6]), tuple(inputs[6:]))
dx, dh0_fwd, dh0_bwd, dparams_fwd, dparams_bwd = birnn_backward(dh, cache)
names = ["dx", "dh0_fwd", "dh0_bwd", "dWxh_fwd", "dWhh_fwd", "dbh_fwd", "dWxh_bwd", "dWhh_bwd", "dbh_bwd"]
grads = [dx, dh0_fwd, dh0_bwd, *dparams_fwd, *dparams_bwd]
check_gradients(loss, inputs, grads, names, of="a loss on birnn_forward")
print("visible tests passed")
