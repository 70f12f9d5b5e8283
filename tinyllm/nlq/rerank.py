"""Re-ranking the beams: a log-linear model over (question, candidate IR) picks the translation among the beams.

The beam's first candidate is right on about 89% of fresh distilled questions, but one of eight beams is right
on about 97%: the decoder often has the answer and ranks it second. Most such misses are decided by the words
around a copied span, which a two-layer causal decoder reads poorly: "excluding papers involving Rui Wang where
Yuliang Huang is a co-author" puts the wrong author in must_not; "cs.CV but not cs.AI" copies "not" as a code.
A discriminative re-ranker (Collins & Koo 2005, "Discriminative reranking for natural language parsing") scores
each candidate c of question q as

    s(c) = w . phi(q, c),    phi = [log p(c | q), and per copied clause: words left of its span x occurrence,
                                    the words right of it x field / operator, span length x operator x field]

and p(c | q, beams) = softmax_c s(c) is trained to put its mass on the beams whose search gives the right answer
(labels by execution on fresh distilled questions, scripts/train_rerank.py). Features are strings, weights a
JSON dict; a feature never seen in training weighs 0, so an unfamiliar question falls back to log p(c | q).
"""
import collections
import json

import numpy as np

from tinyllm.nn.module import Parameter
from tinyllm.tokenizers.base import write_json_atomic
from tinyllm.training.optim import Adam

from .ir import words
from .prepare_ir import clauses

RERANK_FILE = "rerank.json"
LOGP = "logp"                 # the decoder's own score, a dense feature (weight 1 and nothing else = no re-ranking)
LEFT = 5                      # how many words left of a span count as its context ("excluding papers involving")


def features(question, ir, logp):
    """phi(q, c) as {feature string: value}: the model's log-probability, then for each query clause that copies
    question words (span s..e, occurrence o, operator op, field f): the word at each of the LEFT positions before s
    with o, the nearest one with o and with f, the word after e with f and with op, the first copied word with f,
    and (op, f, span length up to 4); a clause that copies nothing counts as (o, op, f)."""
    ws = ["<s>"] + [w.lower() for w, _, _ in words(question)] + ["</s>"]     # question word i is ws[i + 1]
    phi = collections.Counter({LOGP: float(logp)})
    for clause in clauses(ir)[0]:
        occ, op = clause[0], clause[1] if len(clause) > 1 else "?"
        field = next((t for t in clause if t.startswith("f:")), "-")
        copied = [int(t[1:]) + 1 for t in clause if t.startswith("@")]
        if not copied:
            phi[f"lit|{occ}|{op}|{field}"] += 1
            continue
        s, e = min(copied), max(copied)
        after = ws[min(e + 1, len(ws) - 1)]
        for d in range(1, LEFT + 1):
            if s - d >= 0:
                phi[f"win|{ws[s - d]}|{occ}"] += 1
        phi[f"left|{ws[s - 1]}|{occ}"] += 1
        phi[f"leftf|{ws[s - 1]}|{field}"] += 1
        phi[f"right|{after}|{field}"] += 1
        phi[f"rightop|{after}|{op}"] += 1
        phi[f"first|{ws[s]}|{field}"] += 1
        phi[f"span|{op}|{field}|{min(e - s + 1, 4)}"] += 1
    return phi


class Reranker:
    """Weights of the log-linear re-ranker; `order` sorts a beam's candidates by s(c), best first."""

    def __init__(self, weights=None, meta=None):
        self.weights = {LOGP: 1.0} if weights is None else dict(weights)
        self.meta = dict(meta or {})

    def score(self, question, ir, logp):
        w = self.weights
        return sum(w.get(k, 0.0) * v for k, v in features(question, ir, logp).items())

    def order(self, question, found):
        """`found` ([(log-prob, IR tokens)], as nbest returns it) sorted by the re-ranker's score, best first
        (ties keep the decoder's order)."""
        scores = [self.score(question, ir, logp) for logp, ir in found]
        return [found[i] for i in sorted(range(len(found)), key=lambda i: -scores[i])]

    def save(self, path):
        """Write the weights as JSON, atomically (temp file + rename)."""
        write_json_atomic(path, {"weights": self.weights, "meta": self.meta})

    @classmethod
    def load(cls, path):
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
            weights = {str(k): float(v) for k, v in d["weights"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"{path}: not a re-ranker file ({{'weights': {{feature: number}}}}): {e}") from None
        return cls(weights, d.get("meta"))


def fit(groups, l2=1e-3, steps=300, lr=0.05):
    """A Reranker trained on `groups`: one per question, [(question, IR, log-prob, right?)] for its beams.

    Minimises the mean over questions with both right and wrong beams of -log sum_{c right} p(c | q, beams),
    plus l2/2 |w|^2, with Adam from w = (1 for log p, 0 elsewhere); other questions carry no signal."""
    index, rows, cols, vals, right, group_of = {LOGP: 0}, [], [], [], [], []
    for g, beams in enumerate(groups):
        for question, ir, logp, ok in beams:
            for k, v in features(question, ir, logp).items():
                rows.append(len(right)), cols.append(index.setdefault(k, len(index))), vals.append(v)
            right.append(bool(ok)), group_of.append(g)
    rows, cols, vals = np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64), np.array(vals)
    right, group_of, n = np.array(right), np.array(group_of, dtype=np.int64), len(right)
    n_ok = np.bincount(group_of, weights=right, minlength=len(groups))
    mixed_groups = (n_ok > 0) & (n_ok < np.bincount(group_of, minlength=len(groups)))          # (G,)
    mixed, n_mixed = mixed_groups[group_of], max(1, int(mixed_groups.sum()))                   # (N,), count
    w = Parameter(np.zeros(len(index)))
    w.data[0] = 1.0
    opt = Adam([w], lr=lr, weight_decay=l2)            # coupled weight decay: the l2/2 |w|^2 term's gradient
    for _ in range(steps):
        s = np.bincount(rows, weights=w.data[cols] * vals, minlength=n)                          # (N,) scores
        top = np.full(len(groups), -np.inf)
        np.maximum.at(top, group_of, s)
        e = np.exp(s - top[group_of])
        p = e / np.bincount(group_of, weights=e)[group_of]                                         # p(c | beams)
        p_ok = np.where(right, e / np.maximum(np.bincount(group_of, weights=e * right)[group_of], 1e-300), 0.0)
        ds = np.where(mixed, p - p_ok, 0.0) / n_mixed                                              # dLoss/ds
        w.grad = np.bincount(cols, weights=ds[rows] * vals, minlength=len(index))
        opt.step()
    names = list(index)
    return Reranker({names[i]: float(w.data[i]) for i in np.flatnonzero(w.data)})
