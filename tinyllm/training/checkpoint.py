"""Checkpoints: a self-describing directory, written atomically, enough on its own to resume or sample from.

    <dir>/weights.npz    model parameters under "model/<name>", optimizer buffers under "optim/<index>.<buffer>"
                         (plain arrays; read back with np.load(allow_pickle=False))
    <dir>/manifest.json  format version, model name + config, tokenizer (its to_dict), optimizer scalars, step,
                         RNG states (numpy bit-generator state as JSON), best val loss, data fingerprint,
                         train config, and the sha256 of weights.npz
    <dir>/summary.txt    for humans: parameter names, shapes and counts, a tokenizer preview

Atomic save: everything is written into `.<name>.partial-<pid>` beside the target and fsynced; then the old
directory is renamed to `<name>.previous`, the new one renamed into place, and only then is the old one deleted.
A process killed at any point leaves a loadable checkpoint: either the old one in place, or (in the instant
between the two renames) `<name>.previous`, which load_checkpoint falls back to with a warning.
"""
import dataclasses
import datetime
import hashlib
import json
import math
import os
import shutil
import sys
from pathlib import Path

import numpy as np

FORMAT = "tinyllm-checkpoint"
FORMAT_VERSION = 1  # bump when the layout changes; load_checkpoint refuses versions it does not know
WEIGHTS, MANIFEST, SUMMARY = "weights.npz", "manifest.json", "summary.txt"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt or from an unknown format version; the message says what to do."""


@dataclasses.dataclass
class Checkpoint:
    """What load_checkpoint returns. `model` is rebuilt, loaded and in eval mode (None if build=False)."""
    path: Path
    manifest: dict
    model: object
    tokenizer: object
    optimizer_state: dict  # {"arrays": {...}, "scalars": {...}} for Optimizer.load_state_dict, or None
    step: int
    best_val_loss: float   # inf when the run never evaluated
    weights: dict          # {name: ndarray} model parameters as saved

    def restore_rng(self, rng):
        """Set numpy Generator `rng` to the saved state (the trainer's batch-sampling RNG)."""
        if self.manifest.get("rng") is None:
            raise CheckpointError(f"checkpoint {self.path} has no saved RNG state to restore")
        rng.bit_generator.state = self.manifest["rng"]
        return rng


# ---------------------------------------------------------------------------------------------------- saving
def save_checkpoint(path, *, model, model_name, model_config, tokenizer=None, optimizer=None, step=0, rng=None,
                    best_val_loss=None, data_fingerprint=None, train_config=None):
    """Write a checkpoint directory at `path` atomically; returns its Path.

    model_config and train_config are dataclasses or JSON-able dicts; rng is the numpy Generator that draws
    training batches (its state is saved so --resume draws the same batches an uninterrupted run would).
    """
    path = Path(path)
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise ValueError(f"step must be an integer >= 0, got {step!r}")
    arrays = {f"model/{name}": a for name, a in model.state_dict().items()}
    optim_scalars = None
    if optimizer is not None:
        opt_state = optimizer.state_dict()
        arrays.update({f"optim/{k}": v for k, v in opt_state["arrays"].items()})
        optim_scalars = opt_state["scalars"]
    params = model.named_parameters()
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": {"name": model_name, "config": _plain(model_config),
                  "dtype": str(params[0][1].data.dtype) if params else None,
                  "num_parameters": int(sum(p.data.size for _, p in params))},
        "tokenizer": tokenizer.to_dict() if tokenizer is not None else None,
        "step": int(step),
        "best_val_loss": _finite_or_none(best_val_loss),
        "data_fingerprint": data_fingerprint,
        "rng": rng.bit_generator.state if rng is not None else None,
        "model_rng": model.rng_state() if hasattr(model, "rng_state") else {},
        "optimizer": optim_scalars,
        "train_config": _plain(train_config),
    }
    summary = _summary(manifest, params, tokenizer)

    parent, name = path.parent, path.name
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".{name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        with open(tmp / WEIGHTS, "wb") as f:
            np.savez(f, allow_pickle=False, **arrays)
            f.flush()
            os.fsync(f.fileno())
        manifest["weights_sha256"] = _sha256(tmp / WEIGHTS)
        _write_text(tmp / SUMMARY, summary)
        _write_text(tmp / MANIFEST, json.dumps(manifest, indent=1, allow_nan=False) + "\n")  # last: marks complete
        replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def replace_dir(tmp, path):
    """Put the finished directory `tmp` at `path`: the old one is renamed to `<name>.previous` first, `tmp` renamed
    into place, and only then the old one deleted, so a process killed at any point leaves a loadable directory
    (load_checkpoint falls back to `.previous`)."""
    tmp, path = Path(tmp), Path(path)
    previous = path.parent / f"{path.name}.previous"
    _fsync_dir(tmp)
    if path.exists():
        shutil.rmtree(previous, ignore_errors=True)
        os.replace(path, previous)
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    shutil.rmtree(previous, ignore_errors=True)


def _plain(cfg):
    if cfg is None:
        return None
    if dataclasses.is_dataclass(cfg):
        return dataclasses.asdict(cfg)
    return dict(cfg)


def _finite_or_none(x):
    return float(x) if x is not None and math.isfinite(x) else None


def _write_text(p, text):
    with open(p, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(d):
    """Make a directory's entries (new files, renames) durable; a no-op where directories cannot be opened."""
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _sha256(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _summary(manifest, params, tokenizer):
    m = manifest["model"]
    lines = [f"tinyllm checkpoint (format {FORMAT_VERSION}), saved {manifest['created']}",
             f"model: {m['name']}  parameters: {m['num_parameters']:,}  dtype: {m['dtype']}",
             f"step: {manifest['step']}  best val loss: {manifest['best_val_loss']}",
             f"config: {json.dumps(m['config'])}", "", f"{'parameter':<40} {'shape':<16} {'count':>10}"]
    lines += [f"{n:<40} {str(tuple(p.data.shape)):<16} {p.data.size:>10,}" for n, p in params]
    lines += ["", tokenizer.preview() if tokenizer is not None else "tokenizer: none saved"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------- loading
def load_checkpoint(path, build=True):
    """Read a checkpoint directory: verify format, version and checksum; rebuild model and tokenizer.

    With build=False only the manifest, arrays and tokenizer are read (model is None): for inspecting a
    checkpoint without constructing the network.
    """
    path = Path(path)
    if not path.exists():
        previous = path.parent / f"{path.name}.previous"
        if (previous / MANIFEST).exists():
            print(f"warning: {path} is missing but {previous} exists (a save was interrupted); loading that one",
                  file=sys.stderr)
            path = previous
        else:
            raise CheckpointError(f"no checkpoint at {path}: expected a directory written by save_checkpoint or "
                                  f"`tinyllm train` (look in the run's out_dir for best/ and latest/)")
    if not path.is_dir():
        raise CheckpointError(f"{path} is a file, not a checkpoint directory; pass the directory that holds "
                              f"{MANIFEST} and {WEIGHTS}")
    manifest = _read_manifest(path)
    weights, optim_arrays = _read_weights(path, manifest)
    tokenizer = _tokenizer_from_dict(manifest["tokenizer"], path) if manifest.get("tokenizer") else None
    optimizer_state = None
    if manifest.get("optimizer") is not None:
        optimizer_state = {"arrays": optim_arrays, "scalars": manifest["optimizer"]}
    model = _build_model(manifest, weights, path) if build else None
    best = manifest.get("best_val_loss")
    return Checkpoint(path=path, manifest=manifest, model=model, tokenizer=tokenizer,
                      optimizer_state=optimizer_state, step=int(manifest["step"]),
                      best_val_loss=float("inf") if best is None else float(best), weights=weights)


def _read_manifest(path):
    mpath = path / MANIFEST
    if not mpath.exists():
        raise CheckpointError(f"{path} is not a complete tinyllm checkpoint: {MANIFEST} is missing (the save "
                              f"did not finish, or this is another kind of directory); use another checkpoint")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{mpath} is corrupt (not valid JSON: {e}); use the run's other checkpoint "
                              f"(best/ or latest/) or retrain") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{mpath} is not a tinyllm checkpoint manifest (format field is "
                              f"{manifest.get('format') if isinstance(manifest, dict) else None!r})")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {version!r}, but this tinyllm reads version "
                              f"{FORMAT_VERSION}. HINT: load it with the tinyllm version that wrote it, or retrain "
                              f"with this one")
    missing = [k for k in ("model", "step", "weights_sha256") if k not in manifest]
    if missing:
        raise CheckpointError(f"{mpath} is corrupt: missing field(s) {missing}; use another checkpoint")
    return manifest


def _read_weights(path, manifest):
    wpath = path / WEIGHTS
    if not wpath.exists():
        raise CheckpointError(f"{path} is incomplete: {WEIGHTS} is missing; use another checkpoint or retrain")
    if _sha256(wpath) != manifest["weights_sha256"]:
        raise CheckpointError(f"{wpath} is corrupt: its sha256 does not match the manifest (the file was "
                              f"truncated or changed after saving); use another checkpoint or retrain")
    try:
        with np.load(wpath, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:  # zipfile.BadZipFile, ValueError for object arrays, OSError ...
        raise CheckpointError(f"{wpath} could not be read ({type(e).__name__}: {e}); it is corrupt") from None
    weights = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    optim = {k[len("optim/"):]: v for k, v in arrays.items() if k.startswith("optim/")}
    return weights, optim


def _tokenizer_from_dict(d, path):
    from tinyllm import tokenizers
    try:
        return tokenizers.from_dict(d)
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"the tokenizer stored in {path / MANIFEST} could not be rebuilt: {e}") from None


def _build_model(manifest, weights, path):
    from tinyllm.models import build_model
    m = manifest["model"]
    try:
        model = build_model(m["name"], m["config"], seed=0)
    except Exception as e:
        raise CheckpointError(f"could not rebuild model {m.get('name')!r} from {path / MANIFEST}: "
                              f"{type(e).__name__}: {e}") from None
    if m.get("dtype") and hasattr(model, "to"):
        model.to(m["dtype"])
    try:
        model.load_state_dict(weights)
    except ValueError as e:
        raise CheckpointError(f"weights in {path / WEIGHTS} do not fit the model described by the manifest: "
                              f"{e}") from None
    if manifest.get("model_rng") and hasattr(model, "set_rng_state"):
        model.set_rng_state(manifest["model_rng"])
    model.eval()
    return model
