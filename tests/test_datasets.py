"""Token datasets: batch shapes and shift, seeded determinism; prepare/load round-trip, atomic writes, clear errors."""
import hashlib
import pathlib
import tempfile

import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinyllm.datasets import prepare as prepare_cli
from tinyllm.datasets import tokens
from tinyllm.datasets.batches import eval_batches, get_batch
from tinyllm.datasets.tokens import default_dataset, load_prepared, prepare, token_dtype
from tinyllm.tokenizers import CharTokenizer


@given(st.integers(2, 300), st.integers(1, 8), st.integers(1, 16), st.integers(0, 2**32 - 1),
       st.sampled_from([np.uint16, np.uint32, np.int64]))
def test_get_batch_shapes_and_shift(n, batch_size, block_size, seed, dtype):
    block_size = min(block_size, n - 1)
    ids = np.random.default_rng(seed).integers(0, 1000, size=n).astype(dtype)
    x, y = get_batch(ids, batch_size, block_size, np.random.default_rng(seed))
    assert x.shape == y.shape == (batch_size, block_size) and x.dtype == y.dtype == np.int64
    assert np.array_equal(x[:, 1:], y[:, :-1])  # y is x shifted left by one
    windows = {tuple(ids[o:o + block_size + 1]) for o in range(n - block_size)}
    for b in range(batch_size):  # every row is a real window of the data
        assert tuple(x[b]) + (y[b, -1],) in windows


@given(st.integers(0, 2**32 - 1))
def test_same_seed_same_batches(seed):
    ids = np.arange(500, dtype=np.uint16)
    a = get_batch(ids, 4, 8, np.random.default_rng(seed))
    b = get_batch(ids, 4, 8, np.random.default_rng(seed))
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    e1, e2 = eval_batches(ids, 4, 8, 3, seed), eval_batches(ids, 4, 8, 3, seed)
    assert len(e1) == 3 and all(np.array_equal(u, v) for p, q in zip(e1, e2) for u, v in zip(p, q))


def test_every_offset_can_be_drawn():
    """Offsets cover [0, n - T - 1]: the last window (ending at the last token) is reachable, none overflow."""
    ids = np.arange(10)
    x, y = get_batch(ids, 2000, 4, np.random.default_rng(0))
    assert set(x[:, 0]) == set(range(6)) and y.max() == 9


def test_batch_errors_are_clear():
    ids = np.arange(8)
    with pytest.raises(ValueError, match="the split has 8 tokens, but a window needs block_size \\+ 1 = 9"):
        get_batch(ids, 2, 8, np.random.default_rng(0))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        get_batch(ids, 0, 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="1-D"):
        get_batch(ids.reshape(2, 4), 1, 2, np.random.default_rng(0))
    with pytest.raises(TypeError, match="numpy Generator"):
        get_batch(ids, 1, 2, 42)
    with pytest.raises(ValueError, match="integer token ids"):
        get_batch(np.zeros(8), 1, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_batches"):
        eval_batches(ids, 1, 2, 0, 0)


# ------------------------------------------------------------------------------------------- prepared token files

KIND_OPTS = {"chars": {}, "bytes": {}, "bpe": {"vocab_size": 300, "special_tokens": ("<|sep|>",)}}


@given(st.text(min_size=2, max_size=300), st.floats(0.01, 0.99),
       st.sampled_from(sorted(KIND_OPTS)))
def test_prepare_then_load_returns_what_was_written(text, val_fraction, kind):
    with tempfile.TemporaryDirectory() as tmp:
        src = pathlib.Path(tmp) / "in.txt"
        src.write_bytes(text.encode("utf-8"))
        meta = prepare(src, pathlib.Path(tmp) / "out", kind, val_fraction, verbose=False, **KIND_OPTS[kind])
        train, val, tok, loaded_meta = load_prepared(pathlib.Path(tmp) / "out")
        n_train = int(len(text) * (1 - val_fraction))
        assert loaded_meta == meta and meta["sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest()
        assert tok.decode(train) == text[:n_train] and tok.decode(val) == text[n_train:]  # nanoGPT's split
        assert (meta["train_tokens"], meta["val_tokens"]) == (len(train), len(val))
        assert train.dtype == val.dtype == np.uint16 and meta["vocab_size"] == tok.vocab_size
        assert sorted(p.name for p in (pathlib.Path(tmp) / "out").iterdir()) == [
            "meta.json", "tokenizer.json", "train.npy", "val.npy"]  # and no temp files


def test_token_dtype_switches_at_65536():
    assert token_dtype(65535) == np.uint16 and token_dtype(65536) == np.uint32


@pytest.fixture
def corpus(tmp_path):
    src = tmp_path / "corpus.txt"
    src.write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n" * 20, encoding="utf-8")
    return src


def test_interrupted_prepare_leaves_no_half_files_and_is_detected(corpus, tmp_path, monkeypatch):
    out = tmp_path / "out"
    prepare(corpus, out, "chars", verbose=False)
    old_val = (out / "val.npy").read_bytes()
    real_save, calls = np.save, []

    def failing_save(f, arr, **kw):
        calls.append(1)
        if len(calls) == 2:  # the val split: write part of it, then "crash"
            f.write(b"\x93NUMPY partial")
            raise KeyboardInterrupt("killed mid-write")
        real_save(f, arr, **kw)

    monkeypatch.setattr(tokens.np, "save", failing_save)
    with pytest.raises(KeyboardInterrupt):
        prepare(corpus, out, "bytes", verbose=False)
    assert (out / "val.npy").read_bytes() == old_val  # the old file is untouched, never half-written
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp-")]
    with pytest.raises(FileNotFoundError, match="interrupted"):  # meta.json went first, so no mixed dataset loads
        load_prepared(out)


def test_load_prepared_errors_say_what_to_do(corpus, tmp_path):
    with pytest.raises(FileNotFoundError, match="tinyllm prepare"):
        load_prepared(tmp_path / "nowhere")
    out = tmp_path / "out"
    prepare(corpus, out, "chars", verbose=False)
    np.save(out / "val.npy", np.zeros(3, dtype=np.uint16))
    with pytest.raises(ValueError, match="out of sync"):
        load_prepared(out)
    np.save(out / "val.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="cannot read"):  # pickled arrays are refused
        load_prepared(out)
    (out / "meta.json").write_text('{"format": "tinyllm-prepared-tokens", "version": 7}')
    with pytest.raises(ValueError, match="version 7"):
        load_prepared(out)


def test_prepare_rejects_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        prepare(tmp_path / "missing.txt", tmp_path / "o")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("café".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8: byte 3"):
        prepare(bad, tmp_path / "o")
    with pytest.raises(ValueError, match="val_fraction"):
        prepare(bad, tmp_path / "o", val_fraction=1.0)
    good = tmp_path / "good.txt"
    good.write_text("abcabcabcZ", encoding="utf-8")
    with pytest.raises(ValueError, match=r"val split .* starts at character 9 .* 'Z' .* at position 0"):
        prepare(good, tmp_path / "o", CharTokenizer.train("abc"))
    with pytest.raises(TypeError, match="only apply when training"):
        prepare(good, tmp_path / "o", CharTokenizer.train("abcZ"), vocab_size=3)


def test_default_dataset_prepares_once_and_refreshes_on_change(tmp_path, monkeypatch, corpus):
    (tmp_path / "tiny.txt").write_text(corpus.read_text(), encoding="utf-8")
    calls = []
    real = tokens.prepare
    monkeypatch.setattr(tokens, "prepare", lambda *a, **k: calls.append(a) or real(*a, **k))
    d1 = default_dataset("tiny", "chars", data_dir=tmp_path, verbose=False)
    d2 = default_dataset("tiny", "chars", data_dir=tmp_path, verbose=False)
    assert d1 == d2 == str(tmp_path / "prepared" / "tiny-chars") and len(calls) == 1
    (tmp_path / "tiny.txt").write_text("changed text!", encoding="utf-8")
    train, val, tok, meta = load_prepared(default_dataset("tiny", "chars", data_dir=tmp_path, verbose=False))
    assert len(calls) == 2 and tok.decode(train) + tok.decode(val) == "changed text!"
    assert default_dataset("tiny", "bpe", data_dir=tmp_path, verbose=False, vocab_size=260).endswith("tiny-bpe260")
    with pytest.raises(FileNotFoundError, match="available: \\['corpus', 'tiny'\\]"):
        default_dataset("nope", data_dir=tmp_path)


def test_default_dataset_is_tiny_shakespeare():
    assert tokens.DATA_DIR.joinpath("tinyshakespeare.txt").is_file()


def test_prepare_command(corpus, tmp_path, capsys):
    assert prepare_cli.main([str(corpus), "--tokenizer=bpe", "--vocab_size", "270", f"--out={tmp_path / 'o'}"]) == 0
    assert "vocab_size=270" in capsys.readouterr().out
    _, _, tok, meta = load_prepared(tmp_path / "o")
    assert meta["tokenizer"] == "bpe" and tok.vocab_size == 270
    tok.save(tmp_path / "tok.json")  # reuse a trained tokenizer on another file
    assert prepare_cli.main([str(corpus), f"--tokenizer={tmp_path / 'tok.json'}", "--val_fraction=0.5"]) == 0
    assert load_prepared(tmp_path / "prepared" / "corpus-tok")[2] == tok
    assert prepare_cli.main([str(corpus), "--vocab=3"]) == 2
    assert "did you mean --vocab_size?" in capsys.readouterr().err
    assert prepare_cli.main(["--help"]) == 0 and "--val_fraction" in capsys.readouterr().out


def test_tinyllm_cli_routes_prepare(corpus, tmp_path, capsys):
    from tinyllm import cli
    assert cli.main(["prepare", str(corpus), "--tokenizer=bytes", f"--out={tmp_path / 'b'}"]) == 0
    assert load_prepared(tmp_path / "b")[3]["tokenizer"] == "bytes"
