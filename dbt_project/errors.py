"""The one base class of every error a user can cause or fix: `ivcrush.cli.app.main` catches it once and
prints its message (no traceback) with its exit code."""

from __future__ import annotations


class IvcrushError(Exception):
    """An error whose message is the whole story for the user: what is wrong, where, and what to do."""

    exit_code: int = 2
