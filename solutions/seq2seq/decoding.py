"""Greedy and beam decoding of a Seq2Seq.

For one sentence the model goes through solutions.search via PrefixDecoder, so the search rules are
those of beam_search itself; the batched decoders run many sources at once on tensors, for fast
evaluation, with the same rules (their results equal the one-sentence decoders').
"""
import torch
import torch.nn.functional as F

from solutions._checks import positive_int
from solutions.search import Hypothesis, beam_search, greedy_search, length_normalized, rank_walk


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
    - src: source ids, (N, S)
    - src_mask: bools, (N, S), True on real tokens
    - max_len: the most tokens per output, <eos> included

    Returns a tuple of:
    - tokens: int64, (N, max_len): each output, then model.pad_id after its <eos>
    - logprob: (N,), the sum of the chosen tokens' log-probabilities
    """
    max_len = positive_int("max_len", max_len)
    h = model.encode(src, src_mask)  # (L, N, H)
    context = h[-1]  # (N, H)
    logprob = torch.zeros(src.shape[0], dtype=context.dtype, device=src.device)  # (N,)

    def next_scores(t, y, done):
        nonlocal h
        logits, h = model.decode_step(y, context, h)  # (N, V)
        lp = F.log_softmax(logits, dim=-1)  # (N, V)
        logprob.add_(torch.where(done, 0.0, lp.max(-1).values))  # the arg-max's log-probability
        return lp

    return greedy_tokens(next_scores, model, src.shape[0], max_len, src.device), logprob


def greedy_tokens(next_scores, model, n, max_len, device):
    """
    The loop of the batched greedy decoders: n outputs at once, each the arg-max token of every step
    (the lowest id on a tie) until its <eos>.

    Inputs:
    - next_scores: function (t, y, done) -> (n, V) scores of the token at step t (from 0), given the
      tokens just chosen, y (n,) (model.bos_id at the first step), and done (n,), True for outputs
      that have ended; it keeps the decoder's state itself
    - model: what gives bos_id, eos_id and pad_id
    - n: how many outputs
    - max_len: the most tokens per output, <eos> included, a positive int (the callers check it)
    - device: where the tokens live

    Returns tokens: int64, (n, max_len): each output, then model.pad_id after its <eos>.
    """
    y = torch.full((n,), model.bos_id, dtype=torch.long, device=device)  # (n,)
    tokens = torch.full((n, max_len), model.pad_id, dtype=torch.long, device=device)  # (n, max_len)
    done = torch.zeros(n, dtype=torch.bool, device=device)  # (n,)
    for t in range(max_len):
        y = next_scores(t, y, done).argmax(-1)  # (n,), the first maximum on a tie
        tokens[:, t] = torch.where(done, model.pad_id, y)
        done |= y == model.eos_id
        if done.all():
            break
    return tokens


@torch.no_grad()
def beam_decode_batch(model, src, src_mask, beam_width, max_len, n_best=1, length_penalty=0.0):
    """
    Beam search for a whole batch with the rules of solutions.search.beam_search, so each result
    equals beam_decode's; every step is one decoder call over all alive hypotheses of all sources.

    Inputs:
    - model: a Seq2Seq
    - src: source ids, (N, S)
    - src_mask: bools, (N, S), True on real tokens
    - beam_width: K, the most alive hypotheses kept per source
    - max_len, n_best, length_penalty: as in beam_search

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
