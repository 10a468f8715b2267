"""`hf` sources: files of a Hugging Face Hub repo at one commit, fetched by `huggingface_hub`.

The library does the transfer: `HfApi.repo_info` resolves a branch, `list_repo_tree` lists the
repo at that commit, and `hf_hub_download(revision=<commit>)` fetches each matching file, several
at once (`download.workers`), through `HF_ENDPOINT` mirrors, with the token from `HF_TOKEN` or
`hf auth login` (sent to the Hub only, never to the CDN an LFS file redirects to), over Xet when
`hf_xet` is installed, retrying a dropped connection from where it stopped. Files land in
`out/files` (or, with `download.hf_cache`, in the Hugging Face cache, shared with `datasets` and
`transformers` and never copied), and a file already there at the same commit is not fetched again.

What stays ours: the commit comes from the lock (`lock.py`) so a moving branch never changes a
rebuild; `patterns` use our globs (`*` stays in one folder, `**` spans folders) rather than the
library's fnmatch, so a pattern means the same for every source type; every file is verified
against the listing (sha256 for LFS files, the git blob sha1 for small ones) and a mismatch
deletes it; the manifest records each file's sha256; failures name what to do, and a token a
server echoes is scrubbed from every message.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from gpt2zh.globs import as_list, glob_match

from ..digest import sha256_of
from . import lock
from .errors import ChecksumError, DownloadError
from .http import Options
from .manifest import SourceFiles, file_entry
from .paths import safe_relpath

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_ENDPOINT = "https://huggingface.co"


def hub_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def git_blob_sha1(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Git's object id of a file's content: what the Hub lists as `oid` for non-LFS files."""
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            h.update(chunk)
    return h.hexdigest()


def _transient(err: BaseException) -> bool:
    """Worth another try: a connection failure, a timeout, or a 408/429/5xx answer."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    if isinstance(err, httpx2.TransportError | LocalEntryNotFoundError):
        return True
    if isinstance(err, HfHubHTTPError) and err.response is not None:
        return err.response.status_code in (408, 429) or err.response.status_code >= 500
    return False


def _retrying(what: str, options: Options, call: Callable[[], T]) -> T:
    """`call()` with the config's retries and backoff on transient failures. The library retries
    inside one transfer; this covers the metadata calls and a transfer that gave up."""
    for attempt in range(options.retries + 1):
        try:
            return call()
        except Exception as err:
            if attempt == options.retries or not _transient(err):
                raise
            delay = options.backoff_seconds * 2**attempt
            logger.warning("%s: %s; retry %d in %.1fs", what, err, attempt + 1, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def _explain(err: BaseException, endpoint: str, repo: str, repo_type: str, token: bool) -> str:
    """The library's error plus what a user can do about it."""
    import httpx2
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    status = getattr(getattr(err, "response", None), "status_code", None)
    if isinstance(err, httpx2.TransportError):
        with contextlib.suppress(RuntimeError):  # RuntimeError: no request attached
            err = type(err)(f"{err.request.method} {err.request.url}: {err}")
    if isinstance(err, httpx2.TransportError | LocalEntryNotFoundError) or (
        isinstance(err, HfHubHTTPError) and status is not None and status >= 500
    ):
        return (
            f"{err}\nCannot reach the Hub at {endpoint}. Set HF_ENDPOINT to a reachable Hub "
            f"mirror, or download the files on a machine that can (`hf download {repo} "
            f"--repo-type {repo_type}`), copy them here and use a `local` source."
        )
    if isinstance(err, RevisionNotFoundError):
        return f"{err}\nNot found: check repo, repo_type and revision."
    if status == 401 or (isinstance(err, RepositoryNotFoundError) and status != 403):
        who = "the token in HF_TOKEN was refused" if token else "no HF_TOKEN is set"
        return (
            f"{err}\nThe repo may be private or gated (or not exist) and {who}: set HF_TOKEN to "
            "a token that can read it."
        )
    if status == 403 or isinstance(err, GatedRepoError):
        return (
            f"{err}\nAccess denied: for a gated repo, accept its conditions on the Hub page with "
            "the account whose token is in HF_TOKEN."
        )
    if status == 404:
        return f"{err}\nNot found: check repo, repo_type, revision and patterns."
    return f"{type(err).__name__}: {err}"


def download_hf(spec: dict[str, Any], out_dir: Path, options: Options) -> SourceFiles:
    import httpx2
    from huggingface_hub import get_token

    token = get_token()
    endpoint = hub_endpoint()
    repo, repo_type = spec["repo"], spec.get("repo_type", "dataset")
    try:
        return _download(spec, out_dir, options, endpoint, token)
    except DownloadError as err:
        message = str(err)
        chained = err.__cause__
    except (OSError, ValueError, httpx2.HTTPError) as err:  # the library's HTTP/transport/IO
        message = _explain(err, endpoint, repo, repo_type, token is not None)
        chained = err
    if token and token in message:  # a server that echoes credentials must not leak them
        raise DownloadError(message.replace(token, "***")) from None
    raise DownloadError(message) from chained


def _api(endpoint: str, token: str | None) -> Any:
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint, token=token or False, library_name="gpt2zh")


def _branch_commit(api: Any, spec: dict[str, Any], options: Options) -> str:
    repo, revision = spec["repo"], spec.get("revision", "main")
    info = _retrying(
        f"{repo}@{revision}",
        options,
        lambda: api.repo_info(repo, repo_type=spec.get("repo_type", "dataset"), revision=revision),
    )
    return str(info.sha)


def resolve_branch(spec: dict[str, Any]) -> str:
    """The commit the source's revision names on the Hub right now (for `gpt2zh lock`)."""
    import httpx2
    from huggingface_hub import get_token

    token, endpoint = get_token(), hub_endpoint()
    options = Options.from_config(spec.get("download_options"))
    try:
        return _branch_commit(_api(endpoint, token), spec, options)
    except (OSError, ValueError, httpx2.HTTPError) as err:
        repo, repo_type = spec["repo"], spec.get("repo_type", "dataset")
        message = _explain(err, endpoint, repo, repo_type, token is not None)
        raise DownloadError(message.replace(token, "***") if token else message) from None


def _resolve(api: Any, spec: dict[str, Any], options: Options) -> tuple[str, str]:
    """(commit, how): a pinned commit, the lock's, or the branch resolved now (then locked)."""
    name, revision = spec.get("name", "?"), spec.get("revision", "main")
    if lock.is_commit(revision):
        return revision, "pinned in the config"
    lock_file = Path(spec["lock_file"]) if spec.get("lock_file") else None
    if lock_file is not None:
        commit = lock.locked_commit(lock_file, name, spec)
        if commit is not None:
            return commit, f"locked in {lock_file.name}"
    commit = _branch_commit(api, spec, options)
    if lock_file is None:
        return commit, f"{revision} now (no lock file)"
    lock.record(lock_file, {name: (spec, commit)})
    return commit, f"{revision} now, recorded in {lock_file.name}"


def _verify(path: Path, entry: Any, chunk_bytes: int) -> tuple[int, str]:
    """(bytes, sha256) of a downloaded file, checked against the listing; a mismatch deletes it."""
    nbytes, sha256 = sha256_of(path, chunk_bytes)
    if entry.lfs is not None:
        expected, actual, kind = entry.lfs.sha256, sha256, "sha256"
    else:
        expected, actual, kind = entry.blob_id, git_blob_sha1(path, chunk_bytes), "git blob sha1"
    if expected and actual != expected:
        path.unlink()
        raise ChecksumError(
            f"{entry.path}: {kind} expected {expected}, got {actual} (file deleted; rerun to "
            "fetch it again)"
        )
    return nbytes, sha256


def _drop_stale_partials(files_dir: Path) -> None:
    """Removes the partial files a killed run left. The library names each one uniquely and
    never resumes it, so they would stay on disk for good (585 MB each for MNBVC). Only this
    source's download job writes under `files_dir`, so at its start every one is stale."""
    stale = list((files_dir / ".cache" / "huggingface" / "download").rglob("*.incomplete"))
    freed = 0
    for path in stale:
        freed += path.stat().st_size
        path.unlink()
    if stale:
        logger.info("removed %d partial files (%d bytes) a killed run left", len(stale), freed)


def _download(
    spec: dict[str, Any], out_dir: Path, options: Options, endpoint: str, token: str | None
) -> SourceFiles:
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.hf_api import RepoFile
    from huggingface_hub.utils import disable_progress_bars

    if not sys.stderr.isatty():
        disable_progress_bars()  # one line per file in the log, not thousands of bar redraws
    # The library reads its timeouts from these module globals at each call.
    constants.HF_HUB_DOWNLOAD_TIMEOUT = options.timeout_seconds
    constants.HF_HUB_ETAG_TIMEOUT = options.timeout_seconds
    repo, repo_type = spec["repo"], spec.get("repo_type", "dataset")
    api = _api(endpoint, token)
    commit, how = _resolve(api, spec, options)
    logger.info("%s %s is commit %s (%s)", repo_type, repo, commit, how)

    def listing() -> list[Any]:
        tree = api.list_repo_tree(repo, repo_type=repo_type, revision=commit, recursive=True)
        return [e for e in tree if isinstance(e, RepoFile)]

    tree = _retrying(f"{repo}@{commit} listing", options, listing)
    globs = as_list(spec["patterns"])
    wanted = sorted((e for e in tree if glob_match(globs, e.path)), key=lambda e: e.path)
    if not wanted:
        some = ", ".join(e.path for e in tree[:10]) or "(empty repo)"
        raise DownloadError(f"no file of {repo}@{commit} matches {globs}; it has: {some}")
    total = sum(e.size for e in wanted)
    logger.info("%d of %d files match %s (%d bytes)", len(wanted), len(tree), globs, total)

    settings = spec.get("download_options") or {}
    cache = settings.get("hf_cache", False)
    files_dir = out_dir / "files"
    if not cache:  # a shared cache may have other downloads under way: leave it alone
        _drop_stale_partials(files_dir)
    target: dict[str, Any] = (
        {"cache_dir": None if cache is True else cache} if cache else {"local_dir": files_dir}
    )

    snapshots: set[str] = set()

    def fetch(entry: Any) -> dict[str, Any]:
        rel = safe_relpath(entry.path, f"{repo} tree")

        def once() -> str:
            return hf_hub_download(
                repo,
                entry.path,
                repo_type=repo_type,
                revision=commit,
                endpoint=endpoint,
                token=token or False,
                etag_timeout=options.timeout_seconds,
                library_name="gpt2zh",
                **target,
            )

        got = _retrying(entry.path, options, once)
        snapshots.add(got.removesuffix(entry.path))
        path = Path(got)
        nbytes, sha256 = _verify(path, entry, options.chunk_bytes)
        logger.info("%s: %d bytes", rel, nbytes)
        return file_entry(rel, nbytes, sha256)

    workers = max(1, min(int(settings.get("workers", 8)), len(wanted)))
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers, thread_name_prefix="hf") as pool:
        entries = list(pool.map(fetch, wanted))
    seconds = time.perf_counter() - t0
    logger.info("%d bytes in %.1fs with %d workers", total, seconds, workers)
    # In the cache, files live in the commit's snapshot folder (symlinks into its blob store).
    root = snapshots.pop().rstrip("/") if cache else files_dir.as_posix()
    return SourceFiles(
        root=root,
        files=entries,
        resolved={
            "endpoint": endpoint,
            "repo": repo,
            "repo_type": repo_type,
            "revision": spec.get("revision", "main"),
            "commit": commit,
            "authenticated": token is not None,
            "hf_cache": bool(cache),
        },
    )
