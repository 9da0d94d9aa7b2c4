"""The console's HTTP API against real beanstalkd servers: the live state, tubes,
jobs, search, and every action, with servers that are down among them."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from beanstalkm import Client
from beanstalkm.testing import BeanstalkdProcess

from .conftest import NO_AIOHTTP, Console, ConsoleFactory, bury, counts, put, tube_row

pytest.importorskip("aiohttp", reason=NO_AIOHTTP)


@pytest.fixture
def second() -> Iterator[BeanstalkdProcess]:
    """Another real beanstalkd: the console then shows a pool of two."""
    process = BeanstalkdProcess()
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def silent() -> Iterator[tuple[str, int]]:
    """An address that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()


def closed_port() -> tuple[str, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        host, port = s.getsockname()
        return host, port


# -- pages and the live state -----------------------------------------------------------


def test_pages_and_their_files_are_served(console: Console) -> None:
    pages = [("", "text/html"), ("tube?name=x", "text/html"), ("static/console.css", "text/css")]
    scripts = [(f"static/{n}.js", "text/javascript") for n in ("overview", "tube", "common")]
    for path, kind in pages + scripts:
        reply = console.get(path)
        assert reply.status == 200, path
        assert reply.headers["Content-Type"].startswith(kind)
    assert console.get("static/nothing.js").status == 404
    assert console.get("static/..%2Fapp.py").status == 404


def test_the_pages_load_nothing_from_elsewhere(console: Console) -> None:
    """Works offline: every script, style sheet and image is the console's own."""
    for path in ("", "tube?name=x"):
        html = console.get(path).body.decode()
        assert "http://" not in html and "https://" not in html  # noqa: PT018
    for name in ("overview.js", "tube.js", "common.js", "charts.js", "console.css"):
        text = console.get(f"static/{name}").body.decode()
        assert "https://" not in text
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text  # noqa: PT018


def test_config(console: Console, server: BeanstalkdProcess) -> None:
    data = console.get("api/config").data
    assert data["servers"] == [{"index": 0, "address": f"127.0.0.1:{server.port}"}]
    assert data["read_only"] is False
    assert len(data["csrf"]) >= 32
    assert "ready" in data["tube_columns"]


def test_a_frame_shows_the_servers_stats_and_each_tube(console: Console, beanstalk: Client) -> None:
    put(beanstalk, "emails", b"a", b"b", b"c")
    bury(beanstalk, "emails", b"d")
    put(beanstalk, "emails", b"later", delay=600)
    frame = console.frame_until(lambda f: (tube_row(f, "emails") or {}).get("delayed") == 1)
    row = tube_row(frame, "emails")
    assert row is not None
    assert (row["ready"], row["reserved"], row["delayed"], row["buried"]) == (3, 0, 1, 1)
    assert row["total"] == 5
    [one] = frame["servers"]
    assert one["up"] is True
    assert one["stats"]["version"]
    assert one["stats"]["current-jobs-ready"] == 3
    assert frame["total"]["stats"]["current-jobs-buried"] == 1


def test_rates_count_puts_and_deletes_but_not_the_consoles_own_commands(
    console: Console, beanstalk: Client
) -> None:
    frame = console.frame_until(lambda f: f["servers"][0]["rates"]["commands"] is not None)
    first = frame["seq"]
    # Frames with nothing happening: the sampler's own commands are not counted.
    frame = console.frame_until(lambda f: f["seq"] >= first + 2)
    assert frame["servers"][0]["rates"]["commands"] == 0
    put(beanstalk, "emails", *[b"x"] * 50)
    frame = console.frame_until(lambda f: (f["total"]["rates"]["put"] or 0) > 0)
    assert frame["servers"][0]["rates"]["commands"] > 0
    assert (tube_row(frame, "emails") or {})["put"] > 0


def test_the_event_stream_sends_a_frame_at_once_then_each_new_one(
    console: Console, beanstalk: Client
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", console.port, timeout=10)
    try:
        connection.request("GET", "/api/events")
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type", "").startswith("text/event-stream")

        def frames() -> Iterator[dict[str, Any]]:
            event = ""
            while True:
                line = response.readline().decode()
                if line.startswith("event: "):
                    event = line[7:].strip()
                elif line.startswith("data: ") and event == "frame":
                    yield json.loads(line[6:])

        stream = frames()
        first = next(stream)
        put(beanstalk, "seen-live", b"x")
        deadline = time.monotonic() + 10
        for frame in stream:
            assert frame["seq"] > first["seq"] or frame is first
            if "seen-live" in frame["tubes"]:
                break
            assert time.monotonic() < deadline, "the put never showed"
    finally:
        connection.close()


def test_history_keeps_the_points_of_the_window(
    make_console: ConsoleFactory, server: BeanstalkdProcess
) -> None:
    console = make_console([server.address], interval=0.1, window=0.5)
    console.frame_until(lambda f: f["seq"] >= 8)
    points = console.get("api/history").data["points"]
    assert len(points) == 5  # the window over the interval, the oldest dropped
    times = [p["time"] for p in points]
    assert times == sorted(times)
    assert set(points[-1]) == {"time", "servers", "total", "tubes"}


# -- servers that are down -----------------------------------------------------------------


def test_a_server_that_refuses_is_shown_down_and_the_others_still_work(
    make_console: ConsoleFactory, server: BeanstalkdProcess, beanstalk: Client
) -> None:
    refused = closed_port()
    console = make_console([server.address, refused])
    put(beanstalk, "emails", b"hello")
    frame = console.frame_until(lambda f: "emails" in f["tubes"])
    up, down = frame["servers"]
    assert up["up"] is True
    assert down == {
        "index": 1, "address": f"127.0.0.1:{refused[1]}", "up": False,
        "error": down["error"],
    }  # fmt: skip
    assert "cannot connect" in down["error"]
    assert frame["total"]["up"] == 1
    assert frame["tubes"]["emails"][2] is None  # nothing known there
    assert console.get("").status == 200
    tube = console.get("api/tube", name="emails").data
    assert [s["up"] for s in tube["servers"]] == [True, False]
    assert tube["servers"][0]["jobs"]["ready"]["body"] == "hello"
    report = console.act("api/kick", {"tube": "emails", "count": 5})
    assert report["servers"][1]["error"].startswith("cannot connect")


def test_a_server_that_does_not_answer_is_shown_down_in_time(
    make_console: ConsoleFactory, server: BeanstalkdProcess, silent: tuple[str, int]
) -> None:
    console = make_console([server.address, silent], timeout=0.5)
    frame = console.frame_until(lambda f: f["seq"] >= 2)
    assert frame["servers"][0]["up"] is True
    assert frame["servers"][1]["up"] is False
    assert "timed out" in frame["servers"][1]["error"]


def test_a_server_that_comes_back_is_shown_up_again(
    make_console: ConsoleFactory, server: BeanstalkdProcess
) -> None:
    console = make_console([server.address])
    console.frame_until(lambda f: f["servers"][0]["up"])
    server.stop()
    console.frame_until(lambda f: not f["servers"][0]["up"])
    server.start()
    console.frame_until(lambda f: f["servers"][0]["up"])


# -- tubes and jobs -------------------------------------------------------------------------


def test_a_tube_shows_its_next_ready_delayed_and_buried_job(
    console: Console, beanstalk: Client
) -> None:
    put(beanstalk, "mixed", b'{"to": "ada", "n": 1}')
    put(beanstalk, "mixed", b"\x00\xff\x10binary", delay=600)
    bury(beanstalk, "mixed", b"plain text")
    data = console.get("api/tube", name="mixed").data
    [one] = data["servers"]
    assert one["stats"]["current-jobs-ready"] == 1
    ready, delayed, buried = (one["jobs"][s] for s in ("ready", "delayed", "buried"))
    assert (ready["format"], ready["body"]) == ("json", '{\n  "to": "ada",\n  "n": 1\n}')
    assert delayed["format"] == "hex"
    assert delayed["body"].startswith("00000000  00 ff 10 62")
    assert (buried["format"], buried["body"]) == ("text", "plain text")
    assert buried["stats"]["state"] == "buried"
    assert delayed["stats"]["delay"] == 600


def test_an_envelope_shows_its_fields_apart_from_its_body(
    console: Console, beanstalk: Client
) -> None:
    beanstalk.put({"to": "ada"}, tube="env", subscribe="replies")
    job = console.get("api/tube", name="env").data["servers"][0]["jobs"]["ready"]
    assert job["kind"] == "envelope"
    assert job["body"] == '{\n  "to": "ada"\n}'
    assert job["envelope"]["subscribe"] == '"replies"'
    assert job["envelope"]["created"].endswith("Z")
    assert '"pid"' in job["envelope"]["sender"]


def test_a_missing_tube_and_a_bad_name(console: Console) -> None:
    assert console.get("api/tube", name="nothing-here").status == 404
    reply = console.get("api/tube", name="bad name")
    assert reply.status == 400
    assert "tube" in reply.data["error"]


def test_a_long_body_is_cut_and_can_be_had_whole(console: Console, beanstalk: Client) -> None:
    body = ("x" * 100 + "\n") * 100
    [uid] = put(beanstalk, "long", body.encode())
    shown = console.get("api/tube", name="long").data["servers"][0]["jobs"]["ready"]
    assert shown["truncated"] is True
    assert len(shown["body"]) == 4096
    whole = console.get("api/job", server=0, id=uid, full=1).data
    assert (whole["truncated"], whole["body"]) == (False, body)
    download = console.get("api/job/body", server=0, id=uid)
    assert download.body == body.encode()
    assert download.headers["Content-Disposition"] == f'attachment; filename="job-{uid}.txt"'
    assert "sandbox" in download.headers["Content-Security-Policy"]


def test_binary_bodies_download_as_bytes(console: Console, beanstalk: Client) -> None:
    [uid] = put(beanstalk, "bin", bytes(range(256)) * 8)
    shown = console.get("api/job", server=0, id=uid).data
    assert (shown["format"], shown["truncated"]) == ("hex", True)
    download = console.get("api/job/body", server=0, id=uid)
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.body == bytes(range(256)) * 8


def test_a_job_that_is_gone(console: Console, beanstalk: Client) -> None:
    [uid] = put(beanstalk, "gone", b"x")
    beanstalk.queue.delete(uid)
    assert console.get("api/job", server=0, id=uid).status == 404
    assert console.get("api/job", server=5, id=uid).status == 400
    assert console.get("api/job", server=0, id="x").status == 400


def test_control_and_direction_characters_are_shown_escaped(
    console: Console, beanstalk: Client
) -> None:
    put(beanstalk, "odd", "evil\x1b[2J\u202egnp.exe".encode())
    job = console.get("api/tube", name="odd").data["servers"][0]["jobs"]["ready"]
    assert job["body"] == "evil\\x1b[2J\\u202egnp.exe"


# -- search -----------------------------------------------------------------------------------


def test_search_by_text_and_by_json_path(console: Console, beanstalk: Client) -> None:
    ids = put(
        beanstalk,
        "orders",
        *[json.dumps({"n": n, "who": f"user{n % 3}"}).encode() for n in range(30)],
    )
    bury(beanstalk, "orders", b'{"n": 99, "who": "Needle"}')
    put(beanstalk, "other", b'{"n": 99, "who": "needle"}')
    found = console.get("api/search", tube="orders", text="needle").data["results"][0]
    assert (found["matched"], found["examined"], found["stopped"]) == (1, 31, "complete")
    assert found["jobs"][0]["stats"]["state"] == "buried"
    found = console.get("api/search", tube="orders", path="$.who", value="user1").data
    assert [j["id"] for j in found["results"][0]["jobs"]] == [ids[n] for n in range(1, 30, 3)]
    found = console.get("api/search", tube="orders", path="$.n", value="7").data["results"][0]
    assert [j["id"] for j in found["jobs"]] == [ids[7]]
    found = console.get("api/search", tube="orders", path="$.n", value="99", states="ready").data
    assert found["results"][0]["matched"] == 0
    assert (
        console.get("api/search", tube="orders", path="$.missing").data["results"][0]["matched"]
        == 0
    )


def test_search_stops_at_its_limit_and_goes_on_from_there(
    console: Console, beanstalk: Client
) -> None:
    put(beanstalk, "many", *[b"hay"] * 40, b"needle", *[b"hay"] * 40)
    first = console.get("api/search", tube="many", text="needle", limit=20).data["results"][0]
    assert (first["examined"], first["stopped"], first["matched"]) == (20, "limit", 0)
    found, result = 0, first
    for _ in range(10):
        result = console.get(
            "api/search", tube="many", text="needle", limit=20, server=0,
            low=result["low"], high=result["high"], seen=result["seen"],
        ).data["results"][0]  # fmt: skip
        found += result["matched"]
        if result["stopped"] == "complete":
            break
    assert (found, result["stopped"], result["seen"]) == (1, "complete", 81)


def test_search_refuses_what_it_cannot_do(console: Console, beanstalk: Client) -> None:
    put(beanstalk, "t", b"x")
    assert console.get("api/search", tube="t").status == 400  # nothing to look for
    assert console.get("api/search", tube="t", path="user.id").status == 400
    assert console.get("api/search", tube="t", text="x", limit=0).status == 400
    assert console.get("api/search", tube="t", text="x", states="gone").status == 400
    missing = console.get("api/search", tube="nope", text="x").data["results"][0]
    assert missing["missing"] is True


# -- actions ----------------------------------------------------------------------------------


def test_kick_and_kick_a_job(console: Console, beanstalk: Client) -> None:
    ids = bury(beanstalk, "k", *[b"x"] * 5)
    report = console.act("api/kick", {"tube": "k", "count": 3})
    assert report["message"] == "kicked 3 jobs in k"
    assert counts(beanstalk, "k")["buried"] == 2
    console.act("api/kick-job", {"server": 0, "id": ids[-1]})
    assert counts(beanstalk, "k")["buried"] == 1
    again = console.post("api/kick-job", {"server": 0, "id": ids[-1]})
    assert again.status == 404
    assert console.post("api/kick", {"tube": "k", "count": 0}).status == 400


def test_delete_a_job(console: Console, beanstalk: Client) -> None:
    ready, reserved = put(beanstalk, "d", b"x", b"y")
    beanstalk.queue.reserve_job(reserved)
    assert console.act("api/delete-job", {"server": 0, "id": ready})["message"] == (
        f"deleted job {ready} on {console.get('api/config').data['servers'][0]['address']}"
    )
    refused = console.post("api/delete-job", {"server": 0, "id": reserved})
    assert refused.status == 404
    assert "reserved" in refused.data["error"]


def test_delete_every_buried_job(console: Console, beanstalk: Client) -> None:
    bury(beanstalk, "b", *[b"x"] * 1200)
    put(beanstalk, "b", b"stays")
    report = console.act("api/delete-buried", {"tube": "b"})
    assert report["message"] == "deleted 1,200 buried jobs of b"
    assert counts(beanstalk, "b") == {"ready": 1, "reserved": 0, "delayed": 0, "buried": 0}


def test_pause_and_resume(console: Console, beanstalk: Client) -> None:
    put(beanstalk, "p", b"x")
    assert console.act("api/pause", {"tube": "p", "seconds": 300})["message"] == (
        "paused p for 300 seconds"
    )
    assert beanstalk.queue.stats_tube("p")["pause"] == 300
    assert console.act("api/pause", {"tube": "p", "seconds": 0})["message"] == "resumed p"
    assert beanstalk.queue.stats_tube("p")["pause"] == 0
    assert console.post("api/pause", {"tube": "none", "seconds": 5}).status == 404


def test_move_keeps_each_jobs_state(console: Console, beanstalk: Client) -> None:
    put(beanstalk, "src", *[b"r"] * 3)
    put(beanstalk, "src", b"d", delay=600)
    bury(beanstalk, "src", b"b1", b"b2")
    report = console.act("api/move", {"tube": "src", "target": "dst"})
    assert report["message"] == "moved 6 jobs from src to dst"
    assert counts(beanstalk, "src") == dict.fromkeys(("ready", "reserved", "delayed", "buried"), 0)
    assert counts(beanstalk, "dst") == {"ready": 3, "reserved": 0, "delayed": 1, "buried": 2}
    beanstalk.queue.use("dst")
    assert beanstalk.queue.peek_buried().body == "b1"  # type: ignore[union-attr]


def test_move_some_states_and_at_most_a_count(console: Console, beanstalk: Client) -> None:
    put(beanstalk, "src", *[b"r"] * 5)
    bury(beanstalk, "src", b"b")
    report = console.act(
        "api/move", {"tube": "src", "target": "dst", "states": ["ready"], "count": 2}
    )
    assert report["servers"][0]["moved"] == {"ready": 2}
    assert counts(beanstalk, "src")["ready"] == 3
    assert counts(beanstalk, "src")["buried"] == 1
    for bad in ({"target": "src"}, {"target": "dst", "states": ["reserved"]},
                {"target": "dst", "count": 0}, {"target": "no good"}):  # fmt: skip
        assert console.post("api/move", {"tube": "src", **bad}).status == 400, bad
    assert console.post("api/move", {"tube": "absent", "target": "dst"}).status == 404


def test_put_raw_and_in_an_envelope(console: Console, beanstalk: Client) -> None:
    raw = console.act(
        "api/put", {"tube": "in", "body": "hello", "priority": 5, "delay": 0, "ttr": 60}
    )
    uid = raw["servers"][0]["id"]
    job = beanstalk.queue.peek(uid)
    assert job is not None and job.body == "hello"  # noqa: PT018
    assert beanstalk.queue.stats_job(uid)["pri"] == 5
    sent = console.act("api/put", {"tube": "in", "body": '{"to": "ada"}', "envelope": True})
    message = beanstalk.queue.peek(sent["servers"][0]["id"])
    assert message is not None and message.is_envelope and message.body == {"to": "ada"}  # noqa: PT018
    assert console.post("api/put", {"tube": "in", "body": "{no", "envelope": True}).status == 400
    assert console.post("api/put", {"tube": "in", "body": "x", "ttr": -1}).status == 400


def test_put_a_job_too_big(make_console: ConsoleFactory, small_server: BeanstalkdProcess) -> None:
    console = make_console([small_server.address])
    reply = console.post("api/put", {"tube": "in", "body": "x" * 2000})
    assert reply.status == 400
    assert "bigger" in reply.data["error"]


def test_actions_across_a_pool(
    make_console: ConsoleFactory, server: BeanstalkdProcess, second: BeanstalkdProcess
) -> None:
    console = make_console([server.address, second.address])
    with Client(*server.address) as a, Client(*second.address) as b:
        bury(a, "t", *[b"x"] * 3)
        bury(b, "t", *[b"y"] * 3)
        report = console.act("api/kick", {"tube": "t", "count": 4})
        assert [p["kicked"] for p in report["servers"]] == [3, 1]
        frame = console.frame_until(lambda f: (tube_row(f, "t") or {}).get("ready") == 4)
        assert (tube_row(frame, "t", 0) or {})["ready"] == 3
        assert (tube_row(frame, "t", 1) or {})["buried"] == 2
        assert console.act("api/delete-buried", {"tube": "t", "server": 1})["message"] == (
            "deleted 2 buried jobs of t"
        )
        console.act("api/put", {"tube": "t", "body": "there", "server": 1})
        assert counts(b, "t")["ready"] == 2
        console.act("api/pause", {"tube": "t", "seconds": 60})
        assert a.queue.stats_tube("t")["pause"] == b.queue.stats_tube("t")["pause"] == 60


def test_actions_refuse_what_is_not_json(console: Console) -> None:
    reply = console.request(
        "POST", "api/kick", b"tube=x", {"Content-Type": "application/x-www-form-urlencoded",
                                         "X-CSRF-Token": console.csrf},
    )  # fmt: skip
    assert reply.status == 400
    assert console.post("api/kick", ["not", "an", "object"]).status == 400
