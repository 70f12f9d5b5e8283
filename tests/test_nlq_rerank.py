"""The beam re-ranker (tinyllm/nlq/rerank.py): features, ordering, training, and its file."""
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinyllm.nlq.rerank import LOGP, Reranker, features, fit

Q = "papers by Ann Lee not in cs.AI"          # words: papers0 by1 Ann2 Lee3 not4 in5 cs.AI6
RIGHT = ["<filter>", "term", "f:author", "@2", "@3", ";", "<must_not>", "term", "f:categories", "@6", ";", "<end>"]
WRONG = ["<filter>", "term", "f:categories", "@6", ";", "<must_not>", "term", "f:author", "@2", "@3", ";", "<end>"]


def test_features_read_the_words_around_each_copied_span():
    phi = features(Q, RIGHT, -1.5)
    assert phi[LOGP] == -1.5
    assert phi["left|by|<filter>"] == 1 and phi["leftf|by|f:author"] == 1
    assert phi["left|in|<must_not>"] == 1 and phi["win|not|<must_not>"] == 1      # "not" two words before cs.AI
    assert phi["right|not|f:author"] == 1 and phi["right|</s>|f:categories"] == 1
    assert phi["first|ann|f:author"] == 1 and phi["span|term|f:author|2"] == 1
    assert "win|not|<must_not>" not in features(Q, WRONG, -1.0)                     # Ann Lee has no "not" before it


def test_a_clause_that_copies_nothing_is_counted_by_its_kind():
    phi = features("robotics papers", ["<q>", "term", "f:categories", "=cs.RO", ";", "<end>"], 0.0)
    assert phi["lit|<q>|term|f:categories"] == 1


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-20, 0, allow_nan=False), min_size=1, max_size=6))
def test_the_default_reranker_keeps_the_decoders_order(scores):
    found = sorted(((s, ["<q>", "match", "f:title", f"@{i % 2}", ";", "<end>"]) for i, s in enumerate(scores)),
                   key=lambda f: -f[0])
    assert Reranker().order("deep learning", found) == found


def _groups(n, seed):
    """Questions where the right beam is the one whose author clause follows "by", ranked second by log p."""
    rng, groups = np.random.default_rng(seed), []
    for _ in range(n):
        lp = sorted(rng.uniform(-3, 0, 2), reverse=True)
        groups.append([(Q, WRONG, lp[0], False), (Q, RIGHT, lp[1], True)])
    return groups


def test_fit_learns_what_the_log_probability_gets_wrong():
    rr = fit(_groups(40, 0), l2=1e-3, steps=200)
    assert Reranker().order(Q, [(-0.5, WRONG), (-1.0, RIGHT)])[0][1] == WRONG
    assert rr.order(Q, [(-0.5, WRONG), (-1.0, RIGHT)])[0][1] == RIGHT
    assert rr.weights["win|not|<must_not>"] > 0


def test_fit_ignores_questions_whose_beams_all_agree():
    all_right = [[(Q, WRONG, -0.1, True), (Q, RIGHT, -2.0, True)]] * 5
    rr = fit(all_right, l2=0.0, steps=20)
    assert rr.weights == {LOGP: 1.0}


def test_save_and_load_round_trip_as_json(tmp_path):
    rr = fit(_groups(10, 1), steps=20)
    rr.meta = {"seeds": [11]}
    path = tmp_path / "rerank.json"
    rr.save(path)
    back = Reranker.load(path)
    assert back.weights == rr.weights and back.meta == {"seeds": [11]}
    assert json.loads(path.read_text())["weights"] == rr.weights
    assert [p.name for p in tmp_path.iterdir()] == ["rerank.json"]                   # no temp file left


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"weights": {"logp": "x"}}', '{"w": {}}'])
def test_a_bad_file_is_a_clear_error(tmp_path, text):
    path = tmp_path / "rerank.json"
    path.write_text(text)
    with pytest.raises(ValueError, match="not a re-ranker file"):
        Reranker.load(path)


def test_train_rerank_script_fits_and_writes_weights_for_the_shipped_checkpoint(tmp_path, capsys):
    import importlib.util
    import pathlib
    script = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "train_rerank.py"
    spec = importlib.util.spec_from_file_location("train_rerank_script", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "rerank.json"
    assert mod.main(["--seeds=11", "--n=40", "--exclude-seed=7", "--steps=20", f"--out={out}"]) == 0
    rr = Reranker.load(out)
    assert rr.meta["seeds"] == [11] and LOGP in rr.weights
    printed = capsys.readouterr().out
    assert "training questions:" in printed and "train: first beam right" in printed
    with pytest.raises(SystemExit):
        mod.main(["--seeds=x"])
