"""nn: Module walking, state_dict round trips and errors, modes, RNG state; each layer against its equation and
finite differences (float64)."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinyllm import Tensor
from tinyllm.nn import MLP, Dropout, Embedding, LayerNorm, Linear, Module, Parameter, RMSNorm


def directional_check(loss_fn, params, seed=0, eps=1e-6):
    """Compare <grad, u> from backward with a central difference of loss_fn along a random direction u."""
    rng = np.random.default_rng(seed)
    for p in params:
        p.grad = None
    loss_fn().backward()
    dirs = [rng.standard_normal(p.shape) for p in params]
    analytic = sum(float(np.sum(p.grad * u)) for p, u in zip(params, dirs))
    for p, u in zip(params, dirs):
        p.data += eps * u
    up = float(loss_fn().data)
    for p, u in zip(params, dirs):
        p.data -= 2 * eps * u
    down = float(loss_fn().data)
    for p, u in zip(params, dirs):
        p.data += eps * u
    numeric = (up - down) / (2 * eps)
    assert abs(analytic - numeric) <= 1e-6 * max(1.0, abs(numeric)), (analytic, numeric)


class Leaf(Module):
    def __init__(self, n):
        self.w = Parameter(np.full((n,), float(n)))


class Tree(Module):
    """Parameters hidden in a list, a tuple, a dict and a nested module, plus one shared tensor."""

    def __init__(self):
        self.first = Leaf(1)
        self.items = [Leaf(2), (Leaf(3), Leaf(4))]
        self.table = {"a": Leaf(5), "b": [Leaf(6)]}
        self.shared = self.first.w          # the same tensor again: listed once
        self.note = "not a parameter"
        self.gen = np.random.default_rng(7)


def test_named_parameters_walks_lists_tuples_dicts_in_order_and_deduplicates():
    names = [n for n, _ in Tree().named_parameters()]
    assert names == ["first.w", "items.0.w", "items.1.0.w", "items.1.1.w", "table.a.w", "table.b.0.w"]
    t = Tree()
    assert [float(p.data[0]) for p in t.parameters()] == [1, 2, 3, 4, 5, 6]
    assert t.num_parameters() == 1 + 2 + 3 + 4 + 5 + 6


def test_parameter_requires_grad_and_modes_propagate():
    t = Tree()
    assert all(p.requires_grad for p in t.parameters())
    t.eval()
    assert not t.training and all(not m.training for _, m in t.named_modules())
    t.train()
    assert t.training and all(m.training for _, m in t.named_modules())


def test_state_dict_is_a_copy_and_round_trips():
    a, b = Tree(), Tree()
    for p in b.parameters():
        p.data += 100.0
    sd = b.state_dict()
    sd["first.w"][0] = -1.0                       # a copy: the model is untouched
    assert b.first.w.data[0] == 101.0
    a.load_state_dict(b.state_dict())
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb and np.array_equal(pa.data, pb.data)


def test_load_state_dict_lists_missing_unexpected_and_misshaped_keys():
    t = Tree()
    sd = t.state_dict()
    del sd["items.0.w"]
    sd["extra.w"] = np.zeros(3)
    sd["table.a.w"] = np.zeros(4)
    with pytest.raises(ValueError) as err:
        t.load_state_dict(sd)
    msg = str(err.value)
    assert "missing" in msg and "items.0.w" in msg
    assert "unexpected" in msg and "extra.w" in msg
    assert "mis-shaped" in msg and "table.a.w" in msg and "(4,)" in msg and "(5,)" in msg
    del sd["table.a.w"]
    t.load_state_dict(sd, strict=False)           # missing/unexpected tolerated when not strict


def test_load_keeps_parameter_objects_and_dtype():
    lin = Linear(3, 2, dtype=np.float32)
    w = lin.weight
    lin.load_state_dict({"weight": np.ones((3, 2), dtype=np.float64), "bias": np.zeros(2)})
    assert lin.weight is w and w.dtype == np.float32 and np.all(w.data == 1)


def test_zero_grad_and_to_dtype():
    lin = Linear(3, 2)
    lin(Tensor(np.ones((4, 3), dtype=np.float32))).sum().backward()
    assert lin.weight.grad is not None
    lin.zero_grad()
    assert all(p.grad is None for p in lin.parameters())
    assert lin.to(np.float64).weight.dtype == np.float64
    with pytest.raises(ValueError, match="float"):
        lin.to(np.int32)


def test_rng_state_round_trip_replays_dropout_masks():
    drop = Dropout(0.5, rng=np.random.default_rng(3))
    x = Tensor(np.ones((8, 8)))
    state = drop.rng_state()
    first = drop(x).data.copy()
    drop.set_rng_state(state)
    assert np.array_equal(drop(x).data, first)
    with pytest.raises(ValueError, match="no generator named"):
        drop.set_rng_state({"nope": state["rng"]})


@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5), st.booleans(), st.integers(0, 2**16))
def test_linear_equals_xw_plus_b_for_any_leading_shape(lead, n_in, n_out, bias, seed):
    rng = np.random.default_rng(seed)
    lin = Linear(n_in, n_out, bias=bias, rng=rng, dtype=np.float64)
    if bias:
        lin.bias.data[:] = rng.standard_normal(n_out)
    x = rng.standard_normal((2, lead, n_in))
    expect = x @ lin.weight.data + (lin.bias.data if bias else 0.0)
    np.testing.assert_allclose(lin(Tensor(x)).data, expect, rtol=1e-12, atol=1e-12)
    assert lin.weight.shape == (n_in, n_out)


@given(st.integers(1, 6), st.booleans(), st.integers(0, 2**16))
def test_layernorm_and_rmsnorm_follow_their_equations(dim, bias, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, dim)) * 5 + 2
    ln = LayerNorm(dim, bias=bias, dtype=np.float64)
    ln.weight.data[:] = rng.standard_normal(dim)
    expect = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * ln.weight.data
    if bias:
        ln.bias.data[:] = rng.standard_normal(dim)
        expect = expect + ln.bias.data
    np.testing.assert_allclose(ln(Tensor(x)).data, expect, rtol=1e-9, atol=1e-9)
    rms = RMSNorm(dim, eps=1e-6, dtype=np.float64)
    expect = x / np.sqrt((x ** 2).mean(-1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(rms(Tensor(x)).data, expect, rtol=1e-12)


def test_embedding_picks_rows_and_rejects_bad_ids():
    emb = Embedding(5, 3, dtype=np.float64)
    ids = np.array([[0, 4], [4, 2]])
    assert np.array_equal(emb(ids).data, emb.weight.data[ids])
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        emb(np.array([5]))
    with pytest.raises(ValueError, match="integer"):
        emb(np.array([0.5]))


def test_dropout_scales_survivors_is_identity_in_eval_and_seeded():
    x = Tensor(np.ones((200, 50)))
    drop = Dropout(0.25, rng=np.random.default_rng(0))
    y = drop(x).data
    assert set(np.unique(y)) <= {0.0, 1 / 0.75}
    assert abs((y == 0).mean() - 0.25) < 0.02
    assert np.array_equal(Dropout(0.25, rng=np.random.default_rng(0))(x).data, y)
    drop.eval()
    assert drop(x) is x
    assert Dropout(0.0)(x) is x


@pytest.mark.parametrize("make, message", [
    (lambda: Linear(0, 3), "in_features"),
    (lambda: Linear(3, -1), "out_features"),
    (lambda: Linear(2.5, 3), "in_features"),
    (lambda: Embedding(True, 3), "num_embeddings"),
    (lambda: LayerNorm(0), "dim"),
    (lambda: Dropout(1.0), "p"),
    (lambda: Dropout(-0.1), "p"),
    (lambda: MLP(4, hidden=0), "hidden"),
])
def test_bad_constructor_arguments_name_the_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_linear_rejects_wrong_input_width():
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        Linear(3, 2)(Tensor(np.ones((2, 4))))


@pytest.mark.parametrize("bias", [True, False])
def test_mlp_and_norm_gradients_match_finite_differences(bias):
    rng = np.random.default_rng(1)
    mlp = MLP(4, hidden=6, bias=bias, rng=rng, dtype=np.float64)
    norm = LayerNorm(4, bias=bias, dtype=np.float64)
    rms = RMSNorm(4, dtype=np.float64)
    for p in norm.parameters() + rms.parameters() + (mlp.parameters() if bias else []):
        p.data += 0.3 * rng.standard_normal(p.shape)      # move away from the trivial init values
    x = Tensor(rng.standard_normal((5, 4)), requires_grad=True)
    target = rng.standard_normal((5, 4))

    def loss():
        y = rms(mlp(norm(x)))
        return ((y - target) * (y - target)).sum()

    directional_check(loss, [x] + norm.parameters() + mlp.parameters() + rms.parameters())


def test_repr_shows_nested_modules_inside_lists():
    text = repr(Tree())
    assert "(items.1.0): Leaf()" in text and "(table.b.0): Leaf()" in text
    assert repr(Linear(3, 2, bias=False)) == "Linear(in=3, out=2, bias=False)"
