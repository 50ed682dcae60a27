"""Typed configs: a YAML file fills a dataclass, `--set a.b=value` overrides any field.

Unknown keys are errors that name the closest valid key, and values are checked against the field's type, so a
typo in a config never silently falls back to a default. Each config dataclass checks its value ranges in its
`__post_init__` with `check_ranges`, so a bad number is refused when the config is built, before any work.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from pathlib import Path
from typing import Any, Sequence, TypeVar

import yaml

from videovq.errors import InputError

T = TypeVar("T")


def load_config(cls: type[T], path: str | Path | None = None, overrides: Sequence[str] = ()) -> T:
    """Build a `cls` dataclass from a YAML file (optional) and `key.sub=value` overrides.

    Args:
        cls: the config dataclass; nested dataclass fields become nested YAML mappings.
        path: a YAML file, or None to start from the defaults.
        overrides: strings like `model.channels=128`; the value is parsed as YAML (`1e-4`, `true`, `[1, 2]`).
    """
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        data = read_yaml(path, "config file; see videovq/configs/ for examples")
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InputError(f"--set {item}: write overrides as key.sub=value")
        _set_nested(data, key.strip().split("."), yaml.safe_load(raw) if raw.strip() else "")
    return _build(cls, data, prefix="", source=source)


def read_yaml(path: str | Path, what: str = "YAML file") -> dict[str, Any]:
    """A YAML mapping from a file, or `InputError` naming the file when it is missing, binary or not a mapping."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such {what}" if not path.exists() else f"{path}: is a folder, not a {what}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file (binary data); pass a YAML {what}") from None
    except yaml.YAMLError as e:
        raise InputError(f"{path}: invalid YAML ({str(e).splitlines()[0]}); fix the syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: a config must be a mapping of keys to values")
    return data


@dataclasses.dataclass(frozen=True)
class Range:
    """Allowed values of a number: `low <= x <= high` (strict where `*_open`); None = unbounded."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, x: float) -> bool:
        if isinstance(x, float) and not math.isfinite(x):
            return False
        if self.low is not None and (x <= self.low if self.low_open else x < self.low):
            return False
        return self.high is None or (x < self.high if self.high_open else x <= self.high)

    def __str__(self) -> str:
        low = "" if self.low is None else f"{'>' if self.low_open else '>='} {self.low:g}"
        high = "" if self.high is None else f"{'<' if self.high_open else '<='} {self.high:g}"
        return " and ".join(p for p in (low, high) if p) or "finite"


AT_LEAST_ONE = Range(1)
NON_NEGATIVE = Range(0)
POSITIVE = Range(0, low_open=True)
FRACTION = Range(0, 1)


class ConfigRangeError(InputError):
    """A config field outside its range; `_build` adds the file and the section path to the message."""

    def __init__(self, name: str, value: Any, allowed: Range | str):
        self.name, self.value, self.allowed = name, value, allowed
        super().__init__(f"'{name}' is {value!r}; it must be {allowed}")


def check_ranges(config: Any, **ranges: Range) -> None:
    """Raise `ConfigRangeError` for the first field of `config` outside its range (None values and lists' items
    are checked too; None is allowed where the field's type allows it)."""
    for name, allowed in ranges.items():
        value = getattr(config, name)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is not None and item not in allowed:
                raise ConfigRangeError(name, item, allowed)


def apply_overrides(config: T, overrides: Sequence[str], source: str = "--set") -> T:
    """A copy of a config dataclass with `key.sub=value` overrides applied (same checks as `load_config`)."""
    data = config_to_dict(config)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InputError(f"--set {item}: write overrides as key.sub=value")
        _set_nested(data, key.strip().split("."), yaml.safe_load(raw) if raw.strip() else "")
    return _build(type(config), data, prefix="", source=source)


def config_to_dict(config: Any) -> dict[str, Any]:
    """A plain dict (YAML/JSON-serialisable) of a config dataclass; the inverse of `load_config`."""
    return dataclasses.asdict(config)


def config_from_dict(cls: type[T], data: dict[str, Any], source: str = "checkpoint") -> T:
    """Rebuild a config dataclass from `config_to_dict` output, with the same checks as `load_config`."""
    return _build(cls, data, prefix="", source=source)


def dump_config(config: Any) -> str:
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)


def _set_nested(data: dict, keys: list[str], value: Any) -> None:
    for k in keys[:-1]:
        data = data.setdefault(k, {})
        if not isinstance(data, dict):
            raise InputError(f"--set {'.'.join(keys)}: '{k}' is a value, not a section")
    data[keys[-1]] = value


def _build(cls: type, data: dict[str, Any], prefix: str, source: str):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else f"; valid keys: {', '.join(fields)}"
            raise InputError(f"{source}: unknown config key '{prefix}{key}'{hint}")
    kwargs = {}
    for name, value in data.items():
        default = fields[name].default_factory
        if isinstance(value, dict) and dataclasses.is_dataclass(hints[name]) and default is not dataclasses.MISSING:
            # A section given in part keeps this field's own defaults for the keys it leaves out (a trainer's
            # `optim:` defaults differ from OptimConfig's), not those of the section's class.
            value = _merged(config_to_dict(default()), value)
        kwargs[name] = _coerce(hints[name], value, f"{prefix}{name}", source)
    try:
        return cls(**kwargs)
    except ConfigRangeError as e:  # name the section path and where the value came from
        raise InputError(f"{source}: '{prefix}{e.name}' is {e.value!r}; it must be {e.allowed}") from None


def _merged(base: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in given.items():
        out[key] = _merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def _coerce(tp: Any, value: Any, key: str, source: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise InputError(f"{source}: '{key}' is a section; give it a mapping, not {value!r}")
        return _build(tp, value, prefix=f"{key}.", source=source)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(option, value, key, source)
            except InputError as e:
                errors.append(str(e))
        raise InputError(errors[0])
    if origin is typing.Literal:
        if value not in args:
            raise InputError(f"{source}: '{key}' is {value!r}; choose one of {', '.join(map(repr, args))}")
        return value
    if origin in (list, tuple, Sequence) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{source}: '{key}' must be a list, got {value!r}")
        item_tp = args[0] if args else Any
        items = [_coerce(item_tp, v, f"{key}[{i}]", source) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or tp is tuple else items
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise InputError(f"{source}: '{key}' must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{source}: '{key}' must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{source}: '{key}' must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise InputError(f"{source}: '{key}' must be a string, got {value!r}")
        return str(value)
    raise TypeError(f"config field '{key}' has unsupported type {tp!r}")
