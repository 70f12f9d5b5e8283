"""The n-gram lesson: how far do count models go, on the lecture's expression trees and on tiny Shakespeare?

    python scripts/ngram_lesson.py                                   # everything (~10 minutes on one core)
    python scripts/ngram_lesson.py --datasets=shakespeare --max_order=8 --methods=kn,mkn,infini
    python scripts/ngram_lesson.py --quick=true                      # small data, orders 1..5: a smoke run
    python scripts/ngram_lesson.py --tune_infini=true --datasets= --targets=false   # how lam/threshold were chosen

For every dataset, method and order 1..max_order it fits on train and reports on val: cross-entropy (nats per
token and bits per byte), the share of val contexts never seen in training, the share of val tokens given
probability 0, memory, train and query throughput (CPU time of this process, robust on a shared machine);
on expressions also the accuracy at predicting a closing parenthesis and the well-formedness of generated lines.
One trie of counts per order is shared by all trie-based methods (the counts do not depend on the smoothing).
Then it times the issue's targets (counting orders 1..8, suffix array, scoring speed, order-8 memory), prints
tables, writes JSON and, if matplotlib is installed, a PNG plot.
"""
import dataclasses
import json
import math
import os
import sys
import time

import numpy as np

from tinyllm.datasets.expressions import ExpressionConfig, check_line, make_corpus
from tinyllm.ngram import MODELS, Vocab, make_model
from tinyllm.ngram.base import atomic_write
from tinyllm.ngram.counts import count_ngrams
from tinyllm.ngram.suffix_array import build_suffix_array, longest_matches
from tinyllm.plotting import pyplot, save_figure
from tinyllm.sampling.logits import SamplingConfig


@dataclasses.dataclass
class LessonConfig:
    datasets: str = "expressions,shakespeare"
    methods: str = "naive,addk,backoff,kn,mkn,infini"
    max_order: int = 0              # 0 = 10 for expressions, 12 for Shakespeare (the tables)
    text: str = "data/tinyshakespeare.txt"
    val_frac: float = 0.1           # nanoGPT's split: train = first 90% of the characters
    n_lines: int = 20000            # expression lines for training (val gets a tenth, another seed)
    max_depth: int = 5
    gen_chars: int = 4000           # characters generated per model to judge well-formedness
    paren_positions: int = 3000     # val positions (next char ')' or '=') for the closing-paren accuracy
    out: str = "out/ngram_lesson.json"
    plot: str = "out/ngram_lesson.png"
    quick: bool = False
    targets: bool = True            # time the speed/memory targets at the end
    tune_infini: bool = False       # rerun the grid that chose the infini-gram's threshold and lam

    def __post_init__(self):
        unknown = set(self.methods.split(",")) - set(MODELS)
        if unknown:
            raise ValueError(f"--methods: unknown {sorted(unknown)}; choose from {sorted(MODELS)}")
        if set(filter(None, self.datasets.split(","))) - {"expressions", "shakespeare"}:
            raise ValueError(f"--datasets must be a subset of expressions,shakespeare, got {self.datasets!r}")


def parse_args(argv):
    fields = {f.name: f for f in dataclasses.fields(LessonConfig)}
    kw = {}
    for arg in argv:
        key, _, value = arg.lstrip("-").partition("=")
        if arg in ("-h", "--help"):
            print(__doc__ + "\noptions:\n" + "\n".join(f"  --{f.name}={f.default!r}" for f in fields.values()))
            sys.exit(0)
        if key not in fields:
            import difflib
            close = difflib.get_close_matches(key, fields, 1)
            sys.exit(f"unknown option --{key}" + (f"; did you mean --{close[0]}?" if close else ""))
        default = fields[key].default
        kw[key] = value.lower() in ("1", "true", "yes") if isinstance(default, bool) else type(default)(value)
    return LessonConfig(**kw)


def load_data(name, cfg):
    """(train text, val text, vocab kind): expressions are byte-level as in the lecture, Shakespeare char-level."""
    if name == "expressions":
        ecfg = ExpressionConfig(max_depth=cfg.max_depth)
        n = 2000 if cfg.quick else cfg.n_lines
        return make_corpus(n, ecfg, seed=1), make_corpus(n // 10, ecfg, seed=2), "bytes"
    with open(cfg.text, encoding="utf-8") as f:
        text = f.read()
    if cfg.quick:
        text = text[:200_000]
    cut = int(len(text) * (1 - cfg.val_frac))
    return text[:cut], text[cut:], "chars"


def expression_metrics(model, train, val, cfg):
    """Top-1 accuracy where ')' comes next and where ')' or '=' comes next (is the tree finished? that needs
    the count of open parentheses), and the shares of valid / correctly valued lines in generated text."""
    ids = model.vocab.encode(val)
    close, equals = model.vocab.encode(")")[0], model.vocab.encode("=")[0]
    where = np.flatnonzero((ids == close) | (ids == equals))[:cfg.paren_positions]
    n = min(model.context_length, 64)
    top1 = np.array([np.argmax(model.prob(ids[max(0, t - n):t])) for t in where], np.int64)
    is_close = ids[where] == close
    prompt = train[:train.index("\n", 200) + 1]           # a context seen in training, ending a line
    text = model.generate(prompt, cfg.gen_chars if not cfg.quick else 800, SamplingConfig(seed=0))
    lines = text.split("\n")[:-1]                         # the last line may be cut by the length limit
    status = [check_line(x) for x in lines if x]
    valued = [s for x, s in zip(lines, status) if "=" in x and s in ("complete", "wrong_value")]
    return {"paren_acc": float(np.mean(top1[is_close] == close)) if is_close.any() else float("nan"),
            "close_acc": float(np.mean(top1 == ids[where])) if len(where) else float("nan"),
            "valid": sum(s in ("complete", "prefix") for s in status) / max(len(status), 1),
            "value_ok": sum(s == "complete" for s in valued) / len(valued) if valued else float("nan"),
            "n_valued": len(valued)}


def run_dataset(name, cfg, rows):
    train, val, kind = load_data(name, cfg)
    vocab = Vocab.from_text(train + val if kind == "chars" else "", kind)
    train_ids, val_ids = vocab.encode(train), vocab.encode(val)
    max_order = cfg.max_order or (10 if name == "expressions" else 12)
    max_order = min(max_order, 5) if cfg.quick else max_order
    methods = cfg.methods.split(",")
    print(f"\n== {name}: {len(train):,} train / {len(val):,} val characters, {kind} vocabulary (V = {vocab.size}), "
          f"orders 1..{max_order}, methods {methods}")
    sa = None
    if "infini" in methods:
        t0 = time.perf_counter()
        sa = build_suffix_array(train_ids)
        print(f"   suffix array of {len(train_ids):,} tokens in {time.perf_counter() - t0:.2f} s")
    for order in range(1, max_order + 1):
        trie, _, count_s = timed(count_ngrams, train_ids, order, vocab.size)
        for method in methods:
            model = make_model(method, order=order, vocab=kind)
            t0 = time.process_time()                      # CPU time: robust on a shared machine
            if method == "naive":
                model.vocab = vocab
                model.fit(train_ids)
            elif method == "infini":
                model.use_counts(vocab, trie, data=train_ids, sa=sa)
            else:
                model.use_counts(vocab, trie)
            fit_s = time.process_time() - t0 + (count_s if method != "naive" else 0.0)
            lp, _, score_s = timed(model.score, val_ids)
            nats = -float(np.mean(lp))
            row = {"dataset": name, "method": method, "order": order, "nats": nats,
                   "bpb": nats * len(val_ids) / math.log(2) / len(val.encode("utf-8")),
                   "unseen": model.unseen_context_share(val_ids), "zero_p": float(np.mean(np.isinf(lp))),
                   "fit_s": fit_s,
                   "train_tok_s": len(train_ids) / max(fit_s, 1e-9), "query_tok_s": len(val_ids) / max(score_s, 1e-9),
                   "mb": model.nbytes() / 1e6}
            if name == "expressions":
                row.update(expression_metrics(model, train, val, cfg))
            rows.append(row)
            extra = (f" ')' {100 * row['paren_acc']:5.1f}% ')'/'=' {100 * row['close_acc']:5.1f}% valid "
                     f"{100 * row['valid']:5.1f}% value {100 * row['value_ok']:5.1f}% of {row['n_valued']}"
                     if name == "expressions" else "")
            print(f"   order {order:2d} {method:8s} {nats:7.4f} nats/tok {row['bpb']:7.4f} bits/byte "
                  f"unseen {100 * row['unseen']:5.1f}% p=0 {100 * row['zero_p']:4.1f}% fit {fit_s:6.2f}s "
                  f"query {row['query_tok_s']:>9,.0f} tok/s "
                  f"{row['mb']:8.1f} MB{extra}", flush=True)


def timed(fn, *args):
    """(result, wall seconds, CPU seconds of this process): on a shared machine the CPU time is the robust one."""
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - w, time.process_time() - c


def targets(cfg):
    """The issue's speed and memory targets on the Shakespeare training text (one thread: NumPy sorts, Numba)."""
    with open(cfg.text, encoding="utf-8") as f:
        text = f.read()
    cut = int(len(text) * (1 - cfg.val_frac))
    vocab = Vocab.from_text(text, "chars")
    train, val = vocab.encode(text[:cut]), vocab.encode(text[cut:])
    build_suffix_array(train[:1000])                        # warm-up (and Numba's first-call compile below)
    trie, w_count, c_count = timed(count_ngrams, train, 8, vocab.size)
    _, w_sa, c_sa = timed(build_suffix_array, train)
    mkn8 = make_model("mkn", order=8).use_counts(vocab, trie)
    mkn7 = make_model("mkn", order=7).use_counts(vocab, count_ngrams(train, 7, vocab.size))
    _, w_score, c_score = timed(mkn7.score, val)
    out = {"count_orders_1_8_s": (w_count, c_count), "suffix_array_s": (w_sa, c_sa),
           "mkn7_score_chars_per_s": (len(val) / w_score, len(val) / c_score), "mkn8_mb": (mkn8.nbytes() / 1e6,) * 2}
    print(f"\n== targets (Shakespeare train, {len(train):,} chars; wall / CPU time of this process)")
    for k, target in (("count_orders_1_8_s", "<= 3 s"), ("suffix_array_s", "<= 3 s"),
                      ("mkn7_score_chars_per_s", ">= 300k chars/s"), ("mkn8_mb", "<= 100 MB")):
        print(f"   {k:24s} {out[k][0]:>12,.2f} / {out[k][1]:>12,.2f}   target {target}")
    return out


def tune_infini(cfg):
    """Where the infini-gram defaults come from: a grid over (threshold, lam) scored on the last tenth of the
    Shakespeare *training* text, with mkn order 7 and the suffix array built on the first nine tenths."""
    with open(cfg.text, encoding="utf-8") as f:
        text = f.read()
    train = text[:int(len(text) * (1 - cfg.val_frac))]
    fit, held = train[:int(len(train) * 0.9)], train[int(len(train) * 0.9):]
    model = make_model("infini", order=7).fit(fit)
    ids = model.vocab.encode(held)
    p_mkn = np.exp(make_model("mkn", order=7).use_counts(model.vocab, model.trie).score(ids))
    n, c_h, c_hw = longest_matches(model.data, model.sa, ids, model.config.max_match)
    p_inf = c_hw / np.maximum(c_h, 1)
    print(f"\n== infini-gram grid on held-out training text (mkn order 7 alone: {-np.mean(np.log(p_mkn)):.4f})")
    best = None
    for threshold in (6, 7, 8, 9, 10, 11, 12):
        cells = []
        for lam in (0.02, 0.05, 0.08, 0.1, 0.15, 0.3):
            lam_t = np.where(n >= threshold, lam, 0.0)
            nats = -float(np.mean(np.log(lam_t * p_inf + (1 - lam_t) * p_mkn)))
            cells.append(f"lam {lam}: {nats:.4f}")
            best = min(best or (nats, threshold, lam), (nats, threshold, lam))
        print(f"   threshold {threshold:2d}  " + "  ".join(cells))
    print(f"   best: threshold {best[1]}, lam {best[2]} ({best[0]:.4f} nats/char)")


def print_tables(rows):
    for name in dict.fromkeys(r["dataset"] for r in rows):
        sub = [r for r in rows if r["dataset"] == name]
        methods = list(dict.fromkeys(r["method"] for r in sub))
        print(f"\n{name}: val nats per token (unseen-context share of the order's full contexts)")
        print("| order | " + " | ".join(methods) + " | unseen |")
        print("|---" * (len(methods) + 2) + "|")
        for order in sorted({r["order"] for r in sub}):
            cells = {r["method"]: r for r in sub if r["order"] == order}
            line = " | ".join(f"{cells[m]['nats']:.4f}" if m in cells else "" for m in methods)
            unseen = next(iter(cells.values()))["unseen"]
            print(f"| {order} | {line} | {100 * unseen:.1f}% |")
        best = min(sub, key=lambda r: r["nats"])
        print(f"best: {best['method']} order {best['order']}: {best['nats']:.4f} nats/token, "
              f"{best['bpb']:.4f} bits/byte")


def plot(rows, path):
    plt = pyplot()
    if plt is None:
        return
    names = list(dict.fromkeys(r["dataset"] for r in rows))
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names):
        for method in dict.fromkeys(r["method"] for r in rows):
            sub = [r for r in rows if r["dataset"] == name and r["method"] == method and math.isfinite(r["nats"])]
            ax.plot([r["order"] for r in sub], [r["nats"] for r in sub], marker="o", label=method)
        if name == "shakespeare":                           # the neural bar, from /work/shared/PERF.md
            ax.axhline(1.91, color="gray", linestyle="--", label="baby GPT, 2000 steps (~1.91)")
        ax.set(title=f"{name}: val cross-entropy (naive: only finite points)", xlabel="order n",
               ylabel="nats per token")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


def main(argv):
    cfg = parse_args(argv)
    print(f"config: {cfg}")
    if cfg.tune_infini:
        tune_infini(cfg)
    rows = []
    for name in filter(None, cfg.datasets.split(",")):
        run_dataset(name, cfg, rows)
    print_tables(rows)
    result = {"config": dataclasses.asdict(cfg), "rows": rows,
              "targets": targets(cfg) if not cfg.quick and cfg.targets else {}}
    os.makedirs(os.path.dirname(os.path.abspath(cfg.out)), exist_ok=True)
    atomic_write(cfg.out, lambda f: f.write(json.dumps(result, indent=1).encode("utf-8")))
    print(f"wrote {cfg.out}")
    if rows:
        plot(rows, cfg.plot)


if __name__ == "__main__":
    main(sys.argv[1:])
