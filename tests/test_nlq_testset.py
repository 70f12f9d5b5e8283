"""The hand-written NLQ test set: well-formed, broad, every gold query valid and executable, held out of training."""
import collections
import json
import pathlib

import pytest

from tinyllm.nlq.distill import first_aggregation_empty
from tinyllm.nlq.examples import ExampleStore, example_key
from tinyllm.nlq.testing import shared_backend
from tinyllm.nlq.validate import validate

DATA = pathlib.Path(__file__).resolve().parents[1] / "data"
CASES = [json.loads(line) for line in (DATA / "nlq_testset.jsonl").read_text(encoding="utf-8").splitlines()
         if line.strip()]


@pytest.fixture(scope="session")
def es():
    return shared_backend()


def test_shape_and_size():
    assert len(CASES) >= 100
    assert len({c["id"] for c in CASES}) == len(CASES), "ids must be unique"
    assert len({example_key(c["index"], c["question"]) for c in CASES}) == len(CASES), "questions must be unique"
    for c in CASES:
        assert {"id", "index", "question", "gold", "compare", "intent"} <= set(c), c["id"]
        assert c["compare"] in ("set", "count", "topk", "aggs"), c["id"]
        if c["compare"] == "count":
            assert c["gold"].get("size") == 0 and c["gold"].get("track_total_hits") is True, c["id"]
        if c["compare"] == "topk":
            assert c["gold"].get("sort"), c["id"]
        if c["compare"] == "aggs":
            assert c["gold"].get("aggs"), c["id"]


def test_covers_both_indexes_every_compare_kind_and_the_feature_table():
    assert collections.Counter(c["index"] for c in CASES).keys() == {"articles", "gutenberg"}
    assert collections.Counter(c["compare"] for c in CASES).keys() == {"set", "count", "topk", "aggs"}
    text = json.dumps([c["gold"] for c in CASES])
    for feature in ('"match"', '"match_phrase"', '"multi_match"', '"term"', '"terms"', '"range"', '"must_not"',
                    '"filter"', '"should"', '"fuzziness"', '"sort"', '"from"', '"track_total_hits"', '"date_histogram"',
                    '"cardinality"', '"min"', '"max"', '"top_hits"', '"highlight"', '"_source"', '||-1M/M'):
        assert feature in text, f"no gold query uses {feature}"


def test_relative_dates_record_the_frozen_clock():
    for c in CASES:
        if "||" in json.dumps(c["gold"]):
            assert c.get("now") == "2026-07-01", c["id"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_gold_validates(case):
    assert validate(case["index"], case["gold"]) is not None


def test_gold_executes_with_expected_emptiness(es):
    for c in CASES:
        body = validate(c["index"], c["gold"])
        resp = es.search(c["index"], dict(body, track_total_hits=True))
        hits = resp["hits"]["total"]["value"]
        if c.get("expect_empty"):
            assert hits == 0, c["id"]
        else:
            assert hits > 0 and not first_aggregation_empty(resp), c["id"]


def test_no_test_question_is_in_the_distilled_set():
    shipped = ExampleStore.import_jsonl(DATA / "nlq_examples.jsonl.gz")
    leaked = [c["id"] for c in CASES if example_key(c["index"], c["question"]) in shipped]
    assert not leaked, f"test questions found in the training data: {leaked}"


CONFIRM_SETS = {"nlq_confirm.jsonl": "session 16", "nlq_confirm2.jsonl": "session 17"}


@pytest.mark.parametrize("name", sorted(CONFIRM_SETS))
def test_each_confirmation_set_is_well_formed_executable_and_held_out(es, name):
    """data/nlq_confirm*.jsonl: 40 questions each, written after the test set had guided rules (session 16, then
    session 17 before its retrained model was scored), gold frozen first. Same format; every gold valid and
    non-empty; no question in the test set, another set or the training data; distillation holds all out."""
    from tinyllm.nlq.distill import DEFAULT_CONFIRM, DEFAULT_TESTSET, build_parser
    cases = [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(cases) == 40 and len({c["id"] for c in cases}) == 40
    assert {c["compare"] for c in cases} == {"set", "count", "topk", "aggs"}
    assert {c["index"] for c in cases} == {"articles", "gutenberg"}
    for c in cases:
        assert {"id", "index", "question", "gold", "compare", "intent"} <= set(c), c["id"]
        resp = es.search(c["index"], dict(validate(c["index"], c["gold"]), track_total_hits=True))
        assert resp["hits"]["total"]["value"] > 0 and not first_aggregation_empty(resp), c["id"]
    keys = {example_key(c["index"], c["question"]) for c in cases}
    others = [json.loads(line) for other in [*CONFIRM_SETS, "nlq_testset.jsonl"] if other != name
              for line in (DATA / other).read_text(encoding="utf-8").splitlines() if line.strip()]
    assert not keys & {example_key(c["index"], c["question"]) for c in others}
    assert not {c["id"] for c in cases} & {c["id"] for c in others}
    shipped = ExampleStore.import_jsonl(DATA / "nlq_examples.jsonl.gz")
    assert not [k for k in keys if k in shipped]
    assert DATA / name in DEFAULT_CONFIRM
    assert build_parser().parse_args([]).testset == [str(p) for p in [DEFAULT_TESTSET, *DEFAULT_CONFIRM]]
