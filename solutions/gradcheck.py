"""Central finite differences and the course's one error measure, for checking gradients.

Student-safe: depends on numpy only and contains no answer; the assignments ship it to students,
and every chapter of the book that derives a gradient checks it with these or with torch.
"""
import numpy as np

# Central-difference stencils: offsets (in steps of h) and weights, divided by h at the end.
# Order 2 is the textbook (f(x+h) - f(x-h)) / 2h; order 4 cancels the h^2 error term as well, so a
# larger h can be used and round-off shrinks: use it when gradient entries are tiny.
_STENCILS = {
    2: ((1, 0.5), (-1, -0.5)),
    4: ((2, -1 / 12), (1, 8 / 12), (-1, -8 / 12), (-2, 1 / 12)),
}


def rel_error(a, b):
    """The course's error measure: max over entries of |a - b| / max(1e-8, |a| + |b|)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error needs arrays of one shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def _stencil(order):
    if order not in _STENCILS:
        raise ValueError(f"order must be 2 or 4, got {order!r}")
    return _STENCILS[order]


def numerical_gradient(f, x, h=1e-5, order=2):
    """
    Gradient of a scalar function by central differences.

    Inputs:
    - f: function of one array returning a number
    - x: the point, any shape; it is not modified
    - h: the step
    - order: 2 for (f(x+h) - f(x-h)) / 2h, 4 for the five-point stencil (use h around 1e-3)

    Returns:
    - grad: array of x's shape, the estimate of df/dx
    """
    stencil = _stencil(order)
    x = np.array(x, dtype=np.float64)  # a private copy to perturb
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        total = 0.0
        for offset, weight in stencil:
            x[ix] = old + offset * h
            total += weight * float(f(x))
        x[ix] = old
        grad[ix] = total / h
    return grad


def numerical_gradient_array(f, x, dout, h=1e-5, order=2):
    """
    Gradient of sum(f(x) * dout) by central differences: the backward pass of an array function.

    Inputs:
    - f: function of one array returning an array of dout's shape
    - x: the point, any shape; it is not modified
    - dout: the upstream gradient on f(x)
    - h: the step
    - order: 2 or 4, as in numerical_gradient

    Returns:
    - grad: the estimate of the gradient of sum(f(x) * dout) on x, array of x's shape
    """
    dout = np.asarray(dout, dtype=np.float64)

    def weighted(v):
        out = np.asarray(f(v), dtype=np.float64)
        if out.shape != dout.shape:
            raise ValueError(f"f returned shape {out.shape} but dout has shape {dout.shape}")
        return np.sum(out * dout)

    return numerical_gradient(weighted, x, h, order)


def gradient_error(grad, estimate):
    """
    How far an analytic gradient is from a finite-difference estimate: ||grad - estimate|| / ||estimate||.

    0 when they agree; 1 for a gradient of zeros; 2 for one with the wrong sign; k - 1 for one k times too
    large. Unlike rel_error it does not stop at 1, so it also says how wrong a gradient is. An estimate of
    norm below 1e-6 (a gradient that should be zero) is compared absolutely: ||grad - estimate||.
    """
    grad = np.asarray(grad, dtype=np.float64)
    estimate = np.asarray(estimate, dtype=np.float64)
    if grad.shape != estimate.shape:
        raise ValueError(f"gradient_error needs arrays of one shape, got {grad.shape} and {estimate.shape}")
    scale = np.linalg.norm(estimate)
    return float(np.linalg.norm(grad - estimate) / (scale if scale > 1e-6 else 1.0))


def check_gradients(loss, inputs, grads, names, h=1e-3, order=4, tol=1e-7, of="the loss"):
    """
    Check every analytic gradient against finite differences, and report all of them.

    Inputs:
    - loss: function of the inputs, loss(*inputs), returning a number
    - inputs: the point, a list of arrays (none is modified)
    - grads: the analytic gradients, grads[k] of loss on inputs[k]
    - names: a name for each gradient, for the report
    - h, order: the finite-difference step and stencil (see numerical_gradient)
    - tol: the largest gradient_error that passes
    - of: what the loss is, for the message

    Prints one line per gradient (its gradient_error, ok or WRONG), then raises AssertionError naming
    every wrong gradient, first the worst, if any is wrong.
    """
    inputs = [np.asarray(v, dtype=np.float64) for v in inputs]
    grads = list(grads)
    if len(grads) != len(names):
        raise AssertionError(f"expected {len(names)} gradients ({', '.join(names)}), got {len(grads)}")
    wrong = []
    for k, (name, grad) in enumerate(zip(names, grads)):
        if np.shape(grad) != inputs[k].shape:
            print(f"{name:>10}: shape {np.shape(grad)}, expected {inputs[k].shape}  WRONG")
            wrong.append((np.inf, f"{name} (shape {np.shape(grad)}, expected {inputs[k].shape})"))
            continue

        def f(v, k=k):
            args = list(inputs)
            args[k] = v
            return loss(*args)

        err = gradient_error(grad, numerical_gradient(f, inputs[k], h, order))
        print(f"{name:>10}: error {err:.1e}  {'ok' if err < tol else 'WRONG'}")
        if not err < tol:
            wrong.append((err if np.isfinite(err) else np.inf, f"{name} ({err:.1e})"))
    if wrong:
        listed = ", ".join(text for _, text in sorted(wrong, key=lambda w: -w[0]))
        raise AssertionError(f"wrong gradients: {listed}; compared with finite differences of {of}")
