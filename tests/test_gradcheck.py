"""The finite-difference helpers and the error measure."""
import numpy as np
import pytest

from solutions.gradcheck import numerical_gradient, numerical_gradient_array, rel_error


def test_rel_error_is_zero_for_equal_arrays_and_symmetric():
    a = np.array([1.0, -2.0, 3.0])
    b = a + np.array([1e-3, 0.0, -2e-3])
    assert rel_error(a, a) == 0.0
    assert rel_error(a, b) == rel_error(b, a)
    # the worst entry decides: |1 - 1.001| / (1 + 1.001) beats 2e-3 / 5.998
    assert rel_error(a, b) == pytest.approx(1e-3 / 2.001)


def test_rel_error_floor_keeps_tiny_values_finite():
    assert rel_error(np.zeros(3), np.full(3, 1e-12)) == pytest.approx(1e-4)


def test_rel_error_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(3,\) and \(2,\)"):
        rel_error(np.zeros(3), np.zeros(2))


def test_numerical_gradient_of_a_quadratic(rng):
    A = rng.standard_normal((4, 4))
    x = rng.standard_normal(4)
    x_before = x.copy()
    grad = numerical_gradient(lambda v: v @ A @ v, x)
    assert rel_error(grad, (A + A.T) @ x) < 1e-8
    np.testing.assert_array_equal(x, x_before)  # the input is not modified


def test_numerical_gradient_array_of_a_matrix_product(rng):
    W = rng.standard_normal((3, 5))
    x = rng.standard_normal((2, 3))
    dout = rng.standard_normal((2, 5))
    grad = numerical_gradient_array(lambda v: v @ W, x, dout)
    assert rel_error(grad, dout @ W.T) < 1e-8


def test_numerical_gradient_array_checks_the_shape_of_dout(rng):
    with pytest.raises(ValueError, match="dout has shape"):
        numerical_gradient_array(lambda v: v * 2, np.ones(3), np.ones(4))


def test_fourth_order_stencil_is_more_accurate_on_a_cubic():
    f = lambda v: float(np.sum(v**5))  # noqa: E731
    x = np.array([0.7, -1.3])
    exact = 5 * x**4
    err2 = rel_error(numerical_gradient(f, x, h=1e-3), exact)
    err4 = rel_error(numerical_gradient(f, x, h=1e-3, order=4), exact)
    assert err4 < 1e-10 < err2


def test_unknown_order_is_refused():
    with pytest.raises(ValueError, match="order must be 2 or 4"):
        numerical_gradient(np.sum, np.ones(2), order=3)


def test_gradient_error_keeps_growing_past_one():
    from solutions.gradcheck import gradient_error

    g = np.array([1.0, -2.0, 0.5])
    assert gradient_error(g, g) == 0.0
    assert gradient_error(np.zeros(3), g) == pytest.approx(1.0)
    assert gradient_error(-g, g) == pytest.approx(2.0)
    assert gradient_error(5 * g, g) == pytest.approx(4.0)
    assert gradient_error(np.full(3, 1e-9), np.zeros(3)) < 1e-8  # a zero gradient is compared absolutely


def test_check_gradients_reports_every_gradient_then_names_the_wrong_ones_worst_first(capsys):
    from solutions.gradcheck import check_gradients

    x, w = np.array([0.3, -1.2]), np.array([0.7, 0.4])

    def loss(x, w):
        return float(np.sum(x * w) ** 2)

    s = np.sum(x * w)
    with pytest.raises(AssertionError) as err:
        check_gradients(loss, [x, w], [2 * s * w, -6 * s * x], ["dx", "dw"])
    assert "dx" not in str(err.value).split(";")[0] and str(err.value).startswith("wrong gradients: dw (4.0e+00)")
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0].strip() for line in printed] == ["dx", "dw"]
    assert printed[0].endswith("ok") and printed[1].endswith("WRONG")
    with pytest.raises(AssertionError,
                       match=r"^wrong gradients: dw \(shape \(3,\), expected \(2,\)\), dx \(1\.0e\+00\)"):
        check_gradients(loss, [x, w], [np.zeros(2), np.zeros(3)], ["dx", "dw"])
    with pytest.raises(AssertionError, match="expected 2 gradients"):
        check_gradients(loss, [x, w], [2 * s * w], ["dx", "dw"])
    check_gradients(loss, [x, w], [2 * s * w, 2 * s * x], ["dx", "dw"])  # right: no error
