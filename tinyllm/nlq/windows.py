"""Result windows are arithmetic: "results 21 to 25" means from 20, size 5, whatever the model wrote.

The model copies numbers from the question or picks them from the literals it saw in training, so it can say
`from 20` but not `size 5` for "results 21 to 25": 5 is nowhere in the question, and its teacher only ever asked
for windows of 5, 10 or 20 hits starting on a page boundary. Two windows are stated by their ends:

  - a range of results: "results a to b" / "hits a-b" of a hit list -> from = a - 1, size = b - a + 1;
  - a range of passages read in order: sorted by `passage`, filtered to passages a..b -> size = b - a + 1
    (every passage of the range), when the size the model wrote is one of the range's ends ("passages 1-3 in
    reading order" is three passages, not one).

A range of passages is a filter too: "passages 10 to 20 of Dracula" keeps passages 10..20, so a query that keeps
only passage 10 (or 20) is widened to the range the question states.

`windows` rewrites a decoded body by these rules before the safety gate (validate.py) checks it, and only into
windows the gate accepts; a body that states no window is returned as it is. The teacher writes every window
this way, so the rules change none of its answers (see the tests).
"""
import re

from .validate import MAX_FROM_PLUS_SIZE, MAX_SIZE

RESULTS = re.compile(r"\b(?:results?|hits?|matches|items?|rows?|ranks?)\s+(\d{1,5})\s*(?:-|–|to|through|thru)\s*"
                     r"(\d{1,5})\b", re.IGNORECASE)
PASSAGES = re.compile(r"\bpassages\s+(\d{1,5})\s*(?:-|–|to|through|thru)\s*(\d{1,5})\b", re.IGNORECASE)


def stated_results(question):
    """(a, b) of the first "results a to b" in the question, else None: 1-based, a <= b, at most MAX_SIZE results,
    and inside the engine's result window (b <= MAX_FROM_PLUS_SIZE), so the body the window makes passes the gate."""
    m = RESULTS.search(question)
    if m is None:
        return None
    a, b = int(m.group(1)), int(m.group(2))
    return (a, b) if 1 <= a <= b < a + MAX_SIZE and b <= MAX_FROM_PLUS_SIZE else None


ORDINAL_PAGES = {"first", "second", "third", "fourth", "fifth", "sixth", "next", "last", "final", "previous"}
NUMBER_WORDS = {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"}


def page_words(words):
    """Indices of the words that say which page ("second page", "page 3", "next page") or how long a page is ("10
    per page", "20 a page", "5 at a time"): they set `from` and `size`, never a value to search for. None of the
    1,495 round-13 training questions that have such words copies one into a value (constrained.py masks them)."""
    low = [w.lower() for w in words]
    out = set()
    for i, w in enumerate(low):
        nxt = low[i + 1:i + 4]
        if w in ORDINAL_PAGES and nxt[:1] == ["page"]:
            out |= {i, i + 1}
        elif w == "page" and nxt[:1] and (nxt[0].isdigit() or nxt[0] in NUMBER_WORDS):
            out |= {i, i + 1}
        elif (w.isdigit() or w in NUMBER_WORDS) and (nxt[:2] in (["per", "page"], ["a", "page"])
                                                     or nxt == ["at", "a", "time"]):
            out |= set(range(i, i + 1 + (3 if nxt[:1] == ["at"] else 2)))
    return out


def _passage_range(query):
    """(a, b) when the query keeps passages a..b by a range on `passage` (a bound left out on the low side is 1),
    else None; looked for in the query itself and in its bool's filter and must clauses."""
    clauses = [query]
    if isinstance(query.get("bool"), dict):       # before the gate, an occurrence may be one clause, not a list
        occs = [query["bool"].get(occ, []) for occ in ("filter", "must")]
        clauses = [c for v in occs for c in (v if isinstance(v, list) else [v])]
    for clause in clauses:
        bounds = clause.get("range", {}).get("passage") if isinstance(clause, dict) else None
        if not isinstance(bounds, dict):
            continue
        lo = bounds["gte"] if "gte" in bounds else bounds["gt"] + 1 if "gt" in bounds else 1
        hi = bounds["lte"] if "lte" in bounds else bounds["lt"] - 1 if "lt" in bounds else None
        if isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi < lo + MAX_SIZE:
            return lo, hi
    return None


def _widen_passage(query, a, b):
    """`query` with a lone `term` on passage a or b (in the query itself or its bool's filter/must) made a..b."""
    def widen(clause):
        if isinstance(clause, dict) and clause.get("term", {}).get("passage") in (a, b) and len(clause) == 1:
            return {"range": {"passage": {"gte": a, "lte": b}}}
        return clause
    if not isinstance(query.get("bool"), dict):
        return widen(query)
    occs = {occ: [widen(c) for c in (v if isinstance(v, list) else [v])] if occ in ("filter", "must") else v
            for occ, v in query["bool"].items()}
    return {**query, "bool": occs}


def _first_sort(body):
    """The field of the body's first sort key (`[{"passage": {"order": "asc"}}]` -> "passage"), else None."""
    keys = body.get("sort") or [None]
    first = keys[0]
    if isinstance(first, str):
        return first
    return next(iter(first)) if isinstance(first, dict) and len(first) == 1 else None


def windows(question, body):
    """`body` with the window the question states (module docstring) written into its `from` and `size`."""
    if not isinstance(body, dict):
        return body
    m = PASSAGES.search(question)
    if m is not None and 1 <= int(m.group(1)) < int(m.group(2)) and isinstance(body.get("query"), dict):
        body = {**body, "query": _widen_passage(body["query"], int(m.group(1)), int(m.group(2)))}
    if "aggs" in body or body.get("size") == 0:
        return body                 # a window is of a hit list; aggregations and counts have none
    stated = stated_results(question)
    if stated is not None:
        a, b = stated
        return {**body, "from": a - 1, "size": b - a + 1}
    span = _passage_range(body.get("query", {})) if _first_sort(body) == "passage" else None
    if span is not None and body.get("size") in span and body.get("size") != span[1] - span[0] + 1:
        return {**body, "size": span[1] - span[0] + 1}
    return body
