"""The seed ensemble (ensemble.py): forced scoring reproduces beam scores, pooling and the mean are what they say."""
import json
import shutil

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinyllm.models.gpt import GPT, GPTConfig
from tinyllm.nlq import schema
from tinyllm.nlq.ensemble import ENSEMBLE_FILE, EnsembleModel, forced_logp
from tinyllm.nlq.nbest import nbest
from tinyllm.nlq.nlq_model import VOCAB_FILE, NLQModel
from tinyllm.training.checkpoint import save_checkpoint

from test_nlq_constrained import QUESTIONS, VOCAB


def sharp(seed, vocab_size=len(VOCAB)):
    """A tiny GPT with sharp random weights, so beams and members really disagree."""
    model = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=96, vocab_size=vocab_size), seed=0)
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        p.data[...] = rng.normal(0, 0.5, p.data.shape).astype(p.data.dtype)
    return model


@settings(deadline=None, max_examples=12)
@given(seed=st.integers(0, 2**31 - 1), q=st.sampled_from(QUESTIONS), index=st.sampled_from(schema.INDEXES),
       width=st.integers(1, 3))
def test_forced_scoring_reproduces_every_beam_score(seed, q, index, width):
    model = sharp(seed)
    prompt = VOCAB.prompt(q, index)
    try:
        beams = nbest(model, VOCAB, q, index, width, prompt)
    except ValueError:                                   # ran out of context
        return
    forced = forced_logp(model, VOCAB, prompt, [tokens for _, tokens in beams])
    np.testing.assert_allclose(forced, [s for s, _ in beams], rtol=1e-5, atol=1e-5)


@settings(deadline=None, max_examples=8)
@given(seeds=st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), q=st.sampled_from(QUESTIONS),
       index=st.sampled_from(schema.INDEXES))
def test_pooled_beams_are_scored_by_the_members_mean(seeds, q, index):
    a, b = sharp(seeds[0]), sharp(seeds[1])
    try:
        found = EnsembleModel([a, b], VOCAB).nbest_raw(q, index, 2)
        own = [nbest(m, VOCAB, q, index, 2) for m in (a, b)]
    except ValueError:
        return
    pooled = {tuple(t) for beams in own for _, t in beams}
    assert {tuple(t) for _, t in found} == pooled                        # every member's beams, each once
    assert [s for s, _ in found] == sorted((s for s, _ in found), reverse=True)
    prompt = VOCAB.prompt(q, index)
    for score, tokens in found:
        mean = np.mean([forced_logp(m, VOCAB, prompt, [tokens])[0] for m in (a, b)])
        assert score == pytest.approx(mean, abs=1e-5)


def test_one_member_or_two_equal_members_change_nothing():
    model = sharp(3)
    for q in QUESTIONS[:4]:
        single = NLQModel(model, VOCAB).nbest_raw(q, "articles", 2)
        for members in ([model], [model, model]):
            found = EnsembleModel(members, VOCAB).nbest_raw(q, "articles", 2)
            assert [t for _, t in found] == [t for _, t in single]
            np.testing.assert_allclose([s for s, _ in found], [s for s, _ in single], atol=1e-5)


def save(path, model):
    save_checkpoint(path, model=model, model_name="gpt", model_config=model.config)


@pytest.fixture()
def saved(tmp_path):
    """A two-member ensemble directory written the way the shipped one is."""
    save(tmp_path, sharp(1))
    (tmp_path / VOCAB_FILE).write_text(json.dumps(VOCAB.to_dict()), encoding="utf-8")
    save(tmp_path / "members" / "seed1", sharp(2))
    (tmp_path / ENSEMBLE_FILE).write_text(json.dumps({"members": ["members/seed1"]}), encoding="utf-8")
    return tmp_path


def test_an_ensemble_directory_loads_with_every_member(saved):
    from tinyllm.nlq.translator import Translator
    model = Translator.load(saved).model
    assert isinstance(model, EnsembleModel) and len(model.members) == 2
    assert not np.array_equal(model.members[0].wte.weight.data, model.members[1].wte.weight.data)


def test_a_bad_ensemble_file_or_a_foreign_vocabulary_is_named(saved):
    (saved / ENSEMBLE_FILE).write_text('{"members": "members/seed1"}', encoding="utf-8")
    with pytest.raises(ValueError, match="ensemble"):
        EnsembleModel.load(saved)
    shutil.rmtree(saved / "members" / "seed1")
    save(saved / "members" / "seed1", sharp(2, vocab_size=len(VOCAB) + 1))
    (saved / ENSEMBLE_FILE).write_text(json.dumps({"members": ["members/seed1"]}), encoding="utf-8")
    with pytest.raises(ValueError, match="vocabulary"):
        EnsembleModel.load(saved)


def test_assemble_writes_a_half_precision_ensemble_that_translates_like_the_members(tmp_path):
    from tinyllm.nlq.ensemble import assemble
    for name, seed in (("lead", 1), ("seed2", 2)):
        save(tmp_path / name, sharp(seed))
        (tmp_path / name / VOCAB_FILE).write_text(json.dumps(VOCAB.to_dict()), encoding="utf-8")
    out = assemble(tmp_path / "ens", tmp_path / "lead", [tmp_path / "seed2"])
    assert json.loads((out / ENSEMBLE_FILE).read_text())["members"] == ["members/seed2"]
    with np.load(out / "members" / "seed2" / "weights.npz", allow_pickle=False) as z:
        assert all(z[k].dtype == np.float16 for k in z.files)
    loaded = EnsembleModel.load(out)
    assert all(p.data.dtype == np.float32 for m in loaded.members for p in m.parameters())
    whole = EnsembleModel([NLQModel.load(tmp_path / d).model for d in ("lead", "seed2")], VOCAB)
    for q in QUESTIONS[:3]:
        try:
            want = whole.nbest_raw(q, "gutenberg", 2)
        except ValueError:
            continue
        got = loaded.nbest_raw(q, "gutenberg", 2)
        np.testing.assert_allclose([s for s, _ in got], [s for s, _ in want], rtol=0.05, atol=0.05)


def test_assemble_refuses_members_with_another_vocabulary(tmp_path):
    from tinyllm.nlq.ensemble import assemble
    for name in ("lead", "other"):
        save(tmp_path / name, sharp(1))
    (tmp_path / "lead" / VOCAB_FILE).write_text(json.dumps(VOCAB.to_dict()), encoding="utf-8")
    (tmp_path / "other" / VOCAB_FILE).write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="vocabulary"):
        assemble(tmp_path / "ens", tmp_path / "lead", [tmp_path / "other"])
    assert not (tmp_path / "ens").exists()


def test_the_assemble_script_writes_reports_and_refuses_a_non_checkpoint(tmp_path, capsys):
    import importlib.util
    import pathlib
    script = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "assemble_nlq.py"
    spec = importlib.util.spec_from_file_location("assemble_nlq_script", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name, seed in (("lead", 1), ("seed2", 2)):
        save(tmp_path / name, sharp(seed))
        (tmp_path / name / VOCAB_FILE).write_text(json.dumps(VOCAB.to_dict()), encoding="utf-8")
    mod.main([str(tmp_path / "lead"), str(tmp_path / "seed2"), "--out", str(tmp_path / "ens")])
    assert "2 members" in capsys.readouterr().out and (tmp_path / "ens" / ENSEMBLE_FILE).exists()
    with pytest.raises(SystemExit):
        mod.main([str(tmp_path / "lead"), str(tmp_path / "nothing"), "--out", str(tmp_path / "ens2")])
    assert "nothing: not a checkpoint directory" in capsys.readouterr().err


def test_the_shipped_checkpoint_is_a_two_seed_ensemble():
    from tinyllm.nlq.translator import DEFAULT_PATH
    if not (DEFAULT_PATH / ENSEMBLE_FILE).exists():
        pytest.skip("the shipped checkpoint is not an ensemble")
    model = EnsembleModel.load(DEFAULT_PATH)
    seeds = [json.loads((DEFAULT_PATH / d / "manifest.json").read_text())["train_config"]["seed"]
             for d in [".", *json.loads((DEFAULT_PATH / ENSEMBLE_FILE).read_text())["members"]]]
    assert len(model.members) == 2 and len(set(seeds)) == 2 and model.reranker is not None
