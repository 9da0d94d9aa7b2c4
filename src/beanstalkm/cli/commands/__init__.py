"""The subcommands, one module each (``reserve`` also holds ``consume``).

Each module has ``add_parser(subparsers)``, which adds its subcommand(s) with their
options and the function that runs them. :data:`MODULES` is the order of ``--help``.
"""

from __future__ import annotations

from types import ModuleType

from . import (
    bury,
    completion,
    delete,
    demo,
    exporter,
    kick,
    move,
    pause,
    peek,
    purge,
    put,
    reserve,
    serve,
    stats,
    top,
    tubes,
    web,
    worker,
)

__all__ = ["MODULES"]

MODULES: tuple[ModuleType, ...] = (
    put, reserve, peek, kick, delete, bury, tubes, stats, pause, purge, move, top,
    web, worker, exporter, serve, demo, completion,
)  # fmt: skip
