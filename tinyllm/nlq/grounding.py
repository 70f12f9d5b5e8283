"""Value grounding: give a keyword value the model copied from the question the index's own spelling.

`term` on a keyword field is exact and case-sensitive, so "robotics" silently matches nothing where the index
says "Robotics" (NLQ.md, value grounding). The known values are the keyword values of the shipped, execution-
verified examples; a copied value that is not one of them but equals one ignoring case is replaced by it.
Values with no such match are left alone: the model may be right about a value the examples never saw.
"""
import gzip
import json

from . import schema

EXAMPLES_PATH = schema.DATA_DIR / "nlq_examples.jsonl.gz"


def _keyword_clauses(node, index, types):
    """Yield (container, key, field) for every term/terms value on a keyword field inside a body."""
    if isinstance(node, list):
        for item in node:
            yield from _keyword_clauses(item, index, types)
    elif isinstance(node, dict):
        for kind, clause in node.items():
            if kind in ("term", "terms") and isinstance(clause, dict):
                for field, value in clause.items():
                    if types.get(field) != "keyword":
                        continue
                    if kind == "term" and isinstance(value, dict) and "value" in value:
                        yield value, "value", field
                    elif kind == "term":
                        yield clause, field, field
                    elif isinstance(value, list):
                        yield from ((value, i, field) for i in range(len(value)))
            else:
                yield from _keyword_clauses(clause, index, types)


def known_values(path=EXAMPLES_PATH):
    """{(index, field): {lowercased value: value}} from the verified examples (empty if the file is missing)."""
    table = {}
    if not path.exists():
        return table
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            ex = json.loads(line)
            types = schema.field_types(ex["index"])
            for container, key, field in _keyword_clauses(ex["query"], ex["index"], types):
                value = container[key]
                if isinstance(value, str):
                    table.setdefault((ex["index"], field), {}).setdefault(value.lower(), value)
    return table


def ground(index, body, table):
    """`body` with each keyword term value replaced by the known value equal to it ignoring case (in place)."""
    types = schema.field_types(index)
    for container, key, field in _keyword_clauses(body, index, types):
        value, known = container[key], table.get((index, field), {})
        if isinstance(value, str) and value not in known.values():
            container[key] = known.get(value.lower(), value)
    return body
