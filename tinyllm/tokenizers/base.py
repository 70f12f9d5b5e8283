"""The Tokenizer interface every tokenizer implements, plus the versioned-JSON helpers they share.

A tokenizer maps text to a list of integer ids in [0, vocab_size) and back. It is saved as one small JSON file
holding `"type"` (which class), `"version"` (the file format) and the fields that class needs, never pickle.
"""
import contextlib
import json
import os
import tempfile

FORMAT_VERSION = 1  # bump when a tokenizer's JSON layout changes; loaders reject versions they do not know


class Tokenizer:
    """Base class: subclasses set `kind`, implement encode/decode/to_dict/_from_fields and the `vocab_size` property."""

    kind = "base"  # the "type" written to JSON: "bytes", "chars" or "bpe"

    def encode(self, text):
        """text (str) -> list[int] of ids, each in [0, vocab_size)."""
        raise NotImplementedError

    def decode(self, ids):
        """ids (iterable of int) -> str."""
        raise NotImplementedError

    @property
    def vocab_size(self):
        raise NotImplementedError

    def to_dict(self):
        """A JSON-able dict with "type", "version" and this tokenizer's fields."""
        return {"type": self.kind, "version": FORMAT_VERSION, **self._fields()}

    def _fields(self):
        raise NotImplementedError

    @classmethod
    def _from_fields(cls, d):
        raise NotImplementedError

    def save(self, path):
        """Write to_dict() as JSON at `path` atomically (temp file + rename), so a crash never leaves half a file."""
        write_json_atomic(path, self.to_dict())

    def preview(self, n=20):
        """A short human-readable description: kind, vocabulary size and the first `n` tokens."""
        shown = [self.decode([i]) for i in range(min(n, self.vocab_size))]
        return f"{self.kind} tokenizer, vocab_size={self.vocab_size}, first tokens: {shown!r}"

    def __eq__(self, other):
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"


def check_ids(ids, vocab_size, who):
    """Return `ids` as a list of Python ints, raising a ValueError that names the first id outside [0, vocab_size)."""
    out = [int(i) for i in ids]
    for pos, i in enumerate(out):
        if not 0 <= i < vocab_size:
            raise ValueError(f"{who}.decode: id {i} at position {pos} is outside [0, {vocab_size}) "
                             f"(vocab_size={vocab_size}); were these ids made by a different tokenizer?")
    return out


def check_text(text, who):
    """Raise a TypeError naming `who` unless `text` is a str (bytes and lists are common mistakes)."""
    if not isinstance(text, str):
        raise TypeError(f"{who}.encode: text must be a str, got {type(text).__name__}")


def write_json_atomic(path, obj):
    """Serialise `obj` to JSON and write it to `path` via a temp file in the same directory, then os.replace."""
    write_bytes_atomic(path, (json.dumps(obj, ensure_ascii=False, indent=1) + "\n").encode("utf-8"))


def write_bytes_atomic(path, data):
    """Write `data` (bytes) to `path` atomically: a reader sees either the old file or the whole new one."""
    with atomic_writer(path) as f:
        f.write(data)


@contextlib.contextmanager
def atomic_writer(path):
    """Yield a binary file that becomes `path` only when the block finishes without an exception.

    The data goes to a temp file in the same directory (so the rename cannot cross file systems), is flushed to
    disk, then os.replace swaps it in; on any error the temp file is removed and `path` is untouched.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + os.path.basename(path), dir=directory)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes the file private (0600); give it the usual rw-r--r--
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read_json(path, what="tokenizer"):
    """Load a JSON file, turning a missing or unparsable file into an error that names the path and the fix."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} file {path!r} does not exist") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{what} file {path!r} is not valid JSON ({e}); the file is corrupt, "
                         f"re-create it (e.g. re-run `tinyllm prepare`)") from None
