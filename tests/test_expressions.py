"""The expression-tree data: printed trees parse back to their value, every prefix is a valid prefix."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinyllm.datasets.expressions import ExpressionConfig, check_line, make_corpus, random_line, random_tree

configs = st.builds(ExpressionConfig, max_depth=st.integers(0, 5), leaf_prob=st.floats(0, 1),
                    operators=st.sampled_from(["+", "-*", "+-*"]), max_literal=st.integers(0, 20),
                    partial_prob=st.floats(0, 1), with_value=st.booleans())


@given(cfg=configs, seed=st.integers(0, 2**32 - 1))
def test_full_lines_are_complete_and_prefixes_are_prefixes(cfg, seed):
    rng = np.random.default_rng(seed)
    text, value = random_tree(cfg, rng)
    line = f"{text}={value}" if cfg.with_value else text
    assert check_line(line) == "complete"
    for cut in range(1, len(line)):
        assert check_line(line[:cut]) in ("prefix", "complete")
    assert check_line(random_line(cfg, rng)) in ("prefix", "complete")


def test_known_lines():
    assert check_line("((3*4)-(2+7))=3") == "complete"
    assert check_line("((3*4)-(2+7))=4") == "wrong_value"
    assert check_line("((3*4)-(2+7))=") == "prefix"
    assert check_line("((3*4)-") == "prefix"
    assert check_line("(3*4))") == "invalid"
    assert check_line("(3*)") == "invalid"
    assert check_line("(12+30)=42") == "complete"
    assert check_line("(1-9)=-8") == "complete"


def nesting(line):
    depth = deepest = 0
    for c in line:
        depth += (c == "(") - (c == ")")
        deepest = max(deepest, depth)
    return deepest


def test_corpus_is_seeded_and_shaped():
    cfg = ExpressionConfig(max_depth=3)
    a, b = make_corpus(200, cfg, seed=1), make_corpus(200, cfg, seed=1)
    assert a == b and a != make_corpus(200, cfg, seed=2)
    lines = a.splitlines()
    assert len(lines) == 200 and all(check_line(x) in ("prefix", "complete") for x in lines)
    assert max(nesting(x) for x in lines) == 3                 # max_depth bounds how many parens are open
    assert all("=" not in x for x in make_corpus(50, ExpressionConfig(with_value=False)).splitlines())


def test_bad_config_errors():
    with pytest.raises(ValueError, match="operators"):
        ExpressionConfig(operators="/")
    with pytest.raises(ValueError, match="max_depth"):
        ExpressionConfig(max_depth=-1)
    with pytest.raises(ValueError, match="partial_prob"):
        ExpressionConfig(partial_prob=2)
    with pytest.raises(ValueError, match="n_lines"):
        make_corpus(-1)
