"""The console's HTTP side: pages, the JSON API, the live stream, and the actions.

Pages are static files (:mod:`beanstalkm.web.static`): the page asks the API for
what to show and builds the document with text nodes only. The API:

- ``GET api/config``: servers, read-only, the CSRF token, the frame's columns;
- ``GET api/frame`` and ``GET api/events`` (server-sent events, a ``frame`` event
  each interval): the live state (:mod:`.sampler`); ``GET api/history``: the points
  of the last minutes, for the charts;
- ``GET api/tube?name=``: a tube on each server, its stats and its next ready,
  delayed and buried job; ``GET api/job?server=&id=`` a job (``&full=1``: the whole
  body), ``GET api/job/body?server=&id=`` its bytes as a download;
- ``GET api/search?tube=&text=&path=&value=&states=&limit=``: a bounded search;
- ``POST api/kick``, ``api/kick-job``, ``api/delete-job``, ``api/delete-buried``,
  ``api/pause``, ``api/move``, ``api/put``: the actions (:mod:`.actions`), JSON in
  and out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Final

from aiohttp import web

from ..constants import __version__
from ..errors import BeanstalkmException, NotFound
from . import actions
from .actions import ActionError
from .jobs import job_view
from .sampler import POINT_COLUMNS, TUBE_COLUMNS, Sampler
from .scan import STATES as PEEK_STATES
from .search import MAX_LIMIT, Query, parse_path, search
from .search import STATES as SEARCH_STATES
from .security import Guard
from .servers import RawMessage, Server, Servers

__all__ = ["Console", "create_app"]

#: Seconds between comments on an idle event stream, so that proxies keep it open.
KEEPALIVE: Final = 15.0
_STATIC: Final = resources.files(__package__) / "static"
_PAGES: Final = {"/": "overview.html", "/tube": "tube.html"}


@dataclass
class Console:
    """What one console serves: its servers, their sampler, and its rules."""

    servers: Servers
    sampler: Sampler
    guard: Guard

    #: The event streams open now: ended when the console stops.
    streams: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def read_only(self) -> bool:
        """Whether every action is refused (and offered nowhere)."""
        return self.guard.read_only


_KEY: Final = web.AppKey("console", Console)


def _console(request: web.Request) -> Console:
    return request.app[_KEY]


class _BadRequest(Exception):
    pass


def _int(query: Mapping[str, str], name: str, default: int | None = None) -> int:
    text = query.get(name)
    if text is None or text == "":
        if default is None:
            raise _BadRequest(f"{name} is missing")
        return default
    try:
        return int(text)
    except ValueError:
        raise _BadRequest(f"{name} must be a whole number, not {text!r}") from None


def _server(console: Console, value: object) -> Server:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _BadRequest("server must be a server's number")
    try:
        return console.servers.get(value)
    except LookupError as exc:
        raise _BadRequest(str(exc)) from None


def _servers(console: Console, value: object) -> list[Server]:
    """Every server (``None`` or absent), or the one numbered ``value``."""
    return list(console.servers) if value is None else [_server(console, value)]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda v: json.dumps(v, default=str))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bad input and the servers' refusals as JSON errors, never a traceback."""
    try:
        return await handler(request)
    except _BadRequest as exc:
        return _json({"error": str(exc)}, 400)
    except ActionError as exc:
        return _json({"error": str(exc)}, exc.status)
    except NotFound as exc:
        return _json({"error": str(exc)}, 404)
    except (BeanstalkmException, OSError, asyncio.TimeoutError) as exc:
        return _json({"error": str(exc) or type(exc).__name__}, 502)


# -- pages and configuration --


async def page(request: web.Request) -> web.StreamResponse:
    """The overview or the tube page (static: they fetch what they show)."""
    name = _PAGES[request.path]
    body = (_STATIC / name).read_bytes()
    response = web.Response(body=body, content_type="text/html", charset="utf-8")
    response.enable_compression()
    return response


async def static(request: web.Request) -> web.StreamResponse:
    """The pages' scripts and style sheet."""
    name = request.match_info["name"]
    types = {".js": "text/javascript", ".css": "text/css"}
    kind = types.get(name[name.rfind(".") :]) if "." in name else None
    resource = _STATIC / name
    if kind is None or "/" in name or not resource.is_file():
        raise web.HTTPNotFound()
    response = web.Response(body=resource.read_bytes(), content_type=kind, charset="utf-8")
    response.enable_compression()
    return response


async def config(request: web.Request) -> web.StreamResponse:
    """What the pages need to know before they ask for anything else."""
    console = _console(request)
    return _json(
        {
            "version": __version__,
            "read_only": console.read_only,
            "csrf": console.guard.csrf,
            "servers": [s.describe() for s in console.servers],
            "interval": console.sampler.interval,
            "points": console.sampler.points.maxlen,
            "tube_columns": TUBE_COLUMNS,
            "point_columns": POINT_COLUMNS,
            "peek_states": PEEK_STATES,
            "search_states": SEARCH_STATES,
            "search_limit": MAX_LIMIT,
        }
    )


# -- the live state --


async def frame(request: web.Request) -> web.StreamResponse:
    """The newest frame (sampled now when there is none yet)."""
    sampler = _console(request).sampler
    return _json(sampler.frame or await sampler.sample())


async def history(request: web.Request) -> web.StreamResponse:
    """The points of the last minutes."""
    response = _json({"points": list(_console(request).sampler.points)})
    response.enable_compression()
    return response


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the newest frame now, then each new frame."""
    sampler = _console(request).sampler
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    await response.prepare(request)
    task = asyncio.current_task()
    streams = _console(request).streams
    if task is not None:
        streams.add(task)
    seen = -1
    current = sampler.frame
    try:
        while True:
            if current is not None and current["seq"] != seen:
                seen = current["seq"]
                data = json.dumps(current, default=str, separators=(",", ":"))
                await response.write(f"event: frame\ndata: {data}\n\n".encode())
            try:
                current = await asyncio.wait_for(sampler.wait(seen), KEEPALIVE)
            except asyncio.TimeoutError:
                await response.write(b": keep-alive\n\n")
    except (asyncio.CancelledError, ConnectionResetError):
        return response  # the console stops, or the page went away
    finally:
        if task is not None:
            streams.discard(task)


# -- tubes and jobs --


async def _peeks(server: Server, tube: str) -> dict[str, Any]:
    """A tube on one server: its stats and its next ready, delayed and buried job."""
    client = server.client
    pipeline = client.pipeline().stats_tube(tube).use(tube)
    for state in PEEK_STATES:
        getattr(pipeline, f"peek_{state}")()
    results = await pipeline.execute()
    stats = results[0]
    if isinstance(stats, NotFound):
        return {"stats": None, "jobs": dict.fromkeys(PEEK_STATES)}
    if isinstance(stats, BaseException):
        raise stats
    messages = dict(zip(PEEK_STATES, results[2:], strict=True))
    found = {state: m for state, m in messages.items() if isinstance(m, RawMessage)}
    pipeline = client.pipeline()
    for message in found.values():
        pipeline.stats_job(message.uid)
    job_stats = await pipeline.execute() if found else []
    jobs: dict[str, Any] = dict.fromkeys(PEEK_STATES)
    for (state, message), info in zip(found.items(), job_stats, strict=True):
        if isinstance(info, BaseException):
            continue  # gone between the peek and its stats
        jobs[state] = job_view(server.index, message.uid, message.raw, info)
    return {"stats": stats, "jobs": jobs}


async def tube(request: web.Request) -> web.StreamResponse:
    """A tube on each server: stats and next jobs; a server down says so."""
    console = _console(request)
    name = request.query.get("name", "")
    try:
        actions.check_tube_name(name)
    except ActionError as exc:
        raise _BadRequest(str(exc)) from None

    async def one(server: Server) -> dict[str, Any]:
        try:
            found = await asyncio.wait_for(_peeks(server, name), server.timeout)
        except (BeanstalkmException, OSError, asyncio.TimeoutError) as exc:
            return {**server.describe(), "up": False, "error": str(exc) or "timed out"}
        return {**server.describe(), "up": True, **found}

    parts = await asyncio.gather(*(one(s) for s in console.servers))
    if not any(p.get("stats") for p in parts) and all(p["up"] for p in parts):
        return _json({"error": f"tube {name} not found", "servers": parts}, 404)
    return _json({"name": name, "servers": parts})


async def _job(request: web.Request) -> tuple[Server, int, RawMessage]:
    console = _console(request)
    server = _server(console, _int(request.query, "server"))
    uid = _int(request.query, "id")
    if uid < 1:
        raise _BadRequest("id must be 1 or more")
    message = await server.client.queue.peek(uid)
    if not isinstance(message, RawMessage):
        raise NotFound("peek", "NOT_FOUND", ())
    return server, uid, message


async def job(request: web.Request) -> web.StreamResponse:
    """One job by server and id: its body (whole with ``full=1``) and stats."""
    server, uid, message = await _job(request)
    try:
        stats: Any = await server.client.queue.stats_job(uid)
    except NotFound:
        stats = None
    full = request.query.get("full") == "1"
    return _json(job_view(server.index, uid, message.raw, stats, full=full))


async def job_body(request: web.Request) -> web.StreamResponse:
    """A job's body, byte for byte, as a download that no browser renders."""
    _, uid, message = await _job(request)
    try:
        message.raw.decode("utf-8")
    except UnicodeDecodeError:
        kind, suffix = "application/octet-stream", "bin"
    else:
        kind, suffix = "text/plain", "txt"
    return web.Response(
        body=message.raw,
        content_type=kind,
        charset="utf-8" if kind == "text/plain" else None,
        headers={
            "Content-Disposition": f'attachment; filename="job-{uid}.{suffix}"',
            "Content-Security-Policy": "sandbox; default-src 'none'",
        },
    )


async def search_jobs(request: web.Request) -> web.StreamResponse:
    """Search a tube on each server (or one), within the limits given."""
    console = _console(request)
    q = request.query
    name = q.get("tube", "")
    try:
        actions.check_tube_name(name)
    except ActionError as exc:
        raise _BadRequest(str(exc)) from None
    text, path_text, value = q.get("text", ""), q.get("path", "").strip(), q.get("value")
    if not text and not path_text:
        raise _BadRequest("search for what? a text, or a JSON path")
    try:
        path = parse_path(path_text) if path_text else None
    except ValueError as exc:
        raise _BadRequest(str(exc)) from None
    states = [s for s in q.get("states", ",".join(SEARCH_STATES)).split(",") if s]
    if not states or not set(states) <= set(SEARCH_STATES):
        raise _BadRequest(f"states: some of {', '.join(SEARCH_STATES)}")
    limit = _int(q, "limit", 1000)
    if not 1 <= limit <= MAX_LIMIT:
        raise _BadRequest(f"limit: from 1 to {MAX_LIMIT:,}")
    start = None
    if "low" in q:
        start = (_int(q, "low"), _int(q, "high"), _int(q, "seen", 0))
    chosen = _servers(console, _int(q, "server") if q.get("server") else None)
    if start is not None and len(chosen) != 1:
        raise _BadRequest("going on with a search needs its server")
    query = Query(text, path, value if path is not None and value != "" else None)
    results = []
    for server in chosen:
        client = server.connect()
        try:
            found = await search(client, server.index, name, query, states, limit, start)
            results.append({**server.describe(), "up": True, **found.as_dict()})
        except NotFound:
            results.append({**server.describe(), "up": True, "missing": True})
        except (BeanstalkmException, OSError) as exc:
            results.append({**server.describe(), "up": False, "error": str(exc)})
        finally:
            await client.close()
    return _json({"tube": name, "results": results})


# -- actions --


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise _BadRequest("send JSON (Content-Type: application/json)")
    try:
        data = await request.json()
    except ValueError:
        raise _BadRequest("the request is not JSON") from None
    if not isinstance(data, dict):
        raise _BadRequest("send a JSON object")
    return data


def _action(
    run: Callable[[Console, dict[str, Any]], Awaitable[dict[str, Any]]],
) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return _json(await run(_console(request), await _body(request)))

    return handler


async def _kick(c: Console, d: dict[str, Any]) -> dict[str, Any]:
    return await actions.kick(_servers(c, d.get("server")), d.get("tube"), d.get("count"))


async def _kick_job(c: Console, d: dict[str, Any]) -> dict[str, Any]:
    return await actions.kick_job(_server(c, d.get("server")), d.get("id"))


async def _delete_job(c: Console, d: dict[str, Any]) -> dict[str, Any]:
    return await actions.delete_job(_server(c, d.get("server")), d.get("id"))


async def _delete_buried(c: Console, d: dict[str, Any]) -> dict[str, Any]:
    return await actions.delete_buried(_servers(c, d.get("server")), d.get("tube"))


async def _pause(c: Console, d: dict[str, Any]) -> dict[str, Any]:
    return await actions.pause(_servers(c, d.get("server")), d.get("tube"), d.get("seconds"))


async def _move(c: Console, d: dict[str, Any]) -> dict[str, Any]:
    return await actions.move_jobs(
        _servers(c, d.get("server")),
        d.get("tube"),
        d.get("target"),
        d.get("states", list(PEEK_STATES)),
        d.get("count"),
    )


async def _put(c: Console, d: dict[str, Any]) -> dict[str, Any]:
    return await actions.put(
        _server(c, d.get("server", 0)),
        d.get("tube"),
        d.get("body"),
        envelope=d.get("envelope") is True,
        priority=d.get("priority", 2**31),
        delay=d.get("delay", 0),
        ttr=d.get("ttr", 120),
    )


ACTIONS: Final = {
    "kick": _kick,
    "kick-job": _kick_job,
    "delete-job": _delete_job,
    "delete-buried": _delete_buried,
    "pause": _pause,
    "move": _move,
    "put": _put,
}


# -- the application --


async def _sampling(app: web.Application) -> AsyncIterator[None]:
    console = app[_KEY]
    task = asyncio.create_task(console.sampler.run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await console.servers.close()


async def _end_streams(app: web.Application) -> None:
    for task in list(app[_KEY].streams):
        task.cancel()


def create_app(console: Console) -> web.Application:
    """The aiohttp application of ``console``; sampling runs while it is served."""
    app = web.Application(middlewares=[console.guard.middleware, _errors])
    app[_KEY] = console
    app.cleanup_ctx.append(_sampling)
    app.on_shutdown.append(_end_streams)
    for path in _PAGES:
        app.router.add_get(path, page)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/api/config", config)
    app.router.add_get("/api/frame", frame)
    app.router.add_get("/api/history", history)
    app.router.add_get("/api/events", events)
    app.router.add_get("/api/tube", tube)
    app.router.add_get("/api/job", job)
    app.router.add_get("/api/job/body", job_body)
    app.router.add_get("/api/search", search_jobs)
    for name, run in ACTIONS.items():
        app.router.add_post(f"/api/{name}", _action(run))
    return app
