"""A GRU encoder-decoder in torch: the model, the masked loss, teacher forcing, greedy and beam decoding, training.

Backs the chapter "Sequence to sequence" (and the decoding half of "Search"). Its parts:

- model: Seq2Seq (the encoder's final hidden state is the context vector; the decoder starts from it
  and, when feed_context is set, sees it again at every step) and masked_cross_entropy;
- decoding: greedy and beam decoding of one sentence through solutions.search (PrefixDecoder), and of
  a whole batch on tensors with the same rules;
- training: train (Adam, teacher forcing or scheduled sampling, cosine learning-rate decay) and
  exact_match_accuracy;
- dates: the dates task's data and train_dates_model, the configuration the chapter trains.

Everything is importable from here: `from solutions.seq2seq import Seq2Seq, train`.
"""
from solutions.seq2seq.dates import dates_data, train_dates_model
from solutions.seq2seq.decoding import PrefixDecoder, beam_decode, beam_decode_batch, greedy_decode, greedy_decode_batch
from solutions.seq2seq.model import Seq2Seq, default_device, masked_cross_entropy
from solutions.seq2seq.training import as_tensors, exact_match_accuracy, train

__all__ = [
    "PrefixDecoder", "Seq2Seq", "as_tensors", "beam_decode", "beam_decode_batch", "dates_data", "default_device",
    "exact_match_accuracy", "greedy_decode", "greedy_decode_batch", "masked_cross_entropy", "train",
    "train_dates_model",
]
