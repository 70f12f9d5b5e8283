"""The interface every n-gram model shares: fit / update / prob / log_prob / score / generate / save / load.

Models work on integer ids. The vocabulary is either the 256 byte values (UTF-8 of the text; never an unseen
symbol) or the sorted set of characters of the training text (nanoGPT-style char ids; V = 65 for Shakespeare).
Subclasses implement `_prepare` (derive per-context statistics from the counts), `_dist` (the readable path: a full
distribution for one context) and, optionally, `_score` (the fast path: log-prob of each actual next token,
vectorised; tested equal to `_dist`).
"""
import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass

import numpy as np

from tinyllm.ngram.counts import NGramTrie, Level, count_ngrams, lookup, merge, shift
from tinyllm.sampling.logits import SamplingConfig, sample_next

FORMAT_VERSION = 1
METHODS = ("naive", "addk", "backoff", "kn", "mkn", "infini")


@dataclass
class NGramConfig:
    """Hyper-parameters of every count model; each method reads only the fields it needs."""
    method: str = "mkn"           # naive | addk | backoff | kn | mkn | infini
    order: int = 7                # n: the model sees n - 1 tokens of context
    vocab: str = "chars"          # bytes (V = 256) | chars (sorted characters of the training text)
    k: float = 0.01               # addk: pseudo-count added to every (context, token)
    alpha: float = 0.4            # backoff: weight of each step down to a shorter context
    discounts: tuple | None = None  # kn/mkn: fixed discounts (1 for kn, 3 for mkn); None = estimate from counts
    threshold: int = 9            # infini: use the suffix-array estimate only when its match is this long
    lam: float = 0.05             # infini: weight of the suffix-array estimate in the mixture with mkn
    max_match: int = 1000         # infini: longest context suffix looked up

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if not isinstance(self.order, int) or self.order < 1:
            raise ValueError(f"order must be an int >= 1, got {self.order!r}")
        if self.vocab not in ("bytes", "chars"):
            raise ValueError(f"vocab must be 'bytes' or 'chars', got {self.vocab!r}")
        if not self.k > 0:
            raise ValueError(f"k (add-k pseudo-count) must be > 0, got {self.k}")
        if not 0 < self.alpha <= 1:
            raise ValueError(f"alpha (backoff weight) must be in (0, 1], got {self.alpha}")
        if self.discounts is not None:
            self.discounts = tuple(float(d) for d in self.discounts)
            want = 3 if self.method in ("mkn", "infini") else 1
            if len(self.discounts) != want or not all(0 < d <= r + 1 for r, d in enumerate(self.discounts)):
                raise ValueError(f"discounts must be {want} value(s) with 0 < D_r <= r, got {self.discounts}")
        if self.threshold < 1 or self.max_match < 1:
            raise ValueError(f"threshold and max_match must be >= 1, got {self.threshold}, {self.max_match}")
        if not 0 <= self.lam <= 1:
            raise ValueError(f"lam (mixture weight) must be in [0, 1], got {self.lam}")


class Vocab:
    """Text <-> ids: 'bytes' (UTF-8, V = 256) or 'chars' (the sorted characters seen when the vocab was built)."""

    def __init__(self, kind="bytes", chars=""):
        if kind not in ("bytes", "chars"):
            raise ValueError(f"vocab kind must be 'bytes' or 'chars', got {kind!r}")
        self.kind, self.chars = kind, "".join(sorted(set(chars)))
        self.index = {c: i for i, c in enumerate(self.chars)}
        if kind == "chars" and not self.chars:
            raise ValueError("a 'chars' vocabulary needs at least one character of training text")

    @classmethod
    def from_text(cls, text, kind):
        return cls(kind, text if kind == "chars" else "")

    @property
    def size(self):
        return 256 if self.kind == "bytes" else len(self.chars)

    def encode(self, text):
        """str (or bytes, for a byte vocab) -> (T,) int64 ids."""
        if isinstance(text, np.ndarray):
            return text.astype(np.int64)
        if self.kind == "bytes":
            raw = text if isinstance(text, (bytes, bytearray)) else text.encode("utf-8")
            return np.frombuffer(bytes(raw), np.uint8).astype(np.int64)
        if isinstance(text, (bytes, bytearray)):
            text = text.decode("utf-8")
        try:
            return np.fromiter((self.index[c] for c in text), np.int64, len(text))
        except KeyError as e:
            raise ValueError(f"character {e.args[0]!r} is not in this model's character vocabulary "
                             f"({len(self.chars)} characters); fit with vocab='bytes' to accept any text") from None

    def decode(self, ids):
        ids = [int(i) for i in ids]
        if self.kind == "bytes":
            return bytes(ids).decode("utf-8", errors="replace")
        return "".join(self.chars[i] for i in ids)

    def n_bytes(self, ids):
        """UTF-8 length of the text these ids spell (the denominator of bits-per-byte)."""
        return len(ids) if self.kind == "bytes" else len(self.decode(ids).encode("utf-8"))


class NGramModel:
    """Shared machinery; subclasses define `_prepare`, `_dist` and (optionally) the fast `_score`."""

    def __init__(self, config=None, **overrides):
        if config is not None and overrides:
            raise TypeError("pass either a config or keyword overrides, not both")
        self.config = config if config is not None else NGramConfig(method=self.method, **overrides)
        if self.config.method != self.method:
            raise ValueError(f"config.method is {self.config.method!r} but this class is the {self.method!r} model")
        self.vocab, self.trie = None, None

    # ---- fitting ------------------------------------------------------------------------------------------------
    def _ids(self, data, build_vocab):
        if isinstance(data, np.ndarray):
            if self.vocab is None:
                raise ValueError("fit on an id array needs a vocabulary: set model.vocab = Vocab(...) first")
            ids = data.astype(np.int64)
            if len(ids) and (ids.min() < 0 or ids.max() >= self.vocab.size):
                raise ValueError(f"data ids must lie in [0, {self.vocab.size}), got [{ids.min()}, {ids.max()}]")
            return ids
        if not isinstance(data, (str, bytes, bytearray)):
            raise TypeError(f"data must be str, bytes or an int array, got {type(data).__name__}")
        if build_vocab:
            self.vocab = Vocab.from_text(data if isinstance(data, str) else bytes(data).decode("utf-8"),
                                         self.config.vocab)
        return self.vocab.encode(data)

    def fit(self, data):
        """Count all n-grams of `data` (text or ids) from scratch; returns self."""
        ids = self._ids(data, build_vocab=not isinstance(data, np.ndarray))
        self.trie = count_ngrams(ids, self.config.order, self.vocab.size)
        self._after_fit(ids)
        return self

    def update(self, data):
        """Lifelong learning: add more text; the result equals fitting on the concatenation of everything seen."""
        if self.trie is None:
            return self.fit(data)
        ids = self._ids(data, build_vocab=False)
        tail = self.trie.tail
        more = count_ngrams(np.concatenate([tail, ids]), self.config.order, self.vocab.size, skip=len(tail))
        self.trie = merge(self.trie, more)
        self._after_update(ids)
        return self

    def use_counts(self, vocab, trie):
        """Adopt counts made elsewhere (e.g. one trie shared by several smoothing methods); returns self."""
        if trie.order != self.config.order or trie.vocab_size != vocab.size:
            raise ValueError(f"trie has (order, V) = {(trie.order, trie.vocab_size)}, "
                             f"model needs {(self.config.order, vocab.size)}")
        self.vocab, self.trie = vocab, trie
        self._prepare()
        return self

    def nbytes(self):
        """Bytes held in NumPy arrays: the counts plus whatever `_prepare` derived from them."""
        total = self.trie.nbytes() if self.trie is not None else 0
        for value in vars(self).values():
            for a in value if isinstance(value, list) else [value]:
                total += a.nbytes if isinstance(a, np.ndarray) else 0
        return total

    def _after_fit(self, ids):
        self._prepare()

    def _after_update(self, ids):
        self._prepare()

    def _prepare(self):
        raise NotImplementedError

    # ---- probabilities -------------------------------------------------------------------------------------------
    @property
    def context_length(self):
        """How many previous tokens the model looks at."""
        return self.config.order - 1

    def _context_ids(self, context):
        self._check_fitted()
        if isinstance(context, (str, bytes, bytearray)):
            ids = self.vocab.encode(context)
        else:
            ids = np.asarray(context, np.int64).reshape(-1)
            if len(ids) and (ids.min() < 0 or ids.max() >= self.vocab.size):
                raise ValueError(f"context ids must lie in [0, {self.vocab.size}), got [{ids.min()}, {ids.max()}]")
        n = self.context_length
        return ids[max(0, len(ids) - n):] if n > 0 else ids[:0]

    def prob(self, context):
        """(V,) next-token distribution after `context` (text or ids); sums to 1."""
        return self._dist(self._context_ids(context))

    def log_prob(self, context):
        """(V,) natural-log probabilities (-inf where the model gives exactly zero)."""
        with np.errstate(divide="ignore"):
            return np.log(self.prob(context))

    def score(self, data):
        """(T,) log p(x_t | x_<t) of every token of `data`, contexts taken from `data` itself (fast path)."""
        self._check_fitted()
        ids = self._ids(data, build_vocab=False)
        return self._score(ids) if len(ids) else np.zeros(0)

    def _score(self, ids):
        return self.score_reference(ids)

    def score_reference(self, ids):
        """The readable path: one full distribution per position, the actual token's log-prob picked out."""
        n = self.context_length
        out = np.empty(len(ids))
        for t in range(len(ids)):
            p = self._dist(np.asarray(ids[max(0, t - n):t], np.int64))[ids[t]]
            out[t] = math.log(p) if p > 0 else -math.inf
        return out

    def evaluate(self, data):
        """Cross-entropy of `data`: nats per token, bits per UTF-8 byte, and the share of unseen contexts."""
        ids = self._ids(data, build_vocab=False)
        lp = self.score(ids)
        nats = -float(np.sum(lp))
        return {"tokens": len(ids), "nats_per_token": nats / max(len(ids), 1),
                "bits_per_byte": nats / math.log(2) / max(self.vocab.n_bytes(ids), 1),
                "unseen_context_share": self.unseen_context_share(ids)}

    def unseen_context_share(self, ids):
        """Share of positions whose full (order-1)-token context never occurred, followed by a token, in training."""
        n = self.config.order - 1
        if n == 0 or len(ids) <= n:
            return 0.0
        E = lookup(self.trie, ids)
        ctx = shift(E[n])[n:]                                   # full-length contexts only
        seen = ctx >= 0
        seen[seen] = self._context_total(n, ctx[seen]) > 0
        return float(1.0 - seen.mean())

    def _context_total(self, j, h):
        """Sum of raw counts of the children of level-j contexts h (0 if h only occurred at the very end)."""
        lv = self.trie.level(j + 1)
        V = self.vocab.size
        return np.searchsorted(lv.keys, (h + 1) * V) - np.searchsorted(lv.keys, h * V)

    def _check_fitted(self):
        if self.vocab is None or (self.trie is None and self.method != "naive"):
            raise RuntimeError(f"this {self.method} model is not fitted yet: call fit(text) first")

    # ---- generation ----------------------------------------------------------------------------------------------
    def generate(self, prompt="", n=100, sampling=None):
        """Extend `prompt` by n tokens, sampled through the shared sampler (temperature, top-k, top-p, seed)."""
        cfg = sampling if sampling is not None else SamplingConfig()
        if n < 0:
            raise ValueError(f"n (tokens to generate) must be >= 0, got {n}")
        self._check_fitted()
        rng = np.random.default_rng(cfg.seed)
        ids = list(self.vocab.encode(prompt)) if prompt else []
        start = len(ids)
        for _ in range(n):
            logits = self.log_prob(np.asarray(ids, np.int64))
            ids.append(sample_next(logits, cfg, rng, previous_ids=ids[start:]))
        return self.vocab.decode(ids[start:])

    # ---- persistence ---------------------------------------------------------------------------------------------
    def _meta(self):
        return {"format": "tinyllm-ngram", "version": FORMAT_VERSION, "method": self.method,
                "config": asdict(self.config), "vocab": {"kind": self.vocab.kind, "chars": self.vocab.chars},
                "n_tokens": int(self.trie.n_tokens)}

    def _arrays(self):
        out = {"tail": self.trie.tail}
        for k, lv in enumerate(self.trie.levels, 1):
            out.update({f"keys{k}": lv.keys, f"count{k}": lv.count, f"suffix{k}": lv.suffix})
        return out

    def save(self, path):
        """Write the counts (npz, no pickle) atomically: a temp file in the same folder, then os.replace."""
        self._check_fitted()
        arrays = self._arrays()
        arrays["meta"] = np.array(json.dumps(self._meta()))
        atomic_write(path, lambda f: np.savez(f, **arrays))

    def _load_arrays(self, z, meta):
        order = self.config.order
        self.trie = NGramTrie(order, self.vocab.size, tail=z["tail"], n_tokens=meta["n_tokens"])
        self.trie.levels = [Level(z[f"keys{k}"], z[f"count{k}"], z[f"suffix{k}"]) for k in range(1, order + 1)]
        self._prepare()


def atomic_write(path, write):
    """Call write(file_object) on a temp file beside `path`, then rename it over `path` (never a half file)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)                   # mkstemp makes 0600 files; use the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read_meta(meta, path):
    """Check a saved model's header; errors say which file and what to do."""
    if meta.get("format") != "tinyllm-ngram":
        raise ValueError(f"{path}: not a tinyllm n-gram model file (format={meta.get('format')!r})")
    if meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: n-gram file version {meta.get('version')} but this tinyllm reads version "
                         f"{FORMAT_VERSION}; HINT: refit with `tinyllm ngram fit` to rewrite it")
    cfg = dict(meta["config"])
    if cfg.get("discounts") is not None:
        cfg["discounts"] = tuple(cfg["discounts"])
    return NGramConfig(**cfg), Vocab(meta["vocab"]["kind"], meta["vocab"]["chars"])
