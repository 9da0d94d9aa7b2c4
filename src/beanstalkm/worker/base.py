"""What both workers are: configuration, handlers, counters, stopping and signals.

:class:`WorkerBase` is the part of :class:`beanstalkm.Worker` and
:class:`beanstalkm.aio.Worker` that does not depend on how they wait (threads or
tasks); :class:`Reconnects` is one slot's bookkeeping while its server cannot be
reached.

A worker on several servers (a pool) runs ``concurrency`` slots on each, and a slot
keeps to its server: everything about a job (its attempt number, touches, settling,
its release at shutdown) then goes to the server that has it, on the connection that
reserved it, as on one server; and a server that is down slows only its own slots.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, TypeVar, cast

from ..commands import check_tube
from ..constants import DEFAULT_HOST, DEFAULT_PORT
from ..errors import BeanstalkmException
from ..servers import Server, server_list
from ..urls import ENV_VAR, format_address, parse_url
from .counters import Sink, Tally, WorkerCounters
from .hooks import HOOKS, Hooks
from .log import logger
from .policy import Backoff, RetryPolicy
from .routes import WORKER_DEFAULT, Route, WorkerDefault, check_time_limit

if TYPE_CHECKING:
    from .metrics import MetricsServer

__all__ = ["PoolLike", "Reconnects", "WorkerBase", "handlers_for", "logger", "worker_servers"]


_F = TypeVar("_F")
#: Retries of a failed job: 1 s, 2 s, 4 s ... at most 300 s.
DEFAULT_BACKOFF: Final = Backoff()
#: Waits between attempts to reach a server that is down: 0.1 s, 0.2 s ... at most 5 s.
RECONNECT_BACKOFF: Final = Backoff(0.1, 2.0, 5.0)
#: A worker's handler type: a function of the message (sync), or an async one.
_H = TypeVar("_H")


def handlers_for(tubes: Iterable[str], function: _F) -> dict[str, _F]:
    """``{tube: function}`` for each tube: one handler for several tubes."""
    return dict.fromkeys(tubes, function)


class PoolLike(Protocol):
    """What a worker takes of a pool (:class:`beanstalkm.Pool` or
    :class:`beanstalkm.aio.Pool`): its servers, and the options of its connections."""

    @property
    def servers(self) -> Sequence[Server]: ...

    @property
    def client_options(self) -> Mapping[str, Any]: ...


def worker_servers(
    host: str | None, port: int | None, url: str | None, pool: PoolLike | None
) -> list[tuple[str, int]]:
    """The servers a worker works on, ``(host, port)`` each: the pool's; else ``url``
    (several when comma-separated); else ``host`` and ``port``; else
    ``$BEANSTALKD_URL`` (comma-separated too); else 127.0.0.1:11300."""
    if pool is not None:
        if host is not None or port is not None or url is not None:
            raise ValueError("give a worker its servers once: host/port, url, or pool")
        return [(server.host, server.port) for server in pool.servers]
    if url is None and host is None and port is None:
        url = os.environ.get(ENV_VAR) or None
        if url is None:
            return [(DEFAULT_HOST, DEFAULT_PORT)]
    if url is not None:
        if "," in url:
            # As for a Pool: each URL once (a server twice would be worked on twice
            # as hard, which nobody means).
            return [(server.host, server.port) for server in server_list(url)]
        return [parse_url(url)]
    return [(host or DEFAULT_HOST, DEFAULT_PORT if port is None else port)]


class WorkerBase(Generic[_H]):
    """Configuration, handlers, counters and stopping, common to both workers.

    A subclass supplies ``run`` (the loop, threaded or asyncio) and :meth:`_wake`
    (how a stop reaches that loop). See :class:`beanstalkm.Worker` for the arguments.
    """

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        *,
        url: str | None = None,
        pool: PoolLike | None = None,
        handlers: Mapping[str, _H] | None = None,
        concurrency: int = 1,
        max_attempts: int | None = 5,
        backoff: Backoff | Sequence[float] = DEFAULT_BACKOFF,
        grace: float = 30.0,
        touch_margin: float = 2.0,
        reserve_timeout: int = 1,
        reconnect_backoff: Backoff | Sequence[float] = RECONNECT_BACKOFF,
        socket_timeout: float | None = 10.0,
        install_signal_handlers: bool = True,
        time_limit: float | None = None,
        processes: int | None = None,
        max_jobs: int | None = None,
        max_memory: int | str | None = None,
        metrics: bool = False,
        metrics_port: int | None = None,
        metrics_address: str = "0.0.0.0",
    ) -> None:
        #: The servers worked on, ``(host, port)`` each: ``concurrency`` slots on each.
        self.servers = worker_servers(host, port, url, pool)
        #: The first server (the only one, unless the worker is on several).
        self.host, self.port = self.servers[0]
        if pool is not None and "timeout" in pool.client_options:
            socket_timeout = pool.client_options["timeout"]
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if grace < 0 or touch_margin < 0:
            raise ValueError("grace and touch_margin must be >= 0")
        if not 1 <= reserve_timeout <= 3600:
            raise ValueError(f"reserve_timeout must be 1..3600 seconds, got {reserve_timeout}")
        if processes is not None and processes < 1:
            raise ValueError(f"processes must be None or >= 1, got {processes}")
        if max_jobs is not None and max_jobs < 1:
            raise ValueError(f"max_jobs must be None or >= 1, got {max_jobs}")
        if processes is None and (max_jobs is not None or max_memory is not None):
            raise ValueError(
                "max_jobs and max_memory recycle worker processes: they need processes=N"
            )
        self.concurrency = concurrency
        self.policy = RetryPolicy(max_attempts, Backoff.of(backoff))
        #: Seconds a handler may run on a job (None: no limit), unless its own says.
        self.time_limit = check_time_limit(time_limit)
        #: Child processes, each running this worker (None: run it in this process).
        self.processes = processes
        #: Replace a child process after this many jobs.
        self.max_jobs = max_jobs
        #: Replace a child process once it uses more memory than this (bytes).
        self.max_memory = None if max_memory is None else parse_size(max_memory)
        self.metrics = metrics or metrics_port is not None
        self.metrics_port = metrics_port
        self.metrics_address = metrics_address
        self.grace = grace
        self.touch_margin = touch_margin
        self.reserve_timeout = reserve_timeout
        self.reconnect_backoff = Backoff.of(reconnect_backoff)
        self.socket_timeout = socket_timeout
        self.install_signal_handlers = install_signal_handlers
        self._handlers: dict[str, Route[_H]] = {}
        self._hooks = Hooks()
        # The hooks of the run under way: the user's, within the tracing's.
        self._run_hooks: Hooks | None = None
        # Jobs whose handlers were given up on at their time limit, still running, by
        # message.ref: on several servers, two jobs may have one id.
        self._running_refs: set[str] = set()
        self._metrics_server: MetricsServer | None = None
        # The signals run() stops on, and the one that stops at once, not gracefully
        # (None: any of them, the second time). A worker process leaves SIGINT to its
        # supervisor and takes SIGQUIT from it as "at once".
        self._stop_signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)
        self._urgent_signal: int | None = None
        # In a worker process: wraps the tally's sink (the supervisor's recycling).
        self._wrap_sink: Callable[[Sink | None], Sink] | None = None
        self._tally = Tally()
        # Set by stop(); a thread-safe flag for both workers.
        self._stopping = threading.Event()
        self._deadline = math.inf
        self._running = False
        self._fatal: BaseException | None = None
        for tube, function in (handlers or {}).items():
            self.add_handler(tube, function)

    # -- configuration --

    @property
    def tubes(self) -> list[str]:
        """The tubes with a handler, which the worker reserves from."""
        return list(self._handlers)

    def add_handler(
        self,
        tube: str,
        function: _H,
        *,
        max_attempts: int | WorkerDefault | None = WORKER_DEFAULT,
        backoff: Backoff | Sequence[float] | str | WorkerDefault = WORKER_DEFAULT,
        time_limit: float | WorkerDefault | None = WORKER_DEFAULT,
    ) -> None:
        """Handle jobs from ``tube`` with ``function`` (replacing any handler it had).

        ``max_attempts``, ``backoff`` and ``time_limit`` apply to this handler; those
        not given are the worker's.
        """
        self._add(tube, function, max_attempts, backoff, time_limit)

    def handler(
        self,
        tube: str,
        *,
        max_attempts: int | WorkerDefault | None = WORKER_DEFAULT,
        backoff: Backoff | Sequence[float] | str | WorkerDefault = WORKER_DEFAULT,
        time_limit: float | WorkerDefault | None = WORKER_DEFAULT,
    ) -> Callable[[_F], _F]:
        """Decorator: ``@worker.handler("emails")`` handles jobs from ``emails``;
        ``@worker.handler("emails", max_attempts=10, time_limit=60)`` with settings of
        its own (see :meth:`add_handler`)."""

        def register(function: _F) -> _F:
            self._add(tube, function, max_attempts, backoff, time_limit)
            return function

        return register

    def _add(
        self,
        tube: str,
        function: object,
        max_attempts: int | WorkerDefault | None = WORKER_DEFAULT,
        backoff: Backoff | Sequence[float] | str | WorkerDefault = WORKER_DEFAULT,
        time_limit: float | WorkerDefault | None = WORKER_DEFAULT,
    ) -> None:
        check_tube(tube)
        self._check_handler(tube, function)
        if self._running:
            raise RuntimeError("cannot add handlers to a running worker")
        defaults = Route("", None, self.policy, self.time_limit)
        self._handlers[tube] = Route.make(
            tube, cast(_H, function), defaults, max_attempts, backoff, time_limit
        )

    # -- hooks --

    @property
    def hooks(self) -> Hooks:
        """The worker's hooks (see :mod:`beanstalkm.worker.hooks`); while it runs,
        with its tracing's around them when traces are recorded."""
        return self._run_hooks or self._hooks

    def add_hook(self, name: str, function: Callable[..., Any]) -> None:
        """Run ``function`` as hook ``name``: ``before``, ``after``, ``on_success``,
        ``on_retry``, ``on_bury``, ``on_error`` or ``on_time_limit`` (see
        :mod:`beanstalkm.worker.hooks`)."""
        self._check_hook(name, function)
        self._hooks.add(name, function)

    def hook(self, name: str) -> Callable[[_F], _F]:
        """Decorator: ``@worker.hook("after")`` runs the function after each job."""

        def register(function: _F) -> _F:
            self.add_hook(name, cast(Callable[..., Any], function))
            return function

        return register

    def add_middleware(self, middleware: object) -> None:
        """Register each hook method of ``middleware`` (an object with methods named
        ``before``, ``after``, ``on_success``...; see
        :class:`~beanstalkm.worker.hooks.Middleware`)."""
        for name in HOOKS:
            method = getattr(middleware, name, None)
            if method is not None:
                self._check_hook(name, method)
        self._hooks.add_middleware(middleware)

    def _check_hook(self, name: str, function: object) -> None:
        """Raise TypeError for what cannot be this worker's hook."""
        if self._running:
            raise RuntimeError("cannot add hooks to a running worker")

    def _check_handler(self, tube: str, function: object) -> None:
        """Raise TypeError for what cannot be this worker's handler."""
        if not callable(function):
            raise TypeError(f"handler for {tube!r} is not callable: {function!r}")

    def handler_for(self, tube: str) -> Route[_H] | None:
        """The handler of ``tube`` with its settings, if it has one."""
        return self._handlers.get(tube)

    @property
    def running_jobs(self) -> set[int]:
        """Ids of the jobs whose handlers the worker gave up on at their time limit
        and which still run: not handled again by this worker until they end."""
        return {int(ref.rpartition("/")[2]) for ref in self._running_refs}

    @property
    def running_refs(self) -> set[str]:
        """The same jobs as :attr:`running_jobs`, as ``host:port/id`` (see
        ``Message.ref``): what names a job on a worker that is on several servers."""
        return self._running_refs

    @property
    def slot_count(self) -> int:
        """How many slots the worker runs: ``concurrency`` on each server."""
        return self.concurrency * len(self.servers)

    def slot_server(self, index: int) -> tuple[str, int]:
        """The server of slot ``index``: slots 0 to ``concurrency - 1`` work on the
        first server, the next ``concurrency`` on the second... A slot stays on its
        server, so that everything about a job goes to the server that has it."""
        return self.servers[index // self.concurrency]

    @property
    def where(self) -> str:
        """The server, or servers, as log lines name them."""
        if len(self.servers) == 1:
            return format_address(self.host, self.port)
        names = ", ".join(format_address(host, port) for host, port in self.servers)
        return f"each of {len(self.servers)} servers ({names})"

    @property
    def only_tube(self) -> str | None:
        """The tube, when the worker reserves from one only: then every job is known to
        come from it without asking the server."""
        return next(iter(self._handlers)) if len(self._handlers) == 1 else None

    # -- state --

    @property
    def tally(self) -> Tally:
        """The live counters the slots update (:attr:`counters` is a snapshot of them)."""
        return self._tally

    @property
    def deadline(self) -> float:
        """When (``time.monotonic()``) jobs in flight stop being waited for at shutdown;
        infinite until a stop."""
        return self._deadline

    @property
    def counters(self) -> WorkerCounters:
        """A snapshot of what the worker has done: processed, failed, retried, buried..."""
        return self._tally.snapshot()

    @property
    def running(self) -> bool:
        return self._running

    @property
    def stopping(self) -> bool:
        """True once a shutdown has been asked for."""
        return self._stopping.is_set()

    # -- stopping --

    def stop(self, grace: float | None = None) -> None:
        """Ask the worker to stop (from any thread): stop reserving, give jobs in flight
        ``grace`` seconds (default: the worker's) to finish, release the rest. Calling
        it again with a shorter grace shortens the wait; ``grace=0`` stops at once."""
        seconds = self.grace if grace is None else max(grace, 0.0)
        self._deadline = min(self._deadline, time.monotonic() + seconds)
        self._stopping.set()
        self._wake()

    def _wake(self) -> None:
        """Let the running loop know that :meth:`stop` was called (from any thread)."""

    def _signalled(self, signum: int) -> None:
        """SIGTERM or SIGINT: the first stops gracefully, the next at once."""
        name = signal.Signals(signum).name
        if signum == self._urgent_signal:
            logger.warning("%s: stopping now", name)
            self.stop(grace=0)
        elif self._urgent_signal is not None and self._stopping.is_set():
            logger.debug("%s: already stopping", name)
        elif not self._stopping.is_set():
            again = "" if self._urgent_signal else " (send it again to stop at once)"
            logger.warning(
                "%s: stopping; in-flight jobs have %.1fs to finish%s", name, self.grace, again
            )
            self.stop()
        else:
            logger.warning("%s again: stopping now", name)
            self.stop(grace=0)

    def _wants_signals(self) -> bool:
        """Whether ``run`` should handle SIGTERM and SIGINT: when asked to, and only
        on the main thread (where Python runs signal handlers)."""
        return self.install_signal_handlers and (
            threading.current_thread() is threading.main_thread()
        )

    def _shutdown_begins(self, in_flight: int) -> None:
        logger.info("stopping: %d job(s) in flight", in_flight)

    def _handler_raised(self, index: int, exc: BaseException) -> None:
        """A handler raised SystemExit, KeyboardInterrupt or the like: not the job's
        fault. Stop at once (before the job is released, so that no other slot runs it);
        ``run`` raises it when the worker has stopped."""
        logger.error("slot %d: handler raised %r; stopping the worker", index, exc)
        if self._fatal is None:
            self._fatal = exc
        self.stop(grace=0)

    # -- the run's beginning and end --

    def _supervisor(self, work: Callable[[], WorkerCounters]) -> Any:
        """The supervisor of this worker's processes, ``work`` running it in each."""
        from .processes import Supervisor

        return Supervisor(self, work)

    def _in_processes(self) -> bool:
        """Whether run() supervises processes rather than working itself."""
        return self.processes is not None and not _in_child()

    def _begin(self, slots: str) -> None:
        if not self._handlers:
            raise ValueError("no handlers: add one with @worker.handler(tube)")
        if self._running:
            raise RuntimeError("the worker is already running")
        self._running = True
        self._stopping.clear()
        self._deadline = math.inf
        self._fatal = None
        self._running_refs.clear()
        self._run_hooks = self._hooks.traced(self.host, self.port)
        try:
            self._open_metrics()
        except BaseException:
            self._running = False
            raise
        logger.info(
            "worker: %d %s on %s, tubes %s",
            self.concurrency,
            slots,
            self.where,
            ", ".join(self.tubes),
        )

    def _open_metrics(self) -> None:
        """Metrics asked for: count into Prometheus, and serve them if a port was
        given (in this process; a supervisor of processes serves its children's)."""
        sink: Sink | None = None
        if self.metrics:
            from .metrics import MetricsServer, PrometheusSink, require_prometheus

            if _in_child():
                # Counted into files the supervisor reads: a registry of its own.
                sink = PrometheusSink(require_prometheus().CollectorRegistry())
            else:
                sink = PrometheusSink.for_registry()
                if self.metrics_port is not None:
                    self._metrics_server = MetricsServer.start(
                        self.metrics_address, self.metrics_port
                    )
            sink.show(self.tubes)
        if self._wrap_sink is not None:
            sink = self._wrap_sink(sink)
        self._tally.sink = sink

    def _begin_supervising(self) -> None:
        """The start of a run in processes (see :mod:`.processes`)."""
        if not self._handlers:
            raise ValueError("no handlers: add one with @worker.handler(tube)")
        if self._running:
            raise RuntimeError("the worker is already running")
        self._running = True
        self._stopping.clear()
        self._deadline = math.inf

    def _close_metrics(self) -> None:
        server, self._metrics_server = self._metrics_server, None
        if server is not None:
            server.stop()

    def _end(self) -> WorkerCounters:
        """After the run (which sets ``_running`` back, whatever happened): log the
        counters, return them, or raise what a handler raised."""
        self._close_metrics()
        self._run_hooks = None
        counters = self.counters
        logger.info("worker stopped: %s", counters)
        if self._fatal is not None:
            raise self._fatal
        return counters


_UNITS: Final = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(value: int | str) -> int:
    """Bytes from ``1048576``, ``"512M"``, ``"512MB"``, ``"1.5G"``, ``"800KiB"``
    (powers of 1024)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number, unit = float(value), ""
    elif isinstance(value, str):
        text = value.strip().lower().removesuffix("ib").removesuffix("b")
        digits = text.rstrip("kmgt")
        number, unit = 0.0, text[len(digits) :]
        try:
            number = float(digits)
        except ValueError:
            unit = "?"
    else:
        unit = "?"
    if unit not in _UNITS or len(unit) > 1 or not number > 0:
        raise ValueError(f"a memory size is a number of bytes, or like 512M or 2G: {value!r}")
    return int(number * _UNITS[unit])


def _serve_metrics(start: Callable[[str, int], _F], address: str, port: int) -> _F:
    try:
        return start(address, port)
    except OSError as exc:
        raise OSError(
            exc.errno, f"cannot serve metrics on {address}:{port}: {exc.strerror}"
        ) from exc


def _in_child() -> bool:
    """Whether this process is a child of a worker's supervisor (which serves the
    metrics of all its children)."""
    from .processes import in_child

    return in_child()


class Reconnects:
    """One slot's attempts to reach its server: counted, logged, spaced out.

    Reconnecting is the client's job (the next command does it); the slot's is not to
    hammer a server that is down. On a pool, each slot has its own: a server that is
    down slows its own slots only.
    """

    def __init__(self, worker: WorkerBase[Any], index: int) -> None:
        self.worker = worker
        self.index = index
        self.address = format_address(*worker.slot_server(index))
        self.failures = 0

    def failed(self, exc: BeanstalkmException) -> float:
        """A command failed: how long to wait before the next attempt."""
        self.failures += 1
        self.worker.tally.add("connection_errors")
        delay = self.worker.reconnect_backoff.jittered(self.failures)
        log = logger.warning if self.failures == 1 else logger.debug
        log("slot %d (%s): %s; retrying in %.2fs", self.index, self.address, exc, delay)
        return delay

    def succeeded(self) -> None:
        """A command got its reply: the outage, if any, is over."""
        if self.failures:
            logger.info("slot %d: connected to %s again", self.index, self.address)
            self.failures = 0
