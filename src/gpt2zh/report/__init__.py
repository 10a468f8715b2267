"""Reports: one HTML + JSON page per dataset and an index, from the stages' own accounting;
`reports/<run>/` adds what the model made of the corpus (eval results, training curves)."""

from gpt2zh.report.pages import build_dataset_report, dataset_report, index_report, top_pairs
from gpt2zh.report.run import run_report

__all__ = ["build_dataset_report", "dataset_report", "index_report", "run_report", "top_pairs"]
