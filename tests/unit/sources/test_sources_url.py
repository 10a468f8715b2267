"""`url` sources and the shared HTTP downloader, against a loopback server with injected faults."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from gpt2zh.sources import DownloadError, download
from helpers.httpserver import Fault, LoopbackServer, closed_port, serve

FAST = {"retries": 3, "backoff_seconds": 0.01, "timeout_seconds": 5, "chunk_bytes": 4096}


@pytest.fixture
def server(tmp_path: Path):
    root = tmp_path / "www"
    root.mkdir()
    with serve(root) as srv:
        yield srv


def put(server: LoopbackServer, name: str, data: bytes) -> str:
    path = server.root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def spec(urls: list[dict], **options) -> dict:
    return {"name": "web", "type": "url", "urls": urls, "download_options": {**FAST, **options}}


BODY = bytes(range(256)) * 400  # 100 KiB, several chunks


def test_download_writes_files_and_manifest(server, workdir):
    digest = put(server, "data/corpus.jsonl", BODY)
    put(server, "other%20name.txt", b"x")  # percent-encoded last segment
    manifest = download(
        spec(
            [
                {"url": server.url("data/corpus.jsonl"), "sha256": digest},
                {"url": server.url("data/corpus.jsonl"), "name": "copy/renamed.jsonl"},
                {"url": server.url("other%2520name.txt")},
            ]
        ),
        Path("out/web"),
    )
    assert manifest["source"] == "web" and manifest["type"] == "url"
    assert manifest["root"] == "out/web/files"  # relative stays relative
    assert [f["path"] for f in manifest["files"]] == [
        "copy/renamed.jsonl",
        "corpus.jsonl",
        "other%20name.txt",
    ]
    for entry in manifest["files"]:
        data = (workdir / manifest["root"] / entry["path"]).read_bytes()
        assert entry["bytes"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert json.loads((workdir / "out/web/manifest.json").read_text()) == manifest
    assert [u["path"] for u in manifest["resolved"]["urls"]] == [
        "corpus.jsonl",
        "copy/renamed.jsonl",
        "other%20name.txt",
    ]
    assert not list((workdir / "out/web/files").rglob("*.part"))


def test_existing_verified_file_is_not_downloaded_again(server, workdir):
    digest = put(server, "a.bin", BODY)
    s = spec([{"url": server.url("a.bin"), "sha256": digest}])
    download(s, Path("out"))
    assert len(server.requests) == 1
    second = download(s, Path("out"))
    assert len(server.requests) == 1
    assert second["resolved"]["urls"][0]["reused"] is True
    # A corrupted local copy is replaced, not trusted.
    (workdir / "out/files/a.bin").write_bytes(b"garbage")
    third = download(s, Path("out"))
    assert len(server.requests) == 2
    assert third["files"][0]["sha256"] == digest


def test_sha256_mismatch_fails_and_leaves_no_file(server, workdir):
    put(server, "a.bin", BODY)
    wrong = "0" * 64
    with pytest.raises(DownloadError) as err:
        download(spec([{"url": server.url("a.bin"), "sha256": wrong}]), Path("out"))
    msg = str(err.value)
    assert "'web'" in msg and server.url("a.bin") in msg
    assert wrong in msg and hashlib.sha256(BODY).hexdigest() in msg
    assert list((workdir / "out").rglob("*")) == [workdir / "out/files"]
    assert not (workdir / "out/manifest.json").exists()


def test_connection_dropped_half_way_is_resumed_with_range(server, workdir):
    digest = put(server, "big.bin", BODY)
    server.add_fault("big.bin", Fault(drop_after=len(BODY) // 2))
    manifest = download(spec([{"url": server.url("big.bin"), "sha256": digest}]), Path("out"))
    reqs = server.requests_for("big.bin")
    assert len(reqs) == 2
    assert "Range" not in reqs[0].headers
    assert reqs[1].headers["Range"] == f"bytes={len(BODY) // 2}-"
    assert manifest["files"][0]["sha256"] == digest
    assert (workdir / "out/files/big.bin").read_bytes() == BODY


def test_server_ignoring_range_restarts_from_zero(server, workdir):
    digest = put(server, "big.bin", BODY)
    server.add_fault("big.bin", Fault(drop_after=1000))
    server.add_fault("big.bin", Fault(ignore_range=True))
    manifest = download(spec([{"url": server.url("big.bin"), "sha256": digest}]), Path("out"))
    reqs = server.requests_for("big.bin")
    assert len(reqs) == 2 and reqs[1].headers["Range"] == "bytes=1000-"
    assert manifest["files"][0]["sha256"] == digest
    assert (workdir / "out/files/big.bin").read_bytes() == BODY


def test_complete_partial_file_is_finished_on_416(server, workdir):
    digest = put(server, "a.bin", BODY)
    part = workdir / "out/files/a.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(BODY)  # killed between the last byte and the rename
    manifest = download(spec([{"url": server.url("a.bin"), "sha256": digest}]), Path("out"))
    assert manifest["files"][0]["sha256"] == digest
    assert [r.headers.get("Range") for r in server.requests] == [f"bytes={len(BODY)}-"]
    assert not part.exists()


def test_stale_longer_partial_file_restarts(server, workdir):
    digest = put(server, "a.bin", BODY)
    part = workdir / "out/files/a.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(BODY + b"stale tail")
    manifest = download(spec([{"url": server.url("a.bin"), "sha256": digest}]), Path("out"))
    assert manifest["files"][0]["sha256"] == digest
    assert [r.headers.get("Range") for r in server.requests] == [f"bytes={len(BODY) + 10}-", None]


def test_5xx_is_retried_with_backoff(server, workdir):
    digest = put(server, "a.bin", BODY)
    server.add_fault("a.bin", Fault(status=503, times=2))
    manifest = download(spec([{"url": server.url("a.bin"), "sha256": digest}]), Path("out"))
    assert len(server.requests_for("a.bin")) == 3
    assert manifest["files"][0]["sha256"] == digest


def test_5xx_beyond_retries_fails(server, workdir):
    put(server, "a.bin", BODY)
    server.add_fault("a.bin", Fault(status=500, times=10))
    with pytest.raises(DownloadError, match=r"all 3 attempts failed.*HTTP 500") as err:
        download(spec([{"url": server.url("a.bin")}], retries=2), Path("out"))
    assert "local" in str(err.value)  # the offline/mirror hint
    assert len(server.requests_for("a.bin")) == 3


def test_timeout_is_retried(server, workdir):
    digest = put(server, "a.bin", b"slow")
    server.add_fault("a.bin", Fault(stall_seconds=1.0))
    manifest = download(
        spec([{"url": server.url("a.bin"), "sha256": digest}], timeout_seconds=0.2), Path("out")
    )
    assert manifest["files"][0]["sha256"] == digest
    assert len(server.requests_for("a.bin")) == 2


def test_404_is_not_retried(server, workdir):
    with pytest.raises(DownloadError, match=r"HTTP 404") as err:
        download(spec([{"url": server.url("missing.bin")}]), Path("out"))
    assert "'web'" in str(err.value)
    assert len(server.requests) == 1


def test_server_down_names_source_url_and_mirror_hint(workdir):
    url = f"http://127.0.0.1:{closed_port()}/data/corpus.jsonl"
    with pytest.raises(DownloadError) as err:
        download(spec([{"url": url}], retries=1), Path("out"))
    msg = str(err.value)
    assert "source 'web'" in msg
    assert url in msg
    assert "all 2 attempts failed" in msg
    assert "`local` source" in msg


def test_name_that_escapes_the_folder_is_refused(server, workdir):
    put(server, "a.bin", b"x")
    with pytest.raises(DownloadError, match=r"'\.\.'"):
        download(spec([{"url": server.url("a.bin"), "name": "../escape.bin"}]), Path("out"))
    assert not (workdir / "escape.bin").exists()
    assert server.requests == []


def test_url_without_file_name_needs_a_name(server, workdir):
    with pytest.raises(DownloadError, match="give the entry a `name`"):
        download(spec([{"url": server.url("dir/")}]), Path("out"))


def test_absolute_out_dir_gives_absolute_root(server, tmp_path):
    put(server, "a.bin", b"x")
    manifest = download(spec([{"url": server.url("a.bin")}]), tmp_path / "abs")
    assert Path(manifest["root"]).is_absolute()
    assert os.path.samefile(manifest["root"], tmp_path / "abs/files")
