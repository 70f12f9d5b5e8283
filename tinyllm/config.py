"""Dataclass configs <-> command line <-> JSON: typed `--key=value` overrides, strict loading, a --help table.

Each component keeps its settings in a @dataclass whose __post_init__ rejects bad values; run configs nest them.
Never exec/eval: a value is parsed by the field's annotation, so `--lr=3e-4` becomes a float, `--model.n_layer=6`
reaches the nested config, and a typo like `--n_layers=6` is rejected with "did you mean --model.n_layer?".

    cfg = parse_overrides(TrainConfig(), ["--lr=3e-4", "--model.n_layer", "6", "--betas=0.9,0.95"])
    print(help_text(cfg)); json.dumps(to_dict(cfg)); from_dict(TrainConfig, d)

Supported field types: int, float, bool, str, pathlib.Path, Optional[X] / X | None, Literal[...], tuple[X, Y],
tuple[X, ...], list[X] and nested dataclasses. On the command line: bools are true/false/1/0/yes/no/on/off (a bare
`--flag` means true), None is `none` or `null`, sequences are comma-separated (`--betas=0.9,0.99`).
"""
import dataclasses
import difflib
import inspect
import io
import pathlib
import tokenize
import types
import typing

BOOL_WORDS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}
NONE_WORDS = ("none", "null")


class ConfigError(ValueError):
    """A bad option: unknown key, wrong type, or a value the config's own validation rejects."""


# ---------------------------------------------------------------------------------------------- field discovery

def _check_dataclass(obj, who):
    """Raise a ConfigError unless obj is a dataclass instance (not the class itself)."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        raise ConfigError(f"{who} expects a dataclass config, got {type(obj).__name__}")


def _hints(cls):
    """Resolved annotations of a dataclass (handles `from __future__ import annotations` strings)."""
    try:
        return typing.get_type_hints(cls)
    except Exception:  # e.g. a class defined inside a function whose string annotations name locals
        return {f.name: f.type for f in dataclasses.fields(cls)}


def _settable(cls):
    """[(field, resolved type)] for the fields a user may set (init=True; derived fields are computed, not set)."""
    hints = _hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls) if f.init]


def _walk(cfg, prefix=""):
    """Yield (dotted key, field, type, current value) for every settable leaf, descending into nested configs."""
    for f, tp in _settable(type(cfg)):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            yield from _walk(value, prefix + f.name + ".")
        else:
            yield prefix + f.name, f, tp, value


def _field_comments(cls):
    """{field name: trailing `# comment`} read from the class source, used as help when metadata has none."""
    try:
        source = inspect.cleandoc("\n" + inspect.getsource(cls)) + "\n"
    except (OSError, TypeError):
        return {}
    names, comments, line_field, first, prev = {f.name for f in dataclasses.fields(cls)}, {}, {}, {}, None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type not in (tokenize.INDENT, tokenize.DEDENT):
                first.setdefault(tok.start[0], tok)
            if tok.string == ":" and prev is not None and prev.string in names and first[prev.start[0]] is prev:
                line_field[tok.start[0]] = prev.string  # "name: type = default" starts this line
            elif tok.type == tokenize.COMMENT and tok.start[0] in line_field:
                comments[line_field[tok.start[0]]] = tok.string.lstrip("#").strip()
            prev = tok
    except (tokenize.TokenError, SyntaxError):
        return {}
    return comments


# ------------------------------------------------------------------------------------------------ type handling

def type_name(tp):
    """A short readable name for an annotation: int, float | None, tuple[float, float], {chars,bytes,bpe}."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return "{" + ",".join(str(a) for a in args) + "}"
    if origin in (typing.Union, types.UnionType):
        return " | ".join("None" if a is type(None) else type_name(a) for a in args)
    if origin in (tuple, list):
        inner = ", ".join("..." if a is Ellipsis else type_name(a) for a in args)
        return f"{origin.__name__}[{inner}]"
    return getattr(tp, "__name__", str(tp))


def parse_value(text, tp, key):
    """Convert the command-line string `text` to annotation `tp`; a ConfigError names --key, value and type."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)

    def fail(extra=""):
        raise ConfigError(f"--{key}={text!r}: expected {type_name(tp)}{extra}")

    if origin in (typing.Union, types.UnionType):
        if type(None) in args and text.strip().lower() in NONE_WORDS:
            return None
        for member in (a for a in args if a is not type(None)):
            try:
                return parse_value(text, member, key)
            except ConfigError:
                pass
        fail()
    if origin is typing.Literal:
        for choice in args:
            if str(choice) == text:
                return choice
        close = difflib.get_close_matches(text, [str(a) for a in args], n=1)
        raise ConfigError(f"--{key}={text!r}: expected one of {', '.join(map(str, args))}"
                          + (f"; did you mean {close[0]!r}?" if close else ""))
    if origin in (tuple, list):
        items = [s.strip() for s in text.strip().strip("()[]").split(",")] if text.strip("()[] ") else []

        def item(s, a):
            try:
                return parse_value(s, a, key)
            except ConfigError:
                fail(f", but item {s!r} is not {type_name(a)}")

        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(items) != len(args):
                fail(f", {len(args)} comma-separated values, got {len(items)}")
            return tuple(item(s, a) for s, a in zip(items, args))
        values = [item(s, args[0] if args else str) for s in items]
        return tuple(values) if origin is tuple else values
    if tp is bool:
        if text.strip().lower() not in BOOL_WORDS:
            fail(" (true/false, 1/0, yes/no, on/off)")
        return BOOL_WORDS[text.strip().lower()]
    if tp is int:
        try:
            return int(text)
        except ValueError:
            try:
                as_float = float(text)  # accept "1e3" and "2000.0", which are whole numbers
            except ValueError:
                fail()
            if not as_float.is_integer():
                fail(", a whole number")
            return int(as_float)
    if tp is float:
        try:
            return float(text)
        except ValueError:
            fail()
    if tp in (str, pathlib.Path):
        return tp(text)
    if dataclasses.is_dataclass(tp):
        raise ConfigError(f"--{key} is a group of options; set its fields, e.g. --{key}.<field>=value")
    raise ConfigError(f"--{key}: the field's type {type_name(tp)} is not supported by tinyllm.config")


def check_value(value, tp, key, strings=False):
    """Check (and gently convert) a JSON-style value against `tp`: int -> float, list -> tuple, dict -> dataclass.

    With strings=True a str given for a non-str field is parsed as on the command line (for presets).
    """
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if strings and isinstance(value, str) and tp not in (str, pathlib.Path):
        return parse_value(value, tp, key)

    def fail():
        raise ConfigError(f"{key}={value!r}: expected {type_name(tp)}, got {type(value).__name__}")

    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for member in (a for a in args if a is not type(None)):
            try:
                return check_value(value, member, key, strings)
            except ConfigError:
                pass
        fail()
    if origin is typing.Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
        raise ConfigError(f"{key}={value!r}: expected one of {', '.join(map(repr, args))}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            fail()
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ConfigError(f"{key}={value!r}: expected {type_name(tp)} ({len(args)} values)")
            return tuple(check_value(v, a, f"{key}[{i}]", strings) for i, (v, a) in enumerate(zip(value, args)))
        values = [check_value(v, args[0], f"{key}[{i}]", strings) if args else v for i, v in enumerate(value)]
        return tuple(values) if origin is tuple else values
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            fail()
        return _build(tp, value, key + ".", strings)
    accepted = {bool: (bool,), int: (int,), float: (int, float), str: (str,), pathlib.Path: (str, pathlib.PurePath)}
    if tp in accepted:
        if not isinstance(value, accepted[tp]) or (isinstance(value, bool) and tp is not bool):
            fail()  # note bool is a subclass of int in Python, so True is rejected for int fields explicitly
        return tp(value)
    raise ConfigError(f"{key}: the field's type {type_name(tp)} is not supported by tinyllm.config")


def format_value(value):
    """How a value is typed on the command line: 0.9,0.99 for tuples, none, true/false, plain strings."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ",".join(format_value(v) for v in value)
    return str(value)


# ------------------------------------------------------------------------------------------------ the public API

def parse_args(cfg, argv):
    """Apply `--key=value` / `--key value` / bare `--flag` options to `cfg`; returns (new cfg, positional args)."""
    _check_dataclass(cfg, "parse_args")
    leaves = {key: tp for key, _, tp, _ in _walk(cfg)}
    updates, positionals, i, argv = {}, [], 0, list(argv)
    while i < len(argv):
        token = argv[i]
        i += 1
        if not token.startswith("--") or token == "--":
            positionals.append(token)
            continue
        key, sep, raw = token[2:].partition("=")
        key = _resolve(cfg, key.replace("-", "_"), leaves)
        if not sep:  # "--key value", or a bare "--flag" for a bool field
            following = argv[i] if i < len(argv) else None
            bare_bool = leaves[key] is bool and (following is None or following.lower() not in BOOL_WORDS)
            if bare_bool:
                raw = "true"
            elif following is None or following.startswith("--"):
                raise ConfigError(f"--{key} needs a value ({type_name(leaves[key])}), e.g. --{key}=VALUE")
            else:
                raw, i = following, i + 1
        updates[key] = parse_value(raw, leaves[key], key)  # a repeated option: the last one wins
    return _apply(cfg, updates), positionals


def parse_overrides(cfg, argv):
    """A copy of `cfg` with command-line overrides applied; every argument must be an option."""
    new, positionals = parse_args(cfg, argv)
    if positionals:
        raise ConfigError(f"unexpected argument {positionals[0]!r}: options look like --key=value")
    return new


def merge_preset(cfg, preset):
    """A copy of `cfg` with a preset applied: a dict of values, nested ({"model": {"n_layer": 4}}) or dotted."""
    _check_dataclass(cfg, "merge_preset")
    if not isinstance(preset, dict):
        raise ConfigError(f"merge_preset expects a dict, got {type(preset).__name__}")
    leaves = {key: tp for key, _, tp, _ in _walk(cfg)}
    updates = {}
    for key, value in _flatten(preset):
        key = _resolve(cfg, key, leaves)
        updates[key] = check_value(value, leaves[key], key, strings=True)
    return _apply(cfg, updates)


def to_dict(cfg):
    """A JSON-able dict of every field (nested configs as dicts, tuples as lists, paths as strings)."""
    _check_dataclass(cfg, "to_dict")

    def plain(v):
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        return str(v) if isinstance(v, pathlib.PurePath) else v

    return plain(cfg)


def from_dict(cls, d):
    """Build `cls` from a dict (e.g. loaded JSON), strictly: unknown keys and wrong types raise ConfigError.

    Missing keys take the dataclass defaults; derived (init=False) keys are accepted and recomputed.
    """
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise ConfigError(f"from_dict expects a dataclass type, got {cls!r}")
    if not isinstance(d, dict):
        raise ConfigError(f"from_dict({cls.__name__}, ...) expects a dict, got {type(d).__name__}")
    return _build(cls, d, "", strings=False)


def help_text(cfg):
    """A table of every option (dotted for nested configs) with its type, current value and help."""
    _check_dataclass(cfg, "help_text")
    rows, helps = [], {}
    for key, f, tp, value in _walk(cfg):
        owner = _owner(cfg, key)
        if id(owner) not in helps:
            helps[id(owner)] = _field_comments(type(owner))
        text = f.metadata.get("help") or helps[id(owner)].get(f.name, "")
        rows.append((f"--{key}", type_name(tp), format_value(value) or '""', text))
    widths = [max([len(r[c]) for r in rows] + [7]) for c in range(3)]  # 7 = len("default")
    lines = [f"options of {type(cfg).__name__} (--key=value or --key value; nested: --group.key=value):"]
    lines.append(f"  {'option':<{widths[0]}}  {'type':<{widths[1]}}  {'default':<{widths[2]}}  help")
    for r in rows:
        lines.append(f"  {r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip())
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------ helpers

def _resolve(cfg, key, leaves):
    """Return `key` if it names a settable leaf option, else raise a ConfigError with the closest suggestion."""
    if key in leaves:
        return key
    name = type(cfg).__name__
    groups = {k.rsplit(".", 1)[0] for k in leaves if "." in k}
    if key in groups:
        raise ConfigError(f"--{key} is a group of options in {name}; set its fields, e.g. --{key}.<field>=value")
    owner = _owner(cfg, key) if key.rsplit(".", 1)[0] in groups or "." not in key else None
    if owner is not None and key.rsplit(".", 1)[-1] in {f.name for f in dataclasses.fields(owner) if not f.init}:
        raise ConfigError(f"--{key} is derived in {name}.__post_init__ and cannot be set directly")
    same_leaf = [k for k in leaves if k.rsplit(".", 1)[-1] == key.rsplit(".", 1)[-1]]
    close = same_leaf or difflib.get_close_matches(key, list(leaves), n=1, cutoff=0.6)
    if not close:  # a typo inside a nested group: compare leaf names only
        leaf_names = {k.rsplit(".", 1)[-1]: k for k in leaves}
        close = [leaf_names[m] for m in difflib.get_close_matches(key.rsplit(".", 1)[-1], list(leaf_names), n=1)]
    hint = f"; did you mean --{close[0]}?" if close else ""
    raise ConfigError(f"unknown option --{key} for {name}{hint} (--help lists every option)")


def _owner(cfg, dotted):
    """The (nested) config object that holds the leaf `dotted`."""
    for part in dotted.split(".")[:-1]:
        cfg = getattr(cfg, part)
    return cfg


def _flatten(d, prefix=""):
    """{"a": {"b": 1}, "c.d": 2} -> [("a.b", 1), ("c.d", 2)]."""
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _flatten(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def _apply(cfg, updates, prefix=""):
    """dataclasses.replace with dotted updates, innermost configs first, so every __post_init__ runs again."""
    direct, nested = {}, {}
    for key, value in updates.items():
        head, dot, rest = key.partition(".")
        if dot:
            nested.setdefault(head, {})[rest] = value
        else:
            direct[key] = value
    for head, sub in nested.items():
        direct[head] = _apply(getattr(cfg, head), sub, f"{prefix}{head}.")
    if not direct:
        return cfg
    try:
        return dataclasses.replace(cfg, **direct)
    except (ValueError, TypeError) as e:
        if isinstance(e, ConfigError):
            raise
        given = ", ".join(f"--{prefix}{k}={format_value(v)}" for k, v in updates.items())
        raise ConfigError(f"{type(cfg).__name__} rejected {given}: {e}") from None


def _build(cls, d, prefix, strings):
    """cls(**checked values of d); the recursive core of from_dict."""
    settable = {f.name: tp for f, tp in _settable(cls)}
    derived = {f.name for f in dataclasses.fields(cls) if not f.init}
    kwargs = {}
    for key, value in d.items():
        if key in derived:
            continue
        if key not in settable:
            close = difflib.get_close_matches(str(key), list(settable), n=1)
            hint = f"; did you mean {prefix + close[0]!r}?" if close else ""
            raise ConfigError(f"unknown key {prefix + str(key)!r} for {cls.__name__}{hint}")
        kwargs[key] = check_value(value, settable[key], prefix + key, strings)
    try:
        return cls(**kwargs)
    except TypeError as e:  # a required field without a default is missing
        raise ConfigError(f"cannot build {cls.__name__}{' at ' + prefix.rstrip('.') if prefix else ''}: {e}") from None
    except ValueError as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{cls.__name__} rejected the values: {e}") from None
