"""`tinyllm sample --ckpt DIR --prompt "..."`: text from a checkpoint directory and nothing else.

The checkpoint holds the model config, the weights and the tokenizer, so no dataset or config file is needed.
Without --seed a seed is drawn and printed, so any sample can be reproduced; --temperature=0 is greedy.
"""
import argparse
import sys

import numpy as np

from tinyllm.sampling.logits import SamplingConfig


def build_parser():
    p = argparse.ArgumentParser(
        prog="tinyllm sample", description="Generate text from a checkpoint directory (written by tinyllm train).")
    p.add_argument("--ckpt", required=True, help="checkpoint directory (holds manifest.json and weights.npz)")
    p.add_argument("--prompt", default="\n", help="text to continue (default: a newline)")
    p.add_argument("--prompt_file", default=None, help="read the prompt from this UTF-8 file instead")
    p.add_argument("--max_new_tokens", type=int, default=500, help="tokens to generate per sample (default 500)")
    p.add_argument("--temperature", type=float, default=0.8, help="0 = greedy; < 1 sharper, > 1 flatter (0.8)")
    p.add_argument("--top_k", type=int, default=0, help="keep only the k most likely tokens; 0 = off")
    p.add_argument("--top_p", type=float, default=1.0, help="nucleus: smallest set with probability >= p (1 = off)")
    p.add_argument("--repetition_penalty", type=float, default=1.0, help="> 1 discourages repeats (1 = off)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: drawn and printed)")
    p.add_argument("--num_samples", type=int, default=1, help="independent samples, decoded as one batch")
    p.add_argument("--beam", type=int, default=0, help="beam width; > 1 runs beam search (deterministic)")
    p.add_argument("--length_penalty", type=float, default=1.0, help="beam score = log p / length ** this")
    p.add_argument("--stop", action="append", default=[], help="stop at this string (repeatable)")
    p.add_argument("--no_cache", action="store_true", help="recompute the context every step (slower)")
    p.add_argument("--threads", type=int, default=1,
                   help="Numba threads (default 1: one token at a time is too little work to split)")
    return p


def main(argv=None):
    """Parse argv, sample with --threads Numba threads (restored afterwards), print; returns the exit code."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    from tinyllm import kernels
    if kernels.backend != "numba" or args.threads < 1:
        return _run(args)
    import numba
    previous = numba.get_num_threads()
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    try:
        return _run(args)
    finally:
        numba.set_num_threads(previous)


def _run(args):
    from tinyllm.sampling.beam import beam_search
    from tinyllm.sampling.generate import cut_at_stop, generate_texts
    from tinyllm.training.checkpoint import CheckpointError, load_checkpoint

    try:
        if args.max_new_tokens < 0:
            raise ValueError(f"--max_new_tokens must be >= 0, got {args.max_new_tokens}")
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        if args.beam > 1 and args.num_samples > 1:
            raise ValueError("--beam returns the single best continuation; drop --num_samples (or --beam)")
        prompt = args.prompt
        if args.prompt_file is not None:
            with open(args.prompt_file, encoding="utf-8") as f:
                prompt = f.read()
        seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % 2**31)
        cfg = SamplingConfig(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                             repetition_penalty=args.repetition_penalty, seed=seed)
        ckpt = load_checkpoint(args.ckpt)
        if ckpt.tokenizer is None:
            raise ValueError(f"checkpoint {args.ckpt} stores no tokenizer, so text cannot be encoded/decoded")
        model, tok = ckpt.model, ckpt.tokenizer
        print(f"# {args.ckpt}: step {ckpt.step}, {model.num_parameters():,} parameters; seed={seed}",
              file=sys.stderr)
        if not getattr(model, "autoregressive", True):   # e.g. the masked diffusion LM: unmasks a whole block
            if args.beam > 1:
                raise ValueError(f"--beam needs an autoregressive model; {type(model).__name__} is not one")
            texts = [cut_at_stop(t, args.stop) for t in
                     model.generate_texts(tok, prompt, args.max_new_tokens, cfg, num_samples=args.num_samples)]
        elif args.beam > 1:
            ids = beam_search(model, tok.encode(prompt), args.max_new_tokens, beam_width=args.beam,
                              length_penalty=args.length_penalty, use_cache=not args.no_cache)
            texts = [cut_at_stop(tok.decode(ids), args.stop)]
        else:
            texts = generate_texts(model, tok, prompt, args.max_new_tokens, cfg, stop_strings=args.stop,
                                   use_cache=not args.no_cache, num_samples=args.num_samples)
    except (CheckpointError, ValueError, OSError) as e:
        print(f"tinyllm sample: error: {e}", file=sys.stderr)
        return 2
    for i, text in enumerate(texts):
        if i:
            print("-" * 40)
        print(prompt + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
