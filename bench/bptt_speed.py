"""Time the reference BPTT (solutions.bptt.loss_and_grads) against torch autograd on the same model.

Run: .venv/bin/python bench/bptt_speed.py [--repeat R] [--threads P]
Prints, for N = 32 and several T and H, the median time of one loss-and-gradients call in numpy and
in torch (float64, CPU) and their ratio; the aim is a ratio (numpy / torch) of at most 1.
"""
import argparse
import os
import time

import numpy as np


def median_time(fn, repeat):
    fn()  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def torch_loss_and_grads(torch, p, x, y):
    """The same model as solutions.bptt, differentiated by autograd."""
    N, T, _ = x.shape
    h = torch.zeros(N, p["Whh"].shape[0], dtype=torch.float64)
    xw = x @ p["Wxh"] + p["bh"]
    hs = []
    for t in range(T):
        h = torch.tanh(xw[:, t] + h @ p["Whh"])
        hs.append(h)
    o = torch.stack(hs, 1) @ p["Why"] + p["by"]
    loss = torch.nn.functional.cross_entropy(o.reshape(N * T, -1), y.reshape(-1), reduction="sum") / N
    return torch.autograd.grad(loss, list(p.values()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()
    import torch

    from solutions.bptt import init_params, loss_and_grads

    torch.set_num_threads(args.threads)
    N, D, V = 32, 32, 32
    print(f"N={N} D={D} V={V} float64, torch threads={args.threads}, median of {args.repeat}")
    print(f"{'T':>5} {'H':>5} {'numpy ms':>10} {'torch ms':>10} {'numpy/torch':>12}")
    ratios = []
    for H in (64, 128, 256):
        for T in (50, 100, 200, 400):
            rng = np.random.default_rng(0)
            params = init_params(D, H, V, seed=0)
            x = rng.standard_normal((N, T, D))
            y = rng.integers(0, V, (N, T))
            tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
            tx, ty = torch.tensor(x), torch.tensor(y)
            t_np = median_time(lambda: loss_and_grads(params, x, y), args.repeat)
            t_torch = median_time(lambda: torch_loss_and_grads(torch, tp, tx, ty), args.repeat)
            ratios.append(t_np / t_torch)
            print(f"{T:>5} {H:>5} {1e3 * t_np:>10.1f} {1e3 * t_torch:>10.1f} {t_np / t_torch:>12.2f}")
    print(f"geometric mean ratio numpy/torch: {np.exp(np.mean(np.log(ratios))):.2f} (target <= 1)")


if __name__ == "__main__":
    main()
