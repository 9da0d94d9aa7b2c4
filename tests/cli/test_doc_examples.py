"""Every example in docs/cli.md runs, and does what its comment (or its text) says.

Each command line of the page's ``sh`` and ``console`` blocks has a scenario below,
keyed by its exact text: the scenario sets up what the example assumes (jobs, files,
a module), runs the line through bash against a fresh beanstalkd, and checks the
outcome. A line added to or changed in the page without a scenario fails the test.
Where a line would take long (a 5-second timeout, a 10-second interval, 20,000
messages) or needs a fixed port, the scenario says what it changes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from beanstalkm import Client, NotFound
from beanstalkm.testing import BeanstalkdProcess, free_port

from .util import ROOT, Terminal, cli_env, wait_for

DOC = ROOT / "docs" / "cli.md"
BIN = str(Path(sys.executable).parent)


@dataclass
class Example:
    command: str
    comment: str
    #: For a console block: the lines shown after the command.
    output: list[str] = field(default_factory=list)


def examples(text: str) -> dict[str, Example]:
    """The command lines of the page's sh and console blocks, by their text."""
    found: dict[str, Example] = {}
    for kind, body in re.findall(r"^```(sh|console)\n(.*?)^```", text, re.M | re.S):
        current: Example | None = None
        for line in body.splitlines():
            if kind == "console" and not line.startswith("$ "):
                if current is not None:
                    current.output.append(line)
                continue
            if kind == "console":
                line = line[2:]
            if not line.strip() or line.startswith("#"):
                continue
            command, _, comment = line.partition("  #")
            # A command shown twice is one example; its output is the console's.
            current = found.setdefault(command.strip(), Example(command.strip(), comment.strip()))
    return found


EXAMPLES = examples(DOC.read_text(encoding="utf-8"))


@dataclass
class Doc:
    """A fresh server, a client on it, and a scratch directory to run examples in."""

    server: BeanstalkdProcess
    client: Client
    cwd: Path
    spawned: list[subprocess.Popen[str]] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        env = cli_env(self.server.address, **extra)
        env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
        return env

    def sh(
        self, line: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", line], input=input or "", capture_output=True, text=True,
            timeout=60, cwd=self.cwd, env=env or self.env(),
        )  # fmt: skip

    def ok(self, line: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        result = self.sh(line, input)
        assert result.returncode == 0, result.stderr
        return result

    def spawn(self, line: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start ``line`` in a session of its own (stopped with its children at the end)."""
        proc = subprocess.Popen(
            ["bash", "-c", line], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=self.cwd, env=env or self.env(), start_new_session=True,
        )  # fmt: skip
        self.spawned.append(proc)
        return proc

    def signal(self, proc: subprocess.Popen[str], signum: int) -> tuple[int, str, str]:
        os.killpg(proc.pid, signum)
        out, err = proc.communicate(timeout=30)
        return proc.returncode, out, err

    def put(self, tube: str, *bodies: bytes, **kwargs: Any) -> list[int]:
        self.client.queue.use(tube)
        return [self.client.queue.put(body, **kwargs) for body in bodies]

    def bury(self, tube: str, *bodies: bytes) -> list[int]:
        ids = self.put(tube, *bodies)
        for uid in ids:
            self.client.queue.reserve_job(uid).bury()
        return ids

    def fill_to(self, last_id: int) -> None:
        """Put jobs until the last one has id ``last_id`` (the examples say 42)."""
        self.put("filler", *[b"x"] * (last_id - self.put("filler", b"x")[0]))

    def counts(self, tube: str) -> tuple[int, int, int, int]:
        """Ready, delayed, buried and reserved jobs of ``tube`` (zeros if it is gone)."""
        try:
            s = self.client.queue.stats_tube(tube)
        except NotFound:
            return 0, 0, 0, 0
        return (
            s["current-jobs-ready"], s["current-jobs-delayed"],
            s["current-jobs-buried"], s["current-jobs-reserved"],
        )  # fmt: skip

    def raw(self, uid: int) -> bytes:
        result = subprocess.run(
            ["beanstalkm", "peek", str(uid), "--raw"], capture_output=True, timeout=30,
            env=self.env(),
        )  # fmt: skip
        assert result.stdout.endswith(b"\n")
        return result.stdout[:-1]

    def records(self, text: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in text.splitlines()]

    def close(self) -> None:
        for proc in self.spawned:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()


Scenario = Callable[[Doc, Example], None]
SCENARIOS: dict[str, Scenario] = {}
#: Lines that are not run, and why.
NOT_RUN = {
    "pip install beanstalkm": "installs from the package index",
    "pip install 'beanstalkm[cli]'": "installs from the package index",
}


def scenario(*commands: str) -> Callable[[Scenario], Scenario]:
    def register(function: Scenario) -> Scenario:
        for command in commands:
            SCENARIOS[command] = function
        return function

    return register


@pytest.fixture
def doc(server: BeanstalkdProcess, client: Client, tmp_path: Path) -> Iterator[Doc]:
    runner = Doc(server, client, tmp_path)
    try:
        yield runner
    finally:
        runner.close()


def test_every_example_has_a_scenario() -> None:
    assert len(EXAMPLES) > 50
    missing = sorted(set(EXAMPLES) - set(SCENARIOS) - set(NOT_RUN))
    stale = sorted(set(SCENARIOS) - set(EXAMPLES))
    assert not missing, f"examples in docs/cli.md without a scenario: {missing}"
    assert not stale, f"scenarios for examples no longer in docs/cli.md: {stale}"


@pytest.mark.parametrize("command", sorted(set(EXAMPLES) - set(NOT_RUN)))
def test_example(doc: Doc, command: str) -> None:
    SCENARIOS[command](doc, EXAMPLES[command])


# -- conventions ----------------------------------------------------------------------


@scenario(
    "export BEANSTALKD_URL=beanstalk://queue.internal:11300",
    "beanstalkm --port 11301 tubes",
    "beanstalkm tubes --url beanstalk://127.0.0.1:11400",
)
def _addresses(doc: Doc, example: Example) -> None:
    # queue.internal is this test's server, on its own port; the other ports are
    # whatever the example names, mapped to this server or to nothing.
    port = doc.server.port
    line = (
        example.command.replace("queue.internal:11300", f"127.0.0.1:{port}")
        .replace("11301", str(port))
        .replace("11400", str(port))
    )
    env = doc.env(BEANSTALKD_URL=f"beanstalk://127.0.0.1:{free_port()}")  # nothing there
    if example.command.startswith("export"):
        result = doc.sh(f"{line}; beanstalkm tubes -q", env=env)
    else:
        result = doc.sh(line, env=env)
    assert result.returncode == 0, result.stderr
    assert "default" in result.stdout


@scenario("beanstalkm stats")
def _stats(doc: Doc, example: Example) -> None:
    if example.output:  # the console block: a server that is down
        port = free_port()
        result = doc.sh(
            example.command, env=doc.env(BEANSTALKD_URL=f"beanstalk://127.0.0.1:{port}")
        )
        assert result.returncode == 1
        expected = [line.replace(":11300", f":{port}") for line in example.output]
        assert result.stdout == ""
        assert result.stderr.splitlines() == expected
    result = doc.ok(example.command)
    assert json.loads(result.stdout)["version"]


# -- several servers --------------------------------------------------------------------


@scenario(
    "export BEANSTALKD_URL=beanstalk://q1.internal:11300,beanstalk://q2.internal:11300",
    "seq 1000 | beanstalkm put --lines -t numbers",
    "beanstalkm consume -t numbers --timeout 1 > numbers.jsonl",
    "beanstalkm peek q2.internal:11300/42",
    "beanstalkm delete 42 --server q2.internal:11300",
)
def _several_servers(doc: Doc, example: Example) -> None:
    # q1 is this test's server, q2 another one.
    with BeanstalkdProcess() as (host, port), Client(host, port, timeout=5) as q2:
        q1, q2_address = f"127.0.0.1:{doc.server.port}", f"{host}:{port}"
        line = example.command.replace("q1.internal:11300", q1)
        line = line.replace("q2.internal:11300", q2_address)
        env = doc.env(BEANSTALKD_URL=f"beanstalk://{q1},beanstalk://{q2_address}")
        q2.queue.use("numbers")
        if example.command.startswith("export"):
            result = doc.sh(f"{line}; beanstalkm put x -t numbers", env=doc.env())
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout)["server"] in (q1, q2_address)
            return
        if "consume" in line:
            doc.put("numbers", b"1", b"2")
            q2.queue.put(b"3")
        elif "42" in line:
            for _ in range(42):
                q2.queue.put(b"x")
        result = doc.sh(line, env=env)
        assert result.returncode == 0, result.stderr
        if "put" in line:
            assert [
                doc.counts("numbers")[0],
                q2.queue.stats_tube("numbers")["current-jobs-ready"],
            ] == [500, 500]
        elif "consume" in line:
            jobs = doc.records((doc.cwd / "numbers.jsonl").read_text())
            assert sorted(j["body"] for j in jobs) == [1, 2, 3]
            assert {j["ref"] for j in jobs} == {f"{q1}/1", f"{q1}/2", f"{q2_address}/1"}
        elif "peek" in line:
            [job] = doc.records(result.stdout)
            assert job["ref"] == f"{q2_address}/42"
        else:
            with pytest.raises(NotFound):
                q2.queue.stats_job(42)
            assert q2.queue.stats_job(41)


# -- put ------------------------------------------------------------------------------


@scenario("beanstalkm put 'hello' --tube emails")
def _put_hello(doc: Doc, example: Example) -> None:
    [record] = doc.records(doc.ok(example.command).stdout)
    assert record["tube"] == "emails"
    assert doc.raw(record["id"]) == b"hello"


@scenario('echo \'{"to": "ada"}\' | beanstalkm put -t emails')
def _put_echo(doc: Doc, example: Example) -> None:
    [record] = doc.records(doc.ok(example.command).stdout)
    assert doc.raw(record["id"]) == b'{"to": "ada"}\n'  # the newline included


@scenario('beanstalkm put --envelope \'{"to": "ada", "subject": "Hi"}\' -t emails')
def _put_envelope(doc: Doc, example: Example) -> None:
    doc.ok(example.command)
    doc.client.queue.watch("emails")
    message = doc.client.reserve(timeout=0, drop=True)
    assert message is not None
    assert message.is_envelope
    assert message.body == {"to": "ada", "subject": "Hi"}


@scenario("beanstalkm put --lines -t urls < urls.txt")
def _put_lines(doc: Doc, example: Example) -> None:
    (doc.cwd / "urls.txt").write_text("https://a.example\n\nhttps://b.example\r\n  \nhttps://c\n")
    assert len(doc.records(doc.ok(example.command).stdout)) == 3
    assert doc.counts("urls")[0] == 3


@scenario("tail -f app.log | beanstalkm put --lines -t logs")
def _put_tail(doc: Doc, example: Example) -> None:
    log = doc.cwd / "app.log"
    log.write_text("")
    proc = doc.spawn(example.command)
    for n in range(1, 4):
        with log.open("a") as file:
            file.write(f"line {n}\n")
        wait_for(lambda n=n: doc.counts("logs")[0] == n)  # type: ignore[misc]
    doc.signal(proc, signal.SIGTERM)


@scenario("beanstalkm put -t files < report.pdf")
def _put_bytes(doc: Doc, example: Example) -> None:
    data = bytes(range(256)) * 8 + b"\r\n\x00end"
    (doc.cwd / "report.pdf").write_bytes(data)
    [record] = doc.records(doc.ok(example.command).stdout)
    assert doc.raw(record["id"]) == data


@scenario("beanstalkm put 'later' --delay 60 --priority 10 --ttr 300")
def _put_options(doc: Doc, example: Example) -> None:
    [record] = doc.records(doc.ok(example.command).stdout)
    stats = doc.client.queue.stats_job(record["id"])
    assert (stats["state"], stats["delay"], stats["pri"], stats["ttr"]) == ("delayed", 60, 10, 300)


# -- reserve and consume ----------------------------------------------------------------


@scenario("beanstalkm reserve -t emails")
def _reserve_waits(doc: Doc, example: Example) -> None:
    proc = doc.spawn(example.command)
    wait_for(lambda: doc.counts("emails") == (0, 0, 0, 0) and waiting(doc, "emails"))
    [uid] = doc.put("emails", b"hello")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert doc.records(out)[0]["body"] == "hello"
    assert doc.counts("emails")[0] == 1  # released: still there
    assert doc.client.queue.stats_job(uid)["reserves"] == 1


def waiting(doc: Doc, tube: str) -> bool:
    try:
        return doc.client.queue.stats_tube(tube)["current-waiting"] == 1
    except NotFound:
        return False


@scenario("beanstalkm reserve -t emails --timeout 5")
def _reserve_timeout(doc: Doc, example: Example) -> None:
    # 1 s instead of 5: the same exit code, sooner.
    result = doc.sh(example.command.replace("--timeout 5", "--timeout 1"))
    assert result.returncode == 3
    assert result.stderr == "beanstalkm reserve: no job came within 1s from emails\n"
    doc.put("emails", b"there")
    assert doc.ok(example.command).stdout


@scenario("beanstalkm reserve -t emails --count 10 --delete > taken.jsonl")
def _reserve_count(doc: Doc, example: Example) -> None:
    doc.put("emails", *[b"%d" % n for n in range(12)])
    doc.ok(example.command)
    taken = doc.records((doc.cwd / "taken.jsonl").read_text())
    assert [r["body"] for r in taken] == list(range(10))
    assert doc.counts("emails")[0] == 2


@scenario("beanstalkm reserve -t emails --bury")
def _reserve_bury(doc: Doc, example: Example) -> None:
    first, _ = doc.put("emails", b"one", b"two")
    doc.ok(example.command)
    assert doc.counts("emails")[:3] == (1, 0, 1)
    assert doc.client.queue.stats_job(first)["state"] == "buried"


@scenario("beanstalkm reserve -t a -t b --timeout 0")
def _reserve_either(doc: Doc, example: Example) -> None:
    doc.put("b", b"in b")
    [record] = doc.records(doc.ok(example.command).stdout)
    assert (record["tube"], record["body"]) == ("b", "in b")
    doc.client.queue.watch("b")
    doc.client.queue.reserve_with_timeout(0).delete()
    assert doc.sh(example.command).returncode == 3  # nothing ready now


@scenario("beanstalkm consume -t emails --timeout 1 > emails.jsonl")
def _consume_drain(doc: Doc, example: Example) -> None:
    doc.put("emails", *[b"%d" % n for n in range(5)])
    doc.ok(example.command)
    assert len(doc.records((doc.cwd / "emails.jsonl").read_text())) == 5
    assert doc.counts("emails") == (0, 0, 0, 0)


@scenario("beanstalkm consume -t logs --timeout 1 --raw | grep ERROR")
def _consume_grep(doc: Doc, example: Example) -> None:
    doc.put("logs", b"ERROR one", b"fine", b"ERROR two")
    assert doc.ok(example.command).stdout == "ERROR one\nERROR two\n"
    assert doc.counts("logs") == (0, 0, 0, 0)


@scenario("beanstalkm consume -t jobs --count 100 --no-delete --timeout 1")
def _consume_look(doc: Doc, example: Example) -> None:
    doc.put("jobs", b"a", b"b", b"c")
    assert [r["body"] for r in doc.records(doc.ok(example.command).stdout)] == ["a", "b", "c"]
    assert doc.counts("jobs")[0] == 3  # nothing deleted


# -- peek, kick, delete, bury -----------------------------------------------------------


@scenario("beanstalkm peek 42")
def _peek_id(doc: Doc, example: Example) -> None:
    doc.fill_to(42)
    [record] = doc.records(doc.ok(example.command).stdout)
    assert (record["id"], record["stats"]["state"]) == (42, "ready")


@scenario("beanstalkm peek --buried -t emails")
def _peek_buried(doc: Doc, example: Example) -> None:
    doc.put("emails", b"ready")
    [uid] = doc.bury("emails", b"buried")
    [record] = doc.records(doc.ok(example.command).stdout)
    assert (record["id"], record["body"], record["stats"]["state"]) == (uid, "buried", "buried")


@scenario("beanstalkm peek --delayed -t emails --json | jq '.stats.\"time-left\"'")
def _peek_jq(doc: Doc, example: Example) -> None:
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed")
    doc.put("emails", b"later", delay=60)
    assert 55 <= int(doc.ok(example.command).stdout) <= 60


@scenario("beanstalkm kick 10 -t emails")
def _kick_bound(doc: Doc, example: Example) -> None:
    doc.bury("emails", *[b"x"] * 12)
    assert doc.ok(example.command).stdout == '{"tube":"emails","kicked":10}\n'
    assert doc.counts("emails")[:3] == (10, 0, 2)


@scenario("beanstalkm kick --all -t emails")
def _kick_all(doc: Doc, example: Example) -> None:
    doc.bury("emails", *[b"x"] * 3)
    doc.put("emails", b"d", b"d", delay=600)
    assert doc.records(doc.ok(example.command).stdout) == [{"tube": "emails", "kicked": 3}]
    assert doc.records(doc.ok(example.command).stdout) == [{"tube": "emails", "kicked": 2}]
    assert doc.counts("emails")[:3] == (5, 0, 0)


@scenario("beanstalkm kick --all -t 'emails.*'")
def _kick_pattern(doc: Doc, example: Example) -> None:
    for tube in ("emails", "emails.a", "emails.b"):
        doc.bury(tube, b"x", b"y")
    kicked = doc.records(doc.ok(example.command).stdout)
    assert kicked == [{"tube": "emails.a", "kicked": 2}, {"tube": "emails.b", "kicked": 2}]
    assert doc.counts("emails")[2] == 2


@scenario("beanstalkm kick --job 42 --job 43")
def _kick_jobs(doc: Doc, example: Example) -> None:
    doc.fill_to(41)
    [buried] = doc.bury("one", b"x")
    [delayed] = doc.put("two", b"y", delay=600)
    assert (buried, delayed) == (42, 43)
    doc.ok(example.command)
    assert doc.client.queue.stats_job(42)["state"] == "ready"
    assert doc.client.queue.stats_job(43)["state"] == "ready"


@scenario("beanstalkm delete 42 43 44")
def _delete(doc: Doc, example: Example) -> None:
    doc.fill_to(44)
    doc.ok(example.command)
    for uid in (42, 43, 44):
        with pytest.raises(NotFound):
            doc.client.queue.stats_job(uid)
    assert doc.client.queue.stats_job(41)


@scenario("beanstalkm bury 42", "beanstalkm bury 42 43 --priority 0")
def _bury(doc: Doc, example: Example) -> None:
    doc.fill_to(43)
    doc.ok(example.command)
    ids = [int(word) for word in example.command.split() if word.isdigit() and word != "0"]
    for uid in ids:
        stats = doc.client.queue.stats_job(uid)
        assert stats["state"] == "buried"
        assert stats["pri"] == (0 if "--priority 0" in example.command else 2**31)


# -- tubes, stats, pause ----------------------------------------------------------------


def without_escapes(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", " ", text)


def words_of_header(lines: list[str]) -> list[str]:
    for line in lines:
        if line.strip().startswith("TUBE"):
            return line.split()
    raise AssertionError(f"no header in {lines}")


@scenario("beanstalkm tubes")
def _tubes(doc: Doc, example: Example) -> None:
    doc.put("emails", b"x")
    if example.output:  # the console block: a table on a terminal
        with Terminal(doc.server.address, *example.command.split()[1:]) as terminal:
            assert terminal.finish() == 0
        shown = [
            line for line in without_escapes(terminal.output.decode()).splitlines() if line.strip()
        ]
        assert words_of_header(shown) == words_of_header(example.output)
        assert [line.split()[0] for line in shown[-2:]] == ["default", "emails"]
    names = [r["name"] for r in doc.records(doc.ok(example.command).stdout)]
    assert names == ["default", "emails"]


@scenario("beanstalkm tubes -q")
def _tubes_quiet(doc: Doc, example: Example) -> None:
    doc.put("emails", b"x")
    assert doc.ok(example.command).stdout.splitlines() == example.output == ["default", "emails"]


@scenario("beanstalkm tubes --json")
def _tubes_json(doc: Doc, example: Example) -> None:
    doc.put("emails", b"x")
    stats = doc.records(doc.ok(example.command).stdout)
    assert [s["name"] for s in stats] == ["default", "emails"]
    assert stats[1]["current-jobs-ready"] == 1


@scenario("beanstalkm tubes 'emails.*'")
def _tubes_pattern(doc: Doc, example: Example) -> None:
    for tube in ("emails", "emails.a", "emails.b", "sms"):
        doc.put(tube, b"x")
    names = [r["name"] for r in doc.records(doc.ok(example.command).stdout)]
    assert names == ["emails.a", "emails.b"]


@scenario("beanstalkm stats --tube emails")
def _stats_tube(doc: Doc, example: Example) -> None:
    doc.put("emails", b"x")
    assert json.loads(doc.ok(example.command).stdout)["current-jobs-ready"] == 1


@scenario("beanstalkm stats --job 42")
def _stats_job(doc: Doc, example: Example) -> None:
    doc.fill_to(42)
    assert json.loads(doc.ok(example.command).stdout)["id"] == 42


@scenario("beanstalkm stats --json | jq '.\"current-jobs-ready\"'")
def _stats_jq(doc: Doc, example: Example) -> None:
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed")
    doc.put("emails", b"x", b"y")
    assert doc.ok(example.command).stdout == "2\n"


@scenario("beanstalkm pause emails 300", "beanstalkm pause emails 0")
def _pause(doc: Doc, example: Example) -> None:
    doc.put("emails", b"x")
    doc.client.queue.pause_tube("emails", 100)
    doc.ok(example.command)
    seconds = int(example.command.split()[-1])
    assert doc.client.queue.stats_tube("emails")["pause"] == seconds


# -- purge, move, top ------------------------------------------------------------------


@scenario("beanstalkm purge emails")
def _purge_asks(doc: Doc, example: Example) -> None:
    doc.put("emails", *[b"x"] * 12)
    doc.bury("emails", b"y")
    with Terminal(doc.server.address, *example.command.split()[1:]) as terminal:
        terminal.read_until(b"[y/N] ")
        terminal.type(b"y\n")
        assert terminal.finish() == 0
    shown = terminal.output.decode().replace("\r\n", "\n").splitlines()
    assert shown == example.output
    assert doc.counts("emails") == (0, 0, 0, 0)


@scenario("beanstalkm purge emails --buried --yes")
def _purge_buried(doc: Doc, example: Example) -> None:
    doc.put("emails", b"x", b"x")
    doc.bury("emails", b"y")
    doc.ok(example.command)
    assert doc.counts("emails")[:3] == (2, 0, 0)


@scenario("beanstalkm purge 'tmp.*' --yes")
def _purge_pattern(doc: Doc, example: Example) -> None:
    for tube in ("tmp.a", "tmp.b", "tmpx"):
        doc.put(tube, b"x")
    doc.ok(example.command)
    assert [doc.counts(t)[0] for t in ("tmp.a", "tmp.b", "tmpx")] == [0, 0, 1]


@scenario("beanstalkm move emails emails.retry --buried")
def _move_buried(doc: Doc, example: Example) -> None:
    doc.put("emails", b"r", b"r")
    doc.bury("emails", b"b1", b"b2", b"b3")
    doc.ok(example.command)
    assert doc.counts("emails")[:3] == (2, 0, 0)
    assert doc.counts("emails.retry")[:3] == (0, 0, 3)  # still buried there


@scenario("beanstalkm move old new")
def _move_all(doc: Doc, example: Example) -> None:
    doc.put("old", b"r", b"r")
    doc.put("old", b"d", delay=600)
    doc.bury("old", b"b")
    [held] = doc.put("old", b"held")
    doc.client.queue.reserve_job(held)  # a worker's job: not moved
    result = doc.ok(example.command)
    assert doc.counts("new") == (2, 1, 1, 0)
    assert doc.counts("old") == (0, 0, 0, 1)
    assert "1 reserved job(s) left alone" in result.stderr


@scenario("beanstalkm move emails archive --ready --count 1000")
def _move_count(doc: Doc, example: Example) -> None:
    doc.client.queue.use("emails")
    pipeline = doc.client.pipeline()
    for _ in range(1200):
        pipeline.put(b"x")
    pipeline.execute(raise_on_error=True)
    doc.ok(example.command)
    assert (doc.counts("archive")[0], doc.counts("emails")[0]) == (1000, 200)


@scenario("beanstalkm top")
def _top(doc: Doc, example: Example) -> None:
    with Terminal(doc.server.address, "top") as terminal:
        terminal.read_until(b"TUBE")
        terminal.type(b"q")
        assert terminal.finish() == 0
    shown = without_escapes(terminal.output.decode())
    assert words_of_header(shown.splitlines()) == words_of_header(example.output)
    assert f"beanstalkd 1.12 at 127.0.0.1:{doc.server.port}  up" in shown
    for start in ("connections ", "jobs ready "):
        assert start in shown


@scenario("beanstalkm top --interval 10 --json | tee load.jsonl")
def _top_json(doc: Doc, example: Example) -> None:
    # Every 0.2 s instead of 10: the same lines, sooner.
    proc = doc.spawn(example.command.replace("--interval 10", "--interval 0.2"))
    load = doc.cwd / "load.jsonl"
    wait_for(lambda: load.exists() and load.read_text().count("\n") >= 2)
    doc.signal(proc, signal.SIGINT)
    record = doc.records(load.read_text())[1]
    text = DOC.read_text(encoding="utf-8")
    shown = "".join(re.findall(r"^# (\s*[{\"].*)$", text, re.M))  # the comment's record
    assert set(record) == set(json.loads(shown))
    assert (record["frame"], record["tube"]) == (2, "default")


# -- web --------------------------------------------------------------------------------

WEB_URL = re.compile(r"at (http://\S+) \(Ctrl-C to stop\)")


def web_console(doc: Doc, line: str, env: dict[str, str] | None = None) -> tuple[Any, str]:
    """Start a ``beanstalkm web`` line; the process and the address it printed."""
    pytest.importorskip("aiohttp", reason="the web extra (aiohttp) is not installed")
    proc = doc.spawn(line, env)
    assert proc.stderr is not None
    for printed in proc.stderr:  # bounded: it prints the address or ends
        match = WEB_URL.search(printed)
        if match:
            return proc, match.group(1)
    raise AssertionError(f"{line} did not start: {proc.communicate(timeout=30)}")


def fetch(url: str, headers: dict[str, str] | None = None) -> Any:
    import urllib.request

    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.load(reply)


@scenario("beanstalkm web")
def _web(doc: Doc, example: Example) -> None:
    # On a free port: 8080 may be taken here.
    proc, url = web_console(doc, f"{example.command} --listen 127.0.0.1:{free_port()}")
    [shown] = fetch(url + "api/config")["servers"]
    assert shown["address"] == f"127.0.0.1:{doc.server.port}"
    assert doc.signal(proc, signal.SIGINT)[0] == 0


@scenario(
    "beanstalkm web --url beanstalk://q1.internal:11300,beanstalk://q2.internal:11300 --read-only"
)
def _web_pool(doc: Doc, example: Example) -> None:
    # q1 is this test's server, q2 another one; on a free port.
    with BeanstalkdProcess() as second:
        line = example.command.replace("q1.internal:11300", f"127.0.0.1:{doc.server.port}")
        line = line.replace("q2.internal:11300", f"127.0.0.1:{second[1]}")
        proc, url = web_console(doc, f"{line} --listen 127.0.0.1:{free_port()}")
        config = fetch(url + "api/config")
        assert config["read_only"] is True
        assert [s["address"] for s in config["servers"]] == [
            f"127.0.0.1:{doc.server.port}", f"127.0.0.1:{second[1]}",
        ]  # fmt: skip
        assert doc.signal(proc, signal.SIGTERM)[0] == 0


@scenario("BEANSTALKM_WEB_TOKEN=$(cat ~/.beanstalkm-token) beanstalkm web --listen 0.0.0.0:8080")
def _web_token(doc: Doc, example: Example) -> None:
    import urllib.error

    home = doc.cwd / "home"
    home.mkdir()
    (home / ".beanstalkm-token").write_text("t0ken-from-a-file\n")
    port = free_port()
    line = example.command.replace("8080", str(port))
    proc, url = web_console(doc, line, doc.env(HOME=str(home)))
    assert url.endswith("?token=t0ken-from-a-file")
    local = f"http://127.0.0.1:{port}/api/config"  # reached here over loopback only
    with pytest.raises(urllib.error.HTTPError, match="401"):
        fetch(local)
    assert fetch(local, {"Authorization": "Bearer t0ken-from-a-file"})["read_only"] is False
    assert doc.signal(proc, signal.SIGTERM)[0] == 0


# -- worker, serve, demo, completion -----------------------------------------------------

TASKS = """
import pathlib
import time

def send_email(message):
    if message.body == "fail":
        raise RuntimeError("cannot send")
    while message.body == "hang":
        time.sleep(0.01)
    with pathlib.Path("sent.txt").open("a") as sent:
        sent.write(f"{message.body}\\n")

HANDLERS = {"emails": send_email, "sms": send_email}
"""


def write_app(doc: Doc) -> None:
    (doc.cwd / "myapp").mkdir()
    (doc.cwd / "myapp" / "__init__.py").write_text("")
    (doc.cwd / "myapp" / "tasks.py").write_text(TASKS)


def sent(doc: Doc) -> list[str]:
    path = doc.cwd / "sent.txt"
    return sorted(path.read_text().splitlines()) if path.exists() else []


@scenario(
    "beanstalkm worker myapp.tasks:send_email --tube emails --concurrency 4",
    "beanstalkm worker myapp.tasks:HANDLERS",
)
def _worker(doc: Doc, example: Example) -> None:
    write_app(doc)
    proc = doc.spawn(example.command)
    doc.put("emails", b"a", b"b", b"c")
    expected = ["a", "b", "c"]
    if "HANDLERS" in example.command:
        doc.put("sms", b"d")
        expected.append("d")
    wait_for(lambda: sent(doc) == expected)
    code, out, err = doc.signal(proc, signal.SIGTERM)
    assert code == 0, err
    assert json.loads(out)["processed"] == len(expected)


@scenario(
    "beanstalkm worker myapp.tasks:send_email -t emails -t sms --max-attempts 10 --backoff 5,2,600"
)
def _worker_retries(doc: Doc, example: Example) -> None:
    write_app(doc)
    [uid] = doc.put("sms", b"fail")
    proc = doc.spawn(example.command)
    wait_for(lambda: doc.client.queue.stats_job(uid)["state"] == "delayed")
    stats = doc.client.queue.stats_job(uid)
    # Retry 1 waits BASE seconds, less up to half of it (the jitter).
    assert 3 <= stats["delay"] <= 5
    assert stats["releases"] == 1
    code, _, err = doc.signal(proc, signal.SIGTERM)
    assert code == 0, err


@scenario("beanstalkm worker myapp.tasks:HANDLERS --time-limit 60")
def _worker_time_limit(doc: Doc, example: Example) -> None:
    # Half a second instead of a minute: the same interruption, sooner.
    write_app(doc)
    [uid] = doc.put("emails", b"hang")
    proc = doc.spawn(example.command.replace("60", "0.5"))
    wait_for(lambda: doc.client.queue.stats_job(uid)["releases"] == 1)  # retried
    code, out, err = doc.signal(proc, signal.SIGTERM)
    assert code == 0, err
    assert json.loads(out)["time_limits"] >= 1
    assert "over its time limit of 0.5s; interrupting it" in err


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def scraped(port: int) -> str:
    """The metrics once they are served ("" until then)."""
    try:
        return scrape(port)
    except OSError:
        return ""


@scenario(
    "beanstalkm worker myapp.tasks:HANDLERS --processes 4 --max-jobs 10000 --metrics-port 9100"
)
def _worker_processes(doc: Doc, example: Example) -> None:
    # A free port instead of 9100, on loopback only.
    write_app(doc)
    port = free_port()
    line = example.command.replace("9100", f"{port} --metrics-address 127.0.0.1")
    proc = doc.spawn(line)
    doc.put("emails", *[b"e%d" % n for n in range(20)])
    doc.put("sms", b"s")
    wait_for(lambda: len(sent(doc)) == 21, timeout=20)
    wait_for(
        lambda: 'beanstalkm_worker_processed_total{tube="emails"} 20.0' in scraped(port), timeout=5
    )
    assert 'beanstalkm_worker_processed_total{tube="sms"} 1.0' in scrape(port)
    code, out, err = doc.signal(proc, signal.SIGTERM)
    assert code == 0, err
    assert json.loads(out)["processed"] == 21
    assert err.count("worker: 1 slot(s) (threads)") == 4  # four processes


@scenario(
    "beanstalkm exporter --metrics-port 9127",
    "beanstalkm exporter beanstalk://10.0.0.1:11300 beanstalk://10.0.0.2:11300",
)
def _exporter(doc: Doc, example: Example) -> None:
    # A free port, on loopback only; the test server, and a second address where no
    # server runs, instead of 10.0.0.1 and 10.0.0.2.
    port = free_port()
    ours = f"127.0.0.1:{doc.server.port}"
    line = example.command.replace("9127", str(port))
    if "10.0.0.1" in line:
        line = line.replace("10.0.0.1:11300", ours).replace(
            "10.0.0.2:11300", f"127.0.0.1:{free_port()}"
        )
        line += f" --metrics-port {port}"
    line += " --metrics-address 127.0.0.1"
    doc.put("emails", b"a", b"b")
    proc = doc.spawn(line)
    wait_for(lambda: scraped(port), timeout=15)
    text = scrape(port)
    assert f'beanstalkd_up{{server="{ours}"}} 1.0' in text
    assert f'beanstalkd_tube_current_jobs_ready{{server="{ours}",tube="emails"}} 2.0' in text
    assert text.count("beanstalkd_up{") == (2 if "10.0.0.1" in example.command else 1)
    code, _, err = doc.signal(proc, signal.SIGTERM)
    assert code == 0, err
    assert "/metrics" in err


@scenario("beanstalkm serve -l 127.0.0.1 -p 11300")
def _serve(doc: Doc, example: Example) -> None:
    port = free_port()  # 11300 may be taken here
    proc = doc.spawn(example.command.replace("11300", str(port)))
    wait_for(lambda: answers(port), timeout=20)
    code, _, err = doc.signal(proc, signal.SIGTERM)
    assert code == 0, err


def answers(port: int) -> bool:
    try:
        with Client("127.0.0.1", port, timeout=1) as client:
            return bool(client.queue.stats()["version"])
    except Exception:
        return False


@scenario("beanstalkm serve -h")
def _serve_help(doc: Doc, example: Example) -> None:
    out = doc.ok(example.command).stdout
    assert "-p PORT" in out and "-l ADDR" in out  # noqa: PT018


@scenario("beanstalkm demo", "beanstalkm demo --messages 20000 --workers 8")
def _demo(doc: Doc, example: Example) -> None:
    # 600 messages instead of the default 5000 or 20,000: the same run, sooner.
    line = re.sub(r" --messages \d+", "", example.command) + " --messages 600"
    env = doc.env()
    del env["BEANSTALKD_URL"]  # no server named: an embedded one
    result = doc.sh(line, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "600 processed of 600 put" in result.stdout
    assert "lost 0, handled twice 0" in result.stdout
    assert f"{8 if '--workers 8' in line else 4} workers" in result.stdout
    assert f":{doc.server.port}" not in result.stdout


@scenario("beanstalkm demo --url beanstalk://127.0.0.1:11300")
def _demo_url(doc: Doc, example: Example) -> None:
    line = example.command.replace("11300", str(doc.server.port)) + " --messages 600"
    result = doc.sh(line)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"on 127.0.0.1:{doc.server.port}" in result.stdout
    assert doc.client.queue.stats()["total-jobs"] == 600


@scenario('eval "$(beanstalkm completion bash)"')
def _completion_bash(doc: Doc, example: Example) -> None:
    result = doc.ok(f"{example.command}; complete -p beanstalkm")
    assert result.stdout.strip() == "complete -F _beanstalkm beanstalkm"


@scenario('eval "$(beanstalkm completion zsh)"')
def _completion_zsh(doc: Doc, example: Example) -> None:
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed")
    script = (
        f"autoload -U compinit && compinit -u -d {doc.cwd}/zcompdump && {example.command} "
        "&& print -r -- $_comps[beanstalkm]"
    )
    result = subprocess.run(
        ["zsh", "-f", "-c", script], capture_output=True, text=True, timeout=30, env=doc.env()
    )
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "_beanstalkm", "")


@scenario("beanstalkm completion fish > ~/.config/fish/completions/beanstalkm.fish")
def _completion_fish(doc: Doc, example: Example) -> None:
    home = doc.cwd / "home"
    (home / ".config" / "fish" / "completions").mkdir(parents=True)
    result = doc.sh(example.command, env=doc.env(HOME=str(home)))
    assert result.returncode == 0, result.stderr
    path = home / ".config" / "fish" / "completions" / "beanstalkm.fish"
    assert path.read_text().startswith("# fish completion for beanstalkm")
    if shutil.which("fish") is None:
        return
    check = subprocess.run(
        ["fish", "--no-config", "-c", f"source {path}; complete -C'beanstalkm pu'"],
        capture_output=True, text=True, timeout=30, env=doc.env(),
    )  # fmt: skip
    assert sorted(line.split("\t")[0] for line in check.stdout.splitlines()) == ["purge", "put"]
