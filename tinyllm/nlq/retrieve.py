"""Retrieve the k stored examples most similar to a new question (few-shot context, the lecture's "Idea #2").

Default: client-side hashed character n-gram TF-IDF vectors and cosine similarity, all in NumPy, so it works on
every engine (osmem has no dense vectors). A question becomes the multiset of its character 3- to 5-grams
(lower-cased, padded with spaces); each n-gram is hashed (a fixed polynomial hash, not Python's salted
`hash`) into one of D buckets. Weights are sublinear tf * idf, rows are L2-normalised, so a dot product is the
cosine. On engines whose capabilities include knn, `EngineRetriever` asks the engine instead.
"""
import json
import re

import numpy as np

from .examples import EXAMPLES_INDEX

DIM = 1 << 18          # hash buckets: collisions are rare for the ~10^5 distinct n-grams of 20k questions
NGRAMS = (3, 4, 5)
DENSE_DIM = 256        # width of the folded vectors sent to an engine's knn
_PRIME = np.uint64(1099511628211)   # FNV-style multiplier; arithmetic wraps mod 2^64


def normalize(text):
    return " " + re.sub(r"\s+", " ", str(text).lower().strip()) + " "


def hashed_counts(texts, dim=DIM, ngrams=NGRAMS):
    """Sparse rows of hashed n-gram counts for many texts at once, as CSR (indptr (N+1,), ids (nnz,), tf (nnz,)).

    All texts are concatenated into one byte array; an n-gram is hashed at every position and kept only if it
    lies inside one text. Sorting (row, id) keys then yields each row's unique ids with their counts.
    """
    encoded = [normalize(t).encode("utf-8") for t in texts]
    lens = np.array([len(e) for e in encoded], dtype=np.int64)               # (N,)
    b = np.frombuffer(b"".join(encoded), dtype=np.uint8).astype(np.uint64)    # (L,)
    row = np.repeat(np.arange(len(encoded), dtype=np.int64), lens)            # (L,) text of each byte
    offset = np.arange(len(b), dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)   # position in its text
    keys = []
    with np.errstate(over="ignore"):
        for n in ngrams:
            m = len(b) - n + 1
            if m <= 0:
                continue
            h = np.full(m, np.uint64(n), dtype=np.uint64)
            for j in range(n):                        # h = (((n * P + b0) * P + b1) * P + ...) mod 2^64
                h = h * _PRIME + b[j:j + m]
            inside = offset[:m] + n <= np.repeat(lens, lens)[:m]
            keys.append(row[:m][inside] * dim + (h[inside] % np.uint64(dim)).astype(np.int64))
    keys, counts = np.unique(np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64), return_counts=True)
    indptr = np.zeros(len(encoded) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(np.bincount(keys // dim, minlength=len(encoded)))
    return indptr, keys % dim, 1.0 + np.log(counts)


def term_counts(text, dim=DIM):
    """(unique ids, sublinear tf weights) for one text."""
    _, ids, tf = hashed_counts([text], dim)
    return ids, tf


class Retriever:
    """Cosine similarity over hashed n-gram TF-IDF vectors of the stored questions (a CSR matrix in NumPy)."""

    def __init__(self, examples, dim=DIM):
        self.examples, self.dim = list(examples), dim
        n = len(self.examples)
        self.indptr, self.indices, tf = hashed_counts([ex.question for ex in self.examples], dim)
        df = np.bincount(self.indices, minlength=dim)
        self.idf = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)   # (D,)
        data = tf * self.idf[self.indices]
        norms = np.sqrt(np.add.reduceat(data ** 2, self.indptr[:-1])) if n else np.zeros(0)  # (N,)
        self.data = (data / np.repeat(norms, np.diff(self.indptr))).astype(np.float32)
        # The same matrix by column (an inverted index: n-gram -> rows holding it), so a query only touches the
        # rows that share one of its n-grams instead of every stored entry.
        order = np.argsort(self.indices, kind="stable")
        self.col_rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(self.indptr))[order]   # (nnz,)
        self.col_data = self.data[order]                                                     # (nnz,)
        self.col_ptr = np.searchsorted(self.indices[order], np.arange(dim + 1))              # (D+1,)
        self.index_of = np.array([ex.index for ex in self.examples], dtype=object)

    def vector(self, question):
        """The question's normalised (ids, weights) under this store's idf."""
        ids, tf = term_counts(question, self.dim)
        w = tf * self.idf[ids]
        norm = np.sqrt((w ** 2).sum())
        return ids, (w / norm if norm > 0 else w).astype(np.float32)

    def scores(self, question):
        """Cosine similarity of `question` to every stored question, shape (N,)."""
        if not self.examples:
            return np.zeros(0, dtype=np.float32)
        ids, w = self.vector(question)
        starts, ends = self.col_ptr[ids], self.col_ptr[ids + 1]
        lengths = ends - starts
        # positions of every stored entry in the query's columns, gathered without a Python loop
        pos = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        weights = self.col_data[pos] * np.repeat(w, lengths)
        return np.bincount(self.col_rows[pos], weights=weights, minlength=len(self.examples))

    def scores_dense(self, question):
        """The same scores by a full pass over the row-major matrix: the readable reference for `scores`."""
        ids, w = self.vector(question)
        q = np.zeros(self.dim, dtype=np.float32)   # (D,) dense query: a gather then a segment sum
        q[ids] = w
        return np.add.reduceat(self.data * q[self.indices], self.indptr[:-1])

    def similar(self, question, k=5, index=None):
        """The k most similar examples as [(score, Example)], best first; ties broken by store order."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        s = self.scores(question).astype(np.float64)
        if index is not None:
            s = np.where(self.index_of == index, s, -np.inf)
        order = np.lexsort((np.arange(len(s)), -s))[:k]
        return [(float(s[i]), self.examples[i]) for i in order if np.isfinite(s[i])]

    def dense(self, question):
        """A DENSE_DIM-wide L2-normalised folding of the sparse vector (for engines with knn)."""
        ids, w = self.vector(question)
        sign = np.where((ids // DENSE_DIM) % 2 == 0, 1.0, -1.0)   # signed folding keeps collisions unbiased
        v = np.zeros(DENSE_DIM)
        np.add.at(v, ids % DENSE_DIM, sign * w)
        norm = np.linalg.norm(v)
        return v / norm if norm > 0 else v

    def dense_matrix(self):
        """(N, DENSE_DIM) dense vectors of every stored question, for `ExampleStore.save_to_engine(vectors=...)`."""
        return np.stack([self.dense(ex.question) for ex in self.examples]) if self.examples else \
            np.zeros((0, DENSE_DIM))


class EngineRetriever:
    """knn over the examples index on engines that support it; falls back to the client-side Retriever."""

    def __init__(self, backend, retriever, index_name=EXAMPLES_INDEX):
        self.backend, self.retriever, self.index_name = backend, retriever, index_name
        self.use_knn = bool(backend.capabilities.get("knn"))

    def similar(self, question, k=5, index=None):
        if not self.use_knn:
            return self.retriever.similar(question, k=k, index=index)
        knn = {"field": "question_vector", "query_vector": [float(x) for x in self.retriever.dense(question)],
               "k": k, "num_candidates": max(50, 10 * k)}
        if index is not None:
            knn["filter"] = {"term": {"index": index}}
        resp = self.backend.client.search(index=self.index_name, knn=knn, size=k, source_excludes=["question_vector"])
        by_question = {(ex.index, ex.question): ex for ex in self.retriever.examples}
        out = []
        for hit in resp["hits"]["hits"]:
            src = hit["_source"]
            ex = by_question.get((src["index"], src["question"]))
            if ex is not None:
                out.append((float(hit["_score"]), ex))
        return out


def nearest_query(retriever):
    """A translate_fn for the eval harness that copies the query of the most similar stored example (a baseline
    that measures how much of a test set the examples already cover, word for word)."""
    def translate(index, question):
        best = retriever.similar(question, k=1, index=index)
        if not best:
            raise ValueError(f"no stored example for index {index!r}")
        return best[0][1].query
    return translate


def main(argv=None):
    """python -m tinyllm.nlq.retrieve "papers by Hao Li" [--k=5] [--index=articles]
    python -m tinyllm.nlq.retrieve --eval=data/nlq_testset.jsonl   (execution accuracy of nearest_query)"""
    import argparse
    import pathlib
    from .examples import ExampleStore
    default = pathlib.Path(__file__).resolve().parents[2] / "data" / "nlq_examples.jsonl.gz"
    p = argparse.ArgumentParser(prog="python -m tinyllm.nlq.retrieve", description=main.__doc__.split("\n")[0])
    p.add_argument("question", nargs="?")
    p.add_argument("--examples", default=str(default))
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--index", default=None)
    p.add_argument("--eval", default=None, help="cases JSONL: score the nearest-example baseline on it")
    args = p.parse_args(argv)
    retriever = Retriever(ExampleStore.import_jsonl(args.examples))
    if args.eval:
        from .backend import connect
        from .evaluate import evaluate, load_cases
        backend = connect()
        backend.ensure_loaded()
        print(evaluate(backend, load_cases(args.eval), nearest_query(retriever)).format())
        return 0
    if not args.question:
        p.error("give a question or --eval=CASES.jsonl")
    for score, ex in retriever.similar(args.question, k=args.k, index=args.index):
        print(f"{score:.3f}  [{ex.index}] {ex.question}\n       {json.dumps(ex.query)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
