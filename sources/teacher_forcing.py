# %% [markdown]
# # Assignment 7: teacher forcing and free running
#
# A decoder is trained to predict each target token from the tokens before it. Which tokens before it?
# Under *teacher forcing* it reads the true previous token at every step, whatever it predicted itself;
# this is what `seq2seq_forward` of assignment 6 did. At test time there is no true token, and the
# decoder reads its own previous prediction (*free running*). A model trained only on true prefixes
# never saw its own mistakes during training, and one early error can lead it into prefixes unlike any
# it has seen: this mismatch is called *exposure bias*. A *teacher-forcing ratio* mixes the two: at
# each step, each example reads the true token with probability `ratio` and its own prediction otherwise
# (lowering the ratio slowly during training is the idea of *scheduled sampling*, which feeds back a token
# sampled from the model's prediction where this assignment takes the arg-max). Chapter *Teacher forcing*
# of the course book discusses all three.
#
# In this assignment you write the decoder's training loop with a teacher-forcing ratio and one
# optimisation step; then you train small models with different ratios and interpret what you see.
#
# **The model.** The setup cell defines `Seq2Seq`, the encoder-decoder of assignment 6 built from torch's
# own layers: `model.encode(src, src_mask)` returns the context `(N, H)` and
# `model.decode_step(y_prev, context, h)` returns `(logits (N, V), h (N, H))`. The decoder starts from the
# context (`h = context` at step 0), and step 0 always reads `tgt_in[:, 0]`, the `<bos>` token. The loss
# is your `masked_cross_entropy(logits, targets, mask)` of assignment 6: paste it in part 0.
#
# **The coins.** Random choices would make your results impossible to check, so the choices come from a
# given tensor `coins` of shape `(N, T)`, uniform numbers in $[0, 1)$. At step $t \ge 1$, example $i$ reads
#
# $$y_{i,t} = \begin{cases} \texttt{tgt\_in}[i, t] & \text{if } \texttt{coins}[i, t] < \texttt{ratio} \quad\text{(the true token)}\\ \arg\max_v \texttt{logits}[i, t-1, v] & \text{otherwise} \quad\text{(its own prediction at the step before)}\end{cases}$$
#
# so that ratio 1 is teacher forcing, ratio 0 is free running, and `coins[:, 0]` is never used.
#
# **Conventions.** Batch first, token ids int64, masks bool with `True` on real tokens, padding id 0,
# `<bos>` 1, `<eos>` 2. Your code must work in whatever dtype the model has: the tests use float64 models,
# the training at the end float32. Never modify an input in place.
#
# **How to work.** In each function, replace `# YOUR CODE HERE` and the `raise NotImplementedError()` line
# with your code, and leave the rest of the function as it is; then run the test cell below it. The
# visible tests check shapes and properties you can reason out by hand; when you hand in, hidden tests
# compare your functions with the reference on other models and data (through `on_model` and `with_sgd`,
# below) and say what is wrong. The last part asks for a written answer, which your instructor grades by
# hand. Run `nbgrader validate teacher_forcing.ipynb` before you submit.

# %% setup
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from gradcheck import rel_error

torch.set_num_threads(1)  # models this small run fastest on one thread
PAD, BOS, EOS = 0, 1, 2


class Seq2Seq(nn.Module):
    """
    The encoder-decoder of assignment 6, from torch's layers.

    - encode(src, src_mask) -> context (N, H): an nn.GRU over the source embeddings that skips padding
    - decode_step(y_prev, context, h) -> (logits (N, V), h (N, H)): an nn.GRUCell fed [embedding, context]
    """

    def __init__(self, src_vocab, tgt_vocab, emb_dim, hidden_dim):
        super().__init__()
        self.src_emb = nn.Embedding(src_vocab, emb_dim, padding_idx=PAD)
        self.encoder = nn.GRU(emb_dim, hidden_dim, batch_first=True)
        self.tgt_emb = nn.Embedding(tgt_vocab, emb_dim, padding_idx=PAD)
        self.decoder = nn.GRUCell(emb_dim + hidden_dim, hidden_dim)
        self.out = nn.Linear(hidden_dim, tgt_vocab)

    def encode(self, src, src_mask):
        lengths = src_mask.sum(dim=1).cpu()
        packed = pack_padded_sequence(self.src_emb(src), lengths, batch_first=True, enforce_sorted=False)
        return self.encoder(packed)[1][0]

    def decode_step(self, y_prev, context, h):
        h = self.decoder(torch.cat([self.tgt_emb(y_prev), context], dim=1), h)
        return self.out(h), h


def build_model(state):
    """A float64 Seq2Seq holding the weights of `state`, arrays named as in model.state_dict()."""
    Vs, E = state["src_emb.weight"].shape
    Vt, H = state["out.weight"].shape
    model = Seq2Seq(Vs, Vt, E, H).double()
    model.load_state_dict({k: torch.as_tensor(v, dtype=torch.float64) for k, v in state.items()})
    return model


def as_tensors(obj):
    """numpy arrays, also inside dicts, lists and tuples, as torch tensors (float64, int64 and bool stay so)."""
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj)
    if isinstance(obj, dict):
        return {k: as_tensors(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(as_tensors(v) for v in obj)
    return obj


def on_model(fn):
    """fn(model, ...) called as f(state, ...) with numpy arguments: how the hidden tests call decode_train."""
    def wrapper(state, *args):
        return fn(build_model(state), *as_tensors(args))
    return wrapper


def with_sgd(train_step):
    """A few steps of plain SGD with your train_step, one per batch: how the hidden tests call it.

    Returns the losses train_step returned and the model's final weights."""
    def run(state, batches, teacher_forcing_ratio, coins, lr, max_norm):
        model = build_model(state)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        losses = [train_step(model, optimizer, as_tensors(b), teacher_forcing_ratio, as_tensors(c), max_norm)
                  for b, c in zip(batches, coins)]
        return losses, {k: v.detach().clone() for k, v in model.state_dict().items()}
    return run


def reversal_data(n, seed, min_len=3, max_len=7, n_symbols=10):
    """
    The task of the experiments: reverse a string of random symbols (ids 3 .. 3 + n_symbols - 1).

    Returns a dict of tensors: src (n, max_len) and src_mask; tgt_in (n, max_len + 1), <bos> then the
    reversed string; tgt_out, the reversed string then <eos>; tgt_mask, True on the tokens of tgt_out.
    """
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_len, max_len + 1, n)
    src = np.full((n, max_len), PAD)
    tgt_in = np.full((n, max_len + 1), PAD)
    tgt_out = np.full((n, max_len + 1), PAD)
    for i, length in enumerate(lengths):
        seq = rng.integers(3, 3 + n_symbols, length)
        src[i, :length] = seq
        tgt_in[i, 0], tgt_in[i, 1:length + 1] = BOS, seq[::-1]
        tgt_out[i, :length], tgt_out[i, length] = seq[::-1], EOS
    data = {"src": src, "src_mask": src != PAD, "tgt_in": tgt_in, "tgt_out": tgt_out,
            "tgt_mask": np.arange(max_len + 1)[None, :] <= lengths[:, None]}
    return {k: torch.from_numpy(v) for k, v in data.items()}


def small_model(seed=0):
    """A float64 Seq2Seq for the tests: vocabularies of 8 and 7 tokens, E = 3, H = 5."""
    torch.manual_seed(seed)
    return Seq2Seq(8, 7, 3, 5).double()

# %% [markdown]
# ## 0. Your loss of assignment 6
#
# Paste your `masked_cross_entropy(logits, targets, mask)` of assignment 6 into the next cell, in place of
# `# YOUR CODE HERE` and `raise NotImplementedError()`: the softmax cross-entropy of every step, summed over
# the steps where `mask` is `True` and averaged over the batch, as a scalar tensor. This cell earns no
# points: assignment 6 graded it. The visible tests and the experiments below run yours; the hidden tests
# give your `train_step` the course's own loss values and gradients, so a mistake left in assignment 6 is
# not charged again here.

# %% solution: loss_of_assignment_6
# Your masked_cross_entropy of assignment 6
#| paste seq2seq: masked_cross_entropy

# %% [markdown]
# ## 1. Decoding with a teacher-forcing ratio
#
# Run the decoder for the `T` steps of `tgt_in`, starting from the context. Step 0 reads `tgt_in[:, 0]`;
# each later step reads, example by example, the true token or the arg-max of the logits of the step
# before, following the coins. Keep every step's logits (the arg-max only chooses the next input: it does
# not replace the logits) and stack them. `torch.where` makes the choice for the whole batch at once.

# %% solution: decode_train
def decode_train(model, context, tgt_in, teacher_forcing_ratio, coins):
    """
    The decoder's logits over T steps, each step reading the true previous token or the model's own.

    Inputs:
    - model: a Seq2Seq (model.decode_step is used)
    - context: the encoder's context, (N, H); also the decoder's first state
    - tgt_in: <bos> then the target, int64 (N, T)
    - teacher_forcing_ratio: the probability of reading the true token, a number in [0, 1]
    - coins: uniform numbers in [0, 1), (N, T); at step t >= 1 example i reads tgt_in[i, t] where
      coins[i, t] < teacher_forcing_ratio, else the arg-max of its own logits at step t - 1

    Returns logits: scores of every step's next token, (N, T, V)
    """
    ### BEGIN SOLUTION
    h, y, steps = context, tgt_in[:, 0], []
    for t in range(tgt_in.shape[1]):
        if t > 0:
            prediction = steps[-1].argmax(dim=1)  # (N,)
            y = torch.where(coins[:, t] < teacher_forcing_ratio, tgt_in[:, t], prediction)
        step_logits, h = model.decode_step(y, context, h)
        steps.append(step_logits)
    logits = torch.stack(steps, dim=1)
    ### END SOLUTION
    return logits

# %% test: decode_train_step_inputs points=8
"""decode_train: shape, the two ends of the ratio, the coin rule, and one choice per example."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("decode_train", on_model(decode_train))
### END HIDDEN TESTS
model = small_model(0)
gen = torch.Generator().manual_seed(0)
N, T = 4, 5
context = torch.randn(N, 5, generator=gen, dtype=torch.float64).tanh()
tgt_in = torch.randint(3, 7, (N, T), generator=gen)
tgt_in[:, 0] = BOS
coins = torch.rand(N, T, generator=gen, dtype=torch.float64)
with torch.no_grad():
    logits = decode_train(model, context, tgt_in, 0.5, coins)
    assert logits.shape == (N, T, 7), f"logits should have shape (N, T, V) = {(N, T, 7)}, got {tuple(logits.shape)}"
    forced = decode_train(model, context, tgt_in, 1.0, coins)
    free = decode_train(model, context, tgt_in, 0.0, coins)
    # ratio 1 never looks at the coins; ratio 0 never looks at the true tokens after <bos>
    assert rel_error(decode_train(model, context, tgt_in, 1.0, coins.flip(0)), forced) < 1e-12, \
        "with ratio 1 every example reads the true tokens, whatever the coins"
    other = tgt_in.clone()
    other[:, 1:] = 6
    assert rel_error(decode_train(model, context, other, 0.0, coins), free) < 1e-12, \
        "ratio 0 reads tgt_in[:, 0] only; later inputs are the model's own predictions"
    assert rel_error(forced, free) > 1e-6, "teacher forcing and free running should give different logits here"
    # coins below the ratio choose the true token, coins above it the prediction
    assert rel_error(decode_train(model, context, tgt_in, 0.5, torch.full((N, T), 0.25)), forced) < 1e-12, \
        "coins below the ratio must choose the true tokens"
    assert rel_error(decode_train(model, context, tgt_in, 0.5, torch.full((N, T), 0.75)), free) < 1e-12, \
        "coins at or above the ratio must choose the model's own predictions"
    # each example follows its own coins: decoding it alone gives its row of the batch
    for i in range(N):
        alone = decode_train(model, context[i:i + 1], tgt_in[i:i + 1], 0.5, coins[i:i + 1])
        assert rel_error(alone, logits[i:i + 1]) < 1e-12, f"example {i} decoded alone differs from its row in the batch"
print("visible tests passed")

# %% [markdown]
# ## 2. One training step
#
# Write one optimisation step on a batch: reset the gradients, encode the sources, decode with
# `decode_train`, compute `masked_cross_entropy` against `tgt_out` and `tgt_mask`, backpropagate, clip the
# gradient's total norm to `max_norm` (`torch.nn.utils.clip_grad_norm_` over `model.parameters()`), and let
# the optimizer take its step. Return the loss as a Python number (`loss.item()`), the loss *before* the
# update. The gradient flows through the context into the encoder, so the whole model learns.

# %% solution: train_step
def train_step(model, optimizer, batch, teacher_forcing_ratio, coins, max_norm):
    """
    One optimisation step of the encoder-decoder with a teacher-forcing ratio.

    Inputs:
    - model: a Seq2Seq
    - optimizer: a torch optimizer over model.parameters()
    - batch: the training pairs, a dict of tensors src (N, S), src_mask (N, S), tgt_in (N, T),
      tgt_out (N, T), tgt_mask (N, T)
    - teacher_forcing_ratio, coins: as in decode_train
    - max_norm: the largest total gradient norm; larger gradients are scaled down to it

    Returns loss: the batch's loss before the update, a float
    """
    ### BEGIN SOLUTION
    optimizer.zero_grad()
    context = model.encode(batch["src"], batch["src_mask"])
    logits = decode_train(model, context, batch["tgt_in"], teacher_forcing_ratio, coins)
    loss = masked_cross_entropy(logits, batch["tgt_out"], batch["tgt_mask"])
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    loss = loss.item()
    ### END SOLUTION
    return loss

# %% test: train_step_update points=8
"""train_step: the loss of uniform logits, stale gradients ignored, clipping, and an encoder that learns."""
### BEGIN HIDDEN TESTS
from autograder.harness import check
check("train_step", with_sgd(train_step))
### END HIDDEN TESTS
data = reversal_data(6, seed=1, min_len=2, max_len=4, n_symbols=4)
batch, coins = data, torch.rand(6, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def weights(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


# an output layer of zeros gives uniform logits: log V per unmasked step
model = small_model(1)
with torch.no_grad():
    model.out.weight.zero_()
    model.out.bias.zero_()
loss = train_step(model, torch.optim.SGD(model.parameters(), lr=0.1), batch, 1.0, coins, 1.0)
assert isinstance(loss, float), f"train_step should return a float (loss.item()), got {type(loss).__name__}"
expected = batch["tgt_mask"].sum().item() / 6 * np.log(7)
assert rel_error(loss, expected) < 1e-12, f"uniform logits: expected the loss {expected:.6f}, got {loss:.6f}"
# gradients left over from before must not count, and the step must move the encoder too
fresh, stale = small_model(2), small_model(2)
for p in stale.parameters():
    p.grad = torch.ones_like(p)
for m in (fresh, stale):
    train_step(m, torch.optim.SGD(m.parameters(), lr=0.5), batch, 0.5, coins, 1.0)
assert rel_error(weights(fresh), weights(stale)) < 1e-12, "gradients left from an earlier step changed the update"
assert (fresh.encoder.weight_hh_l0 != small_model(2).encoder.weight_hh_l0).any(), "the encoder's weights did not move"
# with plain SGD and lr = 1 the update is minus the clipped gradient: its norm is at most max_norm
before, model = weights(small_model(3)), small_model(3)
train_step(model, torch.optim.SGD(model.parameters(), lr=1.0), batch, 0.5, coins, 1e-3)
step_norm = (weights(model) - before).norm().item()
assert step_norm < 1e-3 * (1 + 1e-9), \
    f"gradient not clipped to max_norm = 1e-3: update norm {step_norm:.3g}"
print("visible tests passed")

# %% [markdown]
# ## 3. Teacher forcing against free running
#
# The next cell trains three small models on the reversal task, each with your `train_step`: with
# teacher forcing (ratio 1), with half the inputs from the model itself (ratio 0.5), and free running
# (ratio 0). Everything else is the same: data, initial weights, optimizer (Adam), batches, number of
# steps. Every 50 steps it measures, on held-out strings, the loss with the true previous tokens fed in
# (teacher-forced loss), the loss with the model's own predictions fed in (free-running loss), and the
# fraction of strings that greedy decoding gets exactly right, `<eos>` included. It runs in about ten
# seconds.

# %% setup
def evaluate(model, data):
    """Teacher-forced loss, free-running loss and exact-match accuracy of greedy decoding on `data`."""
    with torch.no_grad():
        context = model.encode(data["src"], data["src_mask"])
        coins = torch.zeros(data["tgt_in"].shape)  # with ratio 1 or 0 the coins decide nothing
        forced = decode_train(model, context, data["tgt_in"], 1.0, coins)
        free = decode_train(model, context, data["tgt_in"], 0.0, coins)
        correct = ((free.argmax(dim=2) == data["tgt_out"]) | ~data["tgt_mask"]).all(dim=1)
        return (masked_cross_entropy(forced, data["tgt_out"], data["tgt_mask"]).item(),
                masked_cross_entropy(free, data["tgt_out"], data["tgt_mask"]).item(), correct.double().mean().item())


def train(ratio, train_data, val_data, steps=300, batch_size=64, lr=1e-2, max_norm=1.0, seed=0, eval_every=50):
    """Train a fresh model with train_step at one teacher-forcing ratio; returns the model and its history."""
    torch.manual_seed(seed)
    model = Seq2Seq(13, 13, 16, 64)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    history = {"loss": [], "step": [], "val_forced": [], "val_free": [], "val_exact": []}
    start = time.perf_counter()
    for step in range(1, steps + 1):
        idx = torch.randint(len(train_data["src"]), (batch_size,), generator=gen)
        batch = {k: v[idx] for k, v in train_data.items()}
        coins = torch.rand(batch["tgt_in"].shape, generator=gen)
        history["loss"].append(train_step(model, optimizer, batch, ratio, coins, max_norm))
        if step % eval_every == 0:
            for key, value in zip(("val_forced", "val_free", "val_exact"), evaluate(model, val_data)):
                history[key].append(value)
            history["step"].append(step)
    history["seconds"] = time.perf_counter() - start
    return model, history


train_data, val_data = reversal_data(4000, seed=0), reversal_data(500, seed=1)
histories = {ratio: train(ratio, train_data, val_data)[1] for ratio in (1.0, 0.5, 0.0)}

fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
for (ratio, h), color in zip(histories.items(), ("C0", "C1", "C2")):
    smooth = np.convolve(h["loss"], np.ones(10) / 10, mode="valid")
    axes[0].plot(np.arange(len(smooth)) + 10, smooth, color=color, label=f"ratio {ratio}")
    axes[1].plot(h["step"], h["val_forced"], color=color, label=f"ratio {ratio}, true tokens fed")
    axes[1].plot(h["step"], h["val_free"], color=color, linestyle="--", label=f"ratio {ratio}, own tokens fed")
    axes[2].plot(h["step"], h["val_exact"], color=color, marker="o", label=f"ratio {ratio}")
axes[0].set(title="training loss (10-step average)", xlabel="step", ylabel="loss per string")
axes[1].set(title="held-out loss", xlabel="step", ylabel="loss per string")
axes[2].set(title="held-out exact match, greedy decoding", xlabel="step", ylabel="fraction of strings")
for ax in axes:
    ax.legend(fontsize=7)
fig.tight_layout()
print("ratio | seconds | held-out loss, true tokens fed | own tokens fed | exact match")
for ratio, h in histories.items():
    print(f"{ratio:5} | {h['seconds']:7.1f} | {h['val_forced'][-1]:30.3f} | {h['val_free'][-1]:14.3f} | "
          f"{h['val_exact'][-1]:.3f}")

# %% [markdown]
# ## 4. What the curves say
#
# Answer in the cell below, in a few short paragraphs. Compare the three regimes from your plots and table.
# Which one lowers the loss fastest, and why? For each model, how far apart are its held-out losses with
# the true tokens fed and with its own tokens fed, and what does that gap tell you about exposure bias?
# Which model decodes best at the end, and would you expect that to hold with longer training or longer
# strings? Finally, compare the cost: here every regime runs `decode_train` step by step, but which of
# them could run the decoder over all steps at once, and why can the others not?

# %% [markdown] answer: teacher_forcing_interpretation points=4
# **Speed of learning.** Teacher forcing (ratio 1) lowers the training loss fastest, and its held-out loss
# with the true tokens fed stays the lowest. Every step of every example learns from a correct prefix from
# the first update on, so the gradient says plainly "after these tokens comes that one". A free-running model
# starts by reading its own, mostly wrong, tokens: at first it has to predict the right next token after a
# wrong history, which is a harder and noisier problem, and its early updates teach it little. Ratio 0.5
# lies in between.
#
# **Exposure bias.** The gap between a model's two held-out losses measures it. The teacher-forced model's
# loss roughly triples when it reads its own tokens (about 1.4 against 4.2 in my run): it never saw its
# own mistakes in training, so after its first wrong token it is in prefixes it does not know and keeps
# being wrong, confidently. The gap shrinks as the ratio falls (about 1.3 at ratio 0.5, 0.6 at ratio 0): the
# free-running model is evaluated in the very conditions it was trained in, and has learned to recover
# from its own errors to some extent.
#
# **Which decodes best.** Still the teacher-forced one (about 0.67 exact match against 0.59): a string
# counts only if every token is right, and a model that makes no error never meets the mismatch, so on
# short strings and a short budget the faster learning wins over the exposure bias. With longer strings
# (more chances for a first error, and more steps after it) or a harder task the bias weighs more, and with
# longer training the slower regimes catch up; a common compromise is to start near ratio 1 and lower it
# (scheduled sampling does this with sampled tokens), getting the fast start and then training on the
# model's own prefixes.
#
# **Cost.** Every run took about the same time here, because `decode_train` goes step by step in every
# regime. But with ratio 1 all the decoder's inputs are known before it runs (they are `tgt_in`), so the
# decoder can process all T steps in one call (`nn.GRU` over the whole sequence, the output layer and the
# loss on all steps at once), which is much faster, on a GPU especially. With a ratio below 1 the input of
# step t is the arg-max of step t - 1, which does not exist until that step has run: the steps must follow
# one another, and the arg-max between them is a sequential, non-differentiable choice.
