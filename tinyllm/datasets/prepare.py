"""`tinyllm prepare PATH`: tokenize any UTF-8 text file into train/val token arrays (see datasets/tokens.py).

    tinyllm prepare data/tinyshakespeare.txt                       # chars -> data/prepared/tinyshakespeare-chars
    tinyllm prepare notes.txt --tokenizer=bpe --vocab_size=2048 --special_tokens='<|endoftext|>'
    tinyllm prepare notes.txt --tokenizer=out/tok/tokenizer.json   # reuse a trained tokenizer
"""
import pathlib
import sys
from dataclasses import dataclass
from typing import Optional

from ..config import ConfigError, help_text, parse_args
from ..tokenizers import TOKENIZERS, load_tokenizer
from .tokens import prepare


@dataclass
class PrepareConfig:
    tokenizer: str = "chars"  # bytes | chars | bpe, or the path of a tokenizer .json to reuse
    vocab_size: int = 1024  # bpe only: total vocabulary (256 bytes + merges + special tokens)
    special_tokens: tuple[str, ...] = ()  # bpe only: strings that always encode to one id, e.g. <|endoftext|>
    val_fraction: float = 0.1  # the last fraction of the characters becomes the val split
    out: Optional[str] = None  # output directory; default: <text dir>/prepared/<text name>-<tokenizer>

    def __post_init__(self):
        if self.tokenizer not in TOKENIZERS and not self.tokenizer.endswith(".json"):
            raise ValueError(f"tokenizer must be one of {list(TOKENIZERS)} or a tokenizer .json file, "
                             f"got {self.tokenizer!r}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be strictly between 0 and 1, got {self.val_fraction}")
        if self.tokenizer == "bpe" and self.vocab_size < 256 + len(self.special_tokens):
            raise ValueError(f"vocab_size must be at least 256 + number of special tokens, got {self.vocab_size}")


def default_out(text_path, cfg):
    """<text dir>/prepared/<stem>-<tokenizer label>, e.g. data/prepared/tinyshakespeare-bpe1024."""
    text_path = pathlib.Path(text_path)
    label = {"bpe": f"bpe{cfg.vocab_size}"}.get(cfg.tokenizer, cfg.tokenizer)
    if cfg.tokenizer.endswith(".json"):
        label = pathlib.Path(cfg.tokenizer).stem
    return text_path.parent / "prepared" / f"{text_path.stem}-{label}"


def run(text_path, cfg):
    """Prepare `text_path` as `cfg` says; returns (out_dir, meta)."""
    out = pathlib.Path(cfg.out) if cfg.out else default_out(text_path, cfg)
    if cfg.tokenizer.endswith(".json"):
        return out, prepare(text_path, out, load_tokenizer(cfg.tokenizer), cfg.val_fraction)
    opts = {"vocab_size": cfg.vocab_size, "special_tokens": cfg.special_tokens} if cfg.tokenizer == "bpe" else {}
    return out, prepare(text_path, out, cfg.tokenizer, cfg.val_fraction, **opts)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or "-h" in argv or "--help" in argv:
        print(__doc__.strip() + "\n\n" + help_text(PrepareConfig()))
        return 0 if argv else 2
    try:
        cfg, paths = parse_args(PrepareConfig(), argv)
        if len(paths) != 1:
            raise ConfigError(f"expected exactly one text file, got {len(paths)}: {paths}")
        run(paths[0], cfg)
    except (ValueError, TypeError, FileNotFoundError) as e:  # ConfigError is a ValueError
        print(f"tinyllm prepare: {e}", file=sys.stderr)
        return 2
    return 0
