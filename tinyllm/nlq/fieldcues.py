"""Where a question says to look ("with mamba in the title", "whose abstract mentions x"), the query looks there.

The teacher never fails to: each of 5,125 round-17 distilled questions that name the title in such words searches,
filters or groups by a title field, and each of 2,643 that name the abstract uses the abstract. The student
sometimes puts the words in the other field ("papers whose title has the exact phrase 'gaussian splatting'" was
searched in the abstract). `consistent` is that invariant; the translator's field check (translator.py) keeps the
model's best candidate that satisfies it. "titles of ..." asks to *show* titles (`_source`), so it is not a cue.
"""
import re

_VERB = r"(?:has|have|contains?|containing|says?|saying|mentions?|mentioning|includes?|including|with|uses?|using)"


def _cue(field):
    """'whose/the/their/its/a/an/with <field>(s) <verb>', 'in the/their/its <field>(s)', '<field>(s) containing/...'."""
    f = field + "s?"
    return re.compile(rf"\b(?:whose|the|their|its|an?|with) {f} {_VERB}\b|\bin (?:the|their|its) {f}\b"
                      rf"|\b{f} (?:containing|mentioning|with|that|including|has|contains)\b", re.IGNORECASE)


CUES = {"title": _cue("title"), "abstract": _cue("abstract")}


def named_fields(question, fields=CUES):
    """The fields (of `fields`) the question says to look in: "papers with mamba in the title" -> {"title"}."""
    return {f for f in fields if f in CUES and CUES[f].search(question)}


def used_fields(body):
    """The root fields ("title" for "title.keyword") the body searches, filters, sorts or groups by; not `_source`,
    which only chooses what is shown."""
    out = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "field" and isinstance(value, str):
                    out.add(value)
                elif key == "fields" and isinstance(value, list):
                    out.update(v for v in value if isinstance(v, str))
                elif key in ("match", "match_phrase", "match_phrase_prefix", "term", "terms", "prefix", "wildcard",
                             "fuzzy", "range", "regexp") and isinstance(value, dict) and "field" not in value:
                    out.update(k for k in value if k != "boost")          # a query clause: {field: ...}
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
    walk({k: v for k, v in body.items() if k != "_source"})
    return {f.split(".")[0].split("^")[0] for f in out}


def consistent(body, question, fields=CUES):
    """Does `body` use every field the question says to look in?"""
    return named_fields(question, fields) <= used_fields(body)
