"""Train the beam re-ranker (tinyllm/nlq/rerank.py) of a translator checkpoint and write <model>/rerank.json.

    python scripts/train_rerank.py                       # the shipped recipe: teacher seeds 11 and 13, 3,000 each
    python scripts/train_rerank.py --seeds 11 --n 500 --out /tmp/rerank.json      # a quick run

The teacher distils fresh questions (those in the training file, or in the --exclude-seed set that
`train_nlq.py --eval-only --fresh-seed 7` reports on, are dropped); the checkpoint decodes each with its own beam
(nbest.WIDTH, the re-ranker switched off); each beam, grounded as the translator grounds it, is run on the embedded
engine and labelled right or wrong against the teacher's verified query; rerank.fit learns the weights. Printed:
how often the first beam and the re-ranked choice are right, on the training questions and on --eval-seed ones.
"""
import argparse
import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from tinyllm.nlq.compiler import compile_ir  # noqa: E402
from tinyllm.nlq.distill import fresh_cases  # noqa: E402
from tinyllm.nlq.evaluate import compare, execute  # noqa: E402
from tinyllm.nlq.examples import example_key  # noqa: E402
from tinyllm.nlq.nbest import WIDTH  # noqa: E402
from tinyllm.nlq.rerank import RERANK_FILE, Reranker, fit  # noqa: E402
from tinyllm.nlq.testing import shared_backend  # noqa: E402
from tinyllm.nlq.translator import Translator  # noqa: E402
from tinyllm.nlq.validate import validate  # noqa: E402

SHIPPED_SEEDS = "11,13"
SHIPPED_L2 = 3e-3
SHIPPED_STEPS = 300


def labelled_beams(translator, cases, backend, label):
    """[[(question, IR, log-prob, right?)] per case]: the checkpoint's own beams (re-ranker off), each grounded,
    run and compared with the gold query as the evaluation does; a beam that fails to compile or run is wrong."""
    model, groups, t0 = translator.model, [], time.time()
    for n, case in enumerate(cases, 1):
        gold = execute(backend, case.index, validate(case.index, case.gold), case.compare)
        try:
            found = model.nbest_raw(case.question, case.index, WIDTH)      # the decoder's own order
        except ValueError:
            found = []
        beams = []
        for logp, ir in found:
            try:
                body = translator._finish(case.question, case.index, compile_ir(ir, case.question, case.index))
                ok = compare(case.compare, gold, execute(backend, case.index, body, case.compare), case.gold, body)
            except Exception:            # noqa: BLE001 - a candidate the pipeline cannot run is a wrong one
                ok = False
            beams.append((case.question, ir, logp, bool(ok)))
        groups.append(beams)
        if n % 250 == 0 or n == len(cases):
            print(f"  {label}: {n}/{len(cases)} questions decoded and labelled ({time.time() - t0:.0f} s)", flush=True)
    return groups


def accuracy(groups, reranker):
    """(right, total): how often the candidate `reranker` ranks first is right (no candidate: wrong)."""
    right = sum(max(beams, key=lambda b: reranker.score(b[0], b[1], b[2]))[3] for beams in groups if beams)
    return right, len(groups)                            # max keeps the first of equal scores, as order() does


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="data/nlq_model", help="translator checkpoint directory")
    ap.add_argument("--out", default=None, help=f"where to write the weights (default <model>/{RERANK_FILE})")
    ap.add_argument("--seeds", default=SHIPPED_SEEDS, help="teacher seeds of the training questions, comma separated")
    ap.add_argument("--n", type=int, default=3000, help="teacher candidates per seed")
    ap.add_argument("--exclude-seed", type=int, default=7, help="teacher seed whose questions are never trained on")
    ap.add_argument("--eval-seed", type=int, default=None, help="also report accuracy on this seed's questions")
    ap.add_argument("--l2", type=float, default=SHIPPED_L2)
    ap.add_argument("--steps", type=int, default=SHIPPED_STEPS)
    ap.add_argument("--examples", default="", help="the translator's training examples (default the shipped file)")
    args = ap.parse_args(argv)
    if args.n < 1 or args.steps < 1 or args.l2 < 0:
        ap.error(f"--n and --steps must be >= 1 and --l2 >= 0, got {args.n}, {args.steps}, {args.l2}")
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        ap.error(f"--seeds must be comma-separated integers, got {args.seeds!r}")
    if not seeds:
        ap.error("--seeds is empty")
    out = args.out or os.path.join(args.model, RERANK_FILE)

    translator = Translator.load(args.model)
    if translator.model is None:
        ap.error(f"no translator checkpoint at {args.model}")
    backend = shared_backend()

    distilled = {}

    def cases(seed):                                  # each seed distilled once (the excluded one is often --eval-seed)
        if seed not in distilled:
            distilled[seed] = fresh_cases(seed, args.n, args.examples)
        return distilled[seed]
    excluded = {example_key(c.index, c.question) for c in cases(args.exclude_seed)}
    train = [c for seed in seeds for c in cases(seed) if example_key(c.index, c.question) not in excluded]
    by_key = {}
    for c in train:                                    # two seeds may draw the same question: keep the first
        by_key.setdefault(example_key(c.index, c.question), c)
    seen, unique = set(by_key), list(by_key.values())
    print(f"training questions: {len(unique)} from teacher seeds {seeds} "
          f"(none from seed {args.exclude_seed} or the translator's training file)")
    groups = labelled_beams(translator, unique, backend, "train")
    reranker = fit(groups, l2=args.l2, steps=args.steps)
    reranker.meta = {"seeds": seeds, "n": args.n, "l2": args.l2, "steps": args.steps, "width": WIDTH,
                     "exclude_seed": args.exclude_seed}
    base, rr = accuracy(groups, Reranker()), accuracy(groups, reranker)
    print(f"train: first beam right {base[0]}/{base[1]}, re-ranked {rr[0]}/{rr[1]} ({len(reranker.weights)} weights)")
    if args.eval_seed is not None:
        held = [c for c in cases(args.eval_seed) if example_key(c.index, c.question) not in seen]
        eval_groups = labelled_beams(translator, held, backend, f"seed {args.eval_seed}")
        base, rr = accuracy(eval_groups, Reranker()), accuracy(eval_groups, reranker)
        print(f"seed {args.eval_seed} (not trained on): first beam right {base[0]}/{base[1]} "
              f"({100 * base[0] / max(1, base[1]):.1f}%), re-ranked {rr[0]}/{rr[1]} ({100 * rr[0] / max(1, rr[1]):.1f}%)")
        if translator.model.reranker is not None:        # the one it would replace, on the same beams
            old = accuracy(eval_groups, translator.model.reranker)
            print(f"seed {args.eval_seed}: the checkpoint's current re-ranker {old[0]}/{old[1]} "
                  f"({100 * old[0] / max(1, old[1]):.1f}%)")
    reranker.save(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
