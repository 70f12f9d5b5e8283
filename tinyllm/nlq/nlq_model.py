"""The trained translator: a small GPT reads `<index> @0 w0 @1 w1 ... <sep>` and writes IR under a grammar mask.

Why decoder-only: one stack, reused as is from tinyllm/models/gpt.py with its KV cache, and the question is short
(<= 40 words), so reading it as a prompt costs little. Copying is done with the @i marker tokens (prepare_ir.py).
Decoding is a beam search (width 2) under the grammar mask (nbest.py, constrained.py), so every output compiles
and passes the safety gate; the translation is the finished beam the re-ranker (rerank.py, `rerank.json` beside
the weights) scores best, or the most probable one when the checkpoint has no re-ranker, among the beams that keep
every quoted span of the question when any does (quotes.py).
"""
import json
from pathlib import Path

import numpy as np

import tinyllm.functional as F
from tinyllm.models.gpt import GPT

from .compiler import compile_ir
from .prepare_ir import Vocab
from .quotes import keep_quoted_first, quoted_spans

VOCAB_FILE = "nlq_vocab.json"


class MaskedGPT(GPT):
    """GPT whose loss skips targets equal to -1 (the prompt and padding), so only the IR is learned.

    Only the rows with a target reach the output projection: the prompt is about half of every sequence and the
    (C, V) head is the largest matmul of this small model, so this saves a third of a training step.
    The mean runs over target tokens only, whose count differs between rows: no row-weighted data parallelism."""

    data_parallel_ok = False

    def loss(self, batch):
        x, y = batch
        y = np.asarray(y).reshape(-1)                                # (B*T,)
        rows = y != -1                                               # positions that carry a target
        if not rows.any():
            raise ValueError("batch has no target: every y is -1 (prompt or padding)")
        h = self._hidden2d(self._check_ids(x, "x"))[rows]            # (N, C)
        return F.cross_entropy(self._head(h), y[rows])


class NLQModel:
    """A loaded checkpoint (GPT weights + vocabulary) that turns (question, index) into a search body."""

    def __init__(self, model, vocab, width=None, reranker=None):
        from .nbest import WIDTH, check_width
        self.model, self.vocab, self.reranker = model, vocab, reranker      # reranker: rerank.Reranker or None
        self.width = check_width(WIDTH if width is None else width)      # beam width of translate_ir (1: greedy)
        self._last = None                                   # ((question, index, width), nbest) of the last call

    @classmethod
    def load(cls, path):
        from .rerank import RERANK_FILE, Reranker
        path = Path(path)
        with open(path / VOCAB_FILE, encoding="utf-8") as f:
            vocab = Vocab.from_dict(json.load(f))
        reranker = Reranker.load(path / RERANK_FILE) if (path / RERANK_FILE).exists() else None
        return cls(load_weights(path), vocab, reranker=reranker)

    def prompt(self, question, index):
        return self.vocab.prompt(question, index)

    def translate_ir(self, question, index):
        """IR tokens for (question, index): the best finished beam under the grammar mask (nbest.py, width
        self.width; best by the re-ranker when there is one), or greedy decoding when the width is 1."""
        if self.width == 1:
            from .constrained import decode
            return decode(self.model, self.vocab, question, index, prompt=self.prompt(question, index))
        return self._nbest(question, index, self.width)[0][1]

    def _nbest(self, question, index, width):
        """nbest_raw() for this question, re-ordered by the re-ranker when there is one (rerank.py), then with
        the candidates that keep every quoted span of the question ahead of those that drop one (quotes.py)."""
        found = self.nbest_raw(question, index, width)
        found = found if self.reranker is None else self.reranker.order(question, found)
        if not quoted_spans(question):
            return found
        order = keep_quoted_first(question, [compile_ir(tokens, question, index) for _, tokens in found])
        return [found[k] for k in order]

    def nbest_raw(self, question, index, width):
        """nbest() for this question, remembered for the last question: the execution check asks again for the
        candidates of the question it has just translated."""
        key = (question, index, width)
        if self._last is None or self._last[0] != key:
            found = self._decode(question, index, width)
            if not found:
                raise ValueError("no translation finished within the model's context")
            self._last = (key, found)
        return self._last[1]

    def _decode(self, question, index, width):
        """[(log-prob, IR tokens)] best first: this model's beams (nbest.py)."""
        from .nbest import nbest
        return nbest(self.model, self.vocab, question, index, width, self.prompt(question, index))

    def candidates(self, question, index, width):
        """Up to `width` search bodies, best first: beam search under the grammar mask (nbest.py), re-ranked."""
        return [compile_ir(tokens, question, index) for _, tokens in self._nbest(question, index, width)]

    def translate(self, question, index):
        from .translator import CannotTranslate
        try:
            tokens = self.translate_ir(question, index)
        except ValueError as e:
            raise CannotTranslate(str(e)) from None
        return compile_ir(tokens, question, index)


def load_weights(path):
    """The GPT of the checkpoint at `path`, computed in float32 (its weights may be stored in half precision:
    ensemble.py)."""
    from tinyllm.training.checkpoint import load_checkpoint
    return load_checkpoint(path).model.to(np.float32)
