"""Worker processes: a supervisor runs N children, each running the worker.

``Worker(..., processes=N).run()`` (and ``beanstalkm worker --processes N``) does not
work itself: it forks N children, each running the worker's threads (or, for
:class:`beanstalkm.aio.Worker`, its tasks) with connections of its own, and

- replaces a child that dies (its jobs come back to the queue when the server sees
  its connections close: at once for a child that exits, by their time-to-run
  otherwise), waiting longer between restarts of children that keep dying at once;
- replaces a child that has handled ``max_jobs`` jobs, or uses more than
  ``max_memory`` bytes: the child stops reserving, finishes its jobs in flight, exits;
- on SIGTERM or SIGINT (Ctrl-C) sends SIGTERM to every child, which drains as a worker
  does (its jobs in flight get ``grace`` seconds); on a second signal it sends
  SIGQUIT, which stops them at once. A child takes SIGTERM as "drain" however often
  it comes (systemd sends it to every process of a service, and the supervisor
  passes it on) and ignores Ctrl-C (it reaches the whole process group);
- serves the children's metrics, summed, when the worker has a ``metrics_port``.

Children are forked (POSIX only), so handlers defined anywhere work, as with Celery's
or Gunicorn's workers. The supervising is a generator of waits (:meth:`Supervisor.steps`),
driven by :meth:`Supervisor.run` (blocking) or :meth:`Supervisor.run_async`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from .counters import NAMES, Sink, WorkerCounters
from .log import logger

if TYPE_CHECKING:
    from .base import WorkerBase

__all__ = ["Supervisor", "in_child"]

#: How often the supervisor looks at its children and signals.
POLL: Final = 0.05
#: A child that ends sooner than this after its start has "died at once".
QUICK_DEATH: Final = 1.0
#: How long after its grace period a child may take to exit before it is killed.
KILL_AFTER: Final = 10.0
#: How often a child looks at its memory use (at most: only as jobs end).
MEMORY_LOOK: Final = 1.0

_in_child = False


def in_child() -> bool:
    """Whether this process is a child of a worker's supervisor."""
    return _in_child


@dataclass
class _Child:
    pid: int
    kind: str  # "worker" or "metrics"
    index: int
    started: float
    #: Where the child writes its counters as it exits.
    report: int | None = None
    data: bytearray = field(default_factory=bytearray)


def resident_bytes() -> int:
    """This process's resident memory in bytes (its peak where the current size
    cannot be read)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak) * (1 if sys.platform == "darwin" else 1024)


class _Recycler:
    """A child's count of jobs and look at its memory: stops the worker when it is
    time to replace the child (a :class:`~beanstalkm.worker.counters.Sink`)."""

    def __init__(self, worker: WorkerBase[Any], then: Sink | None) -> None:
        self.worker = worker
        self.then = then
        self.jobs = 0
        self.next_look = 0.0
        self.done = False

    def count(self, name: str, tube: str, n: int) -> None:
        if self.then is not None:
            self.then.count(name, tube, n)
        if name not in ("processed", "failed") or self.done:
            return
        self.jobs += n
        worker = self.worker
        if worker.max_jobs is not None and self.jobs >= worker.max_jobs:
            self._recycle(f"{self.jobs} jobs handled (max_jobs {worker.max_jobs})")
        elif worker.max_memory is not None and time.monotonic() >= self.next_look:
            self.next_look = time.monotonic() + MEMORY_LOOK
            used = resident_bytes()
            if used > worker.max_memory:
                limit = worker.max_memory / 2**20
                self._recycle(f"{used / 2**20:.0f} MiB in use (max_memory {limit:.0f} MiB)")

    def _recycle(self, why: str) -> None:
        self.done = True
        logger.info("process %d: %s; finishing its jobs, to be replaced", os.getpid(), why)
        self.worker.stop()

    def started(self, tube: str) -> None:
        if self.then is not None:
            self.then.started(tube)

    def finished(self, tube: str, seconds: float) -> None:
        if self.then is not None:
            self.then.finished(tube, seconds)


class Supervisor:
    """Runs ``worker`` in ``worker.processes`` child processes (see the module).

    ``work`` runs the worker in a child (its own run, not another supervisor) and
    returns its counters.
    """

    def __init__(self, worker: WorkerBase[Any], work: Callable[[], WorkerCounters]) -> None:
        if not hasattr(os, "fork"):
            raise RuntimeError("worker processes need os.fork (POSIX)")
        self.worker = worker
        self.work = work
        self.children: dict[int, _Child] = {}
        self.signals: list[int] = []
        self.totals = dict.fromkeys(NAMES, 0)
        self._stops = 0
        self._kill_at = float("inf")
        self._quick_deaths = 0
        self._pending: list[tuple[float, str, int]] = []
        self._metrics_dir: str | None = None
        self._own_metrics_dir = False
        self._metrics_server: Any = None
        self._environ_before: str | None = None

    # -- the drivers --

    def run(self) -> WorkerCounters:
        """Supervise until the children have stopped; return their counters, summed."""
        self.worker._begin_supervising()
        previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (int(signal.SIGTERM), int(signal.SIGINT)):
                previous[signum] = signal.signal(signum, self._on_signal)
        try:
            for wait in self.steps():
                time.sleep(wait)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self.worker._running = False
        return self.counters

    async def run_async(self) -> WorkerCounters:
        """:meth:`run` for a coroutine: the event loop goes on while it waits."""
        self.worker._begin_supervising()
        loop = asyncio.get_running_loop()
        installed: list[int] = []
        if threading.current_thread() is threading.main_thread():
            for signum in (int(signal.SIGTERM), int(signal.SIGINT)):
                try:
                    loop.add_signal_handler(signum, self.signals.append, signum)
                except (NotImplementedError, RuntimeError):
                    continue
                installed.append(signum)
        try:
            for wait in self.steps():
                await asyncio.sleep(wait)
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)
            self.worker._running = False
        return self.counters

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.signals.append(signum)

    @property
    def counters(self) -> WorkerCounters:
        """The counters the children reported as they exited, summed (a child killed
        reports none)."""
        return WorkerCounters(**self.totals)

    # -- supervising --

    def steps(self) -> Generator[float, None, None]:
        """Supervise: yields how long to wait before looking again."""
        worker = self.worker
        processes = worker.processes or 1
        self._begin_metrics()
        logger.info(
            "supervisor %d: %d worker process(es) on %s, tubes %s",
            os.getpid(),
            processes,
            worker.where,
            ", ".join(worker.tubes),
        )
        try:
            for index in range(processes):
                self._spawn("worker", index)
            if self._metrics_server is not None:
                self._spawn("metrics", 0)
            while True:
                self._take_signals()
                self._reap()
                if self._stops and not self._workers():
                    break
                self._start_pending()
                if self._stops and time.monotonic() >= self._kill_at:
                    for child in self._workers():
                        logger.error("process %d did not stop in time; killing it", child.pid)
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(child.pid, signal.SIGKILL)
                    self._kill_at = float("inf")
                yield POLL
        finally:
            self._end()
        logger.info("supervisor %d: stopped; %s", os.getpid(), self.counters)

    def _workers(self) -> list[_Child]:
        return [c for c in self.children.values() if c.kind == "worker"]

    def _take_signals(self) -> None:
        worker = self.worker
        reasons = [signal.Signals(signum).name for signum in self.signals]
        if worker.stopping:
            # stop() called on the worker object (from another thread, say).
            if not reasons:
                reasons.append("stop()")
            if worker.deadline <= time.monotonic() and len(reasons) < 2:
                reasons.append("stop(grace=0)")
        while self._stops < len(reasons):
            name = reasons[self._stops]
            self._stops += 1
            if self._stops == 1:
                logger.warning(
                    "%s: stopping %d worker process(es); their jobs in flight have %.1fs "
                    "(send it again to stop at once)",
                    name,
                    len(self._workers()),
                    worker.grace,
                )
                self._kill_at = time.monotonic() + worker.grace + KILL_AFTER
                self._pending.clear()
            else:
                logger.warning("%s again: stopping the worker processes now", name)
            # SIGTERM drains a child; SIGQUIT stops it at once. Not SIGTERM twice: a
            # child may have had a SIGTERM of its own already (systemd sends one to
            # every process of the service).
            urgent = signal.SIGQUIT if self._stops > 1 else signal.SIGTERM
            for child in self._workers():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, urgent)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is None:
                continue
            self._ended(child, status)

    def _ended(self, child: _Child, status: int) -> None:
        self._read_report(child)
        if self._metrics_dir is not None:
            with contextlib.suppress(Exception):
                from prometheus_client import multiprocess

                multiprocess.mark_process_dead(child.pid, self._metrics_dir)  # type: ignore[no-untyped-call]
        lived = time.monotonic() - child.started
        code = os.waitstatus_to_exitcode(status)
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"
        if self._stops:
            log = logger.info if code == 0 else logger.warning
            log("%s process %d %s", child.kind, child.pid, how)
            return
        delay = 0.0
        if code != 0 and lived < QUICK_DEATH:
            # Dying at once again and again (a bad handler module, a server that
            # refuses it): wait longer each time. Exiting 0 is being recycled.
            self._quick_deaths += 1
            delay = min(0.1 * 2 ** (self._quick_deaths - 1), 10.0)
        else:
            self._quick_deaths = 0
        log = logger.info if code == 0 else logger.warning
        log(
            "%s process %d %s after %.1fs; starting another%s",
            child.kind,
            child.pid,
            how,
            lived,
            f" in {delay:.1f}s" if delay else "",
        )
        self._pending.append((time.monotonic() + delay, child.kind, child.index))

    def _start_pending(self) -> None:
        now = time.monotonic()
        due = [p for p in self._pending if p[0] <= now]
        self._pending = [p for p in self._pending if p[0] > now]
        for _, kind, index in due:
            self._spawn(kind, index)

    def _read_report(self, child: _Child) -> None:
        if child.report is None:
            return
        try:
            while chunk := os.read(child.report, 65536):
                child.data += chunk
        except BlockingIOError:
            pass
        finally:
            os.close(child.report)
            child.report = None
        try:
            reported = json.loads(child.data) if child.data else {}
        except ValueError:
            reported = {}
        for name in NAMES:
            value = reported.get(name)
            if isinstance(value, int):
                self.totals[name] += value

    # -- children --

    def _spawn(self, kind: str, index: int) -> None:
        read, write = os.pipe() if kind == "worker" else (None, None)
        _flush_logs()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            if read is not None:
                os.close(read)
            self._child(kind, index, write)
        if write is not None:
            os.close(write)
        if read is not None:
            os.set_blocking(read, False)
        self.children[pid] = _Child(pid, kind, index, time.monotonic(), read)
        logger.debug("%s process %d started", kind, pid)

    def _child(self, kind: str, index: int, report: int | None) -> None:
        global _in_child
        _in_child = True
        code = 1
        try:
            _reset_after_fork()
            code = self._serve_metrics() if kind == "metrics" else self._run_worker(report)
        except BaseException:
            logger.exception("%s process %d failed", kind, os.getpid())
        finally:
            _flush_logs()
            os._exit(code)

    def _run_worker(self, report: int | None) -> int:
        worker = self.worker
        worker._running = False  # the supervisor's, in this copy of it
        _watch_parent(worker.stop)
        worker._stop_signals = (signal.SIGTERM, signal.SIGQUIT)
        worker._urgent_signal = signal.SIGQUIT
        worker._wrap_sink = lambda sink: _Recycler(worker, sink)
        if self._metrics_dir is not None:
            _multiprocess_values()
        counters = self.work()
        if report is not None:
            os.write(report, json.dumps(dataclasses.asdict(counters)).encode())
            os.close(report)
        return 0

    def _serve_metrics(self) -> int:
        server = self._metrics_server
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        _watch_parent(stop.set)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        while not stop.wait(0.5):
            pass
        server.httpd.shutdown()
        return 0

    # -- metrics --

    def _begin_metrics(self) -> None:
        worker = self.worker
        if not worker.metrics:
            return
        from .metrics import MetricsServer, multiprocess_registry

        given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        self._environ_before = given
        if given:
            self._metrics_dir = given
        else:
            self._metrics_dir = tempfile.mkdtemp(prefix="beanstalkm-metrics-")
            self._own_metrics_dir = True
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = self._metrics_dir
        _multiprocess_values()
        if worker.metrics_port is not None:
            registry = multiprocess_registry()
            try:
                self._metrics_server = MetricsServer.bind(
                    worker.metrics_address, worker.metrics_port, registry
                )
            except OSError as exc:
                where = f"{worker.metrics_address}:{worker.metrics_port}"
                raise OSError(
                    exc.errno, f"cannot serve metrics on {where}: {exc.strerror}"
                ) from exc

    def _end(self) -> None:
        # Whatever happened: no child left behind.
        for child in list(self.children.values()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGTERM if child.kind == "metrics" else signal.SIGKILL)
        deadline = time.monotonic() + 5
        while self.children and time.monotonic() < deadline:
            self._reap_quietly()
            time.sleep(0.02)
        if self._metrics_server is not None:
            self._metrics_server.httpd.server_close()
        if self._own_metrics_dir and self._metrics_dir is not None:
            shutil.rmtree(self._metrics_dir, ignore_errors=True)
            if os.environ.get("PROMETHEUS_MULTIPROC_DIR") == self._metrics_dir:
                del os.environ["PROMETHEUS_MULTIPROC_DIR"]

    def _reap_quietly(self) -> None:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            self.children.clear()
            return
        child = self.children.pop(pid, None)
        if child is not None:
            self._read_report(child)


def _flush_logs() -> None:
    # What is buffered would be written twice, by the parent and by the child.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()


def _reset_after_fork() -> None:
    """A forked child starts clean of its parent's signal handling and event loop."""
    with contextlib.suppress(ValueError, OSError):
        signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Ctrl-C reaches the whole process group: the supervisor passes it on as SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.events._set_running_loop(None)


def _watch_parent(stop: Callable[[], object]) -> None:
    """Call ``stop`` if the supervisor dies (killed with SIGKILL, say)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        logger.warning("process %d: the supervisor has gone; stopping", os.getpid())
        stop()

    threading.Thread(target=watch, name="beanstalkm-parent", daemon=True).start()


def _multiprocess_values() -> None:
    # prometheus-client picks how it keeps values when it is imported: if it was
    # imported before $PROMETHEUS_MULTIPROC_DIR was set, pick again.
    from prometheus_client import values

    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
