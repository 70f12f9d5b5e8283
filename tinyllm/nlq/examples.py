"""The example store: verified (question, query) pairs, deduplicated, persisted as JSONL(.gz) and in an engine index.

The lecture kept teacher examples in a Python dict that vanished on restart. Here an `Example` is a plain
dataclass, the store dedups on the normalised question (one question -> one query), JSONL files are written
atomically (temp file + os.replace, gzip when the name ends in .gz), and `save_to_engine` mirrors the store into
an index of its own (`nlq_examples`) with deterministic ids, so re-saving never duplicates documents.
"""
import gzip
import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field, fields

EXAMPLES_INDEX = "nlq_examples"
COMPARE_KINDS = ("set", "count", "topk", "aggs")
BULK_CHUNK = 500

# The engine index holding examples: the question is searchable text, the query is stored as a JSON string.
EXAMPLES_MAPPING = {
    "settings": {"number_of_shards": 1},
    "mappings": {"dynamic": "strict", "properties": {
        "question": {"type": "text"},
        "index": {"type": "keyword"},
        "intent": {"type": "keyword"},
        "compare": {"type": "keyword"},
        "teacher": {"type": "keyword"},
        "query_json": {"type": "keyword", "index": False, "doc_values": False},
        "extra_json": {"type": "keyword", "index": False, "doc_values": False},
    }},
}


@dataclass
class Example:
    """One (question, query) pair for `index`; `compare` says how its result is judged, `intent` what it asks."""
    question: str
    index: str
    query: dict
    intent: str
    compare: str = "set"
    teacher: str = "template"
    extra: dict = field(default_factory=dict)  # e.g. {"now": "2026-07-01"} or {"expect_empty": True}

    def __post_init__(self):
        if not isinstance(self.question, str) or not self.question.strip():
            raise ValueError(f"question: expected a non-empty string, got {self.question!r}")
        if not isinstance(self.query, dict):
            raise ValueError(f"query: expected a dict (a search body), got {type(self.query).__name__}")
        if self.compare not in COMPARE_KINDS:
            raise ValueError(f"compare: expected one of {COMPARE_KINDS}, got {self.compare!r}")

    @property
    def expect_empty(self):
        return bool(self.extra.get("expect_empty"))

    def key(self):
        return example_key(self.index, self.question)

    def to_json(self):
        return asdict(self)

    @classmethod
    def from_json(cls, obj, where="example"):
        if not isinstance(obj, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        known = {f.name for f in fields(cls)}
        missing = [k for k in ("question", "index", "query", "intent") if k not in obj]
        if missing:
            raise ValueError(f"{where}: missing field(s) {missing}")
        unknown = sorted(set(obj) - known)
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {unknown}")
        return cls(**obj)


def normalize_question(text):
    """Lower-case, strip punctuation at the ends and collapse whitespace: the dedup and hold-out key."""
    return re.sub(r"\s+", " ", text.strip().lower()).strip(" ?.!")


def example_key(index, question):
    return f"{index}\t{normalize_question(question)}"


class ExampleStore:
    """An ordered, deduplicated collection of Examples."""

    def __init__(self, examples=()):
        self.examples, self._keys = [], set()
        for ex in examples:
            self.add(ex)

    def __len__(self):
        return len(self.examples)

    def __iter__(self):
        return iter(self.examples)

    def __contains__(self, key):
        return key in self._keys

    def add(self, example):
        """Add unless an example with the same (index, normalised question) exists; returns True if added."""
        if not isinstance(example, Example):
            raise TypeError(f"example: expected an Example, got {type(example).__name__}")
        key = example.key()
        if key in self._keys:
            return False
        self._keys.add(key)
        self.examples.append(example)
        return True

    # ------------------------------------------------------------ JSONL files
    def export_jsonl(self, path):
        """Write one JSON object per line (gzip when path ends in .gz), atomically."""
        lines = "".join(json.dumps(ex.to_json(), ensure_ascii=False, sort_keys=True) + "\n" for ex in self.examples)
        data = lines.encode("utf-8")
        if str(path).endswith(".gz"):
            data = gzip.compress(data, compresslevel=9, mtime=0)   # mtime=0: same content -> same bytes
        _atomic_write(path, data)
        return len(self.examples)

    @classmethod
    def import_jsonl(cls, path):
        """Read a file written by export_jsonl (or by hand); bad lines raise ValueError naming path:line."""
        opener = gzip.open if str(path).endswith(".gz") else open
        try:
            with opener(path, "rt", encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise OSError(f"cannot read examples file {path}: {e}") from None
        store = cls()
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{i}: not valid JSON ({e.msg})") from None
            store.add(Example.from_json(obj, where=f"{path}:{i}"))
        return store

    # ------------------------------------------------------------ the engine index
    def save_to_engine(self, backend, index_name=EXAMPLES_INDEX, vectors=None):
        """Create `index_name` if needed and bulk-index every example under a content-derived id (idempotent).

        `vectors` (optional, (N, D) array) adds a `question_vector` dense_vector field, for engines with knn.
        """
        client = backend.client
        if not client.indices.exists(index=index_name):
            mapping = json.loads(json.dumps(EXAMPLES_MAPPING))
            if vectors is not None:
                mapping["mappings"]["properties"]["question_vector"] = {
                    "type": "dense_vector", "dims": int(vectors.shape[1]), "index": True, "similarity": "cosine"}
            client.indices.create(index=index_name, settings=mapping["settings"], mappings=mapping["mappings"])
        for start in range(0, len(self.examples), BULK_CHUNK):
            ops = []
            for i, ex in enumerate(self.examples[start:start + BULK_CHUNK], start):
                doc = {"question": ex.question, "index": ex.index, "intent": ex.intent, "compare": ex.compare,
                       "teacher": ex.teacher, "query_json": json.dumps(ex.query, sort_keys=True),
                       "extra_json": json.dumps(ex.extra, sort_keys=True)}
                if vectors is not None:
                    doc["question_vector"] = [float(x) for x in vectors[i]]
                ops += [{"index": {"_index": index_name, "_id": doc_id(ex)}}, doc]
            resp = client.bulk(operations=ops, refresh=False)
            if resp.get("errors"):
                first = next(it for it in resp["items"] if it["index"].get("error"))
                raise RuntimeError(f"bulk indexing into {index_name} failed: {first['index']['error']}")
        client.indices.refresh(index=index_name)
        return len(self.examples)

    @classmethod
    def load_from_engine(cls, backend, index_name=EXAMPLES_INDEX, page=1000):
        """Read every example back from the engine index, in index order (search_after paging on _doc)."""
        client, store, after = backend.client, cls(), None
        while True:
            body = {"size": page, "query": {"match_all": {}}, "sort": [{"_doc": "asc"}]}
            if after is not None:
                body["search_after"] = after
            hits = client.search(index=index_name, body=body)["hits"]["hits"]
            for h in hits:
                s = h["_source"]
                store.add(Example(question=s["question"], index=s["index"], query=json.loads(s["query_json"]),
                                  intent=s["intent"], compare=s["compare"], teacher=s["teacher"],
                                  extra=json.loads(s["extra_json"])))
            if len(hits) < page:
                return store
            after = hits[-1]["sort"]


def doc_id(example):
    """Deterministic engine id: sha1 of the dedup key, so the same question always lands on the same document."""
    return hashlib.sha1(example.key().encode("utf-8")).hexdigest()[:20]


def _atomic_write(path, data):
    """Write bytes to a temp file in the same directory, then os.replace it over `path`."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)   # mkstemp creates 0600; a data file should be readable like any other
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
