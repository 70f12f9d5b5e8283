"""Autoregressive decoding: feed the ids, pick the next token from the last position's logits, repeat.

`generate` decodes one prompt, `generate_batch` several at once (prompts of different lengths need no padding:
a short row keeps being fed its own prompt tokens until its prompt is used up, so every row equals what
`generate` would give it alone), `generate_text` goes from a string to a string and honours stop strings.

With use_cache=True (the default) a model that offers `new_cache(batch)` (GPT's KV cache, or a recurrent state)
is fed only the newest token each step. Without a cache the whole context, cropped to the model's block_size,
is recomputed every step. The two agree exactly while the text fits in block_size; beyond it they differ in the
context they keep (see GPT.forward). Determinism comes from `cfg.seed` / `rng`, or from greedy decoding
(temperature 0), never from temperature 1.0.
"""
import numpy as np

from tinyllm.autograd.tensor import no_grad
from tinyllm.sampling.logits import SamplingConfig, sample_next


class Decoder:
    """Feeds a batch of growing sequences to a model and returns the next-token logits (B, V) as float64.

    start(ids) takes the prompts (B, T0); step(tokens) appends one token per row; reorder(rows) keeps/duplicates
    rows (beam search). The KV cache is used when the model has new_cache() and use_cache is True.
    """

    def __init__(self, model, batch, use_cache=True):
        self.model = model
        self.block_size = getattr(getattr(model, "config", None), "block_size", None)
        self.cache = model.new_cache(batch) if use_cache and hasattr(model, "new_cache") else None
        self.ids = np.zeros((batch, 0), dtype=np.int64)   # every token so far, (B, t)

    def _last_logits(self, idx):
        logits = self.model(idx, self.cache) if self.cache is not None else self.model(idx)
        return np.asarray(logits.data[:, -1], dtype=np.float64)      # (B, V)

    def _context(self):
        return self.ids if self.block_size is None else self.ids[:, -self.block_size:]

    def start(self, ids):
        self.ids = np.asarray(ids, dtype=np.int64)
        return self._last_logits(self._context())      # with a cache, tokens beyond the window are dropped

    def step(self, tokens):
        tokens = np.asarray(tokens, dtype=np.int64).reshape(-1, 1)   # (B, 1)
        self.ids = np.concatenate([self.ids, tokens], axis=1)
        return self._last_logits(tokens if self.cache is not None else self._context())

    def reorder(self, rows):
        self.ids = self.ids[rows]
        if self.cache is not None:
            self.cache.reorder(rows)


class InferenceMode:
    """Context manager: no graph and the model in eval mode (dropout off), restoring the previous mode after."""

    def __init__(self, model):
        self.model, self.was_training = model, getattr(model, "training", False)
        self.no_grad = no_grad()

    def __enter__(self):
        self.no_grad.__enter__()
        if hasattr(self.model, "eval"):
            self.model.eval()

    def __exit__(self, *exc):
        if self.was_training:
            self.model.train()
        return self.no_grad.__exit__(*exc)


def check_prompts(prompts):
    """Validate a list of prompts (each a non-empty 1-D sequence of int ids); returns them as lists of int."""
    if len(prompts) == 0:
        raise ValueError("prompts must hold at least one prompt")
    out = []
    for i, p in enumerate(prompts):
        p = np.asarray(p)
        if p.ndim != 1 or p.size == 0 or p.dtype.kind not in "iu":
            raise ValueError(f"prompt {i} must be a non-empty 1-D sequence of int token ids, got {p.dtype} {p.shape}")
        out.append([int(t) for t in p])
    return out


def generate_batch(model, prompts, max_new_tokens, cfg=None, rng=None, use_cache=True, stop_ids=None,
                   stop_fn=None, logits_fn=None):
    """Continue each prompt (a list of id lists) by up to max_new_tokens; returns the new ids per prompt.

    A row ends early when it emits a token in `stop_ids` (not included in the output) or when stop_fn(new_ids)
    is true (the ids are kept). logits_fn(new_ids, logits (V,)) -> logits, if given, edits each row's logits
    before the sampling transforms: -inf on the tokens a grammar or validator forbids gives constrained decoding.
    Rows share one rng, drawn in row order each step.
    """
    cfg = SamplingConfig() if cfg is None else cfg
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, (int, np.integer)) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
    prompts = check_prompts(prompts)
    stop_ids = frozenset(int(s) for s in (stop_ids or ()))
    rng = np.random.default_rng(cfg.seed) if rng is None else rng
    B, lens = len(prompts), [len(p) for p in prompts]
    seqs = [list(p) for p in prompts]           # prompt + generated, per row (what the model has seen)
    out = [[] for _ in range(B)]
    done = [max_new_tokens == 0] * B
    t = min(lens)                               # every row has exactly t tokens fed so far
    with InferenceMode(model):
        decoder = Decoder(model, B, use_cache)
        logits = decoder.start(np.array([s[:t] for s in seqs])) if not all(done) else None
        while not all(done):
            tokens = []
            for b in range(B):
                if t < lens[b]:                 # still inside this row's prompt: feed it, sample nothing
                    tok = prompts[b][t]
                elif done[b]:                   # finished rows idle on their last token
                    tok = seqs[b][-1]
                else:
                    row = logits[b] if logits_fn is None else np.asarray(logits_fn(out[b], logits[b]))
                    tok = sample_next(row, cfg, rng, previous_ids=seqs[b])
                    if tok in stop_ids:
                        done[b] = True
                    else:
                        out[b].append(tok)
                        done[b] = len(out[b]) >= max_new_tokens or bool(stop_fn and stop_fn(out[b]))
                seqs[b].append(tok)
                tokens.append(tok)
            t += 1
            if not all(done):
                logits = decoder.step(tokens)
    return out


def generate(model, prompt_ids, max_new_tokens, cfg=None, rng=None, use_cache=True, stop_ids=None, logits_fn=None):
    """Continue one prompt (list of ids) by up to max_new_tokens; returns the new ids only (not the prompt).

    Greedy when cfg.temperature == 0; otherwise sampled with `rng` (default: a Generator seeded cfg.seed).
    Generation stops before any id in `stop_ids`; logits_fn as in generate_batch.
    """
    return generate_batch(model, [prompt_ids], max_new_tokens, cfg, rng, use_cache, stop_ids,
                          logits_fn=logits_fn)[0]


def generate_texts(model, tokenizer, prompt, max_new_tokens, cfg=None, stop_strings=(), rng=None, use_cache=True,
                   num_samples=1, logits_fn=None):
    """`num_samples` continuations of the string `prompt` (decoded in one batch), each cut before the first
    stop string. Returns the continuation texts only."""
    if isinstance(stop_strings, str):
        stop_strings = (stop_strings,)
    if any(not isinstance(s, str) or not s for s in stop_strings):
        raise ValueError(f"stop_strings must be non-empty strings, got {stop_strings!r}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
    ids = tokenizer.encode(prompt)
    if not ids:
        raise ValueError("prompt encodes to no tokens; give at least one character (e.g. a newline)")

    def hit(new_ids):  # decoding the whole continuation also catches a stop string split across tokens
        return bool(stop_strings) and any(s in tokenizer.decode(new_ids) for s in stop_strings)

    rows = generate_batch(model, [ids] * num_samples, max_new_tokens, cfg, rng, use_cache, stop_fn=hit,
                          logits_fn=logits_fn)
    return [cut_at_stop(tokenizer.decode(new), stop_strings) for new in rows]


def generate_text(model, tokenizer, prompt, max_new_tokens, cfg=None, stop_strings=(), rng=None, use_cache=True,
                  logits_fn=None):
    """Encode `prompt`, generate, decode: returns the continuation text only, cut before the first stop string."""
    return generate_texts(model, tokenizer, prompt, max_new_tokens, cfg, stop_strings, rng, use_cache,
                          logits_fn=logits_fn)[0]


def cut_at_stop(text, stop_strings):
    """`text` up to (not including) the earliest occurrence of any stop string."""
    return text[:min((text.find(s) for s in stop_strings if s in text), default=len(text))]
