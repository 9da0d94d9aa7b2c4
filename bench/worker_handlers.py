"""Handlers for bench/worker_processes.py (imported by the workers it starts)."""

from __future__ import annotations

from typing import Any


def noop(message: Any) -> None:
    """Nothing: what the worker itself costs per job."""


def cpu(message: Any) -> None:
    """About 2 ms of pure Python: work that threads cannot spread over cores."""
    total = 0
    for n in range(40_000):
        total += n * n


async def anoop(message: Any) -> None:
    """Nothing, as an async def handler (the asyncio worker)."""
