"""Shared fixtures and helpers for the test suite."""
import numpy as np
import pytest
import torch

from solutions.gradcheck import rel_error

torch.set_default_dtype(torch.float64)

# The one error measure of the course, and the bound a finite-difference check must meet.
FD_TOL = 1e-7
TORCH_TOL = 1e-10


def t(a, grad=False):
    """A float64 torch tensor copied from a numpy array."""
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def n(a):
    """A numpy array from a torch tensor."""
    return a.detach().numpy()


def assert_close(a, b, tol, what=""):
    err = rel_error(a, b)
    assert err < tol, f"{what}: relative error {err:.3g} >= {tol:g}"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# Sizes (N, T, D, H), with the edges T = 1, N = 1, H = 1.
SIZES = [(3, 5, 4, 6), (1, 4, 3, 5), (2, 1, 3, 4), (2, 3, 2, 1), (1, 1, 1, 1)]


def check_grads_fd(forward, args, grads, names, douts, outputs=(0,)):
    """Compare each analytic gradient with central differences of sum_j <forward(*args)[j], douts[j]>.

    The fourth-order stencil with h = 1e-3 keeps round-off near 1e-13, so that gradient entries as
    small as 1e-5 still meet the 1e-7 bound.

    `grads[i]` is the gradient on `args[i]` named `names[i]`; `outputs` picks the forward's outputs
    that receive the upstream gradients `douts`.
    """
    from solutions.gradcheck import numerical_gradient

    def scalar(i, v):
        a = list(args)
        a[i] = v
        out = forward(*a)
        return sum(np.sum(out[j] * d) for j, d in zip(outputs, douts))

    for i, name in enumerate(names):
        numeric = numerical_gradient(lambda v, i=i: scalar(i, v), args[i], h=1e-3, order=4)
        assert_close(grads[i], numeric, FD_TOL, f"d{name}")
