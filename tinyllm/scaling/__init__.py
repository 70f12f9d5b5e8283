"""Scaling laws on a laptop: FLOP counts, an IsoFLOP sweep over the shared Trainer, and power-law fits.

    flops.py      parameters and training FLOPs per token of the GPT, by hand (tested against the engine)
    sweep.py      the grid of (budget, shape) runs, trained resumably into a JSONL
    executors.py  where runs execute: this process, local workers, or a Ray/Dask class with the same method
    fit.py        IsoFLOP parabolas -> N*(C), D*(C); Huber fit of L(N, D) = E + A/N^α + B/D^β with bootstrap
    plots.py      IsoFLOP curves, N*(C) and D*(C), loss vs compute (matplotlib, optional)
    cli.py        `tinyllm scaling plan|sweep|fit`
"""
from tinyllm.scaling.fit import bootstrap_loss_surface, fit_loss_surface, isoflop_optima, power_law
from tinyllm.scaling.flops import gpt_flops_per_token, gpt_params, training_flops
from tinyllm.scaling.sweep import SweepConfig, plan, run_sweep

__all__ = ["gpt_params", "gpt_flops_per_token", "training_flops", "SweepConfig", "plan", "run_sweep",
           "isoflop_optima", "power_law", "fit_loss_surface", "bootstrap_loss_surface"]
