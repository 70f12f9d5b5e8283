"""Quoted spans of a question: the words a user put between quote marks, which a search must keep together.

`abstracts that mention "knowledge distillation"` asks for that phrase, not for either word; `'halucination'`
marks one word to look up. The grammar (constrained.py) copies a span whole or not at all, and a span of two or
more words only into a phrase search or an exact value, the way date_grammar.py holds dates to the dates named.
A quote mark opens a span only at the start of a word ("Zhou's" and "don't" hold apostrophes, not quotes).
"""
import json
import re

from .ir import words

PAIRS = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019"}    # straight and curly quotes
MAX_SPAN = 12       # a longer "span" is more likely two stray marks than a phrase to keep whole


def quoted_spans(question):
    """[(i, j)]: the first and last question word (ir.words indices) of each quoted span that holds a word.

    An opening mark follows the start of the question, a space or an opening bracket and precedes a
    non-space; its closing mark follows a non-space and precedes the end, a space or punctuation. Punctuation
    words at a span's edges ('"...world model..."') are left out of it."""
    ws = words(question)
    spans, k = [], 0
    while k < len(ws):
        text, start, end = ws[k]
        opens = (text in PAIRS and (start == 0 or question[start - 1] in " \t([{")
                 and end < len(question) and not question[end].isspace())
        close = _closing(question, ws, k, PAIRS.get(text)) if opens else None
        if close is None:
            k += 1
            continue
        inner = [i for i in range(k + 1, close) if re.search(r"\w", ws[i][0])]
        if inner and inner[-1] - inner[0] < MAX_SPAN:
            spans.append((inner[0], inner[-1]))
        k = close + 1
    return spans


def _closing(question, ws, k, mark):
    """The index of the word that closes the span opened at word k, or None."""
    for c in range(k + 1, len(ws)):
        text, start, end = ws[c]
        if text == mark and not question[start - 1].isspace() and (end == len(question)
                                                                   or not question[end].isalnum()):
            return c
    return None


def span_of(spans):
    """{word index: its span (i, j)} for every word inside a span."""
    return {w: (i, j) for i, j in spans for w in range(i, j + 1)}


def quoted_texts(question):
    """The text of each quoted span, as the question spells it ('knowledge distillation')."""
    ws = words(question)
    return [question[ws[i][1]:ws[j][2]] for i, j in quoted_spans(question)]


def missing(texts, body):
    """The `texts` the search body does not hold (case aside)."""
    held = json.dumps(body, ensure_ascii=False).lower()
    return [t for t in texts if t.lower() not in held]


def dropped(question, body, named=()):
    """The quoted spans of `question`, and the `named` strings, whose text the search body does not hold (case
    aside): in every distilled example each quoted span is a value of the query (4,444 of 4,444), and so is each
    category code a question spells (translator.py), so a body without one has left it out."""
    return missing(quoted_texts(question) + list(named), body)


def keep_quoted_first(question, bodies):
    """The indices of `bodies` in order, those that keep every quoted span first (a stable partition): the
    beams' order decides among the bodies that keep them, and among those that do not."""
    texts = quoted_texts(question)
    return sorted(range(len(bodies)), key=lambda k: bool(missing(texts, bodies[k])))
