"""Training a Seq2Seq with Adam on the masked cross-entropy, and its exact-match accuracy."""
import time

import numpy as np
import torch
from torch import nn

from solutions._checks import positive_int
from solutions.seq2seq.decoding import greedy_decode_batch
from solutions.seq2seq.model import masked_cross_entropy

BATCH_KEYS = ("src", "src_mask", "tgt_in", "tgt_out", "tgt_mask")


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
    - batch_size: N, the number of pairs per update
    - lr: Adam's learning rate; lr_final, if given, the rate reached by a cosine decay at the end
    - teacher_forcing_ratio: the probability of feeding the true previous token: a number, or a
      function step -> ratio (scheduled sampling)
    - clip: the largest gradient norm (None for no clipping)
    - seed: seeds torch and the generator of shuffles and coin flips
    - eval_every: steps between validations (there is always one at the end)
    - target_accuracy: stop once the validation accuracy reaches it
    - callback: called as callback(step, history) after every step

    Returns a dict of lists: step, loss (per batch), lr (the learning rate of each step), val_step,
    val_accuracy, time (seconds at each validation).
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
    # step s (from 1) runs at lr_final + (lr - lr_final) (1 + cos(pi (s - 1) / steps)) / 2
    schedule = None if lr_final is None else torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, lr_final)
    history = {"step": [], "loss": [], "lr": [], "val_step": [], "val_accuracy": [], "time": []}
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
        logits = model(b["src"][:, :S], b["src_mask"][:, :S], b["tgt_in"], float(ratio_at(step)), gen)  # (N, T, V)
        loss = masked_cross_entropy(logits, b["tgt_out"], b["tgt_mask"])
        opt.zero_grad()
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        history["lr"].append(opt.param_groups[0]["lr"])
        opt.step()
        if schedule is not None:
            schedule.step()
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
