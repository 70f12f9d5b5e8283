"""The intermediate representation (IR): a flat token sequence the model writes instead of raw Query DSL.

    IR     := CLAUSE* [msm INT] (sort f:F asc|desc)* [size INT] [from INT] [tth] [AGG] (src f:F)* (hl f:F)* <end>
    CLAUSE := OCC OP [f:F] ARGS            OCC = <q> (the whole query) | <must> | <filter> | <should> | <must_not>
    VALUE  := PIECE+ ;                     PIECE = @i (copy question word i) | =literal (from a closed vocabulary)

Field names are single tokens (`f:author`), so the decoder can only pick mapped fields; values are copied from the
question (`@3 @4` = words 3..4 with the question's own spacing) or chosen from literals seen in training (dates,
date math, category codes). `compile_ir` (compiler.py) turns it into Query DSL; `parse_dsl` here goes back.
"""
import re

# "Zhou's" -> Zhou ' s; "don't" and "covid-19" stay whole; a range of small numbers is split ("1-3" -> 1 - 3) so
# each bound can be copied, while a date ("2024-03-15") stays one word; a colon joins only digits ("10:30"), so
# a field prefix comes off its value ("title:mamba" -> title : mamba) and the value can be copied
WORD_RE = re.compile(r"\b\d{1,3}(?=-\d+\b)|\w+(?:[-./]\w+|(?<=\d):\d+|'(?!s\b)\w+)*|[^\w\s]")
OCCS = ("<q>", "<must>", "<filter>", "<should>", "<must_not>")
BOOL_OCC = {"<must>": "must", "<filter>": "filter", "<should>": "should", "<must_not>": "must_not"}
FIELD_OPS = ("term", "terms", "match", "match_phrase", "range", "exists", "prefix")
OPS = FIELD_OPS + ("multi_match", "match_all")
BOUNDS = ("gte", "gt", "lte", "lt")
METRICS = ("cardinality", "min", "max", "avg", "sum", "stats")
AGGS = ("terms", "date_histogram", "histogram") + METRICS
END, SEP = "<end>", ";"
AGG_NAME = "a"


class Unsupported(ValueError):
    """A DSL body the IR cannot express (the example is skipped when preparing training data)."""


def words(question):
    """[(word, start, end)] of the question: the units that copy tokens @i point at."""
    return [(m.group(), m.start(), m.end()) for m in WORD_RE.finditer(question)]


def segment_value(value, question, literals=None, fold=False):
    """Value string -> pieces ['@i', ..., '=lit', ...]: longest copies of question words, literals in between.

    fold=True matches ignoring case (for analysed text fields, where the question's casing gives the same hits)."""
    low = value.lower() if fold else value
    ws = words(question)
    pieces, p, lit, last = [], 0, "", None
    while p < len(value):
        best = None
        if p == 0 or not (value[p - 1].isalnum() and value[p].isalnum()):
            for i, (_, s, _) in enumerate(ws):
                if not lit and last is not None and i == last + 1 and s != ws[last][2]:
                    continue            # join_pieces would put the question's gap between adjacent copies
                for j in range(len(ws) - 1, i - 1, -1):
                    text = question[s:ws[j][2]]
                    if not any(ch.isalnum() for ch in text):
                        continue        # bare punctuation ("-", ".") is spelled as a literal, never copied
                    end = p + len(text)
                    if low.startswith(text.lower() if fold else text, p) and (
                            end == len(value) or not (value[end - 1].isalnum() and value[end].isalnum())
                            or _math_number(value, p, end)):
                        if best is None or len(text) > best[2]:
                            best = (i, j, len(text))
                        break
        if best is None:
            lit += value[p]
            p += 1
            continue
        if lit:
            pieces.append("=" + lit)
            lit, last = "", None
        pieces.extend(f"@{k}" for k in range(best[0], best[1] + 1))
        p, last = p + best[2], best[1]
    if lit:
        pieces.append("=" + lit)
    if literals is not None:
        for piece in pieces:
            if piece.startswith("=") and piece not in literals:
                raise Unsupported(f"literal {piece!r} not in the vocabulary")
    return pieces


def _math_number(value, p, end):
    """True when value[p:end] is the number of a date-math shift ("2026-07-01||-45d/d"): copied from the
    question ("past 45 days") although a unit letter follows it."""
    return value[p:end].isdigit() and value[p - 3:p] in ("||-", "||+") and value[end] in "dwMy"


def join_pieces(pieces, question):
    """Inverse of segment_value: consecutive copies keep the question's text between them."""
    ws, out, prev = words(question), [], None
    for piece in pieces:
        if piece.startswith("@"):
            i = int(piece[1:])
            if i >= len(ws):
                raise ValueError(f"copy token {piece} points past the question's {len(ws)} words")
            out.append(question[ws[prev][2]:ws[i][2]] if prev is not None and i == prev + 1 else ws[i][0])
            prev = i
        else:
            out.append(piece[1:])
            prev = None
    return "".join(out)


def _value(v, question, literals, fold=False):
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise Unsupported(f"value {v!r} is not a string or integer")
    return segment_value(str(v), question, literals, fold) + [SEP]


def _single(d, what):
    if not isinstance(d, dict) or len(d) != 1:
        raise Unsupported(f"{what} must be an object with one key")
    return next(iter(d.items()))


def _clause(c, question, lit):
    op, spec = _single(c, "clause")
    if op == "match_all":
        if spec:
            raise Unsupported("match_all with options")
        return ["match_all"]
    if op == "multi_match":
        extra = set(spec) - {"query", "fields", "type"}
        if extra or not isinstance(spec.get("fields"), list):
            raise Unsupported(f"multi_match keys {sorted(extra)}")
        out = ["multi_match"] + _value(spec["query"], question, lit, True) + [f"f:{f}" for f in spec["fields"]]
        return out + ([f"type:{spec['type']}"] if "type" in spec else [])
    if op == "exists":
        if set(spec) != {"field"}:
            raise Unsupported("exists keys")
        return ["exists", f"f:{spec['field']}"]
    if op not in FIELD_OPS:
        raise Unsupported(f"clause {op!r}")
    field, arg = _single(spec, op)
    out = [op, f"f:{field}"]
    if op == "terms":
        if not isinstance(arg, list) or not arg:
            raise Unsupported("terms needs a list")
        return out + [t for v in arg for t in _value(v, question, lit)]
    if op == "range":
        if not isinstance(arg, dict) or set(arg) - set(BOUNDS) - {"format"} or not set(arg) & set(BOUNDS):
            raise Unsupported("range keys")
        for b in BOUNDS:
            if b in arg:
                out += [b] + _value(arg[b], question, lit)
        return out + ([f"fmt:{arg['format']}"] if "format" in arg else [])
    if isinstance(arg, dict):
        extra = set(arg) - {"query", "operator", "fuzziness", "value"}
        if extra or ("query" in arg) == ("value" in arg):
            raise Unsupported(f"{op} options {sorted(extra)}")
        out += _value(arg.get("query", arg.get("value")), question, lit, op.startswith("match"))
        if arg.get("operator") not in (None, "or", "and") or arg.get("fuzziness") not in (None, "AUTO"):
            raise Unsupported("operator/fuzziness value")
        return out + (["and"] if arg.get("operator") == "and" else []) + (["fuzzy"] if "fuzziness" in arg else [])
    return out + _value(arg, question, lit, op.startswith("match"))


def _query(q, question, lit):
    op, spec = _single(q, "query")
    if op != "bool":
        return ["<q>"] + _clause(q, question, lit)
    out = []
    extra = set(spec) - set(BOOL_OCC.values()) - {"minimum_should_match"}
    if extra:
        raise Unsupported(f"bool keys {sorted(extra)}")
    for occ_token, occ in BOOL_OCC.items():
        items = spec.get(occ, [])
        for c in items if isinstance(items, list) else [items]:
            out += [occ_token] + _clause(c, question, lit)
    if not out:
        raise Unsupported("empty bool")
    if "minimum_should_match" in spec:
        out += ["msm"] + _value(spec["minimum_should_match"], question, lit)
    return out


def _sort(sort, question):
    out = []
    for s in sort if isinstance(sort, list) else [sort]:
        if isinstance(s, str):
            field, order = s, "asc"
        else:
            field, o = _single(s, "sort key")
            order = o if isinstance(o, str) else o.get("order", "asc") if isinstance(o, dict) and set(o) <= {
                "order"} else None
        if order not in ("asc", "desc"):
            raise Unsupported("sort order")
        out += ["sort", f"f:{field}", order]
    return out


def _aggs(aggs, question, lit):
    _, spec = _single(aggs, "aggs")
    sub = spec.get("aggs")
    kinds = [k for k in spec if k != "aggs"]
    if len(kinds) != 1 or kinds[0] not in AGGS:
        raise Unsupported(f"aggregation {kinds}")
    kind, p = kinds[0], spec[kinds[0]]
    out = [f"agg:{kind}", f"f:{p.get('field')}"]
    allowed = {"terms": {"field", "size"}, "date_histogram": {"field", "calendar_interval", "min_doc_count"},
               "histogram": {"field", "interval"}}.get(kind, {"field"})
    if set(p) - allowed:
        raise Unsupported(f"{kind} options {sorted(set(p) - allowed)}")
    if "size" in p:
        out += ["asize"] + _value(p["size"], question, lit)
    if "calendar_interval" in p:
        out += [f"ival:{p['calendar_interval']}"]
    if "min_doc_count" in p:
        out += ["mdc"] + _value(p["min_doc_count"], question, lit)
    if "interval" in p:
        out += ["hival"] + _value(p["interval"], question, lit)
    if sub is not None:
        if kind != "terms":
            raise Unsupported("sub-aggregation under a non-terms aggregation")
        _, th = _single(sub, "sub-aggs")
        k, t = _single(th, "sub-agg")
        if k != "top_hits" or set(t) - {"size", "sort", "_source"}:
            raise Unsupported("sub-aggregation other than top_hits")
        out += ["top_hits"] + (["size"] + _value(t["size"], question, lit) if "size" in t else [])
        out += _sort(t.get("sort", []), question) + _source(t.get("_source"), "tsrc")
    return out


def _source(src, token="src"):
    if src is None:
        return []
    if isinstance(src, str):
        src = [src]
    if not isinstance(src, list):
        raise Unsupported("_source must be a list of fields")
    return [t for f in src for t in (token, f"f:{f}")]


def parse_dsl(body, question, literals=None):
    """Search body -> IR tokens (raises Unsupported for bodies outside the IR). Values are segmented against
    `question`; with `literals`, only those literal pieces are allowed."""
    known = {"query", "aggs", "size", "from", "sort", "_source", "track_total_hits", "highlight"}
    if not isinstance(body, dict) or set(body) - known:
        raise Unsupported(f"top-level keys {sorted(set(body) - known) if isinstance(body, dict) else body}")
    out = _query(body["query"], question, literals) if "query" in body else []
    out += _sort(body.get("sort", []), question)
    for key, tok in (("size", "size"), ("from", "from")):
        if key in body:
            out += [tok] + _value(body[key], question, literals)
    if body.get("track_total_hits") not in (None, True):
        raise Unsupported("track_total_hits other than true")
    out += ["tth"] if body.get("track_total_hits") else []
    out += _aggs(body["aggs"], question, literals) if "aggs" in body else []
    out += _source(body.get("_source"))
    if "highlight" in body:
        fields = body["highlight"].get("fields") if isinstance(body["highlight"], dict) else None
        if set(body["highlight"]) != {"fields"} or not isinstance(fields, dict) or any(fields.values()):
            raise Unsupported("highlight other than {fields: {F: {}}}")
        out += [t for f in fields for t in ("hl", f"f:{f}")]
    return out + [END]
