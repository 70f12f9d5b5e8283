"""The default grid's design: shapes centred on the expected optimum per budget, and lr ∝ 1/width."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinyllm.scaling.flops import gpt_params
from tinyllm.scaling.sweep import SweepConfig, expected_optimum, parse_shape, plan, run_lr, shapes_for_budget

LADDER = ("1x4", "1x6", "1x8", "2x8", "1x16", "2x16", "2x24", "2x32", "2x48")


def non_embedding(cfg, shape):
    L, width = parse_shape(shape, cfg.head_dim)
    return gpt_params(L, width, cfg.vocab_size, cfg.block_size).non_embedding


@settings(max_examples=40)
@given(C=st.floats(1e9, 1e13), guess=st.floats(10.0, 1e7), k=st.integers(1, 9))
def test_each_budget_gets_a_window_of_the_ladder_around_its_guess(C, guess, k):
    cfg = SweepConfig(budgets=(C,), shapes=LADDER[::-1], sizes_per_budget=k, n_star_guess=guess)
    feasible = shapes_for_budget(SweepConfig(budgets=(C,), shapes=LADDER, sizes_per_budget=0), C)
    ladder = sorted(feasible, key=lambda s: non_embedding(cfg, s))
    got = shapes_for_budget(cfg, C)
    assert len(got) == min(k, len(ladder))
    if got:
        start = ladder.index(got[0])
        assert got == ladder[start:start + len(got)]                       # consecutive sizes, smallest first
        log_guess = math.log(expected_optimum(cfg, C))
        nearest = min(ladder, key=lambda s: abs(math.log(non_embedding(cfg, s)) - log_guess))
        assert nearest in got                                              # the guess sits inside the window
    assert [s["n_layer"] * 1000 + s["n_embd"] for s in plan(cfg)] == \
        [parse_shape(s, 8)[0] * 1000 + parse_shape(s, 8)[1] for s in got]
    assert all(s["iters"] >= cfg.min_iters for s in plan(cfg))


def test_window_slides_inwards_at_the_ends_and_zero_means_every_shape():
    low = SweepConfig(budgets=(1e11,), shapes=LADDER, sizes_per_budget=3, n_star_guess=1.0)
    assert shapes_for_budget(low, 1e11) == ["1x4", "1x6", "1x8"]
    high = SweepConfig(budgets=(1e11,), shapes=LADDER, sizes_per_budget=3, n_star_guess=1e9)
    assert shapes_for_budget(high, 1e11) == ["2x24", "2x32", "2x48"]
    every = SweepConfig(budgets=(1e11,), shapes=LADDER, sizes_per_budget=0)
    assert len(shapes_for_budget(every, 1e11)) == len(LADDER)


def test_the_default_grid_brackets_its_guess_at_every_budget():
    cfg = SweepConfig()
    for C in cfg.budgets:
        sizes = [non_embedding(cfg, s) for s in shapes_for_budget(cfg, C)]
        assert len(sizes) == cfg.sizes_per_budget and min(sizes) < expected_optimum(cfg, C) < max(sizes)


@given(width=st.integers(1, 512), lr=st.floats(1e-5, 1.0), lr_width=st.integers(0, 256))
def test_lr_scales_as_one_over_width(width, lr, lr_width):
    cfg = SweepConfig(lr=lr, lr_width=lr_width)
    if lr_width == 0:
        assert run_lr(cfg, width) == lr
    else:
        assert run_lr(cfg, width) * width == pytest.approx(lr * lr_width)
        assert run_lr(cfg, lr_width) == pytest.approx(lr)


def test_specs_carry_their_lr_and_heads_and_the_grid_does_not_change_the_recipe():
    cfg = SweepConfig(budgets=(1e10,), shapes=("1x4", "1x16", "2x32"), sizes_per_budget=0, lr=1e-2, lr_width=16)
    specs = {s["n_embd"]: s for s in plan(cfg)}
    assert specs[4]["lr"] == pytest.approx(4e-2) and specs[32]["lr"] == pytest.approx(5e-3)
    assert specs[4]["n_head"] == 1 and specs[16]["n_head"] == 2 and specs[32]["n_head"] == 4
    assert SweepConfig(sizes_per_budget=2, n_star_guess=50.0).key() == SweepConfig().key()
    assert SweepConfig(lr_width=0).key() != SweepConfig().key()


def test_bad_grid_settings_are_named():
    assert parse_shape("1x6", 8) == (1, 6)           # narrower than a head: one head
    with pytest.raises(ValueError, match="head_dim"):
        parse_shape("1x12", 8)
    for field, value in (("sizes_per_budget", -1), ("n_star_guess", 0.0), ("lr_width", -2), ("lr", 0.0)):
        with pytest.raises(ValueError, match=field):
            SweepConfig(**{field: value})
