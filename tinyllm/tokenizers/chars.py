"""A vocabulary of the characters seen in training text, one id per Unicode code point (nanoGPT's shakespeare_char).

Small vocabularies make tiny models learn fast, but a character the training text never contained cannot be
encoded: encode() then raises an error naming the character and where it is, instead of silently mapping it to 0.
"""
import unicodedata

from .base import Tokenizer, check_ids, check_text


class CharTokenizer(Tokenizer):
    """id i <-> chars[i]. Build with CharTokenizer.train(text) (sorted unique characters) or CharTokenizer(chars)."""

    kind = "chars"

    def __init__(self, chars):
        chars = list(chars)
        for i, c in enumerate(chars):
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"CharTokenizer: chars[{i}] must be a single character, got {c!r}")
        seen = {}
        for i, c in enumerate(chars):
            if c in seen:
                raise ValueError(f"CharTokenizer: chars has {c!r} twice (positions {seen[c]} and {i})")
            seen[c] = i
        if not chars:
            raise ValueError("CharTokenizer: chars is empty; train on a non-empty text")
        self.chars = chars
        self.stoi = seen  # character -> id

    @classmethod
    def train(cls, text):
        """The vocabulary is the sorted set of characters in `text`."""
        check_text(text, "CharTokenizer.train")
        if not text:
            raise ValueError("CharTokenizer.train: text is empty, so there are no characters to learn")
        return cls(sorted(set(text)))

    def encode(self, text):
        check_text(text, "CharTokenizer")
        stoi = self.stoi
        try:
            return [stoi[c] for c in text]
        except KeyError as e:
            c = e.args[0]
            pos = text.index(c)
            name = unicodedata.name(c, "unnamed")
            raise ValueError(
                f"CharTokenizer.encode: character {c!r} (U+{ord(c):04X} {name}) at position {pos} is not in the "
                f"vocabulary of {len(self.chars)} characters seen in training; retrain on text that contains it, "
                f"or use tokenizer='bytes' or 'bpe', which can encode any text") from None

    def decode(self, ids):
        chars = self.chars
        return "".join(chars[i] for i in check_ids(ids, len(chars), "CharTokenizer"))

    @property
    def vocab_size(self):
        return len(self.chars)

    def _fields(self):
        return {"chars": "".join(self.chars)}

    @classmethod
    def _from_fields(cls, d):
        chars = d.get("chars")
        if not isinstance(chars, str):
            raise ValueError(f"chars tokenizer JSON needs a string field 'chars', got {type(chars).__name__}")
        return cls(chars)
