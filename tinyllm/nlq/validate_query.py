"""The query half of the safety gate (`validate.py` is the entry point): value checks and one method per clause.

Each `q_<type>` method accepts exactly the options listed in it and returns a normalised copy of its clause.
"""
import datetime
import math
import re
import zoneinfo

from . import schema

MAX_DEPTH = 20                 # JSON nesting of the whole body
MAX_CLAUSES = 100              # query clauses in the whole body
MAX_TERMS = 100                # values in a terms/ids list
MAX_STRING = 1_000             # characters in one query string
BODY_KEYS = ("size", "from", "aggs", "aggregations", "sort", "_source", "highlight", "track_total_hits")

WHY_NOT = {   # reasons for well-known constructs outside the allow-list
    "script": "scripts are not allowed", "script_fields": "scripts are not allowed",
    "script_score": "scripts are not allowed", "function_score": "scripts and score functions are not allowed",
    "_script": "scripts are not allowed", "runtime_mappings": "runtime mappings are not allowed",
    "id": "stored search templates are not allowed", "params": "search templates are not allowed",
    "source": "search templates are not allowed", "query_string": "query_string is not allowed: its own syntax "
    "bypasses the field checks (use match, match_phrase or multi_match)",
    "simple_query_string": "simple_query_string is not allowed (use match or multi_match)",
    "regexp": "regexp is not allowed: regular expressions can be arbitrarily expensive (use prefix or wildcard)",
    "knn": "knn is not allowed in the query language", "pit": "point-in-time is not allowed",
    "stored_fields": "stored_fields is not allowed (use _source)", "docvalue_fields": "docvalue_fields is not allowed",
}
DATE_MATH = r"(?:[+-]\d{1,4}[yMwdhHms])*(?:/[yMwdhHms])?"
DATE_ANCHORS = {  # date format name -> what an anchor in that format looks like
    "yyyy": r"\d{4}", "year": r"\d{4}", "yyyy-MM": r"\d{4}-\d{2}", "year_month": r"\d{4}-\d{2}",
    "yyyy-MM-dd": r"\d{4}-\d{2}-\d{2}", "date": r"\d{4}-\d{2}-\d{2}", "year_month_day": r"\d{4}-\d{2}-\d{2}",
    "strict_date_optional_time": r"\d{4}(?:-\d{2}(?:-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"
                                 r"(?:Z|[+-]\d{2}:\d{2})?)?)?)?",
    "epoch_millis": r"-?\d{1,15}",
}


class QueryRejected(ValueError):
    """A body the gate refuses; `.path` is the JSON path of the offending part, `.reason` says why."""

    def __init__(self, path, reason):
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


def _key(path, key):
    return f"{path}.{key}" if re.fullmatch(r"[A-Za-z_][\w.]*", key) else f"{path}[{key!r}]"


def _kind(es_type):
    if es_type in schema.NUMERIC_TYPES:
        return "numeric"
    return es_type if es_type in ("text", "keyword", "date") else "other"


def _depth_ok(body):
    """Iterative depth check first, so that the recursive walk below can never hit Python's recursion limit."""
    stack = [(body, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > MAX_DEPTH:
                return False
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return True


def _obj(x, path, what="an object"):
    if not isinstance(x, dict):
        raise QueryRejected(path, f"must be {what}, got {type(x).__name__}")
    for k in x:
        if not isinstance(k, str):
            raise QueryRejected(path, f"keys must be strings, got {k!r}")
    return x


def _only(x, path, allowed, what):
    """Reject every key of dict `x` outside `allowed`, with a specific reason for known dangerous ones."""
    for k in _obj(x, path):
        if k not in allowed:
            reason = WHY_NOT.get(k, f"unknown option {k!r} for {what}; allowed: {', '.join(sorted(allowed))}")
            raise QueryRejected(_key(path, k), reason)
    return x


def _single(x, path, what):
    """A one-key object such as {"term": {...}} -> (key, value)."""
    if len(_obj(x, path)) != 1:
        raise QueryRejected(path, f"{what} must have exactly one key, got {len(x)}")
    return next(iter(x.items()))


def _int(x, path, lo, hi):
    if not isinstance(x, int) or isinstance(x, bool) or not lo <= x <= hi:
        raise QueryRejected(path, f"must be an integer in [{lo}, {hi}], got {x!r}")
    return x


def _num(x, path, lo=-1e15, hi=1e15):
    if not isinstance(x, (int, float)) or isinstance(x, bool) or not math.isfinite(x) or not lo <= x <= hi:
        raise QueryRejected(path, f"must be a number in [{lo:g}, {hi:g}], got {x!r}")
    return x


def _str(x, path, max_len=MAX_STRING, pattern=None, choices=None):
    if not isinstance(x, str) or not 0 < len(x) <= max_len:
        raise QueryRejected(path, f"must be a non-empty string of at most {max_len} characters, got {x!r}")
    if choices is not None and x not in choices:
        raise QueryRejected(path, f"must be one of {', '.join(choices)}, got {x!r}")
    if pattern is not None and not re.fullmatch(pattern, x):
        raise QueryRejected(path, f"{x!r} is not allowed here (expected the form {pattern})")
    return x


def _bool(x, path):
    if not isinstance(x, bool):
        raise QueryRejected(path, f"must be true or false, got {x!r}")
    return x


def _list(x, path, max_len, min_len=1):
    if not isinstance(x, list) or not min_len <= len(x) <= max_len:
        raise QueryRejected(path, f"must be a list of {min_len} to {max_len} items, got {x!r:.60}")
    return x


def _formats(x, path):
    for name in _str(x, path, 200).split("||"):
        if name not in DATE_ANCHORS:
            raise QueryRejected(path, f"unknown date format {name!r}; allowed: {', '.join(DATE_ANCHORS)}")
    return x


def _time_zone(x, path):
    """A UTC offset like +01:00, or an IANA zone name known to this Python (e.g. Europe/Berlin)."""
    if re.fullmatch(r"[+-]\d{2}:\d{2}|Z|UTC", _str(x, path, 64)):
        return x
    try:
        if not re.fullmatch(r"[A-Za-z_]+(/[A-Za-z0-9_+-]+){0,2}", x):
            raise ValueError(x)
        zoneinfo.ZoneInfo(x)
    except (ValueError, OSError, zoneinfo.ZoneInfoNotFoundError):
        raise QueryRejected(path, f"unknown time zone {x!r}") from None
    return x


def _date_value(x, path, formats):
    """A date literal with optional date math: `now-1y/d`, `2024-05-01||+1M`, or an anchor in one of `formats`."""
    if isinstance(x, int) and not isinstance(x, bool) and "epoch_millis" in formats:
        return x
    anchor, math_ = (x, "") if not isinstance(x, str) else (
        ("now", x[3:]) if x.startswith("now") else (x.split("||", 1) + [""])[:2])
    ok = isinstance(x, str) and len(x) <= 64 and re.fullmatch(DATE_MATH, math_) is not None and (
        anchor == "now" or any(re.fullmatch(DATE_ANCHORS[f], anchor) for f in formats))
    if ok and anchor != "now" and re.fullmatch(r"\d{4}-\d{2}.*", anchor):
        try:
            datetime.date.fromisoformat(anchor[:10] if len(anchor) >= 10 else anchor + "-01")
        except ValueError:
            ok = False
    if not ok:
        raise QueryRejected(path, f"{x!r} is not a date in format {'||'.join(formats)} (date math like "
                                  f"now-1y/d or 2024-01-01||+1M is allowed; pass 'format' for other shapes)")
    return x


class QueryGate:
    """One validation pass over one body: knows the index's fields and counts query clauses."""

    def __init__(self, index, mappings):
        self.index, self.mappings = index, mappings
        self.info = schema.field_info(index, mappings)          # read once: the walk asks about fields often
        self.types = {name: prop.get("type", "object") for name, prop in self.info.items()}
        self.clauses = 0

    # ---- fields and values --------------------------------------------------------------------------------------
    def field(self, name, path, kinds, clause, searched=True):
        """Check that `name` is a mapped field whose kind suits `clause`; returns its kind."""
        if not isinstance(name, str) or name not in self.types:
            known = ", ".join(self.types)
            raise QueryRejected(path, f"unknown field {name!r} in index {self.index!r}; fields: {known}")
        kind = _kind(self.types[name])
        if kind not in kinds:
            raise QueryRejected(path, f"{clause} needs a {' or '.join(kinds)} field, but {name!r} is {kind}"
                                + (" (use its .keyword sub-field)" if f"{name}.keyword" in self.types else ""))
        if searched and self.info[name].get("index", True) is False:
            raise QueryRejected(path, f"field {name!r} is not indexed, so {clause} cannot search it")
        return kind

    def value(self, x, path, kind, name, formats=None, integral=False):
        """An exact value for a keyword, numeric or date field (term, terms, range bounds)."""
        if kind == "keyword":
            return _str(x, path, 512)
        if kind == "numeric":
            if integral and self.types[name] in ("integer", "long", "short", "byte"):
                return _int(x, path, -2**31, 2**31 - 1)
            return _num(x, path)
        return _date_value(x, path, formats or self.info[name].get("format", schema.DEFAULT_DATE_FORMAT).split("||"))

    # ---- queries ------------------------------------------------------------------------------------------------
    def query(self, q, path):
        """One clause `{type: spec}` -> its normalised copy, checked by the method `q_<type>`."""
        self.clauses += 1
        if self.clauses > MAX_CLAUSES:
            raise QueryRejected(path, f"too many query clauses (more than {MAX_CLAUSES})")
        for key in _obj(q, path):
            if key in BODY_KEYS and len(q) > 1:     # the lecture's mistake: size/aggs nested inside query
                raise QueryRejected(_key(path, key), f"{key!r} belongs at the top level of the body, not in a query")
        kind, spec = _single(q, path, "a query")
        handler = getattr(self, "q_" + kind, None)
        if handler is None:
            reason = WHY_NOT.get(kind, f"unknown or disallowed query type {kind!r}; allowed: " + ", ".join(
                n[2:] for n in dir(self) if n.startswith("q_")))
            raise QueryRejected(_key(path, kind), reason)
        return {kind: handler(spec, _key(path, kind))}

    def _field_clause(self, spec, path, clause, kinds, main, options):
        """The `{field: value}` / `{field: {main: value, option: ...}}` shape shared by many queries."""
        name, opts = _single(spec, path, clause)
        fpath = _key(path, name)
        kind = self.field(name, fpath, kinds, clause)
        if not isinstance(opts, dict):
            opts = {main: opts}
            fpath_main = fpath
        else:
            _only(opts, fpath, (main,) + tuple(options), clause)
            if main not in opts:
                raise QueryRejected(fpath, f"{clause} needs {main!r}")
            fpath_main = _key(fpath, main)
        return name, kind, opts, fpath, fpath_main

    def _text_opts(self, opts, fpath):
        checks = {"operator": lambda v, p: _str(v.lower() if isinstance(v, str) else v, p, 3, choices=("and", "or")),
                  "fuzziness": lambda v, p: _str(str(v), p, 16, r"AUTO(:\d,\d)?|[012]"),
                  "minimum_should_match": lambda v, p: _str(str(v), p, 8, r"-?\d{1,3}%?"),
                  "boost": lambda v, p: _num(v, p, 0, 1e4), "prefix_length": lambda v, p: _int(v, p, 0, 10),
                  "max_expansions": lambda v, p: _int(v, p, 1, 50), "slop": lambda v, p: _int(v, p, 0, 20),
                  "zero_terms_query": lambda v, p: _str(v, p, 4, choices=("none", "all")),
                  "tie_breaker": lambda v, p: _num(v, p, 0, 1), "lenient": _bool, "transpositions": _bool,
                  "case_insensitive": _bool}
        for k, v in opts.items():
            if k in checks and not isinstance(v, (dict, list)):
                checks[k](v, _key(fpath, k))
            elif k in checks:
                raise QueryRejected(_key(fpath, k), "must be a plain value")
        return dict(opts)

    def q_match(self, spec, path):
        opts = ("operator", "fuzziness", "minimum_should_match", "boost", "prefix_length", "max_expansions",
                "zero_terms_query", "lenient")
        name, _, opts, fpath, mpath = self._field_clause(spec, path, "match", ("text",), "query", opts)
        _str(opts["query"], mpath)
        return {name: self._text_opts(opts, fpath)}

    def q_match_phrase(self, spec, path):
        name, _, opts, fpath, mpath = self._field_clause(spec, path, "match_phrase", ("text",), "query",
                                                         ("slop", "boost", "zero_terms_query"))
        _str(opts["query"], mpath)
        return {name: self._text_opts(opts, fpath)}

    def q_multi_match(self, spec, path):
        allowed = ("query", "fields", "type", "operator", "fuzziness", "minimum_should_match", "tie_breaker",
                   "boost", "slop", "prefix_length", "max_expansions", "zero_terms_query", "lenient")
        _only(spec, path, allowed, "multi_match")
        for required in ("query", "fields"):
            if required not in spec:
                raise QueryRejected(path, f"multi_match needs {required!r}")
        _str(spec["query"], _key(path, "query"))
        for i, f in enumerate(_list(spec["fields"], _key(path, "fields"), 10)):
            name = _str(f, f"{path}.fields[{i}]", 64, r"[\w.]+(\^\d{1,3}(\.\d{1,3})?)?").split("^")[0]
            self.field(name, f"{path}.fields[{i}]", ("text",), "multi_match")
        mtype = spec.get("type", "best_fields")
        _str(mtype, _key(path, "type"), 16, choices=("best_fields", "most_fields", "cross_fields", "phrase",
                                                     "phrase_prefix", "bool_prefix"))
        if "fuzziness" in spec and mtype in ("cross_fields", "phrase", "phrase_prefix"):
            raise QueryRejected(_key(path, "fuzziness"), f"fuzziness is not supported by multi_match type {mtype}")
        if "slop" in spec and mtype not in ("phrase", "phrase_prefix"):
            raise QueryRejected(_key(path, "slop"), f"slop needs multi_match type phrase, not {mtype}")
        return self._text_opts(spec, path)

    def q_term(self, spec, path):
        name, kind, opts, fpath, mpath = self._field_clause(spec, path, "term", ("keyword", "numeric", "date"),
                                                            "value", ("boost", "case_insensitive"))
        self.value(opts["value"], mpath, kind, name, integral=True)
        if "case_insensitive" in opts and kind != "keyword":
            raise QueryRejected(_key(fpath, "case_insensitive"), "case_insensitive only applies to keyword fields")
        return {name: self._text_opts(opts, fpath) if len(opts) > 1 else opts["value"]}

    def q_terms(self, spec, path):
        fields = [k for k in _obj(spec, path) if k != "boost"]
        if len(fields) != 1:
            raise QueryRejected(path, f"terms must name exactly one field, got {len(fields)}")
        name = fields[0]
        fpath = _key(path, name)
        kind = self.field(name, fpath, ("keyword", "numeric", "date"), "terms")
        for i, v in enumerate(_list(spec[name], fpath, MAX_TERMS)):
            self.value(v, f"{fpath}[{i}]", kind, name, integral=True)
        if "boost" in spec:
            _num(spec["boost"], _key(path, "boost"), 0, 1e4)
        return dict(spec)

    def q_range(self, spec, path):
        bounds = ("gte", "gt", "lte", "lt")
        name, opts = _single(spec, path, "range")
        fpath = _key(path, name)
        kind = self.field(name, fpath, ("numeric", "date"), "range")
        _only(opts, fpath, bounds + ("format", "time_zone", "boost"), "range")
        if not any(b in opts for b in bounds) or ("gt" in opts and "gte" in opts) or ("lt" in opts and "lte" in opts):
            raise QueryRejected(fpath, "range needs at most one lower (gt/gte) and one upper (lt/lte) bound, "
                                       "and at least one of them")
        for k in ("format", "time_zone"):
            if k in opts and kind != "date":
                raise QueryRejected(_key(fpath, k), f"{k} only applies to date fields")
        formats = _formats(opts["format"], _key(fpath, "format")).split("||") if "format" in opts else None
        if "time_zone" in opts:
            _time_zone(opts["time_zone"], _key(fpath, "time_zone"))
        for b in bounds:
            if b in opts:
                self.value(opts[b], _key(fpath, b), kind, name, formats)
        if "boost" in opts:
            _num(opts["boost"], _key(fpath, "boost"), 0, 1e4)
        return {name: dict(opts)}

    def q_exists(self, spec, path):
        _only(spec, path, ("field",), "exists")
        if "field" not in spec:
            raise QueryRejected(path, "exists needs 'field'")
        self.field(spec["field"], _key(path, "field"), ("text", "keyword", "numeric", "date"), "exists", False)
        return {"field": spec["field"]}

    def q_bool(self, spec, path):
        _only(spec, path, ("must", "filter", "should", "must_not", "minimum_should_match", "boost"), "bool")
        out = {}
        for occur in ("must", "filter", "should", "must_not"):
            if occur in spec:
                clauses = spec[occur] if isinstance(spec[occur], list) else [spec[occur]]
                p = _key(path, occur)
                out[occur] = [self.query(c, f"{p}[{i}]" if isinstance(spec[occur], list) else p)
                              for i, c in enumerate(clauses)]
        if "minimum_should_match" in spec:
            out["minimum_should_match"] = _str(str(spec["minimum_should_match"]),
                                               _key(path, "minimum_should_match"), 8, r"-?\d{1,3}%?")
        if "boost" in spec:
            out["boost"] = _num(spec["boost"], _key(path, "boost"), 0, 1e4)
        return out

    def q_ids(self, spec, path):
        _only(spec, path, ("values",), "ids")
        for i, v in enumerate(_list(spec.get("values"), _key(path, "values"), MAX_TERMS)):
            _str(v, f"{path}.values[{i}]", 64)
        return {"values": list(spec["values"])}

    def q_prefix(self, spec, path):
        name, _, opts, fpath, mpath = self._field_clause(spec, path, "prefix", ("keyword", "text"), "value",
                                                         ("boost", "case_insensitive"))
        _str(opts["value"], mpath, 256)
        return {name: self._text_opts(opts, fpath)}

    def q_fuzzy(self, spec, path):
        name, _, opts, fpath, mpath = self._field_clause(
            spec, path, "fuzzy", ("keyword", "text"), "value",
            ("fuzziness", "prefix_length", "max_expansions", "transpositions", "boost"))
        _str(opts["value"], mpath, 256)
        return {name: self._text_opts(opts, fpath)}

    def q_wildcard(self, spec, path):
        name, _, opts, fpath, mpath = self._field_clause(spec, path, "wildcard", ("keyword",), "value",
                                                         ("boost", "case_insensitive"))
        _str(opts["value"], mpath, 128, r"[^*?][^\\]*")     # no leading wildcard: that scans every term
        return {name: self._text_opts(opts, fpath)}

    def q_match_all(self, spec, path):
        _only(spec, path, ("boost",), "match_all")
        return {k: _num(v, _key(path, k), 0, 1e4) for k, v in spec.items()}

    def q_match_none(self, spec, path):
        return dict(_only(spec, path, (), "match_none"))
