"""Pipelines: commands recorded now, written at once, their replies read back in order.

beanstalkd answers every connection's requests strictly in order, so a batch of
commands costs one round trip instead of one each. The recorder here has one method
per command (from the command table, like ``connection.queue``); each validates its
arguments at once and returns the pipeline, so calls can be chained. Each client's
``Pipeline`` adds ``execute``, which runs the batch on its connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .command_methods import PipelineCommands
from .commands import Command
from .errors import PipelineError, first_error
from .protocol import Request

__all__ = ["BasePipeline", "PipelineError"]


class BasePipeline(PipelineCommands):
    """The command recorder shared by the blocking and the asyncio pipeline."""

    __slots__ = ("_connection", "_payloads", "_requests")

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._requests: list[Request] = []
        self._payloads: list[bytes] = []

    def _record(self, command: Command, args: Sequence[object]) -> BasePipeline:
        self._payloads.append(command.encode(args))  # bad arguments fail here, not later
        self._requests.append((command, args, None, None))
        return self

    def __len__(self) -> int:
        return len(self._requests)

    def reset(self) -> None:
        """Forget the commands recorded so far."""
        self._requests = []
        self._payloads = []

    def _take(self) -> tuple[list[Request], list[bytes]]:
        batch = self._requests, self._payloads
        self.reset()
        return batch

    @staticmethod
    def _finish(results: list[Any], raise_on_error: bool) -> list[Any]:
        if raise_on_error and first_error(results) is not None:
            raise PipelineError(results)
        return results
