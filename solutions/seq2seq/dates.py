"""The dates task and the model the chapter "Sequence to sequence" trains on it."""
import torch

from solutions.data import date_splits, date_vocabs, encode_pairs
from solutions.seq2seq.model import Seq2Seq, default_device
from solutions.seq2seq.training import train


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
    - device: the torch device to train on; None means default_device()
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
