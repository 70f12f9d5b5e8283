"""Sampling: greedy == argmax of a full recompute, cache == no cache, seeds, top-k/top-p support, batches of
unequal prompts, stop ids/strings, beam search (width 1 == greedy, exhaustive width == brute force), the CLI."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinyllm import Tensor, no_grad
from tinyllm.models.gpt import GPT, GPTConfig
from tinyllm.sampling.beam import beam_search
from tinyllm.sampling.generate import generate, generate_batch, generate_text
from tinyllm.sampling.logits import SamplingConfig, apply_top_k, apply_top_p

GREEDY = SamplingConfig(temperature=0.0)


def small(**overrides):
    cfg = dict(n_layer=2, n_head=2, n_embd=16, block_size=16, vocab_size=9, dtype="float64")
    return GPT(GPTConfig(**{**cfg, **overrides}), seed=0)


class Bigram:
    """A model whose next-token logits depend only on the last token: table[last]. No cache, no block size."""

    def __init__(self, table):
        self.table = np.asarray(table, dtype=np.float64)       # (V, V)

    def __call__(self, idx):
        return Tensor(self.table[np.asarray(idx)])              # (B, T, V)


def test_greedy_equals_argmax_of_full_recompute_with_and_without_cache():
    model, prompt = small(), [1, 2, 3]
    seq = list(prompt)
    with no_grad():
        for _ in range(20):                                     # runs past block_size 16 on the no-cache path
            seq.append(int(np.argmax(model(np.array([seq[-16:]])).data[0, -1])))
    assert generate(model, prompt, 20, GREEDY, use_cache=False) == seq[3:]
    assert generate(model, prompt, 13, GREEDY, use_cache=True) == seq[3:16]   # equal while the text fits
    model.train()
    assert generate(model, prompt, 5, GREEDY) == seq[3:8] and model.training     # eval inside, mode restored


def test_cache_and_recompute_sample_the_same_text_within_the_block():
    model = small()
    cfg = SamplingConfig(temperature=1.0, seed=5)
    assert generate(model, [4], 15, cfg, use_cache=True) == generate(model, [4], 15, cfg, use_cache=False)


def test_cached_generation_runs_past_block_size():
    model = small()
    out = generate(model, [1] * 20, 40, SamplingConfig(seed=0))   # prompt longer than the block, then 2 rebuilds
    assert len(out) == 40 and all(0 <= t < 9 for t in out)


def test_same_seed_same_text_different_seed_different_text():
    model = small()
    runs = [generate(model, [0, 1], 30, SamplingConfig(temperature=1.5, seed=s)) for s in (7, 7, 8)]
    assert runs[0] == runs[1] and runs[0] != runs[2]
    rng_runs = [generate(model, [0, 1], 30, SamplingConfig(temperature=1.5), rng=np.random.default_rng(7))
                for _ in range(2)]
    assert rng_runs[0] == rng_runs[1]


@settings(max_examples=10)
@given(st.integers(1, 6), st.integers(0, 2**16))
def test_top_k_samples_exactly_the_k_most_likely_tokens(k, seed):
    logits = np.random.default_rng(seed).permutation(8) * 0.07    # distinct, close: every kept p >= 0.1
    model = Bigram(np.tile(logits, (8, 1)))
    drawn = set(generate(model, [0], 300, SamplingConfig(top_k=k, temperature=1.0, seed=seed)))
    assert drawn == set(np.argsort(-logits)[:k].tolist())
    assert np.isfinite(apply_top_k(logits, k)).sum() == k


@settings(max_examples=10)
@given(st.floats(0.05, 0.95), st.integers(0, 2**16))
def test_top_p_keeps_the_smallest_prefix_reaching_p(p, seed):
    logits = np.random.default_rng(seed).standard_normal(8) * 2
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    order = np.argsort(-probs)
    n = int(np.searchsorted(np.cumsum(probs[order]), p) + 1)     # fewest tokens whose mass reaches p
    kept = np.flatnonzero(np.isfinite(apply_top_p(logits, p)))
    assert set(kept) == set(order[:n].tolist())
    model = Bigram(np.tile(logits, (8, 1)))
    drawn = set(generate(model, [0], 200, SamplingConfig(top_p=p, temperature=1.0, seed=seed)))
    assert drawn <= set(kept.tolist())


def test_batch_rows_with_unequal_prompts_equal_single_generation():
    model = small()
    prompts = [[1], [2, 3, 4, 5], [6, 7]]
    batch = generate_batch(model, prompts, 9, GREEDY)
    assert batch == [generate(model, p, 9, GREEDY) for p in prompts]
    assert batch == generate_batch(model, prompts, 9, GREEDY, use_cache=False)


def test_stop_ids_end_generation_and_are_not_returned():
    table = np.full((4, 4), -5.0)
    table[0, 1] = table[1, 2] = table[2, 3] = table[3, 0] = 5.0   # 0 -> 1 -> 2 -> 3 -> 0 ...
    model = Bigram(table)
    assert generate(model, [0], 10, GREEDY) == [1, 2, 3, 0, 1, 2, 3, 0, 1, 2]
    assert generate(model, [0], 10, GREEDY, stop_ids=[3]) == [1, 2]
    assert generate(model, [0], 0, GREEDY) == []
    assert generate_batch(model, [[0], [2]], 10, GREEDY, stop_ids=[1]) == [[], [3, 0]]


def test_logits_fn_constrains_every_step():
    model = small()
    banned = {0, 3, 5}

    def forbid(new_ids, logits):
        assert len(new_ids) < 25                         # sees the ids generated so far
        out = logits.copy()
        out[sorted(banned)] = -np.inf
        return out

    ids = generate(model, [1], 25, SamplingConfig(temperature=2.0, seed=0), logits_fn=forbid)
    assert len(ids) == 25 and not banned & set(ids)


def test_repetition_penalty_sees_prompt_and_generated_tokens():
    model = Bigram(np.tile([1.0, 0.9, 0.5, 0.1], (4, 1)))
    assert generate(model, [3], 3, GREEDY) == [0, 0, 0]
    # 0 is seen after step 1 (1.0 -> 0.67 < 0.9), then 1 too (0.9 -> 0.6 < 0.67)
    assert generate(model, [3], 3, SamplingConfig(temperature=0, repetition_penalty=1.5)) == [0, 1, 0]
    assert generate(model, [0], 1, SamplingConfig(temperature=0, repetition_penalty=1.5)) == [1]   # prompt counts


def test_generate_text_cuts_at_stop_strings():
    from tinyllm.tokenizers import CharTokenizer
    tok = CharTokenizer(list("abcd"))
    table = np.full((4, 4), -5.0)
    table[0, 1] = table[1, 2] = table[2, 3] = table[3, 0] = 5.0
    model = Bigram(table)
    assert generate_text(model, tok, "a", 6, GREEDY) == "bcdabc"
    assert generate_text(model, tok, "a", 20, GREEDY, stop_strings=("da", "x")) == "bc"
    with pytest.raises(ValueError, match="stop_strings"):
        generate_text(model, tok, "a", 5, GREEDY, stop_strings=("",))


@pytest.mark.parametrize("call, message", [
    (lambda m: generate(m, [], 3), "non-empty"),
    (lambda m: generate(m, [[1, 2]], 3), "1-D"),
    (lambda m: generate(m, [1.5], 3), "int"),
    (lambda m: generate(m, [1], -1), "max_new_tokens"),
    (lambda m: beam_search(m, [1], 3, beam_width=0), "beam_width"),
    (lambda m: beam_search(m, [1], 3, length_penalty=-1), "length_penalty"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call(small())


@settings(max_examples=10)
@given(st.integers(0, 2**16), st.integers(1, 12))
def test_beam_width_one_is_greedy(seed, n):
    model = small(n_embd=8, vocab_size=6)
    prompt = np.random.default_rng(seed).integers(0, 6, size=3).tolist()
    assert beam_search(model, prompt, n, beam_width=1) == generate(model, prompt, n, GREEDY)


@given(st.integers(0, 2**16))
def test_beam_of_full_width_finds_the_best_two_token_continuation(seed):
    V = 5
    table = np.random.default_rng(seed).standard_normal((V, V)) * 2
    model = Bigram(table)
    logp = table - np.log(np.exp(table).sum(-1, keepdims=True))
    best = max(itertools.product(range(V), repeat=2), key=lambda ab: logp[0, ab[0]] + logp[ab[0], ab[1]])
    assert tuple(beam_search(model, [0], 2, beam_width=V)) == best


def test_beam_prefers_a_likely_path_that_greedy_misses_and_cache_agrees():
    # From 0: token 1 looks best (0.6 vs 0.4) but is followed by a flat distribution; token 2 leads to a sure 3.
    p = np.full((5, 5), 1e-9)
    p[0, 1], p[0, 2] = 0.6, 0.4
    p[1, :] = 0.2
    p[2, 3] = 1.0
    p[3, 4] = p[4, 4] = 1.0
    model = Bigram(np.log(p / p.sum(-1, keepdims=True)))
    assert generate(model, [0], 2, GREEDY)[0] == 1
    assert beam_search(model, [0], 2, beam_width=2) == [2, 3]
    gpt = small()
    assert beam_search(gpt, [1, 2], 8, beam_width=3) == beam_search(gpt, [1, 2], 8, beam_width=3, use_cache=False)


def test_beam_length_penalty_decides_between_finished_hypotheses():
    # 0 -> stop(4) with p=0.5 now, or 0 -> 1 -> 2 -> stop, each step p = 0.9.
    p = np.full((5, 5), 1e-12)
    p[0, 4], p[0, 1] = 0.5, 0.5
    p[1, 2] = p[2, 4] = 0.9
    p[1, 4] = p[2, 3] = 0.1
    p[3, 4] = p[4, 4] = 1.0
    model = Bigram(np.log(p / p.sum(-1, keepdims=True)))
    # raw sums: log .5 = -0.69 beats log(.5 * .9 * .9) = -1.11; per token: -0.69 vs -0.37
    assert beam_search(model, [0], 5, beam_width=2, length_penalty=0.0, stop_ids=[4]) == []
    assert beam_search(model, [0], 5, beam_width=2, length_penalty=1.0, stop_ids=[4]) == [1, 2]


def _checkpoint(tmp_path):
    from tinyllm.tokenizers import CharTokenizer
    from tinyllm.training.checkpoint import save_checkpoint
    tok = CharTokenizer.train("abcdefgh \n")
    cfg = GPTConfig(n_layer=1, n_head=2, n_embd=8, block_size=16, vocab_size=tok.vocab_size)
    return save_checkpoint(tmp_path / "ckpt", model=GPT(cfg, seed=3), model_name="gpt", model_config=cfg,
                           tokenizer=tok)


def test_sample_cli_needs_only_the_checkpoint_and_is_seeded(tmp_path, capsys):
    from tinyllm.sampling.cli import main
    ckpt = str(_checkpoint(tmp_path))
    args = ["--ckpt", ckpt, "--prompt=ab", "--max_new_tokens=20", "--seed=4", "--top_k=5"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first and first.startswith("ab") and len(first) == 2 + 20 + 1
    assert main(args + ["--num_samples=3"]) == 0
    assert capsys.readouterr().out.count("-" * 40) == 2
    assert main(["--ckpt", ckpt, "--prompt=a", "--max_new_tokens=6", "--beam=3"]) == 0
    beam = capsys.readouterr().out
    assert main(["--ckpt", ckpt, "--prompt=a", "--max_new_tokens=6", "--beam=3", "--no_cache"]) == 0
    assert capsys.readouterr().out == beam


def test_sample_cli_reports_bad_input_clearly(tmp_path, capsys):
    from tinyllm.sampling.cli import main
    assert main(["--ckpt", str(tmp_path / "nowhere")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    ckpt = str(_checkpoint(tmp_path))
    assert main(["--ckpt", ckpt, "--prompt=xyz"]) == 2          # 'x' is not in the character vocabulary
    assert "'x'" in capsys.readouterr().err
    assert main(["--ckpt", ckpt, "--top_p=0"]) == 2
    assert "top_p" in capsys.readouterr().err
    assert main(["--ckpt", ckpt, "--threads=0"]) == 2
    assert "--threads" in capsys.readouterr().err
