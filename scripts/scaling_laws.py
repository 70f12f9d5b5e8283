"""Scaling laws end to end: IsoFLOP sweep -> fits -> predict a 10x larger budget -> train it -> predicted vs observed.

    python scripts/scaling_laws.py --plot=out/scaling/isoflop.png     # the default grid, then the 10x run
    python scripts/scaling_laws.py --sweep.budgets=1e9,3e9,1e10 --sweep.n_star_guess=2000 \
        --results=out/scaling_small/results.jsonl --plot=out/scaling_small/isoflop.png
    python scripts/scaling_laws.py --skip_big                        # sweep and fit only

Every option of `tinyllm scaling` applies (see tinyllm/scaling/cli.py). Resumable: rerun the same command and
finished runs (the 10x run included) are read back from --results instead of retrained. The 10x run trains the
ladder's shape nearest (in log N) the parabolas' N*(C) power law (or, without one, the shape the L(N, D) fit rates
best); its loss is predicted before it trains, from L(N, D) and from the vertices' frontier L*(C), both fitted on the
sweep alone.
"""
import math
import sys
import time

from tinyllm.config import ConfigError
from tinyllm.scaling.cli import analyse, build_config
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
    big = None if skip_big or "loss_fit" not in summary else run_10x(cfg, summary, say)
    if cfg.plot:
        from tinyllm.scaling.plots import plot_scaling
        plot_scaling(records, summary, cfg.plot, big=big)
        say(f"   plot: {cfg.plot}")
    return 0


def run_10x(cfg, summary, say):
    """Predict the loss at 10x the largest budget from the sweep's fits, then train that run; returns its record."""

    C_big = 10 * max(cfg.sweep.budgets)
    fit = LossFit(**summary["loss_fit"])
    big_cfg = SweepConfig(**{**cfg.sweep.__dict__, "budgets": (C_big,), "sizes_per_budget": 0, "min_iters": 1})
    candidates = plan(big_cfg)   # every shape of the ladder at the 10x budget, with its exact D
    best3 = min(candidates, key=lambda s: float(fit.loss(s["N"], s["D"])))
    if "kN" in summary:          # approach 2: the power law through the parabola vertices
        N_star = summary["kN"] * C_big ** summary["a_parabola"]
        spec = min(candidates, key=lambda s: abs(math.log(s["N"] / N_star)))
        say(f"3) 10x budget C={C_big:.3g}: parabola power law N* ≈ {N_star:,.0f}; the L(N,D) fit's best shape "
            f"is {best3['n_layer']}x{best3['n_embd']} (N={best3['N']:,})")
    else:
        spec = best3
        say(f"3) 10x budget C={C_big:.3g}: no approach-2 exponent; the L(N,D) fit's best shape")
    predicted = float(fit.loss(spec["N"], spec["D"]))
    say(f"   training {spec['n_layer']}x{spec['n_embd']} (N={spec['N']:,}, D={spec['D']:,}, {spec['iters']} steps, "
        f"lr {spec['lr']:.3g}); L(N,D) fit predicts {predicted:.4f}"
        + (f"; the frontier L*(C) = {summary['kL']:.3g}·C^{summary['g_frontier']:.4f} predicts "
           f"{summary['kL'] * C_big ** summary['g_frontier']:.4f}" if "kL" in summary else ""))
    done = {r["id"]: r for r in load_results(cfg.results)}
    if spec["id"] not in done:
        run_sweep([spec], cfg.results, executor=EXECUTORS["serial"](), print_fn=say)
        done = {r["id"]: r for r in load_results(cfg.results)}
    if spec["id"] in done:
        observed = done[spec["id"]]["loss"]
        say(f"   L(N,D) fit predicted {predicted:.4f} vs observed {observed:.4f}: {predicted - observed:+.4f} nats "
            f"({100 * (predicted / observed - 1):+.1f}%)")
        if "kL" in summary:
            frontier = summary["kL"] * C_big ** summary["g_frontier"]
            say(f"   frontier predicted {frontier:.4f} vs observed {observed:.4f}: {frontier - observed:+.4f} nats")
    return done.get(spec["id"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
