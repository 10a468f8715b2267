"""`hf` sources: files of a Hugging Face Hub repo at one resolved commit.

We talk to the Hub's HTTP API directly (the same endpoints `huggingface_hub.HfApi` calls:
`/api/{type}s/{repo}/revision/{rev}` for the commit, `/api/{type}s/{repo}/tree/{commit}` for the
listing, paginated by `Link: rel="next"`) and download with our own client, so that every file
gets the same resume/retry/verify behaviour as any other source and the listing is pinned to one
commit: a branch that moves mid-download cannot mix two versions. LFS files are verified against
the sha256 in the listing, small git files against their git blob sha1.

`HF_ENDPOINT` selects a mirror; `HF_TOKEN` is sent as a bearer token to the endpoint only (never
to a CDN it redirects to) and is scrubbed from every error message.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpt2zh.globs import as_list, glob_match

from .errors import ChecksumError, DownloadError, HTTPStatusError, UnreachableError
from .http import Fetched, Options, fetch, get_json
from .manifest import SourceFiles, file_entry
from .paths import safe_relpath

logger = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"


def hub_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


@dataclass(frozen=True)
class Hub:
    """One repo on one Hub endpoint, with the headers every request to it carries."""

    endpoint: str
    repo: str
    repo_type: str
    headers: dict[str, str]

    def api(self, *parts: str) -> str:
        return f"{self.endpoint}/api/{self.repo_type}s/{self.repo}/" + "/".join(parts)

    def file_url(self, commit: str, path: str) -> str:
        prefix = "datasets/" if self.repo_type == "dataset" else ""
        return f"{self.endpoint}/{prefix}{self.repo}/resolve/{commit}/{urllib.parse.quote(path)}"


def resolve_commit(hub: Hub, revision: str, options: Options) -> str:
    """The commit sha a branch, tag or sha names right now."""
    url = hub.api("revision", urllib.parse.quote(revision, safe=""))
    data = get_json(url, options=options, headers=hub.headers).data
    sha = data.get("sha") if isinstance(data, dict) else None
    if not isinstance(sha, str) or not sha:
        raise DownloadError(f"{url}: the Hub's answer has no commit `sha`")
    return sha


def list_tree(hub: Hub, commit: str, options: Options) -> list[dict[str, Any]]:
    """Every file entry (`path`, `size`, `oid`, optional `lfs`) of the repo at `commit`."""
    url: str | None = hub.api("tree", commit) + "?recursive=true&expand=false"
    files: list[dict[str, Any]] = []
    while url is not None:
        page = get_json(url, options=options, headers=hub.headers)
        if not isinstance(page.data, list):
            raise DownloadError(f"{url}: expected a JSON list of tree entries")
        files.extend(e for e in page.data if isinstance(e, dict) and e.get("type") == "file")
        url = page.next_url
    return files


def git_blob_sha1(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Git's object id of a file's content: what the Hub lists as `oid` for non-LFS files."""
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            h.update(chunk)
    return h.hexdigest()


def _fetch_entry(
    hub: Hub, commit: str, entry: dict[str, Any], dest: Path, options: Options
) -> Fetched:
    lfs = entry.get("lfs") or {}
    url = hub.file_url(commit, entry["path"])
    kwargs: dict[str, Any] = {
        "options": options,
        "sha256": lfs.get("oid"),
        "size": entry.get("size"),
        "headers": hub.headers,
        "label": entry["path"],
    }
    got = fetch(url, dest, **kwargs)
    blob = entry.get("oid")
    if lfs or not blob:
        return got
    if git_blob_sha1(dest, options.chunk_bytes) == blob:
        return got
    dest.unlink()
    if got.reused:  # an old copy with the right size but other bytes: fetch it for real
        got = fetch(url, dest, **kwargs)
        if git_blob_sha1(dest, options.chunk_bytes) == blob:
            return got
        dest.unlink()
    raise ChecksumError(f"{url}: git blob sha1 expected {blob}, actual differs (file deleted)")


def _explain(err: DownloadError, hub: Hub, has_token: bool) -> str:
    """Adds what a user can do about the failure."""
    if isinstance(err, UnreachableError):
        return (
            f"{err}\nCannot reach the Hub at {hub.endpoint}. Set HF_ENDPOINT to a reachable Hub "
            "mirror, or download the files on a machine that can (e.g. `hf download "
            f"{hub.repo} --repo-type {hub.repo_type}`), copy them here and use a `local` source."
        )
    if isinstance(err, HTTPStatusError) and err.status == 401:
        who = "the token in HF_TOKEN was refused" if has_token else "no HF_TOKEN is set"
        return (
            f"{err}\nThe repo may be private or gated (or not exist) and {who}: set HF_TOKEN to "
            "a token that can read it."
        )
    if isinstance(err, HTTPStatusError) and err.status == 403:
        return (
            f"{err}\nAccess denied: for a gated repo, accept its conditions on the Hub page with "
            "the account whose token is in HF_TOKEN."
        )
    if isinstance(err, HTTPStatusError) and err.status == 404:
        return f"{err}\nNot found: check repo, repo_type and revision."
    return str(err)


def download_hf(spec: dict[str, Any], out_dir: Path, options: Options) -> SourceFiles:
    token = os.environ.get("HF_TOKEN") or None
    hub = Hub(
        endpoint=hub_endpoint(),
        repo=spec["repo"],
        repo_type=spec.get("repo_type", "dataset"),
        headers={"Authorization": f"Bearer {token}"} if token else {},
    )
    try:
        return _download(spec, hub, out_dir, options)
    except DownloadError as err:
        message = _explain(err, hub, token is not None)
        if token and token in message:  # a server that echoes credentials must not leak them
            raise DownloadError(message.replace(token, "***")) from None
        raise DownloadError(message) from err


def _download(spec: dict[str, Any], hub: Hub, out_dir: Path, options: Options) -> SourceFiles:
    revision = spec.get("revision", "main")
    globs = as_list(spec["patterns"])
    commit = resolve_commit(hub, revision, options)
    logger.info("%s %s@%s is commit %s", hub.repo_type, hub.repo, revision, commit)
    tree = list_tree(hub, commit, options)
    wanted = sorted((e for e in tree if glob_match(globs, e["path"])), key=lambda e: e["path"])
    if not wanted:
        some = ", ".join(e["path"] for e in tree[:10]) or "(empty repo)"
        raise DownloadError(f"no file of {hub.repo}@{commit} matches {globs}; it has: {some}")
    logger.info("%d of %d files match %s", len(wanted), len(tree), globs)

    files_dir = out_dir / "files"
    entries = []
    for entry in wanted:
        rel = safe_relpath(entry["path"], f"{hub.repo} tree")
        got = _fetch_entry(hub, commit, entry, files_dir / rel, options)
        entries.append(file_entry(rel, got.bytes, got.sha256))
    return SourceFiles(
        root=files_dir.as_posix(),
        files=entries,
        resolved={
            "endpoint": hub.endpoint,
            "repo": hub.repo,
            "repo_type": hub.repo_type,
            "revision": revision,
            "commit": commit,
            "authenticated": bool(hub.headers),
        },
    )
