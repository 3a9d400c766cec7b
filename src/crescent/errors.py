"""Errors a user can act on. The CLI prints their message on one line and exits non-zero."""


class CrescentError(Exception):
    """Bad input or state: the message names what, where, and what to do."""


class ConfigMismatch(CrescentError):
    """A rerun's config contradicts the run store it would resume."""


class ServiceFailure(Exception):
    """Something outside crescent failed (a model server, a model file, the disk): the message says what it
    said and what to do. Not a bug in crescent, so the CLI prints it without a class name or ``--debug``."""
