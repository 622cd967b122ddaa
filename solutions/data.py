"""Synthetic sequence tasks made by code: Vocab, pad_batch, binary addition, parity, copy/reverse and dates.

Backs the chapters "Recurrent neural networks" (binary addition, parity), "Sequence to sequence"
and "Search" (copy, reverse and the date-normalization task). Nothing is downloaded: every task is
generated from a seed with a numpy Generator, so the same seed always gives the same data.
"""
import datetime
import string

import numpy as np

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
SPECIALS = (PAD, BOS, EOS)


def _check_count(name, n, minimum=1):
    """Raise a ValueError unless n is an integer >= minimum; return it as an int."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {n!r}")
    return int(n)


class Vocab:
    """
    A token <-> id table with the special tokens <pad> (id 0), <bos> (id 1) and <eos> (id 2).

    The other tokens (characters or strings) follow in the order they are given, duplicates
    dropped, so `Vocab("abc")` maps a, b, c to 3, 4, 5. `tokens[i]` is the token of id i.
    """

    def __init__(self, tokens):
        tokens = list(tokens)
        clash = [t for t in tokens if t in SPECIALS]
        if clash:
            raise ValueError(f"tokens must not contain the special token {clash[0]!r}")
        if any(not isinstance(t, str) or t == "" for t in tokens):
            raise ValueError("tokens must be non-empty strings")
        self.tokens = list(SPECIALS) + list(dict.fromkeys(tokens))
        self._ids = {t: i for i, t in enumerate(self.tokens)}
        self.pad, self.bos, self.eos = 0, 1, 2
        self.char_level = all(len(t) == 1 for t in self.tokens[3:])

    @classmethod
    def from_sequences(cls, seqs):
        """A Vocab of every distinct token found in `seqs` (strings or lists of tokens), sorted."""
        return cls(sorted({t for s in seqs for t in s}))

    def __len__(self):
        return len(self.tokens)

    def __contains__(self, token):
        return token in self._ids

    def __repr__(self):
        return f"Vocab({len(self)} tokens: {' '.join(self.tokens[3:13])}{' ...' if len(self) > 13 else ''})"

    def encode(self, seq, add_bos=False, add_eos=False):
        """The ids of the tokens of `seq` (a string is split into characters), optionally framed."""
        ids = [self.bos] if add_bos else []
        for t in seq:
            if t not in self._ids:
                raise ValueError(f"unknown token {t!r}: not in the vocabulary")
            ids.append(self._ids[t])
        return ids + ([self.eos] if add_eos else [])

    def decode(self, ids, strip=True):
        """
        The tokens of `ids`: a string for a character-level vocabulary, else a list of tokens.

        With strip=True decoding stops at the first <eos> and drops <pad> and <bos>; with
        strip=False every id is written out, the special tokens included.
        """
        out = []
        for i in np.asarray(ids, dtype=np.int64).reshape(-1).tolist():
            if not 0 <= i < len(self.tokens):
                raise ValueError(f"id {i} is outside the vocabulary of size {len(self)}")
            if strip and i == self.eos:
                break
            if strip and i in (self.pad, self.bos):
                continue
            out.append(self.tokens[i])
        return "".join(out) if self.char_level else out


def pad_batch(seqs, pad_id):
    """
    Right-pad sequences of ids to a common length.

    Inputs:
    - seqs: a list of N sequences of integer ids, of any lengths
    - pad_id: the id written into the padded positions

    Returns a tuple of:
    - ids: the padded sequences, int64 array, (N, T) with T the longest length
    - mask: bool array, (N, T), True on real tokens and False on padding
    """
    pad_id = _check_count("pad_id", pad_id, 0)
    seqs = [list(s) for s in seqs]
    if not seqs:
        raise ValueError("seqs must hold at least one sequence")
    T = max(len(s) for s in seqs)
    ids = np.full((len(seqs), T), pad_id, dtype=np.int64)  # (N, T)
    mask = np.zeros((len(seqs), T), dtype=bool)  # (N, T)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
        mask[i, : len(s)] = True
    return ids, mask


def binary_addition(n, n_bits, seed=0):
    """
    Add two random n_bits-bit numbers, bits least-significant first, one bit pair per step.

    An RNN can learn the carry rule once and apply it at every step, so a model trained on short
    numbers adds long ones; an MLP over all bits at once has to learn every position separately.

    Inputs:
    - n: N, how many sums
    - n_bits: bits of each operand; T = n_bits + 1 so that the last carry fits
    - seed: seed of the numpy Generator

    Returns a tuple of:
    - x: float64, (N, T, 2), x[:, t] the t-th bits of the two operands (zeros at t = n_bits)
    - y: int64, (N, T), y[:, t] the t-th bit of the sum
    """
    n, n_bits = _check_count("n", n), _check_count("n_bits", n_bits)
    rng = np.random.default_rng(seed)
    x = np.zeros((n, n_bits + 1, 2))  # (N, T, 2)
    x[:, :n_bits] = rng.integers(0, 2, size=(n, n_bits, 2))
    y = np.zeros((n, n_bits + 1), dtype=np.int64)  # (N, T)
    carry = np.zeros(n, dtype=np.int64)  # (N,)
    for t in range(n_bits + 1):
        s = x[:, t, 0].astype(np.int64) + x[:, t, 1].astype(np.int64) + carry  # 0..3
        y[:, t] = s % 2
        carry = s // 2
    return x, y


def parity(n, T, seed=0):
    """
    Random bit strings and their running parity: y[:, t] = (x[:, 0] + ... + x[:, t]) mod 2.

    Inputs:
    - n: N, how many sequences
    - T: length of each sequence
    - seed: seed of the numpy Generator

    Returns a tuple of:
    - x: float64, (N, T, 1), the bits
    - y: int64, (N, T), the running parity
    """
    n, T = _check_count("n", n), _check_count("T", T)
    bits = np.random.default_rng(seed).integers(0, 2, size=(n, T))  # (N, T)
    return bits[..., None].astype(np.float64), np.cumsum(bits, axis=1) % 2


def copy_task(n, min_len=1, max_len=10, n_symbols=8, reverse=False, seed=0):
    """
    Random strings over the first n_symbols lowercase letters and their copies (or reversals).

    Inputs:
    - n: how many pairs
    - min_len, max_len: lengths are drawn uniformly from min_len..max_len
    - n_symbols: alphabet size, 1 to 26
    - reverse: target is the source reversed instead of copied
    - seed: seed of the numpy Generator

    Returns a list of n (source, target) string pairs.
    """
    n, min_len, max_len = _check_count("n", n), _check_count("min_len", min_len), _check_count("max_len", max_len)
    if max_len < min_len:
        raise ValueError(f"max_len must be >= min_len = {min_len}, got {max_len}")
    n_symbols = _check_count("n_symbols", n_symbols)
    if n_symbols > 26:
        raise ValueError(f"n_symbols must be at most 26, got {n_symbols}")
    rng = np.random.default_rng(seed)
    letters = np.array(list(string.ascii_lowercase[:n_symbols]))
    pairs = []
    for length in rng.integers(min_len, max_len + 1, size=n):
        src = "".join(letters[rng.integers(0, n_symbols, size=length)])
        pairs.append((src, src[::-1] if reverse else src))
    return pairs


def reverse_task(n, min_len=1, max_len=10, n_symbols=8, seed=0):
    """copy_task with reverse=True: the target is the source read backwards."""
    return copy_task(n, min_len, max_len, n_symbols, reverse=True, seed=seed)


# ---- dates: human-written dates to ISO dates --------------------------------------------------

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FIRST_DATE, LAST_DATE = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)  # yy 50-99: 19yy


def _ordinal(d):
    suffix = "th" if 10 <= d % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
    return f"{d}{suffix}"


# Each format writes a date its own way; none is ambiguous, so every source has one right answer.
DATE_FORMATS = {
    "3 March 2021": lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    "march 3, 2021": lambda d: f"{MONTHS[d.month - 1].lower()} {d.day}, {d.year}",
    "03/03/21": lambda d: f"{d.day:02d}/{d.month:02d}/{d.year % 100:02d}",
    "Wed 3 Mar 2021": lambda d: f"{WEEKDAYS[d.weekday()][:3]} {d.day} {MONTHS[d.month - 1][:3]} {d.year}",
    "Wednesday, March 3, 2021": lambda d: f"{WEEKDAYS[d.weekday()]}, {MONTHS[d.month - 1]} {d.day}, {d.year}",
    "3rd of March 2021": lambda d: f"{_ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}",
    "3-Mar-2021": lambda d: f"{d.day}-{MONTHS[d.month - 1][:3]}-{d.year}",
    "MAR 03 2021": lambda d: f"{MONTHS[d.month - 1][:3].upper()} {d.day:02d} {d.year}",
    "3/3/2021": lambda d: f"{d.day}/{d.month}/{d.year}",
    "03.03.2021": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
}


def format_date(date, fmt):
    """Write a datetime.date in one of DATE_FORMATS (named by its example for 2021-03-03)."""
    if fmt not in DATE_FORMATS:
        raise ValueError(f"fmt must be one of {list(DATE_FORMATS)}, got {fmt!r}")
    return DATE_FORMATS[fmt](date)


def _check_formats(formats):
    formats = list(DATE_FORMATS) if formats is None else list(formats)
    if not formats:
        raise ValueError("formats must name at least one format")
    for f in formats:
        if f not in DATE_FORMATS:
            raise ValueError(f"formats: unknown format {f!r}; known: {list(DATE_FORMATS)}")
    return formats


def date_splits(sizes, seed=0, formats=None):
    """
    Disjoint sets of (human date, ISO date) pairs: no calendar date occurs in two sets.

    Dates are drawn without replacement from FIRST_DATE..LAST_DATE, so a held-out date was never
    seen in training in any format; each pair's format is drawn uniformly from `formats`.

    Inputs:
    - sizes: how many pairs in each set, e.g. (n_train, n_val, n_test)
    - seed: seed of the numpy Generator
    - formats: names from DATE_FORMATS; None means all of them

    Returns a list with one list of (source, target) string pairs per entry of sizes.
    """
    sizes = [_check_count("sizes", s, 0) for s in sizes]
    formats = _check_formats(formats)
    n_days = (LAST_DATE - FIRST_DATE).days + 1
    if sum(sizes) > n_days:
        raise ValueError(f"sizes must add up to at most {n_days} distinct dates, got {sum(sizes)}")
    rng = np.random.default_rng(seed)
    days = rng.choice(n_days, size=sum(sizes), replace=False)  # distinct day offsets
    fmts = rng.integers(0, len(formats), size=sum(sizes))
    pairs = []
    for day, f in zip(days.tolist(), fmts.tolist()):
        d = FIRST_DATE + datetime.timedelta(days=day)
        pairs.append((DATE_FORMATS[formats[f]](d), d.isoformat()))
    bounds = np.cumsum([0] + sizes)
    return [pairs[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def date_pairs(n, seed=0, formats=None):
    """n (human date, ISO date) pairs of distinct random dates, e.g. ("3 March 2021", "2021-03-03")."""
    return date_splits([_check_count("n", n)], seed, formats)[0]


def date_vocabs():
    """
    The character vocabularies of the dates task.

    Returns a tuple of:
    - src_vocab: every character any format can write (letters, digits, space and , / - .)
    - tgt_vocab: the digits and "-"
    """
    year = [datetime.date(2021, 1, 1) + datetime.timedelta(days=i) for i in range(365)]  # every day, month, weekday
    chars = {c for d in year for f in DATE_FORMATS.values() for c in f(d)}
    return Vocab(sorted(chars | set(string.digits))), Vocab(string.digits + "-")


def encode_pairs(pairs, src_vocab, tgt_vocab):
    """
    Turn (source, target) pairs into padded id arrays for a sequence-to-sequence model.

    Inputs:
    - pairs: N (source, target) pairs of strings or token lists
    - src_vocab, tgt_vocab: the source and target vocabularies, Vocab objects

    Returns a dict of numpy arrays, S the longest source and T the longest target plus one:
    - src: int64, (N, S), source ids padded with src_vocab.pad
    - src_mask: bool, (N, S), True on real source tokens
    - tgt_in: int64, (N, T), <bos> then the target: the decoder's inputs
    - tgt_out: int64, (N, T), the target then <eos>: what the decoder must predict
    - tgt_mask: bool, (N, T), True where tgt_out is a real token or the <eos>
    """
    pairs = list(pairs)
    if not pairs:
        raise ValueError("pairs must hold at least one (source, target) pair")
    src, src_mask = pad_batch([src_vocab.encode(s) for s, _ in pairs], src_vocab.pad)
    tgt_in, _ = pad_batch([tgt_vocab.encode(t, add_bos=True) for _, t in pairs], tgt_vocab.pad)
    tgt_out, tgt_mask = pad_batch([tgt_vocab.encode(t, add_eos=True) for _, t in pairs], tgt_vocab.pad)
    return {"src": src, "src_mask": src_mask, "tgt_in": tgt_in, "tgt_out": tgt_out, "tgt_mask": tgt_mask}


__all__ = [
    "BOS", "DATE_FORMATS", "EOS", "PAD", "Vocab",
    "binary_addition", "copy_task", "date_pairs", "date_splits", "date_vocabs", "encode_pairs",
    "format_date", "pad_batch", "parity", "reverse_task",
]
