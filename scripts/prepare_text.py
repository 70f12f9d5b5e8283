"""Tokenize any UTF-8 text file into train/val token arrays + tokenizer.json + meta.json (same as `tinyllm prepare`).

    python scripts/prepare_text.py data/tinyshakespeare.txt
    python scripts/prepare_text.py my.txt --tokenizer=bpe --vocab_size=2048 --out=data/prepared/my-bpe
    python scripts/prepare_text.py --help
"""
import sys

from tinyllm.datasets.prepare import main

if __name__ == "__main__":
    sys.exit(main())
