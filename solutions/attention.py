"""Additive (Bahdanau) attention: a numpy forward/backward pair and a GRU encoder-decoder that attends.

Backs the chapter "Attention". The numpy pair is the layer as the chapter derives it, in the row-vector
convention of the course: scores e_s = tanh(h_dec Wa + h_s Ua) v over the source positions s, padding
masked out, weights alpha = softmax(e), context c = sum_s alpha_s h_s. AttnSeq2Seq is the seq2seq
model of solutions.seq2seq with the fixed context c = h_S replaced by a context c_t computed afresh
at every decoder step; its forward has Seq2Seq's signature, so solutions.seq2seq.train trains it.
"""
import math

import numpy as np
import torch
from torch import nn

from solutions._checks import positive_int
from solutions.seq2seq import Seq2Seq, as_tensors, greedy_decode_batch
from solutions.seq2seq.decoding import greedy_tokens
from solutions.seq2seq.model import source_lengths


def _check_mask(mask, shape):
    mask = np.asarray(mask)
    if mask.shape != shape or mask.dtype != bool:
        raise ValueError(f"mask must be bools of shape {shape}, got {mask.dtype} {mask.shape}")
    if not mask.any(1).all():
        raise ValueError("mask: every row needs at least one real source position")
    return mask


def masked_softmax(e, mask):
    """
    Softmax over the last axis, restricted to the positions where mask is True.

    Inputs:
    - e: scores, (N, S)
    - mask: bools, (N, S), True on the positions to keep, at least one per row

    Returns alpha: the softmax weights, (N, S); each row sums to 1 and is exactly 0 where mask is False.
    """
    e = np.where(mask, e, -np.inf)  # (N, S) padding can never win
    w = np.exp(e - e.max(1, keepdims=True))  # (N, S) exp(-inf) = 0
    return w / w.sum(1, keepdims=True)


def additive_attention_forward(h_dec, h_enc, mask, Wa, Ua, v):
    """
    Additive attention for one decoder step.

    Inputs:
    - h_dec: the decoder's previous state, (N, H)
    - h_enc: the encoder's states, (N, S, H)
    - mask: bools, (N, S), True on real source positions (at least one per row)
    - Wa: (H, A), applied to the decoder state
    - Ua: (H, A), applied to the encoder states
    - v: (A,), the scoring vector

    Returns a tuple of:
    - context: (N, H), the weighted sum of the encoder states
    - alpha: (N, S), the attention weights
    - cache: (h_dec, h_enc, mask, Wa, Ua, v, a, alpha)
    """
    mask = _check_mask(mask, h_enc.shape[:2])
    a = np.tanh((h_dec @ Wa)[:, None, :] + h_enc @ Ua)  # (N, S, A) the hidden layer of the scorer
    e = a @ v  # (N, S) scores
    alpha = masked_softmax(e, mask)  # (N, S)
    context = np.einsum("ns,nsh->nh", alpha, h_enc)  # (N, H)
    return context, alpha, (h_dec, h_enc, mask, Wa, Ua, v, a, alpha)


def additive_attention_backward(dcontext, cache):
    """
    Backward pass of additive_attention_forward.

    Inputs:
    - dcontext: upstream gradient on the context, (N, H)
    - cache: from the forward

    Returns a tuple of (the forward's arguments in order, the mask left out, as it has no gradient):
    - dh_dec: gradient of the loss on h_dec, (N, H)
    - dh_enc: gradient on h_enc, (N, S, H)
    - dWa: gradient on Wa, (H, A)
    - dUa: gradient on Ua, (H, A)
    - dv: gradient on v, (A,)
    """
    h_dec, h_enc, mask, Wa, Ua, v, a, alpha = cache
    dh_enc = alpha[:, :, None] * dcontext[:, None, :]  # (N, S, H) through the weighted sum
    g = np.einsum("nsh,nh->ns", h_enc, dcontext)  # (N, S) dalpha_s = h_s . dc
    de = alpha * (g - (alpha * g).sum(1, keepdims=True))  # (N, S) softmax Jacobian; 0 on padding
    dv = np.einsum("ns,nsa->a", de, a)  # (A,)
    dpre = de[:, :, None] * v * (1 - a ** 2)  # (N, S, A) through e = a v and the tanh
    dq = dpre.sum(1)  # (N, A) the query h_dec Wa is shared by all positions
    dh_dec = dq @ Wa.T  # (N, H)
    dWa = h_dec.T @ dq  # (H, A)
    dUa = np.einsum("nsh,nsa->ha", h_enc, dpre)  # (H, A)
    dh_enc = dh_enc + dpre @ Ua.T  # (N, S, H) through the keys h_s Ua
    return dh_dec, dh_enc, dWa, dUa, dv


class AttnSeq2Seq(nn.Module):
    """
    GRU encoder-decoder with additive attention.

    The encoder is Seq2Seq's (one unidirectional GRU layer) and keeps all its states h_1..h_S; the
    decoder starts from h_S and at step t reads [E_{y_{t-1}}, c_t], where c_t is the additive
    attention context computed from its previous state. Only the context differs from Seq2Seq.

    Inputs (constructor):
    - src_vocab_size, tgt_vocab_size: V_src and V, the source and target vocabulary sizes
    - emb_dim: D, the size of the token embeddings
    - hidden_dim: H, the size of both GRUs' states
    - attn_dim: A, the size of the attention layer (None means H)
    - pad_id, bos_id, eos_id: the special ids of both vocabularies
    """

    def __init__(self, src_vocab_size, tgt_vocab_size, emb_dim, hidden_dim, attn_dim=None, pad_id=0, bos_id=1,
                 eos_id=2):
        super().__init__()
        attn_dim = hidden_dim if attn_dim is None else attn_dim
        for name, n in (("src_vocab_size", src_vocab_size), ("tgt_vocab_size", tgt_vocab_size),
                        ("emb_dim", emb_dim), ("hidden_dim", hidden_dim), ("attn_dim", attn_dim)):
            positive_int(name, n)
        for name, i in (("pad_id", pad_id), ("bos_id", bos_id), ("eos_id", eos_id)):
            if not 0 <= i < min(src_vocab_size, tgt_vocab_size):
                raise ValueError(f"{name} must be an id of both vocabularies, got {i!r}")
        self.pad_id, self.bos_id, self.eos_id = int(pad_id), int(bos_id), int(eos_id)
        self.src_emb = nn.Embedding(src_vocab_size, emb_dim, padding_idx=pad_id)
        self.encoder = nn.GRU(emb_dim, hidden_dim, batch_first=True)
        self.tgt_emb = nn.Embedding(tgt_vocab_size, emb_dim, padding_idx=pad_id)
        self.decoder = nn.GRUCell(emb_dim + hidden_dim, hidden_dim)
        self.out = nn.Linear(hidden_dim, tgt_vocab_size)
        bound_h, bound_a = 1 / math.sqrt(hidden_dim), 1 / math.sqrt(attn_dim)
        self.Wa = nn.Parameter(torch.empty(hidden_dim, attn_dim).uniform_(-bound_h, bound_h))  # (H, A)
        self.Ua = nn.Parameter(torch.empty(hidden_dim, attn_dim).uniform_(-bound_h, bound_h))  # (H, A)
        self.v = nn.Parameter(torch.empty(attn_dim).uniform_(-bound_a, bound_a))  # (A,)

    def encoder_states(self, src, src_mask):
        """
        Run the encoder over right-padded sources.

        Inputs:
        - src: source ids, (N, S)
        - src_mask: bools, (N, S), True on real tokens: a non-empty prefix of every row

        Returns a tuple of:
        - h: every encoder state, (N, S, H); the states at padded positions are not used
        - h_last: each source's state after its last real token, (N, H)
        """
        lengths = source_lengths(src, src_mask)  # (N,)
        h, _ = self.encoder(self.src_emb(src))  # (N, S, H); right padding leaves real steps untouched
        h_last = h[torch.arange(src.shape[0], device=src.device), lengths - 1]  # (N, H)
        return h, h_last

    def attend(self, h_dec, h_enc, keys, src_mask):
        """
        Additive attention (the torch twin of additive_attention_forward).

        Inputs:
        - h_dec: the decoder's previous state, (N, H); h_enc: the encoder's states, (N, S, H)
        - keys: h_enc @ Ua, (N, S, A), computed once per source
        - src_mask: bools, (N, S), True on real source positions

        Returns a tuple of:
        - context: the weighted sum of the encoder states, (N, H)
        - alpha: the attention weights, (N, S)
        """
        e = torch.tanh((h_dec @ self.Wa)[:, None, :] + keys) @ self.v  # (N, S)
        alpha = torch.softmax(e.masked_fill(~src_mask.bool(), float("-inf")), dim=1)  # (N, S)
        return torch.einsum("ns,nsh->nh", alpha, h_enc), alpha

    def step(self, y_prev, h_dec, h_enc, keys, src_mask):
        """
        One decoder step: attend with s_{t-1}, then the GRU on [E_{y_{t-1}}, c_t], then the output layer.

        Inputs:
        - y_prev: the previous tokens, (N,)
        - h_dec: the decoder's previous state, (N, H)
        - h_enc, keys, src_mask: as in attend

        Returns a tuple of:
        - logits: scores of the next token, (N, V)
        - h_dec: the new decoder state, (N, H)
        - alpha_t: the attention weights of this step, (N, S)
        """
        context, alpha = self.attend(h_dec, h_enc, keys, src_mask)  # (N, H), (N, S)
        h_dec = self.decoder(torch.cat([self.tgt_emb(y_prev), context], dim=1), h_dec)  # (N, H)
        return self.out(h_dec), h_dec, alpha

    def forward(self, src, src_mask, tgt_in, teacher_forcing_ratio=1.0, generator=None, return_attention=False):
        """
        Decoder logits for every target step, with teacher forcing or scheduled sampling (as Seq2Seq).

        Inputs:
        - src: source ids, (N, S)
        - src_mask: bools, (N, S), True on real tokens
        - tgt_in: <bos> then the target, (N, T)
        - teacher_forcing_ratio: probability of feeding the true previous token rather than the
          model's own arg-max
        - generator: a CPU torch.Generator for the coin flips
        - return_attention: also return the weights

        Returns the logits of every step, (N, T, V), and the attention weights alpha, (N, T, S), when
        return_attention is set.
        """
        if not 0.0 <= teacher_forcing_ratio <= 1.0:
            raise ValueError(f"teacher_forcing_ratio must be in [0, 1], got {teacher_forcing_ratio!r}")
        h_enc, h_dec = self.encoder_states(src, src_mask)  # (N, S, H), (N, H): h^d_0 = h^e_S
        keys = h_enc @ self.Ua  # (N, S, A), once per source
        N, T = tgt_in.shape
        logits, alphas, y = [], [], tgt_in[:, 0]
        for t in range(T):
            if t > 0:
                if teacher_forcing_ratio == 1.0:
                    y = tgt_in[:, t]
                elif teacher_forcing_ratio == 0.0:
                    y = logits[-1].argmax(-1)  # (N,) no coins are drawn
                else:
                    coin = torch.rand(N, generator=generator) < teacher_forcing_ratio  # (N,) on the CPU
                    y = torch.where(coin.to(tgt_in.device), tgt_in[:, t], logits[-1].argmax(-1))
            step_logits, h_dec, alpha = self.step(y, h_dec, h_enc, keys, src_mask)
            logits.append(step_logits)
            alphas.append(alpha)
        logits = torch.stack(logits, dim=1)  # (N, T, V)
        return (logits, torch.stack(alphas, dim=1)) if return_attention else logits


@torch.no_grad()
def greedy_decode_attention(model, src, src_mask, max_len):
    """
    Greedy decoding of a batch with an AttnSeq2Seq (arg-max, lowest id on a tie, until <eos>).

    Inputs:
    - model: an AttnSeq2Seq
    - src: source ids, (N, S)
    - src_mask: bools, (N, S), True on real tokens
    - max_len: the most tokens per output, <eos> included

    Returns a tuple of:
    - tokens: int64, (N, max_len): each output, then model.pad_id after its <eos>
    - alpha: (N, max_len, S), the attention weights of every step (zeros after <eos>)
    """
    max_len = positive_int("max_len", max_len)
    h_enc, h_dec = model.encoder_states(src, src_mask)  # (N, S, H), (N, H)
    keys = h_enc @ model.Ua  # (N, S, A)
    N, S = src.shape
    alphas = torch.zeros(N, max_len, S, dtype=h_enc.dtype, device=src.device)

    def next_scores(t, y, done):
        nonlocal h_dec
        logits, h_dec, alpha = model.step(y, h_dec, h_enc, keys, src_mask)  # (N, V), (N, H), (N, S)
        alphas[:, t] = torch.where(done[:, None], 0.0, alpha)
        return logits

    return greedy_tokens(next_scores, model, N, max_len, src.device), alphas


@torch.no_grad()
def exact_matches(model, data, batch_size=1024):
    """
    For every pair, whether the greedy output is exactly the target, <eos> included.

    Inputs:
    - model: an AttnSeq2Seq or a solutions.seq2seq.Seq2Seq
    - data: a dict with src, src_mask, tgt_out, tgt_mask (as from encode_pairs)
    - batch_size: how many pairs to decode at once

    Returns a bool numpy array, (N,), True where the greedy output equals the target.
    """
    if not isinstance(model, (AttnSeq2Seq, Seq2Seq)):
        raise TypeError(f"model must be an AttnSeq2Seq or a Seq2Seq, got {type(model).__name__}")
    device = next(model.parameters()).device
    data = as_tensors(data, device)
    was_training = model.training
    model.eval()
    N, T = data["tgt_out"].shape
    out = []
    for a in range(0, N, batch_size):
        b = slice(a, a + batch_size)
        src, src_mask = data["src"][b], data["src_mask"][b]
        S = int(src_mask.sum(1).max())  # drop the columns that are padding in every row
        decode = greedy_decode_attention if isinstance(model, AttnSeq2Seq) else greedy_decode_batch
        tokens = decode(model, src[:, :S], src_mask[:, :S], T)[0]  # (n, T)
        out.append(((tokens == data["tgt_out"][b]) | ~data["tgt_mask"][b]).all(1).cpu())
    model.train(was_training)
    return torch.cat(out).numpy()


def count_parameters(model):
    """The number of trainable numbers in a torch module."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = [
    "AttnSeq2Seq", "additive_attention_backward", "additive_attention_forward", "count_parameters",
    "exact_matches", "greedy_decode_attention", "masked_softmax",
]
