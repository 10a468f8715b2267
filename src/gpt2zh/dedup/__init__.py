"""Exact + MinHash near-duplicate removal across all datasets (runs after convert).

Four stages, each a `gpt2zh dedup ...` subcommand and a Snakemake rule:

1. `signatures` (per shard): `signatures.signature_shard` normalizes each document (lowercase,
   no whitespace or punctuation), hashes it whole (exact duplicates) and computes a datasketch
   `affine32` MinHash over character (or word) n-grams, vectorised over a batch of documents;
   writes the per-band bucket keys and the full signature per document.
2. `buckets` (per band group, scatter): `bands.bucket_pairs` sorts one band's keys over the whole
   corpus and emits candidate pairs (documents sharing a bucket).
3. `clusters` (gather): `clusters.build_clusters` merges the candidate pairs (union-find over dense
   numpy indices), optionally verifies each pair's Jaccard estimate, picks one survivor per
   cluster (dataset priority, then the longest, then the smallest id) and writes the drop list
   plus a summary for the reports.
4. `filter` (per shard): `filter.filter_shard` drops the listed documents through
   `gpt2zh.docstage.run_doc_stage` with reasons `exact_duplicate` / `near_duplicate`.

This module stays import-light: the Snakefile imports `gpt2zh.dedup.spec` while planning.
"""
