"""UTF-8 bytes as ids (vocab 256): the always-available baseline that can encode any text and needs no training."""
from .base import Tokenizer, check_ids, check_text


class ByteTokenizer(Tokenizer):
    """Each id is one byte of the text's UTF-8 encoding, so a non-ASCII character becomes 2-4 ids.

    decode() replaces byte sequences that are not valid UTF-8 (e.g. a model's output cut mid-character) with
    U+FFFD rather than failing; decode(encode(s)) == s for every str without lone surrogates.
    """

    kind = "bytes"

    def encode(self, text):
        check_text(text, "ByteTokenizer")
        try:
            return list(text.encode("utf-8"))
        except UnicodeEncodeError as e:  # only lone surrogates such as "\ud800" cannot be UTF-8 encoded
            raise ValueError(f"ByteTokenizer.encode: text has a character that UTF-8 cannot encode at position "
                             f"{e.start} ({text[e.start]!r}, a lone surrogate); clean the text first") from None

    def decode(self, ids):
        return bytes(check_ids(ids, 256, "ByteTokenizer")).decode("utf-8", errors="replace")

    @property
    def vocab_size(self):
        return 256

    def preview(self, n=20):
        return "bytes tokenizer, vocab_size=256: one id per UTF-8 byte (ASCII characters keep their codes)"

    def _fields(self):
        return {}

    @classmethod
    def _from_fields(cls, d):
        return cls()
