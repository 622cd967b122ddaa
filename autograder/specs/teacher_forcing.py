"""Hidden checks of assignment 7 (teacher_forcing): the decoder's training loop with a teacher-forcing
ratio, and one optimisation step.

The notebook's functions take a torch model (its setup cell defines the class: an embedding, an
nn.GRU encoder, an nn.GRUCell decoder fed [embedding, context], a linear output). Hidden cases are
plain data: the model's weights as a dict of numpy arrays named as in the notebook model's
state_dict, then tensors as numpy arrays. The notebook's hidden cells build the model from them
(`on_model`) or run a few SGD steps with the student's train_step (`with_sgd`); the judge runs the
reference the same way on solutions.seq2seq.Seq2Seq holding the same weights, seen through
`NotebookModel`, which gives it the notebook model's encode and decode_step. A mistake made in
decode_train also reaches train_step, which calls it: the train_step check lists it too.
"""
from functools import partial

import numpy as np
import torch
from torch import nn

from autograder.judge import lifted, spec, uncharged, variant_mistake
from autograder.specs.common import as_tensors, normal
from solutions import seq2seq as ref

# the notebook model's state_dict keys -> solutions.seq2seq.Seq2Seq's (its decoder is an nn.GRU of one layer)
KEYS = {
    "src_emb.weight": "src_emb.weight",
    "encoder.weight_ih_l0": "encoder.weight_ih_l0", "encoder.weight_hh_l0": "encoder.weight_hh_l0",
    "encoder.bias_ih_l0": "encoder.bias_ih_l0", "encoder.bias_hh_l0": "encoder.bias_hh_l0",
    "tgt_emb.weight": "tgt_emb.weight",
    "decoder.weight_ih": "decoder.weight_ih_l0", "decoder.weight_hh": "decoder.weight_hh_l0",
    "decoder.bias_ih": "decoder.bias_ih_l0", "decoder.bias_hh": "decoder.bias_hh_l0",
    "out.weight": "out.weight", "out.bias": "out.bias",
}


class NotebookModel(nn.Module):
    """solutions.seq2seq.Seq2Seq (float64) with the notebook model's interface and weights."""

    def __init__(self, state):
        super().__init__()
        state = {k: torch.as_tensor(np.asarray(v, dtype=np.float64)) for k, v in state.items()}
        Vs, E = state["src_emb.weight"].shape
        Vt, H = state["out.weight"].shape
        with torch.random.fork_rng(devices=[]):  # the random init must not move the kernel's random state
            self.seq2seq = ref.Seq2Seq(Vs, Vt, E, H).double()
        self.seq2seq.load_state_dict({KEYS[k]: v for k, v in state.items()})

    def encode(self, src, src_mask):
        return self.seq2seq.encode(src, src_mask)[-1]

    def decode_step(self, y_prev, context, h):
        logits, h = self.seq2seq.decode_step(y_prev, context, h[None])
        return logits, h[0]

    def notebook_state(self):
        own = self.seq2seq.state_dict()
        return {k: own[v].detach().clone() for k, v in KEYS.items()}

    def parameter_names(self):
        """{the notebook model's name of a weight: this model's parameter}."""
        own = dict(self.seq2seq.named_parameters())
        return {k: own[v] for k, v in KEYS.items()}


def masked_cross_entropy(logits, targets, mask):
    """The loss the notebook's setup cell gives (the reference's, summed over steps, averaged over the batch)."""
    return ref.masked_cross_entropy(logits, targets, mask)


def decode_train(model, context, tgt_in, teacher_forcing_ratio, coins):
    """The reference: at step t > 0 each example reads tgt_in[:, t] where coins[:, t] < ratio, else the
    arg-max of its own logits at step t - 1; step 0 reads tgt_in[:, 0]."""
    h, y, steps = context, tgt_in[:, 0], []
    for t in range(tgt_in.shape[1]):
        if t > 0:
            y = torch.where(coins[:, t] < teacher_forcing_ratio, tgt_in[:, t], steps[-1].argmax(dim=1))
        logits, h = model.decode_step(y, context, h)
        steps.append(logits)
    return torch.stack(steps, dim=1)


def train_step(model, optimizer, batch, teacher_forcing_ratio, coins, max_norm, decode=None, loss_fn=None):
    """The reference step; `decode` replaces decode_train, to show a mistake made there, and `loss_fn`
    replaces masked_cross_entropy (the grader's record of it)."""
    optimizer.zero_grad()
    context = model.encode(batch["src"], batch["src_mask"])
    logits = (decode or decode_train)(model, context, batch["tgt_in"], teacher_forcing_ratio, coins)
    loss = (loss_fn or masked_cross_entropy)(logits, batch["tgt_out"], batch["tgt_mask"])
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    return loss.item()


def with_model(fn):
    """fn(model, *tensors) judged on a case (state, *arrays), as the notebook's on_model does."""
    def wrapper(state, *args):
        return fn(NotebookModel(state), *as_tensors(args))
    return wrapper


def with_sgd(step_fn):
    """A few SGD steps with step_fn, as the notebook's with_sgd runs them: returns (losses, final state)."""
    def run(state, batches, teacher_forcing_ratio, coins, lr, max_norm):
        model = NotebookModel(state)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        losses = [step_fn(model, optimizer, as_tensors(b), teacher_forcing_ratio, as_tensors(c), max_norm)
                  for b, c in zip(batches, coins)]
        return losses, model.notebook_state()
    return run


# ---------------------------------------------------------------------------- variants (as submissions)


def decode_train_variant(model, context, tgt_in, teacher_forcing_ratio, coins, bug=None):
    """decode_train with one of the catalogued mistakes switched on."""
    N, T = tgt_in.shape
    h, y, steps = context, tgt_in[:, 0], []
    for t in range(T):
        if t > 0:
            pred = steps[-1].argmax(dim=1)
            coin = coins[:, t]
            if bug == "one_coin_per_batch":
                coin = coins[:1, t].expand(N)
            use_true = coin >= teacher_forcing_ratio if bug == "coin_inverted" else coin < teacher_forcing_ratio
            if bug == "off_by_one":
                use_true = coins[:, t - 1] < teacher_forcing_ratio
                y = torch.where(use_true, tgt_in[:, t - 1], pred)
            else:
                y = torch.where(use_true, tgt_in[:, t], pred)
        logits, h_next = model.decode_step(y, context, h)
        if bug != "state_not_carried":
            h = h_next
        steps.append(logits)
    return torch.stack(steps, dim=1)


def train_step_variant(model, optimizer, batch, teacher_forcing_ratio, coins, max_norm, bug=None):
    """train_step with one of the catalogued mistakes switched on."""
    if bug != "no_zero_grad":
        optimizer.zero_grad()
    context = model.encode(batch["src"], batch["src_mask"])
    if bug == "context_detached":
        context = context.detach()
    logits = decode_train(model, context, batch["tgt_in"], teacher_forcing_ratio, coins)
    loss = masked_cross_entropy(logits, batch["tgt_out"], batch["tgt_mask"])
    loss.backward()
    if bug != "no_clip":
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    return loss.item()


def _decode(bug, message):
    return variant_mistake(f"tf_decode_{bug}", message, decode_train_variant, bug, "teacher_forcing", "decode_train",
                           "decode_train", "model, context, tgt_in, teacher_forcing_ratio, coins")


def _step(bug, message):
    return variant_mistake(f"tf_step_{bug}", message, train_step_variant, bug, "teacher_forcing", "train_step",
                           "train_step", "model, optimizer, batch, teacher_forcing_ratio, coins, max_norm")


DECODE_MISTAKES = [
    _decode("coin_inverted", "the coin rule is inverted: an example reads the true token where its coin is "
            "below the ratio (coins[:, t] < teacher_forcing_ratio), so that ratio 1 is pure teacher forcing and "
            "ratio 0 pure free running."),
    _decode("one_coin_per_batch", "one coin decides for the whole batch: every example has its own coin, "
            "coins[:, t], and makes its own choice between the true token and its own prediction."),
    _decode("off_by_one", "the inputs are one step late: step t reads either the true token tgt_in[:, t] or the "
            "arg-max of the logits of step t - 1, chosen by coins[:, t]; the decoder was fed the token it had "
            "just read (tgt_in[:, t - 1])."),
    _decode("state_not_carried", "the decoder's state is not carried from step to step: feed each step the "
            "state returned by the previous one (only step 0 starts from the context)."),
]
STEP_MISTAKES = [
    _step("no_zero_grad", "the gradients are not reset: call optimizer.zero_grad() before loss.backward(), or "
          "each step adds its gradient to those of all the earlier steps."),
    _step("no_clip", "the gradient is not clipped: call torch.nn.utils.clip_grad_norm_(model.parameters(), "
          "max_norm) between loss.backward() and optimizer.step()."),
    _step("context_detached", "the encoder is not trained: the context was detached from the graph, so no "
          "gradient reaches the encoder's weights; the loss must backpropagate through the context."),
]


def _on_model(m):
    return lifted(m, with_model)


def _through_step(m):
    return lifted(m, lambda fn: with_sgd(partial(train_step, decode=fn)), "(in decode_train) ")


# ---------------------------------------------------------------------------- cases


def sizes(rng):
    """(label, N, S, T, E, H, Vs, Vt): two random sizes and the edges N = 1, S = 1, T = 1 (no choice to make), H = 1."""
    def r(lo, hi):
        return int(rng.integers(lo, hi + 1))

    shapes = [(r(3, 5), r(3, 5), r(4, 6), r(2, 4), r(3, 5)), (r(3, 5), r(2, 5), r(3, 6), r(2, 4), r(2, 5)),
              (1, r(2, 5), r(3, 6), r(2, 4), r(2, 5)), (r(3, 4), 1, r(3, 5), r(2, 4), r(2, 4)),
              (r(2, 4), r(2, 4), 1, r(2, 4), r(2, 4)), (r(3, 4), r(2, 4), r(3, 5), r(1, 3), 1)]
    out = []
    for N, S, T, E, H in shapes:
        Vs, Vt = r(4, 8), r(4, 8)
        out.append((f"N={N}, S={S}, T={T}, E={E}, H={H}, Vs={Vs}, Vt={Vt}", N, S, T, E, H, Vs, Vt))
    return out


def model_state(rng, Vs, Vt, E, H):
    """Weights of the notebook model, named as in its state_dict, at scales that make varied predictions."""
    def u(*shape, fan):
        return normal(rng, *shape, scale=1.0 / np.sqrt(fan))
    return {
        "src_emb.weight": normal(rng, Vs, E), "tgt_emb.weight": normal(rng, Vt, E),
        "encoder.weight_ih_l0": u(3 * H, E, fan=E), "encoder.weight_hh_l0": u(3 * H, H, fan=H),
        "encoder.bias_ih_l0": normal(rng, 3 * H, scale=0.3), "encoder.bias_hh_l0": normal(rng, 3 * H, scale=0.3),
        "decoder.weight_ih": u(3 * H, E + H, fan=E + H), "decoder.weight_hh": u(3 * H, H, fan=H),
        "decoder.bias_ih": normal(rng, 3 * H, scale=0.3), "decoder.bias_hh": normal(rng, 3 * H, scale=0.3),
        "out.weight": normal(rng, Vt, H, scale=2.0 / np.sqrt(H)), "out.bias": normal(rng, Vt, scale=0.5),
    }


def target_inputs(rng, N, T, V):
    """tgt_in (N, T): <bos> (1) then tokens in [2, V)."""
    tgt_in = rng.integers(2, V, (N, T)).astype(np.int64)
    tgt_in[:, 0] = 1
    return tgt_in


def batch(rng, N, S, T, Vs, Vt):
    """A training batch of arrays: right-padded sources and targets, tgt_out = tgt_in shifted, then <eos>."""
    src_len = rng.integers(1, S + 1, N)
    src_len[rng.integers(N)] = S
    src_mask = np.arange(S)[None, :] < src_len[:, None]
    src = np.where(src_mask, rng.integers(3, Vs, (N, S)), 0).astype(np.int64)
    tgt_len = rng.integers(1, T + 1, N)  # tokens in tgt_out, <eos> included
    tgt_len[rng.integers(N)] = T
    tgt_mask = np.arange(T)[None, :] < tgt_len[:, None]
    body = rng.integers(3, Vt, (N, T))
    tgt_out = np.where(np.arange(T)[None, :] < tgt_len[:, None] - 1, body, 0)
    tgt_out[np.arange(N), tgt_len - 1] = 2
    tgt_in = np.concatenate([np.ones((N, 1), np.int64), np.where(tgt_mask, tgt_out, 0)[:, :-1]], axis=1)
    tgt_in = np.where(tgt_in == 2, 0, tgt_in)  # <eos> is never an input: it becomes <pad>
    return {"src": src, "src_mask": src_mask, "tgt_in": tgt_in.astype(np.int64), "tgt_out": tgt_out.astype(np.int64),
            "tgt_mask": tgt_mask}


RATIOS = (0.5, 1.0, 0.0)


# ---------------------------------------------------------------------------- the checks


@spec("decode_train", "decode_train", "call", with_model(decode_train), outputs=("logits",), probes=False,
      mistakes=[_on_model(m) for m in DECODE_MISTAKES], stock=decode_train)
def _(rng):
    cases = []
    for i, (_, N, _, T, E, H, Vs, Vt) in enumerate(sizes(rng)):
        ratio = float(rng.uniform(0.3, 0.7)) if i >= len(RATIOS) else RATIOS[i]
        args = (model_state(rng, Vs, Vt, E, H), np.tanh(normal(rng, N, H)), target_inputs(rng, N, T, Vt), ratio,
                rng.random((N, T)))
        cases.append({"args": args, "label": f"N={N}, T={T}, E={E}, H={H}, V={Vt}, ratio {ratio:.3g}"})
    # the two ends of the scale, on a larger batch
    for ratio in (1.0, 0.0):
        N, T, E, H, V = 4, 5, 3, 4, 6
        args = (model_state(rng, 5, V, E, H), np.tanh(normal(rng, N, H)), target_inputs(rng, N, T, V), ratio,
                rng.random((N, T)))
        cases.append({"args": args, "label": f"N={N}, T={T}, E={E}, H={H}, V={V}, ratio {ratio:.3g}"})
    return cases


@spec("train_step", "train_step", "call", with_sgd(train_step), outputs=("losses", "state"), probes=False, rounds=1,
      mistakes=[lifted(m, with_sgd) for m in STEP_MISTAKES] + uncharged([_through_step(m) for m in DECODE_MISTAKES]),
      parts=("decode_train",), given=("masked_cross_entropy",),
      build=lambda record: (with_sgd(partial(
          train_step, decode=record("decode_train", decode_train, gradients=True),
          loss_fn=record("masked_cross_entropy", masked_cross_entropy, gradients=True))), {}))
def _(rng):
    cases = []
    for i, (label, N, S, T, E, H, Vs, Vt) in enumerate(sizes(rng)):
        ratio = float(rng.uniform(0.3, 0.7)) if i >= len(RATIOS) else RATIOS[i]
        steps = 3 if i % 2 else 2
        max_norm = 50.0 if i == 2 else float(rng.uniform(0.2, 1.0))  # one case where clipping does nothing
        lr = float(rng.uniform(0.2, 0.5))
        batches = [batch(rng, N, S, T, Vs, Vt) for _ in range(steps)]
        coins = [rng.random((N, T)) for _ in range(steps)]
        cases.append({"args": (model_state(rng, Vs, Vt, E, H), batches, ratio, coins, lr, max_norm),
                      "label": f"{label}, ratio {ratio:.3g}, {steps} steps, lr {lr:.3g}, max_norm {max_norm:.3g}"})
    return cases
