"""The one exception type the download stage raises, so the CLI can print it without a traceback.

It lives in its own module (re-exported by `gpt2zh.sources`) so that every source module can raise
it without importing the package's dispatcher, which imports them.
"""

from __future__ import annotations

from gpt2zh.errors import UserError


class DownloadError(UserError):
    """A source could not be fetched or verified; the message says which source and what to do."""


class HTTPStatusError(DownloadError):
    """The server answered with an HTTP status we do not retry (a 4xx other than 408/429)."""

    def __init__(self, message: str, status: int, url: str) -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class UnreachableError(DownloadError):
    """Every attempt failed with a connection error, a timeout, a 5xx or a truncated body."""

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url


class ChecksumError(DownloadError):
    """A downloaded file does not have the expected digest (the bad file has been deleted)."""
