"""What a question's wording says the query must have: the field it names, both ends of a span it names,
every word of a list it asks for all of, and a phrase where it says "exactly".

- Where to look ("with mamba in the title", "whose abstract mentions x"): each of 5,218 round-17 distilled
  questions that name the title in such words searches, filters or groups by a title field, and each of 2,643
  that name the abstract uses the abstract. The student sometimes put the words in the other field ("papers whose
  title has the exact phrase 'gaussian splatting'" was searched in the abstract). "titles of ..." asks to *show*
  titles (`_source`), so it is not a cue.
- A span by both ends ("between June 9, 2026 and June 28, 2026", "from 1850 to 1860"): each of 314 distilled
  questions gets a range with a lower and an upper bound; the student once kept only "gte June 28".
- All of a list ("each of integrate, realism and handling", "both 'anchor-guided' and 'transfer'"): each of
  2,468 distilled questions keeps every listed word in its query; the student dropped one now and then.
- A phrase starts where "exactly", "the exact phrase" or "the exact words" says ("containing exactly scarlet
  letter"): each of 469 distilled questions has a phrase search starting on the next word; the student once
  searched the phrase "letter".

`consistent` is the four invariants; the translator's cue check (translator.py) keeps the model's best candidate
that satisfies them.
"""
import json
import re

from .dates import MONTHS

_VERB = r"(?:has|have|contains?|containing|says?|saying|mentions?|mentioning|includes?|including|with|uses?|using)"


def _cue(field):
    """'whose/the/their/its/a/an/with <field>(s) <verb>', 'in the/their/its <field>(s)', '<field>(s) containing/...'."""
    f = field + "s?"
    return re.compile(rf"\b(?:whose|the|their|its|an?|with) {f} {_VERB}\b|\bin (?:the|their|its) {f}\b"
                      rf"|\b{f} (?:containing|mentioning|with|that|including|has|contains)\b", re.IGNORECASE)


CUES = {"title": _cue("title"), "abstract": _cue("abstract")}


def named_fields(question):
    """The fields the question says to look in: "papers with mamba in the title" -> {"title"}."""
    return {f for f, cue in CUES.items() if cue.search(question)}


def _items(node):
    """Every (key, value) pair of every object inside a body, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _items(value)
    elif isinstance(node, list):
        for item in node:
            yield from _items(item)


_CLAUSES = ("match", "match_phrase", "match_phrase_prefix", "term", "terms", "prefix", "wildcard", "fuzzy", "range",
            "regexp")


def used_fields(body):
    """The root fields ("title" for "title.keyword") the body searches, filters, sorts or groups by; not `_source`,
    which only chooses what is shown."""
    out = set()
    for key, value in _items({k: v for k, v in body.items() if k != "_source"}):
        if key == "field" and isinstance(value, str):                     # an aggregation's field
            out.add(value)
        elif key == "fields" and isinstance(value, list):                 # multi_match
            out.update(v for v in value if isinstance(v, str))
        elif key in _CLAUSES and isinstance(value, dict) and "field" not in value:
            out.update(k for k in value if k != "boost")                  # a query clause: {field: ...}
    return {f.split(".")[0].split("^")[0] for f in out}


_MONTH = "(?:" + "|".join(MONTHS) + "|" + "|".join(m[:3] for m in MONTHS) + "|Sept)"   # "June", "Jun", "Sept"
_DATE = rf"(?:\d{{4}}-\d\d-\d\d|{_MONTH} \d{{1,2}},? \d{{4}}|\d{{1,2}} {_MONTH},? \d{{4}}|{_MONTH} \d{{4}}|\d{{4}})"
_SPAN = re.compile(rf"\b(?:between|from) {_DATE} (?:and|to|until|through|-) {_DATE}\b", re.IGNORECASE)


def names_a_span(question):
    """Does the question name a span of dates by both ends ("between 2025-04-07 and 2025-04-26")?"""
    return _SPAN.search(question) is not None


def has_two_sided_range(body):
    """Has the body a range clause with both a lower (gt/gte) and an upper (lt/lte) bound?"""
    return any(key == "range" and isinstance(value, dict) and any(
        isinstance(b, dict) and {"gt", "gte"} & set(b) and {"lt", "lte"} & set(b) for b in value.values())
        for key, value in _items(body))


_WORD = r"'?[\w-]+'?"
_ALL_OF = re.compile(rf"\b(?:each of|all of|both) ((?:{_WORD}, )*{_WORD},? and {_WORD})", re.IGNORECASE)


def listed_words(question):
    """The words of every list the question asks for all of: "each of a, b and c" -> ["a", "b", "c"] (lower
    case, quotes stripped); "both authors and ..." is not a list of words."""
    out = []
    for m in _ALL_OF.finditer(question):
        ws = [w.strip("'").lower() for w in re.split(r",? and |, ", m.group(1))]
        out += [] if ws[0] == "authors" else ws
    return out


def keeps_words(body, words):
    """Does every word occur, as a whole word, among the body's values (case aside)?"""
    text = json.dumps(body, ensure_ascii=False).lower()
    return all(re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text) for w in words)


_EXACT = re.compile(r"\b(?:exactly|exact phrase|exact words)\s+['\"]?([\w'-]+)", re.IGNORECASE)


def exact_starts(question):
    """The words a phrase must start on: the one after each "exactly" / "exact phrase" / "exact words" (lower
    case), except "in" ("as an exact phrase in the abstract" ends a phrase, it does not start one)."""
    return [w for w in (m.group(1).lower() for m in _EXACT.finditer(question)) if w != "in"]


def phrase_starts(body):
    """The first words (lower case) of the body's phrase searches: match_phrase, and multi_match of type phrase."""
    texts = []
    for key, value in _items(body):
        if key == "match_phrase" and isinstance(value, dict):
            texts += [v.get("query", "") if isinstance(v, dict) else v for v in value.values()]
        elif key == "multi_match" and isinstance(value, dict) and value.get("type") == "phrase":
            texts.append(value.get("query", ""))
    return {t.split()[0].lower() for t in texts if isinstance(t, str) and t.split()}


def consistent(body, question):
    """Does `body` use every field the question says to look in, bound both ends of a span it names, keep every
    word of a list it asks for all of, and start a phrase where it says "exactly"?"""
    return named_fields(question) <= used_fields(body) and (
        not names_a_span(question) or has_two_sided_range(body)) and keeps_words(body, listed_words(question)) \
        and set(exact_starts(question)) <= phrase_starts(body)
