"""The HTTP teacher against a small fake OpenAI-compatible server on 127.0.0.1 (no network)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tinyllm.nlq.teacher_http import HttpTeacher, TeacherError, infer_compare, parse_tool_call, read_questions

BODY = {"size": 0, "track_total_hits": True, "query": {"term": {"categories": "cs.RO"}}}


def tool_reply(index="articles", body=BODY, as_string=True, name="search"):
    args = {"index": index, "body": body}
    return {"choices": [{"message": {"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": name,
                                                      "arguments": json.dumps(args) if as_string else args}}]}}]}


class FakeAPI(BaseHTTPRequestHandler):
    """Behaviour chosen by path: /ok, /flaky (503 first), /slow, /empty, /notjson, /denied, /other-index."""
    calls = []
    flaky_left = {}

    def log_message(self, *args):   # keep test output quiet
        pass

    def do_POST(self):
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeAPI.calls.append((self.path, payload, self.headers.get("Authorization")))
        mode = self.path.split("/")[1]
        if mode == "flaky" and FakeAPI.flaky_left.get("n", 0) > 0:
            FakeAPI.flaky_left["n"] -= 1
            return self._send(503, {"error": "busy"})
        if mode == "slow":
            threading.Event().wait(0.5)
        if mode == "empty":
            return self._send(200, {"choices": []})
        if mode == "notjson":
            return self._send(200, "<html>oops</html>", raw=True)
        if mode == "denied":
            return self._send(401, {"error": "bad key"})
        if mode == "other-index":
            return self._send(200, tool_reply(index="gutenberg"))
        self._send(200, tool_reply(as_string=mode != "dictargs"))

    def _send(self, code, obj, raw=False):
        data = (obj if raw else json.dumps(obj)).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeAPI)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def teacher(server, mode, **kw):
    kw.setdefault("backoff", 0.01)
    return HttpTeacher(f"{server}/{mode}/v1", model="fake", **kw)


def test_tool_call_flow(server):
    FakeAPI.calls.clear()
    ex = teacher(server, "ok", api_key="sk-test").label("articles", "how many robotics papers?", intent="count")
    assert ex.query == BODY and ex.compare == "count" and ex.teacher == "http"
    path, payload, auth = FakeAPI.calls[-1]
    assert path == "/ok/v1/chat/completions" and auth == "Bearer sk-test"
    assert payload["model"] == "fake" and payload["tools"][0]["function"]["name"] == "search"
    assert payload["tool_choice"]["function"]["name"] == "search"
    assert "how many robotics papers?" in payload["messages"][-1]["content"]
    assert "publication_date (date)" in payload["messages"][0]["content"]     # the mapping is in the prompt


def test_arguments_as_object_are_accepted(server):
    assert teacher(server, "dictargs").translate("articles", "q") == BODY


def test_retries_then_succeeds(server):
    FakeAPI.flaky_left["n"] = 2
    before = len(FakeAPI.calls)
    assert teacher(server, "flaky", retries=2).translate("articles", "q") == BODY
    assert len(FakeAPI.calls) - before == 3


def test_gives_up_after_retries(server):
    FakeAPI.flaky_left["n"] = 5
    with pytest.raises(TeacherError, match=r"giving up after 2 attempt.*HTTP 503"):
        teacher(server, "flaky", retries=1).translate("articles", "q")


def test_timeout_is_retried_and_reported(server):
    before = len(FakeAPI.calls)
    with pytest.raises(TeacherError, match="timed out after 0.1 s"):
        teacher(server, "slow", timeout=0.1, retries=1).translate("articles", "q")
    assert len(FakeAPI.calls) - before == 2


@pytest.mark.parametrize("mode, message", [("empty", r"\$.choices is missing"), ("notjson", "non-JSON"),
                                           ("denied", "HTTP 401"), ("other-index", "searched index 'gutenberg'")])
def test_malformed_or_refused_responses_are_clear_errors(server, mode, message):
    with pytest.raises(TeacherError, match=message):
        teacher(server, mode, retries=0).translate("articles", "q")


def test_parse_tool_call_names_the_missing_part():
    with pytest.raises(TeacherError, match=r"tool_calls is missing"):
        parse_tool_call({"choices": [{"message": {"content": "SELECT *"}}]}, "articles")
    with pytest.raises(TeacherError, match="called 'delete_index'"):
        parse_tool_call(tool_reply(name="delete_index"), "articles")
    bad = tool_reply()
    bad["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = "{not json"
    with pytest.raises(TeacherError, match="not JSON"):
        parse_tool_call(bad, "articles")


def test_bad_arguments_are_rejected_up_front(server, tmp_path):
    with pytest.raises(ValueError, match="url"):
        HttpTeacher("ftp://example")
    with pytest.raises(ValueError, match="timeout"):
        HttpTeacher(server, timeout=0)
    with pytest.raises(ValueError, match="index must be"):
        teacher(server, "ok").translate("users", "q")
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"index": "articles", "question": "ok"}\n{"question": "no index"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="q.jsonl:2"):
        read_questions(bad)


def test_infer_compare():
    assert infer_compare({"size": 0, "aggs": {"a": {}}}) == "aggs"
    assert infer_compare({"size": 0, "track_total_hits": True}) == "count"
    assert infer_compare({"size": 3, "sort": ["publication_date"]}) == "topk"
    assert infer_compare({"query": {"match_all": {}}}) == "set"


def test_distill_with_the_http_teacher(server, tmp_path, capsys):
    from tinyllm.nlq.distill import main as distill_main
    from tinyllm.nlq.examples import ExampleStore
    from tinyllm.nlq.testing import shared_backend
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(q) for q in [
        {"index": "articles", "question": "robotics paper count"},
        {"index": "articles", "question": "how many cs.RO papers", "intent": "count"},
        {"index": "gutenberg", "question": "passages by Mark Twain"}]) + "\n", encoding="utf-8")
    out = tmp_path / "http.jsonl"
    argv = ["--teacher=http", f"--http-url={server}/ok/v1", f"--questions={questions}", "--n=3", f"--out={out}",
            "--quiet", "--retries=0"]
    assert distill_main(argv, backend=shared_backend()) == 0
    report = capsys.readouterr().out
    assert "kept: 2" in report and "rejected teacher_error: 1" in report    # the fake always searches articles
    store = ExampleStore.import_jsonl(out)
    assert [e.teacher for e in store] == ["http", "http"] and store.examples[1].intent == "count"
