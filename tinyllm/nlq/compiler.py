"""The deterministic IR -> Query DSL compiler (the inverse of `ir.parse_dsl`).

The model never writes JSON: it writes IR tokens (ir.py), and this file alone decides the DSL's shape, so every
output has one canonical form: one clause as the whole query or a bool with lists, `{F: {"order": D}}` sorts, and
one aggregation named "a" (the evaluation ignores aggregation names). Numeric fields get integer values.
"""
from . import dates, schema
from .ir import BOOL_OCC, BOUNDS, END, SEP, AGG_NAME, join_pieces


class _Reader:
    """A cursor over the IR tokens with the few look-ahead helpers the grammar needs."""

    def __init__(self, tokens, question, types):
        self.toks, self.i, self.question, self.types = list(tokens), 0, question, types

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else END

    def take(self, expected=None):
        tok = self.peek()
        if expected is not None and tok != expected:
            raise ValueError(f"IR: expected {expected!r} at token {self.i}, got {tok!r}")
        self.i += 1
        return tok

    def field(self):
        tok = self.take()
        if not tok.startswith("f:"):
            raise ValueError(f"IR: expected a field token at {self.i - 1}, got {tok!r}")
        return tok[2:]

    def value(self, field=None, integer=False):
        pieces = []
        while self.peek() != SEP:
            if self.peek() == END:
                raise ValueError("IR: value not terminated by ';'")
            pieces.append(self.take())
        self.take(SEP)
        text = join_pieces(pieces, self.question)
        if field is not None and self.types.get(field) == "date":
            text = dates.pad_day(text)
        numeric = integer or (field is not None and self.types.get(field) in schema.NUMERIC_TYPES)
        return int(text) if numeric and text.lstrip("-").isdigit() else text


def _clause(r):
    op = r.take()
    if op == "match_all":
        return {"match_all": {}}
    if op == "multi_match":
        spec = {"query": r.value()}
        spec["fields"] = []
        while r.peek().startswith("f:"):
            spec["fields"].append(r.field())
        if r.peek().startswith("type:"):
            spec["type"] = r.take()[5:]
        return {"multi_match": spec}
    if op == "exists":
        return {"exists": {"field": r.field()}}
    field = r.field()
    if op == "terms":
        values = [r.value(field)]
        while r.peek().startswith(("@", "=")):
            values.append(r.value(field))
        return {"terms": {field: values}}
    if op == "range":
        spec = {}
        while r.peek() in BOUNDS:
            b = r.take()
            spec[b] = r.value(field)
        if r.peek().startswith("fmt:"):
            spec["format"] = r.take()[4:]
        return {"range": {field: spec}}
    value = r.value(field)
    opts = {}
    if r.peek() == "and":
        r.take()
        opts["operator"] = "and"
    if r.peek() == "fuzzy":
        r.take()
        opts["fuzziness"] = "AUTO"
    return {op: {field: dict({"query": value}, **opts) if opts else value}}


def _sorts(r):
    out = []
    while r.peek() == "sort":
        r.take()
        field = r.field()
        out.append({field: {"order": r.take()}})
    return out


def compile_ir(tokens, question, index):
    """IR tokens (ending with <end>) + the question they copy from + index name -> a search body (dict)."""
    r = _Reader(tokens, question, schema.field_types(index))
    body, clauses = {}, []
    while r.peek().startswith("<") and r.peek() != END:
        occ = r.take()
        clauses.append((occ, _clause(r)))
    if clauses:
        if clauses[0][0] == "<q>":
            if len(clauses) != 1:
                raise ValueError("IR: <q> must be the only clause")
            body["query"] = clauses[0][1]
        else:
            bool_ = {}
            for occ, c in clauses:
                bool_.setdefault(BOOL_OCC[occ], []).append(c)
            body["query"] = {"bool": bool_}
    if r.peek() == "msm":
        r.take()
        body["query"]["bool"]["minimum_should_match"] = r.value(integer=True)
    sort = _sorts(r)
    if sort:
        body["sort"] = sort
    for key in ("size", "from"):
        if r.peek() == key:
            r.take()
            body[key] = r.value(integer=True)
    if r.peek() == "tth":
        r.take()
        body["track_total_hits"] = True
    if r.peek().startswith("agg:"):
        body["aggs"] = {AGG_NAME: _agg(r)}
    src = _source(r)
    if src:
        body["_source"] = src
    hl = {}
    while r.peek() == "hl":
        r.take()
        hl[r.field()] = {}
    if hl:
        body["highlight"] = {"fields": hl}
    r.take(END)
    if r.i != len(r.toks):
        raise ValueError(f"IR: {len(r.toks) - r.i} tokens after <end>")
    return body


def _source(r, token="src"):
    out = []
    while r.peek() == token:
        r.take()
        out.append(r.field())
    return out


def _agg(r):
    kind = r.take()[4:]
    p = {"field": r.field()}
    if r.peek() == "asize":
        r.take()
        p["size"] = r.value(integer=True)
    if r.peek().startswith("ival:"):
        p["calendar_interval"] = r.take()[5:]
    if r.peek() == "mdc":
        r.take()
        p["min_doc_count"] = r.value(integer=True)
    if r.peek() == "hival":
        r.take()
        p["interval"] = r.value(integer=True)
    spec = {kind: p}
    if r.peek() == "top_hits":
        r.take()
        th = {}
        if r.peek() == "size":
            r.take()
            th["size"] = r.value(integer=True)
        sort = _sorts(r)
        if sort:
            th["sort"] = sort
        src = _source(r, "tsrc")
        if src:
            th["_source"] = src
        spec["aggs"] = {"top": {"top_hits": th}}
    return spec
