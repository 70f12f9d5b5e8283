"""The IsoFLOP plan, the resumable sweep (with a fake train function injected) and the executor interface."""
import sys
from pathlib import Path

import pytest

from tinyllm.scaling.executors import LocalProcessExecutor, SerialExecutor, call, resolve
from tinyllm.scaling.flops import gpt_flops_per_token
from tinyllm.scaling.sweep import SweepConfig, load_results, plan, run_sweep

CFG = SweepConfig(budgets=(1e10, 3e10), shapes=("1x16", "2x32", "2x48"), batch_size=4, block_size=16)
CALLS = []


def fake_train(spec):
    """Instant stand-in for training: a loss that is a known function of N and D."""
    CALLS.append(spec["id"])
    return {"loss": 1.0 + 10 / spec["N"] ** 0.3 + 20 / spec["D"] ** 0.3, "seconds": 0.0}


class Killed(Exception):
    pass


def test_plan_spends_each_budget():
    specs = plan(CFG)
    assert len({s["id"] for s in specs}) == len(specs) == 6
    for s in specs:
        per_token = gpt_flops_per_token(s["n_layer"], s["n_embd"], CFG.vocab_size, CFG.block_size).train
        assert s["D"] == s["iters"] * CFG.batch_size * CFG.block_size and s["iters"] >= CFG.min_iters
        assert s["C_actual"] == per_token * s["D"]
        assert abs(s["C_actual"] / s["C"] - 1) < 0.5 / s["iters"] + 1e-9   # rounding to whole steps only
    few = plan(SweepConfig(budgets=(1e10,), shapes=("1x16", "8x256"), min_iters=30))
    assert [s["n_embd"] for s in few] == [16]   # 8x256 would get < 30 steps at this budget


def test_sweep_resumes_after_a_kill_and_skips_finished_runs(tmp_path):
    specs, path = plan(CFG), tmp_path / "results.jsonl"
    CALLS.clear()

    def dies_after_two(spec):
        if len(CALLS) == 2:
            raise Killed()    # as if the process was killed in the middle of the third run
        return fake_train(spec)

    class Fragile(SerialExecutor):
        def map_unordered(self, fn, items):
            for spec in items:
                yield spec, fn(spec)
    with pytest.raises(Killed):
        run_sweep(specs, path, dies_after_two, Fragile(), print_fn=lambda *a: None)
    order = [s["id"] for s in sorted(specs, key=lambda s: -s["iters"])]   # longest runs start first
    assert [r["id"] for r in load_results(path)] == CALLS == order[:2]
    CALLS.clear()
    records = run_sweep(specs, path, fake_train, SerialExecutor(), print_fn=lambda *a: None)
    assert CALLS == order[2:]                                         # only the unfinished runs trained
    assert [r["id"] for r in records] == [s["id"] for s in specs]
    assert len(load_results(path)) == len(specs)
    CALLS.clear()
    run_sweep(specs, path, fake_train, SerialExecutor(), print_fn=lambda *a: None)
    assert CALLS == []                                                # a finished sweep trains nothing
    other = plan(SweepConfig(budgets=CFG.budgets, shapes=CFG.shapes, batch_size=4, block_size=16, lr=1e-3))
    run_sweep(other, path, fake_train, SerialExecutor(), print_fn=lambda *a: None)
    assert len(CALLS) == len(other)                                   # another recipe never reuses results


def test_failed_runs_are_not_recorded(tmp_path):
    def broken(spec):
        raise RuntimeError("boom")
    out = []
    records = run_sweep(plan(CFG)[:2], tmp_path / "r.jsonl", broken, print_fn=out.append)
    assert records == [] and load_results(tmp_path / "r.jsonl") == []
    assert any("FAILED" in line and "boom" in line for line in out)


def test_corrupt_results_line_is_named(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": "a"}\nnot json\n')
    with pytest.raises(ValueError, match=r"r.jsonl:2"):
        load_results(path)


def test_local_process_executor_runs_workers_and_reports_errors(tmp_path):
    tests_dir = str(Path(__file__).parent)
    ex = LocalProcessExecutor(workers=2, env={"PYTHONPATH": tests_dir + ":" + ":".join(sys.path)}, poll_s=0.05)
    specs = [{"id": "a", "N": 100, "D": 1000}, {"id": "b", "N": 1000, "D": 100}, {"id": "c"}]
    got = {s["id"]: r for s, r in ex.map_unordered("test_scaling_sweep:fake_train", specs)}
    assert got["a"]["loss"] == pytest.approx(fake_train(specs[0])["loss"])
    assert got["b"]["loss"] == pytest.approx(fake_train(specs[1])["loss"])
    assert "KeyError" in got["c"]["error"]    # a failing run is reported, the others are unaffected


def test_executor_interface_errors():
    assert call(lambda s: 3, {})["error"].strip().endswith("got int")
    with pytest.raises(ValueError, match="fn"):
        resolve("no_colon")
    with pytest.raises(ValueError, match="cannot be imported"):
        resolve("tinyllm.scaling.nope:f")
    with pytest.raises(ValueError, match="workers"):
        LocalProcessExecutor(workers=0)
    with pytest.raises(ValueError, match="string"):
        next(LocalProcessExecutor().map_unordered(fake_train, [{}]))
    with pytest.raises(ValueError, match="shape"):
        SweepConfig(shapes=("2by64",))
    with pytest.raises(ValueError, match="budgets"):
        SweepConfig(budgets=(-1.0,))
