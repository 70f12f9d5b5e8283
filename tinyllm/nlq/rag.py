"""Retrieval-augmented translator: the k stored examples most like the question are written into its prompt.

Prompt layout (ids of these tokens; k blocks, the most similar one last, right before the question):

    <index>  <ex> u_0 u_1 ... u_m <sep> IR' <end>  (... k blocks)  @0 w_0 @1 w_1 ... @n w_n <sep>

A block is a whole demonstration: the neighbour's question as plain word tokens (no @i markers, which belong to
the new question) and its IR, where each copy `@j` becomes either the copied word's token (style "words") or one
placeholder `<copy>` (style "copy", a shape hint). The model then writes the IR of the new question as before,
under the grammar mask, so the neighbours can only hint at structure, fields and literals, never inject tokens.
Neighbours come from `retrieve.Retriever` (character n-gram TF-IDF) over the training examples of the same index;
for training, each example's neighbours exclude itself and every example with the same normalised question.
"""
import gzip
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import schema
from .examples import normalize_question
from .ir import END, words
from .nlq_model import VOCAB_FILE, NLQModel
from .prepare_ir import Vocab, word_token
from .retrieve import Retriever

EX, COPY, SEP = "<ex>", "<copy>", "<sep>"          # block start; a copy's placeholder; the prompt's end
STYLES = ("words", "copy")
RAG_FILE, STORE_FILE = "rag.json", "rag_examples.jsonl.gz"
FORMAT = "<index> (<ex> u_0 .. u_m <sep> IR' <end>)*k @0 w_0 .. @n w_n <sep>"


@dataclass
class RAGConfig:
    """k neighbours in the prompt, how their copies are written, and how training draws them."""
    k: int = 1
    style: str = "words"      # "words": a copy becomes the copied word's token; "copy": the placeholder <copy>
    pool: int = 3             # training draws its k neighbours at random from the `pool` most similar
    max_ir: int = 48          # room left for the answer: farthest neighbours are dropped until the prompt fits

    def __post_init__(self):
        if not isinstance(self.k, int) or self.k < 0:
            raise ValueError(f"k must be an integer >= 0, got {self.k!r}")
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {self.style!r}")
        if not isinstance(self.pool, int) or self.pool < max(self.k, 1):
            raise ValueError(f"pool must be an integer >= k (and >= 1), got {self.pool!r} with k={self.k}")
        if not isinstance(self.max_ir, int) or self.max_ir < 2:
            raise ValueError(f"max_ir must be an integer >= 2, got {self.max_ir!r}")


@dataclass(frozen=True)
class Stored:
    """One retrievable example: its question, index and IR (copies `@j` point into this question's words)."""
    question: str
    index: str
    ir: tuple

    @property
    def key(self):
        return self.index, normalize_question(self.question)


def with_rag_tokens(vocab):
    """The vocabulary plus the two block tokens (appended, so every other token keeps its id)."""
    return Vocab(list(vocab.itos) + [t for t in (EX, COPY) if t not in vocab.stoi])


def block_tokens(stored, style, known):
    """The neighbour block of `stored` as token strings: <ex> words <sep> IR-with-copies-rewritten <end>."""
    ws = [w for w, _, _ in words(stored.question)]
    toks = [EX] + [word_token(w, known) for w in ws] + [SEP]
    for t in stored.ir:
        if t.startswith("@"):
            toks.append(word_token(ws[int(t[1:])], known) if style == "words" else COPY)
        else:
            toks.append(t)
    return toks if toks[-1] == END else toks + [END]


def build_prompt(vocab, question, index, blocks, max_len=None):
    """Prompt ids: the index token, the neighbour blocks (id lists, most similar last), then the question as
    `Vocab.prompt` writes it. Blocks are dropped from the front (the least similar) until len <= max_len."""
    plain = vocab.prompt(question, index)          # [<index>, @0, w0, ..., <sep>]; ValueError if too many words
    blocks = list(blocks)
    while blocks and max_len is not None and len(plain) + sum(map(len, blocks)) > max_len:
        blocks.pop(0)
    return plain[:1] + [i for b in blocks for i in b] + plain[1:]


def split_prompt(vocab, ids):
    """(index token, [block token lists], question token list) of a prompt: the inverse of build_prompt."""
    toks = [vocab.itos[i] for i in ids]
    if not toks or toks[0][1:-1] not in schema.INDEXES or toks[-1] != SEP:
        raise ValueError("prompt must start with an index token and end with <sep>")
    blocks, k = [], 1
    while k < len(toks) and toks[k] == EX:
        end = toks.index(END, k)
        blocks.append(toks[k:end + 1])
        k = end + 1
    return toks[0], blocks, toks[k:]


class Neighbours:
    """The most similar stored examples of the same index, by `Retriever` cosine; fast top-k by argpartition."""

    def __init__(self, stored):
        self.stored = list(stored)
        self.retriever = Retriever(self.stored)
        index_of = np.array([s.index for s in self.stored])
        self.in_index = {i: index_of == i for i in set(index_of.tolist())}       # (N,) bool per index
        rows = {}
        for r, s in enumerate(self.stored):
            rows.setdefault(s.key, []).append(r)
        self.same_key = rows

    def top(self, question, index, n, exclude_key=None):
        """Row numbers of the n most similar stored examples of `index`, best first (ties by store order),
        leaving out every row whose (index, normalised question) equals `exclude_key`."""
        if index not in self.in_index or n < 1:
            return []
        s = np.where(self.in_index[index], self.retriever.scores(question), -np.inf)    # (N,)
        if exclude_key is not None:
            s[self.same_key.get(exclude_key, [])] = -np.inf
        n = min(n, int(np.isfinite(s).sum()))
        if n == 0:
            return []
        cand = np.argpartition(-s, n - 1)[:n] if n < len(s) else np.arange(len(s))
        return [int(r) for r in cand[np.lexsort((cand, -s[cand]))]]

    def table(self, pool):
        """(N, pool) rows: each stored example's `pool` nearest others (leave-one-out, same index), -1 padded."""
        out = np.full((len(self.stored), pool), -1, dtype=np.int64)
        for r, s in enumerate(self.stored):
            top = self.top(s.question, s.index, pool, exclude_key=s.key)
            out[r, :len(top)] = top
        return out


def draw(row, k, rng):
    """k distinct neighbours drawn uniformly from one table row (-1 = none), kept in similarity order."""
    valid = row[row >= 0]
    if len(valid) <= k:
        return valid
    return valid[np.sort(rng.choice(len(valid), size=k, replace=False))]


class RAGModel(NLQModel):
    """A retrieval-augmented checkpoint: GPT + vocabulary + RAGConfig + the stored examples it retrieves from.
    `translate` is NLQModel's: only the prompt (translate_ir) differs."""

    def __init__(self, model, vocab, config, stored):
        super().__init__(model, vocab)
        self.config = config
        self.neighbours = Neighbours(stored)
        self._blocks = {}

    def block_ids(self, row):
        if row not in self._blocks:
            toks = block_tokens(self.neighbours.stored[row], self.config.style, self.vocab.stoi)
            self._blocks[row] = self.vocab.ids(toks)
        return self._blocks[row]

    def prompt(self, question, index):
        """The prompt ids: the k nearest stored examples of `index` (most similar last), then the question."""
        rows = self.neighbours.top(question, index, self.config.k)[::-1]
        max_len = self.model.config.block_size - self.config.max_ir
        return build_prompt(self.vocab, question, index, [self.block_ids(r) for r in rows], max_len)

    def translate_ir(self, question, index):
        """IR tokens decoded greedily under the grammar mask, after the retrieved examples."""
        from .constrained import decode
        return decode(self.model, self.vocab, question, index, prompt=self.prompt(question, index))

    @classmethod
    def load(cls, path):
        from tinyllm.training.checkpoint import load_checkpoint
        path = Path(path)
        with open(path / VOCAB_FILE, encoding="utf-8") as f:
            vocab = Vocab.from_dict(json.load(f))
        with open(path / RAG_FILE, encoding="utf-8") as f:
            meta = json.load(f)
        config = RAGConfig(**meta["config"])
        return cls(load_checkpoint(path).model, vocab, config, read_store(path / STORE_FILE))


def write_rag_files(path, config, stored):
    """rag.json (config and prompt format) and the retrieval store, each written atomically."""
    path = Path(path)
    meta = {"format": FORMAT, "config": asdict(config), "store": STORE_FILE, "n_stored": len(stored)}
    _atomic_write(path / RAG_FILE, json.dumps(meta, indent=1).encode("utf-8"))
    lines = "".join(json.dumps({"index": s.index, "question": s.question, "ir": list(s.ir)}) + "\n"
                    for s in stored)
    _atomic_write(path / STORE_FILE, gzip.compress(lines.encode("utf-8"), mtime=0))


def read_store(path):
    """The stored examples written by write_rag_files; a bad line raises ValueError naming path:line."""
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                d = json.loads(line)
                out.append(Stored(d["question"], d["index"], tuple(d["ir"])))
            except (ValueError, KeyError) as e:
                raise ValueError(f"{path}:{n}: bad stored example ({e})") from None
    return out


def _atomic_write(path, data):
    tmp = Path(str(path) + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
