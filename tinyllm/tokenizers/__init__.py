"""text -> ids: bytes, characters, byte-level BPE; versioned JSON save/load.

    tok = build_tokenizer("bpe", text, vocab_size=512)   # or "bytes", "chars"
    ids = tok.encode("To be, or not to be")               # list[int], each in [0, tok.vocab_size)
    tok.save("tokenizer.json"); same = load_tokenizer("tokenizer.json")
"""
from .base import FORMAT_VERSION, Tokenizer, read_json
from .bpe import BPETokenizer
from .bytes import ByteTokenizer
from .chars import CharTokenizer

# the JSON "type" field -> class; also the `kind` accepted by build_tokenizer
TOKENIZERS = {"bytes": ByteTokenizer, "chars": CharTokenizer, "bpe": BPETokenizer}

__all__ = ["Tokenizer", "ByteTokenizer", "CharTokenizer", "BPETokenizer", "TOKENIZERS", "FORMAT_VERSION",
           "from_dict", "load_tokenizer", "build_tokenizer"]


def from_dict(d):
    """Rebuild a tokenizer from its to_dict(), checking the type and format version first."""
    if not isinstance(d, dict):
        raise ValueError(f"tokenizer data must be a dict (a tokenizer's to_dict()), got {type(d).__name__}")
    kind, version = d.get("type"), d.get("version")
    if kind not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer type {kind!r}; expected one of {sorted(TOKENIZERS)}. "
                         f"Is this a tinyllm tokenizer JSON (it needs a 'type' field)?")
    if version != FORMAT_VERSION:
        raise ValueError(f"{kind} tokenizer has format version {version!r}, but this tinyllm reads version "
                         f"{FORMAT_VERSION}; re-create it with this version (`tinyllm prepare` or "
                         f"scripts/train_tokenizer.py) or use the tinyllm release that wrote it")
    return TOKENIZERS[kind]._from_fields(d)


def load_tokenizer(path):
    """Read a tokenizer JSON written by Tokenizer.save()."""
    try:
        return from_dict(read_json(path, "tokenizer"))
    except ValueError as e:
        raise ValueError(f"cannot load tokenizer {str(path)!r}: {e}") from None


def build_tokenizer(kind, text=None, **opts):
    """Make a tokenizer of `kind` ('bytes' | 'chars' | 'bpe'), training it on `text` when the kind needs it.

    opts: for 'bpe', vocab_size (required) and special_tokens; 'bytes' and 'chars' take none.
    """
    if kind not in TOKENIZERS:
        import difflib
        close = difflib.get_close_matches(str(kind), TOKENIZERS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"build_tokenizer: kind={kind!r} is not one of {list(TOKENIZERS)}.{hint}")
    allowed = {"bytes": set(), "chars": set(), "bpe": {"vocab_size", "special_tokens"}}[kind]
    unknown = set(opts) - allowed
    if unknown:
        raise TypeError(f"build_tokenizer: option(s) {sorted(unknown)} do not apply to kind={kind!r} "
                        f"(it accepts {sorted(allowed) or 'no options'})")
    if kind == "bytes":
        return ByteTokenizer()
    if text is None:
        raise ValueError(f"build_tokenizer: kind={kind!r} learns its vocabulary, so it needs the training text")
    if kind == "chars":
        return CharTokenizer.train(text)
    if "vocab_size" not in opts:
        raise TypeError("build_tokenizer: kind='bpe' needs vocab_size (e.g. vocab_size=512)")
    return BPETokenizer.train(text, opts["vocab_size"], opts.get("special_tokens", ()))
