"""The three scaling-law pictures in one PNG (matplotlib is optional, imported only here, only when asked).

    left:   IsoFLOP curves, loss vs N per budget, each with its parabola in log N and its vertex (a star)
    middle: the vertices N*(C) and D*(C) with their power laws (approach 2), extended to the 10x budget
    right:  loss vs compute: every run, the vertices' frontier L*(C) and, if it was run, the 10x budget's loss
"""
import numpy as np

from tinyllm.plotting import pyplot, save_figure


def plot_scaling(records, summary, path, big=None):
    """Write the figure to `path` (atomically; returns it), or None without matplotlib. `summary` is
    cli.analyse's output, `big` the 10x run's record (or None)."""
    plt = pyplot("no scaling plot")
    if plt is None:
        return None
    fig, (iso, opt, front) = plt.subplots(1, 3, figsize=(15, 4.2))
    budgets = sorted({float(r["C"]) for r in records})
    for C in budgets:
        g = sorted((r for r in records if float(r["C"]) == C), key=lambda r: r["N"])
        logN, loss = np.log([r["N"] for r in g]), [r["loss"] for r in g]
        line, = iso.plot(np.exp(logN), loss, "o", label=f"C={C:.2g}")
        if len(g) >= 3:
            p = np.polyfit(logN, loss, 2)
            xs = np.linspace(logN.min(), logN.max(), 50)
            iso.plot(np.exp(xs), np.polyval(p, xs), "-", color=line.get_color())
        front.plot([C] * len(g), loss, "o", color=line.get_color(), alpha=0.5)
    optima = [o for o in summary.get("optima", []) if o["inside"]]
    for o in optima:
        iso.plot(o["N_opt"], o["L_opt"], "k*", markersize=10)
    iso.set(xscale="log", xlabel="non-embedding parameters N", ylabel="final val loss (nats/char)",
            title="IsoFLOP curves")
    iso.legend(fontsize=8)

    C_max = max(budgets + ([float(big["C"])] if big else []))
    Cs = np.geomspace(min(budgets), C_max, 50)
    if optima:
        opt.plot([o["C"] for o in optima], [o["N_opt"] for o in optima], "o", label="N* (parabola vertex)")
        opt.plot([o["C"] for o in optima], [o["D_opt"] for o in optima], "s", label="D* (parabola vertex)")
        front.plot([o["C"] for o in optima], [o["L_opt"] for o in optima], "k*", markersize=10, label="L*(C)")
    if "kN" in summary:
        opt.plot(Cs, summary["kN"] * Cs ** summary["a_parabola"], "-", label=f"N* ∝ C^{summary['a_parabola']:.2f}")
        opt.plot(Cs, summary["kD"] * Cs ** summary["b_parabola"], "-", label=f"D* ∝ C^{summary['b_parabola']:.2f}")
        front.plot(Cs, summary["kL"] * Cs ** summary["g_frontier"], "k-",
                   label=f"L* = {summary['kL']:.3g}·C^{summary['g_frontier']:.3f}")
    if big:
        opt.plot(big["C"], big["N"], "rx", markersize=10, label="10x run's N")
        front.plot(big["C"], big["loss"], "rx", markersize=10, label="10x run (observed)")
    opt.set(xscale="log", yscale="log", xlabel="training FLOPs C", title="compute-optimal N*(C), D*(C)")
    opt.legend(fontsize=8)
    front.set(xscale="log", xlabel="training FLOPs C", ylabel="final val loss (nats/char)",
              title="loss vs compute")
    front.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)
