"""Scaling laws end to end: IsoFLOP sweep -> fits -> predict a 10x larger budget -> train it -> predicted vs observed.

    python scripts/scaling_laws.py                                   # the default grid (about 30 min on 2 cores)
    python scripts/scaling_laws.py --sweep.budgets=1e10,3e10,1e11 --sweep.shapes=1x32,2x32,2x48,2x64,3x96 \
        --results=out/scaling_small/results.jsonl --plot=out/scaling_small/isoflop.png
    python scripts/scaling_laws.py --skip_big                        # sweep and fit only

Every option of `tinyllm scaling` applies (see tinyllm/scaling/cli.py). Resumable: rerun the same command and
finished runs (the 10x run included) are read back from --results instead of retrained. The 10x run uses the
grid's shape whose N is closest to the fitted compute-optimal N*; its loss is predicted from L(N, D) fitted on the
sweep alone, before it trains.
"""
import sys
import time

from tinyllm.config import ConfigError
from tinyllm.scaling.cli import analyse, build_config, plot_isoflops
from tinyllm.scaling.executors import EXECUTORS
from tinyllm.scaling.fit import LossFit
from tinyllm.scaling.sweep import SweepConfig, load_results, plan, run_sweep


def main(argv):
    skip_big = "--skip_big" in argv
    argv = [a for a in argv if a != "--skip_big"]
    try:
        _, cfg = build_config(["sweep"] + argv)
    except (ConfigError, ValueError) as e:
        print(f"scaling_laws: {e}", file=sys.stderr)
        return 2
    say = lambda *a: print(*a, flush=True)  # noqa: E731
    executor = EXECUTORS[cfg.executor](workers=cfg.workers, threads=cfg.threads) \
        if cfg.executor == "local" else EXECUTORS[cfg.executor]()
    specs = plan(cfg.sweep)
    say(f"1) IsoFLOP sweep: budgets {cfg.sweep.budgets}, shapes {cfg.sweep.shapes}, {len(specs)} runs, "
        f"{sum(s['iters'] for s in specs):,} steps; executor {cfg.executor} x{cfg.workers}")
    t0 = time.perf_counter()
    records = run_sweep(specs, cfg.results, executor=executor, print_fn=say)
    say(f"   sweep done in {time.perf_counter() - t0:.0f} s ({len(records)} runs)")

    say("2) fits on the sweep")
    summary = analyse(records, n_boot=cfg.n_boot, print_fn=say)
    if cfg.plot:
        plot_isoflops(records, summary["optima"], cfg.plot)
        say(f"   plot: {cfg.plot}")
    if skip_big or "loss_fit" not in summary:
        return 0

    C_big = 10 * max(cfg.sweep.budgets)
    fit = LossFit(**summary["loss_fit"])
    N_star = summary["kN"] * C_big ** summary["a_parabola"] if "kN" in summary else float(fit.optimal_N(C_big))
    big_cfg = SweepConfig(**{**cfg.sweep.__dict__, "budgets": (C_big,), "min_iters": 1})
    candidates = plan(big_cfg)
    spec = min(candidates, key=lambda s: abs(s["N"] / N_star - 1))
    predicted = float(fit.loss(spec["N"], spec["D"]))
    say(f"3) 10x budget C={C_big:.3g}: predicted N* ≈ {N_star:,.0f}; training the closest shape "
        f"{spec['n_layer']}x{spec['n_embd']} (N={spec['N']:,}, D={spec['D']:,}, {spec['iters']} steps); "
        f"predicted loss {predicted:.4f}")
    done = {r["id"]: r for r in load_results(cfg.results)}
    if spec["id"] not in done:
        run_sweep([spec], cfg.results, executor=EXECUTORS["serial"](), print_fn=say)
        done = {r["id"]: r for r in load_results(cfg.results)}
    if spec["id"] in done:
        observed = done[spec["id"]]["loss"]
        say(f"   predicted {predicted:.4f} vs observed {observed:.4f} ({100 * (predicted / observed - 1):+.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
