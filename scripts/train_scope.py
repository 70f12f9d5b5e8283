"""Train the translator's scope checks (tinyllm/nlq/scope.py) and write data/nlq_scope.json.

    python scripts/train_scope.py                       # train, calibrate, report, write the shipped file
    python scripts/train_scope.py --keep=0.99 --out=/tmp/scope.json

Positives: the distilled questions (data/nlq_examples.jsonl.gz) minus `--held` held out for calibration.
Negatives: questions from the off-topic grammar (tinyllm/nlq/offtopic.py), split by family: the everyday
requests train the "off-topic" check, the on-topic but unanswerable ones the "unanswerable" check; another seed's
draws are held out. The grammar's composed wordings wrap the training questions themselves ("reviews of
{subject}"). Each threshold keeps `--keep` of the held-out positives. Reported: false rejections of held-out
positives, of the 137 hand-written test questions and of the 80 of the two later sets (never used to fit or
calibrate), and false acceptances of held-out generated negatives and of the hand-written out-of-scope set
(data/nlq_out_of_scope.jsonl), per kind.
"""
import argparse
import json
import time

import numpy as np

from tinyllm.nlq import schema
from tinyllm.nlq.offtopic import UNANSWERABLE, generate
from tinyllm.nlq.prepare_ir import load_examples
from tinyllm.nlq.scope import DEFAULT_PATH, Scope, ScopeCheck


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--negatives", type=int, default=12000, help="generated negatives to train on (both checks)")
    ap.add_argument("--held", type=int, default=2000, help="distilled questions held out to set the threshold")
    ap.add_argument("--keep", type=float, default=0.9995, help="share of held-out positives the threshold keeps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(DEFAULT_PATH))
    args = ap.parse_args(argv)
    if not 0.5 <= args.keep < 1.0:
        ap.error(f"--keep must be in [0.5, 1), got {args.keep}")
    t0 = time.perf_counter()
    questions = sorted({ex["question"] for ex in load_examples()})
    order = np.random.default_rng(args.seed).permutation(len(questions))
    held = [questions[i] for i in order[:args.held]]
    train = [questions[i] for i in order[args.held:]]
    families = {"off-topic": lambda intent: intent not in UNANSWERABLE, "unanswerable": UNANSWERABLE.__contains__}
    drawn = generate(args.negatives, seed=args.seed, subjects=train)
    drawn_held = generate(args.negatives // 4, seed=args.seed + 1, subjects=train)
    checks, neg_held = {}, []
    for name, member in families.items():
        neg = [q for intent, q in drawn if member(intent)]
        neg_held += [q for intent, q in drawn_held if member(intent)]
        print(f"{name}: fitting on {len(train):,} distilled questions and {len(neg):,} negatives ...", flush=True)
        check = ScopeCheck.fit(train, neg)
        check.threshold = float(np.quantile(check.probability(held), 1.0 - args.keep))
        print(f"  threshold p >= {check.threshold:.4f} keeps {args.keep:.2%} of {len(held):,} held-out positives "
              f"({time.perf_counter() - t0:.1f} s)", flush=True)
        checks[name] = check
    scope = Scope(checks)
    test = [c["question"] for c in read_jsonl(schema.DATA_DIR / "nlq_testset.jsonl")]
    oos = read_jsonl(schema.DATA_DIR / "nlq_out_of_scope.jsonl")
    later = [c["question"] for f in ("nlq_confirm.jsonl", "nlq_confirm2.jsonl")
             for c in read_jsonl(schema.DATA_DIR / f)]
    rows = [("held-out distilled questions (rejected)", held, False),
            ("hand-written test questions (rejected)", test, False),
            ("later hand-written sets, 80 questions (rejected)", later, False),
            ("held-out generated negatives (accepted)", neg_held, True)]
    for kind in sorted({c["kind"] for c in oos}):
        rows.append((f"hand-written out-of-scope, {kind} (accepted)", [c["question"] for c in oos
                                                                         if c["kind"] == kind], True))
    for label, qs, negative in rows:
        ok = scope.accepts(qs)
        wrong = ok if negative else ~ok
        print(f"  {label:<62} {int(wrong.sum()):>4} / {len(qs):<5} = {wrong.mean():6.1%}")
        for q in [q for q, bad in zip(qs, wrong) if bad][:5]:
            print(f"      e.g. {q!r}")
    scope.save(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
