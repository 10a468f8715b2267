"""The report pages as a person sees them: rendered by headless Chromium, plots and tables present
after rendering, Chinese drawn as glyphs (not boxes); screenshots kept as test artifacts."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from gpt2zh.report import index_report, run_report
from gpt2zh.report.plots import FONT_STACK
from helpers.browser import artifacts_dir, dump_dom, screenshot
from helpers.report_fixtures import corpus_reports, eval_json, log_records, write_jsonl

pytestmark = pytest.mark.slow  # headless Chromium

CJK = "唐诗宋词明月"
#: Unassigned code points (between the Kangxi radicals and the ideographic description
#: characters): no font has them, so every one renders the same way (a .notdef box or nothing).
TOFU = "".join(chr(c) for c in range(0x2FE0, 0x2FE0 + len(CJK)))
CELL, SIZE = 48, 28


def test_pages_render_with_plots_and_tables(tmp_path: Path) -> None:
    reports = corpus_reports(tmp_path, {"news": 3, "poems": 2, "gone": 0})
    ev = tmp_path / "eval.json"
    ev.write_text(json.dumps(eval_json(["news", "poems"]), ensure_ascii=False), "utf-8")
    log = write_jsonl(tmp_path / "log.jsonl", log_records(mfu=True))
    run_report("tiny", reports, tmp_path / "tiny", eval_path=ev, log_path=log)
    index_report(reports, tmp_path / "index.html", run="tiny")

    dom = dump_dom(tmp_path / "tiny" / "index.html")
    assert dom.count("<svg") == 6  # loss, lr, tokens/s, MFU, bits/char, documents
    assert dom.count("<polyline") == 5  # train + val loss, lr, tokens/s, MFU
    for table in ("eval-splits", "degeneration", "lm-eval", "samples", "datasets"):
        assert f'class="{table}"' in dom, table
    assert "床前明月光" in dom and "built from the data alone" not in dom
    page = dump_dom(tmp_path / "tiny" / "news.html")
    assert page.count("<svg") == 2 and 'class="funnel"' in page and 'class="eval"' in page
    gone = dump_dom(tmp_path / "tiny" / "gone.html")
    assert "no documents left after clean" in gone and 'class="drops"' in gone
    corpus = dump_dom(tmp_path / "index.html")
    assert "built from the data alone" in corpus and 'class="datasets"' in corpus

    out = artifacts_dir()
    for name, page_path in (("report-run-index", tmp_path / "tiny" / "index.html"),
                            ("report-run-news", tmp_path / "tiny" / "news.html")):  # fmt: skip
        png = screenshot(page_path, tmp_path / f"{name}.png")
        assert Image.open(png).size == (1280, 2000)
        shutil.copy(png, out / png.name)


def _glyph_page(path: Path) -> Path:
    """One glyph per fixed cell, CJK on the first row, unassigned code points on the second, in
    the plots' font stack: identical glyphs give identical pixels, so cells can be compared."""
    cells = [
        f'<text x="{i * CELL + 10}" y="{row * CELL + 36}">{ch}</text>'
        for row, text in enumerate((CJK, TOFU))
        for i, ch in enumerate(text)
    ]
    font = FONT_STACK.replace('"', "'")
    path.write_text(
        '<!doctype html><meta charset="utf-8"><style>body{margin:0;background:#fff}</style>'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CELL * len(CJK)}" height="{2 * CELL}" '
        f'font-family="{font}" font-size="{SIZE}">{"".join(cells)}</svg>',
        "utf-8",
    )
    return path


def test_chinese_renders_as_glyphs_not_boxes(tmp_path: Path) -> None:
    families = subprocess.run(
        ["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=True
    ).stdout
    assert "Noto Sans CJK SC" in families, "install fonts-noto-cjk (make test-deps)"
    png = screenshot(_glyph_page(tmp_path / "glyphs.html"), tmp_path / "report-cjk-glyphs.png")
    shutil.copy(png, artifacts_dir() / png.name)
    img = Image.open(png).convert("L")
    rows = [
        [img.crop((i * CELL, r * CELL, (i + 1) * CELL, (r + 1) * CELL)).tobytes()
         for i in range(len(CJK))]
        for r in (0, 1)
    ]  # fmt: skip
    cjk, tofu = rows
    assert len(set(tofu)) == 1, "unassigned code points should all look alike (the control)"
    assert sum(p < 128 for p in tofu[0]) > 20, "the control draws no box: cannot tell tofu apart"
    assert all(sum(p < 128 for p in cell) > 20 for cell in cjk), "a CJK cell has no ink"
    assert len(set(cjk)) == len(CJK), "CJK characters look alike: drawn as boxes (tofu)"
    assert tofu[0] not in cjk
