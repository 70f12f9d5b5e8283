"""Hyphenated compounds are phrases: `match` on "vision-language" becomes `match_phrase`.

A reader sees one word in "vision-language", "chain-of-thought" or "GPT-4"; the engine's standard analyser
splits it at the hyphens, and a `match` ORs the parts, so {"match": {"title": "gpt-4"}} finds every title with
a "4" in it. The only reading that keeps the word's meaning is the phrase of its parts. The translator rewrites
a text clause whose whole query is one such compound (bodies as `validate` normalises them) after decoding, so
the rule holds whichever way the model or its teacher wrote the clause. Fuzzy clauses are left alone (a phrase
cannot be fuzzy), and so are queries of several words: "vision-language models" is a bag of words by choice.
"""
import re

COMPOUND = re.compile(r"[^\W_]+(?:-[^\W_]+)+")     # letters/digits joined by inner hyphens, nothing else
MATCH_KEYS = {"query", "operator"}                  # a match with only these options says "these words", no more
MULTI_TYPES = (None, "best_fields", "most_fields", "cross_fields")


def is_compound(text):
    """True for one hyphenated word ("vision-language", "COVID-19"), False for anything else."""
    return isinstance(text, str) and COMPOUND.fullmatch(text.strip()) is not None


def _rewrite(clause):
    """One clause -> the phrase form when its whole query is a compound, else the clause itself."""
    if "match" in clause and len(clause) == 1 and isinstance(clause["match"], dict) and len(clause["match"]) == 1:
        (field, spec), = clause["match"].items()
        if isinstance(spec, dict) and set(spec) <= MATCH_KEYS and is_compound(spec.get("query")):
            return {"match_phrase": {field: {"query": spec["query"]}}}
    if "multi_match" in clause and len(clause) == 1 and isinstance(clause["multi_match"], dict):
        spec = clause["multi_match"]
        if spec.get("type") in MULTI_TYPES and "fuzziness" not in spec and is_compound(spec.get("query")):
            kept = {k: v for k, v in spec.items() if k in ("query", "fields", "boost")}
            return {"multi_match": {**kept, "type": "phrase"}}
    return clause


def phrase_compounds(node):
    """A copy of a search body (or any part of one) with every compound `match`/`multi_match` made a phrase."""
    if isinstance(node, list):
        return [phrase_compounds(x) for x in node]
    if not isinstance(node, dict):
        return node
    node = _rewrite(node)
    return {k: (v if k in ("match", "match_phrase", "multi_match") else phrase_compounds(v)) for k, v in node.items()}
