"""N-best translations under the grammar mask, and the execution check that uses them.

Beam search keeps the `width` most probable grammar-valid IR prefixes at every step (score: the sum of the
tokens' log-probabilities), so it returns up to `width` finished IRs, best first; width 1 is greedy decoding.
The execution check (../shared/NLQ.md, design lesson 3; Wang et al. 2018 on execution-guided decoding): when the
greedy query finds nothing, the most probable other candidate that finds something is taken instead. A question
whose every candidate finds nothing keeps the greedy query: "no results" can be the right answer.
"""
import numpy as np

from tinyllm.sampling.beam import log_softmax
from tinyllm.sampling.generate import Decoder, InferenceMode

from .constrained import Constraint, Context
from .ir import END


WIDTH = 4        # candidates the execution check may try (NLQ.md: greedy or beam <= 4 for the latency target)


def nbest(model, vocab, question, index, width=WIDTH, prompt=None):
    """[(sum of log-probs, IR tokens)] of up to `width` finished translations, most probable first.
    `prompt` (ids) replaces `vocab.prompt(question, index)`, as in constrained.decode."""
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    prompt = vocab.prompt(question, index) if prompt is None else list(prompt)
    budget = model.config.block_size - len(prompt)
    if budget < 2:
        raise ValueError("question too long for the model's context")
    end = vocab.stoi[END]
    beams, scores, finished = [Constraint(Context(question, index, vocab.itos))], np.zeros(1), []
    with InferenceMode(model):
        decoder = Decoder(model, width)
        logits = decoder.start(np.tile(np.array(prompt, dtype=np.int64), (width, 1)))     # (W, V)
        for _ in range(budget - 1):
            logp = log_softmax(logits[:len(beams)])                                        # (n, V)
            cand = np.full(logp.shape, -np.inf)
            for r, con in enumerate(beams):
                ids = [vocab.stoi[t] for t in con.allowed() if t in vocab.stoi]
                cand[r, ids] = scores[r] + logp[r, ids]
            rows, toks, new_beams, new_scores = [], [], [], []
            for flat in np.argsort(-cand, axis=None, kind="stable"):
                r, tok = divmod(int(flat), cand.shape[1])
                if not np.isfinite(cand[r, tok]) or len(new_beams) == width:
                    break
                if tok == end:
                    finished.append((float(cand[r, tok]), beams[r].tokens + [END]))
                    continue
                con = beams[r].fork()
                con.advance(vocab.itos[tok])
                rows.append(r), toks.append(tok), new_beams.append(con), new_scores.append(cand[r, tok])
            finished.sort(key=lambda f: -f[0])
            # sums of log-probs only fall: stop once no live beam can enter the top `width` finished
            if not new_beams or (len(finished) >= width and new_scores[0] <= finished[width - 1][0]):
                break
            beams, scores = new_beams, np.array(new_scores)
            pad = [rows[0]] * (width - len(rows))
            decoder.reorder(np.array(rows + pad))
            logits = decoder.step(toks + [toks[0]] * len(pad))
    return finished[:width]


def is_empty(response):
    """True when a search response (raw, or summary.result_of's) matched no document (nothing to aggregate)."""
    total = response["total"] if "total" in response else response.get("hits", {}).get("total", 0)
    return (total.get("value", 0) if isinstance(total, dict) else total) == 0


def execution_check(index, body, candidates, search):
    """`body`, unless it finds nothing and one of `candidates()` (other bodies, most probable first, computed only
    then) finds something. An engine error keeps `body`: the check may improve an answer, never add a failure
    (the caller's own search of the returned body reports the error)."""
    try:
        if not is_empty(search(index, body)):
            return body
        for alt in candidates():
            if alt != body and not is_empty(search(index, alt)):
                return alt
    except Exception:               # noqa: BLE001 - any engine failure: fall back to the unchecked answer
        return body
    return body
