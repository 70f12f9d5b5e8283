"""Regenerate the shipped NLQ examples: template-teacher candidates, each validated and executed, deduplicated.

    python scripts/nlq_distill.py --n=20000 --seed=0 --out=data/nlq_examples.jsonl.gz

Same as `tinyllm nlq distill ...` (see `--help`); prints progress, then kept vs rejected counts by reason.
"""
import sys

from tinyllm.nlq.distill import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
