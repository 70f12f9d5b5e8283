"""Execution accuracy: run the gold and the predicted query on the engine and compare what comes back.

A case is one JSON line `{"id", "index", "question", "gold": <search body>, "compare": kind, "intent"?}`. Kinds:
`set` (the ids of *all* matching documents), `count` (total hits), `topk` (the sort values of the top `size` hits)
and `aggs` (the first aggregation's buckets or value, whatever its name). Relevance order is never compared: two
engines, or two bulk chunkings, rank the same hits differently. Every prediction passes the safety gate first.
"""
import json
import math
import time
from dataclasses import dataclass, field

import numpy as np
from elasticsearch import ApiError
from elastic_transport import TransportError

from . import schema
from .validate import DEFAULT_SIZE, QueryRejected, validate

COMPARE_KINDS = ("set", "count", "topk", "aggs")
MAX_SET = 20_000        # ids fetched per query for a `set` comparison (both indexes are smaller)
PAGE = 10_000           # hits per page while fetching them (the most one request may return)


@dataclass
class Case:
    """One test question with its gold query and how to compare answers."""
    id: str
    index: str
    question: str
    gold: dict
    compare: str
    intent: str = None


def load_cases(path):
    """Read cases from a JSON Lines file; errors name the file, the line and the field."""
    cases, seen = [], set()
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{where}: not valid JSON ({e})") from None
            for key, typ in (("id", str), ("index", str), ("question", str), ("gold", dict), ("compare", str)):
                if not isinstance(d.get(key), typ):
                    raise ValueError(f"{where}: field {key!r} must be a {typ.__name__}, got {d.get(key)!r:.80}")
            if d["index"] not in schema.INDEXES:
                raise ValueError(f"{where}: index must be one of {list(schema.INDEXES)}, got {d['index']!r}")
            if d["compare"] not in COMPARE_KINDS:
                raise ValueError(f"{where}: compare must be one of {list(COMPARE_KINDS)}, got {d['compare']!r}")
            if d["compare"] == "topk" and "sort" not in d["gold"]:
                raise ValueError(f"{where}: a topk case needs an explicit sort in its gold query")
            if d["compare"] == "aggs" and not (d["gold"].get("aggs") or d["gold"].get("aggregations")):
                raise ValueError(f"{where}: an aggs case needs an aggregation in its gold query")
            if d["id"] in seen:
                raise ValueError(f"{where}: duplicate id {d['id']!r}")
            seen.add(d["id"])
            cases.append(Case(d["id"], d["index"], d["question"], d["gold"], d["compare"], d.get("intent")))
    return cases


def execute(backend, index, body, kind):
    """Run a validated `body` the way `kind` needs it; returns a search-response-shaped dict."""
    query = body.get("query", {"match_all": {}})
    if kind == "count":
        return backend.search(index, {"query": query, "size": 0, "track_total_hits": True})
    if kind != "set":
        return backend.search(index, body)
    # set: page through every match in a fixed total order (search_after), ids only.
    sort = [{f: "asc"} for f in schema.UNIQUE_SORT[index]]
    page = {"query": query, "size": PAGE, "sort": sort, "_source": False, "track_total_hits": True}
    hits, total = [], None
    while len(hits) < MAX_SET:
        resp = backend.search(index, page)
        total = resp["hits"]["total"]["value"] if total is None else total
        batch = resp["hits"]["hits"]
        hits += [{"_id": h["_id"]} for h in batch]
        if len(batch) < PAGE:
            break
        page["search_after"] = batch[-1]["sort"]
    return {"hits": {"total": {"value": total, "relation": "eq"}, "hits": hits}}


def _first_agg(resp, body):
    """The first aggregation of `body` (in the order written) looked up in `resp`, whatever its name."""
    aggs = (body or {}).get("aggs") or (body or {}).get("aggregations") or {}
    got = resp.get("aggregations") or {}
    name = next(iter(aggs), None) or next(iter(got), None)
    return got.get(name), (aggs.get(name) or {})


def _agg_signature(agg, spec):
    """A comparable summary of one aggregation result: its buckets (key, count, first sub-aggregation) or value."""
    if agg is None:
        return None
    sub_specs = spec.get("aggs") or spec.get("aggregations") or {}
    if "buckets" in agg:
        buckets = agg["buckets"]
        items = buckets.values() if isinstance(buckets, dict) else buckets
        rows = []
        for b in items:
            sub = _agg_signature(*_first_agg({"aggregations": b}, {"aggs": sub_specs})) if sub_specs else None
            rows.append((json.dumps(b.get("key"), sort_keys=True), b.get("from"), b.get("to"), b["doc_count"], sub))
        return ("buckets", sorted(rows, key=repr))       # bucket order is presentation, not content
    if "hits" in agg:                                     # top_hits: which documents, in their sort order
        return ("hits", [h.get("sort", h["_id"]) for h in agg["hits"]["hits"]])
    if "doc_count" in agg:                                # filter: count plus its first sub-aggregation
        sub = _agg_signature(*_first_agg({"aggregations": agg}, {"aggs": sub_specs})) if sub_specs else None
        return ("filter", agg["doc_count"], sub)
    if "value" in agg:
        return ("value", agg["value"])
    return ("stats", tuple(sorted((k, v) for k, v in agg.items() if k in ("count", "min", "max", "avg", "sum"))))


def _same(a, b):
    """Deep equality where floats only need to agree to 1e-9 relative (averages may differ in the last bit);
    integers (counts, epoch-millisecond dates) must match exactly."""
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
            return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def compare(kind, gold_resp, pred_resp, gold_body=None, pred_body=None):
    """True when the predicted response answers the question like the gold one, judged by `kind`."""
    if kind not in COMPARE_KINDS:
        raise ValueError(f"kind must be one of {list(COMPARE_KINDS)}, got {kind!r}")
    if kind == "set":
        return ({h["_id"] for h in gold_resp["hits"]["hits"]} == {h["_id"] for h in pred_resp["hits"]["hits"]}
                and gold_resp["hits"]["total"]["value"] == pred_resp["hits"]["total"]["value"])
    if kind == "count":
        return gold_resp["hits"]["total"]["value"] == pred_resp["hits"]["total"]["value"]
    if kind == "topk":
        k = (gold_body or {}).get("size", DEFAULT_SIZE)
        gold = [h.get("sort") for h in gold_resp["hits"]["hits"][:k]]
        pred = [h.get("sort") for h in pred_resp["hits"]["hits"][:k]]
        if any(s is None for s in gold):
            raise ValueError("topk needs a sorted gold query (its hits carry no sort values)")
        return _same(gold, pred)
    return _same(_agg_signature(*_first_agg(gold_resp, gold_body)), _agg_signature(*_first_agg(pred_resp, pred_body)))


@dataclass
class Report:
    """Execution accuracy overall, per compare kind and per intent; validity; translation latency."""
    results: list = field(default_factory=list)      # one dict per case: id, compare, intent, valid, correct, error
    gold_errors: list = field(default_factory=list)  # (id, message) for cases whose gold query failed
    latencies_ms: list = field(default_factory=list)

    @property
    def n(self):
        return len(self.results)

    @property
    def accuracy(self):
        return sum(r["correct"] for r in self.results) / max(self.n, 1)

    @property
    def validity(self):
        return sum(r["valid"] for r in self.results) / max(self.n, 1)

    def latency_ms(self, q):
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    def breakdown(self, key):
        """{value of `key`: (correct, total)} over the results, e.g. key="compare" or "intent"."""
        out = {}
        for r in self.results:
            if r.get(key) is not None:
                c, t = out.get(r[key], (0, 0))
                out[r[key]] = (c + r["correct"], t + 1)
        return dict(sorted(out.items()))

    def to_dict(self):
        return {"n": self.n, "accuracy": self.accuracy, "validity": self.validity,
                "latency_ms": {"p50": self.latency_ms(50), "p95": self.latency_ms(95)},
                "per_compare": {k: {"correct": c, "total": t} for k, (c, t) in self.breakdown("compare").items()},
                "per_intent": {k: {"correct": c, "total": t} for k, (c, t) in self.breakdown("intent").items()},
                "gold_errors": self.gold_errors, "results": self.results}

    def format(self):
        """A plain-text summary table."""
        lines = [f"execution accuracy {self.accuracy:.1%} ({sum(r['correct'] for r in self.results)}/{self.n}), "
                 f"validity {self.validity:.1%}, translate latency p50 {self.latency_ms(50):.2f} ms, "
                 f"p95 {self.latency_ms(95):.2f} ms"]
        errors = [r["error"].split(":")[0] for r in self.results if r["error"]]
        if errors:
            kinds = {e: errors.count(e) for e in sorted(set(errors))}
            lines.append("  invalid predictions: " + ", ".join(f"{n} {e}" for e, n in kinds.items()))
        for key in ("compare", "intent"):
            rows = self.breakdown(key)
            if rows:
                lines.append(f"  per {key}:")
                lines += [f"    {name:<18} {c / t:6.1%}  ({c}/{t})" for name, (c, t) in rows.items()]
        if self.gold_errors:
            lines.append(f"  {len(self.gold_errors)} case(s) skipped because the gold query failed:")
            lines += [f"    {i}: {msg}" for i, msg in self.gold_errors[:10]]
        return "\n".join(lines)


def evaluate(backend, cases, translate_fn, progress=None):
    """Translate each case's question with `translate_fn(index, question) -> body`, validate, execute, compare.

    A prediction that raises, fails the gate or errors on the engine counts as invalid (and wrong). Cases whose gold
    query fails are reported in `gold_errors` and left out of every rate.
    """
    report = Report()
    for i, case in enumerate(cases):
        try:
            gold_body = validate(case.index, case.gold)
            gold_resp = execute(backend, case.index, gold_body, case.compare)
        except (QueryRejected, ApiError, TransportError) as e:
            report.gold_errors.append((case.id, str(e)[:300]))
            continue
        row = {"id": case.id, "compare": case.compare, "intent": case.intent, "valid": False, "correct": False,
               "error": None}
        t0 = time.perf_counter()
        try:
            pred = translate_fn(case.index, case.question)
        except Exception as e:                     # a translator bug must not stop the evaluation
            pred, row["error"] = None, f"translate failed: {type(e).__name__}: {e}"
        report.latencies_ms.append((time.perf_counter() - t0) * 1e3)
        if pred is not None:
            try:
                pred_body = validate(case.index, pred)
                if case.compare == "set":      # different totals settle it without fetching every id
                    counted = execute(backend, case.index, pred_body, "count")
                    same_total = counted["hits"]["total"]["value"] == gold_resp["hits"]["total"]["value"]
                pred_resp = execute(backend, case.index, pred_body, case.compare) \
                    if case.compare != "set" or same_total else counted
                row["valid"] = True
                row["correct"] = bool(compare(case.compare, gold_resp, pred_resp, gold_body, pred_body))
            except QueryRejected as e:
                row["error"] = f"rejected: {e}"
            except (ApiError, TransportError) as e:
                row["error"] = f"engine error: {str(e)[:300]}"
        report.results.append(row)
        if progress:
            progress(i + 1, len(cases), report)
    return report
