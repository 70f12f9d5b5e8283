"""The keyword baseline: the whole question as one `multi_match` over the index's text fields.

This is the lecture's non-ML fallback and the floor every translator must beat. It cannot express filters,
counts, sorting or aggregations, so on those questions it is wrong by construction; the README reports how often.
"""
from . import schema


def translate(index, question):
    """(index, question) -> search body: a multi_match of `question` across every text field of `index`."""
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"question must be a non-empty string, got {question!r}")
    return {"query": {"multi_match": {"query": question.strip(), "fields": schema.text_fields(index)}}}
