"""The command line's shared pieces: range-checked argument types, a parser whose errors are one
line, flags generated from the `*Options` dataclasses, and the logging set-up.

Every number a user types is range-checked by argparse itself, before any model, dataset or
process is touched: `--scale 0` or `--save-every 0` is `prog: error: ...` and exit 2, never a
traceback minutes later.

A command's options are written once, as fields of its `*Options` dataclass declared with
`option(...)` (default, help, parser); `add_options` makes the flags from them and
`options_from` builds the dataclass from what was parsed, so a flag's name, default and help
cannot drift apart from what the library function takes.
"""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import MISSING, field, fields
from pathlib import Path
from typing import Any, NoReturn


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


def as_argument_type(parse):
    """`parse` as an argparse type: its GenieError becomes argparse's one-line usage error."""
    from genie_robotics.errors import GenieError

    def argument(text: str):
        try:
            return parse(text)
        except GenieError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    argument.__name__ = parse.__name__
    return argument


# --- flags from dataclass fields ----------------------------------------------------------------
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


def _help(text: str, default: Any) -> str:
    shown = default not in (None, MISSING) and not isinstance(default, bool)
    return f"{text} (default {default})" if shown else text


def add_options(parser: argparse.ArgumentParser, options_cls: type) -> None:
    """One argparse argument per `option(...)` field of `options_cls`, in field order."""
    for f in fields(options_cls):
        meta = f.metadata
        if "help" not in meta:  # a field the command line does not set
            continue
        if meta["positional"]:
            parser.add_argument(f.name, type=meta["parse"], help=meta["help"], metavar=meta["metavar"])
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            switch = flag if f.default is False else "--no-" + f.name.replace("_", "-")
            parser.add_argument(switch, dest=f.name, action="store_false" if f.default else "store_true",
                                help=meta["help"])
            continue
        kwargs = {"type": meta["parse"], "choices": meta["choices"], "metavar": meta["metavar"],
                  "help": _help(meta["help"], f.default)}
        if meta["repeat"]:
            kwargs["action"] = "append"
        if f.default is MISSING:
            kwargs["required"] = True
        else:
            kwargs["default"] = f.default
        parser.add_argument(flag, dest=f.name, **kwargs)


def options_from(options_cls: type, namespace: argparse.Namespace):
    """The `options_cls` instance the parsed flags describe."""
    return options_cls(**{f.name: getattr(namespace, f.name) for f in fields(options_cls) if "help" in f.metadata})


# Options every rollout command shares; the sampling defaults are the checkpoint's, measured best.
def maskgit_steps_option() -> Any:
    return option(None, parse=maskgit_steps, help="MaskGIT steps per frame (default: the checkpoint's value)")


def temperature_option(also: str = "") -> Any:
    return option(None, parse=temperature, help=f"MaskGIT sampling temperature (default: the checkpoint's value){also}")


def seed_option() -> Any:
    return option(0, parse=nonnegative_int, help="random seed")


def device_option() -> Any:
    return option("cpu", help="torch device: cpu or cuda")


# What runs a world model's networks (models/world_model.py:load_world_model); here, where
# option declarations can read them without importing torch.
BACKENDS = ("auto", "onnx", "torch", "torch-compiled")


def progress_option() -> Any:
    return option(True, help="hide progress bars")


def path_option(default: Any = MISSING, *, help: str, positional: bool = False) -> Any:
    return option(default, parse=Path, help=help, positional=positional)


# --- logging ----------------------------------------------------------------------------------
def configure_logging(level: int) -> None:
    """The package's progress messages on stdout as `[module] message`; libraries log, the
    command line (`-q` / `-v`) chooses how much is shown."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[%(module)s] %(message)s"))
    for name in ("genie_robotics", "training"):
        package = logging.getLogger(name)
        package.handlers[:] = [handler]
        package.setLevel(level)
        package.propagate = False


def add_verbosity(parser: argparse.ArgumentParser) -> None:
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    noise.add_argument("-v", "--verbose", action="store_true", help="debug messages too")


def verbosity(namespace: argparse.Namespace) -> int:
    """The logging level `-q` / `-v` ask for."""
    return logging.WARNING if namespace.quiet else logging.DEBUG if namespace.verbose else logging.INFO
