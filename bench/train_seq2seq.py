"""Benchmark: train the dates seq2seq model on two CPU threads; print wall time, held-out accuracy and decoding costs.

Run: .venv/bin/python bench/train_seq2seq.py [--seed 0] [--beam-width 3] [--threads 2]

The course asks for at least 95% exact-sequence accuracy on held-out dates within two minutes on two
CPU cores. Timings on a shared machine are inflated by whatever else runs there, so the load average
is printed next to them.
"""
import argparse
import os
import time

import torch


def main(*, seed=0, beam_width=3, threads=2, n_calls=200):
    torch.set_num_threads(threads)
    from solutions.search import beam_search, greedy_search
    from solutions.seq2seq import PrefixDecoder, beam_decode_batch, dates_data, exact_match_accuracy, train_dates_model

    print(f"torch {torch.__version__}, {threads} threads, {os.cpu_count()} CPUs, "
          f"load average before {os.getloadavg()[0]:.1f}")
    start, cpu_start = time.perf_counter(), time.process_time()
    data = dates_data(seed)
    src_vocab, tgt_vocab = data["vocabs"]
    model, history, _ = train_dates_model(seed, data=data, device="cpu", eval_every=50)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    n_train, n_test = len(data["pairs"][0]), len(data["pairs"][2])
    print(f"trained {history['step'][-1]} steps on {n_train} pairs: {wall:.1f} s wall, {cpu:.1f} s CPU "
          f"(data and validation included), final batch loss {history['loss'][-1]:.3f}")
    for step, acc, t in zip(history["val_step"], history["val_accuracy"], history["time"]):
        print(f"  step {step:4d}  {t:6.1f} s  validation exact match {acc:.3f}")
    first = next((t for acc, t in zip(history["val_accuracy"], history["time"]) if acc >= 0.95), None)
    print(f"first validation >= 0.95 after {first:.1f} s of training" if first else "validation never reached 0.95")

    print(f"held-out exact match on {n_test} unseen dates: greedy {exact_match_accuracy(model, data['test']):.4f}")
    test = {k: torch.as_tensor(v) for k, v in data["test"].items()}
    max_len = test["tgt_out"].shape[1]  # 10 characters and <eos>
    for n_best in sorted({1, beam_width}):  # n_best=1 stops at the first finished hypothesis in the top K
        t0 = time.perf_counter()
        beams = beam_decode_batch(model, test["src"], test["src_mask"], beam_width, max_len, n_best)
        beam = sum(tgt_vocab.decode(h[0].tokens) == t for h, (_, t) in zip(beams, data["pairs"][2])) / n_test
        print(f"  beam K={beam_width}, n_best={n_best}: {beam:.4f} (batched, {time.perf_counter() - t0:.1f} s)")

    cost = {"greedy": [0, 0], "beam": [0, 0]}  # decoder steps with the prefix cache, and by replaying
    for src, _ in data["pairs"][2][:n_calls]:
        for name in cost:
            dec = PrefixDecoder(model, src_vocab.encode(src))
            if name == "greedy":
                greedy_search(dec.next_logprobs, model.eos_id, max_len)
            else:
                beam_search(dec.next_logprobs, model.eos_id, max_len, beam_width)
            cost[name][0] += dec.calls
            cost[name][1] += sum(len(p) + 1 for p in dec.prefixes)  # a replay runs every prefix from <bos>
    for name, (cached, replay) in cost.items():
        print(f"decoder steps per sentence, {name:6s}: {cached / n_calls:5.1f} with the prefix cache, "
              f"{replay / n_calls:6.1f} replaying each prefix")
    print(f"load average after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--beam-width", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    main(seed=args.seed, beam_width=args.beam_width, threads=args.threads)
