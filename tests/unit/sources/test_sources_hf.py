"""`hf` sources against a fake Hub on loopback that implements the endpoints we use with the
real Hub's JSON shapes: revision info, the paginated recursive tree, `resolve` downloads (LFS
files redirected to a CDN on another origin), and a gated file that needs the token."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from gpt2zh.sources import DownloadError, download, lock
from helpers.httpserver import Fault, LoopbackServer, Request, Response, closed_port, serve

FAST = {"retries": 2, "backoff_seconds": 0.01, "timeout_seconds": 5, "chunk_bytes": 4096}
TOKEN = "hf_TestSecretToken0123456789abcdef"
COMMIT = "4f1c0ffee0ddba11deadbeefcafe0123456789ab"


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub:
    """Serves one repo at one commit; `main` resolves to it. Tree pages hold `page_size` entries."""

    def __init__(
        self,
        server: LoopbackServer,
        repo: str,
        files: dict[str, bytes],
        *,
        repo_type: str = "dataset",
        lfs: set[str] = frozenset(),
        gated: set[str] = frozenset(),
        page_size: int = 2,
    ) -> None:
        self.server, self.repo = server, repo
        self.versions: dict[str, dict[str, bytes]] = {}  # commit → files
        self.head = COMMIT  # the commit `main` points at
        self.lfs, self.gated, self.page_size = set(lfs), set(gated), page_size
        self.listed_sha256: dict[str, str] = {}  # override the sha256 the tree advertises
        self.blobs = server.root / "blobs"
        self.blobs.mkdir(exist_ok=True)
        self.push(COMMIT, files)
        kind = f"{repo_type}s"
        prefix = "datasets/" if repo_type == "dataset" else ""
        r = re.escape(repo)
        server.route(rf"/api/{kind}/{r}/revision/(?P<rev>[^/]+)", self.revision)
        server.route(rf"/api/{kind}/{r}/tree/(?P<rev>[^/]+)", self.tree)
        server.route(rf"/{prefix}{r}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", self.resolve)
        server.route(r"/cdn/(?P<sha>[0-9a-f]{64})", self.cdn)

    @property
    def files(self) -> dict[str, bytes]:
        return self.versions[self.head]

    def push(self, commit: str, files: dict[str, bytes]) -> None:
        """A new commit on `main` (the branch moves, as Hub repos do)."""
        for data in files.values():
            (self.blobs / hashlib.sha256(data).hexdigest()).write_bytes(data)
        self.versions[commit] = files
        self.head = commit

    def revision(self, req: Request, m: re.Match[str]) -> Response:
        if m["rev"] != "main" and m["rev"] not in self.versions:
            said = f" (credentials: {auth_of(req)})" if m["rev"] == "echo" else ""
            return Response.json(
                {"error": f"Invalid rev id: {m['rev']}{said}"},
                404,
                {"X-Error-Code": "RevisionNotFound"},
            )
        return Response.json(
            {
                "_id": "65f0c0ffee",
                "id": self.repo,
                "author": self.repo.split("/")[0],
                "sha": self.head if m["rev"] == "main" else m["rev"],
                "lastModified": "2024-05-01T12:00:00.000Z",
                "private": False,
                "gated": "manual" if self.gated else False,
                "disabled": False,
                "tags": ["language:zh"],
                "downloads": 0,
                "likes": 0,
                "siblings": [{"rfilename": p} for p in sorted(self.files)],
            }
        )

    def _entries(self, commit: str = COMMIT) -> list[dict]:
        files = self.versions[commit]
        entries, folders = [], set()
        for path in sorted(files):
            parts = path.split("/")
            for i in range(1, len(parts)):
                folders.add("/".join(parts[:i]))
        for folder in sorted(folders):
            entries.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": folder})
        for path, data in sorted(files.items()):
            entry = {"type": "file", "oid": git_oid(data), "size": len(data), "path": path}
            if path in self.lfs:
                sha = self.listed_sha256.get(path, hashlib.sha256(data).hexdigest())
                entry["oid"] = git_oid(b"version https://git-lfs.github.com/spec/v1\n")
                entry["lfs"] = {"oid": sha, "size": len(data), "pointerSize": 134}
                entry["xetHash"] = "ab" * 32
            entries.append(entry)
        return entries

    def tree(self, req: Request, m: re.Match[str]) -> Response:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(req.path).query))
        assert query.get("recursive") == "true"
        if m["rev"] not in self.versions:  # we always list at a resolved commit
            return Response.json({"error": "Revision not found"}, 404)
        entries = self._entries(m["rev"])
        start = int(query.get("cursor", 0))
        page = entries[start : start + self.page_size]
        headers = {}
        if start + self.page_size < len(entries):
            nxt = urllib.parse.urlencode({**query, "cursor": start + self.page_size})
            headers["Link"] = f'<{self.server.url(req.route)}?{nxt}>; rel="next"'
        return Response.json(page, headers=headers)

    def resolve(self, req: Request, m: re.Match[str]) -> Response:
        path, commit = m["path"], m["rev"]
        if commit not in self.versions or path not in self.versions[commit]:
            return Response.json(
                {"error": "Entry not found"}, 404, {"X-Error-Code": "EntryNotFound"}
            )
        if path in self.gated and auth_of(req) != f"Bearer {TOKEN}":
            given = auth_of(req) or "<none>"
            # Echo what was sent, as a careless mirror might: the client must scrub it.
            return Response.json(
                {"error": f"Access to dataset {self.repo} is restricted (credentials: {given})"},
                401,
                {"X-Error-Code": "GatedRepo"},
            )
        data = self.versions[commit][path]
        sha = hashlib.sha256(data).hexdigest()
        if path in self.lfs:  # like the Hub: LFS content comes from a CDN on another origin
            cdn = f"http://localhost:{self.server.port}/cdn/{sha}"
            headers = {"X-Linked-Etag": f'"{sha}"', "X-Linked-Size": str(len(data))}
            return Response(302, {"Location": cdn, "X-Repo-Commit": commit, **headers})
        etag = f'"{git_oid(data)}"'  # the Hub's ETag of a non-LFS file is its git blob id
        return Response(file=self.blobs / sha, headers={"X-Repo-Commit": commit, "ETag": etag})

    def cdn(self, req: Request, m: re.Match[str]) -> Response:
        return Response(file=self.blobs / m["sha"])


def auth_of(req: Request) -> str | None:
    return next((v for k, v in req.headers.items() if k.lower() == "authorization"), None)


FILES = {
    "README.md": b"# poems\n",
    "data/train-00000.jsonl": "".join(
        json.dumps({"text": f"床前明月光 {i}"}, ensure_ascii=False) + "\n" for i in range(500)
    ).encode(),
    "data/train-00001.jsonl": '{"text": "疑是地上霜"}\n'.encode(),
    "data/extra/val.jsonl": b'{"text": "val"}\n',
    "other/skip.parquet": b"PAR1",
}


@pytest.fixture
def hub_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "hub"
    root.mkdir()
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no stored login leaks in
    monkeypatch.chdir(tmp_path)
    with serve(root) as srv:
        monkeypatch.setenv("HF_ENDPOINT", srv.url("").rstrip("/"))
        yield srv


def hf_spec(patterns, **extra) -> dict:
    return {
        "name": "poems",
        "type": "hf",
        "repo": "org/poems",
        "repo_type": "dataset",
        "revision": "main",
        "patterns": patterns,
        "download_options": FAST,
        **extra,
    }


def test_downloads_matching_files_at_the_resolved_commit(hub_server, tmp_path):
    hub = FakeHub(hub_server, "org/poems", FILES, lfs={"data/train-00000.jsonl"})
    manifest = download(hf_spec(["data/*.jsonl", "README.md"]), Path("out/poems"))

    assert manifest["root"] == "out/poems/files"
    assert [f["path"] for f in manifest["files"]] == [
        "README.md",  # not data/extra/val.jsonl: `*` stays in one folder (gpt2zh.globs)
        "data/train-00000.jsonl",
        "data/train-00001.jsonl",
    ]
    for entry in manifest["files"]:
        data = FILES[entry["path"]]
        assert (tmp_path / "out/poems/files" / entry["path"]).read_bytes() == data
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
    assert manifest["resolved"]["commit"] == COMMIT
    assert manifest["resolved"]["revision"] == "main"
    assert manifest["resolved"]["authenticated"] is False

    tree_reqs = [r for r in hub_server.requests if "/tree/" in r.route]
    assert len(hub._entries()) == 8  # 3 folders + 5 files, in pages of 2: 4 pages, all followed
    assert len(tree_reqs) == 4
    assert all(r.route.endswith(f"/tree/{COMMIT}") for r in tree_reqs)
    resolve_reqs = [r.route for r in hub_server.requests if "/resolve/" in r.route]
    assert all(f"/datasets/org/poems/resolve/{COMMIT}/" in r for r in resolve_reqs)
    lfs_sha = hashlib.sha256(FILES["data/train-00000.jsonl"]).hexdigest()
    assert len(hub_server.requests_for(f"/cdn/{lfs_sha}")) == 1  # followed the LFS redirect


def test_model_repos_have_no_datasets_prefix(hub_server):
    FakeHub(hub_server, "org/tiny-gpt", {"config.json": b"{}"}, repo_type="model")
    manifest = download(hf_spec("*.json", repo="org/tiny-gpt", repo_type="model"), Path("out"))
    assert [f["path"] for f in manifest["files"]] == ["config.json"]
    assert any(
        r.route == f"/org/tiny-gpt/resolve/{COMMIT}/config.json" for r in hub_server.requests
    )


def test_gated_file_needs_the_token_which_is_never_shown(hub_server, monkeypatch, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    FakeHub(hub_server, "org/poems", FILES, lfs={"data/train-00000.jsonl"}, gated={"README.md"})

    with pytest.raises(DownloadError) as anonymous:
        download(hf_spec("README.md"), Path("out"))
    assert "401" in str(anonymous.value)
    assert "no HF_TOKEN is set" in str(anonymous.value)
    assert "source 'poems'" in str(anonymous.value)

    monkeypatch.setenv("HF_TOKEN", "hf_wrongWrongWrong")
    with pytest.raises(DownloadError) as wrong:
        download(hf_spec("README.md"), Path("out"))
    assert "HF_TOKEN was refused" in str(wrong.value)
    assert "hf_wrongWrongWrong" not in str(wrong.value)
    with pytest.raises(DownloadError) as echoed:  # this answer echoes the token: we scrub it
        download(hf_spec("README.md", revision="echo"), Path("out"))
    assert "hf_wrongWrongWrong" not in str(echoed.value)
    assert "Bearer ***" in str(echoed.value)

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    manifest = download(hf_spec(["README.md", "data/train-00000.jsonl"]), Path("out"))
    assert [f["path"] for f in manifest["files"]] == ["README.md", "data/train-00000.jsonl"]
    assert manifest["resolved"]["authenticated"] is True

    # The token went to the Hub, never to the CDN on another origin.
    auth = [(r.route, auth_of(r)) for r in hub_server.requests]
    assert ("/datasets/org/poems/resolve/" + COMMIT + "/README.md", f"Bearer {TOKEN}") in auth
    assert all(a is None for route, a in auth if route.startswith("/cdn/"))

    # Also on a failure with the right token set.
    with pytest.raises(DownloadError) as failed:
        download(hf_spec("nothing/*"), Path("out2"))
    out, err = capsys.readouterr()
    for text in (caplog.text, out, err, str(failed.value), str(wrong.value)):
        assert TOKEN not in text
        assert "hf_wrongWrongWrong" not in text
    assert (Path("out/manifest.json")).exists()


def test_lfs_sha256_mismatch_deletes_the_file(hub_server, tmp_path):
    hub = FakeHub(hub_server, "org/poems", FILES, lfs={"data/train-00000.jsonl"})
    hub.listed_sha256["data/train-00000.jsonl"] = "f" * 64
    with pytest.raises(DownloadError) as err:
        download(hf_spec("data/train-00000.jsonl"), Path("out"))
    assert "f" * 64 in str(err.value)
    assert hashlib.sha256(FILES["data/train-00000.jsonl"]).hexdigest() in str(err.value)
    assert not [p for p in (tmp_path / "out").rglob("*.jsonl*") if ".cache" not in p.parts]


def test_non_lfs_file_is_checked_against_its_git_oid(hub_server, tmp_path):
    FakeHub(hub_server, "org/poems", FILES)
    # Serve different bytes of the same size than the tree's oid promises.
    blob = hub_server.root / "blobs" / hashlib.sha256(FILES["README.md"]).hexdigest()
    blob.write_bytes(b"# POEMS\n")
    with pytest.raises(DownloadError, match="git blob sha1"):
        download(hf_spec("README.md"), Path("out"))
    assert not (tmp_path / "out/files/README.md").exists()


def test_transient_hub_errors_are_retried(hub_server):
    FakeHub(hub_server, "org/poems", FILES)
    hub_server.add_fault("/api/datasets/org/poems/revision/main", Fault(status=502, times=2))
    manifest = download(hf_spec("README.md"), Path("out"))
    assert manifest["resolved"]["commit"] == COMMIT
    assert len(hub_server.requests_for("/api/datasets/org/poems/revision/main")) == 3


def test_unknown_revision_and_no_match_are_clear(hub_server):
    FakeHub(hub_server, "org/poems", FILES)
    with pytest.raises(DownloadError, match=r"(?s)404.*Invalid rev id: v9.*check repo"):
        download(hf_spec("README.md", revision="v9"), Path("out"))
    with pytest.raises(DownloadError, match=r"no file of org/poems@\w+ matches \['\*\.csv'\]"):
        download(hf_spec("*.csv"), Path("out"))


def test_unreachable_hub_suggests_a_mirror(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with pytest.raises(DownloadError) as err:
        download(hf_spec("*.jsonl"), Path("out"))
    msg = str(err.value)
    assert "source 'poems'" in msg and "/api/datasets/org/poems/revision/main" in msg
    assert "HF_ENDPOINT" in msg and "`local` source" in msg
    assert TOKEN not in msg


NEXT = "5edf5d0d7b06794755cf78b274a150a4efe1c9d4"


def test_the_lock_pins_a_moving_branch_until_updated(hub_server, tmp_path):
    """First download records main's commit beside the config; after upstream moves main, a
    rebuild still reads the locked commit; `gpt2zh lock` takes the new one in one command."""
    hub = FakeHub(hub_server, "org/poems", FILES, lfs={"data/train-00000.jsonl"})
    config = tmp_path / "poems.yaml"
    lock_file = tmp_path / "poems.lock.yaml"
    spec = hf_spec("data/*.jsonl", lock_file=str(lock_file))

    first = download(spec, Path("out1"))
    assert first["resolved"]["commit"] == COMMIT
    locked = yaml.safe_load(lock_file.read_text("utf-8"))
    assert locked["sources"]["poems"] == {
        "repo": "org/poems",
        "repo_type": "dataset",
        "revision": "main",
        "commit": COMMIT,
    }

    moved = {**FILES, "data/train-00001.jsonl": '{"text": "举头望明月"}\n'.encode()}
    hub.push(NEXT, moved)
    again = download(spec, Path("out2"))
    assert again["resolved"]["commit"] == COMMIT  # not the moved branch
    assert again["files"] == first["files"]
    assert not hub_server.requests_for("/api/datasets/org/poems/revision/main")[1:]

    config.write_text(
        yaml.safe_dump(
            {
                "sources": {"poems": {"type": "hf", "repo": "org/poems", "patterns": "x"}},
                "datasets": {"poems": {"source": "poems", "read": [{"files": "*", "text": "{t}"}]}},
            }
        ),
        "utf-8",
    )
    stale = tmp_path / "results/download/poems/manifest.json"  # what Snakemake built before
    stale.parent.mkdir(parents=True)
    stale.write_text("{}", "utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "gpt2zh.cli", "lock", "--config", str(config)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert out.returncode == 0, out.stderr
    assert f"poems: {COMMIT[:12]} → {NEXT[:12]}" in out.stdout
    assert not stale.exists()  # so the next snakemake run downloads the new commit
    assert yaml.safe_load(lock_file.read_text("utf-8"))["sources"]["poems"]["commit"] == NEXT
    updated = download(spec, Path("out3"))
    assert updated["resolved"]["commit"] == NEXT
    assert Path("out3/files/data/train-00001.jsonl").read_bytes() == moved["data/train-00001.jsonl"]


def test_a_stale_lock_entry_is_not_used_and_never_a_guess(hub_server, tmp_path):
    FakeHub(hub_server, "org/poems", FILES)
    lock_file = tmp_path / "x.lock.yaml"
    # An entry for another revision: the config now asks for something else.
    lock_file.write_text(
        yaml.safe_dump(
            {
                "sources": {
                    "poems": {
                        "repo": "org/poems",
                        "repo_type": "dataset",
                        "revision": "v1",
                        "commit": "0" * 40,
                    }
                }
            }
        ),
        "utf-8",
    )
    manifest = download(hf_spec("README.md", lock_file=str(lock_file)), Path("out"))
    assert manifest["resolved"]["commit"] == COMMIT
    entry = yaml.safe_load(lock_file.read_text("utf-8"))["sources"]["poems"]
    assert entry["revision"] == "main" and entry["commit"] == COMMIT

    lock_file.write_text(
        "sources:\n  poems: {repo: org/poems, repo_type: dataset, "
        "revision: main, commit: not-a-commit}\n",
        "utf-8",
    )
    with pytest.raises(DownloadError, match=r"sources\.poems\.commit is not a 40-hex commit"):
        download(hf_spec("README.md", lock_file=str(lock_file)), Path("out"))


def test_a_rerun_fetches_nothing_again(hub_server):
    FakeHub(hub_server, "org/poems", FILES, lfs={"data/train-00000.jsonl"})
    first = download(hf_spec("data/*.jsonl"), Path("out"))
    fetched = [r for r in hub_server.requests if "/resolve/" in r.route or "/cdn/" in r.route]
    assert len([r for r in fetched if r.method == "GET"]) == 2
    hub_server.requests.clear()
    again = download(hf_spec("data/*.jsonl"), Path("out"))
    assert again["files"] == first["files"]
    assert not [r for r in hub_server.requests if "/resolve/" in r.route or "/cdn/" in r.route]


def test_partial_files_a_killed_run_left_are_removed(hub_server):
    """huggingface_hub streams into a uniquely named `.incomplete` file and never resumes it: a
    SIGKILLed job would leave it on disk for good. The next run removes it."""
    FakeHub(hub_server, "org/poems", FILES, lfs={"data/train-00000.jsonl"})
    sha = hashlib.sha256(FILES["data/train-00000.jsonl"]).hexdigest()
    hub_server.add_fault(f"/cdn/{sha}", Fault(stall_seconds=30))  # the transfer hangs
    spec = json.dumps(hf_spec("data/train-00000.jsonl"))
    job = subprocess.Popen(
        [sys.executable, "-m", "gpt2zh.cli", "download", "--spec", spec, "--out", "out"],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    partials: list[Path] = []
    for _ in range(200):
        partials = list(Path("out/files/.cache").rglob("*.incomplete"))
        if partials:
            break
        time.sleep(0.05)
    job.kill()
    job.wait()
    assert partials, "the download never started"
    assert all(p.exists() for p in partials)  # left behind by the killed job

    manifest = download(hf_spec("data/train-00000.jsonl"), Path("out"))
    assert not list(Path("out/files/.cache").rglob("*.incomplete"))
    assert manifest["files"][0]["sha256"] == sha


def test_hf_cache_keeps_files_in_the_hugging_face_cache(hub_server, tmp_path):
    FakeHub(hub_server, "org/poems", FILES, lfs={"data/train-00000.jsonl"})
    spec = hf_spec("data/*.jsonl")
    spec["download_options"] = {**FAST, "hf_cache": str(tmp_path / "hub-cache")}
    manifest = download(spec, Path("out"))
    root = Path(manifest["root"])
    assert root == tmp_path / "hub-cache/datasets--org--poems/snapshots" / COMMIT
    for entry in manifest["files"]:
        assert (root / entry["path"]).read_bytes() == FILES[entry["path"]]
    assert not Path("out/files").exists()  # nothing copied under results


def test_download_jobs_recording_at_once_keep_every_entry(tmp_path):
    """Snakemake runs the download jobs of several sources in parallel, all writing one lock."""
    lock_file = tmp_path / "x.lock.yaml"
    specs = {f"s{i}": {"repo": f"org/r{i}", "revision": "main"} for i in range(12)}

    def record(name: str) -> None:
        lock.record(lock_file, {name: (specs[name], f"{int(name[1:]):040x}")})

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(record, specs))
    entries = yaml.safe_load(lock_file.read_text("utf-8"))["sources"]
    assert {n: e["commit"] for n, e in entries.items()} == {n: f"{int(n[1:]):040x}" for n in specs}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.lock.yaml"]  # no litter
