"""Byte-level BPE: text -> UTF-8 bytes -> learned merges; special tokens are matched first and never split.

Ids 0..255 are the raw bytes, 256..256+M-1 the M learned merges (see bpe_merges.py for how they are learned),
and the special tokens (e.g. "<|endoftext|>" as a document separator) come last. Because every byte has an id,
any text can be encoded, and decode(encode(s)) == s for every string (tested on arbitrary Unicode).
"""
import re

from .base import Tokenizer, check_ids, check_text
from .bpe_merges import PRE_SPLIT_NAME, learn_merges, merge_pair, pre_split


class BPETokenizer(Tokenizer):
    """Encode with `merges` (list of (a, b) id pairs, merge k -> id 256 + k); `special_tokens` get the last ids."""

    kind = "bpe"

    def __init__(self, merges, special_tokens=()):
        merges = [tuple(int(x) for x in m) for m in merges]
        for k, m in enumerate(merges):
            if len(m) != 2 or not all(0 <= x < 256 + k for x in m):
                raise ValueError(f"BPETokenizer: merge {k} is {m}, but must be a pair of ids below {256 + k} "
                                 f"(bytes or earlier merges)")
        self.merges = merges
        self.ranks = {m: k for k, m in enumerate(merges)}  # (a, b) -> merge index; lower merges first
        if len(self.ranks) != len(merges):
            raise ValueError("BPETokenizer: the same pair is merged twice; the merges list is corrupt")
        # token_bytes[i] is the byte string id i stands for: a byte, or the concatenation of its merged pair
        self.token_bytes = [bytes([i]) for i in range(256)]
        for a, b in merges:
            self.token_bytes.append(self.token_bytes[a] + self.token_bytes[b])
        self.special_tokens = _check_specials(special_tokens)
        first = 256 + len(merges)
        self.special_ids = {s: first + j for j, s in enumerate(self.special_tokens)}  # string -> id
        # longest first, so "<|a|>x" wins over its prefix "<|a|>" when both are special tokens
        by_length = sorted(self.special_tokens, key=len, reverse=True)
        self._special_re = re.compile("(" + "|".join(map(re.escape, by_length)) + ")") if by_length else None
        self._cache = {}  # chunk -> ids; text repeats words, so this makes encoding long texts fast

    @classmethod
    def train(cls, text, vocab_size, special_tokens=()):
        """Learn vocab_size - 256 - len(special_tokens) merges from `text` (fewer if the text runs out of pairs)."""
        check_text(text, "BPETokenizer.train")
        specials = _check_specials(special_tokens)
        if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
            raise TypeError(f"BPETokenizer.train: vocab_size must be an int, got {vocab_size!r}")
        if vocab_size < 256 + len(specials):
            raise ValueError(f"BPETokenizer.train: vocab_size={vocab_size} is too small: it must be at least "
                             f"256 (the bytes) + {len(specials)} (special tokens) = {256 + len(specials)}")
        pieces = _split_on(text, specials)[::2]  # the text between special tokens: merges never span one
        merges = learn_merges(pieces, vocab_size - 256 - len(specials))
        return cls(merges, specials)

    def encode(self, text):
        check_text(text, "BPETokenizer")
        ids = []
        for j, piece in enumerate(_split_on(text, self.special_tokens, self._special_re)):
            if j % 2:  # odd positions are the special tokens themselves
                ids.append(self.special_ids[piece])
                continue
            for chunk in pre_split(piece):
                ids.extend(self._encode_chunk(chunk))
        return ids

    def _encode_chunk(self, chunk):
        """Apply merges to one chunk's bytes, always the lowest-ranked (earliest learned) pair present first."""
        if chunk in self._cache:
            return self._cache[chunk]
        try:
            ids = list(chunk.encode("utf-8"))
        except UnicodeEncodeError:
            raise ValueError(f"BPETokenizer.encode: {chunk!r} has a lone surrogate, which UTF-8 cannot encode; "
                             f"clean the text first") from None
        while len(ids) >= 2:
            pair = min(zip(ids, ids[1:]), key=lambda p: self.ranks.get(p, len(self.ranks)))
            if pair not in self.ranks:
                break  # no learned merge applies any more
            ids = merge_pair(ids, pair, 256 + self.ranks[pair])
        if len(self._cache) >= 100_000:
            self._cache.clear()  # bound memory on huge, varied texts
        self._cache[chunk] = ids
        return ids

    def decode(self, ids):
        """ids -> str; bytes that do not form valid UTF-8 (a cut multi-byte character) become U+FFFD."""
        ids = check_ids(ids, self.vocab_size, "BPETokenizer")
        n_bytes_ids = len(self.token_bytes)
        specials = self.special_tokens
        parts = [self.token_bytes[i] if i < n_bytes_ids else specials[i - n_bytes_ids].encode("utf-8") for i in ids]
        return b"".join(parts).decode("utf-8", errors="replace")

    @property
    def vocab_size(self):
        return 256 + len(self.merges) + len(self.special_tokens)

    def _fields(self):
        return {"pre_split": PRE_SPLIT_NAME, "merges": [list(m) for m in self.merges],
                "special_tokens": list(self.special_tokens)}

    @classmethod
    def _from_fields(cls, d):
        if d.get("pre_split") != PRE_SPLIT_NAME:
            raise ValueError(f"bpe tokenizer JSON uses pre-split rule {d.get('pre_split')!r}, but this version of "
                             f"tinyllm implements {PRE_SPLIT_NAME!r}; retrain the tokenizer with this version")
        merges, specials = d.get("merges"), d.get("special_tokens", [])
        if not isinstance(merges, list) or not isinstance(specials, list):
            raise ValueError("bpe tokenizer JSON needs a list 'merges' and a list 'special_tokens'")
        return cls(merges, specials)

    def token_text(self, i):
        """A printable rendering of token i: its text, with bytes that are not valid UTF-8 shown as <0xNN>."""
        if i >= len(self.token_bytes):
            return self.special_tokens[i - len(self.token_bytes)]
        b = self.token_bytes[i]
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            return "".join(chr(x) if x < 128 else f"<0x{x:02X}>" for x in b)

    def preview(self, n=20):
        """One line: the vocabulary's make-up, the special tokens and the first `n` learned merges."""
        first = [self.token_text(256 + k) for k in range(min(n, len(self.merges)))]
        return (f"bpe tokenizer, vocab_size={self.vocab_size} = 256 bytes + {len(self.merges)} merges + "
                f"special tokens {list(self.special_tokens)}; first merges: {first!r}")

    def vocab_preview(self):
        """One line per learned token: id, its text, and the two ids it merges (minbpe's .vocab idea, our format)."""
        lines = [f"# bpe vocabulary: {self.vocab_size} tokens = 256 bytes + {len(self.merges)} merges + "
                 f"{len(self.special_tokens)} special tokens; pre-split {PRE_SPLIT_NAME}"]
        for k, (a, b) in enumerate(self.merges):
            i = 256 + k
            lines.append(f"{i:6d}  {self.token_text(i)!r:<24} = {self.token_text(a)!r} + {self.token_text(b)!r}")
        for s, i in self.special_ids.items():
            lines.append(f"{i:6d}  {s!r:<24} (special)")
        return "\n".join(lines) + "\n"


def _check_specials(special_tokens):
    """Validate special tokens: a tuple of distinct non-empty strings."""
    if isinstance(special_tokens, str):
        raise TypeError(f"special_tokens must be a list of strings, got the single string {special_tokens!r}; "
                        f"wrap it: [{special_tokens!r}]")
    specials = tuple(special_tokens)
    for s in specials:
        if not isinstance(s, str) or not s:
            raise ValueError(f"special_tokens must be non-empty strings, got {s!r}")
    if len(set(specials)) != len(specials):
        raise ValueError(f"special_tokens has duplicates: {list(specials)}")
    return specials


def _split_on(text, specials, pattern=None):
    """Split text around special tokens: [text, special, text, special, ..., text] (even = ordinary text)."""
    if not specials:
        return [text]
    if pattern is None:
        pattern = re.compile("(" + "|".join(map(re.escape, sorted(specials, key=len, reverse=True))) + ")")
    return pattern.split(text)
