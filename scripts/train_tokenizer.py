"""Train a byte-level BPE tokenizer on a text file; write tokenizer.json and a readable tokenizer.vocab preview.

    python scripts/train_tokenizer.py data/tinyshakespeare.txt --vocab_size=1024
    python scripts/train_tokenizer.py my.txt --vocab_size=4096 --special_tokens='<|endoftext|>' --out=out/tok
    python scripts/train_tokenizer.py data/tinyshakespeare.txt --compare_reference   # time vs the textbook trainer

Then reuse it: `tinyllm prepare my.txt --tokenizer=out/tok/tokenizer.json`.
"""
import pathlib
import sys
import time
from dataclasses import dataclass
from typing import Optional

from tinyllm.config import ConfigError, help_text, parse_args
from tinyllm.datasets.tokens import read_text
from tinyllm.tokenizers import BPETokenizer
from tinyllm.tokenizers.base import write_bytes_atomic
from tinyllm.tokenizers.bpe_merges import learn_merges, learn_merges_reference


@dataclass
class TrainTokenizerConfig:
    vocab_size: int = 1024  # total vocabulary: 256 bytes + merges + special tokens
    special_tokens: tuple[str, ...] = ()  # strings that always encode to one id, e.g. <|endoftext|>
    out: Optional[str] = None  # output directory; default out/tokenizers/<text name>-bpe<vocab_size>
    compare_reference: bool = False  # also time the textbook trainer on a prefix and print the speed ratio
    reference_chars: int = 50_000  # prefix length for that comparison (the textbook trainer is slow)
    reference_merges: int = 200  # merges learned in that comparison


def compare(text, cfg):
    """Time learn_merges vs learn_merges_reference on the same prefix; check they agree; print the ratio."""
    prefix = text[:cfg.reference_chars]
    print(f"comparing trainers on the first {len(prefix):,} characters, {cfg.reference_merges} merges ...")
    t0 = time.process_time()  # CPU time of this process: other users of the machine do not count
    fast = learn_merges([prefix], cfg.reference_merges)
    t1 = time.process_time()
    slow = learn_merges_reference([prefix], cfg.reference_merges)
    t2 = time.process_time()
    same = "identical merges" if fast == slow else "MERGES DIFFER (a bug: please report)"
    print(f"  incremental {t1 - t0:.3f} s CPU, textbook {t2 - t1:.3f} s CPU: "
          f"{(t2 - t1) / (t1 - t0):.1f}x faster; {same}")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or "-h" in argv or "--help" in argv:
        print(__doc__.strip() + "\n\n" + help_text(TrainTokenizerConfig()))
        return 0 if argv else 2
    try:
        cfg, paths = parse_args(TrainTokenizerConfig(), argv)
        if len(paths) != 1:
            raise ConfigError(f"expected exactly one text file, got {len(paths)}: {paths}")
        text, raw = read_text(paths[0])
    except (ValueError, FileNotFoundError) as e:
        print(f"train_tokenizer: {e}", file=sys.stderr)
        return 2
    out = pathlib.Path(cfg.out or f"out/tokenizers/{pathlib.Path(paths[0]).stem}-bpe{cfg.vocab_size}")
    print(f"training BPE on {paths[0]} ({len(text):,} characters, {len(raw):,} bytes) to vocab_size={cfg.vocab_size}")
    t0, c0 = time.perf_counter(), time.process_time()  # wall and CPU time: the CPU time is robust on a busy host
    tok = BPETokenizer.train(text, cfg.vocab_size, cfg.special_tokens)
    t1, c1 = time.perf_counter(), time.process_time()
    ids = tok.encode(text)
    t2, c2 = time.perf_counter(), time.process_time()
    print(f"  learned {len(tok.merges):,} merges in {t1 - t0:.2f} s ({c1 - c0:.2f} s CPU); encoded the text in "
          f"{t2 - t1:.2f} s ({c2 - c1:.2f} s CPU): {len(ids):,} tokens, {len(raw) / len(ids):.2f} bytes/token")
    tok.save(out / "tokenizer.json")
    write_bytes_atomic(out / "tokenizer.vocab", tok.vocab_preview().encode("utf-8"))
    print(f"  wrote {out / 'tokenizer.json'} and {out / 'tokenizer.vocab'}")
    line = text.strip().splitlines()[0][:60]
    print(f"  {line!r} -> " + "|".join(tok.token_text(i) for i in tok.encode(line)))
    print("  last merges: " + ", ".join(repr(tok.token_text(256 + k)) for k in range(len(tok.merges))[-8:]))
    if cfg.compare_reference:
        compare(text, cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
