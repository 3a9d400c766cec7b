"""Errors a user can act on. The CLI prints their message on one line and exits non-zero."""


class CrescentError(Exception):
    """Bad input or state: the message names what, where, and what to do."""


class ConfigMismatch(CrescentError):
    """A rerun's config contradicts the run store it would resume."""
