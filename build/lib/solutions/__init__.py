"""The course's reference package: RNN, BPTT, LSTM, GRU, bidirectional RNN, search, seq2seq, data.

Its public API and semantics are the course contract; the book, the assignments' hidden tests and
the autograder all build on it. Submodules are imported on demand: `from solutions import rnn`.
"""
