"""A local Hugging Face Hub mirror on loopback for the pretrain-zh dress rehearsal.

It builds the three repos pretrain-zh reads, with the real paths and record schemas, filled with
generated text, and serves them with the Hub API that `huggingface_hub` calls:

    liwu/MNBVC               news/20230196/{0..11}.jsonl.gz (人民日报, 通用文本: 段落[] of
                             {行号, 是否重复, 是否跨文件重复, md5, 内容}), the 申报 file
                             news/20230253/shenbao.20230253.4.新闻/shenbao.part_06.jsonl.gz
                             (Traditional, classical: the config must not read it),
                             crawler/oscar/20230207/oscar_202201.part_00{00..24}.jsonl.gz
                             (通用文本, uint64 simhash, some Traditional text),
                             qa/20230196/zhihu/{0..4}.jsonl.gz (id, 问, 答, 来源, 元数据)
    allenai/c4               en/c4-train.0000{0..3}-of-01024.json.gz and a validation file:
                             JSON lines {text, timestamp, url} under a .json.gz name
    opencsg/smoltalk-chinese at commit 5edf5d0d7b06794755cf78b274a150a4efe1c9d4: Parquet files
                             at the root (`conversations`: list of {role, content}) and old/

Endpoints: GET /api/datasets/{repo}/revision/{rev} (the commit `sha`), GET
/api/datasets/{repo}/tree/{rev}[/{path}]?recursive=true (paginated with `Link: rel="next"`, 1000
entries a page, `lfs.oid` = sha256 for data files, `oid` = git blob sha1), HEAD and GET
/datasets/{repo}/resolve/{rev}/{path} (ETag, X-Repo-Commit, Content-Length, Range). Files are
streamed from disk, so multi-GB files cost no memory.

Sizes: `--mb` sets the size of one "big" file (the files pretrain-zh downloads: each MNBVC
news/crawler file, each Zhihu file, the C4 file) in MB of gzip; the files the config does not
select are kept small. `--mb 585` gives the real layout's ~585 MB files everywhere; the
recorded rehearsal (benchmarks/RESULTS.md) used `--mb 260 --first-mb 585`: one 585 MB file per
MNBVC subset, 5.6 GB of gzip in all.
Generating costs about 0.25 CPU-s per MB of gzip, `--jobs` files at once (`--mb 10` made 196 MB
in 49 CPU-s on the shared 2-core machine). `--mb 0.2` gives a CI-sized mirror of a few MB.

    python benchmarks/hub_mirror.py build /tmp/hub --mb 585
    python benchmarks/hub_mirror.py serve /tmp/hub --port 8765
    HF_ENDPOINT=http://127.0.0.1:8765 snakemake --cores 2 \
        --configfile workflow/configs/pretrain-zh.yaml

Text: Chinese sentences drawn from a few hundred common words, with stopwords and end
punctuation, so the zh quality filters keep nearly all of it and MinHash finds no accidental
near-duplicates; English likewise for C4. MNBVC files also carry paragraphs repeated and flagged
`是否重复`, as the real files do.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import re
import shutil
import threading
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SMOLTALK_COMMIT = "5edf5d0d7b06794755cf78b274a150a4efe1c9d4"
PAGE = 1000  # the Hub's tree page size

# --- generated text -------------------------------------------------------------------------

ZH_NOUNS = (  # noqa: SIM905 - a word list reads best as one string
    "城市 乡村 学校 工厂 医院 市场 道路 河流 山区 农民 工人 学生 老师 医生 记者 "
    "企业 政府 社区 家庭 孩子 老人 青年 科学 技术 文化 历史 经济 教育 环境 资源 "
    "能源 交通 网络 手机 电脑 数据 报告 会议 计划 项目 政策 制度 服务 产品 质量 "
    "价格 收入 生活 健康 安全 发展 改革 创新 合作 问题 方法 经验 成果 目标 任务 "
    "时间 地方 国家 世界 人民 群众 干部 部门 单位 机构 组织 团队 作品 小说 电影 "
    "音乐 体育 比赛 旅游 天气 季节 春天 夏天 秋天 冬天 早晨 晚上 节日 故事 朋友"
).split()
ZH_VERBS = (  # noqa: SIM905 - a word list reads best as one string
    "建设 推动 提高 改善 研究 讨论 组织 参加 完成 解决 支持 保护 利用 加强 开展 "
    "实现 促进 介绍 说明 认为 发现 表示 希望 决定 准备 学习 工作 生产 销售 购买 "
    "选择 使用 管理 检查 调查 分析 总结 计算 设计 安排 提供 接受 扩大 减少 增加 "
    "保持 恢复 改变 影响 带动"
).split()
ZH_ADJ = (  # noqa: SIM905 - a word list reads best as one string
    "新的 重要的 主要的 基本的 具体的 良好的 稳定的 明显的 积极的 传统的 现代的 "
    "普通的 复杂的 简单的 长期的 全面的 有效的 合理的 安全的 美丽的 热闹的 安静的 "
    "丰富的 年轻的"
).split()
ZH_ADV = (  # noqa: SIM905 - a word list reads best as one string
    "已经 正在 逐步 不断 进一步 认真 积极 共同 及时 充分 迅速 主动 继续 首先 同时"
).split()
ZH_PLACES = (  # noqa: SIM905 - a word list reads best as one string
    "北京 上海 广州 深圳 杭州 成都 武汉 西安 南京 重庆 天津 长沙 昆明 青岛 厦门"
).split()
# Traditional forms for the crawl (OSCAR zh holds Taiwan and Hong Kong pages).
ZH_TRAD = (  # noqa: SIM905 - a word list reads best as one string
    "網路 資訊 學習 經濟 發展 環境 計畫 電腦 軟體 與 為 這 們 會 說 時 開 關 實 題"
).split()
EN_WORDS = (  # noqa: SIM905 - a word list reads best as one string
    "the be to of and that have with a in for on "
    "it as at by from this they we you he she "
    "people time year work day world life school "
    "family system program question government "
    "company number group problem fact water city "
    "market river morning history music story "
    "build make find use tell ask show try leave "
    "call keep begin help turn start move play "
    "small large local public early social common "
    "recent strong simple quiet bright ancient"
).split()


def _level1_words(n: int) -> list[str]:
    """Two-character words drawn from GB2312 level 1 (the 3,755 most common characters): with
    them the text compresses about as real Chinese does (gzip ~2.5×, not the ~4× of a few
    hundred words), so a GB of gzip means as much text to process as a GB of MNBVC."""
    chars = [
        bytes([hi, lo]).decode("gb2312")
        for hi in range(0xB0, 0xD8)
        for lo in range(0xA1, 0xFF)
        if (hi, lo) < (0xD7, 0xFA)
    ]
    rng = random.Random(0)
    return ["".join(rng.choices(chars, k=2)) for _ in range(n)]


ZH_RARE = _level1_words(50_000)


def _noun(rng: random.Random) -> str:
    return rng.choice(ZH_NOUNS) if rng.random() < 0.4 else rng.choice(ZH_RARE)


def zh_sentence(rng: random.Random, trad: float = 0.0) -> str:
    parts = [
        rng.choice(ZH_PLACES) if rng.random() < 0.2 else _noun(rng),
        "的",
        _noun(rng),
        rng.choice(ZH_ADV),
        rng.choice(ZH_VERBS),
        "了" if rng.random() < 0.3 else "",
        rng.choice(ZH_ADJ),
        _noun(rng),
    ]
    if rng.random() < 0.6:
        parts += ["，", "这", "是", _noun(rng), "和", _noun(rng), "中"]
        parts += [rng.choice(ZH_ADJ), _noun(rng)]
    if rng.random() < 0.4:
        parts += ["，", "在", f"{rng.randint(1949, 2023)}年{rng.randint(1, 12)}月"]
        parts += ["有", str(rng.randint(2, 999)), "人", rng.choice(ZH_VERBS)]
    if trad and rng.random() < trad:
        parts.insert(3, rng.choice(ZH_TRAD))
    return "".join(parts) + rng.choice("。。。！？")


def zh_paragraph(rng: random.Random, trad: float = 0.0) -> str:
    return "".join(zh_sentence(rng, trad) for _ in range(rng.randint(2, 5)))


def en_document(rng: random.Random) -> str:
    paras = []
    for _ in range(rng.randint(2, 5)):
        sentences = []
        for _ in range(rng.randint(3, 6)):
            words = [rng.choice(EN_WORDS) for _ in range(rng.randint(8, 18))]
            sentences.append(" ".join(words).capitalize() + ".")
        paras.append(" ".join(sentences))
    return "\n".join(paras)


# --- record schemas ---------------------------------------------------------------------------


def common_text(rng: random.Random, name: str, trad: float = 0.0) -> dict[str, Any]:
    """One record of MNBVC's 通用文本 format: a source file as paragraphs, with MNBVC's flags."""
    paragraphs: list[dict[str, Any]] = []
    seen: list[str] = []
    for i in range(rng.randint(3, 12)):
        repeat = bool(seen) and rng.random() < 0.05
        text = rng.choice(seen) if repeat else zh_paragraph(rng, trad)
        seen.append(text)
        paragraphs.append(
            {
                "行号": i,
                "是否重复": repeat,
                "是否跨文件重复": (not repeat) and rng.random() < 0.02,
                "md5": hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(),
                "内容": text,
            }
        )
    return {
        "文件名": name,
        "是否待查文件": False,
        "是否重复文件": False,
        "文件大小": sum(len(p["内容"].encode()) for p in paragraphs),
        "simhash": rng.getrandbits(64),  # uint64: half of them above 2**63
        "最长段落长度": max(len(p["内容"]) for p in paragraphs),
        "段落数": len(paragraphs),
        "去重段落数": sum(not p["是否重复"] for p in paragraphs),
        "低质量段落数": 0,
        "段落": paragraphs,
    }


def news(rng: random.Random, n: int) -> dict[str, Any]:
    day = f"{rng.randint(1990, 2023)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return common_text(rng, f"人民日报/{day}/{n % 20 + 1:02d}.txt")


def shenbao(rng: random.Random, n: int) -> dict[str, Any]:
    rec = common_text(rng, f"申报/{1872 + n % 77}/{n}.txt", trad=1.0)
    for p in rec["段落"]:
        p["内容"] = p["内容"].replace("的", "之").replace("了", "矣")
    return rec


def crawl(rng: random.Random, n: int) -> dict[str, Any]:
    return common_text(rng, f"oscar_202201/{n}.txt", trad=0.15)


def zhihu(rng: random.Random, n: int) -> dict[str, Any]:
    return {
        "id": rng.getrandbits(40),
        "问": zh_sentence(rng).rstrip("。！？") + "？",
        "答": "\n".join(zh_paragraph(rng) for _ in range(rng.randint(1, 4))),
        "来源": "知乎",
        "元数据": {
            "create_time": f"{rng.randint(2012, 2023)}-{rng.randint(1, 12):02d}-01 00:00:00",
            "问题明细": "",
            "回答明细": "",
            "扩展字段": "",
        },
    }


def c4(rng: random.Random, n: int) -> dict[str, Any]:
    return {
        "text": en_document(rng),
        "timestamp": f"2019-04-{rng.randint(18, 26)}T{rng.randint(0, 23):02d}:12:08Z",
        "url": f"https://www.example-{rng.randint(0, 10**6)}.com/{n}",
    }


# --- building ---------------------------------------------------------------------------------


def write_jsonl_gz(
    path: Path, make: Callable[[random.Random, int], dict], mb: float, seed: int
) -> None:
    """Records until the gzip output reaches `mb` MB (level 6, as the real files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    target = max(1, int(mb * 1e6))
    n = 0
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz,
    ):
        while raw.tell() < target:
            lines = [json.dumps(make(rng, n + i), ensure_ascii=False) for i in range(200)]
            gz.write(("\n".join(lines) + "\n").encode())
            n += 200


def write_smoltalk(path: Path, rows: int, seed: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    conversations = [
        [
            turn
            for _ in range(rng.randint(1, 3))
            for turn in (
                {"role": "user", "content": zh_sentence(rng).rstrip("。！？") + "？"},
                {"role": "assistant", "content": zh_paragraph(rng)},
            )
        ]
        for _ in range(rows)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"conversations": conversations}), path)


def _seed(path: str) -> int:
    return int.from_bytes(hashlib.sha256(path.encode()).digest()[:4], "little")


def build(root: Path, mb: float, jobs: int = 1, first_mb: float | None = None) -> dict[str, int]:
    """Writes the three repos under `root` (deterministic for given sizes, whatever `jobs`, the
    number of files generated at once); bytes per repo. `first_mb` sizes the first selected file
    of each MNBVC subset (default `mb`): real MNBVC files reach ~585 MB, and one such file per
    subset is what shows how a big file spreads over shards."""
    small = min(mb, 0.05)
    first = mb if first_mb is None else first_mb
    plan: dict[str, list[tuple[str, Callable[[random.Random, int], dict], float]]] = {
        "liwu/MNBVC": [
            *((f"news/20230196/{i}.jsonl.gz", news, first if i == 0 else mb) for i in range(12)),
            ("news/20230253/shenbao.20230253.4.新闻/shenbao.part_06.jsonl.gz", shenbao, small),
            *(
                (
                    f"crawler/oscar/20230207/oscar_202201.part_{i:04d}.jsonl.gz",
                    crawl,
                    first if i == 0 else small,
                )
                for i in range(25)
            ),
            *(
                (f"qa/20230196/zhihu/{i}.jsonl.gz", zhihu, first if i == 0 else mb / 3)
                for i in range(5)
            ),
        ],
        "allenai/c4": [
            *(
                (f"en/c4-train.{i:05d}-of-01024.json.gz", c4, mb if i == 0 else small)
                for i in range(4)
            ),
            ("en/c4-validation.00000-of-00008.json.gz", c4, small),
        ],
        "opencsg/smoltalk-chinese": [],
    }
    for repo in plan:
        if (root / repo / "files").exists():
            shutil.rmtree(root / repo / "files")
    tasks = [
        (root / repo / "files" / rel, make, size, _seed(repo + rel))
        for repo, files in plan.items()
        for rel, make, size in files
    ]
    tasks.sort(key=lambda t: -t[2])  # big files first: the pool ends together
    with ProcessPoolExecutor(jobs) as pool:
        list(pool.map(write_jsonl_gz, *zip(*tasks, strict=True)))
    sizes = {}
    for repo in plan:
        folder = root / repo / "files"
        if repo == "opencsg/smoltalk-chinese":
            rows = min(max(20, int(mb * 2000)), 150_000)  # the real repo: ~700k in all
            for name in ("advice-seeking", "coding", "information-seeking", "math", "reasoning"):
                write_smoltalk(folder / f"{name}.parquet", rows, _seed(name))
            write_smoltalk(folder / "old/data/train-00000-of-00001.parquet", 20, _seed("old"))
        (folder / "README.md").write_text(f"# {repo}\n\nGenerated for the gpt2zh rehearsal.\n")
        sizes[repo] = index_repo(root / repo, SMOLTALK_COMMIT if "smoltalk" in repo else None)
    return sizes


def _git_oid(path: Path) -> str:
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def index_repo(repo_dir: Path, commit: str | None) -> int:
    """Writes `tree.json` (the Hub's listing) and `commit`: a digest of the listing unless given."""
    files = sorted(p for p in (repo_dir / "files").rglob("*") if p.is_file())
    entries: list[dict[str, Any]] = []
    folders = set()
    for p in files:
        rel = p.relative_to(repo_dir / "files").as_posix()
        parts = rel.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
        entry: dict[str, Any] = {
            "type": "file",
            "oid": _git_oid(p),
            "size": p.stat().st_size,
            "path": rel,
        }
        if not rel.endswith(".md"):  # data files are LFS on the Hub
            entry["lfs"] = {"oid": _sha256(p), "size": p.stat().st_size, "pointerSize": 134}
        entries.append(entry)
    entries += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": f} for f in folders]
    entries.sort(key=lambda e: e["path"])
    listing = json.dumps(entries, ensure_ascii=False, sort_keys=True)
    (repo_dir / "tree.json").write_text(listing, "utf-8")
    commit = commit or hashlib.sha1(listing.encode(), usedforsecurity=False).hexdigest()
    (repo_dir / "commit").write_text(commit)
    return sum(e["size"] for e in entries)


# --- serving ----------------------------------------------------------------------------------


class Repo:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.commit = (folder / "commit").read_text().strip()
        self.entries: list[dict[str, Any]] = json.loads((folder / "tree.json").read_text("utf-8"))
        self.by_path = {e["path"]: e for e in self.entries if e["type"] == "file"}


class HubMirror:
    """Serves every repo built under `root` (`owner/name/{files,tree.json,commit}`)."""

    def __init__(self, root: Path, port: int = 0) -> None:
        self.root = Path(root)
        self.repos = {
            f"{d.parent.name}/{d.name}": Repo(d)
            for d in self.root.glob("*/*")
            if (d / "commit").is_file()
        }
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> HubMirror:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


API = re.compile(r"/api/datasets/([^/]+/[^/]+)/(revision|tree)/([^/]+)(?:/(.*))?")
RESOLVE = re.compile(r"/datasets/([^/]+/[^/]+)/resolve/([^/]+)/(.+)")


def _handler(hub: HubMirror) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_HEAD(self) -> None:
            self._answer(head=True)

        def do_GET(self) -> None:
            self._answer(head=False)

        def _json(
            self, data: Any, status: int = 200, headers: dict[str, str] | None = None
        ) -> None:
            body = json.dumps(data, ensure_ascii=False).encode()
            self.send_response(status)
            for k, v in {"Content-Type": "application/json", **(headers or {})}.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _repo(self, name: str, rev: str) -> Repo | None:
            repo = hub.repos.get(name)
            if repo is None:
                self._json({"error": "Repository not found"}, 404, {"X-Error-Code": "RepoNotFound"})
                return None
            if rev not in ("main", repo.commit):
                self._json(
                    {"error": f"Invalid rev id: {rev}"}, 404, {"X-Error-Code": "RevisionNotFound"}
                )
                return None
            return repo

        def _answer(self, head: bool) -> None:
            url = urllib.parse.urlsplit(self.path)
            path = urllib.parse.unquote(url.path)
            if m := API.fullmatch(path):
                repo = self._repo(m[1], urllib.parse.unquote(m[3]))
                if repo is None:
                    return
                if m[2] == "revision":
                    siblings = [{"rfilename": p} for p in repo.by_path]
                    self._json(
                        {"id": m[1], "sha": repo.commit, "private": False, "siblings": siblings}
                    )
                    return
                self._tree(repo, m[4] or "", dict(urllib.parse.parse_qsl(url.query)))
            elif m := RESOLVE.fullmatch(path):
                repo = self._repo(m[1], m[2])
                if repo is not None:
                    self._file(repo, m[3], head)
            else:
                self._json({"error": "not found"}, 404)

        def _tree(self, repo: Repo, under: str, query: dict[str, str]) -> None:
            prefix = under.rstrip("/") + "/" if under else ""
            recursive = query.get("recursive", "false").lower() == "true"
            entries = [
                e
                for e in repo.entries
                if e["path"].startswith(prefix)
                and (recursive or "/" not in e["path"][len(prefix) :])
            ]
            start = int(query.get("cursor", 0))
            headers = {}
            if start + PAGE < len(entries):
                nxt = urllib.parse.urlencode({**query, "cursor": start + PAGE})
                here = hub.endpoint + self.path.split("?")[0]  # as the client sent it
                headers["Link"] = f'<{here}?{nxt}>; rel="next"'
            self._json(entries[start : start + PAGE], headers=headers)

        def _file(self, repo: Repo, rel: str, head: bool) -> None:
            entry = repo.by_path.get(rel)
            if entry is None:
                self._json({"error": "Entry not found"}, 404, {"X-Error-Code": "EntryNotFound"})
                return
            size = entry["size"]
            etag = entry["lfs"]["oid"] if "lfs" in entry else entry["oid"]
            start, end, status = 0, size - 1, 200
            if m := re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or ""):
                start, end, status = int(m[1]), int(m[2]) if m[2] else size - 1, 206
            self.send_response(status)
            self.send_header("ETag", f'"{etag}"')
            self.send_header("X-Repo-Commit", repo.commit)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start + 1))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if head:
                return
            with open(repo.folder / "files" / rel, "rb") as f:
                f.seek(start)
                left = end - start + 1
                while left > 0 and (chunk := f.read(min(1 << 20, left))):
                    self.wfile.write(chunk)
                    left -= len(chunk)

    return Handler


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="generate the repos")
    b.add_argument("root", type=Path)
    b.add_argument("--mb", type=float, default=585.0, help="MB of gzip per big file")
    b.add_argument(
        "--first-mb", type=float, help="MB of gzip of each MNBVC subset's first file (default --mb)"
    )
    b.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="files generated at once")
    s = sub.add_parser("serve", help="serve built repos until interrupted")
    s.add_argument("root", type=Path)
    s.add_argument("--port", type=int, default=8765)
    args = ap.parse_args()
    if args.cmd == "build":
        for repo, nbytes in build(args.root, args.mb, args.jobs, args.first_mb).items():
            print(f"{repo}: {nbytes / 1e6:,.1f} MB")
        return
    with HubMirror(args.root, args.port) as hub:
        print(f"export HF_ENDPOINT={hub.endpoint}", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
