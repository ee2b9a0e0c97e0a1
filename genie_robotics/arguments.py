"""Command-line argument types and a parser whose errors are one line.

Every number a user types is range-checked by argparse itself, before any model, dataset or
process is touched: `--scale 0` or `--save-every 0` is `prog: error: ...` and exit 2, never a
traceback minutes later.
"""
from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser that reports a bad argument in one line (usage stays in --help)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def _number(kind: type, low: float | None, high: float | None, what: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} expected, got {text!r}") from None
        if (low is not None and value < low) or (high is not None and value > high) or value != value:
            raise argparse.ArgumentTypeError(f"{what} expected, got {text}")
        return value

    parse.__name__ = what  # argparse names the type in its messages
    return parse


positive_int = _number(int, 1, None, "an integer >= 1")
nonnegative_int = _number(int, 0, None, "an integer >= 0")
nonnegative_float = _number(float, 0.0, None, "a number >= 0")
positive_float = _number(float, 1e-12, None, "a number > 0")
probability = _number(float, 0.0, 1.0, "a number in [0, 1]")
temperature = _number(float, 0.0, 100.0, "a temperature in [0, 100]")
maskgit_steps = _number(int, 1, 1000, "MaskGIT steps in [1, 1000]")
