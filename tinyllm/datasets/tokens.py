"""Any UTF-8 text file -> token ids on disk: train.npy, val.npy, tokenizer.json and meta.json in one directory.

On-disk format (documented so other tools can read it):
- train.npy / val.npy: 1-D NumPy arrays of token ids, uint16 when the vocabulary has fewer than 65,536 tokens,
  else uint32. Load with np.load(path, mmap_mode="r", allow_pickle=False); no pickle anywhere.
- tokenizer.json: the tokenizer's to_dict() (see tinyllm/tokenizers), enough to encode prompts and decode samples.
- meta.json: source path, sha256 fingerprint of the text's bytes, character and token counts, vocabulary size,
  tokenizer kind and options, and the split. It is written last, so a directory with meta.json is complete.

The split is nanoGPT's: train = the first (1 - val_fraction) of the text's characters, val = the rest; the two
parts are encoded separately. The chars tokenizer learns its alphabet from the whole text (so val has no unseen
characters); BPE learns its merges from the train part only (merges are statistics, and learning them on val
would leak it). Every file is written atomically (temp file + rename).
"""
import hashlib
import json
import os
import pathlib

import numpy as np

from ..tokenizers import Tokenizer, build_tokenizer, from_dict
from ..tokenizers.base import atomic_writer, read_json, write_json_atomic

META_FORMAT, META_VERSION = "tinyllm-prepared-tokens", 1
DATA_DIR = pathlib.Path(__file__).resolve().parents[2] / "data"  # the repository's data/ folder


def fingerprint(data):
    """sha256 hex digest of bytes: identifies the exact text a dataset (and so a checkpoint) was built from."""
    return hashlib.sha256(data).hexdigest()


def read_text(path):
    """Read a UTF-8 text file as (text, raw bytes), with errors that name the file and the bad byte offset."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"text file {str(path)!r} does not exist (or is not a file)")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{str(path)!r} is not UTF-8: byte {e.start} is {raw[e.start:e.start + 1]!r}; "
                         f"convert it first (e.g. iconv -f latin1 -t utf-8)") from None
    if not text:
        raise ValueError(f"{str(path)!r} is empty; there is nothing to tokenize")
    return text, raw


def token_dtype(vocab_size):
    """The smallest unsigned dtype that holds every id: uint16 below 65,536 tokens, else uint32."""
    return np.uint16 if vocab_size < 2**16 else np.uint32


def prepare(text_path, out_dir, tokenizer="chars", val_fraction=0.1, verbose=True, **tok_opts):
    """Tokenize `text_path` into `out_dir` (see the module docstring); returns the meta dict it wrote.

    tokenizer: "bytes" | "chars" | "bpe" (tok_opts: vocab_size, special_tokens), or a ready Tokenizer to reuse.
    """
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be a number strictly between 0 and 1, got {val_fraction!r}")
    text, raw = read_text(text_path)
    n_train = int(len(text) * (1 - val_fraction))  # nanoGPT: train = first 90% of characters
    train_text, val_text = text[:n_train], text[n_train:]
    if isinstance(tokenizer, Tokenizer):
        if tok_opts:
            raise TypeError(f"prepare: options {sorted(tok_opts)} only apply when training a tokenizer, "
                            f"not to the ready {tokenizer.kind} tokenizer passed in")
        tok, kind = tokenizer, tokenizer.kind
    else:
        kind = tokenizer
        tok = build_tokenizer(kind, text if kind == "chars" else train_text, **tok_opts)
    dtype = token_dtype(tok.vocab_size)
    encoded = {}
    for split, part, offset in (("train", train_text, 0), ("val", val_text, n_train)):
        try:
            encoded[split] = np.asarray(tok.encode(part), dtype=dtype)  # (n_tokens,)
        except ValueError as e:  # e.g. a reused chars tokenizer meeting a new character
            raise ValueError(f"while encoding the {split} split of {str(text_path)!r} (it starts at character "
                             f"{offset} of the file): {e}") from None
    train_ids, val_ids = encoded["train"], encoded["val"]

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta_path = out_dir / "meta.json"
    if meta_path.exists():
        meta_path.unlink()  # from now until the new meta.json lands, the directory reads as incomplete
    for name, ids in (("train.npy", train_ids), ("val.npy", val_ids)):
        with atomic_writer(out_dir / name) as f:
            np.save(f, ids, allow_pickle=False)
    tok.save(out_dir / "tokenizer.json")
    meta = {
        "format": META_FORMAT, "version": META_VERSION,
        "source": str(pathlib.Path(text_path).resolve()), "sha256": fingerprint(raw),
        "n_chars": len(text), "n_bytes": len(raw),
        "tokenizer": kind, "tokenizer_options": _plain(tok_opts),
        "vocab_size": tok.vocab_size, "dtype": np.dtype(dtype).name,
        "split": {"val_fraction": val_fraction, "train_chars": n_train, "val_chars": len(text) - n_train,
                  "rule": "train = the first (1 - val_fraction) of the characters, val = the rest"},
        "train_tokens": int(len(train_ids)), "val_tokens": int(len(val_ids)),
    }
    write_json_atomic(meta_path, meta)
    if verbose:
        print(f"prepared {text_path} -> {out_dir}: tokenizer={kind}, vocab_size={tok.vocab_size:,}, "
              f"train {len(train_ids):,} tokens, val {len(val_ids):,} tokens ({meta['dtype']}, "
              f"{len(text) / max(1, len(train_ids) + len(val_ids)):.2f} characters per token)")
    return meta


def load_prepared(out_dir, mmap=True):
    """Read a prepared directory -> (train_ids, val_ids, tokenizer, meta); arrays are memory-mapped by default."""
    out_dir = pathlib.Path(out_dir)
    hint = f"run `tinyllm prepare TEXT_FILE --out={out_dir}` to (re)create it"
    if not (out_dir / "meta.json").is_file():
        raise FileNotFoundError(f"{str(out_dir)!r} has no meta.json: it is not a prepared dataset, or a prepare "
                                f"was interrupted; {hint}")
    meta = read_json(out_dir / "meta.json", "dataset meta")
    if meta.get("format") != META_FORMAT or meta.get("version") != META_VERSION:
        raise ValueError(f"{str(out_dir / 'meta.json')!r} has format {meta.get('format')!r} version "
                         f"{meta.get('version')!r}, expected {META_FORMAT!r} version {META_VERSION}; {hint}")
    arrays = {}
    for split in ("train", "val"):
        path = out_dir / f"{split}.npy"
        try:
            ids = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot read {str(path)!r} ({e}); {hint}") from None
        if ids.ndim != 1 or ids.dtype.name != meta["dtype"] or len(ids) != meta[f"{split}_tokens"]:
            raise ValueError(f"{str(path)!r} holds {ids.dtype} {ids.shape} but meta.json promises "
                             f"{meta['dtype']} ({meta[f'{split}_tokens']},): the files are out of sync; {hint}")
        arrays[split] = ids
    try:
        tok = from_dict(read_json(out_dir / "tokenizer.json"))
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot load {str(out_dir / 'tokenizer.json')!r}: {e}") from None
    if tok.vocab_size != meta["vocab_size"]:
        raise ValueError(f"tokenizer.json has vocab_size {tok.vocab_size}, meta.json {meta['vocab_size']}; {hint}")
    return arrays["train"], arrays["val"], tok, meta


def default_dataset(name="tinyshakespeare", tokenizer="chars", data_dir=None, verbose=True, **tok_opts):
    """The prepared directory for data/<name>.txt, preparing it into data/prepared/<name>-<tokenizer>/ if needed.

    The directory is re-prepared when the text's sha256 or the tokenizer options differ from its meta.json.
    For BPE the folder name carries the vocabulary size: data/prepared/tinyshakespeare-bpe1024/.
    """
    data_dir = pathlib.Path(DATA_DIR if data_dir is None else data_dir)
    text_path = data_dir / f"{name}.txt"
    if not text_path.is_file():
        known = sorted(p.stem for p in data_dir.glob("*.txt"))
        raise FileNotFoundError(f"no dataset {name!r}: {str(text_path)!r} does not exist (available: {known})")
    label = f"bpe{tok_opts['vocab_size']}" if tokenizer == "bpe" and "vocab_size" in tok_opts else str(tokenizer)
    out_dir = data_dir / "prepared" / f"{name}-{label}"
    wanted_opts = _plain(tok_opts)
    try:
        meta = read_json(out_dir / "meta.json", "dataset meta")
        fresh = (meta.get("version") == META_VERSION and meta.get("tokenizer") == tokenizer
                 and meta.get("tokenizer_options") == wanted_opts
                 and meta.get("sha256") == fingerprint(text_path.read_bytes()))
    except (OSError, ValueError):
        fresh = False
    if not fresh:
        prepare(text_path, out_dir, tokenizer, verbose=verbose, **tok_opts)
    return os.fspath(out_dir)


def _plain(tok_opts):
    """Tokenizer options as they read back from JSON (tuples become lists), so stored and wanted options compare."""
    return json.loads(json.dumps(tok_opts))
