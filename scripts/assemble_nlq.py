"""Assemble a seed ensemble of NLQ translators (tinyllm/nlq/ensemble.py) from trained checkpoint directories.

    python scripts/train_nlq.py --seed 3 --out /tmp/seed3 &       # the shipped recipe: two seeds, one per core
    python scripts/train_nlq.py --seed 0 --out /tmp/seed0; wait
    python scripts/assemble_nlq.py /tmp/seed3 /tmp/seed0 --out data/nlq_model
    python scripts/train_rerank.py                                 # the re-ranker of the ensemble's pooled beams

The first directory supplies the vocabulary (and its re-ranker, if it has one, until train_rerank.py replaces
it); every member's weights are stored in half precision (--stored=float32 keeps them whole). Prints what it
wrote and the sizes.
"""
import argparse
from pathlib import Path

from tinyllm.nlq.ensemble import STORED, EnsembleModel, assemble


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("members", nargs="+", help="trained checkpoint directories; the first one leads")
    ap.add_argument("--out", required=True, help="where to write the ensemble checkpoint")
    ap.add_argument("--stored", default=STORED, choices=["float16", "float32"], help="dtype of the stored weights")
    args = ap.parse_args(argv)
    for m in args.members:
        if not (Path(m) / "manifest.json").exists():
            ap.error(f"{m}: not a checkpoint directory (no manifest.json)")
    print(f"assembling {len(args.members)} members ({', '.join(args.members)}) into {args.out}, "
          f"weights stored as {args.stored}")
    out = assemble(args.out, args.members[0], args.members[1:], args.stored)
    model = EnsembleModel.load(out)                  # loads back, or fails here rather than in the translator
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    params = sum(p.data.size for m in model.members for p in m.parameters())
    print(f"wrote {out}: {len(model.members)} members, {params:,} parameters, {size / 2**20:.1f} MiB on disk, "
          f"re-ranker {'yes' if model.reranker is not None else 'no'}")


if __name__ == "__main__":
    main()
