"""Import beanstalkm for the three beanstalkm workers, and say where it came from."""

from __future__ import annotations

from typing import Any

from _worker import OptionalModule, dist_version

BEANSTALKM = OptionalModule("beanstalkm")


def module() -> Any:
    """The beanstalkm package, or NotAvailable if it does not import."""
    return BEANSTALKM.get()


def version() -> str:
    found = BEANSTALKM.module
    if found is None:
        return "not importable"
    number = getattr(found, "__version__", None) or dist_version("beanstalkm")
    return f"{number} ({found.__file__})"


def close(client: object) -> None:
    closer = getattr(client, "close", None)
    if closer is not None:
        closer()
