"""put, reserve, consume, peek, kick, delete and bury, through the real console script."""

from __future__ import annotations

import base64
import json
from typing import Any

from beanstalkm import Client
from beanstalkm.testing import BeanstalkdProcess

from .util import run_cli, run_cli_bytes


def records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def put_raw(client: Client, tube: str, *bodies: bytes, **kwargs: Any) -> list[int]:
    client.queue.use(tube)
    return [client.queue.put(body, **kwargs) for body in bodies]


# -- put ------------------------------------------------------------------------------


def test_put_argument_is_sent_raw(server: BeanstalkdProcess, client: Client) -> None:
    result = run_cli(server.address, "put", "hello world")
    assert result.returncode == 0, result.stderr
    [record] = records(result.stdout)  # piped: a JSON line
    assert record == {"id": record["id"], "tube": "default"}
    job = client.queue.peek(record["id"])
    assert job is not None
    assert (job.body, job.is_envelope) == ("hello world", False)


def test_put_stdin_byte_for_byte(server: BeanstalkdProcess, client: Client) -> None:
    data = b"\x00\x01binary\xff\r\n"
    result = run_cli_bytes(server.address, "put", "-t", "bin", input=data)
    assert result.returncode == 0, result.stderr
    uid = json.loads(result.stdout)["id"]
    job = client.queue.peek(uid)
    assert job is not None
    assert job.body == data  # not UTF-8: bytes, as sent
    # '-' reads stdin too
    result = run_cli_bytes(server.address, "put", "-", input=b"text\n")
    job = client.queue.peek(json.loads(result.stdout)["id"])
    assert job is not None
    assert job.body == "text\n"


def test_put_envelope(server: BeanstalkdProcess, client: Client) -> None:
    result = run_cli(server.address, "put", "--envelope", '{"to": "ada", "n": [1, 2]}', "-t", "e")
    assert result.returncode == 0, result.stderr
    job = client.queue.peek(json.loads(result.stdout)["id"])
    assert job is not None
    assert job.is_envelope
    assert job.body == {"to": "ada", "n": [1, 2]}
    assert job.sender["version"]


def test_put_envelope_needs_json(server: BeanstalkdProcess, client: Client) -> None:
    result = run_cli(server.address, "put", "--envelope", "not json")
    assert result.returncode == 2
    assert "the body is not JSON" in result.stderr
    assert client.queue.stats()["cmd-put"] == 0


def test_put_lines(server: BeanstalkdProcess, client: Client) -> None:
    result = run_cli(server.address, "put", "--lines", "-t", "l", input="one\n\ntwo\r\nthree")
    assert result.returncode == 0, result.stderr
    ids = [r["id"] for r in records(result.stdout)]
    assert len(ids) == 3
    bodies = []
    for uid in ids:
        job = client.queue.peek(uid)
        assert job is not None
        bodies.append(job.body)
    assert bodies == ["one", "two", "three"]
    result = run_cli(server.address, "put", "--lines", "--envelope", input='{"a":1}\n[2]\n')
    assert result.returncode == 0, result.stderr
    result = run_cli(
        server.address, "put", "--lines", "--envelope", "-t", "e", input='{"a":1}\noops\n[3]\n'
    )
    assert result.returncode == 2  # bad input, as for a single body
    assert "line 2 is not JSON" in result.stderr
    assert "1 line was not put" in result.stderr
    assert len(records(result.stdout)) == 2  # the stream goes on past the bad line
    assert client.queue.stats_tube("e")["current-jobs-ready"] == 2


def test_put_options(server: BeanstalkdProcess, client: Client) -> None:
    args = ["put", "x", "-t", "opts", "--priority", "7", "--delay", "30", "--ttr", "9"]
    result = run_cli(server.address, *args)
    stats = client.queue.stats_job(json.loads(result.stdout)["id"])
    assert (stats["tube"], stats["pri"], stats["delay"], stats["ttr"], stats["state"]) == (
        "opts", 7, 30, 9, "delayed",
    )  # fmt: skip


def test_put_table_output(server: BeanstalkdProcess) -> None:
    result = run_cli(server.address, "put", "x", "-t", "emails", "--table")
    assert result.stdout == "put job 1 into emails\n"


def test_put_too_big(small_server: BeanstalkdProcess) -> None:
    result = run_cli(small_server.address, "put", "x" * 2000)
    assert result.returncode == 1
    assert "2000 bytes is bigger than the server's max-job-size" in result.stderr


# -- reserve and consume --------------------------------------------------------------


def test_reserve_prints_and_releases(server: BeanstalkdProcess, client: Client) -> None:
    [uid] = put_raw(client, "default", b'{"k": "v"}')
    result = run_cli(server.address, "reserve")
    assert result.returncode == 0, result.stderr
    assert records(result.stdout) == [
        {"id": uid, "tube": "default", "body": {"k": "v"}, "envelope": False, "size": 10}
    ]
    stats = client.queue.stats_job(uid)
    assert (stats["state"], stats["reserves"], stats["releases"]) == ("ready", 1, 1)


def test_reserve_envelope_record(server: BeanstalkdProcess, client: Client) -> None:
    message = client.put({"to": "ada"}, tube="e")
    [record] = records(run_cli(server.address, "reserve", "-t", "e", "--delete").stdout)
    assert record["id"] == message.uid
    assert record["body"] == {"to": "ada"}
    assert record["envelope"] is True
    assert record["created"].endswith("Z")
    assert record["sender"]["pid"] == message.sender["pid"]
    assert client.queue.peek(message.uid) is None


def test_reserve_count_delete_bury(server: BeanstalkdProcess, client: Client) -> None:
    ids = put_raw(client, "t", b"1", b"2", b"3", b"4")
    result = run_cli(server.address, "reserve", "-t", "t", "-n", "2", "--delete")
    assert [r["id"] for r in records(result.stdout)] == ids[:2]
    result = run_cli(server.address, "reserve", "-t", "t", "--bury")
    assert [r["id"] for r in records(result.stdout)] == ids[2:3]
    assert client.queue.stats_job(ids[2])["state"] == "buried"
    # kept jobs stay reserved until the end, so --count gives distinct jobs
    put_raw(client, "u", b"a", b"b")
    result = run_cli(server.address, "reserve", "-t", "u", "-n", "5", "--timeout", "0")
    assert [r["body"] for r in records(result.stdout)] == ["a", "b"]
    assert client.queue.stats_tube("u")["current-jobs-ready"] == 2


def test_reserve_nothing_exits_3(server: BeanstalkdProcess) -> None:
    result = run_cli(server.address, "reserve", "-t", "none", "--timeout", "0")
    assert (result.returncode, result.stdout) == (3, "")
    assert result.stderr == "beanstalkm reserve: no job came within 0s from none\n"


def test_reserve_from_several_tubes_names_the_tube(
    server: BeanstalkdProcess, client: Client
) -> None:
    put_raw(client, "b", b"from b")
    [record] = records(run_cli(server.address, "reserve", "-t", "a", "-t", "b").stdout)
    assert (record["tube"], record["body"]) == ("b", "from b")


def test_reserve_binary_body(server: BeanstalkdProcess, client: Client) -> None:
    data = b"\x89PNG\x00\xff"
    put_raw(client, "bin", data)
    [record] = records(run_cli(server.address, "reserve", "-t", "bin").stdout)
    assert record["base64"] is True
    assert base64.b64decode(record["body"]) == data
    raw = run_cli_bytes(server.address, "reserve", "-t", "bin", "--raw")
    assert raw.stdout == data + b"\n"


def test_consume_deletes_until_idle(server: BeanstalkdProcess, client: Client) -> None:
    ids = put_raw(client, "c", *[b"%d" % n for n in range(5)])
    result = run_cli(server.address, "consume", "-t", "c", "--timeout", "0")
    assert result.returncode == 0, result.stderr
    assert [r["id"] for r in records(result.stdout)] == ids
    assert client.queue.stats_tube("c")["current-jobs-ready"] == 0
    assert client.queue.stats()["cmd-delete"] == 5


def test_consume_count_and_no_delete(server: BeanstalkdProcess, client: Client) -> None:
    put_raw(client, "c", *[b"%d" % n for n in range(5)])
    result = run_cli(server.address, "consume", "-t", "c", "-n", "2")
    assert len(records(result.stdout)) == 2
    result = run_cli(server.address, "consume", "-t", "c", "--no-delete", "--timeout", "0")
    assert [r["body"] for r in records(result.stdout)] == [2, 3, 4]  # JSON bodies decoded
    assert client.queue.stats_tube("c")["current-jobs-ready"] == 3


def test_reserve_table_output(server: BeanstalkdProcess, client: Client) -> None:
    put_raw(client, "default", b'{"a": 1}')
    result = run_cli(server.address, "reserve", "--table")
    header, *body = result.stdout.splitlines()
    assert header == "job 1 | tube default | raw, 8 bytes"
    assert body == ["{", '  "a": 1', "}"]


# -- peek -----------------------------------------------------------------------------


def test_peek_states_and_ids(server: BeanstalkdProcess, client: Client) -> None:
    ready, delayed, buried = put_raw(client, "p", b"ready", b"delayed", b"buried")
    client.queue.release(client.queue.reserve_job(delayed).uid, 1, 60)
    client.queue.reserve_job(buried).bury()
    for args, uid, state in [
        (["--ready"], ready, "ready"),
        ([], ready, "ready"),
        (["--delayed"], delayed, "delayed"),
        (["--buried"], buried, "buried"),
        ([str(buried)], buried, "buried"),
    ]:
        result = run_cli(server.address, "peek", "-t", "p", *args)
        assert result.returncode == 0, result.stderr
        [record] = records(result.stdout)
        assert (record["id"], record["tube"], record["stats"]["state"]) == (uid, "p", state)
    assert client.queue.stats_job(ready)["reserves"] == 0  # peeking reserves nothing


def test_peek_nothing(server: BeanstalkdProcess) -> None:
    result = run_cli(server.address, "peek", "--buried", "-t", "p")
    assert (result.returncode, result.stderr) == (3, "beanstalkm peek: no buried job in tube p\n")
    result = run_cli(server.address, "peek", "99")
    assert (result.returncode, result.stderr) == (3, "beanstalkm peek: job 99 not found\n")
    result = run_cli(server.address, "peek", "1", "--ready")
    assert result.returncode == 2
    assert "a job id or a state, not both" in result.stderr


def test_peek_table(server: BeanstalkdProcess, client: Client) -> None:
    client.put("hi there", tube="p", priority=5)
    result = run_cli(server.address, "peek", "-t", "p", "--table")
    header, body = result.stdout.splitlines()
    assert header.startswith("job 1 | tube p | ready | priority 5 | age 0s | ttr 120s")
    assert "| envelope | created " in header
    assert body == "hi there"


# -- kick, delete, bury ---------------------------------------------------------------


def test_kick_bound_all_and_job(server: BeanstalkdProcess, client: Client) -> None:
    ids = put_raw(client, "k", b"1", b"2", b"3", b"4")
    for uid in ids:
        client.queue.reserve_job(uid).bury()
    result = run_cli(server.address, "kick", "1", "-t", "k")
    assert records(result.stdout) == [{"tube": "k", "kicked": 1}]
    result = run_cli(server.address, "kick", "--job", str(ids[3]), "--table")
    assert result.stdout == f"kicked job {ids[3]}\n"
    result = run_cli(server.address, "kick", "--all", "-t", "k", "--table")
    assert result.stdout == "kicked 2 jobs in k\n"
    assert client.queue.stats_tube("k")["current-jobs-ready"] == 4


def test_kick_errors(server: BeanstalkdProcess) -> None:
    result = run_cli(server.address, "kick")
    assert result.returncode == 2
    assert "--all" in result.stderr
    result = run_cli(server.address, "kick", "--job", "42")
    assert result.returncode == 3
    assert "job 42 not found, or not buried or delayed" in result.stderr


def test_delete(server: BeanstalkdProcess, client: Client) -> None:
    a, b = put_raw(client, "d", b"a", b"b")
    result = run_cli(server.address, "delete", str(a), "999", str(b))
    assert result.returncode == 3
    assert records(result.stdout) == [{"id": a, "deleted": True}, {"id": b, "deleted": True}]
    assert result.stderr == "beanstalkm delete: job 999 not found (or reserved by a worker)\n"
    assert client.queue.stats()["current-jobs-ready"] == 0


def test_bury_by_id(server: BeanstalkdProcess, client: Client, other: Client) -> None:
    a, b = put_raw(client, "b", b"a", b"b")
    other.queue.reserve_job(b)  # a worker holds b
    result = run_cli(server.address, "bury", str(a), str(b), "--priority", "3")
    assert result.returncode == 3
    assert records(result.stdout) == [{"id": a, "buried": True}]
    assert "job " + str(b) + " not found (or reserved by a worker)" in result.stderr
    stats = client.queue.stats_job(a)
    assert (stats["state"], stats["pri"]) == ("buried", 3)
    assert client.queue.stats_job(b)["state"] == "reserved"
