"""Beam search: keep the `beam_width` most probable continuations at every step instead of one.

Each step extends every beam by every token, scores a candidate by its total log-probability, and keeps the
best beam_width. A beam that emits a stop id is finished; finished and surviving beams are compared by the
length-normalised score  sum(log p) / n_tokens ** length_penalty  (0 = raw sum, which favours short answers;
1 = mean log-probability). The search ends when no surviving beam can still beat the best finished one.
Width 1 keeps only the argmax each step: exactly greedy decoding (tested).
The beams are rows of one batch, so the KV cache is reordered rather than recomputed when beams swap.
"""
import numpy as np

from tinyllm.sampling.generate import Decoder, InferenceMode, check_prompts


def log_softmax(logits):
    """log p over the last axis of a float64 array, stable (max subtracted)."""
    z = logits - np.max(logits, axis=-1, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))


def _top(scores, k):
    """Flat indices of the k largest finite scores, best first; ties go to the smaller index (as np.argmax)."""
    flat = scores.ravel()
    k = min(k, int(np.isfinite(flat).sum()))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    cand = np.argpartition(-flat, k - 1)[:k] if k < flat.size else np.arange(flat.size)
    tied = np.flatnonzero(flat == flat[cand].min())        # all members of the boundary value, for exact ties
    cand = np.union1d(cand, tied)
    order = np.lexsort((cand, -flat[cand]))                # by score descending, then index ascending
    return cand[order][:k]


def _settled(finished, alive_scores, max_new_tokens, length_penalty):
    """True when no surviving beam can still beat the best finished one: sums of log-probs only fall as tokens
    are added, so a beam's best possible normalised score is its current sum / max_new_tokens ** length_penalty."""
    if not finished:
        return False
    bound = max(alive_scores) / max_new_tokens ** length_penalty
    return max(f[0] for f in finished) >= bound


def beam_search(model, prompt_ids, max_new_tokens, beam_width=4, length_penalty=1.0, stop_ids=None,
                use_cache=True):
    """The highest-scoring continuation of `prompt_ids` (new ids only, stop id excluded) under beam search."""
    if isinstance(beam_width, bool) or not isinstance(beam_width, (int, np.integer)) or beam_width < 1:
        raise ValueError(f"beam_width must be a positive integer, got {beam_width!r}")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, (int, np.integer)) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
    if not length_penalty >= 0:
        raise ValueError(f"length_penalty must be >= 0, got {length_penalty!r}")
    prompt = check_prompts([prompt_ids])[0]
    stop_ids = frozenset(int(s) for s in (stop_ids or ()))
    if max_new_tokens == 0:
        return []
    W = beam_width
    scores = np.full(W, -np.inf)
    scores[0] = 0.0                          # all rows start identical: only row 0 may expand at the first step
    beams = [[] for _ in range(W)]           # generated ids per row
    finished = []                            # (normalised score, ids)
    with InferenceMode(model):
        decoder = Decoder(model, W, use_cache)
        logits = decoder.start(np.tile(np.array(prompt, dtype=np.int64), (W, 1)))
        for step in range(max_new_tokens):
            cand = scores[:, None] + log_softmax(logits)                  # (W, V) total log-prob
            V = cand.shape[1]
            rows, toks, new_scores = [], [], []
            for flat in _top(cand, W + len(stop_ids)):
                row, tok = divmod(int(flat), V)
                if tok in stop_ids:
                    finished.append((cand[row, tok] / (step + 1) ** length_penalty, beams[row]))
                elif len(rows) < W:
                    rows.append(row), toks.append(tok), new_scores.append(cand[row, tok])
            if not rows or _settled(finished, new_scores, max_new_tokens, length_penalty):
                break
            while len(rows) < W:             # fewer finite candidates than beams: pad with dead rows
                rows.append(rows[0]), toks.append(toks[0]), new_scores.append(-np.inf)
            beams = [beams[r] + [t] for r, t in zip(rows, toks)]
            scores = np.array(new_scores)
            if step + 1 < max_new_tokens:
                decoder.reorder(np.array(rows))
                logits = decoder.step(toks)
    alive = [(s / len(b) ** length_penalty, b) for s, b in zip(scores, beams) if np.isfinite(s) and b]
    best = max(finished + alive, key=lambda sb: sb[0], default=(0.0, []))
    return list(best[1])
