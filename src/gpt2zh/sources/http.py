"""The HTTP downloader of `url` sources (stdlib urllib only, so it runs anywhere; Hub sources go
through `huggingface_hub`, see `hf.py`).

Why it exists rather than a bare `urlopen`: corpus files are large and mirrors flaky, so a fetch
must survive a dropped connection without starting over (`Range` resume of a `.part` file), back
off and retry on transient failures, notice a body that ends early (our own Content-Length check:
http.client does not raise on it), and hash while it writes, so verifying a multi-GB file costs
no second read. A file only appears under its final name once complete and verified, so a killed
job never leaves a file that looks done. Across runs too: a `.part` file a killed job left is
resumed by the next one.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from ..digest import sha256_of
from .errors import ChecksumError, DownloadError, HTTPStatusError, UnreachableError

logger = logging.getLogger(__name__)
T = TypeVar("T")

USER_AGENT = "gpt2zh-download/0.1 (+python-urllib)"
#: Statuses worth another try: the server or a proxy is overloaded or restarting.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
#: Upper bound on a server's Retry-After we are willing to sleep.
MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class Options:
    """The config's `download:` block (defaults mirror the schema's)."""

    retries: int = 5
    backoff_seconds: float = 1.0
    timeout_seconds: float = 60.0
    chunk_bytes: int = 1 << 20

    @classmethod
    def from_config(cls, opts: Mapping[str, Any] | None) -> Options:
        opts = opts or {}
        known = {k: opts[k] for k in ("retries", "backoff_seconds", "timeout_seconds") if k in opts}
        if "chunk_bytes" in opts:
            known["chunk_bytes"] = int(opts["chunk_bytes"])
        return cls(**known)


@dataclass(frozen=True)
class Fetched:
    """A file that is complete and verified under its final name."""

    path: Path
    bytes: int
    sha256: str
    reused: bool = False


class _Transient(Exception):
    """An attempt failed in a way another attempt may fix; `retry_after` is the server's hint."""

    def __init__(self, why: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.retry_after = retry_after


def display_url(url: str) -> str:
    """The URL as we show it in logs and errors: without any `user:password@` part."""
    p = urllib.parse.urlsplit(url)
    if p.username is None and p.password is None:
        return url
    host = p.hostname or ""
    netloc = host + (f":{p.port}" if p.port else "")
    return urllib.parse.urlunsplit((p.scheme, netloc, p.path, p.query, p.fragment))


def _request(url: str, extra: Mapping[str, str]) -> Any:
    req = urllib.request.Request(url)
    req.add_header("User-Agent", USER_AGENT)
    req.add_header("Accept-Encoding", "identity")  # we hash the bytes as stored
    for key, value in extra.items():
        req.add_header(key, value)
    return req


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return min(float(value), MAX_RETRY_AFTER) if value is not None else None
    except ValueError:
        return None


def _body_excerpt(err: urllib.error.HTTPError, limit: int = 300) -> str:
    """The server's own words about an error (the Hub explains gating and missing repos there)."""
    try:
        text = err.read(4096).decode("utf-8", "replace")
    except Exception:
        return ""
    try:
        data = json.loads(text)
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            text = data["error"]
    except ValueError:
        pass
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "")


def _open(req: Any, url: str, options: Options, ok_statuses: frozenset[int] = frozenset()) -> Any:
    """Opens `req`; returns the response, or an HTTPError whose status is in `ok_statuses`."""
    try:
        return urllib.request.urlopen(req, timeout=options.timeout_seconds)
    except urllib.error.HTTPError as err:
        if err.code in ok_statuses:
            return err
        if err.code in RETRY_STATUSES:
            why = f"HTTP {err.code} {err.reason}"
            retry_after = _retry_after(err.headers)
            err.close()
            raise _Transient(why, retry_after) from err
        detail = _body_excerpt(err)
        err.close()
        raise HTTPStatusError(
            f"HTTP {err.code} {err.reason} for {display_url(url)}"
            + (f": {detail}" if detail else ""),
            err.code,
            url,
        ) from err
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", None) or err
        if isinstance(reason, ssl.SSLCertVerificationError):  # no retry will fix a bad cert
            raise DownloadError(f"{display_url(url)}: TLS certificate rejected: {reason}") from err
        raise _Transient(f"{type(reason).__name__}: {reason}") from err


def _read(resp: Any, n: int) -> bytes:
    try:
        return resp.read(n)
    except (OSError, http.client.HTTPException) as err:
        raise _Transient(f"connection lost while reading: {type(err).__name__}: {err}") from err


def _with_retries(url: str, options: Options, attempt: Callable[[], T]) -> T:
    """Runs `attempt()` up to `retries + 1` times, doubling the delay after each failure."""
    attempts = options.retries + 1
    last = ""
    for i in range(attempts):
        try:
            return attempt()
        except _Transient as err:
            last = str(err)
            if i + 1 == attempts:
                break
            delay = options.backoff_seconds * 2**i
            if err.retry_after is not None:
                delay = max(delay, err.retry_after)
            logger.warning(
                "%s: attempt %d/%d failed (%s); retrying in %.2fs",
                display_url(url),
                i + 1,
                attempts,
                last,
                delay,
            )
            time.sleep(delay)
    raise UnreachableError(
        f"{display_url(url)}: all {attempts} attempts failed; last error: {last}", url
    )


# ---------------------------------------------------------------------------------------- files


def _progress(label: str, total: int | None, initial: int) -> tqdm:
    # On a TTY a live bar; in a log file (Snakemake's `2> {log}`) a line every 30 s at most.
    tty = sys.stderr.isatty()
    mininterval = 0.5 if tty else 30.0
    return tqdm(
        total=total,
        initial=initial,
        desc=label,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        mininterval=mininterval,
        maxinterval=max(10.0, mininterval),
        dynamic_ncols=tty,
        disable=False,
    )


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_CONTENT_RANGE_TOTAL = re.compile(r"bytes\s+\*/(\d+)")


def _fetch_once(url: str, part: Path, options: Options, label: str) -> tuple[int, str]:
    """One attempt: resume or (re)start `part`, stream the body into it; returns (size, sha256)."""
    offset = part.stat().st_size if part.exists() else 0
    extra = {"Range": f"bytes={offset}-"} if offset else {}
    resp = _open(_request(url, extra), url, options, ok_statuses=frozenset({416}))
    with resp:
        if resp.status == 416:
            # Nothing left to send: either the part is already whole (a run killed between the last
            # byte and the rename) or it is longer than the file (stale): then start over.
            m = _CONTENT_RANGE_TOTAL.search(resp.headers.get("Content-Range") or "")
            if m and int(m.group(1)) == offset:
                logger.info("%s: partial file is already complete", display_url(url))
                return sha256_of(part, options.chunk_bytes)
            part.unlink(missing_ok=True)
            raise _Transient("HTTP 416 for a stale partial file; restarting from byte 0")
        mode = "wb"
        total: int | None = None
        if resp.status == 206 and offset:
            m = _CONTENT_RANGE.search(resp.headers.get("Content-Range") or "")
            if not m or int(m.group(1)) != offset:
                part.unlink(missing_ok=True)
                raise _Transient(f"server resumed at the wrong offset ({m and m.group(0)})")
            mode = "ab"
            total = int(m.group(3)) if m.group(3) != "*" else None
            logger.info("%s: resuming at byte %d", display_url(url), offset)
        else:
            if offset:
                logger.info("%s: server ignored Range; restarting from byte 0", display_url(url))
            offset = 0
        length = resp.headers.get("Content-Length")
        if length is not None and length.isdigit():
            total = offset + int(length)

        h = hashlib.sha256()
        if mode == "ab":
            with open(part, "rb") as f:
                while chunk := f.read(options.chunk_bytes):
                    h.update(chunk)
        got = offset
        with open(part, mode) as f, _progress(label, total, offset) as bar:
            while chunk := _read(resp, options.chunk_bytes):
                f.write(chunk)
                h.update(chunk)
                got += len(chunk)
                bar.update(len(chunk))
        if total is not None and got != total:
            raise _Transient(f"truncated body: got {got} of {total} bytes")
        return got, h.hexdigest()


def fetch(
    url: str,
    dest: Path,
    *,
    options: Options,
    sha256: str | None = None,
    label: str | None = None,
) -> Fetched:
    """Downloads `url` to `dest` (via `dest.part`), verifying `sha256` when given.

    An existing `dest` that matches the expectations is kept (`reused=True`); one that does not
    is downloaded again. A mismatch after download deletes the file and raises ChecksumError.
    """
    dest = Path(dest)
    label = label or dest.name
    if dest.exists():
        have_size, have_sha = sha256_of(dest, options.chunk_bytes)
        if sha256 is None or have_sha == sha256:
            logger.info("%s: already present and verified, skipping", dest)
            return Fetched(dest, have_size, have_sha, reused=True)
        logger.warning("%s: present but does not match; downloading again", dest)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")

    got, digest = _with_retries(url, options, lambda: _fetch_once(url, part, options, label))

    if sha256 is not None and digest != sha256:
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"{display_url(url)}: sha256 expected {sha256}, actual {digest} "
            "(the downloaded file was deleted)"
        )
    os.replace(part, dest)
    return Fetched(dest, got, digest)
