"""Generate text from a checkpoint directory: the same as `tinyllm sample` (see tinyllm/sampling/cli.py).

    python scripts/sample.py --ckpt=out/baby/best --prompt="ROMEO:" --temperature=0.8 --top_k=20 --seed=1
"""
import sys

from tinyllm.sampling.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
