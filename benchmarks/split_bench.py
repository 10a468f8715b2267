"""One large file, `shards: 8`: the data pipeline with `--cores 1` and with `--cores 2`.

Builds a single gzip JSON-lines file of generated Chinese prose (`--mb` MB of text before
compression: sentences of common words and function words, so the zh clean filters keep most
of it, with a few percent near-duplicate documents for dedup), a config with one dataset of
`--shards` shards reading it, and runs the real workflow (default target: every data product
up to the packed mix) once per `--cores` value in its own folder. Prints the wall time of each
run, per rule the jobs' summed wall seconds (Snakemake's `benchmark:` files) and their CPU
seconds (each job's own last log line, `done: X CPU-s`; exact, unlike the benchmark files),
and the shards' sizes after extract: one file gives `--shards` balanced jobs to every stage.

    PYTHONPATH=src python benchmarks/split_bench.py --mb 256 --shards 8 --cores 1 2
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Common words and function words: text the zh quality filters (stopwords, n-gram repetition,
# punctuation) keep, built from a fixed vocabulary so the corpus is the same for a given seed.
WORD_TEXT = (
    "我们 他们 今天 城市 公园 学校 老师 学生 工作 生活 社会 发展 经济 文化 历史 科学 技术 "
    "问题 方法 时间 地方 国家 人民 政府 企业 市场 服务 环境 教育 健康 医院 家庭 朋友 孩子 "
    "春天 夏天 秋天 冬天 山水 河流 道路 交通 建设 研究 计划 报告 会议 活动 作品 音乐 电影 "
    "书籍 新闻 网络 数据 信息 系统 能力 经验 机会 条件 结果 原因 影响 变化 过程 方向 目标 "
    "重要 主要 基本 一般 特别 非常 已经 正在 可能 应该 需要 希望 认为 知道 觉得 开始 继续 "
    "提高 增加 减少 保护 参加 组织 解决 完成 进行 发现 表示 介绍 支持 关注 推动 实现 改善"
)
FUNCTION_TEXT = "的 了 是 在 和 也 都 就 还 又 与 对 把 被 从 向 为 而 但 却 这 那 有 不 很"
WORDS, FUNCTION = WORD_TEXT.split(), FUNCTION_TEXT.split()


def _sentence(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(5, 12)):
        out.append(rng.choice(WORDS))
        if rng.random() < 0.6:
            out.append(rng.choice(FUNCTION))
    return "".join(out) + rng.choice("。。。，；！？")


def _document(rng: random.Random) -> str:
    paras = []
    for _ in range(rng.randint(1, 6)):
        paras.append("".join(_sentence(rng) for _ in range(rng.randint(3, 12))))
    return "\n".join(paras)


def build_corpus(path: Path, mb: int, seed: int, dup_rate: float = 0.03) -> int:
    """Writes `path` (gzip JSON lines, mtime 0: the same bytes for the same arguments)."""
    rng = random.Random(seed)
    target = mb * 1_000_000
    written = n = 0
    recent: list[str] = []
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        while written < target:
            if recent and rng.random() < dup_rate:  # a near duplicate of a recent document
                chars = list(rng.choice(recent))
                for i in rng.sample(range(len(chars)), k=max(1, len(chars) // 50)):
                    chars[i] = rng.choice(WORDS)[0]
                text = "".join(chars)
            else:
                text = _document(rng)
                recent = [*recent[-99:], text]
            line = json.dumps({"id": n, "text": text}, ensure_ascii=False).encode() + b"\n"
            f.write(line)
            written += len(line)
            n += 1
    return n


def config(corpus_dir: Path, shards: int, keep: bool) -> dict:
    return {
        "run": "split",
        "keep_intermediate": keep,
        "sources": {"big": {"type": "local", "path": str(corpus_dir)}},
        "datasets": {
            "big": {
                "source": "big",
                "shards": shards,
                "read": [{"files": "big.jsonl.gz", "text": "{text}", "meta": ["id"]}],
            }
        },
        "dedup": {"band_groups": 2},
        "tokenizer": {"vocab_size": 4096, "sample_bytes": 4_000_000},
        "mix": {"weights": {"big": 1.0}},
    }


class DiskPeak(threading.Thread):
    """Samples the bytes under a folder every `every` seconds; `peak` is the largest sample."""

    def __init__(self, root: Path, every: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.root, self.every, self.peak = root, every, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every):
            self.peak = max(self.peak, _tree_bytes(self.root))

    def stop(self) -> int:
        self.done.set()
        self.join()
        return max(self.peak, _tree_bytes(self.root))


def _tree_bytes(root: Path) -> int:
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):  # a tmp file renamed or removed meanwhile
                total += os.stat(os.path.join(folder, name)).st_size
    return total


def run(
    work: Path,
    corpus: Path,
    shards: int,
    cores: int,
    target: list[str],
    keep: bool = True,
    extra: tuple[str, ...] = (),
) -> dict:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    cfg = work / "config.json"
    cfg.write_text(json.dumps(config(corpus, shards, keep)))
    cmd = [
        sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(work),
        "--workflow-profile", "none", "--cores", str(cores), *target, "--configfile", str(cfg),
        *extra,
    ]  # fmt: skip
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    disk = DiskPeak(work / "results")
    disk.start()
    t0 = time.perf_counter()
    cpu0 = os.times()
    with open(work / "snakemake.log", "w") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)
    cpu1 = os.times()
    wall = time.perf_counter() - t0
    peak = disk.stop()
    rules: dict[str, dict[str, float]] = defaultdict(
        lambda: {"s": 0.0, "cpu": 0.0, "jobs": 0, "max_cpu": 0.0, "max_rss_mb": 0.0}
    )
    rules.update(job_usage(work / "logs"))
    bench = work / "logs" / "benchmarks"
    for tsv in sorted(bench.rglob("*.tsv")):
        parts = tsv.relative_to(bench).parts
        with open(tsv) as f:
            rules[_stage(parts)]["s"] += float(next(csv.DictReader(f, delimiter="\t"))["s"])
    extract = sorted((work / "results").glob("extract/big/shard-*.stats.json"))
    sizes = [json.loads(p.read_text())["bytes_out"] for p in extract]
    children = (cpu1.children_user - cpu0.children_user) + (
        cpu1.children_system - cpu0.children_system
    )
    steps = STEPS.findall((work / "snakemake.log").read_text("utf-8", "replace"))
    return {
        "wall": wall,
        "cpu": children,
        "snakemake_jobs": int(steps[-1]) if steps else 0,
        "rules": dict(rules),
        "extract_bytes_out": sizes,
        "disk_peak": peak,
        "disk_end": _tree_bytes(work / "results"),
    }


STEPS = re.compile(r"of (\d+) steps \(100%\) done")
USAGE = re.compile(r"done: ([0-9.]+) CPU-s .*peak RSS ([0-9.]+) MB")


def job_usage(logs: Path) -> dict[str, dict[str, float]]:
    """Per rule, from each job's own last log line (`done: X CPU-s … peak RSS Y MB`, exact where
    Snakemake's benchmark files undercount short jobs): jobs, summed CPU-s, the largest job's
    CPU-s and peak RSS."""
    rules: dict[str, dict[str, float]] = defaultdict(
        lambda: {"s": 0.0, "cpu": 0.0, "jobs": 0, "max_cpu": 0.0, "max_rss_mb": 0.0}
    )
    for log in sorted(logs.rglob("*.log")):
        found = USAGE.findall(log.read_text("utf-8", "replace"))
        if not found or "benchmarks" in log.parts:
            continue
        cpu, rss = float(found[-1][0]), float(found[-1][1])
        r = rules[_stage(log.relative_to(logs).parts)]
        r["jobs"] += 1
        r["cpu"] += cpu
        r["max_cpu"] = max(r["max_cpu"], cpu)
        r["max_rss_mb"] = max(r["max_rss_mb"], rss)
    return dict(rules)


def _stage(parts: tuple[str, ...]) -> str:
    """Rule of a log or benchmark path: logs/<stage>/..., logs/dedup/<step>/..."""
    step = parts[1].removesuffix(".tsv").removesuffix(".log") if len(parts) > 1 else ""
    return parts[0] if parts[0] != "dedup" else f"dedup {step}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--mb", type=int, default=256, help="MB of JSON lines before gzip")
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--no-keep-intermediate",
        dest="keep",
        action="store_false",
        help="run with keep_intermediate: false (consumed shards are temp files)",
    )
    ap.add_argument("--target", nargs="*", default=[], help="Snakemake targets (default: all)")
    ap.add_argument("--workdir", type=Path, default=Path("results") / "split_bench")
    args = ap.parse_args()
    work = args.workdir.resolve()
    corpus = work / "corpus" / "big.jsonl.gz"
    if not corpus.exists():
        t0 = time.perf_counter()
        docs = build_corpus(corpus, args.mb, args.seed)
        print(f"corpus: {docs} documents, {corpus.stat().st_size / 1e6:.1f} MB gzip "
              f"({args.mb} MB of JSON lines), {time.perf_counter() - t0:.0f} s")  # fmt: skip
    results = {}
    for cores in args.cores:
        print(f"--cores {cores}: running…", flush=True)
        name = f"cores{cores}" + ("" if args.keep else "-lean")
        results[cores] = r = run(work / name, corpus.parent, args.shards, cores,
                                 args.target, args.keep)  # fmt: skip
        mb = [round(b / 1e6, 1) for b in r["extract_bytes_out"]]
        print(f"  wall {r['wall']:.0f} s, CPU of all jobs {r['cpu']:.0f} s; "
              f"extract shards (MB of text): {mb}; results/ peak {r['disk_peak'] / 1e6:.0f} MB, "
              f"at the end {r['disk_end'] / 1e6:.0f} MB", flush=True)  # fmt: skip
    head = "".join(f"{f'{c} core(s): jobs wall-s CPU-s max-job':>40}" for c in args.cores)
    print(f"\n{'rule':<18}{head}")
    for stage in sorted({s for r in results.values() for s in r["rules"]}):
        cells = []
        for c in args.cores:
            x = results[c]["rules"].get(stage, {"jobs": 0, "s": 0.0, "cpu": 0.0, "max_cpu": 0.0})
            cells.append(f"{x['jobs']:>18} {x['s']:6.1f} {x['cpu']:6.1f} {x['max_cpu']:7.2f}")
        print(f"{stage:<18}" + "".join(cells))
    walls = ", ".join(f"--cores {c}: {results[c]['wall']:.0f} s" for c in args.cores)
    print(f"\nwall time {walls}")
    (work / f"results{'' if args.keep else '-lean'}.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
