"""Test helpers shared by the test modules (which never import one another): the repository
root, the tiny Snakemake workflow runs, and the per-stage builders of inputs."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
