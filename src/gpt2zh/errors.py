"""The one error type the CLI shows without a traceback: the user can act on its message."""


class UserError(Exception):
    """Bad config, a missing source, a failed checksum: say what and how to fix it, no trace."""
