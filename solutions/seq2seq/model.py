"""The GRU encoder-decoder and its masked loss.

The encoder reads the source and its final hidden state is the context vector; the decoder starts
from the context and, when feed_context is set, sees it again at every step next to the previous
token's embedding. forward decodes a whole target with teacher forcing (or scheduled sampling);
decode_step is one step, which the decoders of solutions.seq2seq.decoding call.
"""
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from solutions._checks import positive_int


def default_device():
    """CUDA when it is available, the CPU otherwise."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def source_lengths(src, src_mask):
    """
    Each source's length, after checking that the mask marks right padding.

    Inputs:
    - src: source ids, (N, S)
    - src_mask: bools, (N, S), True on real tokens: a prefix of every row, at least one

    Returns lengths: the number of real tokens of each source, int64 (N,).
    """
    if src.shape != src_mask.shape or src.dim() != 2:
        raise ValueError(f"src and src_mask must both be (N, S), got {tuple(src.shape)} and {tuple(src_mask.shape)}")
    lengths = src_mask.sum(1)  # (N,)
    if (lengths < 1).any():
        raise ValueError("src_mask: every source needs at least one token")
    steps = torch.arange(src.shape[1], device=src.device)
    if not torch.equal(src_mask.bool(), steps[None, :] < lengths[:, None]):
        raise ValueError("src_mask must mark a prefix of every row (right padding)")
    return lengths


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
        lengths = source_lengths(src, src_mask)  # (N,)
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
        - context: the context vector, (N, H)
        - h: the decoder state, (L, N, H)

        Returns a tuple of:
        - logits: scores of the next token, (N, V)
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
        - src: source ids, (N, S)
        - src_mask: bools, (N, S), True on real tokens
        - tgt_in: decoder inputs, <bos> then the target, (N, T)
        - teacher_forcing_ratio: the probability of feeding the true previous token
        - generator: a CPU torch.Generator for the coin flips; None uses torch's global one

        Returns logits: scores of every step's next token, (N, T, V)
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
    - logits: scores of every step's next token, (N, T, V)
    - targets: the correct token ids, (N, T)
    - mask: bools, (N, T); False steps add nothing
    - per_token: divide by the number of unmasked steps instead of by N

    Returns the loss, a scalar tensor.
    """
    N, T, V = logits.shape
    ce = F.cross_entropy(logits.reshape(N * T, V), targets.reshape(N * T), reduction="none").view(N, T)
    ce = ce * mask  # (N, T)
    return ce.sum() / (mask.sum().clamp(min=1) if per_token else N)
