"""Config system: typed CLI overrides, strict JSON round-trip, unknown-key suggestions, help lists every field."""
import dataclasses
import json
import math
import pathlib
from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest
from hypothesis import given, strategies as st

from tinyllm.config import (ConfigError, format_value, from_dict, help_text, merge_preset, parse_args,
                            parse_overrides, to_dict)


@dataclass
class ModelCfg:
    n_layer: int = 4  # number of transformer blocks
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = False
    n_params: int = field(default=0, init=False)  # derived below, never set by the user

    def __post_init__(self):
        if self.n_layer < 1:
            raise ValueError(f"n_layer must be >= 1, got {self.n_layer}")
        self.n_params = 12 * self.n_layer * self.n_embd ** 2


@dataclass
class RunCfg:
    model: ModelCfg = field(default_factory=ModelCfg)
    lr: float = field(default=1e-3, metadata={"help": "peak learning rate"})
    betas: tuple[float, float] = (0.9, 0.99)
    out_dir: Optional[str] = None
    dtype: Literal["float32", "float64"] = "float32"
    compile: bool = False
    max_iters: int = 2000
    tags: tuple[str, ...] = ()


finite = st.floats(allow_nan=False, allow_infinity=False)
run_cfgs = st.builds(
    RunCfg,
    model=st.builds(ModelCfg, n_layer=st.integers(1, 64), n_embd=st.integers(0, 4096), dropout=finite,
                    bias=st.booleans()),
    lr=finite, betas=st.tuples(finite, finite), out_dir=st.none() | st.text(max_size=20),
    dtype=st.sampled_from(["float32", "float64"]), compile=st.booleans(), max_iters=st.integers(-10**12, 10**12),
    tags=st.lists(st.text("abc_-. ", min_size=1, max_size=5), max_size=3).map(tuple))


@given(run_cfgs)
def test_to_dict_from_dict_roundtrip_through_json(cfg):
    d = json.loads(json.dumps(to_dict(cfg)))
    assert from_dict(RunCfg, d) == cfg
    assert d["model"]["n_params"] == cfg.model.n_params  # derived fields are shown in the JSON


@given(run_cfgs)
def test_help_values_parse_back_to_the_same_config(cfg):
    """Every value printed by format_value (what --help shows) is accepted on the command line unchanged."""
    if (cfg.out_dir or "").lower() in ("none", "null") or any(t != t.strip() for t in cfg.tags):
        return  # the string "none" means None; list items are stripped of surrounding spaces
    argv = [f"--model.{k}={format_value(getattr(cfg.model, k))}" for k in ("n_layer", "n_embd", "dropout", "bias")]
    argv += [f"--{k}={format_value(getattr(cfg, k))}" for k in ("lr", "betas", "out_dir", "dtype", "compile",
                                                                 "max_iters", "tags")]
    if not cfg.tags:
        argv.remove("--tags=")
        argv.append("--tags=")  # the empty list is spelled as an empty value
    assert parse_overrides(RunCfg(), argv) == cfg


@given(st.floats(allow_nan=False), st.integers(-10**9, 10**9), st.booleans())
def test_overrides_are_typed(lr, iters, flag):
    cfg = parse_overrides(RunCfg(), [f"--lr={lr!r}", "--max_iters", str(iters), f"--compile={str(flag).lower()}"])
    assert cfg.lr == lr and type(cfg.lr) is float
    assert cfg.max_iters == iters and type(cfg.max_iters) is int
    assert cfg.compile is flag


@pytest.mark.parametrize("word,value", [("true", True), ("1", True), ("YES", True), ("on", True),
                                        ("false", False), ("0", False), ("no", False), ("Off", False)])
def test_bool_words(word, value):
    assert parse_overrides(RunCfg(compile=not value), [f"--compile={word}"]).compile is value


def test_forms_nested_optional_tuple_literal():
    cfg = parse_overrides(RunCfg(out_dir="x"), ["--model.n_layer", "6", "--betas=0.9,0.95", "--out_dir=none",
                                                "--dtype", "float64", "--compile", "--max-iters=1e3",
                                                "--tags=a,b", "--lr=1", "--lr=0.5"])
    assert cfg.model.n_layer == 6 and cfg.betas == (0.9, 0.95) and cfg.out_dir is None
    assert cfg.dtype == "float64" and cfg.compile is True and cfg.max_iters == 1000 and cfg.tags == ("a", "b")
    assert cfg.lr == 0.5  # a repeated option: the last one wins
    assert cfg.model.n_params == 12 * 6 * 128 ** 2  # __post_init__ ran again on the new nested config
    assert RunCfg().model.n_layer == 4  # the input config is not modified


def test_parse_args_returns_positionals_and_bare_flags():
    cfg, rest = parse_args(RunCfg(), ["input.txt", "--compile", "--lr", "0.1", "more"])
    assert rest == ["input.txt", "more"] and cfg.compile is True and cfg.lr == 0.1
    with pytest.raises(ConfigError, match="unexpected argument 'input.txt'"):
        parse_overrides(RunCfg(), ["input.txt"])


@pytest.mark.parametrize("argv,message", [
    (["--n_layers=3"], "unknown option --n_layers for RunCfg; did you mean --model.n_layer?"),
    (["--model.n_layr=3"], "did you mean --model.n_layer?"),
    (["--lrr=0.1"], "did you mean --lr?"),
    (["--zzzzzz=1"], "unknown option --zzzzzz for RunCfg (--help"),
    (["--lr=fast"], "--lr='fast': expected float"),
    (["--max_iters=2.5"], "--max_iters='2.5': expected int, a whole number"),
    (["--compile=maybe"], "--compile='maybe': expected bool"),
    (["--dtype=float16"], "expected one of float32, float64; did you mean 'float64'?"),
    (["--betas=0.9"], "2 comma-separated values, got 1"),
    (["--model=3"], "--model is a group of options"),
    (["--model.n_params=3"], "derived"),
    (["--lr"], "--lr needs a value (float)"),
    (["--model.n_layer=0"], "ModelCfg rejected --model.n_layer=0: n_layer must be >= 1"),
])
def test_bad_overrides_name_the_problem(argv, message):
    with pytest.raises(ConfigError) as info:
        parse_overrides(RunCfg(), argv)
    assert message in str(info.value)


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_from_dict_is_strict():
    with pytest.raises(ConfigError, match=r"unknown key 'model.n_layers' for ModelCfg; did you mean 'model.n_layer'"):
        from_dict(RunCfg, {"model": {"n_layers": 2}})
    with pytest.raises(ConfigError, match="lr='x': expected float, got str"):
        from_dict(RunCfg, {"lr": "x"})
    with pytest.raises(ConfigError, match="expected int, got bool"):
        from_dict(RunCfg, {"max_iters": True})
    with pytest.raises(ConfigError, match="n_layer must be >= 1"):
        from_dict(RunCfg, {"model": {"n_layer": 0}})
    with pytest.raises(ConfigError, match="expected a dict|expects a dict"):
        from_dict(RunCfg, [1])
    assert from_dict(RunCfg, {}) == RunCfg()  # missing keys take defaults
    assert from_dict(RunCfg, {"lr": 1}).lr == 1.0  # JSON ints are fine for floats


def test_merge_preset_nested_and_dotted():
    cfg = merge_preset(RunCfg(), {"model": {"n_layer": 2}, "model.bias": True, "lr": 3e-4, "betas": [0.8, 0.9],
                                  "max_iters": "500"})
    assert (cfg.model.n_layer, cfg.model.bias, cfg.lr, cfg.betas, cfg.max_iters) == (2, True, 3e-4, (0.8, 0.9), 500)
    with pytest.raises(ConfigError, match="did you mean --model.n_layer"):
        merge_preset(RunCfg(), {"model": {"nlayer": 2}})


def test_help_lists_every_field_with_type_default_and_help():
    text = help_text(RunCfg())
    settable = ["model.n_layer", "model.n_embd", "model.dropout", "model.bias"] + [
        f.name for f in dataclasses.fields(RunCfg) if f.name != "model"]
    for key in settable:
        assert f"--{key} " in text
    assert "n_params" not in text
    assert "peak learning rate" in text and "number of transformer blocks" in text  # metadata and # comments
    assert "tuple[float, float]" in text and "0.9,0.99" in text and "{float32,float64}" in text
    assert "str | None" in text and math.isclose(float(text.split("--lr")[1].split()[1]), 1e-3)


def test_non_dataclass_inputs_are_rejected():
    with pytest.raises(ConfigError, match="expects a dataclass"):
        parse_overrides({"lr": 1}, [])
    with pytest.raises(ConfigError, match="expects a dataclass"):
        to_dict(RunCfg)


@dataclass
class StringAnnotated:
    steps: "Optional[int]" = None  # string annotations are resolved like `from __future__ import annotations`
    root: "pathlib.Path" = pathlib.Path("out")
    sizes: "list[int]" = field(default_factory=list)


def test_string_annotations_paths_and_lists():
    cfg = parse_overrides(StringAnnotated(), ["--steps=5", "--root=/tmp/x", "--sizes=[1, 2,3]"])
    assert cfg == StringAnnotated(5, pathlib.Path("/tmp/x"), [1, 2, 3])
    assert parse_overrides(cfg, ["--steps=null"]).steps is None
    d = to_dict(cfg)
    assert d == {"steps": 5, "root": "/tmp/x", "sizes": [1, 2, 3]} and from_dict(StringAnnotated, d) == cfg
    with pytest.raises(ConfigError, match=r"--sizes='1,x': expected list\[int\], but item 'x' is not int"):
        parse_overrides(cfg, ["--sizes=1,x"])
