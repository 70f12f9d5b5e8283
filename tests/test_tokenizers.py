"""Tokenizers: roundtrip on arbitrary Unicode, save/load identity, special tokens, fast BPE == reference BPE."""
import importlib.util
import json
import pathlib

import pytest
from hypothesis import example, given, strategies as st

from tinyllm.tokenizers import (BPETokenizer, ByteTokenizer, CharTokenizer, build_tokenizer, from_dict,
                                load_tokenizer)
from tinyllm.tokenizers.bpe_merges import MAX_RUN, learn_merges, learn_merges_reference, merge_pair, pre_split

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "tinyshakespeare.txt"
CORPUS = DATA.read_text(encoding="utf-8")[:20000] + " naïve café 東京 😀😀 2024-01-01 snake_case\t\ttabs\n"
SPECIALS = ("<|endoftext|>", "<|pad|>")
BPE = BPETokenizer.train(CORPUS, 256 + 120 + len(SPECIALS), special_tokens=SPECIALS)
unicode_text = st.text(max_size=200)


def apply_merges_in_order(tok, text):
    """Readable encoder: merge k applied to every chunk, for k = 0, 1, ... (what training did)."""
    out = []
    for chunk in pre_split(text):
        ids = list(chunk.encode("utf-8"))
        for k, pair in enumerate(tok.merges):
            ids = merge_pair(ids, pair, 256 + k)
        out.extend(ids)
    return out


@given(unicode_text)
@example("")
@example("\x00\U0010ffff e\u0301 \r\n")
def test_bytes_roundtrip(s):
    tok = ByteTokenizer()
    ids = tok.encode(s)
    assert all(0 <= i < 256 for i in ids) and tok.decode(ids) == s


@given(unicode_text)
@example("")
@example("   leading spaces and trailing   ")
@example("<|endoftext|><|endoftext|>x<|pad|>")
def test_bpe_roundtrip(s):
    ids = BPE.encode(s)
    assert all(0 <= i < BPE.vocab_size for i in ids)
    assert BPE.decode(ids) == s


@given(unicode_text)
@example("x" * 150 + " " * 70 + "9" * 65)
def test_pre_split_concatenates_back_in_bounded_chunks(s):
    chunks = pre_split(s)
    assert "".join(chunks) == s
    assert all(1 <= len(c) <= MAX_RUN + 1 for c in chunks)  # + 1: the optional leading space


@given(st.text(alphabet=sorted(set(CORPUS)), max_size=200) | unicode_text)
def test_bpe_rank_encoding_equals_merges_in_training_order(s):
    """The fast encoder (lowest-rank pair first, cached per chunk) equals replaying merges in training order."""
    assert BPE.encode(s) == apply_merges_in_order(BPE, s)


@given(st.lists(st.text(alphabet="aab bc\ncaé", max_size=60) | st.text(max_size=30), min_size=1, max_size=4),
       st.integers(0, 30))
@example(["aaaa aaa aa"], 10)
def test_incremental_bpe_equals_reference(texts, n_merges):
    assert learn_merges(texts, n_merges) == learn_merges_reference(texts, n_merges)


@given(st.text(max_size=100), st.integers(256, 300), unicode_text)
def test_bpe_trained_on_any_text_roundtrips_any_text(train_text, vocab_size, s):
    tok = BPETokenizer.train(train_text, vocab_size)
    assert tok.vocab_size <= vocab_size and tok.decode(tok.encode(s)) == s
    assert tok.decode(tok.encode(train_text)) == train_text


def test_bpe_compresses_its_training_text():
    assert len(BPE.encode(CORPUS)) < 0.6 * len(CORPUS.encode("utf-8"))
    assert BPE.vocab_size == 256 + 120 + 2 and len(BPE.merges) == 120


@given(st.text(max_size=40), st.sampled_from(SPECIALS), st.text(max_size=40))
@example("<|endoftext", "<|endoftext|>", "|>")
def test_bpe_special_tokens_are_never_split(left, special, right):
    ids = BPE.encode(left + special + right)
    sid = BPE.special_ids[special]
    text = left + special + right
    assert ids.count(sid) == text.count(special)  # exactly one id per occurrence, never its pieces
    assert BPE.decode([sid]) == special
    assert BPE.decode(ids) == text


def test_bpe_training_ignores_special_tokens():
    tok = BPETokenizer.train("<|x|>" * 200 + "ab ab", 256 + 3 + 1, special_tokens=["<|x|>"])
    learned = {tok.token_bytes[256 + k] for k in range(len(tok.merges))}
    assert all(b"<" not in t and b"|" not in t for t in learned)


@given(st.data())
def test_chars_roundtrip_on_its_alphabet(data):
    tok = CharTokenizer.train(CORPUS)
    s = data.draw(st.text(alphabet=tok.chars, max_size=200))
    assert tok.decode(tok.encode(s)) == s


def test_chars_unseen_character_error_names_it_and_its_position():
    tok = CharTokenizer.train("hello world")
    with pytest.raises(ValueError, match=r"'Z' \(U\+005A LATIN CAPITAL LETTER Z\) at position 6"):
        tok.encode("hello Zorld")


def test_chars_training_is_sorted_unique():
    tok = CharTokenizer.train("banana")
    assert tok.chars == ["a", "b", "n"] and tok.encode("nab") == [2, 0, 1]


@pytest.mark.parametrize("tok", [ByteTokenizer(), CharTokenizer.train(CORPUS), BPE], ids=lambda t: t.kind)
def test_save_load_identity(tok, tmp_path):
    path = tmp_path / "tok.json"
    tok.save(path)
    loaded = load_tokenizer(path)
    sample = CORPUS[:3000]
    assert type(loaded) is type(tok) and loaded == tok
    assert loaded.vocab_size == tok.vocab_size and loaded.encode(sample) == tok.encode(sample)
    assert from_dict(json.loads(json.dumps(tok.to_dict()))) == tok
    assert [p.name for p in tmp_path.iterdir()] == ["tok.json"]  # no temp file left behind


def test_load_wrong_version_or_type_says_what_to_do(tmp_path):
    d = ByteTokenizer().to_dict()
    with pytest.raises(ValueError, match="format version 99.*re-create it"):
        from_dict({**d, "version": 99})
    with pytest.raises(ValueError, match="unknown tokenizer type 'wordpiece'"):
        from_dict({**d, "type": "wordpiece"})
    (tmp_path / "t.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_tokenizer(tmp_path / "t.json")
    with pytest.raises(FileNotFoundError, match="missing.json"):
        load_tokenizer(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="pre-split rule"):
        from_dict({**BPE.to_dict(), "pre_split": "gpt2"})


def test_bad_inputs_have_clear_errors():
    with pytest.raises(ValueError, match="id 300 at position 1 is outside"):
        ByteTokenizer().decode([1, 300])
    with pytest.raises(TypeError, match="text must be a str"):
        ByteTokenizer().encode(b"bytes")
    with pytest.raises(ValueError, match="lone surrogate"):
        BPE.encode("a\ud800b")
    with pytest.raises(ValueError, match="vocab_size=100 is too small"):
        BPETokenizer.train("abc", 100)
    with pytest.raises(ValueError, match="duplicates"):
        BPETokenizer.train("abc", 300, special_tokens=["<s>", "<s>"])
    with pytest.raises(ValueError, match="'x' twice"):
        CharTokenizer("xyx")
    with pytest.raises(ValueError, match="merge 0"):
        BPETokenizer([(1, 400)])
    with pytest.raises(ValueError, match="merged twice"):
        BPETokenizer([(1, 2), (1, 2)])


def test_build_tokenizer_kinds_and_errors():
    assert build_tokenizer("bytes").vocab_size == 256
    assert build_tokenizer("chars", "abca").vocab_size == 3
    assert build_tokenizer("bpe", "ab ab ab", vocab_size=258).merges == [(97, 98), (32, 256)]
    with pytest.raises(ValueError, match="Did you mean 'bpe'"):
        build_tokenizer("bep", "x")
    with pytest.raises(TypeError, match="needs vocab_size"):
        build_tokenizer("bpe", "x")
    with pytest.raises(TypeError, match="do not apply"):
        build_tokenizer("chars", "x", vocab_size=3)


@pytest.mark.parametrize("tok", [ByteTokenizer(), CharTokenizer.train(CORPUS), BPE], ids=lambda t: t.kind)
def test_preview_is_one_readable_line(tok):
    text = tok.preview()
    assert "\n" not in text and text.startswith(tok.kind) and f"vocab_size={tok.vocab_size}" in text


def test_vocab_preview_lists_every_merge():
    lines = BPE.vocab_preview().splitlines()
    assert len(lines) == 1 + len(BPE.merges) + len(SPECIALS)
    assert "(special)" in lines[-1]


def test_train_tokenizer_script_writes_json_and_vocab(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("train_tokenizer", DATA.parents[1] / "scripts" / "train_tokenizer.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    src = tmp_path / "in.txt"
    src.write_text(CORPUS[:5000], encoding="utf-8")
    argv = [str(src), "--vocab_size=300", "--special_tokens=<|endoftext|>", f"--out={tmp_path / 'tok'}",
            "--compare_reference", "--reference_chars=2000", "--reference_merges=10"]
    assert script.main(argv) == 0
    assert "identical merges" in capsys.readouterr().out
    tok = load_tokenizer(tmp_path / "tok" / "tokenizer.json")
    assert tok.vocab_size == 300 and tok.special_tokens == ("<|endoftext|>",)
    assert (tmp_path / "tok" / "tokenizer.vocab").read_text(encoding="utf-8") == tok.vocab_preview()
    assert script.main([str(src), "--vocab_sise=3"]) == 2
    assert "did you mean --vocab_size?" in capsys.readouterr().err
