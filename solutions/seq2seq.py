"""A GRU encoder-decoder in torch: the model, the masked loss, teacher forcing, greedy and beam decoding, training.

Backs the chapter "Sequence to sequence" (and the decoding half of "Search"). The encoder reads the
source and its final hidden state is the context vector; the decoder starts from the context and,
when feed_context is set, sees it again at every step next to the previous token's embedding.
Decoding for one sentence goes through solutions.search via PrefixDecoder; batched decoders on
tensors serve fast evaluation. train_dates_model is the configuration the chapter trains.
"""
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from solutions._checks import positive_int
from solutions.data import date_splits, date_vocabs, encode_pairs
from solutions.search import Hypothesis, beam_search, greedy_search, length_normalized, rank_walk

BATCH_KEYS = ("src", "src_mask", "tgt_in", "tgt_out", "tgt_mask")


def default_device():
    """CUDA when it is available, the CPU otherwise."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Seq2Seq(nn.Module):
    """
    GRU encoder-decoder with a context vector.

    Inputs (constructor):
    - src_vocab_size, tgt_vocab_size: V_src and V, the two vocabulary sizes
    - emb_dim: D, the size of the token embeddings
    - hidden_dim: H, the GRUs' hidden size
    - num_layers: L, stacked GRU layers (the decoder starts from the encoder's final state of every
      layer; the context fed to the decoder is the top layer's)
    - feed_context: concatenate the context to the decoder's input at every step
    - pad_id, bos_id, eos_id: the special ids of both vocabularies (solutions.data.Vocab's 0, 1, 2)
    """

    def __init__(self, src_vocab_size, tgt_vocab_size, emb_dim, hidden_dim, num_layers=1,
                 feed_context=True, pad_id=0, bos_id=1, eos_id=2):
        super().__init__()
        for name, n in (("src_vocab_size", src_vocab_size), ("tgt_vocab_size", tgt_vocab_size),
                        ("emb_dim", emb_dim), ("hidden_dim", hidden_dim), ("num_layers", num_layers)):
            positive_int(name, n)
        for name, i in (("pad_id", pad_id), ("bos_id", bos_id), ("eos_id", eos_id)):
            if not 0 <= i < min(src_vocab_size, tgt_vocab_size):
                raise ValueError(f"{name} must be an id of both vocabularies, got {i!r}")
        self.pad_id, self.bos_id, self.eos_id = int(pad_id), int(bos_id), int(eos_id)
        self.feed_context = bool(feed_context)
        self.src_emb = nn.Embedding(src_vocab_size, emb_dim, padding_idx=pad_id)
        self.encoder = nn.GRU(emb_dim, hidden_dim, num_layers, batch_first=True)
        self.tgt_emb = nn.Embedding(tgt_vocab_size, emb_dim, padding_idx=pad_id)
        self.decoder = nn.GRU(emb_dim + hidden_dim * self.feed_context, hidden_dim, num_layers, batch_first=True)
        self.out = nn.Linear(hidden_dim, tgt_vocab_size)

    def encode(self, src, src_mask):
        """
        Run the encoder over right-padded sources; padded steps never touch the state.

        Inputs:
        - src: source ids, (N, S)
        - src_mask: bools, (N, S), True on real tokens: a prefix of every row, at least one

        Returns h: the encoder's final hidden states, (L, N, H); the context vector is h[-1].
        """
        if src.shape != src_mask.shape or src.dim() != 2:
            raise ValueError(f"src and src_mask must both be (N, S), got {tuple(src.shape)} "
                             f"and {tuple(src_mask.shape)}")
        lengths = src_mask.sum(1)  # (N,)
        if (lengths < 1).any():
            raise ValueError("src_mask: every source needs at least one token")
        steps = torch.arange(src.shape[1], device=src.device)
        if not torch.equal(src_mask.bool(), steps[None, :] < lengths[:, None]):
            raise ValueError("src_mask must mark a prefix of every row (right padding)")
        emb = self.src_emb(src)  # (N, S, D)
        packed = pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h = self.encoder(packed)  # (L, N, H), rows back in the input order
        return h

    def _decoder_input(self, y, context):
        """Embeddings of the tokens y (N, T), with the context (N, H) appended: (N, T, D [+ H])."""
        e = self.tgt_emb(y)  # (N, T, D)
        if self.feed_context:
            e = torch.cat([e, context[:, None, :].expand(-1, y.shape[1], -1)], dim=2)  # (N, T, D + H)
        return e

    def decode_step(self, y_prev, context, h):
        """
        One decoder step.

        Inputs:
        - y_prev: the previous tokens, (N,)
        - context: (N, H)
        - h: the decoder state, (L, N, H)

        Returns a tuple of:
        - logits: (N, V)
        - h: the new state, (L, N, H)
        """
        out, h = self.decoder(self._decoder_input(y_prev[:, None], context), h)  # out: (N, 1, H)
        return self.out(out[:, 0]), h

    def forward(self, src, src_mask, tgt_in, teacher_forcing_ratio=1.0, generator=None):
        """
        Decoder logits for every target step, with teacher forcing or scheduled sampling.

        The first decoder input is tgt_in[:, 0] (<bos>). At every later step each example's input
        is, with probability teacher_forcing_ratio, the true previous token tgt_in[:, t], and
        otherwise the model's own arg-max prediction at the previous step. Ratio 1 is teacher
        forcing (one batched GRU call), ratio 0 is free running (no coins are drawn).

        Inputs:
        - src: (N, S); src_mask: (N, S)
        - tgt_in: decoder inputs, <bos> then the target, (N, T)
        - teacher_forcing_ratio: a probability
        - generator: a CPU torch.Generator for the coin flips; None uses torch's global one

        Returns logits: (N, T, V)
        """
        if not 0.0 <= teacher_forcing_ratio <= 1.0:
            raise ValueError(f"teacher_forcing_ratio must be in [0, 1], got {teacher_forcing_ratio!r}")
        h = self.encode(src, src_mask)  # (L, N, H)
        context = h[-1]  # (N, H)
        if teacher_forcing_ratio == 1.0:
            out, _ = self.decoder(self._decoder_input(tgt_in, context), h)  # (N, T, H)
            return self.out(out)  # (N, T, V)
        N, T = tgt_in.shape
        logits, y = [], tgt_in[:, 0]  # (N,)
        for t in range(T):
            if t > 0:
                pred = logits[-1].argmax(-1)  # (N,) the model's previous guess
                if teacher_forcing_ratio == 0.0:
                    y = pred
                else:
                    coin = torch.rand(N, generator=generator) < teacher_forcing_ratio  # (N,) on the CPU
                    y = torch.where(coin.to(tgt_in.device), tgt_in[:, t], pred)
            step_logits, h = self.decode_step(y, context, h)  # (N, V)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)  # (N, T, V)


def masked_cross_entropy(logits, targets, mask, per_token=False):
    """
    Softmax cross-entropy summed over the unmasked steps and averaged over the batch.

    Inputs:
    - logits: (N, T, V)
    - targets: int ids, (N, T)
    - mask: bools, (N, T); False steps add nothing
    - per_token: divide by the number of unmasked steps instead of by N

    Returns a scalar tensor.
    """
    N, T, V = logits.shape
    ce = F.cross_entropy(logits.reshape(N * T, V), targets.reshape(N * T), reduction="none").view(N, T)
    ce = ce * mask  # (N, T)
    return ce.sum() / (mask.sum().clamp(min=1) if per_token else N)


class PrefixDecoder:
    """
    The model for one source sentence as solutions.search wants it: next_logprobs(prefix).

    The decoder state after each prefix is cached, so a prefix whose parent was asked for before
    costs one decoder step; `calls` counts decoder steps run, `requests` calls of next_logprobs.
    """

    def __init__(self, model, src):
        """
        Inputs:
        - model: a Seq2Seq
        - src: the source ids, (S,), without padding
        """
        self.model = model
        device = next(model.parameters()).device
        src = torch.as_tensor(src, dtype=torch.long, device=device).reshape(1, -1)  # (1, S)
        with torch.no_grad():
            self._h0 = model.encode(src, torch.ones_like(src, dtype=torch.bool))  # (L, 1, H)
        self._context = self._h0[-1]  # (1, H)
        self._cache = {}  # prefix -> (state after reading <bos> + prefix, (V,) log-probabilities)
        self.calls = 0
        self.requests = 0

    def _entry(self, prefix):
        if prefix not in self._cache:
            h = self._entry(prefix[:-1])[0] if prefix else self._h0
            y = prefix[-1] if prefix else self.model.bos_id
            y = torch.tensor([y], device=self._context.device)
            with torch.no_grad():
                logits, h = self.model.decode_step(y, self._context, h)  # (1, V)
            logprobs = F.log_softmax(logits[0], dim=-1).double().cpu().numpy()  # (V,)
            logprobs.flags.writeable = False
            self._cache[prefix] = (h, logprobs)
            self.calls += 1
        return self._cache[prefix]

    @property
    def prefixes(self):
        """The prefixes whose decoder states are cached, in the order they were computed."""
        return list(self._cache)

    def next_logprobs(self, prefix):
        """(V,) float64 log-probabilities of the next token after the tuple `prefix` (no <bos>)."""
        self.requests += 1
        return self._entry(tuple(int(v) for v in prefix))[1]


def greedy_decode(model, src, max_len):
    """solutions.search.greedy_search on one source, (S,) ids; returns a Hypothesis."""
    return greedy_search(PrefixDecoder(model, src).next_logprobs, model.eos_id, max_len)


def beam_decode(model, src, beam_width, max_len, n_best=1, length_penalty=0.0):
    """solutions.search.beam_search on one source, (S,) ids; returns a list of Hypothesis, best first."""
    return beam_search(PrefixDecoder(model, src).next_logprobs, model.eos_id, max_len, beam_width, n_best,
                       length_penalty)


@torch.no_grad()
def greedy_decode_batch(model, src, src_mask, max_len):
    """
    Greedy decoding of a whole batch at once (arg-max, lowest id on a tie, until <eos>).

    Inputs:
    - model: a Seq2Seq
    - src: (N, S); src_mask: (N, S)
    - max_len: the most tokens per output, <eos> included

    Returns a tuple of:
    - tokens: int64, (N, max_len): each output, then model.pad_id after its <eos>
    - logprob: (N,), the sum of the chosen tokens' log-probabilities
    """
    max_len = positive_int("max_len", max_len)
    h = model.encode(src, src_mask)  # (L, N, H)
    context, N = h[-1], src.shape[0]  # (N, H)
    y = torch.full((N,), model.bos_id, dtype=torch.long, device=src.device)  # (N,)
    tokens = torch.full((N, max_len), model.pad_id, dtype=torch.long, device=src.device)  # (N, max_len)
    logprob = torch.zeros(N, dtype=context.dtype, device=src.device)  # (N,)
    done = torch.zeros(N, dtype=torch.bool, device=src.device)  # (N,)
    for t in range(max_len):
        logits, h = model.decode_step(y, context, h)  # (N, V)
        lp = F.log_softmax(logits, dim=-1)  # (N, V)
        y = lp.argmax(-1)  # (N,), the first maximum on a tie
        tokens[:, t] = torch.where(done, model.pad_id, y)
        logprob += torch.where(done, 0.0, lp.gather(1, y[:, None])[:, 0])
        done |= y == model.eos_id
        if done.all():
            break
    return tokens, logprob


@torch.no_grad()
def beam_decode_batch(model, src, src_mask, beam_width, max_len, n_best=1, length_penalty=0.0):
    """
    Beam search for a whole batch with the rules of solutions.search.beam_search, so each result
    equals beam_decode's; every step is one decoder call over all alive hypotheses of all sources.

    Inputs:
    - model: a Seq2Seq
    - src: (N, S); src_mask: (N, S)
    - beam_width: K; max_len, n_best, length_penalty: as in beam_search

    Returns a list of N lists of at most n_best Hypothesis objects, best score first.
    """
    beam_width, max_len, n_best = (positive_int(k, v) for k, v in
                                   (("beam_width", beam_width), ("max_len", max_len), ("n_best", n_best)))
    h = model.encode(src, src_mask)  # (L, N, H)
    context, N, eos = h[-1], src.shape[0], model.eos_id  # (N, H)
    alive = [[((), 0.0, i)] for i in range(N)]  # per source: (tokens, logprob, row of h)
    finished = [[] for _ in range(N)]
    active = list(range(N))  # sources whose search goes on
    for _ in range(max_len):
        rows = [(i, tokens, logprob, r) for i in active for tokens, logprob, r in alive[i]]  # M rows
        src_row = torch.tensor([i for i, _, _, _ in rows], device=src.device)  # (M,)
        y = torch.tensor([tokens[-1] if tokens else model.bos_id for _, tokens, _, _ in rows], device=src.device)
        state = h[:, torch.tensor([r for _, _, _, r in rows], device=src.device)]  # (L, M, H)
        logits, h = model.decode_step(y, context[src_row], state)  # (M, V), h: (L, M, H)
        lp = F.log_softmax(logits, dim=-1).double().cpu().numpy()  # (M, V)
        V, still, parents = lp.shape[1], [], {i: [] for i in active}
        for m, (i, tokens, logprob, _) in enumerate(rows):
            parents[i].append((m, tokens, logprob))
        for i in active:
            candidates = [(logprob + lp[m, v], tokens + (v,), m) for m, tokens, logprob in parents[i]
                          for v in range(V)]
            kept, ended = rank_walk(candidates, eos, beam_width)
            alive[i] = [(tokens, logprob, m) for logprob, tokens, m in kept]
            finished[i] += [(tokens, logprob, True) for logprob, tokens, _ in ended]
            if len(finished[i]) < n_best and alive[i]:
                still.append(i)
        active = still
        if not active:
            break
    results, active = [], set(active)  # the sources still active ran all max_len steps
    for i in range(N):
        pool = finished[i] + ([(t, lp_, False) for t, lp_, _ in alive[i]] if i in active else [])
        hyps = [Hypothesis(t, float(lp_), length_normalized(lp_, len(t), length_penalty), f) for t, lp_, f in pool]
        results.append(sorted(hyps, key=lambda hy: (-hy.score, hy.tokens))[:n_best])
    return results


def as_tensors(data, device=None):
    """The arrays of an encode_pairs dict as torch tensors (ids long, masks bool) on `device`."""
    missing = [k for k in BATCH_KEYS if k not in data]
    if missing:
        raise ValueError(f"data is missing the keys {missing}")
    out = {}
    for k in BATCH_KEYS:
        dtype = torch.bool if k.endswith("mask") else torch.long
        out[k] = torch.as_tensor(np.asarray(data[k]) if not torch.is_tensor(data[k]) else data[k], dtype=dtype,
                                 device=device)
    return out


def exact_match_accuracy(model, data, batch_size=1024):
    """
    The fraction of sequences whose greedy decoding is exactly the target, <eos> included.

    Inputs:
    - model: a Seq2Seq
    - data: a dict of arrays or tensors with src, src_mask, tgt_out, tgt_mask (as from encode_pairs)
    - batch_size: how many sequences to decode at once

    Returns a float in [0, 1].
    """
    device = next(model.parameters()).device
    data = as_tensors(data, device)
    was_training, correct = model.training, 0
    model.eval()
    N, T = data["tgt_out"].shape
    for a in range(0, N, batch_size):
        b = slice(a, a + batch_size)
        tokens, _ = greedy_decode_batch(model, data["src"][b], data["src_mask"][b], T)  # (n, T)
        ok = (tokens == data["tgt_out"][b]) | ~data["tgt_mask"][b]  # (n, T)
        correct += int(ok.all(1).sum())
    model.train(was_training)
    return correct / N


def train(model, data, val_data=None, *, steps=1000, epochs=None, batch_size=64, lr=3e-3, lr_final=None,
          teacher_forcing_ratio=1.0, clip=1.0, seed=0, eval_every=100, target_accuracy=None, callback=None):
    """
    Train with Adam on the masked cross-entropy, batches drawn by reshuffling every epoch.

    Inputs:
    - model: a Seq2Seq, trained in place on its own device
    - data: dict of arrays or tensors with src, src_mask, tgt_in, tgt_out, tgt_mask
    - val_data: the same for held-out data; its exact-match accuracy goes into the history
    - steps: how many parameter updates
    - epochs: if given, replaces steps by epochs * (n // batch_size) for n training pairs (each
      epoch is a new shuffle; its last incomplete batch is left out)
    - batch_size: N per update
    - lr: Adam's learning rate; lr_final, if given, the rate reached by a cosine decay at the end
    - teacher_forcing_ratio: a number, or a function step -> ratio (scheduled sampling)
    - clip: the largest gradient norm (None for no clipping)
    - seed: seeds torch and the generator of shuffles and coin flips
    - eval_every: steps between validations (there is always one at the end)
    - target_accuracy: stop once the validation accuracy reaches it
    - callback: called as callback(step, history) after every step

    Returns a dict of lists: step, loss (per batch), val_step, val_accuracy, time (seconds at each
    validation).
    """
    batch_size = positive_int("batch_size", batch_size)
    device = next(model.parameters()).device
    data = as_tensors(data, device)
    n = data["src"].shape[0]
    if epochs is not None:
        steps = positive_int("epochs", epochs) * max(1, n // batch_size)
    steps = positive_int("steps", steps)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = {"step": [], "loss": [], "val_step": [], "val_accuracy": [], "time": []}
    ratio_at = teacher_forcing_ratio if callable(teacher_forcing_ratio) else (lambda step: teacher_forcing_ratio)
    perm, pos, start = torch.randperm(n, generator=gen), 0, time.perf_counter()
    model.train()
    for step in range(1, steps + 1):
        if pos + batch_size > n:  # a new epoch, reshuffled
            perm, pos = torch.randperm(n, generator=gen), 0
        idx = perm[pos:pos + batch_size].to(device)
        pos += batch_size
        S = int(data["src_mask"][idx].sum(1).max())  # longest source in the batch
        b = {k: v[idx] for k, v in data.items()}
        if lr_final is not None:
            for g in opt.param_groups:
                g["lr"] = lr_final + 0.5 * (lr - lr_final) * (1 + np.cos(np.pi * (step - 1) / steps))
        logits = model(b["src"][:, :S], b["src_mask"][:, :S], b["tgt_in"], float(ratio_at(step)), gen)  # (N, T, V)
        loss = masked_cross_entropy(logits, b["tgt_out"], b["tgt_mask"])
        opt.zero_grad()
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        history["step"].append(step)
        history["loss"].append(loss.item())
        if val_data is not None and (step % eval_every == 0 or step == steps):
            history["val_step"].append(step)
            history["val_accuracy"].append(exact_match_accuracy(model, val_data))
            history["time"].append(time.perf_counter() - start)
        if callback is not None:
            callback(step, history)
        if target_accuracy is not None and history["val_accuracy"] and history["val_step"][-1] == step \
                and history["val_accuracy"][-1] >= target_accuracy:
            break
    model.eval()
    return history


def dates_data(seed=0, n_train=20000, n_val=1000, n_test=2000):
    """
    The dates task split three ways by calendar date (solutions.data.date_splits).

    Returns a dict with train, val, test (encode_pairs dicts), pairs (the three lists of string
    pairs) and vocabs (src_vocab, tgt_vocab).
    """
    vocabs = date_vocabs()
    pairs = date_splits((n_train, n_val, n_test), seed=seed)
    out = {name: encode_pairs(p, *vocabs) for name, p in zip(("train", "val", "test"), pairs) if p}
    return {**out, "pairs": pairs, "vocabs": vocabs}


def train_dates_model(seed=0, data=None, device=None, emb_dim=32, hidden_dim=128, steps=300, batch_size=128,
                      lr=6e-3, lr_final=3e-4, target_accuracy=None, eval_every=100, callback=None):
    """
    Train the course's seq2seq model on the dates task with the configuration the chapter uses.

    Inputs:
    - seed: seeds the data split (when data is None) and the training
    - data: a dates_data dict; None builds dates_data(seed)
    - device: None means default_device()
    - the rest: the model's sizes and train's options

    Returns a tuple of:
    - model: the trained Seq2Seq, in eval mode
    - history: from train
    - vocabs: (src_vocab, tgt_vocab)
    """
    data = dates_data(seed) if data is None else data
    src_vocab, tgt_vocab = data["vocabs"]
    torch.manual_seed(seed)
    model = Seq2Seq(len(src_vocab), len(tgt_vocab), emb_dim, hidden_dim).to(device or default_device())
    history = train(model, data["train"], data.get("val"), steps=steps, batch_size=batch_size, lr=lr,
                    lr_final=lr_final, seed=seed, eval_every=eval_every, target_accuracy=target_accuracy,
                    callback=callback)
    return model, history, (src_vocab, tgt_vocab)


__all__ = [
    "PrefixDecoder", "Seq2Seq", "as_tensors", "beam_decode", "beam_decode_batch", "dates_data", "default_device",
    "exact_match_accuracy", "greedy_decode", "greedy_decode_batch", "masked_cross_entropy", "train",
    "train_dates_model",
]
