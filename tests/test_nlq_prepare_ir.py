"""Training targets: clause order is canonical (question order), held-out examples never reach training."""
import importlib.util
import json
import pathlib

import pytest
from hypothesis import given, settings, strategies as st

from tinyllm.nlq.compiler import compile_ir
from tinyllm.nlq.ir import Unsupported, parse_dsl
from tinyllm.nlq.prepare_ir import Vocab, build, canonical_order, clauses, encode, load_examples

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "train_nlq.py"


@pytest.fixture(scope="module")
def parsed():
    """(example, IR) for every 40th distilled example with at least two clauses in one occurrence."""
    out = []
    for ex in load_examples()[::40]:
        try:
            ir = parse_dsl(ex["query"], ex["question"])
        except Unsupported:
            continue
        occs = [c[0] for c in clauses(ir)[0]]
        if len(occs) > len(set(occs)):
            out.append((ex, ir))
    assert len(out) > 50
    return out


def _shuffled(ir, rnd):
    """The same IR with the clauses of each occurrence in a random order (the teacher's freedom)."""
    parts, end = clauses(ir)
    groups = {}
    for c in parts:
        groups.setdefault(c[0], []).append(c)
    for g in groups.values():
        rnd.shuffle(g)
    return [t for occ in dict.fromkeys(c[0] for c in parts) for c in groups[occ] for t in c] + ir[end:]


def _bool_lists(body):
    """Each bool occurrence's clauses as a sorted list of JSON strings: the query up to clause order."""
    b = body.get("query", {}).get("bool", {})
    return {k: sorted(json.dumps(c, sort_keys=True) for c in v) if isinstance(v, list) else v for k, v in b.items()}


@settings(deadline=None, max_examples=30)
@given(pick=st.integers(0, 10**6), rnd=st.randoms(use_true_random=False))
def test_canonical_order_ignores_the_teachers_clause_order(parsed, pick, rnd):
    ex, ir = parsed[pick % len(parsed)]
    shuffled = _shuffled(ir, rnd)
    canon = canonical_order(shuffled)
    assert canon == canonical_order(ir)                        # one target whatever order the teacher drew
    assert sorted(canon) == sorted(ir) and canonical_order(canon) == canon
    a, b = (compile_ir(x, ex["question"], ex["index"]) for x in (ir, canon))
    assert _bool_lists(a) == _bool_lists(b) and {k: v for k, v in a.items() if k != "query"} == {
        k: v for k, v in b.items() if k != "query"}                 # the same query, clauses aside


def test_canonical_order_puts_clauses_in_question_order():
    ir = ("<filter> term f:authors @9 @10 ; <filter> range f:publication_date gte =2026-07-01||/y ; <filter> terms "
          "f:categories @4 ; @6 ; <must_not> term f:authors @1 @2 ; size =0 ; tth <end>").split()
    canon = canonical_order(ir)
    assert [c[:3] for c in clauses(canon)[0]] == [("<filter>", "range", "f:publication_date"),
                                                  ("<filter>", "terms", "f:categories"),
                                                  ("<filter>", "term", "f:authors"),
                                                  ("<must_not>", "term", "f:authors")]
    assert canon[-5:] == ["size", "=0", ";", "tth", "<end>"]


def test_held_out_examples_stay_out_of_training_and_encode_with_its_vocabulary():
    spec = importlib.util.spec_from_file_location("train_nlq_script", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    examples = load_examples()[:600]
    held, kept = mod.split_examples(examples, 50, seed=3)
    assert len(held) == 50 and len(kept) == 550
    assert {json.dumps(e, sort_keys=True) for e in held}.isdisjoint(json.dumps(e, sort_keys=True) for e in kept)
    assert mod.split_examples(examples, 50, seed=3) == (held, kept)
    vocab, _, _ = build(kept)
    n = 0
    for ex in held:
        pairs = encode(vocab, [ex])
        if pairs:
            prompt, target = pairs[0]
            assert prompt == vocab.prompt(ex["question"], ex["index"])
            assert [vocab.itos[i] for i in target] == canonical_order(parse_dsl(ex["query"], ex["question"]))
            n += 1
    assert n >= 30           # the rest use a literal or structure token the 550 training examples lack
    with pytest.raises(ValueError, match="--held-out"):
        mod.split_examples(examples, 600, seed=0)


@pytest.fixture(scope="module")
def vocabs():
    """(plain vocabulary, echo vocabulary) built from every 50th distilled example."""
    examples = load_examples()[::50]
    return build(examples)[0], build(examples, echo=True)[0]


@settings(deadline=None, max_examples=50)
@given(word_ids=st.lists(st.integers(0, 10**6), max_size=40), index=st.sampled_from(["articles", "gutenberg"]))
def test_echo_prompt_reads_the_words_twice_and_splits_back(vocabs, word_ids, index):
    plain, echo = vocabs
    ws = [w % len(echo) for w in word_ids]
    i = echo.stoi[f"<{index}>"]
    p = echo.join_prompt(i, ws)
    assert p[1:1 + len(ws)] == ws and echo.itos[p[1 + len(ws)]] == "<echo>"     # first reading: the bare words
    assert [echo.itos[t] for t in p[2 + len(ws):-1:2]] == [f"@{k}" for k in range(len(ws))]
    assert echo.split_prompt(p) == (i, ws) and plain.split_prompt(plain.join_prompt(i, ws)) == (i, ws)
    assert len(p) == len(plain.join_prompt(i, ws)) + len(ws) + 1


def test_echo_is_saved_with_the_vocabulary_and_old_vocabularies_load_plain(vocabs):
    plain, echo = vocabs
    q = "passages mentioning pieces of eight in Treasure Island"
    assert Vocab.from_dict(echo.to_dict()).echo and not Vocab.from_dict(plain.to_dict()).echo
    assert "echo" not in plain.to_dict()                   # vocabularies saved before echo existed read the same
    p, e = plain.prompt(q, "gutenberg"), echo.prompt(q, "gutenberg")
    n = (len(p) - 2) // 2
    assert e[len(e) - len(p) + 1:] == p[1:] and e[1:1 + n] == p[2::2][:n]
    with pytest.raises(ValueError, match="<echo>"):
        Vocab(["<pad>", "<sep>"], echo=True)
