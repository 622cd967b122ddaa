"""Tests of solutions.data: vocabularies, padding and the synthetic tasks (shapes, values, seeds, errors)."""
import datetime

import numpy as np
import pytest

from solutions.data import (
    DATE_FORMATS,
    Vocab,
    binary_addition,
    copy_task,
    date_pairs,
    date_splits,
    date_vocabs,
    encode_pairs,
    format_date,
    pad_batch,
    parity,
    reverse_task,
)

# ---- Vocab -------------------------------------------------------------------------------------


def test_vocab_special_ids_and_order():
    v = Vocab("cab")
    assert (v.pad, v.bos, v.eos) == (0, 1, 2)
    assert v.tokens == ["<pad>", "<bos>", "<eos>", "c", "a", "b"]
    assert len(v) == 6 and "a" in v and "z" not in v


def test_vocab_drops_duplicates_and_from_sequences_sorts():
    assert Vocab("abca").tokens[3:] == ["a", "b", "c"]
    assert Vocab.from_sequences(["cab", "dab"]).tokens[3:] == ["a", "b", "c", "d"]


@pytest.mark.parametrize("text", ["", "a", "hello world", "2021-03-03"])
def test_vocab_char_round_trip(text):
    v = Vocab.from_sequences(["hello world", "2021-03-03", "a"])
    ids = v.encode(text, add_bos=True, add_eos=True)
    assert ids[0] == v.bos and ids[-1] == v.eos and len(ids) == len(text) + 2
    assert v.decode(ids) == text


def test_vocab_word_level_returns_lists():
    v = Vocab(["the", "cat", "sat"])
    ids = v.encode(["the", "cat"], add_eos=True)
    assert ids == [3, 4, 2]
    assert v.decode(ids) == ["the", "cat"]


def test_vocab_decode_stops_at_eos_and_drops_pad_and_bos():
    v = Vocab("ab")
    ids = [v.bos, 3, v.pad, 4, v.eos, 3, 3]
    assert v.decode(ids) == "ab"
    assert v.decode(ids, strip=False) == "<bos>a<pad>b<eos>aa"
    assert v.decode(np.array([[3, 4]])) == "ab"  # any array shape is read in order


def test_vocab_errors():
    v = Vocab("ab")
    with pytest.raises(ValueError, match="'z'"):
        v.encode("abz")
    with pytest.raises(ValueError, match="id 9"):
        v.decode([3, 9])
    with pytest.raises(ValueError, match="<eos>"):
        Vocab(["a", "<eos>"])
    with pytest.raises(ValueError, match="non-empty"):
        Vocab(["a", ""])


# ---- pad_batch ---------------------------------------------------------------------------------


def test_pad_batch_values_and_mask():
    ids, mask = pad_batch([[5, 6, 7], [8], []], pad_id=0)
    assert ids.dtype == np.int64 and mask.dtype == bool
    np.testing.assert_array_equal(ids, [[5, 6, 7], [8, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(mask, [[1, 1, 1], [1, 0, 0], [0, 0, 0]])


def test_pad_batch_other_pad_id_and_single_row():
    ids, mask = pad_batch([(4, 4)], pad_id=9)
    assert ids.shape == mask.shape == (1, 2) and mask.all()
    ids, _ = pad_batch([[1], [1, 2]], pad_id=9)
    assert ids[0, 1] == 9


def test_pad_batch_errors():
    with pytest.raises(ValueError, match="seqs"):
        pad_batch([], 0)
    with pytest.raises(ValueError, match="pad_id"):
        pad_batch([[1]], -1)


# ---- binary addition and parity ----------------------------------------------------------------


def _bits_to_int(bits):
    return (bits.astype(np.int64) << np.arange(bits.shape[-1])).sum(-1)


@pytest.mark.parametrize("n, n_bits", [(1, 1), (5, 4), (64, 8), (3, 30)])
def test_binary_addition_adds(n, n_bits):
    x, y = binary_addition(n, n_bits, seed=3)
    assert x.shape == (n, n_bits + 1, 2) and x.dtype == np.float64
    assert y.shape == (n, n_bits + 1) and y.dtype == np.int64
    assert np.all(x[:, -1] == 0)  # the extra step only holds the carry
    a, b = _bits_to_int(x[..., 0]), _bits_to_int(x[..., 1])
    np.testing.assert_array_equal(_bits_to_int(y), a + b)


def test_binary_addition_long_numbers_and_seeds():
    x, y = binary_addition(4, 200, seed=1)  # longer than any machine integer
    assert set(np.unique(y)) <= {0, 1}
    x2, y2 = binary_addition(4, 200, seed=1)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(x, binary_addition(4, 200, seed=2)[0])


@pytest.mark.parametrize("n, T", [(1, 1), (8, 16)])
def test_parity_is_running_xor(n, T):
    x, y = parity(n, T, seed=5)
    assert x.shape == (n, T, 1) and x.dtype == np.float64 and y.shape == (n, T)
    expect = np.zeros(n, dtype=np.int64)
    for t in range(T):
        expect ^= x[:, t, 0].astype(np.int64)
        np.testing.assert_array_equal(y[:, t], expect)
    np.testing.assert_array_equal(parity(n, T, seed=5)[0], x)


@pytest.mark.parametrize("call, name", [
    (lambda: binary_addition(0, 3), "n"),
    (lambda: binary_addition(2, 0), "n_bits"),
    (lambda: binary_addition(2.5, 3), "n"),
    (lambda: parity(2, 0), "T"),
    (lambda: parity(True, 3), "n"),
])
def test_task_argument_errors(call, name):
    with pytest.raises(ValueError, match=f"^{name} "):
        call()


# ---- copy and reverse --------------------------------------------------------------------------


def test_copy_and_reverse_tasks():
    pairs = copy_task(200, min_len=2, max_len=5, n_symbols=3, seed=0)
    assert len(pairs) == 200
    assert all(s == t and 2 <= len(s) <= 5 and set(s) <= set("abc") for s, t in pairs)
    assert {len(s) for s, _ in pairs} == {2, 3, 4, 5}
    rev = reverse_task(200, min_len=2, max_len=5, n_symbols=3, seed=0)
    assert [s for s, _ in rev] == [s for s, _ in pairs]  # same seed, same sources
    assert all(t == s[::-1] for s, t in rev)
    assert copy_task(10, seed=1) == copy_task(10, seed=1) != copy_task(10, seed=2)


def test_copy_task_errors():
    with pytest.raises(ValueError, match="max_len"):
        copy_task(3, min_len=4, max_len=2)
    with pytest.raises(ValueError, match="n_symbols"):
        copy_task(3, n_symbols=27)
    with pytest.raises(ValueError, match="min_len"):
        copy_task(3, min_len=0)


# ---- dates -------------------------------------------------------------------------------------


def test_every_format_is_named_by_its_own_example():
    d = datetime.date(2021, 3, 3)
    for name in DATE_FORMATS:
        assert format_date(d, name) == name


def test_formats_are_unambiguous_over_the_whole_range():
    """No source string is written for two different dates, in any pair of formats."""
    seen = {}
    d, last = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)
    while d <= last:
        for f in DATE_FORMATS.values():
            assert seen.setdefault(f(d), d) == d
        d += datetime.timedelta(days=1)


def test_date_pairs_targets_are_the_iso_dates():
    for src, tgt in date_pairs(300, seed=4):
        d = datetime.date.fromisoformat(tgt)
        assert src in {format_date(d, f) for f in DATE_FORMATS}
    assert date_pairs(20, seed=4) == date_pairs(20, seed=4) != date_pairs(20, seed=5)


def test_date_splits_are_disjoint_by_calendar_date():
    train, val, test = date_splits((3000, 500, 500), seed=0)
    assert (len(train), len(val), len(test)) == (3000, 500, 500)
    dates = [{t for _, t in split} for split in (train, val, test)]
    assert len(dates[0]) == 3000  # distinct dates within a split too
    assert not (dates[0] & dates[1] or dates[0] & dates[2] or dates[1] & dates[2])


def test_date_splits_restricted_formats_and_errors():
    pairs = date_pairs(50, seed=0, formats=["03/03/21"])
    assert all(len(s) == 8 and s[2] == "/" for s, _ in pairs)
    with pytest.raises(ValueError, match="formats"):
        date_pairs(5, formats=["3 Mars 2021"])
    with pytest.raises(ValueError, match="sizes"):
        date_splits((40000, 1000))
    with pytest.raises(ValueError, match="sizes"):
        date_splits((10, -1))
    with pytest.raises(ValueError, match="fmt"):
        format_date(datetime.date(2021, 3, 3), "2021-03-03")


def test_date_vocabs_cover_the_task():
    src_vocab, tgt_vocab = date_vocabs()
    assert tgt_vocab.tokens[3:] == list("0123456789-")
    for src, tgt in date_pairs(2000, seed=1):
        assert src_vocab.decode(src_vocab.encode(src)) == src
        assert tgt_vocab.decode(tgt_vocab.encode(tgt, add_eos=True)) == tgt


def test_encode_pairs_shapes_and_shift():
    pairs = [("3 March 2021", "2021-03-03"), ("1/1/1999", "1999-01-01")]
    src_vocab, tgt_vocab = date_vocabs()
    b = encode_pairs(pairs, src_vocab, tgt_vocab)
    assert b["src"].shape == b["src_mask"].shape == (2, 12)
    assert b["tgt_in"].shape == b["tgt_out"].shape == b["tgt_mask"].shape == (2, 11)
    np.testing.assert_array_equal(b["src_mask"].sum(1), [12, 8])
    assert np.all(b["tgt_in"][:, 0] == tgt_vocab.bos) and np.all(b["tgt_out"][:, -1] == tgt_vocab.eos)
    np.testing.assert_array_equal(b["tgt_in"][:, 1:], b["tgt_out"][:, :-1])  # the output shifted by one
    assert b["tgt_mask"].all()
    assert [src_vocab.decode(r) for r in b["src"]] == [s for s, _ in pairs]
    assert [tgt_vocab.decode(r) for r in b["tgt_out"]] == [t for _, t in pairs]


def test_encode_pairs_variable_targets():
    v = Vocab("abc")
    b = encode_pairs(copy_task(5, 1, 4, 3, seed=2), v, v)
    np.testing.assert_array_equal(b["tgt_mask"].sum(1), b["src_mask"].sum(1) + 1)  # the target plus <eos>
    assert np.all(b["tgt_out"][~b["tgt_mask"]] == v.pad)
    with pytest.raises(ValueError, match="pairs"):
        encode_pairs([], v, v)
