"""How much of a test set the template teacher itself covers: the ceiling a student trained on its examples has.

A test case is *shape-covered* when some distilled example has the same query shape: the IR of its gold body
with every value (copied words, literals) replaced by one placeholder and the clauses sorted (order is free).
Forms that always execute the same are normalised first: a query that is only `match_all` equals no query.
It is *value-covered* when every value of its gold body can be written from the question's own words plus the
literals of the training vocabulary (those seen at least twice). A case both shape- and value-covered is one a
perfect student could answer exactly; the rest need a teacher template, a literal or grounding it lacks.

    python -m tinyllm.nlq.teacher_coverage data/nlq_testset.jsonl [--list]
"""
import collections
import json
import sys

from .evaluate import load_cases
from .ir import OCCS, Unsupported, parse_dsl
from .prepare_ir import build, load_examples

TAIL = ("msm", "sort", "size", "from", "tth", "src", "hl", "<end>")


def shape(ir):
    """IR tokens -> a hashable shape: values collapsed to "V", top-level clauses sorted, a bare match_all dropped."""
    flat = []
    for t in ir:
        if t[0] in "@=":
            if flat[-1:] != ["V"]:
                flat.append("V")
        else:
            flat.append(t)
    if flat[:2] == ["<q>", "match_all"]:       # {"query": {"match_all": {}}} runs exactly as no query at all
        flat = flat[2:]
    clauses, i = [], 0
    while i < len(flat) and flat[i] in OCCS:
        j = i + 1
        while j < len(flat) and flat[j] not in OCCS + TAIL and not flat[j].startswith("agg:"):
            j += 1
        clauses.append(tuple(flat[i:j]))
        i = j
    return tuple(sorted(clauses)) + tuple(flat[i:])


def coverage(cases, examples, missed=None):
    """{compare kind and "all": Counter(n, ir, shape, values, both)} for `cases` against `examples`; with a list
    `missed`, appends (case, shape covered, why the values are not) for every case not fully covered."""
    vocab, _, _ = build(examples)
    literals = {t for t in vocab.itos if t.startswith("=")}
    shapes = set()
    for ex in examples:
        try:
            shapes.add(shape(parse_dsl(ex["query"], ex["question"])))
        except Unsupported:
            pass
    out = collections.defaultdict(collections.Counter)
    for case in cases:
        row, why = collections.Counter(n=1), ""
        try:
            ir = parse_dsl(case.gold, case.question)
            row["ir"] = 1
            row["shape"] = int(shape(ir) in shapes)
            try:
                parse_dsl(case.gold, case.question, literals)
                row["values"] = 1
            except Unsupported as e:
                why = str(e)
            row["both"] = row["shape"] * row["values"]
        except Unsupported as e:
            why = f"outside the IR: {e}"
        if missed is not None and not row["both"]:
            missed.append((case, bool(row["shape"]), why))
        out[case.compare].update(row)
        out["all"].update(row)
    return dict(out)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    show = "--list" in argv
    argv = [a for a in argv if a != "--list"]
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    missed = []
    table = coverage(load_cases(argv[0]), load_examples(), missed)
    print(f"{'compare':<8} {'n':>4} {'in IR':>6} {'shape':>6} {'values':>7} {'both':>5}")
    for kind, c in sorted(table.items(), key=lambda kv: kv[0] == "all"):
        print(f"{kind:<8} {c['n']:>4} {c['ir']:>6} {c['shape']:>6} {c['values']:>7} {c['both']:>5}"
              f"  ({c['both'] / c['n']:.1%} fully covered)")
    if show:
        print(f"\n{len(missed)} cases not fully covered:")
        for case, shape_ok, why in missed:
            print(f"- {case.id} {case.compare}/{case.intent}: shape {'yes' if shape_ok else 'NO'}"
                  f"{', values: ' + why if why else ''}\n    {case.question}\n    {json.dumps(case.gold)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
