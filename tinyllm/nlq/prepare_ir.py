"""Distilled (question, DSL) pairs -> IR token sequences -> id arrays for training the translator.

One sequence per example: `<index> @0 w0 @1 w1 ... <sep> IR... <end>`. Each question word w_i is preceded by its
marker token @i, the same token the IR uses to copy word i: with tied embeddings, copying is "attend to the word,
emit the marker before it", which a two-layer transformer learns quickly (a pointer network for free). Words are
lower-cased; rare ones become a shape token (<Aa>, <a>, <9>, <?>) so unseen names still look like names.

Echo prompts (`Vocab(echo=True)`): `<index> w0 w1 ... <echo> @0 w0 @1 w1 ... <sep> IR...`. A causal model sees
only the words to the left of w_i; reading the question twice lets the second reading of w_i attend to the whole
first one, so each word knows what follows it (where a phrase ends, which noun a modifier belongs to).
"""
import collections
import functools
import gzip
import json

import numpy as np

from . import schema
from .ir import END, OCCS, Unsupported, parse_dsl, words

MAX_WORDS = 40            # longer questions are refused (CannotTranslate) rather than truncated
SPECIALS = ("<pad>", "<sep>", "<articles>", "<gutenberg>", "<unk>", "<echo>")
SHAPES = ("w:<Aa>", "w:<a>", "w:<9>", "w:<?>")


def word_token(w, known):
    """The input token of question word `w`: w:lowercased if known, else its shape class."""
    low = "w:" + w.lower()
    if low in known:
        return low
    if w.isdigit():
        return "w:<9>"
    if w[:1].isupper():
        return "w:<Aa>"
    return "w:<a>" if w[:1].isalpha() else "w:<?>"


class Vocab:
    """Token <-> id for prompts and IR; saved as JSON next to the checkpoint (nlq_vocab.json).
    `echo` says whether prompts read the question twice (see the module docstring)."""

    def __init__(self, tokens, echo=False):
        self.itos = list(tokens)
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("vocabulary tokens must be unique")
        if echo and "<echo>" not in self.stoi:
            raise ValueError("an echo vocabulary needs the <echo> token")
        self.echo = bool(echo)

    def __len__(self):
        return len(self.itos)

    @functools.cached_property
    def literals(self):
        """The literal value tokens (`=cs.RO`, `=-06-01`, ...), which the decoding grammar may write."""
        return [t for t in self.itos if t.startswith("=")]

    @functools.cached_property
    def ir_ids(self):
        """Ids of every token that is not a question word: the only ones a decoder may write after <sep>."""
        return np.array([i for i, t in enumerate(self.itos) if not t.startswith("w:")], dtype=np.int64)

    def ids(self, tokens):
        return [self.stoi.get(t, self.stoi["<unk>"]) for t in tokens]

    def prompt(self, question, index):
        """Prompt ids for (question, index); ValueError if the question has more than MAX_WORDS words."""
        ws = words(question)
        if len(ws) > MAX_WORDS:
            raise ValueError(f"question has {len(ws)} words; at most {MAX_WORDS} are supported")
        return self.join_prompt(self.ids([f"<{index}>"])[0], self.ids([word_token(w, self.stoi) for w, _, _ in ws]))

    def join_prompt(self, index_id, word_ids):
        """[<index>, (w0 .. <echo>,) @0, w0, @1, w1, ..., <sep>] from the index token's id and the word ids."""
        out = [index_id] + (list(word_ids) + [self.stoi["<echo>"]] if self.echo else [])
        for i, w in enumerate(word_ids):
            out += [self.stoi[f"@{i}"], w]
        return out + [self.stoi["<sep>"]]

    def split_prompt(self, prompt):
        """(index id, word ids) of a prompt: the inverse of join_prompt."""
        n = (len(prompt) - 3) // 3 if self.echo else (len(prompt) - 2) // 2
        return prompt[0], list(prompt[len(prompt) - 2 * n:len(prompt) - 1:2])     # the w_i after each @i

    def to_dict(self):
        return {"tokens": self.itos, **({"echo": True} if self.echo else {})}

    @classmethod
    def from_dict(cls, d):
        return cls(d["tokens"], echo=d.get("echo", False))


def load_examples(path=None):
    """The distilled pairs (dicts with index, question, query) from data/nlq_examples.jsonl.gz."""
    path = path or schema.DATA_DIR / "nlq_examples.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def clauses(ir):
    """(the IR's query clauses, each a tuple starting with its occurrence token, index where the clauses end)."""
    end = next((k for k, t in enumerate(ir) if t in AFTER_CLAUSES or t.startswith("agg:")), len(ir))
    starts = [k for k in range(end) if ir[k] in OCCS] + [end]
    return [tuple(ir[a:b]) for a, b in zip(starts, starts[1:])], end


def canonical_order(ir):
    """IR with the clauses of each occurrence (<must>, <filter>, ...) in question order: by the first word they
    copy, clauses that copy nothing first (ties by their tokens). The teacher draws filters in random order, which the query does not
    depend on; one fixed order spares the model from learning a coin flip."""
    parts, end = clauses(ir)

    def key(clause):
        return OCCS.index(clause[0]), min((int(t[1:]) for t in clause if t.startswith("@")), default=-1), clause
    return [t for c in sorted(parts, key=key) for t in c] + list(ir[end:])


def reuses_a_copy(ir):
    """True when two query clauses copy the same question word: the teacher sometimes says one value twice
    ("cs.AI papers in the cs.AI category"); the decoder lets each word play one part (constrained._clause)."""
    seen = set()
    for clause in clauses(ir)[0]:
        copies = {t for t in clause if t.startswith("@")}
        if copies & seen:
            return True
        seen |= copies
    return False


AFTER_CLAUSES = frozenset({"msm", "sort", "size", "from", "tth", "src", "hl", END})   # tokens that end the clauses


def build(examples, min_word=3, min_literal=2, echo=False):
    """(Vocab, [(prompt_ids, ir_ids)], skipped counts by reason) from distilled examples; `echo`: see Vocab."""
    parsed, skipped = [], collections.Counter()
    word_counts, lit_counts, struct = collections.Counter(), collections.Counter(), set()
    for ex in examples:
        try:
            ir = canonical_order(parse_dsl(ex["query"], ex["question"]))
        except Unsupported as e:
            skipped[str(e).split(" ")[0] + " " + str(e).split(" ")[1] if " " in str(e) else str(e)] += 1
            continue
        if len(words(ex["question"])) > MAX_WORDS:
            skipped["too many words"] += 1
            continue
        if reuses_a_copy(ir):
            skipped["copy reused"] += 1
            continue
        parsed.append((ex, ir))
        word_counts.update("w:" + w.lower() for w, _, _ in words(ex["question"]))
        for t in ir:
            if t.startswith("="):
                lit_counts[t] += 1
            elif not t.startswith("@"):
                struct.add(t)
    literals = sorted(t for t, n in lit_counts.items() if n >= min_literal)
    fields = sorted({f"f:{f}" for i in schema.INDEXES for f in schema.field_types(i)})
    tokens = list(SPECIALS) + [f"@{i}" for i in range(MAX_WORDS)] + sorted(struct | set(fields)) + literals
    tokens += list(SHAPES) + sorted(w for w, n in word_counts.items() if n >= min_word and w not in SHAPES)
    vocab = Vocab(dict.fromkeys(tokens), echo=echo)
    pairs = _pairs(vocab, parsed, skipped)
    return vocab, pairs, skipped


def encode(vocab, examples):
    """[(prompt_ids, ir_ids)] of the examples `vocab` can say (held-out examples, with the training vocabulary)."""
    parsed = []
    for ex in examples:
        try:
            parsed.append((ex, canonical_order(parse_dsl(ex["query"], ex["question"]))))
        except Unsupported:
            continue
    return _pairs(vocab, [(ex, ir) for ex, ir in parsed if len(words(ex["question"])) <= MAX_WORDS],
                  collections.Counter())


def _pairs(vocab, parsed, skipped):
    pairs = []
    for ex, ir in parsed:
        if any(t not in vocab.stoi for t in ir):
            skipped["rare literal"] += 1
            continue
        pairs.append((vocab.prompt(ex["question"], ex["index"]), vocab.ids(ir)))
    return pairs


def to_batch(pairs, pad_id):
    """(x, y) int arrays (B, T) padded to the longest pair; y is -1 on prompt and padding (no loss there)."""
    T = max(len(p) + len(r) for p, r in pairs) - 1
    x = np.full((len(pairs), T), pad_id, dtype=np.int64)
    y = np.full((len(pairs), T), -1, dtype=np.int64)
    for b, (p, r) in enumerate(pairs):
        seq = p + r
        x[b, :len(seq) - 1] = seq[:-1]
        y[b, len(p) - 1:len(seq) - 1] = r       # predict every IR token (and <end>) from what precedes it
    return x, y


class WordNoise:
    """Input augmentation: question words the IR does not copy are replaced by their shape token (probability
    p_shape) or dropped (p_drop), so the student leans less on the teacher's exact filler words. A drop renumbers
    the @i markers of the prompt and of the IR, so every copy still points at the same word."""

    def __init__(self, vocab, p_shape=0.0, p_drop=0.0):
        for name, p in (("p_shape", p_shape), ("p_drop", p_drop)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {p}")
        if p_shape + p_drop > 1.0:
            raise ValueError(f"p_shape + p_drop must be at most 1, got {p_shape} + {p_drop}")
        self.vocab, self.p_shape, self.p_drop = vocab, p_shape, p_drop
        self.marker = np.array([vocab.stoi[f"@{i}"] for i in range(MAX_WORDS)])      # word index -> @i id
        self.index_of = {int(t): i for i, t in enumerate(self.marker)}               # @i id -> word index
        shape = np.arange(len(vocab))                                              # id -> its shape's id
        for t, k in vocab.stoi.items():
            if t.startswith("w:") and t not in SHAPES:
                shape[k] = vocab.stoi[word_token(t[2:], ())]
        self.shape = shape

    def __call__(self, pair, rng):
        """(prompt_ids, ir_ids) -> a noisy copy (both prompt layouts: Vocab.split_prompt / join_prompt)."""
        prompt, ir = pair
        index_id, ws = self.vocab.split_prompt(prompt)
        copied = {self.index_of[t] for t in ir if t in self.index_of}
        u = rng.random(len(ws))
        keep, new_index = [], {}
        for i, w in enumerate(ws):
            if i not in copied and u[i] < self.p_drop:
                continue
            if i not in copied and u[i] < self.p_drop + self.p_shape:
                w = int(self.shape[w])
            new_index[i] = len(keep)
            keep.append(w)
        ir = [int(self.marker[new_index[self.index_of[t]]]) if t in self.index_of else t for t in ir]
        return self.vocab.join_prompt(index_id, keep), ir


def ir_end_id(vocab):
    return vocab.stoi[END]
