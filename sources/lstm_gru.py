# %% [markdown]
# # Assignment 4: LSTM and GRU, forward and backward
#
# A vanilla RNN multiplies its gradient by the same recurrent Jacobian at every step back in time, and
# over long sequences that product vanishes or explodes. The LSTM and the GRU fix this with *gates*:
# learned numbers between 0 and 1 that decide, unit by unit, how much of the old state to keep and how
# much new content to write. In this assignment you implement both cells, one step and a whole sequence,
# forward and backward, following chapter *LSTM and GRU* of the course book.
#
# **The LSTM** (gate order `(i, f, g, o)`, as in `torch.nn.LSTM`). The weights of the four gates are
# stacked side by side: `Wx` is `(D, 4H)`, `Wh` is `(H, 4H)`, `b` is `(4H,)`. With
# `a = x_t Wx + h_{t-1} Wh + b` of shape `(N, 4H)`, its four blocks of `H` columns give
#
# $$i = \sigma(a_{[0:H]}),\quad f = \sigma(a_{[H:2H]}),\quad g = \tanh(a_{[2H:3H]}),\quad o = \sigma(a_{[3H:4H]}),$$
# $$c_t = f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t).$$
#
# **The GRU** (gate order `(r, z, n)`, as in `torch.nn.GRU`). `Wx` is `(D, 3H)`, `Wh` is `(H, 3H)`, and
# there are two biases `bx`, `bh`, both `(3H,)`. Writing `_r`, `_z`, `_n` for the three blocks of columns,
#
# $$r = \sigma(x_t W_{x,r} + b_{x,r} + h_{t-1} W_{h,r} + b_{h,r}),\qquad z = \sigma(x_t W_{x,z} + b_{x,z} + h_{t-1} W_{h,z} + b_{h,z}),$$
# $$n = \tanh\big(x_t W_{x,n} + b_{x,n} + r \odot (h_{t-1} W_{h,n} + b_{h,n})\big),\qquad h_t = (1 - z) \odot n + z \odot h_{t-1}.$$
#
# The lecture writes the GRU a little differently: its update gate is $\Gamma_u = 1 - z$, and its
# relevance gate multiplies $h_{t-1}$ *before* the matrix product. This assignment follows the equations
# above, which are PyTorch's; the book shows how the two forms relate.
#
# **Conventions.** Arrays are float64 and batch first: `x` is `(N, T, D)` for a sequence and `(N, D)` for
# one step, hidden states are `(N, T, H)` or `(N, H)`. Vectors are rows, so weights multiply on the right.
# A forward function returns its outputs and then a `cache`; the matching backward function receives the
# upstream gradients and that cache, and returns the gradients in the order of the forward's inputs. What
# goes into the cache is your choice. Never modify an input in place. A numerically stable `sigmoid` is
# defined for you below.
#
# **How to work.** In each function, replace `# YOUR CODE HERE` and the `raise NotImplementedError()` line
# with your code, and leave the rest of the function as it is; then run the test cell below it. The
# visible tests check shapes, small cases you can work out by hand, and your backward passes against
# finite differences of your forward passes (so a backward test can also fail because of its forward).
# When you hand in, hidden tests compare every function with the reference on other inputs and say what
# is wrong. Run every test with `nbgrader validate lstm_gru.ipynb` before you submit. Use numpy only;
# loops over time are fine, loops over the batch are not needed.

# %% setup
import numpy as np

from gradcheck import check_gradients, rel_error

np.set_printoptions(precision=4, suppress=True)


def sigmoid(a):
    """The logistic function 1 / (1 + exp(-a)), elementwise, without overflow for large |a|."""
    a = np.asarray(a, dtype=np.float64)
    out = np.empty_like(a)
    pos = a >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-a[pos]))
    e = np.exp(a[~pos])
    out[~pos] = e / (1.0 + e)
    return out

# %% [markdown]
# ## Part 1: the LSTM
#
# ### 1.1 One step forward
#
# Implement `lstm_step_forward`. Compute all four gates with one matrix product per input (`x @ Wx` and
# `h_prev @ Wh`), then slice the result into blocks of `H` columns in the order `(i, f, g, o)`.

# %% solution: lstm_step_forward
def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    """
    One time step of an LSTM.

    Inputs:
    - x: inputs at this step, (N, D)
    - h_prev: previous hidden state, (N, H)
    - c_prev: previous cell state, (N, H)
    - Wx: the four gates' input weights, stacked in the order (i, f, g, o), (D, 4H)
    - Wh: the four gates' hidden-state weights, same order, (H, 4H)
    - b: the four gates' biases, same order, (4H,)

    Returns a tuple of:
    - h: the new hidden state, (N, H)
    - c: the new cell state, (N, H)
    - cache: what the backward pass will need
    """
    ### BEGIN SOLUTION
    H = h_prev.shape[1]
    a = x @ Wx + h_prev @ Wh + b
    i = sigmoid(a[:, :H])
    f = sigmoid(a[:, H:2 * H])
    g = np.tanh(a[:, 2 * H:3 * H])
    o = sigmoid(a[:, 3 * H:])
    c = f * c_prev + i * g
    tc = np.tanh(c)
    h = o * tc
    cache = (x, h_prev, c_prev, Wx, Wh, i, f, g, o, tc)
    ### END SOLUTION
    return h, c, cache

# %% test: lstm_step_forward_gates points=2.5
"""lstm_step_forward: shapes and two cases with constant gates."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("lstm_step_forward", lstm_step_forward)
### END HIDDEN TESTS
rng = np.random.default_rng(0)
N, D, H = 3, 4, 5
x, h_prev, c_prev = rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
h, c, _ = lstm_step_forward(x, h_prev, c_prev, rng.standard_normal((D, 4 * H)), rng.standard_normal((H, 4 * H)),
                            rng.standard_normal(4 * H))
assert h.shape == (N, H) and c.shape == (N, H), f"h and c should have shape (N, H) = {(N, H)}, got {h.shape}, {c.shape}"
assert np.all(np.abs(h) < 1), "h is a gate in (0, 1) times a tanh, so |h| < 1"
# zero weights and biases: every sigmoid gate is 1/2 and g = tanh(0) = 0, so c = c_prev / 2
Wx, Wh = np.zeros((D, 4 * H)), np.zeros((H, 4 * H))
h, c, _ = lstm_step_forward(x, h_prev, c_prev, Wx, Wh, np.zeros(4 * H))
assert rel_error(c, c_prev / 2) < 1e-12, "with zero weights and biases, c should be c_prev / 2"
assert rel_error(h, np.tanh(c_prev / 2) / 2) < 1e-12, "with zero weights and biases, h should be tanh(c_prev / 2) / 2"
# biases alone: i = sigmoid(log 3) = 3/4, f = 1/2, g = tanh(1), o = 1/2
b = np.concatenate([np.full(H, np.log(3)), np.zeros(H), np.ones(H), np.zeros(H)])
h, c, _ = lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b)
assert rel_error(c, c_prev / 2 + 0.75 * np.tanh(1)) < 1e-12, \
    "c is wrong: check the gate order (i, f, g, o); with i=3/4, f=1/2, c = c_prev/2 + 3/4 tanh(1)"
assert rel_error(h, np.tanh(c) / 2) < 1e-12, "with o = 1/2, h should be tanh(c) / 2"
print("visible tests passed")

# %% [markdown]
# ### 1.2 One step backward
#
# Implement `lstm_step_backward`. The step has two outputs, so it receives two upstream gradients:
# `dh` on `h` and `dc` on `c` (the latter comes from the next step's cell). Remember that `c` reaches the
# loss along two paths, directly and through `h = o * tanh(c)`, and that the derivative of the sigmoid
# is `s * (1 - s)` and that of tanh is `1 - t**2`.

# %% solution: lstm_step_backward
def lstm_step_backward(dh, dc, cache):
    """
    Backward pass of one LSTM step.

    Inputs:
    - dh: upstream gradient on h, (N, H)
    - dc: upstream gradient on c, (N, H)
    - cache: from lstm_step_forward

    Returns a tuple of:
    - dx: gradient of the loss on x, (N, D)
    - dh_prev: gradient on h_prev, (N, H)
    - dc_prev: gradient on c_prev, (N, H)
    - dWx: gradient on Wx, the four gates' input weights stacked in the order (i, f, g, o), (D, 4H)
    - dWh: gradient on Wh, the four gates' hidden-state weights in the same order, (H, 4H)
    - db: gradient on b, the four gates' biases in the same order, (4H,)
    """
    ### BEGIN SOLUTION
    x, h_prev, c_prev, Wx, Wh, i, f, g, o, tc = cache
    do = dh * tc
    dc = dc + dh * o * (1 - tc ** 2)
    di, df, dg = dc * g, dc * c_prev, dc * i
    dc_prev = dc * f
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g ** 2), do * o * (1 - o)], axis=1)
    dx = da @ Wx.T
    dh_prev = da @ Wh.T
    dWx = x.T @ da
    dWh = h_prev.T @ da
    db = da.sum(axis=0)
    ### END SOLUTION
    return dx, dh_prev, dc_prev, dWx, dWh, db

# %% test: lstm_step_backward_gradients points=2.5
"""lstm_step_backward: shapes and a finite-difference check of every gradient."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("lstm_step_backward", lstm_step_backward, forward=lstm_step_forward)
### END HIDDEN TESTS
rng = np.random.default_rng(1)
N, D, H = 2, 3, 4
inputs = [rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H)),
          rng.standard_normal((D, 4 * H)) * 0.5, rng.standard_normal((H, 4 * H)) * 0.5, rng.standard_normal(4 * H) * 0.5]
dh, dc = rng.standard_normal((N, H)), rng.standard_normal((N, H))
_, _, cache = lstm_step_forward(*inputs)
grads = lstm_step_backward(dh, dc, cache)
names = ["dx", "dh_prev", "dc_prev", "dWx", "dWh", "db"]
assert len(grads) == 6, f"return the six gradients {names}"
for name, grad, v in zip(names, grads, inputs):
    assert grad.shape == v.shape, f"{name} should have shape {v.shape}, got {grad.shape}"


def loss(*args):
    h, c, _ = lstm_step_forward(*args)
    return np.sum(h * dh) + np.sum(c * dc)


check_gradients(loss, inputs, grads, names, of="a loss on lstm_step_forward")
print("visible tests passed")

# %% [markdown]
# ### 1.3 A whole sequence forward
#
# Implement `lstm_forward` by running your step over `t = 0, ..., T-1` from `h0` and `c0`. A missing
# `c0` (`None`) means a cell state of zeros. Only the hidden states are returned; keep whatever the
# backward pass needs (the cell states, say, or the step caches) in the cache.

# %% solution: lstm_forward
def lstm_forward(x, h0, Wx, Wh, b, c0=None):
    """
    Run an LSTM over a whole sequence.

    Inputs:
    - x: input sequence, (N, T, D)
    - h0: initial hidden state, (N, H)
    - Wx: the four gates' input weights, stacked in the order (i, f, g, o), (D, 4H)
    - Wh: the four gates' hidden-state weights, same order, (H, 4H)
    - b: the four gates' biases, same order, (4H,)
    - c0: initial cell state, (N, H); None means zeros

    Returns a tuple of:
    - h: hidden states for every step, (N, T, H)
    - cache: what the backward pass will need
    """
    ### BEGIN SOLUTION
    N, T, _ = x.shape
    h = np.empty((N, T, h0.shape[1]))
    h_prev = h0
    c_prev = np.zeros_like(h0) if c0 is None else c0
    caches = []
    for t in range(T):
        h_prev, c_prev, step_cache = lstm_step_forward(x[:, t], h_prev, c_prev, Wx, Wh, b)
        h[:, t] = h_prev
        caches.append(step_cache)
    cache = (x.shape, caches)
    ### END SOLUTION
    return h, cache

# %% test: lstm_forward_sequence points=2.5
"""lstm_forward: shapes, agreement with the step, and the default c0."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("lstm_forward", lstm_forward)
### END HIDDEN TESTS
rng = np.random.default_rng(2)
N, T, D, H = 2, 4, 3, 5
x, h0, c0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
Wx, Wh, b = rng.standard_normal((D, 4 * H)) * 0.5, rng.standard_normal((H, 4 * H)) * 0.5, rng.standard_normal(4 * H)
h, _ = lstm_forward(x, h0, Wx, Wh, b, c0)
assert h.shape == (N, T, H), f"h should have shape (N, T, H) = {(N, T, H)}, got {h.shape}"
# the sequence is the step, repeated
h_t, c_t = h0, c0
for t in range(T):
    h_t, c_t, _ = lstm_step_forward(x[:, t], h_t, c_t, Wx, Wh, b)
    assert rel_error(h[:, t], h_t) < 1e-12, f"h[:, {t}] differs from running lstm_step_forward {t + 1} times"
h_default, _ = lstm_forward(x, h0, Wx, Wh, b)
h_zeros, _ = lstm_forward(x, h0, Wx, Wh, b, np.zeros((N, H)))
assert rel_error(h_default, h_zeros) < 1e-12, "c0=None should mean a cell state of zeros"
# zero weights and biases: the cell halves at every step, c_t = c0 / 2**(t+1), and h_t = tanh(c_t) / 2
h, _ = lstm_forward(x, h0, np.zeros((D, 4 * H)), np.zeros((H, 4 * H)), np.zeros(4 * H), c0)
expected = np.stack([np.tanh(c0 / 2 ** (t + 1)) / 2 for t in range(T)], axis=1)
assert rel_error(h, expected) < 1e-12, "with zero weights and biases, h[:, t] should be tanh(c0 / 2**(t+1)) / 2"
print("visible tests passed")

# %% [markdown]
# ### 1.4 Backpropagation through time
#
# Implement `lstm_backward`. Walk the steps from `T-1` down to `0`. The gradient on `h_t` is the upstream
# `dh[:, t]` plus what step `t+1` sends back to its `h_prev`; the gradient on `c_t` is only what step `t+1`
# sends back to its `c_prev` (nothing reads the last cell state from outside, so it starts at zero).
# The parameter gradients are sums over the steps. Return `dh0`, the gradient on the initial hidden state.

# %% solution: lstm_backward
def lstm_backward(dh, cache):
    """
    Backpropagation through time for an LSTM.

    Inputs:
    - dh: upstream gradient on every hidden state, (N, T, H)
    - cache: from lstm_forward

    Returns a tuple of:
    - dx: gradient of the loss on x, (N, T, D)
    - dh0: gradient on h0, (N, H)
    - dWx: gradient on Wx, the four gates' input weights stacked in the order (i, f, g, o), (D, 4H)
    - dWh: gradient on Wh, the four gates' hidden-state weights in the same order, (H, 4H)
    - db: gradient on b, the four gates' biases in the same order, (4H,)
    """
    ### BEGIN SOLUTION
    x_shape, caches = cache
    N, T, D = x_shape
    H = dh.shape[2]
    dx = np.empty(x_shape)
    dWx, dWh, db = np.zeros((D, 4 * H)), np.zeros((H, 4 * H)), np.zeros(4 * H)
    dh_next, dc_next = np.zeros((N, H)), np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t], dh_next, dc_next, dWx_t, dWh_t, db_t = lstm_step_backward(dh[:, t] + dh_next, dc_next, caches[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    dh0 = dh_next
    ### END SOLUTION
    return dx, dh0, dWx, dWh, db

# %% test: lstm_backward_gradients points=2.5
"""lstm_backward: shapes and a finite-difference check of every gradient."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("lstm_backward", lstm_backward, forward=lstm_forward)
### END HIDDEN TESTS
rng = np.random.default_rng(3)
N, T, D, H = 2, 3, 3, 4
inputs = [rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((D, 4 * H)) * 0.5,
          rng.standard_normal((H, 4 * H)) * 0.5, rng.standard_normal(4 * H) * 0.5]
c0 = rng.standard_normal((N, H))
dh = rng.standard_normal((N, T, H))
_, cache = lstm_forward(*inputs, c0)
grads = lstm_backward(dh, cache)
names = ["dx", "dh0", "dWx", "dWh", "db"]
assert len(grads) == 5, f"return the five gradients {names}"
for name, grad, v in zip(names, grads, inputs):
    assert grad.shape == v.shape, f"{name} should have shape {v.shape}, got {grad.shape}"


def loss(*args):
    return np.sum(lstm_forward(*args, c0)[0] * dh)


check_gradients(loss, inputs, grads, names, of="a loss on lstm_forward")
print("visible tests passed")

# %% [markdown]
# ## Part 2: the GRU
#
# ### 2.1 One step forward
#
# Implement `gru_step_forward`. Compute `x @ Wx + bx` and `h_prev @ Wh + bh` once each and slice them
# into the blocks `(r, z, n)`; note where the reset gate `r` enters the candidate `n`.

# %% solution: gru_step_forward
def gru_step_forward(x, h_prev, Wx, Wh, bx, bh):
    """
    One time step of a GRU.

    Inputs:
    - x: inputs at this step, (N, D)
    - h_prev: previous hidden state, (N, H)
    - Wx: the three gates' input weights, stacked in the order (r, z, n), (D, 3H)
    - Wh: the three gates' hidden-state weights, same order, (H, 3H)
    - bx: the three gates' input-side biases, same order, (3H,)
    - bh: the three gates' hidden-side biases, same order, (3H,)

    Returns a tuple of:
    - h: the new hidden state, (N, H)
    - cache: what the backward pass will need
    """
    ### BEGIN SOLUTION
    H = h_prev.shape[1]
    gx = x @ Wx + bx
    gh = h_prev @ Wh + bh
    r = sigmoid(gx[:, :H] + gh[:, :H])
    z = sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
    ghn = gh[:, 2 * H:]
    n = np.tanh(gx[:, 2 * H:] + r * ghn)
    h = (1 - z) * n + z * h_prev
    cache = (x, h_prev, Wx, Wh, r, z, n, ghn)
    ### END SOLUTION
    return h, cache

# %% test: gru_step_forward_gates points=2.5
"""gru_step_forward: shapes and two cases with constant gates."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("gru_step_forward", gru_step_forward)
### END HIDDEN TESTS
rng = np.random.default_rng(4)
N, D, H = 3, 4, 5
x, h_prev = rng.standard_normal((N, D)), rng.standard_normal((N, H))
h, _ = gru_step_forward(x, h_prev, rng.standard_normal((D, 3 * H)), rng.standard_normal((H, 3 * H)),
                        rng.standard_normal(3 * H), rng.standard_normal(3 * H))
assert h.shape == (N, H), f"h should have shape (N, H) = {(N, H)}, got {h.shape}"
# zero weights and biases: r = z = 1/2 and n = tanh(0) = 0, so h = h_prev / 2
Wx, Wh, zeros = np.zeros((D, 3 * H)), np.zeros((H, 3 * H)), np.zeros(3 * H)
h, _ = gru_step_forward(x, h_prev, Wx, Wh, zeros, zeros)
assert rel_error(h, h_prev / 2) < 1e-12, "with zero weights and biases, h should be h_prev / 2"
# biases alone: r = 1/2, z = sigmoid(log 3) = 3/4, and the hidden-side bias of n, 1, passes through r
bx = np.concatenate([np.zeros(H), np.full(H, np.log(3)), np.zeros(H)])
bh = np.concatenate([np.zeros(H), np.zeros(H), np.ones(H)])
h, _ = gru_step_forward(x, h_prev, Wx, Wh, bx, bh)
assert rel_error(h, np.tanh(0.5) / 4 + 0.75 * h_prev) < 1e-12, \
    "with r = 1/2, z = 3/4 and bh_n = 1: n = tanh(1/2) and h = n / 4 + 3/4 h_prev"
print("visible tests passed")

# %% [markdown]
# ### 2.2 One step backward
#
# Implement `gru_step_backward`. `h_prev` reaches `h` along several paths: directly through
# `z * h_prev`, and through each of `r`, `z` and `n`. The gradients on the two biases differ only in the
# `n` block, where the hidden side is scaled by `r`.

# %% solution: gru_step_backward
def gru_step_backward(dh, cache):
    """
    Backward pass of one GRU step.

    Inputs:
    - dh: upstream gradient on h, (N, H)
    - cache: from gru_step_forward

    Returns a tuple of:
    - dx: gradient of the loss on x, (N, D)
    - dh_prev: gradient on h_prev, (N, H)
    - dWx: gradient on Wx, the three gates' input weights stacked in the order (r, z, n), (D, 3H)
    - dWh: gradient on Wh, the three gates' hidden-state weights in the same order, (H, 3H)
    - dbx: gradient on bx, the input-side biases, (3H,)
    - dbh: gradient on bh, the hidden-side biases, (3H,)
    """
    ### BEGIN SOLUTION
    x, h_prev, Wx, Wh, r, z, n, ghn = cache
    dan = dh * (1 - z) * (1 - n ** 2)
    dar = dan * ghn * r * (1 - r)
    daz = dh * (h_prev - n) * z * (1 - z)
    dgx = np.concatenate([dar, daz, dan], axis=1)
    dgh = np.concatenate([dar, daz, dan * r], axis=1)
    dx = dgx @ Wx.T
    dh_prev = dh * z + dgh @ Wh.T
    dWx = x.T @ dgx
    dWh = h_prev.T @ dgh
    dbx = dgx.sum(axis=0)
    dbh = dgh.sum(axis=0)
    ### END SOLUTION
    return dx, dh_prev, dWx, dWh, dbx, dbh

# %% test: gru_step_backward_gradients points=2.5
"""gru_step_backward: shapes and a finite-difference check of every gradient."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("gru_step_backward", gru_step_backward, forward=gru_step_forward)
### END HIDDEN TESTS
rng = np.random.default_rng(5)
N, D, H = 2, 3, 4
inputs = [rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((D, 3 * H)) * 0.5,
          rng.standard_normal((H, 3 * H)) * 0.5, rng.standard_normal(3 * H) * 0.5, rng.standard_normal(3 * H) * 0.5]
dh = rng.standard_normal((N, H))
_, cache = gru_step_forward(*inputs)
grads = gru_step_backward(dh, cache)
names = ["dx", "dh_prev", "dWx", "dWh", "dbx", "dbh"]
assert len(grads) == 6, f"return the six gradients {names}"
for name, grad, v in zip(names, grads, inputs):
    assert grad.shape == v.shape, f"{name} should have shape {v.shape}, got {grad.shape}"


def loss(*args):
    return np.sum(gru_step_forward(*args)[0] * dh)


check_gradients(loss, inputs, grads, names, of="a loss on gru_step_forward")
print("visible tests passed")

# %% [markdown]
# ### 2.3 A whole sequence forward
#
# Implement `gru_forward` by running your step over `t = 0, ..., T-1` from `h0`.

# %% solution: gru_forward
def gru_forward(x, h0, Wx, Wh, bx, bh):
    """
    Run a GRU over a whole sequence.

    Inputs:
    - x: input sequence, (N, T, D)
    - h0: initial hidden state, (N, H)
    - Wx: the three gates' input weights, stacked in the order (r, z, n), (D, 3H)
    - Wh: the three gates' hidden-state weights, same order, (H, 3H)
    - bx: the three gates' input-side biases, same order, (3H,)
    - bh: the three gates' hidden-side biases, same order, (3H,)

    Returns a tuple of:
    - h: hidden states for every step, (N, T, H)
    - cache: what the backward pass will need
    """
    ### BEGIN SOLUTION
    N, T, _ = x.shape
    h = np.empty((N, T, h0.shape[1]))
    h_prev = h0
    caches = []
    for t in range(T):
        h_prev, step_cache = gru_step_forward(x[:, t], h_prev, Wx, Wh, bx, bh)
        h[:, t] = h_prev
        caches.append(step_cache)
    cache = (x.shape, caches)
    ### END SOLUTION
    return h, cache

# %% test: gru_forward_sequence points=2.5
"""gru_forward: shapes, agreement with the step, and a constant-gate sequence."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("gru_forward", gru_forward)
### END HIDDEN TESTS
rng = np.random.default_rng(6)
N, T, D, H = 2, 4, 3, 5
x, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
params = [rng.standard_normal((D, 3 * H)) * 0.5, rng.standard_normal((H, 3 * H)) * 0.5, rng.standard_normal(3 * H),
          rng.standard_normal(3 * H)]
h, _ = gru_forward(x, h0, *params)
assert h.shape == (N, T, H), f"h should have shape (N, T, H) = {(N, T, H)}, got {h.shape}"
# the sequence is the step, repeated
h_t = h0
for t in range(T):
    h_t, _ = gru_step_forward(x[:, t], h_t, *params)
    assert rel_error(h[:, t], h_t) < 1e-12, f"h[:, {t}] differs from running gru_step_forward {t + 1} times"
# zero weights and biases: the state halves at every step, h_t = h0 / 2**(t+1)
h, _ = gru_forward(x, h0, np.zeros((D, 3 * H)), np.zeros((H, 3 * H)), np.zeros(3 * H), np.zeros(3 * H))
expected = np.stack([h0 / 2 ** (t + 1) for t in range(T)], axis=1)
assert rel_error(h, expected) < 1e-12, "with zero weights and biases, h[:, t] should be h0 / 2**(t+1)"
print("visible tests passed")

# %% [markdown]
# ### 2.4 Backpropagation through time
#
# Implement `gru_backward`, walking the steps from `T-1` down to `0` as for the LSTM; the GRU has no
# separate cell state, so only the gradient on the hidden state travels back.

# %% solution: gru_backward
def gru_backward(dh, cache):
    """
    Backpropagation through time for a GRU.

    Inputs:
    - dh: upstream gradient on every hidden state, (N, T, H)
    - cache: from gru_forward

    Returns a tuple of:
    - dx: gradient of the loss on x, (N, T, D)
    - dh0: gradient on h0, (N, H)
    - dWx: gradient on Wx, the three gates' input weights stacked in the order (r, z, n), (D, 3H)
    - dWh: gradient on Wh, the three gates' hidden-state weights in the same order, (H, 3H)
    - dbx: gradient on bx, the input-side biases, (3H,)
    - dbh: gradient on bh, the hidden-side biases, (3H,)
    """
    ### BEGIN SOLUTION
    x_shape, caches = cache
    N, T, D = x_shape
    H = dh.shape[2]
    dx = np.empty(x_shape)
    dWx, dWh = np.zeros((D, 3 * H)), np.zeros((H, 3 * H))
    dbx, dbh = np.zeros(3 * H), np.zeros(3 * H)
    dh_next = np.zeros((N, H))
    for t in reversed(range(T)):
        dx[:, t], dh_next, dWx_t, dWh_t, dbx_t, dbh_t = gru_step_backward(dh[:, t] + dh_next, caches[t])
        dWx += dWx_t
        dWh += dWh_t
        dbx += dbx_t
        dbh += dbh_t
    dh0 = dh_next
    ### END SOLUTION
    return dx, dh0, dWx, dWh, dbx, dbh

# %% test: gru_backward_gradients points=2.5
"""gru_backward: shapes and a finite-difference check of every gradient."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("gru_backward", gru_backward, forward=gru_forward)
### END HIDDEN TESTS
rng = np.random.default_rng(7)
N, T, D, H = 2, 3, 3, 4
inputs = [rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((D, 3 * H)) * 0.5,
          rng.standard_normal((H, 3 * H)) * 0.5, rng.standard_normal(3 * H) * 0.5, rng.standard_normal(3 * H) * 0.5]
dh = rng.standard_normal((N, T, H))
_, cache = gru_forward(*inputs)
grads = gru_backward(dh, cache)
names = ["dx", "dh0", "dWx", "dWh", "dbx", "dbh"]
assert len(grads) == 6, f"return the six gradients {names}"
for name, grad, v in zip(names, grads, inputs):
    assert grad.shape == v.shape, f"{name} should have shape {v.shape}, got {grad.shape}"


def loss(*args):
    return np.sum(gru_forward(*args)[0] * dh)


check_gradients(loss, inputs, grads, names, of="a loss on gru_forward")
print("visible tests passed")
