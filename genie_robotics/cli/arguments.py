"""The command line's parser: errors in one line, flags generated from the `*Options`
dataclasses (their fields declared with `core.options.option`), and the logging set-up."""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import MISSING, fields
from typing import Any, NoReturn


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser that reports a bad argument in one line (usage stays in --help)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


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
            optional = {} if f.default is MISSING else {"nargs": "?", "default": f.default}
            parser.add_argument(f.name, type=meta["parse"], help=meta["help"], metavar=meta["metavar"], **optional)
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
