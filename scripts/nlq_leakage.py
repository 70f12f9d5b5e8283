"""How close do the distilled training questions come to the hand-written test questions?

    python scripts/nlq_leakage.py                                   # the shipped examples vs the test set
    python scripts/nlq_leakage.py --examples=/tmp/new.jsonl.gz --threshold=0.7

The distiller drops a candidate whose question *is* a test question, but a teacher wording written while reading
a test miss can still reproduce it with one word changed ("who are the most prolific authors? top 10" for "who
are the most prolific first authors? top 10"), which makes the test score a memory test. For each test question
this prints the most similar training question of the same index by word-set Jaccard similarity,
|A & B| / |A | B| over lower-cased words, and lists those at or above --threshold. Run it on every new example
set and compare the count with the previous set's: template heads are short, so a few simple questions are
always close ("papers per month"); a new close pair after a teacher change is the warning.
"""
import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tinyllm.nlq.evaluate import load_cases  # noqa: E402
from tinyllm.nlq.prepare_ir import load_examples  # noqa: E402


def word_set(question):
    return frozenset(re.findall(r"\w+", question.lower()))


def closest(tests, examples):
    """[(similarity, test case, nearest training question)] for each test case (evaluate.Case), most similar
    first; the training question is searched among the examples (dicts) of the test case's index."""
    by_index = {}
    for ex in examples:
        by_index.setdefault(ex["index"], {}).setdefault(word_set(ex["question"]), ex["question"])
    out = []
    for case in tests:
        t = word_set(case.question)
        best = (0.0, "")
        for s, q in by_index.get(case.index, {}).items():
            sim = len(t & s) / len(t | s) if t | s else 0.0
            best = max(best, (sim, q))
        out.append((best[0], case, best[1]))
    return sorted(out, key=lambda r: -r[0])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", default=str(ROOT / "data" / "nlq_examples.jsonl.gz"))
    ap.add_argument("--testset", default=str(ROOT / "data" / "nlq_testset.jsonl"))
    ap.add_argument("--threshold", type=float, default=0.75, help="list pairs at least this similar")
    args = ap.parse_args(argv)
    if not 0.0 < args.threshold <= 1.0:
        ap.error(f"--threshold must be in (0, 1], got {args.threshold}")
    for flag, path in (("--examples", args.examples), ("--testset", args.testset)):
        if not Path(path).is_file():
            ap.error(f"{flag}: no such file: {path}")
    tests = load_cases(args.testset)           # a malformed test file is named by its line and field
    print(f"reading {args.examples} ...", flush=True)
    examples = load_examples(args.examples)
    rows = [r for r in closest(tests, examples) if r[0] >= args.threshold]
    print(f"{len(rows)} of {len(tests)} test questions have a training question at Jaccard >= {args.threshold} "
          f"({len(examples):,} examples):")
    for sim, case, q in rows:
        print(f"  {case.id}  {sim:.2f}  {case.question!r}  ~  {q!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
