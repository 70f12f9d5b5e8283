"""`tinyllm scaling`: plan and run an IsoFLOP sweep, then fit scaling laws and check a held-out larger budget.

    tinyllm scaling plan                                    # the default grid: runs, N, D, steps
    tinyllm scaling sweep --results=out/scaling/results.jsonl --workers=2     # resumable: rerun to continue
    tinyllm scaling fit --results=out/scaling/results.jsonl --holdout=1e13 --plot=out/scaling/isoflop.png
    tinyllm scaling sweep --sweep.budgets=1e10,3e10 --sweep.shapes=1x32,2x32,2x48   # a smaller grid

`fit` uses every budget except the --holdout ones: parabola vertices per budget give N*(C) ∝ C^a and
D*(C) ∝ C^b; the Huber fit of L(N, D) = E + A/N^α + B/D^β (bootstrap intervals) predicts the held-out runs'
losses, which are printed next to what they measured. N is the non-embedding parameter count.
"""
import dataclasses
import json
import sys

import numpy as np

from tinyllm.config import ConfigError, help_text, parse_args
from tinyllm.scaling.executors import EXECUTORS
from tinyllm.scaling.fit import (bootstrap_isoflop_exponents, bootstrap_loss_surface, isoflop_optima, power_law,
                                 power_law_interval)
from tinyllm.scaling.sweep import SweepConfig, load_results, plan, run_sweep

COMMANDS = ("plan", "sweep", "fit")


@dataclasses.dataclass
class ScalingConfig:
    """Options of `tinyllm scaling`; the grid and recipe are nested as `sweep` (--sweep.budgets=...)."""
    results: str = "out/scaling/results.jsonl"   # the sweep's JSONL (appended to; read by fit)
    executor: str = "local"                     # local (worker processes) | serial (this process)
    workers: int = 2                            # parallel runs for the local executor
    threads: int = 1                            # BLAS/Numba threads per worker
    holdout: tuple[float, ...] = ()             # budgets left out of the fit and predicted instead
    n_boot: int = 100                           # bootstrap resamples for the intervals
    plot: str = ""                              # write the IsoFLOP curves here as PNG (needs matplotlib)
    sweep: SweepConfig = dataclasses.field(default_factory=SweepConfig)

    def __post_init__(self):
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {sorted(EXECUTORS)}, got {self.executor!r}")
        for name in ("workers", "threads", "n_boot"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")


def analyse(records, holdout=(), n_boot=100, seed=0, print_fn=print, grid=None):
    """Fit on the non-held-out records and predict the held-out ones; returns a JSON-able summary dict."""
    held = {float(c) for c in holdout}
    fit_recs = [r for r in records if float(r["C"]) not in held]
    test_recs = [r for r in records if float(r["C"]) in held]
    summary = {"n_fit_runs": len(fit_recs), "budgets": sorted({float(r["C"]) for r in fit_recs})}
    groups = {}
    for r in fit_recs:
        groups.setdefault(float(r["C"]), []).append(r)
    optima = []
    for C in sorted(groups):  # one budget at a time, so a budget without a minimum does not sink the others
        try:
            optima += isoflop_optima(groups[C])
        except ValueError as e:
            print_fn(f"C={C:.3g}: no parabola vertex ({e})")
    for o in optima:
        print_fn(f"C={o.C:.3g}: N*={o.N_opt:,.0f}  D*={o.D_opt:,.0f}  L*={o.L_opt:.4f}  ({o.n_runs} runs)"
                 + ("" if o.inside else "  [vertex OUTSIDE the sizes tried: extrapolated, widen the grid]"))
    summary["optima"] = [dataclasses.asdict(o) for o in optima]
    inside = [o for o in optima if o.inside]   # an extrapolated vertex would set the exponent by itself
    if len(inside) < 2:
        print_fn(f"approach 2 (parabolas): skipped, {len(inside)} budget(s) have their vertex inside the sizes tried")
    else:
        a, kN = power_law([o.C for o in inside], [o.N_opt for o in inside])
        b, kD = power_law([o.C for o in inside], [o.D_opt for o in inside])
        g, kL = power_law([o.C for o in inside], [o.L_opt for o in inside])
        summary.update(a_parabola=a, b_parabola=b, kN=kN, kD=kD, g_frontier=g, kL=kL)
        print_fn(f"approach 2 (parabolas): N* ∝ C^{a:.3f}, D* ∝ C^{b:.3f}  (Chinchilla: 0.50 / 0.50); "
                 f"frontier L* = {kL:.3g}·C^{g:.4f}")
        if len(inside) >= 3:
            ci_a = power_law_interval([o.C for o in inside], [o.N_opt for o in inside])
            ci_b = power_law_interval([o.C for o in inside], [o.D_opt for o in inside])
            summary["intervals_parabola_t90"] = {"a": ci_a, "b": ci_b}
            print_fn(f"  90% intervals (t on the vertices' scatter about the line): a in [{ci_a[0]:.3f}, "
                     f"{ci_a[1]:.3f}], b in [{ci_b[0]:.3f}, {ci_b[1]:.3f}]")
        try:
            iv2 = bootstrap_isoflop_exponents([r for r in fit_recs if float(r["C"]) in {o.C for o in inside}],
                                              n_boot=max(n_boot, 200), seed=seed)
            summary["intervals_parabola_90"] = iv2
            print_fn(f"  90% intervals (residual bootstrap, {iv2['n']} resamples): a in [{iv2['a'][0]:.3f}, "
                     f"{iv2['a'][1]:.3f}], b in [{iv2['b'][0]:.3f}, {iv2['b'][1]:.3f}]")
        except ValueError as e:
            print_fn(f"  no intervals for approach 2 ({e})")
    if len(fit_recs) >= 5:
        N, D, L = (np.array([r[k] for r in fit_recs], dtype=float) for k in ("N", "D", "loss"))
        fit, iv = bootstrap_loss_surface(N, D, L, n_boot=n_boot, seed=seed, grid=grid)
        summary["loss_fit"] = dataclasses.asdict(fit)
        summary["intervals_90"] = iv
        summary.update(a_fit=fit.a, b_fit=fit.b)
        print_fn(f"approach 3 (Huber fit of L(N,D)): E={fit.E:.3f} A={fit.A:.3g} B={fit.B:.3g} "
                 f"alpha={fit.alpha:.3f} [{iv['alpha'][0]:.3f}, {iv['alpha'][1]:.3f}] "
                 f"beta={fit.beta:.3f} [{iv['beta'][0]:.3f}, {iv['beta'][1]:.3f}]")
        print_fn(f"  => N_opt ∝ C^{fit.a:.3f} [{iv['a'][0]:.3f}, {iv['a'][1]:.3f}], "
                 f"D_opt ∝ C^{fit.b:.3f} [{iv['b'][0]:.3f}, {iv['b'][1]:.3f}]  (90% bootstrap, {n_boot} resamples)")
        preds = []
        for r in test_recs:
            pred = float(fit.loss(r["N"], r["D"]))
            preds.append({"id": r["id"], "C": r["C"], "N": r["N"], "D": r["D"], "predicted": pred,
                          "observed": r["loss"]})
            print_fn(f"held out {r['id']}: predicted loss {pred:.4f}, observed {r['loss']:.4f} "
                     f"({100 * (pred / r['loss'] - 1):+.1f}%)")
        summary["holdout_predictions"] = preds
        for C in sorted(held):
            print_fn(f"at C={C:.3g}: fit's N_opt ≈ {float(fit.optimal_N(C)):,.0f} (C=6ND form)"
                     + (f", parabola power law N* ≈ {kN * C ** a:,.0f}" if len(inside) >= 2 else ""))
    else:
        print_fn(f"L(N,D) fit: skipped (needs >= 5 runs outside the holdout, have {len(fit_recs)})")
    return summary


def build_config(argv):
    """(command, ScalingConfig) from argv: the first word is the command, the rest --key=value options."""
    cfg, positionals = parse_args(ScalingConfig(), argv)
    if len(positionals) != 1 or positionals[0] not in COMMANDS:
        raise ConfigError(f"expected one command from {COMMANDS}, got {positionals!r}; see --help")
    return positionals[0], cfg


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv or not argv:
        print(__doc__ + "\n" + help_text(ScalingConfig()))
        return 0
    try:
        command, cfg = build_config(argv)
    except (ConfigError, ValueError) as e:
        print(f"tinyllm scaling: {e}", file=sys.stderr)
        return 2
    specs = plan(cfg.sweep)
    if command == "plan":
        for s in specs:
            print(f"{s['id']}: {s['n_layer']}x{s['n_embd']}  N={s['N']:,}  D={s['D']:,}  steps={s['iters']}")
        print(f"{len(specs)} runs, {sum(s['iters'] for s in specs):,} optimizer steps in all")
    elif command == "sweep":
        executor = EXECUTORS[cfg.executor](workers=cfg.workers, threads=cfg.threads) \
            if cfg.executor == "local" else EXECUTORS[cfg.executor]()
        run_sweep(specs, cfg.results, executor=executor, print_fn=lambda *a: print(*a, flush=True))
    else:
        try:
            records = load_results(cfg.results)
        except ValueError as e:
            print(f"tinyllm scaling: {e}", file=sys.stderr)
            return 2
        if not records:
            print(f"tinyllm scaling: no results in {cfg.results}; run `tinyllm scaling sweep` first", file=sys.stderr)
            return 2
        summary = analyse(records, cfg.holdout, cfg.n_boot)
        if cfg.plot:
            from tinyllm.scaling.plots import plot_scaling
            plot_scaling([r for r in records if float(r["C"]) not in set(cfg.holdout)], summary, cfg.plot)
        print(json.dumps({k: v for k, v in summary.items() if k != "optima"}, default=float)[:2000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
