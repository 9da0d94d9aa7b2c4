"""Import beanstalkm for the three beanstalkm workers, and say where it came from."""

from __future__ import annotations

import types

from _worker import NotAvailable, dist_version

beanstalkm: types.ModuleType | None
try:
    import beanstalkm
except ImportError as exc:  # every operation reports n/a with this reason
    beanstalkm = None
    IMPORT_ERROR = f"cannot import beanstalkm: {exc}"
else:
    IMPORT_ERROR = ""


def module() -> types.ModuleType:
    if beanstalkm is None:
        raise NotAvailable(IMPORT_ERROR)
    return beanstalkm


def version() -> str:
    if beanstalkm is None:
        return "not importable"
    found = getattr(beanstalkm, "__version__", None) or dist_version("beanstalkm")
    return f"{found} ({beanstalkm.__file__})"


def close(client: object) -> None:
    closer = getattr(client, "close", None)
    if closer is not None:
        closer()
