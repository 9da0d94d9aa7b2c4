"""Hooks: code that runs around each job and on each outcome, for both workers.

A hook is a function of the message (``before``) or of the message and the job's
:class:`Outcome` (all the others). Register them with ``worker.hook(name)`` (a
decorator), ``worker.add_hook(name, function)``, or ``worker.add_middleware(object)``
for an object with methods of those names (a :class:`Middleware` subclass, say). The
asyncio worker also takes ``async def`` hooks and awaits them.

For a job that is handled, in this order:

1. ``before(message)``, just before the handler, in its thread (or, asyncio, in the
   task that then starts the handler's, so context variables set here are seen by
   the handler);
2. ``on_time_limit`` if the handler ran past its time limit;
3. ``on_error`` if the handler raised (a time limit included);
4. one of ``on_success`` (the job is to be deleted), ``on_retry`` (released with a
   delay) or ``on_bury`` (buried), when the worker has decided;
5. ``after(message, outcome)``, always, once ``before`` ran.

An exception raised by a hook is logged (with its traceback) and otherwise ignored:
the job goes on as if the hook had returned, and the next hook runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from .log import logger

__all__ = ["HOOKS", "Hook", "Hooks", "Middleware", "Outcome", "hook_failed", "run_hook"]

#: The hooks there are, in the order they run for a job.
HOOKS: Final = (
    "before",
    "on_time_limit",
    "on_error",
    "on_success",
    "on_retry",
    "on_bury",
    "after",
)

#: What the worker does with a job once its handler has run (see :class:`Outcome`).
Action = Literal["delete", "retry", "bury", "release", "none"]


@dataclass(frozen=True)
class Outcome:
    """What became of a job: given to every hook but ``before``."""

    #: ``"delete"`` (the handler succeeded), ``"retry"`` (released with ``delay``
    #: after a failure), ``"bury"``, ``"release"`` (given back unhandled, or
    #: unfinished, at shutdown), or ``"none"`` (the handler settled the job itself,
    #: or the reservation was lost).
    action: Action
    #: The job's tube.
    tube: str
    #: What the handler raised (a :class:`~beanstalkm.worker.TimeLimitExceeded` when
    #: it ran past its limit); None when it returned.
    error: BaseException | None = None
    #: The attempt number (the job's ``reserves``), when the worker read it.
    attempt: int | None = None
    #: Seconds before the retry, for ``"retry"``.
    delay: int | None = None
    #: Seconds the handler ran (until it ended, or the worker gave up on it).
    duration: float = 0.0
    #: True when the handler ran past its time limit.
    time_limit: bool = False


class Middleware:
    """A base class for hooks kept together (``worker.add_middleware(instance)``):
    override the methods you need; those left as they are here are not registered."""

    def before(self, message: Any) -> Any:
        """Just before the handler runs."""

    def after(self, message: Any, outcome: Outcome) -> Any:
        """After the job's outcome is decided (whatever it is)."""

    def on_success(self, message: Any, outcome: Outcome) -> Any:
        """The handler returned: the job is to be deleted."""

    def on_retry(self, message: Any, outcome: Outcome) -> Any:
        """The handler failed: the job is to be released with ``outcome.delay``."""

    def on_bury(self, message: Any, outcome: Outcome) -> Any:
        """The handler failed for the last time (or raised ``Bury``): buried."""

    def on_error(self, message: Any, outcome: Outcome) -> Any:
        """The handler raised ``outcome.error`` (before on_retry or on_bury)."""

    def on_time_limit(self, message: Any, outcome: Outcome) -> Any:
        """The handler ran past its time limit."""


@dataclass(frozen=True)
class Hook:
    """Step of a job's flow: run the hooks called ``name``. The driver sends back
    nothing; the hooks' exceptions are its to log (:meth:`Hooks.failed`)."""

    name: str
    functions: tuple[Callable[..., Any], ...]
    args: tuple[Any, ...]


class Hooks:
    """A worker's hooks, by name."""

    def __init__(self) -> None:
        self._hooks: dict[str, tuple[Callable[..., Any], ...]] = {}

    def add(self, name: str, function: Callable[..., Any]) -> None:
        """Run ``function`` as hook ``name`` (after those added before it)."""
        if name not in HOOKS:
            raise ValueError(f"no hook called {name!r}; hooks are {', '.join(HOOKS)}")
        if not callable(function):
            raise TypeError(f"hook {name!r} is not callable: {function!r}")
        self._hooks[name] = (*self._hooks.get(name, ()), function)

    def add_middleware(self, middleware: object) -> None:
        """Register each hook method ``middleware`` has (a :class:`Middleware`'s own
        do-nothing methods are left out)."""
        found = False
        for name in HOOKS:
            method = getattr(middleware, name, None)
            if method is None:
                continue
            if getattr(type(middleware), name, None) is getattr(Middleware, name):
                continue
            self.add(name, method)
            found = True
        if not found:
            raise TypeError(f"{middleware!r} has none of the hook methods: {', '.join(HOOKS)}")

    def step(self, name: str, *args: Any) -> Hook | None:
        """The step that runs hooks ``name`` with ``args``; None when there are none
        (so that a worker without hooks pays nothing for them)."""
        functions = self._hooks.get(name)
        return None if functions is None else Hook(name, functions, args)

    def traced(self, host: str, port: int) -> Hooks | None:
        """These hooks within a consumer span per job (see :mod:`beanstalkm.tracing`),
        when traces are recorded; else None."""
        from .. import tracing

        if not tracing.recording():
            return None
        spans = tracing.TracingHooks(host, port)
        hooks = Hooks()
        hooks._hooks = dict(self._hooks)
        hooks._hooks["before"] = (spans.before, *self._hooks.get("before", ()))
        hooks._hooks["after"] = (*self._hooks.get("after", ()), spans.after)
        return hooks

    def has(self, *names: str) -> bool:
        """Whether there are hooks of any of these names."""
        return any(name in self._hooks for name in names)

    def has_async(self) -> bool:
        """Whether any hook is an ``async def`` function."""
        return any(inspect.iscoroutinefunction(f) for group in self._hooks.values() for f in group)


def hook_failed(hook: Hook, function: Callable[..., Any], exc: BaseException) -> None:
    """Log a hook's exception; the job goes on."""
    message = hook.args[0] if hook.args else None
    logger.error(
        "job %s: hook %s (%s) raised; going on",
        getattr(message, "uid", "?"),
        hook.name,
        getattr(function, "__qualname__", repr(function)),
        exc_info=exc,
    )


def run_hook(hook: Hook) -> None:
    """Run a :class:`Hook` step's functions in order (the threaded worker's way)."""
    for function in hook.functions:
        try:
            function(*hook.args)
        except Exception as exc:
            hook_failed(hook, function, exc)
