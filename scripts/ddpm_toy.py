"""Train a DDPM on a 2-D toy distribution, report the energy distance of its samples, and plot them (PNG).

    python scripts/ddpm_toy.py                                        # two moons, T=1000 linear, 3000 steps
    python scripts/ddpm_toy.py --data=swiss_roll --schedule=cosine --T=100 --iters=2000
    python scripts/ddpm_toy.py --data=mixture --ddim_steps=10,50 --png=out/ddpm_mixture.png

Energy distance (tinyllm/datasets/toy2d.py) is printed beside two anchors measured in the same run: real vs real
(the floor at this n) and N(0, I) vs real (what no learning gives). matplotlib is optional: without it no PNG.
"""
import argparse
import os
import time

for _var in ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):   # before NumPy/Numba load: small ops stall on 2
    os.environ.setdefault(_var, "1")                        # threads of a shared host (see PERF.md)

import numpy as np

from tinyllm.datasets.toy2d import TOY2D, energy_distance, sample_toy
from tinyllm.models.ddpm import DDPM, DDPMConfig, train_ddpm
from tinyllm.plotting import pyplot, save_figure


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="moons", choices=sorted(TOY2D))
    p.add_argument("--T", type=int, default=1000)
    p.add_argument("--schedule", default="linear", choices=["linear", "cosine"])
    p.add_argument("--iters", type=int, default=3000)
    p.add_argument("--batch_size", type=int, default=256)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--n", type=int, default=1000, help="samples compared with n data points")
    p.add_argument("--ddim_steps", default="10,50", help="comma-separated DDIM step counts ('' = none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--png", default="out/ddpm_toy.png", help="plot path ('' = no plot)")
    return p.parse_args()


def plot(path, data, panels):
    """data and each (title, samples) panel side by side, written atomically to path."""
    plt = pyplot("no PNG written")
    if plt is None:
        return
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(3.2 * (len(panels) + 1), 3.2), sharex=True, sharey=True)
    for ax, (title, pts) in zip(axes, [("data", data)] + panels):
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5)
        ax.set_title(title, fontsize=9)
        ax.set_xlim(-3, 3)
        ax.set_ylim(-3, 3)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def main():
    args = parse_args()
    cfg = DDPMConfig(T=args.T, schedule=args.schedule, hidden=args.hidden)
    print(f"DDPM on {args.data}: {cfg}")
    model = DDPM(cfg, seed=args.seed)
    print(f"eps-MLP: {model.num_parameters():,} parameters; alpha_bar_T = {model.alpha_bar[-1]:.2e}")
    t0 = time.perf_counter()
    train_ddpm(model, lambda n, rng: sample_toy(args.data, n, rng), args.iters, np.random.default_rng(args.seed),
               batch_size=args.batch_size, lr=args.lr, log=print, log_every=max(args.iters // 10, 1))
    print(f"trained {args.iters} steps in {time.perf_counter() - t0:.1f} s")

    ref = sample_toy(args.data, args.n, np.random.default_rng(args.seed + 100))
    floor = energy_distance(sample_toy(args.data, args.n, np.random.default_rng(args.seed + 101)), ref)
    noise = energy_distance(np.random.default_rng(args.seed + 102).normal(size=(args.n, 2)), ref)
    print(f"energy distance anchors: real vs real {floor:.4f}; N(0, I) vs real {noise:.4f}")
    panels = []
    t0 = time.perf_counter()
    x = model.sample(args.n, np.random.default_rng(args.seed + 1))
    print(f"ancestral (Algorithm 2, {cfg.T} steps): energy distance {energy_distance(x, ref):.4f} "
          f"[{time.perf_counter() - t0:.1f} s]")
    panels.append((f"DDPM {cfg.T} steps", x))
    for steps in [int(s) for s in args.ddim_steps.split(",") if s]:
        for eta, clip in ((0.0, None), (1.0, 3.0)):
            t0 = time.perf_counter()
            x = model.ddim_sample(args.n, min(steps, cfg.T), np.random.default_rng(args.seed + 1), eta=eta,
                                  clip_x0=clip)
            print(f"DDIM {steps} steps eta={eta} clip_x0={clip}: energy distance {energy_distance(x, ref):.4f} "
                  f"[{time.perf_counter() - t0:.1f} s]")
            panels.append((f"DDIM {steps} eta={eta}", x))
    if args.png:
        plot(args.png, ref, panels)


if __name__ == "__main__":
    main()
