"""eval.md: eval.json as a person reads it, a table per question and the samples verbatim."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _f(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def _quote(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " / ")


def render(r: Mapping[str, Any]) -> str:
    lines = [
        f"# Evaluation of `{r['run']}`",
        "",
        f"Model `{r['model_dir']}`: step {r['step']}, {r['params']:,} parameters, "
        f"{r['tokens_seen'] if r['tokens_seen'] is not None else 'unknown'} tokens seen.",
        "",
        "## Bits per character on held-out text (lower is better)",
        "",
        "Bits per character and per UTF-8 byte compare across tokenizers; loss and perplexity "
        "are per token. Baselines: the same architecture untrained (the step-0 weights) and a "
        "character unigram fitted on the train split. Gain = baseline minus model. Every "
        "validation row is scored as in training (its first token is context only); a document's "
        "end (EOS) is scored and counts as one character and one byte.",
        "",
    ]
    rows = []
    for name, s in r["splits"].items():
        m, u, g = s["model"], s["untrained"], s["unigram"]
        rows.append(
            [
                name,
                f"{s['tokens']:,}",
                f"{s['chars']:,}",
                _f(m["loss"]),
                _f(m["ppl"], 1),
                f"**{_f(m['bits_per_char'])}**",
                _f(m["bits_per_byte"]),
                _f(u["bits_per_char"]),
                _f(g["bits_per_char"]),
                _f(s["gain_bits_per_char"]["vs_untrained"]),
                _f(s["gain_bits_per_char"]["vs_unigram"]),
            ]
        )
    lines += _table(
        [
            "split",
            "tokens",
            "chars",
            "loss",
            "ppl",
            "bits/char",
            "bits/byte",
            "untrained bits/char",
            "unigram bits/char",
            "gain vs untrained",
            "gain vs unigram",
        ],
        rows,
    )
    docs = [(name, s["documents"]) for name, s in r["splits"].items() if "documents" in s]
    if docs:
        lines += [
            "",
            "Per document with full context (each document scored on its own from its start, "
            "after an EOS: no other document before it, no row cut through it; comparable with "
            "other tools' per-document figures):",
            "",
            *_table(
                ["split", "documents", "chars", "bits/char", "bits/byte", "packed rows bits/char"],
                [
                    [
                        name,
                        f"{d['docs']:,}",
                        f"{d['chars']:,}",
                        f"**{_f(d['bits_per_char'])}**",
                        _f(d["bits_per_byte"]),
                        _f(r["splits"][name]["model"]["bits_per_char"]),
                    ]
                    for name, d in docs
                ],
            ),
        ]
    if r.get("empty_splits"):
        lines += ["", f"No validation rows (left out): {', '.join(r['empty_splits'])}."]
    d = r["degeneration"]
    s = r["sampling"]
    lines += [
        "",
        "## Degeneration",
        "",
        f"Sampling: temperature {s['temperature']}, top-k {s['top_k']}, top-p {s['top_p']}, "
        f"{s['max_new_tokens']} new tokens, seed {s['seed']}. Distinct-n: share of distinct "
        "character n-grams (higher: more varied); repeat ratio: longest substring occurring "
        f"twice / length (higher: more repetition). Reference: {d['reference_windows']} "
        f"windows of {d['reference_chars']} characters of validation text.",
        "",
    ]
    lines += _table(
        ["text", "distinct-1", "distinct-2", "repeat ratio"],
        [
            [who, *(_f(d[who][k]) for k in ("distinct_1", "distinct_2", "repeat_ratio"))]
            for who in ("model", "reference")
        ],
    )
    f = r["form"]
    lines += [
        "",
        "## Verse form",
        "",
        "Share of clauses (text between ，。！？；：、 or line breaks) of exactly 5 or 7 Han "
        "characters, the regulated-verse line; samples from the prompt's clause on, reference "
        "on the same validation windows.",
        "",
    ]
    lines += _table(
        ["text", "5/7-char clauses", "clauses", "mean clause chars"],
        [
            [
                who,
                _f(f[who]["verse_clauses"]),
                str(f[who]["clauses"]),
                _f(f[who]["clause_chars"], 1),
            ]
            for who in ("model", "reference")
        ],
    )
    lines += ["", "## Samples", ""]
    lines += _table(
        ["prompt", "continuation", "distinct-1", "distinct-2", "repeat ratio"],
        [
            [
                _quote(x["prompt"]),
                _quote(x["text"]),
                _f(x["distinct_1"]),
                _f(x["distinct_2"]),
                _f(x["repeat_ratio"]),
            ]
            for x in r["samples"]
        ],
    )
    lines += ["", "## lm-evaluation-harness", ""]
    lm = r["lm_eval"]
    if lm is None:
        lines.append(
            "Not run (lm-eval not installed, or eval.lm_eval: never); the task is in lm_eval/."
        )
    else:
        lines.append(
            f"`{lm['task']}` (pick the true next line among 4, {lm['n']} items): accuracy "
            f"**{_f(lm['acc'])}** ± {_f(lm['acc_stderr'])}, chance {_f(lm['chance'], 2)}."
        )
    return "\n".join(lines) + "\n"
