"""The safety gate: every query a translator writes passes `validate` before it reaches the engine.

An allow-list, not a deny-list: a body is accepted only if every key, clause, field and value is known and fits
the mapping, so a hallucinated field, a `term` on analysed text, a script or a 10,000-bucket aggregation is
rejected with the JSON path of the offence (e.g. `$.query.bool.must[1].term.title`) instead of silently returning
nothing or loading the cluster. Deliberately refused: `query_string`/`simple_query_string` (their own syntax
would bypass the field checks), `regexp` (unbounded cost), wildcards with a leading `*`/`?`, histograms finer than
a day, and all scripts, runtime mappings, stored templates, knn, suggesters and anything that is not a search.
This file checks the body, sorting, source filtering, highlighting and aggregations; `validate_query.py` the queries.
"""
from . import schema
from .validate_query import (MAX_CLAUSES, MAX_DEPTH, MAX_STRING, MAX_TERMS, WHY_NOT, QueryGate,  # noqa: F401
                             QueryRejected, _bool, _depth_ok, _formats, _int, _key, _list, _num, _obj, _only,
                             _single, _str, _time_zone)

MAX_SIZE = 100                 # hits per response
MAX_FROM_PLUS_SIZE = 10_000    # Elasticsearch's index.max_result_window
MAX_BUCKETS = 100              # size of one terms aggregation / number of ranges
MAX_TOTAL_BUCKETS = 10_000     # product of bucket counts down nested aggregations
MAX_AGG_DEPTH = 3              # levels of nested aggregations
MAX_AGGS = 20                  # aggregations in the whole body
MAX_TOP_HITS = 10              # hits per top_hits bucket
MAX_SORT_KEYS = 5
DEFAULT_SIZE = 10              # what the engine returns when `size` is absent

TOP_LEVEL = ("query", "aggs", "aggregations", "size", "from", "sort", "_source", "track_total_hits", "highlight",
             "timeout")
EXACT = ("keyword", "numeric", "date")
CALENDAR_INTERVALS = ("day", "1d", "week", "1w", "month", "1M", "quarter", "1q", "year", "1y")
BUCKET_AGGS = ("terms", "date_histogram", "histogram", "range", "filter")


def validate(index, body, mappings=None):
    """Return a normalised copy of search `body` for `index` if the gate accepts it, else raise QueryRejected.

    Normalised: `aggregations` is renamed `aggs`, bool occurrences and `sort` become lists; nothing else changes.
    """
    mappings = schema.load_mappings() if mappings is None else mappings
    allowed = [i for i in schema.INDEXES if i in mappings]
    if not isinstance(index, str) or index not in allowed:
        raise QueryRejected("index", f"index {index!r} is not allowed; allowed: {', '.join(allowed)}")
    if not _depth_ok(body):
        raise QueryRejected("$", f"nested deeper than {MAX_DEPTH} levels")
    return _BodyGate(index, mappings).body(body)


class _BodyGate(QueryGate):
    """Extends the query checks with everything else a search body may hold."""

    def __init__(self, index, mappings):
        super().__init__(index, mappings)
        self.aggs_seen = 0

    def body(self, body):
        _only(body, "$", TOP_LEVEL, "a search body")
        if "aggs" in body and "aggregations" in body:
            raise QueryRejected("$", "use either 'aggs' or 'aggregations', not both")
        out = {}
        if "query" in body:
            out["query"] = self.query(body["query"], "$.query")
        for key in ("aggs", "aggregations"):
            if key in body:
                out["aggs"] = self.aggs(body[key], f"$.{key}", 1, 1)
        size = _int(body.get("size", DEFAULT_SIZE), "$.size", 0, MAX_SIZE)
        start = _int(body.get("from", 0), "$.from", 0, MAX_FROM_PLUS_SIZE)
        if start + size > MAX_FROM_PLUS_SIZE:
            raise QueryRejected("$.from", f"from + size must be at most {MAX_FROM_PLUS_SIZE}, got {start + size}")
        for key in ("size", "from"):
            if key in body:
                out[key] = body[key]
        if "sort" in body:
            out["sort"] = self.sort(body["sort"], "$.sort")
        if "_source" in body:
            out["_source"] = self.source(body["_source"], "$._source")
        if "track_total_hits" in body:
            tth = body["track_total_hits"]
            out["track_total_hits"] = (tth if isinstance(tth, bool)
                                       else _int(tth, "$.track_total_hits", 0, MAX_FROM_PLUS_SIZE))
        if "highlight" in body:
            out["highlight"] = self.highlight(body["highlight"], "$.highlight")
        if "timeout" in body:
            out["timeout"] = _str(body["timeout"], "$.timeout", 8, r"\d{1,5}(ms|s)")
        return out

    # ---- sort, _source, highlight -------------------------------------------------------------------------------
    def sort(self, spec, path):
        """`"field"`, `{"field": "desc"}` or `{"field": {"order": ..., "missing": ...}}`, or a list of those."""
        items = spec if isinstance(spec, list) else [spec]
        _list(items, path, MAX_SORT_KEYS)
        out = []
        for i, item in enumerate(items):
            p = f"{path}[{i}]" if isinstance(spec, list) else path
            if isinstance(item, str):
                name, opts = item, None
            else:
                name, opts = _single(item, p, "a sort key")
            fpath = _key(p, name)
            if name not in ("_score", "_doc"):
                if name in WHY_NOT or name.startswith("_"):
                    raise QueryRejected(fpath, WHY_NOT.get(name, f"cannot sort by {name!r}"))
                self.field(name, fpath, EXACT, "sort", searched=False)
            if isinstance(opts, dict):
                _only(opts, fpath, ("order",) if name in ("_score", "_doc") else ("order", "missing", "mode"), "sort")
                if "order" in opts:
                    _str(opts["order"], _key(fpath, "order"), 4, choices=("asc", "desc"))
                if "missing" in opts:
                    _str(opts["missing"], _key(fpath, "missing"), 6, choices=("_first", "_last"))
                if "mode" in opts:
                    _str(opts["mode"], _key(fpath, "mode"), 6, choices=("min", "max", "avg", "sum", "median"))
            elif opts is not None:
                _str(opts, fpath, 4, choices=("asc", "desc"))
            out.append(item if opts is None else {name: opts if isinstance(opts, str) else dict(opts)})
        return out

    def source(self, spec, path):
        """`true`/`false`, a field, a list of fields, or {"includes": [...], "excludes": [...]} (no wildcards)."""
        def fields(x, p):
            names = x if isinstance(x, list) else [x]
            for i, name in enumerate(_list(names, p, 20, 0)):
                q = f"{p}[{i}]" if isinstance(x, list) else p
                if not isinstance(name, str) or name not in self.types:
                    raise QueryRejected(q, f"unknown field {name!r} in index {self.index!r}")
            return list(x) if isinstance(x, list) else x
        if isinstance(spec, bool):
            return spec
        if isinstance(spec, dict):
            _only(spec, path, ("includes", "excludes"), "_source")
            return {k: fields(v, _key(path, k)) for k, v in spec.items()}
        return fields(spec, path)

    def highlight(self, spec, path):
        """Highlighting of text fields with bounded fragment sizes and counts."""
        opts = ("fragment_size", "number_of_fragments", "pre_tags", "post_tags", "require_field_match", "order",
                "no_match_size", "type")

        def options(o, p, allowed):
            _only(o, p, allowed, "highlight")
            for k, v in o.items():
                q = _key(p, k)
                if k in ("fragment_size", "no_match_size"):
                    _int(v, q, 0, 2_000)
                elif k == "number_of_fragments":
                    _int(v, q, 0, 10)
                elif k in ("pre_tags", "post_tags"):
                    for j, tag in enumerate(_list(v, q, 5)):
                        _str(tag, f"{q}[{j}]", 32)
                elif k == "require_field_match":
                    _bool(v, q)
                elif k == "order":
                    _str(v, q, 5, choices=("score", "none"))
                elif k == "type":
                    _str(v, q, 7, choices=("unified", "plain"))
            return dict(o)
        out = options(spec, path, opts + ("fields",))
        if "fields" not in spec:
            raise QueryRejected(path, "highlight needs 'fields'")
        fpath = _key(path, "fields")
        items = spec["fields"]
        pairs = [_single(x, f"{fpath}[{i}]", "a highlight field") for i, x in enumerate(_list(items, fpath, 5))] \
            if isinstance(items, list) else list(_obj(items, fpath).items())
        if not pairs:
            raise QueryRejected(fpath, "highlight needs at least one field")
        for name, o in pairs:
            self.field(name, _key(fpath, name), ("text",), "highlight")
            options(_obj(o, _key(fpath, name)), _key(fpath, name), opts)
        out["fields"] = {name: dict(o) for name, o in pairs}
        return out

    # ---- aggregations -------------------------------------------------------------------------------------------
    def aggs(self, spec, path, level, buckets_above):
        """`{name: {<type>: {...}, "aggs": {...}}}`; nesting, total count and the bucket product are bounded."""
        if level > MAX_AGG_DEPTH:
            raise QueryRejected(path, f"aggregations nested deeper than {MAX_AGG_DEPTH} levels")
        out = {}
        for name, agg in _obj(spec, path).items():
            p = _key(path, name)
            _str(name, p, 64, r"[^\[\]>]+")
            self.aggs_seen += 1
            if self.aggs_seen > MAX_AGGS:
                raise QueryRejected(p, f"too many aggregations (more than {MAX_AGGS})")
            _obj(agg, p)
            subs = [k for k in agg if k in ("aggs", "aggregations")]
            kinds = [k for k in agg if k not in ("aggs", "aggregations")]
            if len(kinds) != 1 or len(subs) > 1:
                raise QueryRejected(p, "an aggregation needs exactly one type (and at most one 'aggs')")
            kind = kinds[0]
            handler = getattr(self, "a_" + kind, None)
            if handler is None:
                reason = WHY_NOT.get(kind, f"unknown or disallowed aggregation {kind!r}; allowed: " + ", ".join(
                    n[2:] for n in dir(self) if n.startswith("a_")))
                raise QueryRejected(_key(p, kind), reason)
            body, buckets = handler(agg[kind], _key(p, kind))
            total = buckets_above * buckets
            if total > MAX_TOTAL_BUCKETS:
                raise QueryRejected(_key(p, kind), f"up to {total} buckets in total (limit {MAX_TOTAL_BUCKETS})")
            out[name] = {kind: body}
            if subs:
                if kind not in BUCKET_AGGS:
                    raise QueryRejected(_key(p, subs[0]), f"a {kind} aggregation cannot have sub-aggregations")
                out[name]["aggs"] = self.aggs(agg[subs[0]], _key(p, subs[0]), level + 1, total)
        return out

    def _agg_field(self, spec, path, kinds, agg, extra=()):
        _only(spec, path, ("field",) + tuple(extra), agg)
        if "field" not in spec:
            raise QueryRejected(path, f"{agg} needs 'field'")
        return self.field(spec["field"], _key(path, "field"), kinds, agg, searched=False)

    def _order(self, spec, path):
        items = spec if isinstance(spec, list) else [spec]
        for i, item in enumerate(_list(items, path, 2)):
            key, direction = _single(item, f"{path}[{i}]" if isinstance(spec, list) else path, "an order")
            _str(key, path, 6, choices=("_count", "_key"))
            _str(direction, _key(path, key), 4, choices=("asc", "desc"))

    def a_terms(self, spec, path):
        self._agg_field(spec, path, EXACT, "terms", ("size", "min_doc_count", "order"))
        size = _int(spec.get("size", 10), _key(path, "size"), 1, MAX_BUCKETS)
        if "min_doc_count" in spec:
            _int(spec["min_doc_count"], _key(path, "min_doc_count"), 0, 10**6)
        if "order" in spec:
            self._order(spec["order"], _key(path, "order"))
        return dict(spec), size

    def a_date_histogram(self, spec, path):
        extra = ("calendar_interval", "fixed_interval", "format", "min_doc_count", "time_zone", "order")
        self._agg_field(spec, path, ("date",), "date_histogram", extra)
        if ("calendar_interval" in spec) == ("fixed_interval" in spec):
            raise QueryRejected(path, "date_histogram needs exactly one of calendar_interval or fixed_interval")
        if "calendar_interval" in spec:
            _str(spec["calendar_interval"], _key(path, "calendar_interval"), 8, choices=CALENDAR_INTERVALS)
        else:   # whole days only: finer intervals over years of data would make too many buckets
            _str(spec["fixed_interval"], _key(path, "fixed_interval"), 5, r"[1-9]\d{0,3}d")
        if "format" in spec:
            _formats(spec["format"], _key(path, "format"))
        if "time_zone" in spec:
            _time_zone(spec["time_zone"], _key(path, "time_zone"))
        if "min_doc_count" in spec:
            _int(spec["min_doc_count"], _key(path, "min_doc_count"), 0, 10**6)
        if "order" in spec:
            self._order(spec["order"], _key(path, "order"))
        return dict(spec), MAX_BUCKETS       # the real count depends on the data; count it as one full page

    def a_histogram(self, spec, path):
        self._agg_field(spec, path, ("numeric",), "histogram", ("interval", "min_doc_count", "order"))
        if "interval" not in spec:
            raise QueryRejected(path, "histogram needs 'interval'")
        _num(spec["interval"], _key(path, "interval"), 1, 1e12)
        if "min_doc_count" in spec:
            _int(spec["min_doc_count"], _key(path, "min_doc_count"), 0, 10**6)
        if "order" in spec:
            self._order(spec["order"], _key(path, "order"))
        return dict(spec), MAX_BUCKETS

    def a_range(self, spec, path):
        kind = self._agg_field(spec, path, ("numeric", "date"), "range", ("ranges", "format", "keyed"))
        if "ranges" not in spec:
            raise QueryRejected(path, "range needs 'ranges'")
        formats = _formats(spec["format"], _key(path, "format")).split("||") if "format" in spec else None
        rpath = _key(path, "ranges")
        for i, r in enumerate(_list(spec["ranges"], rpath, MAX_BUCKETS)):
            _only(r, f"{rpath}[{i}]", ("from", "to", "key"), "a range")
            if not ("from" in r or "to" in r):
                raise QueryRejected(f"{rpath}[{i}]", "a range needs 'from' or 'to'")
            for k in ("from", "to"):
                if k in r:
                    self.value(r[k], f"{rpath}[{i}].{k}", kind, spec["field"], formats)
            if "key" in r:
                _str(r["key"], f"{rpath}[{i}].key", 64)
        if "keyed" in spec:
            _bool(spec["keyed"], _key(path, "keyed"))
        return dict(spec), len(spec["ranges"])

    def a_cardinality(self, spec, path):
        self._agg_field(spec, path, EXACT, "cardinality", ("precision_threshold",))
        if "precision_threshold" in spec:
            _int(spec["precision_threshold"], _key(path, "precision_threshold"), 0, 40_000)
        return dict(spec), 1

    def a_min(self, spec, path, agg="min", kinds=("numeric", "date")):
        self._agg_field(spec, path, kinds, agg)
        return dict(spec), 1

    def a_max(self, spec, path):
        return self.a_min(spec, path, "max")

    def a_avg(self, spec, path):
        return self.a_min(spec, path, "avg", ("numeric",))

    def a_sum(self, spec, path):
        return self.a_min(spec, path, "sum", ("numeric",))

    def a_stats(self, spec, path):
        return self.a_min(spec, path, "stats", ("numeric",))

    def a_value_count(self, spec, path):
        return self.a_min(spec, path, "value_count", EXACT)

    def a_top_hits(self, spec, path):
        _only(spec, path, ("size", "from", "sort", "_source"), "top_hits")
        out = {"size": _int(spec.get("size", 3), _key(path, "size"), 1, MAX_TOP_HITS)}
        if "from" in spec:        # Elasticsearch caps from + size of inner hits at 100 (max_inner_result_window)
            out["from"] = _int(spec["from"], _key(path, "from"), 0, 100 - out["size"])
        if "sort" in spec:
            out["sort"] = self.sort(spec["sort"], _key(path, "sort"))
        if "_source" in spec:
            out["_source"] = self.source(spec["_source"], _key(path, "_source"))
        return out, 1

    def a_filter(self, spec, path):
        return self.query(spec, path), 1
