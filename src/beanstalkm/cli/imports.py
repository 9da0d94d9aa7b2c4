"""Importing the user's ``package.module:name``, with errors about the user's code.

When the module cannot be found, the error says where it was looked for and how to
point elsewhere (``--app-dir``). When importing it fails (an exception, a
``SyntaxError``, an ``ImportError`` of something it imports), the error shows the
traceback through the user's own files only: the frames of importlib and of
beanstalkm say nothing about what to fix.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any, Final

from .base import EXIT_ERROR, EXIT_USAGE, Failure

__all__ = ["load_target", "user_traceback"]

# Frames in these directories are the machinery of importing, not the user's code.
_NOT_USER_DIRS: Final = (
    str(Path(__file__).resolve().parent.parent) + os.sep,  # beanstalkm
    str(Path(importlib.__file__).resolve().parent) + os.sep,
)


def _is_user_frame(filename: str) -> bool:
    if filename.startswith(("<frozen ", "<string>")):
        return False
    try:
        resolved = str(Path(filename).resolve())
    except (OSError, ValueError):
        return True
    return not resolved.startswith(_NOT_USER_DIRS)


def _shown_path(filename: str) -> str:
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive (Windows)
        return filename
    return filename if relative.startswith("..") else relative


def user_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` (and the exceptions chained to it) through user files
    only."""
    shown = traceback.TracebackException.from_exception(exc)
    seen: set[int] = set()
    todo = [shown]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        kept = [frame for frame in current.stack if _is_user_frame(frame.filename)]
        current.stack = traceback.StackSummary.from_list(kept)
        todo.extend(t for t in (current.__cause__, current.__context__) if t is not None)
    return "".join(shown.format()).rstrip("\n")


def _where(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" ({_shown_path(exc.filename)}, line {exc.lineno})"
    frames = [
        frame for frame in traceback.extract_tb(exc.__traceback__) if _is_user_frame(frame.filename)
    ]
    if not frames:
        return ""
    return f" ({_shown_path(frames[-1].filename)}, line {frames[-1].lineno})"


def _is_missing(exc: BaseException, module_name: str) -> bool:
    """Whether ``exc`` says that ``module_name`` (or a package above it) is not there,
    rather than that something it imports is missing."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return False
    if exc.name != module_name and not module_name.startswith(exc.name + "."):
        return False
    return not any(
        _is_user_frame(frame.filename) for frame in traceback.extract_tb(exc.__traceback__)
    )


def _import(module_name: str, app_dir: str | None) -> ModuleType:
    where = "sys.path"
    if app_dir is not None:
        path = os.path.abspath(app_dir)
        here = "the current directory, " if path == os.getcwd() else ""
        where = f"{path} ({here}--app-dir) or on sys.path"
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        return importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:
        if _is_missing(exc, module_name):
            name = getattr(exc, "name", module_name)
            raise Failure(
                f"cannot import {module_name}: there is no module {name} in {where}; "
                "run from the directory that holds it, or give --app-dir DIR",
                EXIT_USAGE,
            ) from None
        summary = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        summary = summary.splitlines()[-1] if summary else type(exc).__name__
        raise Failure(
            f"cannot import {module_name}: {summary}{_where(exc)}",
            EXIT_ERROR,
            detail=user_traceback(exc),
        ) from None


def load_target(spec: str, app_dir: str | None = ".") -> Any:
    """Import ``package.module:name`` (``name`` may be dotted) and return the object.

    ``app_dir`` goes first on ``sys.path``, so that a module beside the caller can be
    named, as with other Python application runners. Raises :class:`Failure` with a
    message about the user's code.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise Failure(f"worker target must be package.module:handler, got {spec!r}", EXIT_USAGE)
    value: Any = _import(module_name, app_dir)
    path = module_name
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            names = [n for n in dir(value) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise Failure(f"{path} has no {part}{hint}", EXIT_USAGE) from None
        path += ("." if ":" in path else ":") + part
    return value
