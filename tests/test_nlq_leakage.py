"""scripts/nlq_leakage.py: the nearest training question of each test question by word-set Jaccard."""
import importlib.util
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from tinyllm.nlq.evaluate import Case

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "nlq_leakage.py"
spec = importlib.util.spec_from_file_location("nlq_leakage_script", SCRIPT)
leak = importlib.util.module_from_spec(spec)
spec.loader.exec_module(leak)

WORDS = st.lists(st.sampled_from("papers by hao li in cs.CV newest top 10 passages of emma".split()), min_size=1,
                 max_size=6).map(" ".join)


def _case(question, index="articles", id_="t"):
    return Case(id_, index, question, {"query": {"match_all": {}}}, "set")


@given(WORDS, st.lists(WORDS, min_size=1, max_size=5))
def test_an_identical_question_is_nearest_at_one(q, others):
    examples = [{"index": "articles", "question": o} for o in others] + [{"index": "articles", "question": q}]
    sim, case, nearest = leak.closest([_case(q.upper())], examples)[0]
    assert sim == 1.0 and leak.word_set(nearest) == leak.word_set(q)


@given(WORDS, WORDS)
def test_similarity_is_symmetric_and_bounded(a, b):
    ab = leak.closest([_case(a)], [{"index": "articles", "question": b}])[0][0]
    ba = leak.closest([_case(b)], [{"index": "articles", "question": a}])[0][0]
    assert ab == ba and 0.0 <= ab <= 1.0


def test_other_indexes_are_not_searched_and_rows_are_sorted():
    tests = [_case("papers by Hao Li", "articles", "a"), _case("passages of Emma", "gutenberg", "g")]
    examples = [{"index": "articles", "question": "passages of Emma"}, {"index": "gutenberg", "question": "Emma"}]
    rows = leak.closest(tests, examples)
    assert [r[1].id for r in rows] == ["g", "a"] and rows[1][0] == 0.0 and rows[0][0] == 1 / 3


def test_a_bad_threshold_is_named(capsys):
    with pytest.raises(SystemExit):
        leak.main(["--threshold=0"])
    assert "--threshold must be in (0, 1]" in capsys.readouterr().err


def test_a_missing_file_is_named(capsys, tmp_path):
    with pytest.raises(SystemExit):
        leak.main([f"--examples={tmp_path / 'none.jsonl.gz'}"])
    assert "--examples: no such file" in capsys.readouterr().err
