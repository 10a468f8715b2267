"""Reports: one HTML + JSON page per dataset and an index, from the stages' own accounting."""

from gpt2zh.report.pages import build_dataset_report, dataset_report, index_report, top_pairs

__all__ = ["build_dataset_report", "dataset_report", "index_report", "top_pairs"]
