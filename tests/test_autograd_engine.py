"""Engine properties: accumulation, backward twice, fan-out, no_grad, deep chains, dtypes and error messages."""
import numpy as np
import pytest

import tinyllm.functional as F
from tinyllm import Tensor, no_grad
from tinyllm.autograd import anomaly


def test_backward_twice_gives_twice_the_gradient():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward()
    first = x.grad.copy()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * first)
    np.testing.assert_allclose(first, 2 * x.data)


def test_fan_out_accumulates():
    x = Tensor(np.array([0.5, -1.5]), requires_grad=True)
    y = x * 3.0 + x.exp() + x  # x used three times
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 3.0 + np.exp(x.data) + 1.0)


def test_no_grad_builds_nothing_as_context_and_decorator():
    x = Tensor(np.ones(3), requires_grad=True)
    with no_grad():
        y = (x * 2).sum()
    assert not y.requires_grad and y._ctx is None

    @no_grad()
    def f(t):
        return t.exp()

    z = f(x)
    assert not z.requires_grad and z._ctx is None
    assert (x * 2).requires_grad  # grad mode is restored afterwards


def test_deep_chain_does_not_recurse():
    x = Tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 0.0
    y.backward()
    assert x.grad == 1.0


def test_float32_stays_float32_with_python_scalars():
    x = Tensor([1.0, 2.0], requires_grad=True)
    assert x.dtype == np.float32
    y = (x * 0.5 + 1.0) / 3.0 - 2.0 ** x
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32
    assert Tensor(np.zeros(2)).dtype == np.float64  # float64 kept when given


def test_error_messages():
    with pytest.raises(TypeError, match="float"):
        Tensor(np.array([1, 2]), requires_grad=True)
    with pytest.raises(RuntimeError, match="1-element"):
        (Tensor(np.ones(3), requires_grad=True) * 2).backward()
    with pytest.raises(ValueError, match=r"Add.*\(2, 3\).*\(4,\)"):
        Tensor(np.ones((2, 3))) + Tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"Sum.*axis 5"):
        Tensor(np.ones((2, 3))).sum(axis=5)
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\).*\(4, 5\)"):
        Tensor(np.ones((2, 3))) @ Tensor(np.ones((4, 5)))


def test_anomaly_names_the_op():
    x = Tensor(np.array([1.0, -1.0]), requires_grad=True)
    with anomaly.detect_anomaly(), np.errstate(invalid="ignore"):
        with pytest.raises(anomaly.AnomalyError, match="Log"):
            x.log()
    with np.errstate(invalid="ignore"):
        assert np.isnan(x.log().data[1])  # off again: NaN passes silently
