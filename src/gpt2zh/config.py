"""Load and validate configs against workflow/schemas/config.schema.yaml, filling defaults.

The Snakefile and the CLI both go through `validate_config`, so a config means the same thing
whether a rule or a person runs a stage, and a bad key fails before any job starts with an error
that names the key path.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpt2zh.errors import UserError

if TYPE_CHECKING:
    import jsonschema
    import yaml

# jsonschema and yaml are imported where used: every per-shard job imports this module (for
# ConfigError, dataset_spec) but gets its config as JSON, and the two cost ~0.1 CPU-s to import.

SCHEMA_NAME = "config.schema.yaml"


class ConfigError(UserError):
    """The config does not satisfy the schema or a cross-reference rule."""


def schema_path() -> Path:
    """The schema lives in workflow/schemas (the product layout, where the Snakefile validates
    with it). The package holds a symlink to it, which a wheel build copies as a file, so an
    installed (non-editable) package finds the same schema next to this module."""
    return Path(__file__).with_name(SCHEMA_NAME)


@cache
def _schema() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(schema_path().read_text(encoding="utf-8"))


@cache
def _validator() -> type:
    """A Draft 2020-12 validator that writes `default:` values into the instance while
    validating."""
    import jsonschema

    cls = jsonschema.Draft202012Validator
    validate_properties = cls.VALIDATORS["properties"]

    def properties(validator: Any, props: Mapping[str, Any], instance: Any, schema: Any) -> Any:
        if isinstance(instance, dict):
            for name, sub in props.items():
                if isinstance(sub, dict) and "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, props, instance, schema)

    return jsonschema.validators.extend(cls, {"properties": properties})


def _path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<top level>"


def _message(error: jsonschema.ValidationError) -> str:
    import jsonschema

    # if/then branches report the innermost failure; that is the one a user can act on.
    while error.context:
        error = jsonschema.exceptions.best_match(error.context)
    return f"{_path(error)}: {error.message}"


def validate_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Returns a validated deep copy of `config` with defaults filled in, or raises ConfigError."""
    cfg = copy.deepcopy(dict(config))
    not_finite = list(_not_finite(cfg, ""))
    if not_finite:
        lines = "\n".join(f"  - {p}" for p in not_finite[:20])
        raise ConfigError(f"invalid config:\n{lines}")
    errors = sorted(_validator()(_schema()).iter_errors(cfg), key=lambda e: list(map(str, e.path)))
    if errors:
        lines = "\n".join(f"  - {_message(e)}" for e in errors[:20])
        raise ConfigError(f"invalid config:\n{lines}")
    _check_references(cfg)
    return cfg


def _not_finite(value: Any, path: str) -> Iterable[str]:
    """YAML's .nan and .inf: NaN passes every `minimum`/`maximum` of the schema (comparisons
    with NaN are false) and infinity breaks arithmetic later, so neither is a config value."""
    if isinstance(value, float) and not math.isfinite(value):
        yield f"{path or '<top level>'}: {value} is not a finite number"
    elif isinstance(value, Mapping):
        for key, sub in value.items():
            yield from _not_finite(sub, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from _not_finite(sub, f"{path}[{i}]")


def check_config_files(paths: Iterable[str | Path]) -> None:
    """Raises ConfigError for a key written twice in one mapping of a config file (YAML loaders
    keep the last one silently: a dataset written twice would be merged, the last winning)."""
    import yaml

    problems = []
    for path in paths:
        text = Path(path).read_text(encoding="utf-8")
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            continue  # the loader that reads the config reports syntax errors
        problems += _duplicate_keys(node, "", str(path))
    if problems:
        raise ConfigError("invalid config:\n" + "\n".join(f"  - {p}" for p in problems[:20]))


def _duplicate_keys(node: yaml.Node | None, path: str, file: str) -> list[str]:
    import yaml

    out: list[str] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            where = f"{path}.{key}" if path else str(key)
            line = key_node.start_mark.line + 1
            if key is not None and key in seen:
                out.append(
                    f"{where}: written twice in {file} (lines {seen[key]} and {line}); "
                    f"YAML would keep only the last: give each its own name or merge them"
                )
            elif key is not None:
                seen[key] = line
            out += _duplicate_keys(value_node, where, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out += _duplicate_keys(item, f"{path}[{i}]", file)
    return out


def _check_references(cfg: dict[str, Any]) -> None:
    problems = []
    for name, ds in cfg["datasets"].items():
        if ds["source"] not in cfg["sources"]:
            known = ", ".join(sorted(cfg["sources"]))
            problems.append(
                f"datasets.{name}.source: unknown source {ds['source']!r} (known: {known})"
            )
    for name in cfg["mix"].get("weights", {}):
        ds = cfg["datasets"].get(name)
        if ds is None:
            problems.append(f"mix.weights.{name}: no dataset named {name!r}")
        elif ds["role"] != "pretrain":
            problems.append(f"mix.weights.{name}: dataset has role {ds['role']!r}, not pretrain")
    val_tokens = cfg["mix"].get("val_tokens")
    for key, names in (
        ("epochs", cfg["mix"].get("epochs", {})),
        ("val_tokens", val_tokens if isinstance(val_tokens, dict) else {}),
    ):
        for name in names:
            if name not in cfg["datasets"]:
                problems.append(f"mix.{key}.{name}: no dataset named {name!r}")
    if problems:
        raise ConfigError("invalid config:\n" + "\n".join(f"  - {p}" for p in problems))


def load_config(paths: Iterable[str | Path]) -> dict[str, Any]:
    """Loads YAML files, later ones overriding earlier ones key by key (as Snakemake does)."""
    import yaml

    paths = list(paths)
    check_config_files(paths)
    merged: dict[str, Any] = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            try:
                loaded = yaml.safe_load(f)
            except yaml.YAMLError as e:
                # the parser's own text names the line and column (1-based) and what it expected
                raise ConfigError(f"{path}: not valid YAML: {e}") from None
        if loaded is not None and not isinstance(loaded, Mapping):
            raise ConfigError(
                f"{path}: the top level must be a mapping of keys (sources:, datasets:, ...),"
                f" not a {type(loaded).__name__}"
            )
        _merge(merged, loaded or {})
    return validate_config(merged)


def _merge(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


def dataset_spec(cfg: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Everything one dataset's jobs need, as a self-contained JSON-able dict."""
    if name not in cfg["datasets"]:
        raise ConfigError(f"datasets.{name}: no such dataset (known: {', '.join(cfg['datasets'])})")
    ds = cfg["datasets"][name]
    return {
        "name": name,
        **ds,
        "source_spec": {"name": ds["source"], **cfg["sources"][ds["source"]]},
        "extract_options": cfg["extract"],
    }


def source_spec(cfg: Mapping[str, Any], name: str) -> dict[str, Any]:
    if name not in cfg["sources"]:
        raise ConfigError(f"sources.{name}: no such source (known: {', '.join(cfg['sources'])})")
    return {"name": name, **cfg["sources"][name], "download_options": cfg["download"]}


def spec_json(spec: Mapping[str, Any]) -> str:
    """Canonical JSON, so Snakemake's params-based rerun trigger fires only on real changes."""
    return json.dumps(spec, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
