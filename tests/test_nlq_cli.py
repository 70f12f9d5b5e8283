"""`tinyllm nlq`: load, eval, translate and validate end to end (against the shared test engine via --es-url)."""
import json

import pytest

from tinyllm.cli import main as tinyllm_main
from tinyllm.nlq.cli import main, resolve_translator, write_atomic
from tinyllm.nlq.testing import shared_backend


@pytest.fixture(scope="session")
def es():
    return shared_backend()


def test_load_is_idempotent(es, capsys):
    assert main(["load", "--es-url", es.url]) == 0
    assert "articles=10000 gutenberg=12345" in capsys.readouterr().out


def test_eval_on_a_tiny_cases_file(es, tmp_path, capsys):
    cases = tmp_path / "cases.jsonl"
    rows = [{"id": "c1", "index": "gutenberg", "question": "Alice", "compare": "count", "intent": "count",
             "gold": {"size": 0, "track_total_hits": True, "query": {"term": {"author": "Lewis Carroll"}}}},
            {"id": "c2", "index": "articles", "question": "papers per category", "compare": "aggs",
             "gold": {"size": 0, "aggs": {"c": {"terms": {"field": "categories"}}}}}]
    cases.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out_json = tmp_path / "report.json"
    assert tinyllm_main(["nlq", "eval", str(cases), "--es-url", es.url, "--json", str(out_json),
                         "--translator", "baseline"]) == 0
    out = capsys.readouterr().out
    assert "execution accuracy 0.0% (0/2), validity 100.0%" in out and "per compare:" in out
    report = json.loads(out_json.read_text())
    assert report["n"] == 2 and report["per_intent"] == {"count": {"correct": 0, "total": 1}}


def test_translate_writes_queries_and_errors(tmp_path, capsys):
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text('{"id": "q1", "index": "articles", "question": "diffusion models"}\n'
                   '{"id": "q2", "index": "library", "question": "anything"}\n\n'
                   '{"id": "q3", "index": "gutenberg", "question": "white whale"}\n')
    assert main(["translate", "--jsonl", str(src), "--out", str(dst), "--translator", "baseline"]) == 0
    lines = [json.loads(x) for x in dst.read_text().splitlines()]
    assert [x["id"] for x in lines] == ["q1", "q2", "q3"]
    assert lines[0]["query"]["query"]["multi_match"]["fields"] == ["title", "abstract"]
    assert "index must be one of" in lines[1]["error"]
    assert lines[2]["query"]["query"]["multi_match"] == {"query": "white whale", "fields": ["title", "content"]}
    assert "3 lines" in capsys.readouterr().out


def test_translate_rejects_unsafe_translator_output(tmp_path, monkeypatch):
    import tinyllm.nlq.baseline as baseline
    monkeypatch.setattr(baseline, "translate", lambda index, q: {"query": {"match_all": {}}, "script_fields": {}})
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text('{"id": 1, "index": "articles", "question": "x"}\n')
    assert main(["translate", "--jsonl", str(src), "--out", str(dst), "--translator", "baseline"]) == 0
    assert json.loads(dst.read_text()) == {"id": 1, "error": "rejected: $.script_fields: scripts are not allowed"}


def test_validate_command(tmp_path, capsys):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"index": "gutenberg", "body": {"query": {"term": {"book_id": 11}}}}))
    bad.write_text(json.dumps({"query": {"bool": {"must": [{"match_all": {}}, {"term": {"title": "x"}}]}}}))
    assert main(["validate", str(good)]) == 0
    assert json.loads(capsys.readouterr().out) == {"query": {"term": {"book_id": 11}}}
    assert main(["validate", str(bad), "--index", "articles"]) == 1
    assert "$.query.bool.must[1].term.title" in capsys.readouterr().err
    assert main(["validate", str(bad)]) == 2
    assert "--index is required" in capsys.readouterr().err


def test_ask_without_a_question_and_bad_arguments_are_clear(capsys):
    assert main(["ask"]) == 2
    assert "required: question" in capsys.readouterr().err
    assert main(["eval", "/nonexistent/cases.jsonl"]) == 2
    assert "No such file" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--translator"):
        resolve_translator("gpt-17")
    assert resolve_translator("baseline")("articles", "x")["query"]["multi_match"]["query"] == "x"


def test_write_atomic_replaces_whole_file(tmp_path):
    path = tmp_path / "f.txt"
    write_atomic(path, "one\n")
    write_atomic(path, "two\n")
    assert path.read_text() == "two\n" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_basic_auth_needs_a_colon(capsys):
    assert main(["load", "--es-url", "http://127.0.0.1:9", "--basic-auth", "elastic"]) == 2
    assert "--basic-auth must be user:password" in capsys.readouterr().err


def test_translate_uses_the_trained_model_by_default(tmp_path):
    from tinyllm.nlq.translator import CannotTranslate, Translator
    question = "how many papers are in cs.CL?"
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text(json.dumps({"id": "m1", "index": "articles", "question": question}) + "\n")
    assert main(["translate", "--jsonl", str(src), "--out", str(dst)]) == 0
    line = json.loads(dst.read_text())
    model = Translator.load()
    assert model.kind == "model", "the shipped checkpoint data/nlq_model/ should load"
    try:
        expected = {"id": "m1", "query": model.translate(question, "articles")}
    except CannotTranslate:
        expected = None
    assert line == expected if expected else "error" in line
