"""Configs to start a test from."""

from __future__ import annotations

import yaml

from helpers import REPO


def tiny_config() -> dict:
    """workflow/configs/tiny.yaml as a dict (a fresh copy each call)."""
    return yaml.safe_load((REPO / "workflow" / "configs" / "tiny.yaml").read_text("utf-8"))
