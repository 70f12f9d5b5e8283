"""scripts/train_nlq.py --init: a checkpoint's weights carry over into a model whose vocabulary has grown."""
import importlib.util
import json
import pathlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinyllm.models.gpt import GPTConfig
from tinyllm.nlq.nlq_model import VOCAB_FILE, MaskedGPT
from tinyllm.nlq.prepare_ir import Vocab
from tinyllm.training.checkpoint import save_checkpoint

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "train_nlq.py"


def _script():
    spec = importlib.util.spec_from_file_location("train_nlq_script", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _model(tokens, block, seed):
    cfg = GPTConfig(n_layer=1, n_head=2, n_embd=8, block_size=block, vocab_size=len(tokens))
    return MaskedGPT(cfg, seed=seed), cfg


def _save(tmp_path, tokens, block):
    model, cfg = _model(tokens, block, seed=1)
    save_checkpoint(tmp_path, model=model, model_name="gpt", model_config=cfg)
    (tmp_path / VOCAB_FILE).write_text(json.dumps(Vocab(tokens).to_dict()), encoding="utf-8")
    return model


@settings(max_examples=8, deadline=None)
@given(extra=st.integers(0, 5), drop=st.integers(0, 2), grow=st.integers(0, 3), seed=st.integers(0, 99))
def test_shared_tokens_keep_their_rows_new_tokens_keep_fresh_ones(tmp_path_factory, extra, drop, grow, seed):
    tmp = tmp_path_factory.mktemp("ckpt")
    old_tokens = [f"t{i}" for i in range(10)]
    old = _save(tmp, old_tokens, block=6)
    rng = np.random.default_rng(seed)
    new_tokens = [t for t in old_tokens[drop:]] + [f"n{i}" for i in range(extra)]
    new_tokens = [new_tokens[i] for i in rng.permutation(len(new_tokens))]
    model, _ = _model(new_tokens, 6 + grow, seed=2)
    fresh = {n: p.data.copy() for n, p in model.named_parameters()}
    carried = _script().init_weights(model, Vocab(new_tokens), str(tmp))
    assert carried == len(old_tokens) - drop
    old_w = dict(old.named_parameters())["wte.weight"].data
    new_w = dict(model.named_parameters())["wte.weight"].data
    for i, t in enumerate(new_tokens):
        want = old_w[old_tokens.index(t)] if t in old_tokens else fresh["wte.weight"][i]
        np.testing.assert_array_equal(new_w[i], want)
    wpe = dict(model.named_parameters())["wpe.weight"].data
    np.testing.assert_array_equal(wpe[:6], dict(old.named_parameters())["wpe.weight"].data)
    np.testing.assert_array_equal(wpe[6:], fresh["wpe.weight"][6:])
    for n, p in old.named_parameters():
        if n not in ("wte.weight", "wpe.weight"):
            np.testing.assert_array_equal(dict(model.named_parameters())[n].data, p.data)


def test_a_mostly_foreign_vocabulary_is_refused(tmp_path):
    _save(tmp_path, [f"t{i}" for i in range(10)], block=6)
    tokens = ["t0", "t1"] + [f"n{i}" for i in range(10)]
    model, _ = _model(tokens, 6, seed=2)
    with pytest.raises(ValueError, match="--init"):
        _script().init_weights(model, Vocab(tokens), str(tmp_path))


def test_fresh_cases_are_distilled_and_leave_out_training_questions(tmp_path):
    """--fresh-seed: new teacher examples become cases, minus every question the training file already has."""
    import gzip
    from tinyllm.nlq.distill import file_cases, fresh_cases, main as distill
    from tinyllm.nlq.examples import example_key
    from tinyllm.nlq.prepare_ir import load_examples
    from tinyllm.nlq.testing import shared_backend
    first = tmp_path / "first.jsonl.gz"
    distill(["--n=40", "--seed=11", f"--out={first}", "--quiet"], backend=shared_backend())
    examples = load_examples(str(first))
    train = tmp_path / "train.jsonl.gz"           # the "training file": half of what seed 11 distils
    with gzip.open(train, "wt") as f:
        for ex in examples[::2]:
            f.write(json.dumps({**ex, "question": "  " + ex["question"].upper()}) + "\n")
    saved = tmp_path / "saved.jsonl.gz"
    cases = fresh_cases(11, 40, str(train), save=str(saved))
    trained = {example_key(ex["index"], ex["question"]) for ex in examples[::2]}
    assert cases and len(cases) == len(examples) - len(trained)
    assert not {example_key(c.index, c.question) for c in cases} & trained
    assert load_examples(str(saved)) == examples                  # --fresh-save keeps every verified example
    again = file_cases(str(saved), str(train))                    # --fresh-file: the same cases, later
    assert [(c.question, c.gold) for c in again] == [(c.question, c.gold) for c in cases]
    assert len(file_cases(str(saved), str(first))) == 0           # a file trained on leaves nothing to score


def test_fresh_cases_refuse_an_empty_request():
    from tinyllm.nlq.distill import fresh_cases
    with pytest.raises(ValueError, match="n .teacher candidates. must be >= 1"):
        fresh_cases(7, 0)
