"""The asyncio client mirrors the blocking one: same names, same signatures."""

from __future__ import annotations

import inspect

import pytest

import beanstalkm
from beanstalkm import aio

#: Writing a request without waiting for its reply, to wait on several at once: the
#: asyncio connection returns a future (submit); the blocking one writes (start) and
#: reads (finish) around a selector.
ONE_SIDE_ONLY = {"submit", "start", "finish"}


def _public(cls: type) -> dict[str, inspect.Signature | None]:
    names = {name for name in dir(cls) if not name.startswith("_") or name == "__call__"}
    names -= ONE_SIDE_ONLY
    out: dict[str, inspect.Signature | None] = {}
    for name in names:
        value = inspect.getattr_static(cls, name)
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        # Return types differ by design (awaitables, async iterators); parameters do not.
        out[name] = (
            inspect.signature(value).replace(return_annotation=inspect.Signature.empty)
            if callable(value)
            else None
        )
    return out


@pytest.mark.parametrize(
    ("sync", "asyn"),
    [
        (beanstalkm.Connection, aio.Connection),
        (beanstalkm.Client, aio.Client),
        (beanstalkm.Message, aio.Message),
        (beanstalkm.Queue, aio.Queue),
        (beanstalkm.Pipeline, aio.Pipeline),
        (beanstalkm.Pool, aio.Pool),
    ],
)
def test_same_names_and_signatures(sync: type, asyn: type) -> None:
    ours, theirs = _public(sync), _public(asyn)
    assert sorted(ours) == sorted(theirs)
    for name, signature in ours.items():
        assert str(signature) == str(theirs[name]), name


def test_async_methods_are_awaitable() -> None:
    for cls in (aio.Client, aio.Message):
        for name in ("put", "reserve", "put_many", "delete", "release", "bury", "touch", "stats"):
            method = getattr(cls, name, None)
            if method is not None:
                assert inspect.iscoroutinefunction(method), f"{cls.__name__}.{name}"
