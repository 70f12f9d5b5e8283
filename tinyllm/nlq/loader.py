"""Create the demo indexes with their exact mappings and fill them from data/*.jsonl.gz, idempotently.

Documents get stable ids (schema.doc_id), so loading twice overwrites instead of duplicating. Bulk requests use a
fixed chunk size: osmem's relevance scores depend on how documents arrive, and a fixed size makes them reproducible.
"""
import gzip
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from elasticsearch import helpers

from . import schema

CHUNK_SIZE = 1000         # documents per bulk request: the largest allowed (<= 1000); fewer requests load faster


def data_path(index):
    """The shipped data file for `index`, e.g. data/articles.jsonl.gz."""
    if index not in schema.INDEXES:
        raise ValueError(f"index must be one of {list(schema.INDEXES)}, got {index!r}")
    return schema.DATA_DIR / f"{index}.jsonl.gz"


def iter_docs(index, path=None):
    """Yield the documents of `index` from its JSON Lines file (gzip or plain), naming the file on errors."""
    path = data_path(index) if path is None else path
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as e:
                        raise ValueError(f"{path}:{lineno}: not valid JSON ({e})") from None
    except FileNotFoundError:
        raise FileNotFoundError(f"data file not found: {path} (the tinyllm checkout ships it under data/)") from None


def count_docs(index, path=None):
    """Number of documents in the data file, counted without parsing them (the cheap check for "already loaded")."""
    path = data_path(index) if path is None else path
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"data file not found: {path} (the tinyllm checkout ships it under data/)") from None
    return _count_lines(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=16)
def _count_lines(path, mtime_ns, size):
    """Non-blank lines of a (gzipped) file; cached per file version, as decompressing takes about a second."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return sum(1 for line in f if line.strip())


class _Progress:
    """One status line for several indexes loading at once: `articles 3,000/10,000 | gutenberg ...`."""

    def __init__(self, stream):
        self.stream, self.lock, self.state, self.t0 = stream, threading.Lock(), {}, time.perf_counter()

    def __call__(self, index, done, total):
        with self.lock:
            self.state[index] = (done, total)
            rate = sum(d for d, _ in self.state.values()) / max(time.perf_counter() - self.t0, 1e-9)
            parts = " | ".join(f"{i} {d:,}/{t:,}" for i, (d, t) in self.state.items())
            tty = getattr(self.stream, "isatty", lambda: False)()    # in place on a terminal, a line each in logs
            print(f"\r  {parts} ({rate:,.0f} docs/s)" if tty else f"  {parts} ({rate:,.0f} docs/s)",
                  end="" if tty else "\n", file=self.stream, flush=True)


def _check_existing_mapping(client, index, expected):
    """Refuse to fill an index that exists with other field types: queries would silently change meaning."""
    got = client.indices.get_mapping(index=index).body.get(index, {}).get("mappings", {}).get("properties", {})
    for field, prop in expected["mappings"]["properties"].items():
        if got.get(field, {}).get("type") != prop["type"]:
            raise RuntimeError(f"index {index!r} already exists with a different mapping for field {field!r} "
                               f"({got.get(field, {}).get('type')!r}, expected {prop['type']!r}); delete the index "
                               f"(DELETE /{index}) and run `tinyllm nlq load` again")


def load_index(client, index, mappings=None, chunk_size=CHUNK_SIZE, progress=True, stream=None, path=None,
               report=None):
    """Create `index` (if missing) with its mapping and make it hold exactly the shipped documents; returns the count.

    Skips the upload when the index already holds as many documents as the file; otherwise (re)indexes every
    document under its stable id, so an interrupted load is completed, never duplicated. `report(index, done,
    total)` receives progress (default: a status line on `stream` when `progress` is true).
    """
    if not 1 <= chunk_size <= 1000:
        raise ValueError(f"chunk_size must be in [1, 1000], got {chunk_size}")
    mappings = schema.load_mappings() if mappings is None else mappings
    stream = sys.stderr if stream is None else stream
    spec = mappings[index]
    expected = count_docs(index, path)
    if client.indices.exists(index=index):
        _check_existing_mapping(client, index, spec)
        client.indices.refresh(index=index)
        have = client.count(index=index)["count"]
        if have == expected:
            if progress:
                print(f"  {index}: already loaded ({have:,} documents)", file=stream)
            return have
    else:
        client.indices.create(index=index, settings=spec.get("settings", {}), mappings=spec["mappings"])
    docs = list(iter_docs(index, path))
    own_line = report is None and progress
    report = _Progress(stream) if own_line else report
    actions = ({"_index": index, "_id": schema.doc_id(index, d), "_source": d} for d in docs)
    done = 0
    for ok, item in helpers.streaming_bulk(client, actions, chunk_size=chunk_size, raise_on_error=True):
        done += 1
        if report and (done % chunk_size == 0 or done == len(docs)):
            report(index, done, len(docs))
    if own_line and getattr(stream, "isatty", lambda: False)():
        print(file=stream)
    client.indices.refresh(index=index)
    return client.count(index=index)["count"]


def load_all(client, indexes=schema.INDEXES, mappings=None, progress=True, stream=None):
    """load_index for several indexes at once (one thread each: the engine indexes them in parallel); {index: count}."""
    stream = sys.stderr if stream is None else stream
    report = _Progress(stream) if progress else None
    with ThreadPoolExecutor(max_workers=max(len(indexes), 1)) as pool:
        futures = {i: pool.submit(load_index, client, i, mappings, CHUNK_SIZE, progress, stream, None, report)
                   for i in indexes}
        counts = {i: f.result() for i, f in futures.items()}
    if report is not None and report.state and getattr(stream, "isatty", lambda: False)():
        print(file=stream)
    return counts
