"""`tinyllm nlq ask` end to end on the shared test engine, the index guess, and the result summary's properties."""
import json
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinyllm.cli import main as tinyllm_main
from tinyllm.nlq import ask as ask_module
from tinyllm.nlq.ask import gutenberg_names, guess_index, main
from tinyllm.nlq.summary import format_aggregation, format_hit, format_result, result_of
from tinyllm.nlq.testing import shared_backend
from tinyllm.nlq.translator import CannotTranslate, Translator


@pytest.fixture(scope="session")
def es():
    return shared_backend()


def test_ask_prints_the_query_and_a_summary_of_what_it_returns(es, capsys):
    question = ["passages", "of", "Moby-Dick", "about", "the", "white", "whale"]
    assert tinyllm_main(["nlq", "ask", "--es-url", es.url, "--index", "gutenberg"] + question) == 0
    out = capsys.readouterr().out
    query_text, summary = out.split("\n\n", 1)
    bodies, at, dec = [], 0, json.JSONDecoder()                    # the pretty-printed query comes first; when it
    while at < len(query_text):                                    # finds nothing, the checked one follows it
        body, at = dec.raw_decode(query_text, at)
        bodies.append(body)
        at += len(query_text[at:]) - len(query_text[at:].lstrip())
    assert 1 <= len(bodies) <= 2
    if len(bodies) == 2:
        assert es.search("gutenberg", bodies[0])["hits"]["total"]["value"] == 0
    body = bodies[-1]                                              # the query whose results are summarised
    direct = es.search("gutenberg", body)                          # whatever the translator wrote, run it here too
    total, hits = direct["hits"]["total"], direct["hits"]["hits"]
    more = "or more " if total["relation"] == "gte" else ""        # the engine stops counting at 10,000
    assert summary.startswith(f"gutenberg: {total['value']:,} {more}matching document(s)")
    if hits:                                                       # the same hits, in the engine's order
        lines = summary.split(f"top {len(hits)} hit(s):\n")[1].split("\n")
        assert lines[:len(hits)] == [format_hit("gutenberg", rank, h) for rank, h in enumerate(hits, 1)]


def test_ask_json_output_matches_a_direct_search(es, capsys):
    assert main(["--json", "--es-url", es.url, "how many cs.CL papers are there?"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["index"] == "articles"                              # guessed: "papers", "cs.CL"
    direct = es.search("articles", out["query"])
    assert out["result"]["total"] == direct["hits"]["total"]
    assert [h["_id"] for h in out["result"]["hits"]] == [h["_id"] for h in direct["hits"]["hits"]]


def test_ask_errors_have_exit_codes_and_messages(es, capsys, monkeypatch):
    assert main(["x" * 1001]) == 2
    assert "longer than 1000 characters" in capsys.readouterr().err
    assert main(["   "]) == 2 and "question is empty" in capsys.readouterr().err
    assert main(["caf\udce9"]) == 2 and "not valid UTF-8" in capsys.readouterr().err    # how argv carries byte 0xe9
    assert main([]) == 2 and "required: question" in capsys.readouterr().err
    assert main(["--model", "/nonexistent/ckpt", "papers"]) == 2
    assert "no NLQ model checkpoint" in capsys.readouterr().err
    with socket.socket() as s:                                     # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
        assert main(["--es-url", dead, "papers"]) == 3
    assert "cannot reach a search engine" in capsys.readouterr().err

    def refuse(self, question, index):
        raise CannotTranslate("out of scope: the weather is in neither index")
    monkeypatch.setattr(Translator, "translate", refuse)
    assert main(["--es-url", es.url, "will it rain tomorrow?"]) == 1
    assert "cannot translate: out of scope" in capsys.readouterr().err


def test_translate_only_needs_no_engine(capsys, monkeypatch):
    monkeypatch.setattr(ask_module, "connect_backend", lambda *a, **k: pytest.fail("must not connect"))
    assert main(["--translate-only", "--json", "--index", "gutenberg", "Dracula"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["index"] == "gutenberg" and "query" in out["query"]
    assert main(["--translate-only", "--index", "gutenberg", "Dracula"]) == 0
    assert json.loads(capsys.readouterr().out) == out["query"]          # text mode: the pretty query alone


@pytest.mark.parametrize("question, index", [
    ("how many robotics papers are there?", "articles"),
    ("arXiv preprints by Yi Wang", "articles"),
    ("cs.LG submissions in 2025", "articles"),
    ("passages about the white whale", "gutenberg"),
    ("what did Jane Austen write?", "gutenberg"),
    ("novels published before 1850", "gutenberg"),
    ("papers that mention Dracula", "gutenberg"),          # a book title counts double: 2 > 1
    ("something completely unrelated", "articles"),        # no cue: the default
])
def test_guess_index_table(question, index):
    assert guess_index(question)[0] == index


def test_every_book_title_and_author_points_at_gutenberg():
    full_names, _, titles = gutenberg_names()
    assert len(titles) >= 40 and "moby-dick" in titles
    for name in sorted(full_names | titles):
        for spelling in (name, name.title(), name.upper()):
            assert guess_index(f"what about {spelling}?")[0] == "gutenberg", spelling


# --- the summary ------------------------------------------------------------------------------------------------

values = st.one_of(st.text(max_size=300), st.integers(), st.lists(st.text(max_size=30), max_size=4))


@given(st.lists(st.dictionaries(st.sampled_from(["arxiv_id", "title", "author", "content", "passage", "other"]),
                                values, max_size=5), max_size=6),
       st.sampled_from(["articles", "gutenberg"]))
def test_each_hit_is_one_short_line_whatever_its_fields_hold(sources, index):
    hits = [{"_id": str(i), "_score": 1.0, "_source": s} for i, s in enumerate(sources)]
    response = {"took": 3, "hits": {"total": {"value": len(hits), "relation": "eq"}, "hits": hits}}
    result = result_of(response)
    assert [h["_source"] for h in result["hits"]] == sources
    lines = format_result(index, result).split("\n")
    assert lines[0] == f"{index}: {len(hits):,} matching document(s), 3 ms"
    hit_lines = lines[2:] if hits else lines[1:]
    assert len(hit_lines) == len(hits)
    for line in hit_lines:
        assert len(line) <= 6 + 5 * (90 + 3)                  # rank + at most 5 key fields of <= 90 chars


def test_every_aggregation_shape_is_rendered():
    aggs = {
        "per_cat": {"buckets": [{"key": "cs.CL", "doc_count": 1234,
                                 "first": {"value": 1.7e12, "value_as_string": "2025-01-02"}}]},
        "keyed": {"buckets": {"old": {"doc_count": 2}, "new": {"doc_count": 5}}},
        "authors": {"value": 4321},
        "pages": {"count": 3, "min": 1.0, "max": 9.0, "avg": 4.0, "sum": 12.0},
        "recent": {"doc_count": 7, "n": {"value": 2}},
        "best": {"hits": {"hits": [{"_id": "a", "_source": {"title": "T"}}]}},
    }
    text = format_result("articles", result_of({"hits": {"total": {"value": 10000, "relation": "gte"}, "hits": []},
                                                "aggregations": aggs}))
    assert text.startswith("articles: 10,000 or more matching document(s)")
    for expected in ("per_cat: 1 bucket(s)", "cs.CL: 1,234", "first: 2025-01-02", "keyed: 2 bucket(s)",
                     "old: 2", "authors: 4,321", "pages: count=3, min=1.0, max=9.0, avg=4.0, sum=12.0",
                     "recent: 7 document(s)", "n: 2", "best: 1 hit(s)"):
        assert expected in text, expected
    many = {"buckets": [{"key": i, "doc_count": 1} for i in range(25)]}
    assert format_aggregation("b", many)[-1] == "    ... 5 more (see --json)"


def test_hit_with_filtered_source_shows_its_id():
    assert format_hit("articles", 1, {"_id": "2503.11849", "_source": {}}) == "   1. 2503.11849"
