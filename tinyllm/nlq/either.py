""""Either A or B" is an OR: a search for A alone that leaves B out becomes a `should` of both.

The teacher writes "with speech or audio in the title" as a `should` of two text clauses, one required, and the
student learns it; but a question worded a little off its forms ("papers mentioning either speech or audio in the
title") can come out as a search for "speech" alone, which drops half of what was asked. When the question says
"either A or B" (one word each), the body has a text clause whose whole query is A (or B) in a bool without a
`should`, and the other word is nowhere in the body, the clause becomes a `should` of A and B on the same field
with `minimum_should_match` 1: the only reading of the words that keeps both. Everything else is left as it is.
"""
import re

EITHER = re.compile(r"\beither\s+([^\W\d_][\w'-]*)\s+or\s+([^\W\d_][\w'-]*)", re.IGNORECASE)
TEXT_OPS = ("match", "match_phrase")


def pairs(question):
    """[(a, b)] lower-cased: the one-word alternatives "either a or b" of the question."""
    return [(a.lower(), b.lower()) for a, b in EITHER.findall(question)]


def text_clause(clause):
    """(op, field, query) when `clause` is one match/match_phrase of a plain query, else None."""
    if not isinstance(clause, dict) or len(clause) != 1:
        return None
    (op, spec), = clause.items()
    if op not in TEXT_OPS or not isinstance(spec, dict) or len(spec) != 1:
        return None
    (field, value), = spec.items()
    if isinstance(value, dict):
        if set(value) != {"query"}:
            return None
        value = value["query"]
    return (op, field, value) if isinstance(value, str) else None


def mentions(node, word):
    """True when any string value inside `node` (not a field name: "either volume or content") has `word`."""
    if isinstance(node, dict):
        return any(mentions(v, word) for v in node.values())
    if isinstance(node, list):
        return any(mentions(x, word) for x in node)
    return isinstance(node, str) and re.search(r"(?<!\w)" + re.escape(word) + r"(?!\w)", node.lower()) is not None


def either_or(body, question):
    """`body` with "either A or B" made a `should` of both words where the model searched for one of them."""
    query = body.get("query")
    if not isinstance(query, dict):
        return body
    for a, b in pairs(question):
        occs = query["bool"] if set(query) == {"bool"} else {"must": [query]}
        if "should" in occs:
            continue
        for occ in ("must", "filter"):
            clauses = occs.get(occ, [])
            clauses = clauses if isinstance(clauses, list) else [clauses]
            for k, c in enumerate(clauses):
                t = text_clause(c)
                if t is None or t[2].lower() not in (a, b):
                    continue
                other = b if t[2].lower() == a else a
                if mentions(body, other):
                    continue
                op, field, _ = t
                rest = {o: v for o, v in occs.items() if o != occ}
                left = clauses[:k] + clauses[k + 1:]
                if left:
                    rest[occ] = left
                added = {op: {field: {"query": other}}}
                should = [c, added] if other == b else [added, c]          # in the question's order
                query = {"bool": {**rest, "should": should, "minimum_should_match": "1"}}
                body = {**body, "query": query}
                break
            else:
                continue
            break
    return body
