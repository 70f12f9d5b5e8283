"""`tinyllm train` (also `python scripts/train.py`): train a model on a text file, with presets and overrides.

    tinyllm train                                   # the baby GPT on tiny Shakespeare: minutes on 2 cores
    tinyllm train --preset=tiny                     # a seconds-long smoke test of the whole pipeline
    tinyllm train --data=my.txt --max_iters=500 --model.n_layer=6 --lr=3e-4
    tinyllm train --resume                          # continue out_dir/latest exactly where it stopped
    tinyllm train --help                            # every option with its type and default

Reads top to bottom: config -> data -> model -> optimizer (inside Trainer) -> the loop -> a sample.
"""
import dataclasses
import json
import sys
import time
from pathlib import Path

from tinyllm.config import ConfigError, help_text, merge_preset, parse_overrides, to_dict
from tinyllm.training.checkpoint import CheckpointError
from tinyllm.training.presets import PRESETS
from tinyllm.training.trainer import TrainConfig, Trainer

DEFAULT_PRESET = "baby"


def build_config(argv):
    """(model name, TrainConfig, show_help) from the command line: preset first, then --key=value overrides."""
    from tinyllm.models import MODELS
    argv, preset, model_name, show_help = list(argv), None, None, False
    rest = []
    for token in argv:
        key, _, value = token.partition("=")
        if token in ("-h", "--help"):
            show_help = True
        elif key == "--preset":
            preset = value
        elif key == "--model" and value:
            model_name = value
        elif key in ("--model.block_size", "--model.vocab_size"):
            raise ConfigError(f"{key} is set for you: use --block_size (the training context), and the vocabulary "
                              f"size comes from the tokenizer")
        else:
            rest.append(token)
    if model_name is not None and model_name not in MODELS:
        raise ConfigError(f"unknown model {model_name!r}; choose one of {sorted(MODELS)}")
    if preset is None:  # default: the chosen architecture's own baby preset ("mamba_baby", ...), else "baby"
        own = f"{model_name}_{DEFAULT_PRESET}"
        preset = own if model_name not in (None, "gpt") and own in PRESETS else DEFAULT_PRESET
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    values = dict(PRESETS[preset])
    preset_model = values.pop("model_name", "gpt")
    if model_name is None:
        model_name = preset_model
    elif not issubclass(MODELS[model_name][0], MODELS[preset_model][0]):  # e.g. gpt_zoo and bert extend GPTConfig
        raise ConfigError(f"--preset={preset} is for --model={preset_model}, not --model={model_name}")
    config_cls = MODELS[model_name][0]
    cfg = merge_preset(TrainConfig(model=config_cls()), values)
    cfg = parse_overrides(cfg, rest)
    return model_name, cfg, show_help


def load_data(cfg, print_fn=print):
    """(train_ids, val_ids, tokenizer, meta) for cfg.data, preparing a text file on first use (cached)."""
    from tinyllm.datasets.tokens import default_dataset, load_prepared, prepare
    tok_opts = {"vocab_size": cfg.bpe_vocab_size} if cfg.tokenizer == "bpe" else {}
    if not cfg.data:
        directory = default_dataset("tinyshakespeare", cfg.tokenizer, **tok_opts)
    else:
        path = Path(cfg.data)
        if path.is_dir():
            directory = path
        elif not path.is_file():
            raise FileNotFoundError(f"--data={cfg.data!r}: no such file or directory")
        elif path.suffix == ".txt":  # cached in <folder>/prepared/<name>-<tokenizer>/, redone if the text changes
            directory = default_dataset(path.stem, cfg.tokenizer, data_dir=path.parent, **tok_opts)
        else:
            directory = Path(cfg.out_dir or ".") / "data"
            prepare(path, directory, cfg.tokenizer, **tok_opts)
    train_ids, val_ids, tokenizer, meta = load_prepared(directory, mmap=False)
    print_fn(f"data: {directory} ({len(train_ids):,} train / {len(val_ids):,} val tokens, "
             f"{tokenizer.kind} tokenizer, vocab {tokenizer.vocab_size})")
    return train_ids, val_ids, tokenizer, meta


def run(argv, print_fn=print):
    """Train as the command line says; returns the Trainer (tests call this directly)."""
    from tinyllm import kernels
    from tinyllm.datasets.batches import eval_batches, get_batch
    from tinyllm.models import build_model

    model_name, cfg, _ = build_config(argv)
    print_fn(f"tinyllm train: model={model_name}  kernels={kernels.backend}  threads={kernels.num_threads()}")
    latest = Path(cfg.out_dir) / "latest"
    if cfg.resume and not (latest.exists() or latest.with_name("latest.previous").exists()):
        raise FileNotFoundError(f"--resume: nothing to resume in out_dir={cfg.out_dir!r} (no {latest}); "
                                f"drop --resume to start fresh, or pass the --out_dir of the run to continue")

    train_ids, val_ids, tokenizer, meta = load_data(cfg, print_fn)
    model_cfg = dataclasses.replace(cfg.model, block_size=cfg.block_size, vocab_size=tokenizer.vocab_size)
    cfg = dataclasses.replace(cfg, model=model_cfg)  # what is printed and stored is what runs
    print_fn("effective config: " + _one_line(to_dict(cfg)))
    model = build_model(model_name, to_dict(model_cfg), seed=cfg.seed)
    print_fn(f"model: {model.num_parameters():,} parameters; {cfg.tokens_per_step:,} tokens per step "
             f"({cfg.grad_accum} x {cfg.batch_size} x {cfg.block_size}); {cfg.max_iters} steps")

    trainer = Trainer(
        model, cfg, lambda rng: get_batch(train_ids, cfg.batch_size, cfg.block_size, rng),
        eval_batches(val_ids, cfg.batch_size, cfg.block_size, cfg.eval_iters, seed=cfg.seed),
        model_name=model_name, model_config=model_cfg, tokenizer=tokenizer, data_fingerprint=meta["sha256"],
        print_fn=print_fn)
    if trainer.shards > 1:
        print_fn(f"data-parallel: each batch in {trainer.shards} shards on threads of their own, gradients averaged "
                 f"(--data_parallel=1 turns it off)")
    if cfg.resume:
        ckpt = trainer.resume(latest)
        print_fn(f"resumed from {ckpt.path} at step {trainer.step} (best val {trainer.best_val_loss:.4f})")
    elif cfg.out_dir and (Path(cfg.out_dir) / "log.jsonl").exists():
        (Path(cfg.out_dir) / "log.jsonl").unlink()  # a fresh run starts a fresh log
    t0 = time.perf_counter()
    trainer.run()
    print_fn(f"done: {trainer.step} steps in {time.perf_counter() - t0:.1f} s; best val loss "
             f"{trainer.best_val_loss:.4f}" + (f"; checkpoints in {cfg.out_dir}/best and /latest" if cfg.out_dir else ""))
    if cfg.sample_tokens:
        prompt = cfg.prompt or tokenizer.decode([int(val_ids[0])])
        print_fn("sample:\n" + sample(trainer.model, tokenizer, cfg, prompt))
    return trainer


def _one_line(d, prefix=""):
    """{"lr": 0.001, "model": {"n_layer": 4}} -> 'lr=0.001 model.n_layer=4' (the same spelling as the options)."""
    return " ".join(_one_line(v, f"{prefix}{k}.") if isinstance(v, dict) else f"{prefix}{k}={json.dumps(v)}"
                    for k, v in d.items())


def sample(model, tokenizer, cfg, prompt):
    """A continuation of `prompt` from the trained model (KV cache, or the model's own sampler if it is not
    autoregressive, e.g. the masked diffusion LM; seeded by cfg.seed)."""
    from tinyllm.sampling.generate import generate_text
    from tinyllm.sampling.logits import SamplingConfig
    sampling = SamplingConfig(temperature=cfg.temperature, seed=cfg.seed)
    if getattr(model, "autoregressive", True):
        text = generate_text(model, tokenizer, prompt, cfg.sample_tokens, sampling)
    else:
        text = model.generate_texts(tokenizer, prompt, cfg.sample_tokens, sampling)[0]
    model.train()
    return prompt + text


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        model_name, cfg, show_help = build_config(argv)
        if show_help:
            print(__doc__.split("\n\n")[0] + "\n\n" + __doc__.split("\n\n")[1] + "\n")
            print(f"--preset=NAME picks the defaults below from {sorted(PRESETS)} (default {DEFAULT_PRESET}); "
                  f"--model=NAME the architecture (default gpt).\n--model.block_size and --model.vocab_size are "
                  f"set for you from --block_size and the tokenizer.\n")
            print(help_text(cfg))
            return 0
        run(argv)
    except (ConfigError, FileNotFoundError, CheckpointError) as e:
        print(f"tinyllm train: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

