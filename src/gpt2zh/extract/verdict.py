"""Whether an extracted shard is worth passing on: a shard that quarantined most of its records
almost always means a reader that does not fit the data (a template naming a field the records do
not have, the wrong format or records path). Failing here names the cause at its source, instead
of letting clean, convert and dedup run on nothing and the tokenizer fail on an empty sample."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .assign import ExtractError

#: The config key (under `extract:`) holding the largest share of quarantined records a shard
#: may have; 1 switches the check off.
KEY = "max_quarantine_fraction"


def check_quarantine_share(spec: Mapping[str, Any], stats: Mapping[str, Any]) -> None:
    """Raises ExtractError when more than `extract.max_quarantine_fraction` of the shard's records
    were quarantined, naming the main reason, the dataset's templates, the fields the records have
    (from the first quarantined record that was an object) and an example."""
    limit = float((spec.get("extract_options") or {}).get(KEY, 1.0))
    seen, drops = stats["docs_in"], stats["drops"]
    quarantined = sum(drops.values())
    if not seen or quarantined <= limit * seen:
        return
    reason, count = max(drops.items(), key=lambda kv: (kv[1], kv[0]))
    example = (stats.get("examples", {}).get(reason) or [{}])[0]
    lines = [
        f"dataset {spec['name']!r}, shard {stats.get('shard')}: {quarantined} of {seen} records "
        f"quarantined, more than extract.{KEY} ({limit:g}); most as {reason} ({count})"
        + (f": {example['error']}" if example.get("error") else ""),
    ]
    for k, reader in enumerate(spec.get("read", [])):
        text, files = (json.dumps(reader[key], ensure_ascii=False) for key in ("text", "files"))
        lines.append(f"  template datasets.{spec['name']}.read[{k}].text: {text} (files: {files})")
    if example.get("fields") is not None:
        lines.append(f"  the records have the fields: {', '.join(example['fields']) or '(none)'}")
    if example:
        where = f"{example.get('file')}, record {example.get('n')}"
        lines.append(f"  example ({where}): {example.get('text', '')}")
    lines.append(
        "  fix the dataset's `read:` (template, format, records path), or raise "
        f"extract.{KEY} (1 switches this check off)"
    )
    raise ExtractError("\n".join(lines))
