"""The lecture's model, exactly: a dictionary of dictionaries of counts, and maximum likelihood.

    counts[context][next_token] = how often next_token followed context in training
    p(w | context) = counts[context][w] / sum(counts[context].values())

The context is the previous n-1 tokens (fewer at the very start of the text), stored as a `bytes` key: both
vocabularies here have at most 256 ids, so one id is one byte. Everything is a plain Python loop, which is the
point: it is the model to read first, and the one the vectorised trie in counts.py is checked against.

Its failure, made visible on purpose:
- a context never seen in training has no inner dictionary, so there is nothing to estimate from. This model then
  returns the uniform distribution 1/V (and counts how often that happens: `unseen_context_share`);
- a seen context followed by a token it was never followed by gets probability exactly 0, so its log-prob is -inf
  and the cross-entropy of any text containing one is infinite. Smoothing (smoothing.py, kneser_ney.py) fixes both.
"""
import json
import math
import sys

import numpy as np

from tinyllm.ngram.base import NGramModel, atomic_write


class NaiveNGram(NGramModel):
    """Dict of dicts of counts, maximum-likelihood probabilities; uniform on unseen contexts (see module doc)."""
    method = "naive"

    def fit(self, data):
        ids = self._ids(data, build_vocab=not isinstance(data, np.ndarray))
        self.counts, self.history, self.n_tokens = {}, b"", 0
        self._add(ids)
        return self

    def update(self, data):
        """Lifelong learning is trivial here: keep counting, with the last n-1 tokens as the first context."""
        if getattr(self, "counts", None) is None:
            return self.fit(data)
        self._add(self._ids(data, build_vocab=False))
        return self

    def _add(self, ids):
        n = self.context_length
        seq = self.history + bytes(ids.astype(np.uint8))
        for i in range(len(self.history), len(seq)):
            context = seq[max(0, i - n):i]
            inner = self.counts.setdefault(context, {})
            inner[seq[i]] = inner.get(seq[i], 0) + 1
        self.history = seq[max(0, len(seq) - n):] if n > 0 else b""
        self.n_tokens += len(ids)

    def _check_fitted(self):
        if self.vocab is None or getattr(self, "counts", None) is None:
            raise RuntimeError("this naive model is not fitted yet: call fit(text) first")

    def _dist(self, ctx):
        inner = self.counts.get(bytes(np.asarray(ctx, np.uint8)))
        if inner is None:                               # never seen: no information at all
            return np.full(self.vocab.size, 1.0 / self.vocab.size)
        p = np.zeros(self.vocab.size)
        for token, c in inner.items():
            p[token] = c
        return p / p.sum()

    def _score(self, ids):
        n = self.context_length
        seq = bytes(ids.astype(np.uint8))
        out = np.empty(len(ids))
        for t in range(len(seq)):
            inner = self.counts.get(seq[max(0, t - n):t])
            if inner is None:
                out[t] = -math.log(self.vocab.size)
            else:
                c = inner.get(seq[t], 0)
                out[t] = math.log(c / sum(inner.values())) if c else -math.inf
        return out

    def unseen_context_share(self, ids):
        n = self.context_length
        if n == 0 or len(ids) <= n:
            return 0.0
        seq = bytes(np.asarray(ids).astype(np.uint8))
        return sum(seq[t - n:t] not in self.counts for t in range(n, len(seq))) / (len(seq) - n)

    def nbytes(self):
        """Approximate memory of the dictionaries (sys.getsizeof of dicts and keys; small ints are shared)."""
        return sys.getsizeof(self.counts) + sum(sys.getsizeof(c) + sys.getsizeof(d) for c, d in self.counts.items())

    def n_entries(self):
        """(contexts, (context, token) pairs): the size of the two dictionary levels."""
        return len(self.counts), sum(len(d) for d in self.counts.values())

    def save(self, path):
        """JSON: contexts as lists of ids, so the file is readable and needs no pickle."""
        self._check_fitted()
        meta = {"format": "tinyllm-ngram", "version": 1, "method": self.method,
                "config": {k: v for k, v in vars(self.config).items()},
                "vocab": {"kind": self.vocab.kind, "chars": self.vocab.chars}, "n_tokens": self.n_tokens,
                "history": list(self.history),
                "counts": [[list(ctx), [[w, c] for w, c in sorted(inner.items())]]
                           for ctx, inner in sorted(self.counts.items())]}
        atomic_write(path, lambda f: f.write(json.dumps(meta).encode("utf-8")))

    def _load_json(self, meta):
        self.history, self.n_tokens = bytes(meta["history"]), meta["n_tokens"]
        self.counts = {bytes(ctx): {int(w): int(c) for w, c in pairs} for ctx, pairs in meta["counts"]}
