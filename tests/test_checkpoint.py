"""Checkpoints: round trip, atomic save under injected failures, and the documented errors for bad directories."""
import json
import os

import numpy as np
import pytest

from tinyllm.models import build_model
from tinyllm.tokenizers import CharTokenizer
from tinyllm.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tinyllm.training.optim import AdamW

CONFIG = {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 8, "vocab_size": 11}


def make(seed=0):
    model = build_model("gpt", CONFIG, seed=seed)
    opt = AdamW(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 11, (2, 8))
    model.loss((x, np.roll(x, 1, 1))).backward()
    opt.step()
    return model, opt, rng


def save(path, model, opt, rng, step=1, best=2.5):
    tok = CharTokenizer.train("abcdefghijk")
    return save_checkpoint(path, model=model, model_name="gpt", model_config=model.config, tokenizer=tok,
                           optimizer=opt, step=step, rng=rng, best_val_loss=best, data_fingerprint="abc123",
                           train_config={"lr": 1e-2})


def test_roundtrip_restores_everything(tmp_path):
    model, opt, rng = make()
    rng.random(3)  # advance, so the saved state is not the seed state
    save(tmp_path / "ck", model, opt, rng, step=7)
    ck = load_checkpoint(tmp_path / "ck")
    assert ck.step == 7 and ck.best_val_loss == 2.5 and ck.manifest["data_fingerprint"] == "abc123"
    assert ck.tokenizer.decode(ck.tokenizer.encode("cab")) == "cab"
    assert not ck.model.training
    for (n, p), (n2, p2) in zip(model.named_parameters(), ck.model.named_parameters()):
        assert n == n2
        np.testing.assert_array_equal(p.data, p2.data)
    fresh = AdamW(ck.model.parameters(), lr=0.5)
    fresh.load_state_dict(ck.optimizer_state)
    assert fresh.step_count == opt.step_count
    for i, s in opt.state.items():
        np.testing.assert_array_equal(s["exp_avg_sq"], fresh.state[i]["exp_avg_sq"])
    assert ck.restore_rng(np.random.default_rng(99)).random() == rng.random()
    summary = (tmp_path / "ck" / "summary.txt").read_text()
    assert "blocks.0.attn.qkv.weight" in summary and "chars tokenizer" in summary
    with np.load(tmp_path / "ck" / "weights.npz", allow_pickle=False) as z:
        assert any(k.startswith("optim/") for k in z.files) and "model/wte.weight" in z.files


def test_failed_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    model, opt, rng = make()
    save(tmp_path / "ck", model, opt, rng, step=1)
    before = load_checkpoint(tmp_path / "ck").weights["wte.weight"].copy()
    model.wte.weight.data += 1.0
    real_savez = np.savez

    def savez_then_die(file, *args, **kwargs):  # write a truncated archive, then "crash"
        real_savez(file, **dict(list(kwargs.items())[:2]))
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(np, "savez", savez_then_die)
    with pytest.raises(KeyboardInterrupt):
        save(tmp_path / "ck", model, opt, rng, step=2)
    monkeypatch.undo()
    ck = load_checkpoint(tmp_path / "ck")
    assert ck.step == 1
    np.testing.assert_array_equal(ck.weights["wte.weight"], before)
    assert sorted(os.listdir(tmp_path)) == ["ck"]  # the partial directory was cleaned up


def test_crash_between_renames_falls_back_to_previous(tmp_path, monkeypatch, capsys):
    model, opt, rng = make()
    save(tmp_path / "ck", model, opt, rng, step=1)
    real_replace, calls = os.replace, []

    def replace_then_die(src, dst):  # the old dir is moved aside, then the process dies before the new one lands
        calls.append(dst)
        if len(calls) == 2:
            raise SystemExit("killed between renames")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_then_die)
    with pytest.raises(SystemExit):
        save(tmp_path / "ck", model, opt, rng, step=2)
    monkeypatch.undo()
    assert not (tmp_path / "ck").exists()
    assert load_checkpoint(tmp_path / "ck").step == 1
    assert "interrupted" in capsys.readouterr().err
    save(tmp_path / "ck", model, opt, rng, step=3)  # the next save recovers the normal layout
    assert load_checkpoint(tmp_path / "ck").step == 3 and sorted(os.listdir(tmp_path)) == ["ck"]


def test_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="manifest.json is missing"):
        load_checkpoint(tmp_path / "empty")
    model, opt, rng = make()
    ck = save(tmp_path / "ck", model, opt, rng)
    manifest = json.loads((ck / "manifest.json").read_text())

    (ck / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(CheckpointError, match="format version 99.*HINT"):
        load_checkpoint(ck)

    (ck / "manifest.json").write_text(json.dumps(manifest)[:-20])
    with pytest.raises(CheckpointError, match="corrupt.*not valid JSON"):
        load_checkpoint(ck)

    (ck / "manifest.json").write_text(json.dumps(manifest))
    data = (ck / "weights.npz").read_bytes()
    (ck / "weights.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="weights.npz is corrupt"):
        load_checkpoint(ck)


def test_weights_that_do_not_fit_the_config_are_rejected(tmp_path):
    model, opt, rng = make()
    ck = save(tmp_path / "ck", model, opt, rng)
    manifest = json.loads((ck / "manifest.json").read_text())
    manifest["model"]["config"]["n_embd"] = 32
    (ck / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(ck)
    assert load_checkpoint(ck, build=False).model is None


def test_bad_step_rejected(tmp_path):
    model, opt, rng = make()
    with pytest.raises(ValueError, match="step"):
        save(tmp_path / "ck", model, opt, rng, step=-1)
