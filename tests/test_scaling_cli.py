"""`tinyllm scaling`: plan, a sweep with a fake trainer, and fit/analyse on synthetic results with a holdout."""
import json

import numpy as np
import pytest

from tinyllm.scaling.cli import analyse, build_config, main
from tinyllm.scaling.sweep import SweepConfig, append_result, load_results, plan

GRID = {"a": (0.0, 5.0, 10.0), "b": (0.0, 5.0, 10.0), "e": (-1.0, 0.0, 1.0), "alpha": (0.3,), "beta": (0.3,)}
E, A, B, ALPHA, BETA = 1.5, 60.0, 300.0, 0.35, 0.3


def synthetic_records(budgets, noise=1e-3):
    """The plan of a grid, with losses from a known L(N, D) times a little noise."""
    cfg = SweepConfig(budgets=budgets, shapes=("1x16", "1x32", "2x32", "2x48", "2x64", "3x96"), min_iters=1,
                      sizes_per_budget=0)
    rng = np.random.default_rng(0)
    return [{**s, "loss": float((E + A / s["N"] ** ALPHA + B / s["D"] ** BETA) * np.exp(rng.normal(0, noise)))}
            for s in plan(cfg)]


def test_analyse_recovers_exponents_and_predicts_the_holdout():
    records = synthetic_records((1e10, 3e10, 1e11, 1e12))
    lines = []
    out = analyse(records, holdout=(1e12,), n_boot=5, print_fn=lines.append, grid=GRID)
    assert out["budgets"] == [1e10, 3e10, 1e11]
    assert out["loss_fit"]["alpha"] == pytest.approx(ALPHA, abs=0.05)
    assert out["a_fit"] == pytest.approx(BETA / (ALPHA + BETA), abs=0.05)
    preds = out["holdout_predictions"]
    assert len(preds) == 6 and all(abs(p["predicted"] / p["observed"] - 1) < 0.02 for p in preds)
    assert any("held out" in line for line in lines) and any("approach 3" in line for line in lines)


def test_cli_plan_fit_and_errors(tmp_path, capsys):
    assert main(["plan", "--sweep.budgets=1e10", "--sweep.shapes=1x32,2x32"]) == 0
    assert "2 runs" in capsys.readouterr().out
    results = tmp_path / "r.jsonl"
    for r in synthetic_records((1e10, 3e10, 1e11)):
        append_result(results, r)
    assert len(load_results(results)) == len(synthetic_records((1e10, 3e10, 1e11)))
    args = ["fit", f"--results={results}", "--n_boot=2"]
    try:
        import matplotlib  # noqa: F401
        args.append(f"--plot={tmp_path / 'iso.png'}")
    except ImportError:
        pass
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "approach 2" in out and "approach 3" in out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["n_fit_runs"] > 5
    if args[-1].startswith("--plot"):
        assert (tmp_path / "iso.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["fit", f"--results={tmp_path / 'missing.jsonl'}"]) == 2
    assert main(["frobnicate"]) == 2
    assert main(["plan", "--sweep.shapes=2by3"]) == 2
    assert "no results" in capsys.readouterr().err
    with pytest.raises(ValueError, match="executor"):
        build_config(["sweep", "--executor=ray"])


def test_plot_shows_the_fits_and_the_10x_run(tmp_path):
    pytest.importorskip("matplotlib")
    from tinyllm.scaling.plots import plot_scaling
    records = synthetic_records((1e10, 3e10, 1e11, 3e11))
    summary = analyse(records, n_boot=2, print_fn=lambda *a: None, grid=GRID)
    assert "kN" in summary and "intervals_parabola_90" in summary
    big = {**records[-1], "C": 3e12}
    plot_scaling(records, summary, tmp_path / "s.png", big=big)
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
