"""Pipelines: commands recorded now, written at once, their replies read back in order.

beanstalkd answers every connection's requests strictly in order, so a batch of
commands costs one round trip instead of one each. The recorder has the same command
methods as ``connection.queue`` (made from the same table); each validates its
arguments at once and returns the pipeline, so calls can be chained.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .commands import Command
from .errors import BeanstalkmException
from .queue import install_commands

__all__ = ["BasePipeline", "PipelineError", "first_error"]

_P = TypeVar("_P", bound="BasePipeline")


class PipelineError(BeanstalkmException):
    """Some commands of a batch failed; :attr:`results` has every command's outcome.

    Each slot of :attr:`results` holds the command's result, or the exception it got
    (a :class:`~beanstalkm.CommandFailed` subclass). The others ran normally.
    """

    def __init__(self, results: list[Any]) -> None:
        errors = [r for r in results if isinstance(r, BaseException)]
        super().__init__(f"{len(errors)} of {len(results)} commands failed; first: {errors[0]!r}")
        self.results = results
        self.errors = errors


def first_error(results: Sequence[Any]) -> BaseException | None:
    for result in results:
        if isinstance(result, BaseException):
            return result
    return None


class BasePipeline:
    """The command recorder shared by the blocking and the asyncio pipeline."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._requests: list[tuple[Command, Sequence[object]]] = []
        self._payloads: list[bytes] = []

    def _run(self: _P, command: Command, args: Sequence[object]) -> _P:
        self._payloads.append(command.encode(args))  # bad arguments fail here, not later
        self._requests.append((command, args))
        return self

    def __len__(self) -> int:
        return len(self._requests)

    def reset(self) -> None:
        """Forget the commands recorded so far."""
        self._requests = []
        self._payloads = []

    def _take(self) -> tuple[list[tuple[Command, Sequence[object]]], list[bytes]]:
        batch = self._requests, self._payloads
        self.reset()
        return batch

    @staticmethod
    def _finish(results: list[Any], raise_on_error: bool) -> list[Any]:
        if raise_on_error and first_error(results) is not None:
            raise PipelineError(results)
        return results

    if TYPE_CHECKING:

        def put(
            self: _P, body: bytes | str, priority: int = ..., delay: int = ..., ttr: int = ...
        ) -> _P: ...
        def use(self: _P, tube: str) -> _P: ...
        def reserve(self: _P) -> _P: ...
        def reserve_with_timeout(self: _P, seconds: int) -> _P: ...
        def reserve_job(self: _P, id: int) -> _P: ...
        def delete(self: _P, id: int) -> _P: ...
        def release(self: _P, id: int, priority: int = ..., delay: int = ...) -> _P: ...
        def bury(self: _P, id: int, priority: int = ...) -> _P: ...
        def touch(self: _P, id: int) -> _P: ...
        def watch(self: _P, tube: str) -> _P: ...
        def ignore(self: _P, tube: str) -> _P: ...
        def peek(self: _P, id: int) -> _P: ...
        def peek_ready(self: _P) -> _P: ...
        def peek_delayed(self: _P) -> _P: ...
        def peek_buried(self: _P) -> _P: ...
        def kick(self: _P, bound: int) -> _P: ...
        def kick_job(self: _P, id: int) -> _P: ...
        def stats_job(self: _P, id: int) -> _P: ...
        def stats_tube(self: _P, tube: str) -> _P: ...
        def stats(self: _P) -> _P: ...
        def list_tubes(self: _P) -> _P: ...
        def using(self: _P) -> _P: ...
        def watching(self: _P) -> _P: ...
        def pause_tube(self: _P, tube: str, delay: int) -> _P: ...


install_commands(BasePipeline)


class Pipeline(BasePipeline):
    """Commands of a blocking connection, run together by :meth:`execute`.

    >>> with client.pipeline() as p:                          # doctest: +SKIP
    ...     p.use("emails").put(b"one").put(b"two").stats_tube("emails")
    ...     uid1, uid2, stats = p.execute()[1:]
    """

    def execute(self, raise_on_error: bool = False) -> list[Any]:
        """Send every recorded command at once; return their results in order.

        A command that failed has its exception in its slot (or, with
        ``raise_on_error``, :class:`PipelineError` is raised once all have run).
        """
        requests, payloads = self._take()
        if not requests:
            return []
        return self._finish(self._connection._execute_many(requests, payloads), raise_on_error)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.reset()
