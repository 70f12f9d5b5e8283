"""Is a question a search of the indexes at all? A logistic-regression check the translator asks first.

The translator's grammar guarantees a *valid* query, not a *meaningful* one: asked "what time is it in Tokyo" it
confidently filters authors named Tokyo. Its own confidence does not tell the two apart (on the shipped model the
mean log-probability of such decodings overlapped the test questions'), so a separate check decides:

    p(in scope | q) = sigmoid(w . x(q) + b),    x(q) = hashed unigrams and bigrams of q's *frame*,

where the frame is the question with its values masked (numbers -> <9>, capitalised words after the first ->
<Aa>, quoted spans -> <quote>): "papers by Yann LeCun" and "papers by Ada Lovelace" have the same features, so
the check judges what is asked, not which names appear. Each word also adds its character 4-grams, so "cited",
"citation" and "citations" share evidence. Positives are the distilled questions; negatives come from the
off-topic grammar (offtopic.py). Two checks run in turn (`Scope`): *off-topic* (the weather, a sum) and
*unanswerable* (on topic, but asking for what the indexes do not store: citations, prices, biographies), each
fitted against its own negatives so that neither blurs the other. A threshold keeps a chosen share of held-out
positives (see scripts/train_scope.py); weights, biases and thresholds are saved as JSON (no pickle).
"""
import json
import os
import re
import zlib

import numpy as np

from . import schema

DEFAULT_PATH = schema.DATA_DIR / "nlq_scope.json"
DIM = 1 << 16                 # hash buckets for the features
FORMAT = "tinyllm-nlq-scope"
VERSION = 2
CHECKS = ("off-topic", "unanswerable")     # the order they run in
# a quoted span | a word of letters (any script, with 's / n't) | a number (dates, times) | one other character
_TOKEN = re.compile(r"\"[^\"]*\"|'[^']{2,}'|[^\W\d_]+(?:'[^\W\d_]+)?|\d+(?:[.:/-]\d+)*|[^\s\w]|_")


def frame(question):
    """The question's tokens with values masked: [`<quote>`, `<9>`, `<Aa>`, lower-cased words, punctuation]."""
    out = []
    for k, tok in enumerate(_TOKEN.findall(question)):
        if tok[0] in "\"'" and len(tok) > 1 and tok[-1] == tok[0]:
            out.append("<quote>")
        elif tok[0].isdigit():
            out.append("<9>")
        elif tok[0].isupper() and k > 0:
            out.append("<Aa>")
        else:
            out.append(tok.lower())
    return out


def features(question, dim=DIM):
    """Sorted unique hashed feature ids: the frame's unigrams and bigrams (with start/end markers) and the
    character 4-grams of its words longer than three letters (marked ^word$, masks excluded)."""
    toks = ["<s>"] + frame(question) + ["</s>"]
    grams = toks[1:-1] + [a + " " + b for a, b in zip(toks, toks[1:])]
    for t in toks[1:-1]:
        if len(t) > 3 and t[0] != "<":
            w = "^" + t + "$"
            grams += ["#" + w[i:i + 4] for i in range(len(w) - 3)]
    return np.unique(np.array([zlib.crc32(g.encode("utf-8")) % dim for g in grams], dtype=np.int64))


def _csr(questions, dim):
    """(indptr (N+1,), ids (nnz,)) of the questions' feature sets."""
    rows = [features(q, dim) for q in questions]
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    return indptr, (np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64))


class ScopeCheck:
    """Weights w (dim,), bias b and decision threshold on p(in scope)."""

    def __init__(self, w, b, threshold=0.5):
        self.w, self.b, self.threshold = np.asarray(w, dtype=np.float64), float(b), float(threshold)

    def probability(self, questions):
        """p(in scope) for each question, shape (N,)."""
        indptr, ids = _csr(questions, len(self.w))
        z = np.add.reduceat(self.w[ids], indptr[:-1]) if len(ids) else np.zeros(len(questions))
        z = np.where(np.diff(indptr) > 0, z, 0.0) + self.b    # reduceat repeats a value for empty rows
        return 1.0 / (1.0 + np.exp(-z))

    def in_scope(self, question):
        """(bool, p): is p(in scope | question) at least the threshold?"""
        p = float(self.probability([question])[0])
        return p >= self.threshold, p

    @classmethod
    def fit(cls, positives, negatives, dim=DIM, l2=1e-4, steps=1000, lr=0.5):
        """Class-balanced logistic regression by full-batch gradient descent (convex, so plain GD is enough).

        Loss = mean_i a_i * BCE(sigmoid(z_i), y_i) + l2/2 |w|^2 with a_i making both classes weigh the same."""
        qs = list(positives) + list(negatives)
        if not positives or not negatives:
            raise ValueError("fit needs at least one positive and one negative question")
        y = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]                       # (N,)
        a = np.where(y == 1, 0.5 / len(positives), 0.5 / len(negatives))                     # (N,) sums to 1
        indptr, ids = _csr(qs, dim)
        counts = np.diff(indptr)
        w, b = np.zeros(dim), 0.0
        for _ in range(steps):
            z = np.where(counts > 0, np.add.reduceat(w[ids], indptr[:-1]), 0.0) + b
            err = a * (1.0 / (1.0 + np.exp(-z)) - y)                                          # dLoss/dz (N,)
            w -= lr * (np.bincount(ids, weights=np.repeat(err, counts), minlength=dim) + l2 * w)
            b -= lr * err.sum()
        return cls(w, b)

    def to_dict(self):
        nz = np.flatnonzero(np.abs(self.w) > 1e-6)
        return {"dim": len(self.w), "bias": self.b, "threshold": self.threshold, "ids": nz.tolist(),
                "weights": [round(float(v), 6) for v in self.w[nz]]}

    @classmethod
    def from_dict(cls, d):
        w = np.zeros(int(d["dim"]))
        w[np.asarray(d["ids"], dtype=np.int64)] = d["weights"]
        return cls(w, d["bias"], d["threshold"])


def _logit(p):
    p = min(max(p, 1e-12), 1 - 1e-12)
    return float(np.log(p / (1 - p)))


class Scope:
    """The checks a question must pass before it is translated: {name: ScopeCheck} for the names in CHECKS."""

    def __init__(self, checks):
        if set(checks) != set(CHECKS):
            raise ValueError(f"a Scope needs the checks {list(CHECKS)}, got {sorted(checks)}")
        self.checks = {name: checks[name] for name in CHECKS}

    def accepts(self, questions):
        """(N,) bool: does each question pass every check?"""
        return np.logical_and.reduce([c.probability(questions) >= c.threshold for c in self.checks.values()])

    def refusal(self, question, index):
        """None when `question` passes every check, else the reason to give the user (names the index). When both
        checks refuse, the reason is the more confident one's: the larger log-odds gap below its threshold."""
        gaps = {}
        for name, check in self.checks.items():
            ok, p = check.in_scope(question)
            if not ok:
                gaps[name] = (_logit(check.threshold) - _logit(p), p, check.threshold)
        if not gaps:
            return None
        name = max(gaps, key=lambda n: gaps[n][0])
        _, p, threshold = gaps[name]
        if name == "off-topic":
            return (f"this does not look like a search of the {index} index (in-scope score {p:.2f} < "
                    f"{threshold:.2f}); ask about its documents: words, authors, titles, dates, counts or groups")
        stored = ", ".join(f for f in schema.field_types(index) if "." not in f)
        return (f"the {index} index does not store what this asks for (answerable score {p:.2f} < {threshold:.2f}): "
                f"it holds {stored}; not citations, ratings, prices or biographies")

    def save(self, path):
        """Write atomically (temp file, then rename)."""
        d = {"format": FORMAT, "version": VERSION, "checks": {n: c.to_dict() for n, c in self.checks.items()}}
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(d, f, separators=(",", ":"))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path=DEFAULT_PATH):
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        if d.get("format") != FORMAT or d.get("version") != VERSION:
            raise ValueError(f"{path}: not a version-{VERSION} {FORMAT} file (format {d.get('format')!r}, "
                             f"version {d.get('version')!r}); retrain with scripts/train_scope.py")
        return cls({n: ScopeCheck.from_dict(c) for n, c in d["checks"].items()})
