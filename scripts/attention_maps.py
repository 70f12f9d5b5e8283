"""Render a trained model's attention weights for a prompt as a heat-map PNG: one panel per (layer, head).

    tinyllm train --model=gpt_zoo --model.pos=rope --out_dir=out/rope       # any gpt / gpt_zoo checkpoint
    python scripts/attention_maps.py --ckpt=out/rope/best --prompt="ROMEO: But soft" --out=attention.png
    python scripts/attention_maps.py --ckpt=out/rope/best --layers=0,3 --heads=1

Row i of a panel is query token i, column j key token j; a causal model's maps are lower-triangular. The model
is rebuilt as gpt_zoo with the checkpoint's pieces, and its attention probabilities are recorded on the naive
path (the fused kernel never stores them). Needs matplotlib (`pip install "tinyllm[plot]"`); without it the
script says so and exits with status 3, after printing each head's most attended-to key per query.
"""
import dataclasses
import sys

import numpy as np

from tinyllm.config import ConfigError, help_text, parse_overrides
from tinyllm.plotting import pyplot, save_figure


@dataclasses.dataclass
class MapsConfig:
    ckpt: str = ""                 # checkpoint directory (a run's out_dir/best or /latest)
    prompt: str = "ROMEO:\nBut soft, what light"   # text whose attention is drawn (cropped to block_size)
    layers: str = "all"            # comma-separated layer indices, or "all"
    heads: str = "all"             # comma-separated head indices, or "all"
    out: str = "attention.png"     # PNG path


def zoo_model(model, name, config):
    """A gpt_zoo model computing the same function as the checkpoint's model (gpt weights load one-to-one)."""
    from tinyllm.models.zoo import ZooConfig, ZooGPT
    if name == "gpt_zoo":
        return model
    if name != "gpt":
        raise ValueError(f"attention maps need a gpt or gpt_zoo checkpoint, this one holds {name!r}")
    fields = {f.name for f in dataclasses.fields(ZooConfig)}
    zoo = ZooGPT(ZooConfig(**{k: v for k, v in config.items() if k in fields}))
    zoo.load_state_dict({("pos.weight" if k == "wpe.weight" else k): v for k, v in model.state_dict().items()})
    return zoo


def pick(spec, n, what):
    if spec == "all":
        return list(range(n))
    try:
        idx = [int(s) for s in spec.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--{what} must be 'all' or comma-separated integers, got {spec!r}") from None
    bad = [i for i in idx if not 0 <= i < n]
    if bad or not idx:
        raise ConfigError(f"--{what}: indices must be in [0, {n}), got {spec!r}")
    return idx


def render(maps, labels, layers, heads, out):
    """maps (L, H, T, T) -> a PNG grid; returns the path, or None when matplotlib is not installed."""
    plt = pyplot("no PNG written")
    if plt is None:
        return None
    fig, axes = plt.subplots(len(layers), len(heads), squeeze=False,
                             figsize=(2.6 * len(heads) + 1, 2.6 * len(layers) + 0.5))
    ticks = np.arange(len(labels))
    for r, layer in enumerate(layers):
        for c, head in enumerate(heads):
            ax = axes[r][c]
            ax.imshow(maps[layer, head], cmap="viridis", vmin=0.0, vmax=1.0)
            ax.set_title(f"layer {layer}, head {head}", fontsize=8)
            ax.set_xticks(ticks, labels, fontsize=5, rotation=90)
            ax.set_yticks(ticks, labels, fontsize=5)
    fig.tight_layout()
    return save_figure(fig, out, dpi=150)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        cfg = parse_overrides(MapsConfig(), [a for a in argv if a not in ("-h", "--help")])
        if "-h" in argv or "--help" in argv:
            print(__doc__.split("\n\n")[0] + "\n\n" + help_text(cfg))
            return 0
        if not cfg.ckpt:
            raise ConfigError("--ckpt is required (a checkpoint directory such as out/baby/best)")
        from tinyllm.training.checkpoint import CheckpointError, load_checkpoint
        try:
            ckpt = load_checkpoint(cfg.ckpt)
        except CheckpointError as e:
            raise ConfigError(str(e)) from None
        manifest = ckpt.manifest
        name = manifest["model"]["name"]
        model = zoo_model(ckpt.model, name, manifest["model"]["config"])
        ids = ckpt.tokenizer.encode(cfg.prompt)[-model.config.block_size:]
        if not ids:
            raise ConfigError("--prompt encodes to no tokens")
        layers = pick(cfg.layers, model.config.n_layer, "layers")
        heads = pick(cfg.heads, model.config.n_head, "heads")
    except (ConfigError, ValueError) as e:
        print(f"attention_maps: {e}", file=sys.stderr)
        return 2
    model.eval()
    maps = model.attention_maps(np.array([ids]))[:, 0]                       # (L, H, T, T)
    labels = [ckpt.tokenizer.decode([i]).replace("\n", "\\n").replace(" ", "\u2423") for i in ids]   # ␣ = space
    print(f"attention_maps: {name} from {cfg.ckpt}; {len(ids)} prompt tokens; "
          f"layers {layers}, heads {heads}")
    if render(maps, labels, layers, heads, cfg.out) is None:
        for layer in layers:
            for head in heads:
                top = maps[layer, head].argmax(-1)
                print(f"layer {layer} head {head}: most attended key per query: {top.tolist()}")
        print("attention_maps: matplotlib is not installed, so no PNG was written; "
              "pip install 'tinyllm[plot]' (or pip install matplotlib) and rerun", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
