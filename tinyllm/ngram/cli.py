"""`tinyllm ngram fit|eval|sample`: count models on any text file, from the command line.

    tinyllm ngram fit --data=data/tinyshakespeare.txt --method=mkn --order=7 --out=mkn7.npz
    tinyllm ngram eval --model=mkn7.npz --data=data/tinyshakespeare.txt --split=val
    tinyllm ngram sample --model=mkn7.npz --prompt="ROMEO:" --n=300 --temperature=0.8 --seed=1

`fit` trains on the first (1 - val_frac) of the file (nanoGPT's split: train = first 90%) and reports the held-out
cross-entropy; `eval --split=val|train|all` scores a file with a saved model.
"""
import dataclasses
import difflib
import sys
import time

from tinyllm.ngram import NGramConfig, load, make_model
from tinyllm.sampling.logits import SamplingConfig

OPTIONS = {  # option -> (type, default, help)
    "data": (str, "data/tinyshakespeare.txt", "text file (UTF-8)"),
    "out": (str, "ngram.npz", "fit: where to save the model (.npz; the naive model writes JSON)"),
    "model": (str, "ngram.npz", "eval/sample: a saved model"),
    "val_frac": (float, 0.1, "share of the file (its end) held out for validation"),
    "split": (str, "val", "eval: val | train | all"),
    "prompt": (str, "", "sample: text to continue"),
    "n": (int, 200, "sample: tokens to generate"),
}
CONFIG_FIELDS = {f.name: f for f in dataclasses.fields(NGramConfig)}
SAMPLING_FIELDS = {f.name: f for f in dataclasses.fields(SamplingConfig)}


def usage():
    lines = ["usage: tinyllm ngram fit|eval|sample [--key=value ...]", "", "options:"]
    lines += [f"  --{k:<12} {t.__name__:<6} {d!r:<28} {h}" for k, (t, d, h) in OPTIONS.items()]
    lines += [f"  --{f.name:<12} model field, default {f.default!r}" for f in CONFIG_FIELDS.values()]
    lines += [f"  --{f.name:<12} sampling field, default {f.default!r}" for f in SAMPLING_FIELDS.values()]
    return "\n".join(lines)


def _convert(key, value, default):
    if key == "discounts":
        return None if value == "None" else tuple(float(v) for v in value.split(","))
    if isinstance(default, bool):
        return value.lower() in ("1", "true", "yes")
    for cast in (int, float) if not isinstance(default, str) else ():
        try:
            return cast(value)
        except ValueError:
            continue
    return None if value == "None" else value


def parse(argv):
    """--key=value pairs -> (options, NGramConfig kwargs, SamplingConfig kwargs); unknown keys get a suggestion."""
    opts = {k: d for k, (_, d, _) in OPTIONS.items()}
    model_kw, sample_kw = {}, {}
    for arg in argv:
        if not arg.startswith("--") or "=" not in arg:
            raise ValueError(f"expected --key=value, got {arg!r}")
        key, value = arg[2:].split("=", 1)
        if key in OPTIONS:
            opts[key] = OPTIONS[key][0](value)
        elif key in CONFIG_FIELDS:
            model_kw[key] = _convert(key, value, CONFIG_FIELDS[key].default)
        elif key in SAMPLING_FIELDS:
            sample_kw[key] = _convert(key, value, SAMPLING_FIELDS[key].default)
        else:
            close = difflib.get_close_matches(key, list(OPTIONS) + list(CONFIG_FIELDS) + list(SAMPLING_FIELDS), 1)
            raise ValueError(f"unknown option --{key}" + (f"; did you mean --{close[0]}?" if close else ""))
    return opts, model_kw, sample_kw


def split_text(text, val_frac, split):
    if not 0 <= val_frac < 1:
        raise ValueError(f"val_frac must be in [0, 1), got {val_frac}")
    cut = int(len(text) * (1 - val_frac))
    parts = {"train": text[:cut], "val": text[cut:], "all": text}
    if split not in parts:
        raise ValueError(f"split must be one of {sorted(parts)}, got {split!r}")
    return parts[split]


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"--data: no such file {path!r}") from None


def _report(model, text, label):
    t0 = time.perf_counter()
    r = model.evaluate(text)
    dt = time.perf_counter() - t0
    print(f"{label}: {r['nats_per_token']:.4f} nats/token, {r['bits_per_byte']:.4f} bits/byte, "
          f"unseen contexts {100 * r['unseen_context_share']:.1f}%, {r['tokens'] / max(dt, 1e-9):,.0f} tokens/s")


def main(argv):
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in ("fit", "eval", "sample"):
        print(usage())
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    command = argv[0]
    try:
        opts, model_kw, sample_kw = parse(argv[1:])
        if command == "fit":
            text = _read(opts["data"])
            train, val = split_text(text, opts["val_frac"], "train"), split_text(text, opts["val_frac"], "val")
            model = make_model(model_kw.pop("method", "mkn"), **model_kw)
            print(f"fitting {model.config} on {len(train):,} characters of {opts['data']}")
            t0 = time.perf_counter()
            model.fit(train)
            print(f"fitted in {time.perf_counter() - t0:.2f} s; vocabulary {model.vocab.kind}, V = {model.vocab.size}")
            if val:
                _report(model, val, "val")
            model.save(opts["out"])
            print(f"saved {opts['out']}")
        elif command == "eval":
            model = load(opts["model"])
            _report(model, split_text(_read(opts["data"]), opts["val_frac"], opts["split"]), opts["split"])
        else:
            model = load(opts["model"])
            print(opts["prompt"] + model.generate(opts["prompt"], opts["n"], SamplingConfig(**sample_kw)))
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as e:
        print(f"tinyllm ngram {command}: {e}", file=sys.stderr)
        return 2
    return 0
