"""Option declarations: a command's options are the fields of its `*Options` dataclass.

Each field is declared once with `option(...)` (default, help, how text becomes the value), so
the library function that takes the dataclass and the command line that fills it (`cli/arguments.py`
makes the flags) cannot drift apart. The value types check ranges as they parse: a number a
user types is refused before any model, dataset or process is touched.
"""
from __future__ import annotations

import argparse
from dataclasses import MISSING, field
from pathlib import Path
from typing import Any

from genie_robotics.core.config import UNMASKING_ORDERS
from genie_robotics.core.errors import GenieError


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


def as_argument_type(parse):
    """`parse` as an argparse type: its GenieError becomes argparse's one-line usage error."""

    def argument(text: str):
        try:
            return parse(text)
        except GenieError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    argument.__name__ = parse.__name__
    return argument


def option(default: Any = MISSING, *, help: str, parse=None, choices=None, positional: bool = False,
           repeat: bool = False, metavar: str | None = None) -> Any:
    """A dataclass field that is also a command-line option.

    `parse` turns the text into the value (an argparse type: `Path`, `positive_int`, ...);
    without a default the option is required (or positional); `repeat` collects every use of
    the flag into a list. A bool that defaults to False is a switch `--name`, one that defaults
    to True a switch `--no-name`; their help describes the switch.
    """
    meta = {"help": help, "parse": parse, "choices": choices, "positional": positional, "repeat": repeat,
            "metavar": metavar}
    return field(default=default, metadata=meta)


# Options every rollout command shares; the sampling defaults are the checkpoint's, measured best.
def maskgit_steps_option() -> Any:
    return option(None, parse=maskgit_steps, help="MaskGIT steps per frame (default: the checkpoint's value)")


def temperature_option(also: str = "") -> Any:
    return option(None, parse=temperature, help=f"MaskGIT sampling temperature (default: the checkpoint's value){also}")


def unmasking_option() -> Any:
    return option(None, choices=list(UNMASKING_ORDERS),
                  help="which samples a MaskGIT step keeps: the most confident, or a random order "
                       "(default: the checkpoint's value)")


def seed_option() -> Any:
    return option(0, parse=nonnegative_int, help="random seed")


def device_option() -> Any:
    return option("cpu", help="torch device: cpu or cuda")


def progress_option() -> Any:
    return option(True, help="hide progress bars")


def path_option(default: Any = MISSING, *, help: str, positional: bool = False) -> Any:
    return option(default, parse=Path, help=help, positional=positional)
