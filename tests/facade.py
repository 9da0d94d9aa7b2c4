"""Run the asyncio client through a blocking facade, so one test suite covers both.

Every coroutine a wrapped object returns is run to completion on the test's event
loop; every asyncio-client object it returns (messages, the queue, pipelines) is
wrapped in turn. ``isinstance`` sees the wrapped object's class.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any

from beanstalkm import BeanstalkmException, InvalidMessage, aio
from beanstalkm.pipeline import BasePipeline, PipelineError

_WRAPPED = (aio.Connection, aio.Message, aio.Queue, aio.Pool, BasePipeline)


def wrap(value: Any, loop: asyncio.AbstractEventLoop) -> Any:
    if inspect.iscoroutine(value):
        return wrap(_run(value, loop), loop)
    if inspect.isasyncgen(value):
        return _iterate(value, loop)
    if isinstance(value, _WRAPPED):
        return Facade(value, loop)
    if isinstance(value, list):
        return [wrap(item, loop) for item in value]
    return value


def _run(coroutine: Any, loop: asyncio.AbstractEventLoop) -> Any:
    try:
        return loop.run_until_complete(coroutine)
    except InvalidMessage as exc:
        exc.message = wrap(exc.message, loop)
        raise
    except PipelineError as exc:
        exc.results = wrap(exc.results, loop)
        raise
    except BeanstalkmException:
        raise


def _iterate(generator: Any, loop: asyncio.AbstractEventLoop) -> Iterator[Any]:
    while True:
        try:
            item = loop.run_until_complete(generator.__anext__())
        except StopAsyncIteration:
            return
        yield wrap(item, loop)


class Facade:
    """A blocking stand-in for an asyncio-client object."""

    def __init__(self, target: Any, loop: asyncio.AbstractEventLoop) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_loop", loop)

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self._target)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if inspect.ismethod(value) or inspect.isfunction(value):
            return lambda *args, **kwargs: wrap(value(*args, **kwargs), self._loop)
        return wrap(value, self._loop)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return wrap(self._target(*args, **kwargs), self._loop)

    def __enter__(self) -> Facade:
        wrap(self._target.__aenter__(), self._loop)
        return self

    def __exit__(self, *exc: object) -> None:
        wrap(self._target.__aexit__(None, None, None), self._loop)

    def __str__(self) -> str:
        return str(self._target)

    def __repr__(self) -> str:
        return repr(self._target)

    def __len__(self) -> int:
        return len(self._target)
