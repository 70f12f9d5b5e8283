"""The lecture's algorithmic data: random arithmetic expression trees, printed fully or partially, one per line.

    ((3*4)-(2+7))=3        a full expression with its value (with_value=True)
    ((8-(1*5))+            a partial one: the printed tree cut at a random point

To predict the next character well a model must keep track of how many parentheses are open (long-range
structure) and, after '=', compute the value: a process with a simple generator but a huge state space, which
is exactly where a finite-context n-gram model breaks. `check_line` tells whether a (generated) line is a
well-formed expression, a valid prefix of one, or neither, and whether a printed value is correct.
"""
from dataclasses import dataclass

import numpy as np


@dataclass
class ExpressionConfig:
    """How expression trees are drawn and printed."""
    max_depth: int = 4           # deepest nesting of parentheses
    leaf_prob: float = 0.3       # chance that a node above max_depth is a literal anyway
    operators: str = "+-*"       # from + - *
    max_literal: int = 9         # literals are drawn from 0..max_literal
    partial_prob: float = 0.5    # chance that a line is cut at a random point
    with_value: bool = True      # print "=value" after full expressions

    def __post_init__(self):
        if self.max_depth < 0:
            raise ValueError(f"max_depth must be >= 0, got {self.max_depth}")
        if not 0 <= self.leaf_prob <= 1 or not 0 <= self.partial_prob <= 1:
            raise ValueError(f"leaf_prob and partial_prob must be in [0, 1], got {self.leaf_prob}, "
                             f"{self.partial_prob}")
        if not self.operators or set(self.operators) - set("+-*"):
            raise ValueError(f"operators must be a non-empty subset of '+-*', got {self.operators!r}")
        if self.max_literal < 0:
            raise ValueError(f"max_literal must be >= 0, got {self.max_literal}")


def random_tree(cfg, rng, depth=0):
    """(text, value) of a random expression: a literal, or '(' left op right ')'."""
    if depth >= cfg.max_depth or (depth > 0 and rng.random() < cfg.leaf_prob):
        v = int(rng.integers(0, cfg.max_literal + 1))
        return str(v), v
    left, a = random_tree(cfg, rng, depth + 1)
    right, b = random_tree(cfg, rng, depth + 1)
    op = cfg.operators[int(rng.integers(len(cfg.operators)))]
    value = a + b if op == "+" else a - b if op == "-" else a * b
    return f"({left}{op}{right})", value


def random_line(cfg, rng):
    """One printed line (without the newline): full, or a random proper prefix of it."""
    text, value = random_tree(cfg, rng)
    full = f"{text}={value}" if cfg.with_value else text
    if len(full) > 1 and rng.random() < cfg.partial_prob:
        return full[:int(rng.integers(1, len(full)))]
    return full


def make_corpus(n_lines, cfg=None, seed=0):
    """n_lines newline-terminated lines; the same seed always gives the same text."""
    if n_lines < 0:
        raise ValueError(f"n_lines must be >= 0, got {n_lines}")
    cfg = cfg if cfg is not None else ExpressionConfig()
    rng = np.random.default_rng(seed)
    return "".join(random_line(cfg, rng) + "\n" for _ in range(n_lines))


class _End(Exception):
    """The input ended where the grammar needed more: the line is a prefix."""


def _parse(s, i):
    """Parse one expression starting at s[i]; returns (value, next index). Raises _End or ValueError."""
    if i >= len(s):
        raise _End
    if s[i] == "(":
        a, i = _parse(s, i + 1)
        if i >= len(s):
            raise _End
        if s[i] not in "+-*":
            raise ValueError(f"expected an operator at {i}, got {s[i]!r}")
        op = s[i]
        b, i = _parse(s, i + 1)
        if i >= len(s):
            raise _End
        if s[i] != ")":
            raise ValueError(f"expected ')' at {i}, got {s[i]!r}")
        return (a + b if op == "+" else a - b if op == "-" else a * b), i + 1
    j = i
    while j < len(s) and s[j].isdigit():
        j += 1
    if j == i:
        raise ValueError(f"expected a digit or '(' at {i}, got {s[i]!r}")
    return int(s[i:j]), j


def check_line(line):
    """'complete' (a whole expression, value correct if printed), 'prefix' (could still become one),
    'wrong_value' (well-formed but the printed value is wrong) or 'invalid'."""
    try:
        value, i = _parse(line, 0)
    except _End:
        return "prefix"
    except ValueError:
        return "invalid"
    if i == len(line):
        return "complete"
    if line[i] != "=":
        return "invalid"
    rest = line[i + 1:]
    if rest in ("", "-") or str(value).startswith(rest) and rest != str(value):
        return "prefix"                                  # the value is still being printed
    digits = rest[1:] if rest.startswith("-") else rest
    if not digits.isdigit():
        return "invalid"
    return "complete" if int(rest) == value else "wrong_value"
