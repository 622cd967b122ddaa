# %% [markdown]
# # Assignment 6: an encoder-decoder in PyTorch
#
# A sequence-to-sequence model reads a source sequence with one RNN, the *encoder*, and writes the
# target sequence with a second one, the *decoder*, one token at a time. In this assignment you write the
# forward pass of the model of chapter *Sequence to sequence* of the course book, with GRUs on both
# sides, and the masked loss that trains it. From now on the code is PyTorch: autograd takes care of the
# gradients, so the work is in getting the forward pass exactly right.
#
# **The model.** The encoder embeds each source token and runs a GRU from a zero state; on padded steps
# its state does not move. The context $c$ is the encoder's state after the last real token:
#
# $$e_t = \mathrm{src\_emb}[x_t],\qquad h_t = \begin{cases}\mathrm{GRU_{enc}}(e_t, h_{t-1}) & \text{if step } t \text{ is a real token}\\ h_{t-1} & \text{if it is padding}\end{cases},\qquad h_0 = 0,\qquad c = h_S .$$
#
# The decoder starts from the context, $s_0 = c$, and at every step reads the previous token's embedding
# **and the context again**, side by side, then scores the next token:
#
# $$u_t = [\,\mathrm{tgt\_emb}[y_{t-1}],\ c\,],\qquad s_t = \mathrm{GRU_{dec}}(u_t, s_{t-1}),\qquad o_t = s_t W_{out} + b_{out}.$$
#
# During training the previous token $y_{t-1}$ is the true one (*teacher forcing*): the decoder's inputs
# `tgt_in` are `<bos>` followed by the target, and its targets `tgt_out` are the target followed by
# `<eos>`. The next assignment looks at what happens when the model is fed its own predictions instead.
#
# **The GRU** is the one of assignment 4, in the gate order `(r, z, n)` of `torch.nn.GRU`, with row
# vectors: `Wx` is `(D, 3H)`, `Wh` is `(H, 3H)`, `bx` and `bh` are `(3H,)`, and with `_r`, `_z`, `_n` the
# three blocks of `H` columns,
#
# $$r = \sigma(x W_{x,r} + b_{x,r} + h W_{h,r} + b_{h,r}),\quad z = \sigma(x W_{x,z} + b_{x,z} + h W_{h,z} + b_{h,z}),$$
# $$n = \tanh\big(x W_{x,n} + b_{x,n} + r \odot (h W_{h,n} + b_{h,n})\big),\qquad h' = (1 - z) \odot n + z \odot h .$$
#
# With `Wx = weight_ih_l0.T`, `Wh = weight_hh_l0.T`, `bx = bias_ih_l0`, `bh = bias_hh_l0` this is exactly
# `torch.nn.GRU`, and the tests use that to check your code.
#
# **The parameters** are a dict of float64 tensors (`init_params` below makes one):
#
# | key | shape | | key | shape |
# | --- | --- | --- | --- | --- |
# | `src_emb` | `(Vs, E)` | | `tgt_emb` | `(Vt, E)` |
# | `enc_Wx`, `enc_Wh` | `(E, 3H)`, `(H, 3H)` | | `dec_Wx`, `dec_Wh` | `(E + H, 3H)`, `(H, 3H)` |
# | `enc_bx`, `enc_bh` | `(3H,)` each | | `dec_bx`, `dec_bh` | `(3H,)` each |
# | `W_out` | `(H, Vt)` | | `b_out` | `(Vt,)` |
#
# The first `E` rows of `dec_Wx` read the embedding and the last `H` rows the context.
#
# **Conventions.** Batch first. Token ids are int64 tensors: `src (N, S)`, `tgt_in (N, T)`; masks are bool
# tensors, `True` on real tokens. Sequences are padded on the right with the id 0 (`<pad>`; `<bos>` is 1
# and `<eos>` 2), and every source has at least one real token. Work in float64 throughout: a tensor you
# create must take the dtype of the parameters (`torch.zeros(N, H, dtype=params["enc_Wh"].dtype)`), since
# torch's default is float32. Never modify an input in place.
#
# **Rules.** Use tensor operations and `torch.nn.functional`; do **not** use `torch.nn.GRU`,
# `torch.nn.GRUCell` or any other ready-made recurrent layer: the point is to write the model from its
# equations. A loop over time steps is fine; a loop over the batch is not needed.
#
# **How to work.** In each function, replace `# YOUR CODE HERE` and the `raise NotImplementedError()` line
# with your code, and leave the rest of the function as it is; then run the test cell below it. The
# visible tests check shapes, cases you can work out by hand, and agreement with `torch.nn.GRU`. When you
# hand in, hidden tests compare each function with the reference on other inputs (float64 numbers turned
# into tensors by `on_tensors`, below) and say what is wrong. Run `nbgrader validate seq2seq.ipynb` before
# you submit.

# %% setup
import numpy as np
import torch
import torch.nn.functional as F

from gradcheck import rel_error

torch.set_printoptions(precision=4, sci_mode=False)


def init_params(src_vocab, tgt_vocab, emb_dim, hidden_dim, seed=0):
    """Random parameters of the encoder-decoder: a dict of float64 tensors with the shapes of the table."""
    rng = np.random.default_rng(seed)
    E, H = emb_dim, hidden_dim

    def normal(*shape, scale=1.0):
        return torch.tensor(rng.standard_normal(shape) * scale)

    return {
        "src_emb": normal(src_vocab, E), "tgt_emb": normal(tgt_vocab, E),
        "enc_Wx": normal(E, 3 * H, scale=E ** -0.5), "enc_Wh": normal(H, 3 * H, scale=H ** -0.5),
        "enc_bx": normal(3 * H, scale=0.3), "enc_bh": normal(3 * H, scale=0.3),
        "dec_Wx": normal(E + H, 3 * H, scale=(E + H) ** -0.5), "dec_Wh": normal(H, 3 * H, scale=H ** -0.5),
        "dec_bx": normal(3 * H, scale=0.3), "dec_bh": normal(3 * H, scale=0.3),
        "W_out": normal(H, tgt_vocab, scale=H ** -0.5), "b_out": normal(tgt_vocab, scale=0.3),
    }


def torch_gru(Wx, Wh, bx, bh):
    """A float64 torch.nn.GRU (batch_first) holding these weights: a check for your own GRU, not a part of it."""
    gru = torch.nn.GRU(Wx.shape[0], Wh.shape[0], batch_first=True).double()
    with torch.no_grad():
        gru.weight_ih_l0.copy_(Wx.T)
        gru.weight_hh_l0.copy_(Wh.T)
        gru.bias_ih_l0.copy_(bx)
        gru.bias_hh_l0.copy_(bh)
    return gru


def as_tensors(obj):
    """numpy arrays, also inside dicts, lists and tuples, as torch tensors (float64, int64 and bool stay so)."""
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj)
    if isinstance(obj, dict):
        return {k: as_tensors(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(as_tensors(v) for v in obj)
    return obj


def on_tensors(fn):
    """fn, called with its numpy arguments turned into tensors: how the hidden tests call your functions."""
    def wrapper(*args, **kwargs):
        return fn(*as_tensors(args), **as_tensors(kwargs))
    return wrapper


def example_batch(seed=0):
    """A small batch: params (Vs=7, Vt=6, E=3, H=4), src (3, 5) with its mask, and tgt_in (3, 4)."""
    params = init_params(7, 6, 3, 4, seed=seed)
    src = torch.tensor([[3, 4, 5, 6, 3], [4, 4, 6, 0, 0], [5, 0, 0, 0, 0]])
    tgt_in = torch.tensor([[1, 3, 4, 5], [1, 5, 2, 0], [1, 4, 4, 3]])
    return params, src, src != 0, tgt_in

# %% [markdown]
# ## 1. The GRU cell
#
# Write one GRU step from the equations above, for a whole batch. Both the encoder and the decoder will
# call it.

# %% solution: gru_cell
def gru_cell(x, h_prev, Wx, Wh, bx, bh):
    """
    One GRU step, gate order (r, z, n) as in torch.nn.GRU.

    Inputs:
    - x: inputs, (N, D)
    - h_prev: the previous state, (N, H)
    - Wx: the three gates' input weights, stacked in the order (r, z, n), (D, 3H)
    - Wh: the three gates' hidden-state weights, same order, (H, 3H)
    - bx: the three gates' input-side biases, same order, (3H,)
    - bh: the three gates' hidden-side biases, same order, (3H,)

    Returns h: the new state, (N, H)
    """
    ### BEGIN SOLUTION
    H = h_prev.shape[1]
    gx = x @ Wx + bx  # (N, 3H)
    gh = h_prev @ Wh + bh  # (N, 3H)
    r = torch.sigmoid(gx[:, :H] + gh[:, :H])
    z = torch.sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
    n = torch.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
    h = (1 - z) * n + z * h_prev
    ### END SOLUTION
    return h

# %% test: gru_cell_step points=3
"""gru_cell: shapes, zero weights, and agreement with torch.nn.GRU."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("gru_cell", on_tensors(gru_cell))
### END HIDDEN TESTS
gen = torch.Generator().manual_seed(0)
N, D, H = 3, 5, 4
x, h_prev = torch.randn(N, D, generator=gen, dtype=torch.float64), torch.randn(N, H, generator=gen, dtype=torch.float64)
weights = [torch.randn(D, 3 * H, generator=gen, dtype=torch.float64) * 0.5,
           torch.randn(H, 3 * H, generator=gen, dtype=torch.float64) * 0.5,
           torch.randn(3 * H, generator=gen, dtype=torch.float64) * 0.3,
           torch.randn(3 * H, generator=gen, dtype=torch.float64) * 0.3]
h = gru_cell(x, h_prev, *weights)
assert h.shape == (N, H), f"h should have shape (N, H) = {(N, H)}, got {tuple(h.shape)}"
assert h.dtype == torch.float64, f"h should be float64, got {h.dtype}"
# zero weights and biases: r = z = 1/2 and n = tanh(0) = 0, so h = h_prev / 2
zeros = [torch.zeros_like(w) for w in weights]
assert rel_error(gru_cell(x, h_prev, *zeros), h_prev / 2) < 1e-12, "with zero weights the new state is h_prev / 2"
with torch.no_grad():
    expected = torch_gru(*weights)(x[:, None, :], h_prev[None])[1][0]
err = rel_error(h.detach(), expected)
print(f"gru_cell against torch.nn.GRU: relative error {err:.2e}")
assert err < 1e-10, \
    f"gru_cell differs from torch.nn.GRU: check the gates' blocks ({err:.2e})"

# %% [markdown]
# ## 2. The encoder
#
# Embed the source tokens (`params["src_emb"][src]` looks up a whole batch at once) and run your
# `gru_cell` over the `S` steps from a zero state. On a step where `src_mask` is `False` the state must stay
# exactly what it was: compute the new state for the whole batch, then keep the old one in the padded rows
# (`torch.where`). The context is the final state: for each sequence, its state after its last real token.

# %% solution: encode
def encode(params, src, src_mask):
    """
    The encoder: a GRU over the source embeddings whose state does not move on padded steps.

    Inputs:
    - params: the parameters dict (src_emb, enc_Wx, enc_Wh, enc_bx, enc_bh are used)
    - src: source ids, int64 (N, S)
    - src_mask: bool (N, S), True on real tokens

    Returns context: the final encoder states, (N, H)
    """
    ### BEGIN SOLUTION
    N, S = src.shape
    emb = params["src_emb"][src]  # (N, S, E)
    h = torch.zeros(N, params["enc_Wh"].shape[0], dtype=emb.dtype)  # (N, H)
    for t in range(S):
        h_new = gru_cell(emb[:, t], h, params["enc_Wx"], params["enc_Wh"], params["enc_bx"], params["enc_bh"])
        h = torch.where(src_mask[:, t, None], h_new, h)
    context = h
    ### END SOLUTION
    return context

# %% test: encode_context points=5
"""encode: shape, agreement with torch.nn.GRU without padding, and padding that changes nothing."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("encode", on_tensors(encode))
### END HIDDEN TESTS
params, src, src_mask, _ = example_batch()
context = encode(params, src, src_mask)
assert context.shape == (3, 4), f"context should have shape (N, H) = (3, 4), got {tuple(context.shape)}"
# the first source has no padding: its context is torch's GRU's final state
gru = torch_gru(params["enc_Wx"], params["enc_Wh"], params["enc_bx"], params["enc_bh"])
with torch.no_grad():
    expected = gru(params["src_emb"][src[:1]])[1][0]
err = rel_error(context[:1].detach(), expected)
print(f"unpadded source against torch.nn.GRU: relative error {err:.2e}")
assert err < 1e-10, f"context differs from nn.GRU's final state, no padding ({err:.2e})"
# a padded source: its context is the context of the same tokens without the padding
for i in (1, 2):
    n = int(src_mask[i].sum())
    alone = encode(params, src[i:i + 1, :n], src_mask[i:i + 1, :n])
    assert rel_error(context[i:i + 1].detach(), alone.detach()) < 1e-12, \
        f"padding moved the context of source {i}: it is the state after token {n}"
# what sits on a padded step does not matter
other = torch.where(src_mask, src, torch.full_like(src, 5))
assert rel_error(encode(params, other, src_mask).detach(), context.detach()) < 1e-12, \
    "changing the tokens on padded steps changed the context"

# %% [markdown]
# ## 3. One decoder step
#
# Embed the previous tokens, put the context beside them (`torch.cat(..., dim=1)`: embedding first, then
# context), run the decoder's GRU cell from `h`, and score the vocabulary from the **new** state.

# %% solution: decode_step
def decode_step(params, y_prev, context, h):
    """
    One step of the decoder.

    Inputs:
    - params: the parameters dict (tgt_emb, dec_Wx, dec_Wh, dec_bx, dec_bh, W_out, b_out are used)
    - y_prev: the previous tokens, int64 (N,)
    - context: the encoder's context, (N, H)
    - h: the decoder's state, (N, H)

    Returns a tuple of:
    - logits: scores of the next token, (N, Vt)
    - h: the decoder's new state, (N, H)
    """
    ### BEGIN SOLUTION
    x = torch.cat([params["tgt_emb"][y_prev], context], dim=1)  # (N, E + H)
    h = gru_cell(x, h, params["dec_Wx"], params["dec_Wh"], params["dec_bx"], params["dec_bh"])
    logits = h @ params["W_out"] + params["b_out"]
    ### END SOLUTION
    return logits, h

# %% test: decode_step_logits points=4
"""decode_step: shapes, a decoder GRU with zero weights, and agreement with torch.nn.GRU."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("decode_step", on_tensors(decode_step))
### END HIDDEN TESTS
params, src, src_mask, tgt_in = example_batch(1)
gen = torch.Generator().manual_seed(1)
context = torch.randn(3, 4, generator=gen, dtype=torch.float64).tanh()
h = torch.randn(3, 4, generator=gen, dtype=torch.float64).tanh()
logits, h_new = decode_step(params, tgt_in[:, 1], context, h)
assert logits.shape == (3, 6), f"logits should have shape (N, Vt) = (3, 6), got {tuple(logits.shape)}"
assert h_new.shape == (3, 4), f"h should have shape (N, H) = (3, 4), got {tuple(h_new.shape)}"
# a decoder GRU with zero weights halves the state, and the logits are read from the new state
still = {**params, **{k: torch.zeros_like(params[k]) for k in ("dec_Wx", "dec_Wh", "dec_bx", "dec_bh")}}
logits0, h0 = decode_step(still, tgt_in[:, 1], context, h)
assert rel_error(h0, h / 2) < 1e-12, "with zero decoder weights the new state is h / 2"
assert rel_error(logits0, (h / 2) @ params["W_out"] + params["b_out"]) < 1e-12, \
    "the logits are h_new @ W_out + b_out, from the new state"
# the decoder GRU reads [embedding, context]
gru = torch_gru(params["dec_Wx"], params["dec_Wh"], params["dec_bx"], params["dec_bh"])
u = torch.cat([params["tgt_emb"][tgt_in[:, 1]], context], dim=1)
with torch.no_grad():
    expected = gru(u[:, None, :], h[None])[1][0]
err = rel_error(h_new.detach(), expected)
print(f"decoder state against torch.nn.GRU: relative error {err:.2e}")
assert err < 1e-10, f"the new state differs from torch.nn.GRU fed [embedding, context] ({err:.2e})"

# %% [markdown]
# ## 4. The whole model under teacher forcing
#
# Encode the source, start the decoder from the context, and run `decode_step` once for each of the `T`
# columns of `tgt_in`, feeding `tgt_in[:, t]` at step `t` and the same context at every step. Stack the
# logits of the steps (`torch.stack(..., dim=1)`).

# %% solution: seq2seq_forward
def seq2seq_forward(params, src, src_mask, tgt_in):
    """
    The encoder-decoder's logits for every target step, with teacher forcing.

    Inputs:
    - params: the parameters dict
    - src: source ids, int64 (N, S)
    - src_mask: bool (N, S), True on real tokens
    - tgt_in: the decoder's inputs, <bos> then the target, int64 (N, T)

    Returns logits: (N, T, Vt); logits[:, t] scores the token that follows tgt_in[:, :t + 1]
    """
    ### BEGIN SOLUTION
    context = encode(params, src, src_mask)
    h, steps = context, []
    for t in range(tgt_in.shape[1]):
        step_logits, h = decode_step(params, tgt_in[:, t], context, h)
        steps.append(step_logits)
    logits = torch.stack(steps, dim=1)
    ### END SOLUTION
    return logits

# %% test: seq2seq_forward_logits points=4
"""seq2seq_forward: shape, the first step, and logits that never look ahead."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("seq2seq_forward", on_tensors(seq2seq_forward))
### END HIDDEN TESTS
params, src, src_mask, tgt_in = example_batch(2)
logits = seq2seq_forward(params, src, src_mask, tgt_in)
assert logits.shape == (3, 4, 6), f"logits should have shape (N, T, Vt) = (3, 4, 6), got {tuple(logits.shape)}"
context = encode(params, src, src_mask)
first, _ = decode_step(params, tgt_in[:, 0], context, context)
assert rel_error(logits[:, 0].detach(), first.detach()) < 1e-12, \
    "step 0 is decode_step from the context, reading tgt_in[:, 0]"
# logits[:, t] depends on tgt_in[:, :t + 1] only
changed = tgt_in.clone()
changed[:, 2] = 5
again = seq2seq_forward(params, src, src_mask, changed)
assert rel_error(again[:, :2].detach(), logits[:, :2].detach()) < 1e-12, "changing tgt_in[:, 2] changed earlier steps"
assert rel_error(again[:, 2:].detach(), logits[:, 2:].detach()) > 1e-6, "changing tgt_in[:, 2] must change step 2"
# the context reaches every step: a different source changes the last step too
assert rel_error(seq2seq_forward(params, src.flip(0), src_mask.flip(0), tgt_in)[:, -1].detach(),
                 logits[:, -1].detach()) > 1e-6, "the last step's logits must depend on the source"

# %% [markdown]
# ## 5. The masked loss
#
# The loss of the course: the softmax cross-entropy of every step, summed over the steps where `mask` is
# `True` and averaged over the batch (divided by `N`, however many steps each sequence has). Compute
# log-probabilities stably (`F.log_softmax`, or `F.cross_entropy` with `reduction="none"`). Return a
# scalar tensor, so that `loss.backward()` works.

# %% solution: masked_cross_entropy
def masked_cross_entropy(logits, targets, mask):
    """
    Softmax cross-entropy summed over the unmasked steps and averaged over the batch.

    Inputs:
    - logits: scores of every step's next token, (N, T, V)
    - targets: the correct token ids, int64 (N, T)
    - mask: bool (N, T); the steps where it is False add nothing

    Returns loss: the cross-entropy, a scalar tensor
    """
    ### BEGIN SOLUTION
    N, T, V = logits.shape
    log_p = F.log_softmax(logits, dim=2)  # (N, T, V)
    picked = log_p.gather(2, targets[..., None])[..., 0]  # (N, T)
    loss = -(picked * mask).sum() / N
    ### END SOLUTION
    return loss

# %% test: masked_cross_entropy_loss points=4
"""masked_cross_entropy: uniform logits, masked steps that change nothing, and autograd's gradient check."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("masked_cross_entropy", on_tensors(masked_cross_entropy))
### END HIDDEN TESTS
targets = torch.tensor([[1, 2, 0], [3, 0, 0]])
mask = torch.tensor([[True, True, False], [True, False, False]])
loss = masked_cross_entropy(torch.zeros(2, 3, 5, dtype=torch.float64), targets, mask)
assert loss.dim() == 0, f"the loss should be a scalar tensor, got shape {tuple(loss.shape)}"
# uniform logits: log 5 per unmasked step, 3 steps, 2 sequences
assert rel_error(loss, 3 * np.log(5) / 2) < 1e-12, \
    f"uniform logits: loss should be {3 * np.log(5) / 2:.6f}, got {loss.item():.6f}"
gen = torch.Generator().manual_seed(3)
logits = torch.randn(2, 3, 5, generator=gen, dtype=torch.float64)
noisy = torch.where(mask[..., None], logits, torch.full_like(logits, 7.0))
assert rel_error(masked_cross_entropy(noisy, targets, mask), masked_cross_entropy(logits, targets, mask)) < 1e-12, \
    "the logits of masked steps must not change the loss"
assert torch.autograd.gradcheck(lambda o: masked_cross_entropy(o, targets, mask), (logits.requires_grad_(),)), \
    "autograd's gradient does not match finite differences"
print("visible tests passed")
