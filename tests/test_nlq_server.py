"""`tinyllm serve`: every answer of a real uvicorn server on 127.0.0.1, through a real HTTP client (requests).

Two in-process servers share the one loaded test engine: one with the real translator, one with a stand-in that
can refuse, answer exactly, or break its contract. The 503 path runs the real `tinyllm serve` command in a
subprocess pointed at a port where nothing listens.
"""
import json
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests
import uvicorn
from hypothesis import given
from hypothesis import strategies as st

from tinyllm.nlq import schema, static_page
from tinyllm.nlq.server import MAX_BODY_BYTES, Engine, create_app, main
from tinyllm.nlq.summary import KEY_FIELDS
from tinyllm.nlq.testing import shared_backend
from tinyllm.nlq.translator import CannotTranslate, Translator
from tinyllm.nlq.validate import validate

WAIT_S = 60.0          # bounded wait for a server to come up (a loaded, shared machine is slow)
HTTP_TIMEOUT_S = 60.0


@pytest.fixture(scope="session")
def es():
    return shared_backend()


def _free_socket():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class _ThreadServer:
    """A uvicorn server for `app` on an already-bound free loopback socket, in a daemon thread."""

    def __init__(self, app):
        self.sock = _free_socket()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + WAIT_S
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(timeout=WAIT_S)
        self.sock.close()


class StandIn:
    """A translator with scripted answers, to reach the paths a real translator rarely takes."""
    kind = "stand-in"
    EXACT = {"query": {"term": {"author": "Jane Austen"}}, "size": 3}
    AGGS = {"size": 0, "aggs": {"per_author": {"terms": {"field": "author", "size": 5}}}}
    UNSAFE = {"query": {"match_all": {}}, "script_fields": {"x": {"script": "ctx._source"}}}

    def translate(self, question, index, search=None):      # scripted: no execution check
        if question.startswith("refuse"):
            raise CannotTranslate("out of scope: weather is not in these indexes")
        if question.startswith("crash"):
            raise RuntimeError("a bug in the translator")
        return {"exact": self.EXACT, "aggs": self.AGGS, "unsafe": self.UNSAFE}[question.split()[0]]


@pytest.fixture(scope="module")
def real(es):
    server = _ThreadServer(create_app(Engine(es), Translator.load()))
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def stub(es):
    server = _ThreadServer(create_app(Engine(es), StandIn()))
    yield server.url
    server.stop()


def ask(base, index, payload, raw=None):
    data = raw if raw is not None else json.dumps(payload).encode("utf-8")
    return requests.post(f"{base}/{index}/nlq", data=data, timeout=HTTP_TIMEOUT_S,
                         headers={"content-type": "application/json"})


def error_of(response, status):
    """The error code of an answer, after checking its status and that the body has the one error shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]["code"]


@pytest.mark.parametrize("raw, code", [
    (b'{"question": ""}', "empty_question"),
    (b'{"question": "   \\n\\t"}', "empty_question"),
    (json.dumps({"question": "x" * 1001}).encode(), "question_too_long"),
    (b'{"question": "caf\xe9"}', "not_utf8"),                   # Latin-1 bytes, not UTF-8
    (b'{"question": "papers"', "malformed_json"),
    (b"", "malformed_json"),
    (b'["papers"]', "bad_request"),
    (b'{"question": 42}', "bad_request"),
    (b'{}', "bad_request"),
    (b'{"question": "papers", "size": 10000}', "bad_request"),
    (b'{"question": "a", "question": "b"}', "bad_request"),      # duplicate keys are ambiguous
    (b'{"question": "abc \\ud800 def"}', "not_utf8"),             # an unpaired surrogate escape is not text
    (b"[" * 20_000 + b"]" * 20_000, "malformed_json"),             # deeper than the JSON parser recurses
    (b"NaN", "bad_request"),
])
def test_bad_input_is_400_with_a_json_error(real, raw, code):
    assert error_of(ask(real, "articles", None, raw=raw), 400) == code


def test_unknown_index_and_route_errors_are_json(real):
    assert error_of(ask(real, "library", {"question": "papers"}), 400) == "unknown_index"
    assert error_of(ask(real, "_all", {"question": "papers"}), 400) == "unknown_index"
    assert error_of(requests.get(f"{real}/articles/nlq", timeout=HTTP_TIMEOUT_S), 405) == "method_not_allowed"
    assert error_of(requests.get(f"{real}/articles/_search", timeout=HTTP_TIMEOUT_S), 404) == "not_found"
    big = json.dumps({"question": "a" * (MAX_BODY_BYTES + 1)}).encode()
    assert error_of(ask(real, "articles", None, raw=big), 413) == "body_too_large"


def test_happy_path_runs_exactly_the_returned_query(real, es):
    r = ask(real, "articles", {"question": "papers about reinforcement learning"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["index"] == "articles" and out["question"] == "papers about reinforcement learning"
    assert validate("articles", out["query"]) == out["query"]           # what was run passed the gate
    direct = es.search("articles", out["query"])
    assert out["result"]["total"] == direct["hits"]["total"]
    assert [h["_id"] for h in out["result"]["hits"]] == [h["_id"] for h in direct["hits"]["hits"]]


def test_exact_query_counts_and_aggregations(stub, es):
    out = ask(stub, "gutenberg", {"question": "exact Jane Austen"}).json()
    assert out["query"] == StandIn.EXACT and out["translator"] == "stand-in"
    assert out["result"]["total"]["value"] == es.count("gutenberg", StandIn.EXACT["query"]) > 0
    assert [h["_source"]["author"] for h in out["result"]["hits"]] == ["Jane Austen"] * 3
    out = ask(stub, "gutenberg", {"question": "aggs per author"}).json()
    buckets = out["result"]["aggregations"]["per_author"]["buckets"]
    assert len(buckets) == 5 and out["result"]["hits"] == []
    assert sum(b["doc_count"] for b in buckets) <= len(schema.INDEXES) * 12_345


def test_cannot_translate_is_422_and_unsafe_queries_never_run(stub):
    assert error_of(ask(stub, "articles", {"question": "refuse: weather tomorrow?"}), 422) == "cannot_translate"
    r = ask(stub, "articles", {"question": "unsafe please"})
    assert error_of(r, 422) == "unsafe_query" and "script" in r.json()["error"]["message"]


def test_a_translator_bug_is_a_json_500(stub):
    r = ask(stub, "articles", {"question": "crash now"})
    assert error_of(r, 500) == "internal_error" and "a bug in the translator" in r.json()["error"]["message"]


@given(st.one_of(st.binary(max_size=64),
                 st.dictionaries(st.sampled_from(["question", "q", "size"]),
                                 st.one_of(st.text(max_size=40), st.integers(), st.none()), max_size=2)
                 .map(lambda d: json.dumps(d).encode())))
def test_any_body_gets_a_success_or_a_json_error_never_a_crash(real, raw):
    r = ask(real, "gutenberg", None, raw=raw)
    assert r.status_code in (200, 400, 422), r.text
    if r.status_code == 200:
        assert set(r.json()) >= {"query", "result"}
    else:
        error_of(r, r.status_code)


def test_html_page_is_self_contained(real):
    r = requests.get(real + "/", timeout=HTTP_TIMEOUT_S)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "<form" in page and '"/nlq"' in page and "fetch(" in page
    assert all(f'<option value="{i}">' in page for i in schema.INDEXES)
    assert "<script src" not in page and "<link" not in page and "@import" not in page   # nothing from elsewhere
    assert "__" not in page and '"articles": ["arxiv_id"' in page    # placeholders filled


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_page_script_parses(tmp_path):
    page = static_page.render(schema.INDEXES, KEY_FIELDS)
    script = tmp_path / "page.js"
    script.write_text(page[page.index("<script>") + len("<script>"):page.index("</script>")])
    check = subprocess.run(["node", "--check", str(script)], capture_output=True, text=True, timeout=WAIT_S)
    assert check.returncode == 0, check.stderr


def test_openapi_schema_documents_the_endpoint(real):
    spec = requests.get(real + "/openapi.json", timeout=HTTP_TIMEOUT_S).json()
    post = spec["paths"]["/{index}/nlq"]["post"]
    assert {"200", "400", "413", "422", "502", "503"} <= set(post["responses"])
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["question"] and body["properties"]["question"]["maxLength"] == 1000
    index_param = next(p for p in post["parameters"] if p["name"] == "index")
    assert index_param["schema"]["enum"] == list(schema.INDEXES)
    assert requests.get(real + "/health", timeout=HTTP_TIMEOUT_S).json()["status"] == "ok"


def test_engine_down_is_503_from_the_real_command():
    dead = _free_socket()                      # bound but never listening: connections are refused
    dead_port = dead.getsockname()[1]
    with _free_socket() as s:
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "tinyllm.cli", "serve", "--port", str(port), "--log-level",
                             "warning", "--es-url", f"http://127.0.0.1:{dead_port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + WAIT_S
        while True:
            try:
                health = requests.get(base + "/health", timeout=HTTP_TIMEOUT_S)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "tinyllm serve did not start"
                time.sleep(0.2)
        assert error_of(health, 503) == "engine_unavailable"
        r = ask(base, "articles", {"question": "papers about transformers"})
        assert error_of(r, 503) == "engine_unavailable" and f"127.0.0.1:{dead_port}" in r.json()["error"]["message"]
        assert error_of(ask(base, "articles", {"question": ""}), 400) == "empty_question"   # input checked first
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
        dead.close()


def test_engine_lost_after_start_is_503():
    from elasticsearch import Elasticsearch
    from tinyllm.nlq.backend import Backend
    from tinyllm.nlq.server import ApiFailure
    with _free_socket() as s:                  # closed again at once: nothing listens there afterwards
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    lost = Backend(Elasticsearch(url, max_retries=0), "elasticsearch", url, "9.0.0")
    with pytest.raises(ApiFailure) as failure:
        Engine(lost).search("articles", {"query": {"match_all": {}}})
    assert (failure.value.status, failure.value.code) == (503, "engine_unavailable")
    lost.close()


def test_missing_serve_extra_names_the_fix():
    code = "import sys; sys.modules['uvicorn'] = None; import tinyllm.nlq.server"    # as if not installed
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=WAIT_S)
    assert run.returncode != 0 and "pip install 'tinyllm[serve]'" in run.stderr


def test_serve_rejects_a_bad_port(capsys):
    assert main(["--port", "70000"]) == 2
    assert "--port must be in 1..65535" in capsys.readouterr().err
