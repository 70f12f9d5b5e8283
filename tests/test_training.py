"""The trainer end to end on a tiny GPT: it learns, resume == uninterrupted bit for bit, accumulation, NaN guard."""
import dataclasses
import json
import math

import numpy as np
import pytest

from tinyllm.datasets.batches import eval_batches, get_batch
from tinyllm.models import build_model
from tinyllm.training.trainer import TrainConfig, Trainer

MODEL = {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 8, "vocab_size": 7}
# a periodic sequence with a little noise: learnable, so the loss must fall well below log(7) = 1.95
_rng = np.random.default_rng(0)
IDS = np.where(_rng.random(3000) < 0.1, _rng.integers(0, 7, 3000), np.arange(3000) % 7).astype(np.int64)
TRAIN, VAL = IDS[:2700], IDS[2700:]


def make_trainer(tmp_path, quiet=True, dtype="float32", **overrides):
    kw = dict(batch_size=4, block_size=8, max_iters=10, lr=1e-2, min_lr=1e-3, warmup_iters=2, lr_decay_iters=10,
              eval_interval=5, eval_iters=2, log_interval=1, seed=3, out_dir=str(tmp_path))
    cfg = TrainConfig(**{**kw, **overrides})
    model = build_model("gpt", {**MODEL, "dtype": dtype}, seed=cfg.seed)
    return Trainer(model, cfg, lambda rng: get_batch(TRAIN, cfg.batch_size, cfg.block_size, rng),
                   eval_batches(VAL, cfg.batch_size, cfg.block_size, cfg.eval_iters, seed=cfg.seed),
                   model_name="gpt", model_config=model.config, data_fingerprint="fp",
                   print_fn=(lambda *a, **k: None) if quiet else print)


def train_losses(history):
    return [r["loss"] for r in history if r["event"] == "train"]


def test_resume_equals_uninterrupted(tmp_path):
    full = make_trainer(tmp_path / "full")
    full.run()
    first = make_trainer(tmp_path / "split", max_iters=5)    # stops at 5, saving latest/ after the eval there
    first.run()
    second = make_trainer(tmp_path / "split")                 # a fresh model and optimizer...
    second.resume(tmp_path / "split" / "latest")              # ...restored from disk
    second.run()
    assert train_losses(first.history) + train_losses(second.history) == train_losses(full.history)
    for p, q in zip(full.model.parameters(), second.model.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    assert second.step == full.step == 10 and second.best_val_loss == full.best_val_loss


def test_learns_and_writes_logs_and_checkpoints(tmp_path, capsys):
    t = make_trainer(tmp_path, quiet=False, max_iters=60, lr_decay_iters=60, eval_interval=30, log_interval=20)
    t.run()
    evals = [r["val_loss"] for r in t.history if r["event"] == "eval"]
    assert len(evals) == 3 and evals[-1] < 0.7 * math.log(7)
    out = capsys.readouterr().out
    assert "step 60/60 [100%]" in out and "ms/step" in out and "ETA" in out and "best so far" in out
    lines = [json.loads(s) for s in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert lines == t.history
    assert (tmp_path / "best" / "manifest.json").exists() and (tmp_path / "latest" / "weights.npz").exists()


def test_grad_accumulation_matches_one_big_batch(tmp_path):
    # 2 micro-batches of 4 == 1 batch of 8 built from the same 8 windows (float64 so sums agree closely)
    big = make_trainer(tmp_path / "a", dtype="float64", batch_size=8, out_dir="")
    acc = make_trainer(tmp_path / "b", dtype="float64", batch_size=4, grad_accum=2, out_dir="")
    x, y = get_batch(TRAIN, 8, 8, np.random.default_rng(5))
    halves = iter([(x[:4], y[:4]), (x[4:], y[4:])])
    big.get_batch, acc.get_batch = (lambda rng: (x, y)), (lambda rng: next(halves))
    loss_big, norm_big, _ = big.train_step()
    loss_acc, norm_acc, _ = acc.train_step()
    assert loss_acc == pytest.approx(loss_big, rel=1e-12) and norm_acc == pytest.approx(norm_big, rel=1e-10)
    for p, q in zip(big.model.parameters(), acc.model.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-10, atol=1e-12)


def test_non_finite_loss_stops_with_advice_and_anomaly_check_names_the_op(tmp_path):
    t = make_trainer(tmp_path, out_dir="")
    t.model.blocks[0].mlp.fc.weight.data[0, 0] = np.nan
    with pytest.raises(FloatingPointError, match="anomaly_check"):
        t.train_step()
    t2 = make_trainer(tmp_path, out_dir="", anomaly_check=True)
    t2.model.blocks[0].mlp.fc.weight.data[0, 0] = np.nan
    with pytest.raises(FloatingPointError, match="op '.*' forward produced NaN"):
        t2.run()


@pytest.mark.parametrize("field, value", [("batch_size", 0), ("lr", -1.0), ("schedule", "step"),
                                          ("optimizer", "lion"), ("beta2", 1.0), ("min_lr", 1.0)])
def test_bad_train_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


# ---- the command line ----
def test_cli_rejects_unknown_key_with_suggestion(capsys):
    from tinyllm.training.cli import main
    assert main(["--n_layers=3"]) == 2
    assert "did you mean --model.n_layer?" in capsys.readouterr().err
    assert main(["--preset=huge"]) == 2 and "unknown preset" in capsys.readouterr().err
    assert main(["--model.block_size=32"]) == 2 and "--block_size" in capsys.readouterr().err
    assert main(["--lr=fast"]) == 2 and "--lr" in capsys.readouterr().err
    assert main(["--model=gpt", "--preset=mamba_tiny"]) == 2 and "is for --model=mamba" in capsys.readouterr().err


def test_cli_preset_picks_its_architecture():
    from tinyllm.training.cli import build_config
    assert build_config([])[0] == "gpt"
    name, cfg, _ = build_config(["--preset=mamba_tiny", "--max_iters=3"])
    assert name == "mamba" and cfg.max_iters == 3 and type(cfg.model).__name__ != "GPTConfig"
    assert build_config(["--model=mamba"])[0] == "mamba"


def test_cli_models_without_their_own_preset_take_the_baby_recipe():
    from tinyllm.training.cli import build_config
    for name, config_name in [("gpt_zoo", "ZooConfig"), ("bert", "BertConfig")]:
        model_name, cfg, _ = build_config([f"--model={name}", "--model.pos=rope"])
        assert (model_name, type(cfg.model).__name__, cfg.model.pos) == (name, config_name, "rope")
        assert (cfg.model.n_layer, cfg.model.n_embd, cfg.max_iters) == (4, 128, 2000)
    from tinyllm.config import ConfigError
    with pytest.raises(ConfigError, match="is for --model=gpt, not --model=mamba"):
        build_config(["--model=mamba", "--preset=baby"])


def test_cli_help_lists_every_field_with_preset_defaults(capsys):
    from tinyllm.training.cli import main
    from tinyllm.training.trainer import TrainConfig
    assert main(["--preset=tiny", "--help"]) == 0
    out = capsys.readouterr().out
    for f in dataclasses.fields(TrainConfig):
        if f.name != "model":
            assert f"--{f.name} " in out
    assert "--model.n_layer " in out and "out/tiny" in out


def test_cli_trains_resumes_and_samples_on_a_text_file(tmp_path):
    from tinyllm.training.cli import run
    from tinyllm.training.checkpoint import load_checkpoint
    text = tmp_path / "abc.txt"
    text.write_text("the cat sat on the mat. " * 200, encoding="utf-8")
    common = [f"--data={text}", f"--out_dir={tmp_path / 'run'}", "--preset=tiny", "--model.n_embd=16",
              "--block_size=16", "--eval_iters=2", "--sample_tokens=20", "--prompt=the "]
    lines = []
    run(common + ["--max_iters=30", "--eval_interval=10"], print_fn=lines.append)
    assert any(line.startswith("sample:\nthe ") for line in lines)
    ck = load_checkpoint(tmp_path / "run" / "latest")
    assert ck.step == 30 and ck.manifest["train_config"]["model"]["n_embd"] == 16
    assert ck.tokenizer.decode(ck.tokenizer.encode("cat")) == "cat"
    resumed = run(common + ["--max_iters=40", "--eval_interval=10", "--resume"], print_fn=lines.append)
    assert resumed.step == 40 and any("resumed from" in line for line in lines)
