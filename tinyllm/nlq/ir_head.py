"""The output head a decoder needs after <sep>: only the IR's tokens.

After <sep> the grammar (constrained.py) never allows a question word, and the words are ~90% of the NLQ
vocabulary, so the (C, V) output projection, the largest matmul of one decoding step, can shrink to (C, K).
"""
import numpy as np


class IRHead:
    """A GPT whose output projection computes only the IR's tokens (K of them), -inf for the question words.
    The argmax over allowed tokens is unchanged; a log-softmax now normalises over the K tokens (a trained model
    puts ~0 mass on words after <sep>)."""

    def __init__(self, model, vocab):
        self.model, self.config = model, model.config
        self.ids = vocab.ir_ids
        self.w = np.ascontiguousarray(model.output_weight()[:, self.ids])          # (C, K)

    @staticmethod
    def fits(model):
        """True for models with the plain-array path this head needs (GPT with fused attention)."""
        return hasattr(model, "_hidden2d_arrays") and getattr(model.config, "attn_impl", None) == "fused"

    @property
    def training(self):
        return self.model.training

    def train(self, mode=True):
        self.model.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def new_cache(self, batch):
        return self.model.new_cache(batch)

    def __call__(self, idx, cache):
        from tinyllm.autograd.tensor import Tensor
        from tinyllm.models.gpt import forward_cached
        return Tensor(forward_cached(self, np.asarray(idx, dtype=np.int64), cache))        # (B, T, V)

    def _logits2d(self, idx, cache):
        h = self.model._hidden2d_arrays(idx, cache)                                        # (B*T, C)
        out = np.full((h.shape[0], self.config.vocab_size), -np.inf, dtype=h.dtype)       # (B*T, V)
        out[:, self.ids] = h @ self.w                                                      # (B*T, K)
        return out


def ir_head(model, vocab):
    """IRHead(model, vocab) when the model allows it, else the model itself (same logits over allowed tokens)."""
    return IRHead(model, vocab) if IRHead.fits(model) else model
