"""Typed results: a command's result is a dataclass whose fields are its JSON file's keys.

`Result.to_dict()` gives the JSON-ready dict in field order (nested results as dicts), and
`to_json()` the file's text, so a result is read through its attributes in Python and written
with the same keys and values as before it had a type. A field declared with
`result_field(flatten=True)` holds a nested result whose keys are spliced into the parent's
(the JSON stays flat); one with `omit_none=True` is left out of the JSON while it is None.
"""
from __future__ import annotations

import json
from dataclasses import MISSING, field, fields, is_dataclass
from typing import Any


def result_field(default: Any = MISSING, *, flatten: bool = False, omit_none: bool = False) -> Any:
    """A result field with how it is written: spliced into its parent (`flatten`) or left out while None."""
    return field(default=default, metadata={"flatten": flatten, "omit_none": omit_none})


def _plain(value: Any) -> Any:
    """`value` with every nested result as its dict and tuples as lists."""
    if isinstance(value, Result):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class Result:
    """Base of the result dataclasses (eval, probe, generate): their JSON, key for key."""

    def to_dict(self) -> dict[str, Any]:
        assert is_dataclass(self), f"{type(self).__name__} must be a dataclass"
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("omit_none") and value is None:
                continue
            if f.metadata.get("flatten"):
                out.update(_plain(value))
            else:
                out[f.name] = _plain(value)
        return out

    def to_json(self) -> str:
        """The result file's text: the dict indented by 2, ending in a newline."""
        return json.dumps(self.to_dict(), indent=2) + "\n"
