"""The search backend: embedded engine start-up, the media-type fix, idempotent loading, clear connection errors."""
import gzip
import json

import pytest
from elasticsearch import ApiError, Elasticsearch

from tinyllm.nlq import schema
from tinyllm.nlq.backend import BackendError, connect
from tinyllm.nlq.loader import CHUNK_SIZE, iter_docs, load_index
from tinyllm.nlq.osmem import EmbeddedEngineError, PlainJsonNode, _plain_json
from tinyllm.nlq.testing import shared_backend


@pytest.fixture(scope="session")
def es():
    return shared_backend()


def test_shared_backend_holds_both_indexes(es):
    assert es.kind in ("osmem", "elasticsearch")
    assert es.count("articles") == 10_000
    assert es.count("gutenberg") == 12_345
    if es.kind == "osmem":
        assert es.capabilities["knn"] is False and es.capabilities["persistent"] is False


def test_ensure_loaded_twice_keeps_counts(es):
    assert es.ensure_loaded(progress=False) == {"articles": 10_000, "gutenberg": 12_345}
    assert es.ensure_loaded(progress=False) == {"articles": 10_000, "gutenberg": 12_345}


def test_documents_have_stable_ids(es):
    hit = es.search("gutenberg", {"query": {"ids": {"values": ["11-3"]}}})["hits"]["hits"][0]["_source"]
    assert (hit["book_id"], hit["passage"]) == (11, 3)
    art = es.search("articles", {"query": {"term": {"arxiv_id": "2503.11849"}}})["hits"]["hits"][0]
    assert art["_id"] == "2503.11849"


def test_mapping_is_exact(es):
    got = es.client.indices.get_mapping(index="articles").body["articles"]["mappings"]["properties"]
    want = schema.load_mappings()["articles"]["mappings"]["properties"]
    assert {f: p["type"] for f, p in got.items()} == {f: p["type"] for f, p in want.items()}


def _subset(tmp_path, name, n):
    docs = [d for _, d in zip(range(n), iter_docs("articles"))]
    path = tmp_path / name
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(d) + "\n" for d in docs)
    return path


def test_reloading_overwrites_instead_of_duplicating(tmp_path, monkeypatch):
    """Real re-indexing (not the skip path): load 30, 30 again, then 45 (a resumed load) on a private engine."""
    monkeypatch.delenv("TINYLLM_ES_URL", raising=False)         # never write into the shared test engine
    backend = connect()
    assert backend.server is not None
    try:
        small, larger = _subset(tmp_path, "a30.jsonl.gz", 30), _subset(tmp_path, "a45.jsonl.gz", 45)
        assert load_index(backend.client, "articles", path=small, progress=False, chunk_size=7) == 30
        backend.client.delete(index="articles", id="2503.11849", refresh=True)          # simulate a partial load
        assert load_index(backend.client, "articles", path=small, progress=False, chunk_size=7) == 30
        assert load_index(backend.client, "articles", path=larger, progress=False) == 45
        assert load_index(backend.client, "articles", path=larger, progress=False) == 45
    finally:
        backend.close()


def test_chunk_size_is_bounded(es):
    assert CHUNK_SIZE <= 1000
    with pytest.raises(ValueError, match="chunk_size"):
        load_index(es.client, "articles", chunk_size=5000)


def test_media_type_rewrite():
    assert _plain_json("application/vnd.elasticsearch+json; compatible-with=9") == "application/json"
    assert _plain_json("application/vnd.elasticsearch+x-ndjson; compatible-with=8") == "application/x-ndjson"
    assert _plain_json("application/json") == "application/json"


def test_vendor_media_types_fail_on_osmem_without_the_fix(es):
    if es.kind != "osmem":
        pytest.skip("only the embedded engine rejects vendor media types")
    plain = Elasticsearch(es.url, max_retries=0)
    with pytest.raises(ApiError) as info:
        plain.search(index="articles", query={"match_all": {}}, size=1)
    assert info.value.meta.status == 406
    fixed = Elasticsearch(es.url, node_class=PlainJsonNode, max_retries=0)
    assert fixed.search(index="articles", query={"match_all": {}}, size=1)["hits"]["total"]["value"] > 0


def test_connect_to_a_url_detects_osmem(es):
    if es.kind != "osmem":
        pytest.skip("needs the embedded engine")
    other = connect(es.url)                    # the URL path: probe, detect osmem, switch to plain JSON
    assert other.kind == "osmem" and other.count("articles") == 10_000
    assert other.server is None


def test_unreachable_url_is_a_clear_error():
    with pytest.raises(BackendError, match=r"127\.0\.0\.1:9.*TINYLLM_ES_URL"):
        connect("http://127.0.0.1:9")


def test_missing_binary_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("OSMEM_SERVER_BIN", "/nonexistent/osmem-server")
    monkeypatch.delenv("TINYLLM_ES_URL", raising=False)
    with pytest.raises(EmbeddedEngineError, match="TINYLLM_ES_URL"):
        connect()


def test_search_rejects_unknown_index(es):
    with pytest.raises(ValueError, match="index must be one of"):
        es.search("secrets", {})


def test_schema_lists_fields_by_type():
    types = schema.field_types("articles")
    assert types["title"] == "text" and types["title.keyword"] == "keyword" and types["publication_date"] == "date"
    assert schema.text_fields("gutenberg") == ["title", "content"]
    assert schema.numeric_fields("gutenberg") == ["book_id", "passage"]
    assert "title.keyword" in schema.keyword_fields("gutenberg")
    assert schema.date_fields("articles") == ["publication_date"]
    assert not schema.searchable("articles", "url") and schema.searchable("articles", "author")
    assert schema.doc_id("gutenberg", {"book_id": 11, "passage": 3}) == "11-3"


def test_schema_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="mappings file not found: .*nope.json"):
        schema.load_mappings(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json is not valid JSON"):
        schema.load_mappings(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="index must be one of .* got 'library'"):
        schema.field_types("library")
    with pytest.raises(ValueError, match="index must be one of"):
        schema.doc_id("library", {})


def test_loader_errors_name_the_file(tmp_path):
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"arxiv_id": "1"}\n{oops\n')
    with pytest.raises(ValueError, match=r"broken\.jsonl:2: not valid JSON"):
        list(iter_docs("articles", bad))
    with pytest.raises(FileNotFoundError, match="data file not found"):
        list(iter_docs("articles", tmp_path / "missing.jsonl.gz"))
