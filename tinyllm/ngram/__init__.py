"""Count-based language models (naive, add-k, Kneser-Ney, stupid backoff, infini-gram) behind one interface.

    from tinyllm.ngram import make_model, load
    model = make_model("mkn", order=7).fit(train_text)
    model.evaluate(val_text)["nats_per_token"]; model.generate("ROMEO:", 200); model.save("mkn7.npz")

Reading order: naive.py (the lecture's dict of dicts) -> counts.py (the same counts as integer arrays) ->
smoothing.py (add-k, stupid backoff) -> kneser_ney.py -> suffix_array.py -> infinigram.py; base.py holds the
shared interface (vocabulary, scoring, generation through tinyllm.sampling, save/load).
"""
import json
import zipfile

import numpy as np

from tinyllm.ngram.base import METHODS, NGramConfig, NGramModel, Vocab, read_meta
from tinyllm.ngram.infinigram import InfiniGram
from tinyllm.ngram.kneser_ney import KneserNey, ModifiedKneserNey
from tinyllm.ngram.naive import NaiveNGram
from tinyllm.ngram.smoothing import AddK, StupidBackoff

MODELS = {"naive": NaiveNGram, "addk": AddK, "backoff": StupidBackoff, "kn": KneserNey, "mkn": ModifiedKneserNey,
          "infini": InfiniGram}
assert set(MODELS) == set(METHODS)

__all__ = ["MODELS", "NGramConfig", "NGramModel", "Vocab", "make_model", "load"] + [c.__name__ for c in
                                                                                     MODELS.values()]


def make_model(method="mkn", **config):
    """A fresh model of `method` (naive | addk | backoff | kn | mkn | infini) with NGramConfig fields."""
    if method not in MODELS:
        raise ValueError(f"method must be one of {sorted(MODELS)}, got {method!r}")
    return MODELS[method](NGramConfig(method=method, **config))


def load(path):
    """Read a model written by `save` (npz for count models, JSON for the naive one), checking its version."""
    try:
        if zipfile.is_zipfile(path):
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                config, vocab = read_meta(meta, path)
                model = MODELS[meta["method"]](config)
                model.vocab = vocab
                model._load_arrays(z, meta)
                return model
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"no n-gram model file at {path!r}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError) as e:
        raise ValueError(f"{path}: not a readable tinyllm n-gram model ({type(e).__name__}: {e})") from None
    config, vocab = read_meta(meta, path)
    model = MODELS[meta["method"]](config)
    model.vocab = vocab
    model._load_json(meta)
    return model
