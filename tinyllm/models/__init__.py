"""Architectures: each file is a Config dataclass + a model exposing forward(idx) -> logits and loss(batch).

MODELS maps a name to (ConfigClass, ModelClass); checkpoints store the name and the config as a dict, and
build_model() rebuilds the model from them. A new architecture registers itself here.
"""
import dataclasses
import difflib

from tinyllm.models.gpt import GPT, GPTConfig
from tinyllm.models.zoo import ZooConfig, ZooGPT
from tinyllm.models.encoder import BertConfig, MaskedLM
from tinyllm.models.diffusion_text import DiffusionConfig, MaskedDiffusionLM
from tinyllm.models.mamba import Mamba, MambaConfig
from tinyllm.models.s4d import S4D, S4DConfig

MODELS = {"gpt": (GPTConfig, GPT), "gpt_zoo": (ZooConfig, ZooGPT),
          "bert": (BertConfig, MaskedLM), "diffusion": (DiffusionConfig, MaskedDiffusionLM),
          "mamba": (MambaConfig, Mamba), "s4d": (S4DConfig, S4D)}


def build_model(name, config_dict=None, seed=0):
    """A fresh model `name` (a key of MODELS) from a plain config dict; unknown names/fields raise ValueError."""
    if name not in MODELS:
        close = difflib.get_close_matches(str(name), MODELS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown model {name!r}{hint}; registered models: {sorted(MODELS)}")
    config_cls, model_cls = MODELS[name]
    config_dict = dict(config_dict or {})
    known = [f.name for f in dataclasses.fields(config_cls)]
    for key in config_dict:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; fields are {known}"
            raise ValueError(f"{config_cls.__name__} has no field {key!r}{hint}")
    return model_cls(config_cls(**config_dict), seed=seed)


__all__ = ["MODELS", "build_model", "GPT", "GPTConfig"]
