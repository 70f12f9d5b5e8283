"""A seed ensemble: students of one recipe, trained from different seeds, translate together.

Seeds of one recipe disagree on a few questions in twenty (README, round 17: 112-117 of 137 test cases), and
each is wrong on different ones. The ensemble pools every member's beams and scores each candidate c under every
member m, then ranks by the mean log-probability (a product of experts, normalised per member):

    log p_ens(c | q) = (1 / M) sum_m log p_m(c | q)

so a candidate only one member likes, and another finds improbable, sinks. The pooled candidates then go to the
re-ranker (rerank.py) exactly as one model's beams do. A checkpoint directory marks an ensemble with
`ensemble.json` ({"members": ["members/seed0", ...]}): the directory's own weights are the first member; each
listed subdirectory holds another member's weights (same vocabulary, checked on load). `assemble` writes one,
with every member stored in half precision (2.5 MB each instead of 4.9) and computed in float32.
"""
import json
import shutil
from pathlib import Path

import numpy as np

from tinyllm.sampling.beam import log_softmax
from tinyllm.sampling.generate import InferenceMode

from .ir_head import IRHead, ir_head
from .nlq_model import NLQModel, load_weights

ENSEMBLE_FILE = "ensemble.json"
STORED = "float16"        # how assemble() stores weights; loading computes in float32 (NLQModel.load)


def forced_logp(model, vocab, prompt, candidates):
    """(n,) sum over each candidate's tokens of log p(token | prompt, tokens before it) under `model`, normalised
    over the IR's tokens as nbest() normalises them, so a beam's own score is reproduced. `candidates` are IR
    token lists ending in END; they are scored in one batch (padded on the right, which a causal model ignores)."""
    if not candidates:
        return np.zeros(0)
    seqs = [list(prompt) + [vocab.stoi[t] for t in tokens] for tokens in candidates]
    T = max(len(s) for s in seqs)
    if T > model.config.block_size:
        raise ValueError(f"candidate longer than the model's context ({T} > {model.config.block_size})")
    ids = np.zeros((len(seqs), T), dtype=np.int64)                                      # (n, T)
    for r, s in enumerate(seqs):
        ids[r, :len(s)] = s
    head, n = ir_head(model, vocab), len(seqs)
    with InferenceMode(model):
        if isinstance(head, IRHead):           # only the IR's K columns, as nbest computes and normalises them
            logits, cols = model._hidden2d_arrays(ids, None) @ head.w, head.ids           # (n*T, K)
        else:                                  # any other model: the whole vocabulary, as nbest normalises it
            logits = head._logits2d(ids, None)                                            # (n*T, V)
            logits = np.asarray(getattr(logits, "data", logits))
            cols = range(logits.shape[-1])
    logits = logits.reshape(n, T, -1).astype(np.float64)                                  # (n, T, K)
    column = {int(i): k for k, i in enumerate(cols)}       # vocabulary id -> its column
    start = len(prompt) - 1                                # the logits at position t predict the token at t + 1
    out = np.zeros(n)
    for r, tokens in enumerate(candidates):
        lp = log_softmax(logits[r, start:start + len(tokens)])                           # (L, K)
        out[r] = float(lp[np.arange(len(tokens)), [column[vocab.stoi[t]] for t in tokens]].sum())
    return out


class EnsembleModel(NLQModel):
    """NLQModel whose beams are every member's beams, ranked by the members' mean log-probability."""

    def __init__(self, members, vocab, width=None, reranker=None):
        super().__init__(members[0], vocab, width, reranker)
        self.members = list(members)

    @classmethod
    def load(cls, path):
        path = Path(path)
        first = NLQModel.load(path)
        try:
            with open(path / ENSEMBLE_FILE, encoding="utf-8") as f:
                listed = json.load(f)["members"]
            if not isinstance(listed, list) or not all(isinstance(m, str) for m in listed):
                raise TypeError("members must be a list of directory names")
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path / ENSEMBLE_FILE}: not an ensemble file ({{'members': [dir, ...]}}): {e}") \
                from None
        members = [first.model]
        for name in listed:
            model = load_weights(path / name)
            if model.config.vocab_size != first.model.config.vocab_size:
                raise ValueError(f"{path / name}: vocabulary of {model.config.vocab_size} tokens, the ensemble's "
                                 f"is {first.model.config.vocab_size}: members must share one vocabulary")
            members.append(model)
        return cls(members, first.vocab, reranker=first.reranker)

    def _decode(self, question, index, width):
        """Every member's nbest(width) pooled (duplicates once), each scored by the members' mean log-probability
        (a member's own beam score is reused, the others computed by forced_logp), best first."""
        from .constrained import Constraint, Context
        from .nbest import nbest
        prompt = self.prompt(question, index)
        start = Constraint(Context(question, index, self.vocab.literals))     # one grammar walk for all members
        scores = {}                                            # IR tokens -> {member: log p_m}
        for m, model in enumerate(self.members):
            for logp, tokens in nbest(model, self.vocab, question, index, width, prompt, start):
                scores.setdefault(tuple(tokens), {})[m] = logp
        for m, model in enumerate(self.members):
            todo = [c for c, by in scores.items() if m not in by]
            for c, lp in zip(todo, forced_logp(model, self.vocab, prompt, [list(c) for c in todo])):
                scores[c][m] = float(lp)
        return sorted(((float(np.mean(list(by.values()))), list(c)) for c, by in scores.items()), key=lambda f: -f[0])


def assemble(out, first, others, stored=STORED):
    """Write an ensemble checkpoint at `out`: `first` (a trained NLQ checkpoint directory, with its vocabulary and
    re-ranker) plus the weights of each directory in `others` as members/<name>, all stored as `stored`. Written
    beside `out` and renamed into place, so an interrupted run leaves any old `out` as it was."""
    from tinyllm.training.checkpoint import load_checkpoint, replace_dir, save_checkpoint
    from .rerank import RERANK_FILE
    from .nlq_model import VOCAB_FILE
    out, first = Path(out), Path(first)
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        names, vocab = [], (first / VOCAB_FILE).read_text(encoding="utf-8")
        for k, src in enumerate([first, *map(Path, others)]):
            if (src / VOCAB_FILE).exists() and (src / VOCAB_FILE).read_text(encoding="utf-8") != vocab:
                raise ValueError(f"{src}: its vocabulary differs from {first}'s: members must share one vocabulary")
            ckpt = load_checkpoint(src)
            model = ckpt.model.to(stored)
            name = "." if k == 0 else f"members/{src.name}"
            if name in names:
                raise ValueError(f"two members named {src.name}: give the checkpoint directories distinct names")
            save_checkpoint(tmp / name if k else tmp, model=model, model_name="gpt", model_config=model.config,
                            step=ckpt.step, train_config=ckpt.manifest.get("train_config"))   # how it was trained
            names.append(name)
        for extra in (VOCAB_FILE, RERANK_FILE):
            if (first / extra).exists():
                shutil.copyfile(first / extra, tmp / extra)
        (tmp / ENSEMBLE_FILE).write_text(json.dumps({"members": names[1:]}, indent=1) + "\n", encoding="utf-8")
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)          # nothing half-written is left behind
        raise
    return out
