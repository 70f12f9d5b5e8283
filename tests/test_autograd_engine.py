"""Engine properties: accumulation, backward twice, fan-out, no_grad, deep chains, dtypes and error messages."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinyllm.functional as F
from tinyllm import Tensor, no_grad
from tinyllm.autograd import anomaly
from tinyllm.autograd.function import Function
from tinyllm.gradcheck import gradcheck


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


def test_intermediate_grads_are_not_kept_and_leaf_grads_are_own_arrays():
    a = Tensor(np.ones(3), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    h = a + b
    h.sum().backward()
    assert h.grad is None  # only leaves keep gradients
    assert type(a.grad) is np.ndarray and a.grad is not b.grad
    a.grad *= 10  # an optimizer scaling one gradient in place must not touch another
    np.testing.assert_array_equal(b.grad, 1.0)
    a.zero_grad()
    assert a.grad is None


@st.composite
def programs(draw):
    """A random DAG: each step combines two earlier values, so values are reused (fan-out) in any order and
    gradients of every kind (shared arrays, views, sparse slices) meet in the accumulator."""
    n_inputs = draw(st.integers(1, 3))
    steps = draw(st.lists(st.tuples(st.sampled_from(["add", "mul", "sub", "tanh", "sigmoid", "flip", "gather"]),
                                    st.integers(0, 10**6), st.integers(0, 10**6)), min_size=1, max_size=12))
    return n_inputs, steps


def run_program(program, *xs):
    _, steps = program
    values = list(xs)
    for op, i, j in steps:
        a, b = values[i % len(values)], values[j % len(values)]
        values.append({"add": lambda: a + b, "mul": lambda: a * b, "sub": lambda: a - b,
                       "tanh": lambda: a.tanh(), "sigmoid": lambda: b.sigmoid(),
                       "flip": lambda: a[::-1],  # basic index: sparse gradient written in place
                       "gather": lambda: b[np.array([1, 1])]}[op]())  # repeated index: scatter-add
    return sum(values[len(xs):], values[0] * 0.0)


@given(program=programs(), seed=st.integers(0, 2**32 - 1))
def test_random_graphs_with_shared_subexpressions(program, seed):
    xs = np.random.default_rng(seed).normal(size=(program[0], 2)) * 0.5  # each value has shape (2,)
    assert gradcheck(lambda *ts: run_program(program, *ts), *xs)


def test_a_learners_own_function_gradchecks():
    class Cube(Function):
        """y = x^3; dx = 3 x^2 g."""

        def forward(self, x):
            self.save_for_backward(x)
            return x ** 3

        def backward(self, grad):
            (x,) = self.saved_tensors
            return (3 * x * x * grad,)

    x = np.random.default_rng(0).normal(size=(2, 3))
    assert gradcheck(lambda t: Cube.apply(t), x)


def test_wrong_gradient_shape_names_the_op():
    class Broken(Function):
        def forward(self, x):
            return x.sum()

        def backward(self, grad):
            return (np.ones(7),)

    with pytest.raises(RuntimeError, match=r"Broken.backward returned a gradient of shape \(7,\).*\(2, 3\)"):
        Broken.apply(Tensor(np.ones((2, 3)), requires_grad=True)).backward()


def test_gradcheck_catches_a_wrong_backward():
    class WrongSquare(Function):
        def forward(self, x):
            self.save_for_backward(x)
            return x * x

        def backward(self, grad):
            (x,) = self.saved_tensors
            return (x * grad,)  # should be 2 x g

    with pytest.raises(AssertionError, match="gradcheck failed"):
        gradcheck(lambda t: WrongSquare.apply(t), np.ones(3))


def test_anomaly_backward_and_masks():
    x = Tensor(np.array([0.0, 1.0]), requires_grad=True)
    with anomaly.detect_anomaly(), np.errstate(divide="ignore"):
        y = x.sqrt().sum()  # forward is finite at 0, the gradient 1/(2 sqrt(0)) is not
        with pytest.raises(anomaly.AnomalyError, match="'Pow' backward"):
            y.backward()
        F.masked_fill(x, np.array([True, False]), -np.inf)  # -inf masks are intended, not anomalies
        with pytest.raises(anomaly.AnomalyError, match="Where"):
            F.masked_fill(x, np.array([True, False]), np.nan)
    assert not anomaly.enabled


def test_more_errors_and_interop():
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match=r"grad has shape \(2,\)"):
        (x * 2).backward(np.ones(2))
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor(np.ones(1)).backward()
    y = np.ones(3) + x  # ndarray on the left still builds a Tensor
    assert isinstance(y, Tensor) and y.requires_grad
    mask = x > 0.5
    assert mask.dtype == bool and not mask.requires_grad
    assert Tensor(np.arange(3)).dtype.kind == "i"  # integers stay integers (ids, targets)
    with pytest.raises(ZeroDivisionError):
        with no_grad():
            1 / 0
    assert (x * 2).requires_grad  # grad mode restored after an exception


def test_qkv_style_slices_accumulate_into_one_gradient():
    qkv = Tensor(np.random.default_rng(0).normal(size=(3, 2, 4)), requires_grad=True)
    q, k, v = qkv[0], qkv[1], qkv[2]
    (q * 1.0 + k * 2.0 + v * 3.0 + qkv[1:].sum(axis=0)).sum().backward()
    expected = np.stack([np.full((2, 4), 1.0), np.full((2, 4), 3.0), np.full((2, 4), 4.0)])
    np.testing.assert_array_equal(qkv.grad, expected)
