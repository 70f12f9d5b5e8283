"""The infini-gram (Liu et al., 2024, "Infini-gram: scaling unbounded n-gram language models"), mixed with mkn.

An n-gram model must fix n; the infini-gram uses the *longest* suffix h of the context that occurs in the training
text followed by some token, however long, found by binary search in a suffix array (suffix_array.py):

    p_inf(w | context) = c(h w) / c(h)             h = the longest such suffix, n = len(h) its "effective n"

When n is small the estimate is worse than Kneser-Ney, when n is long (a passage seen before) it is often exact.
So it is trusted only past a threshold ("thresholded backoff"), and mixed with modified Kneser-Ney for a proper,
strictly positive distribution:

    lambda = lam if n >= threshold else 0
    p(w | context) = lambda * p_inf(w | context) + (1 - lambda) * p_mkn(w | last order-1 tokens)

The defaults (threshold 9, lam 0.05, order 7) were picked on a held-out tenth of the Shakespeare *training* text,
never on the validation text. `update` refits the suffix array on everything seen (O(N log N) prefix doubling).
"""
import numpy as np

from tinyllm.ngram.kneser_ney import ModifiedKneserNey
from tinyllm.ngram.suffix_array import build_suffix_array, longest_matches, next_token_counts


class InfiniGram(ModifiedKneserNey):
    """Suffix-array infini-gram, interpolated with modified Kneser-Ney of order config.order."""
    method = "infini"

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        self.data, self.sa = None, None

    def _after_fit(self, ids):
        self.data = ids.astype(np.uint8 if self.vocab.size <= 256 else np.int32)
        self.sa = build_suffix_array(self.data)
        self._prepare()

    def use_counts(self, vocab, trie, data=None, sa=None):
        """As NGramModel.use_counts, plus the training ids and (optionally) their already-built suffix array."""
        if data is None:
            raise ValueError("the infini-gram needs the training ids (data=...) beside the counts")
        self.data = np.asarray(data).astype(np.uint8 if vocab.size <= 256 else np.int32)
        self.sa = build_suffix_array(self.data) if sa is None else np.asarray(sa, np.int64)
        return super().use_counts(vocab, trie)

    def _after_update(self, ids):
        self._after_fit(np.concatenate([self.data.astype(np.int64), ids]))

    @property
    def context_length(self):
        return self.config.max_match

    def _lambda(self, n):
        return np.where(np.asarray(n) >= self.config.threshold, self.config.lam, 0.0)

    def _dist(self, ctx):
        p_kn = super()._dist(ctx[max(0, len(ctx) - (self.config.order - 1)):])
        n, counts = next_token_counts(self.data, self.sa, ctx, self.vocab.size, self.config.max_match)
        lam = float(self._lambda(n))
        if lam == 0.0:
            return p_kn
        return lam * counts / counts.sum() + (1 - lam) * p_kn

    def _score(self, ids):
        lp_kn = super()._score(ids)              # contexts of order-1 tokens: the mkn fast path
        n, c_h, c_hw = longest_matches(self.data, self.sa, ids, self.config.max_match)
        lam = self._lambda(n)
        p_inf = c_hw / np.maximum(c_h, 1)
        return np.log(lam * p_inf + (1 - lam) * np.exp(lp_kn))

    def effective_n(self, data):
        """(T,) length of the longest matched context suffix at every position of `data` (for the lesson)."""
        ids = self._ids(data, build_vocab=False)
        return longest_matches(self.data, self.sa, ids, self.config.max_match)[0]

    def _arrays(self):
        return {**super()._arrays(), "data": self.data, "sa": self.sa}

    def _load_arrays(self, z, meta):
        self.data, self.sa = z["data"], z["sa"]
        super()._load_arrays(z, meta)
