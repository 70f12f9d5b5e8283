"""Train a model: the same as `tinyllm train` (see tinyllm/training/cli.py for the walk-through).

    python scripts/train.py                                  # the baby GPT on tiny Shakespeare
    python scripts/train.py --preset=tiny --out_dir=out/try  # a seconds-long smoke test
    python scripts/train.py --data=my.txt --model.n_layer=6  # your own text, a deeper model
"""
import sys

from tinyllm.training.cli import main

if __name__ == "__main__":
    sys.exit(main())
