"""The pytest plugin, exercised through pytest's own ``pytester``."""

from __future__ import annotations

import shutil

import pytest

pytest_plugins = ["pytester"]

needs_real = pytest.mark.skipif(shutil.which("beanstalkd") is None, reason="beanstalkd missing")

HELPERS = """
import socket

def ask(address, request):
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while not data.endswith(b"\\r\\n") or data.startswith(b"OK") and data.count(b"\\r\\n") < 2:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data

def stat(address, key):
    reply = ask(address, b"stats\\r\\n").decode()
    return reply.split("\\n" + key + ": ", 1)[1].split("\\n", 1)[0]
"""


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(helpers=HELPERS)
    pytester.makepyfile(source)
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:hypothesispytest", *args)


def test_embedded_on_request(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        from helpers import stat

        def test_it(beanstalkd):
            host, port = beanstalkd
            assert host == "127.0.0.1"
            assert "beanstalkm" in stat(beanstalkd, "os")
        """,
        "--beanstalkd=embedded",
    )
    result.assert_outcomes(passed=1)


@needs_real
def test_real_on_request(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        from helpers import stat

        def test_it(beanstalkd):
            assert stat(beanstalkd, "version") == '"1.12"'
        """,
        "--beanstalkd=real",
    )
    result.assert_outcomes(passed=1)


def test_env_var_chooses(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEANSTALKM_SERVER", "embedded")
    result = run(
        pytester,
        """
        from helpers import stat

        def test_it(beanstalkd):
            assert "beanstalkm" in stat(beanstalkd, "os")
        """,
    )
    result.assert_outcomes(passed=1)


def test_option_beats_env_var(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEANSTALKM_SERVER", "real")
    result = run(
        pytester,
        """
        def test_it(beanstalkd_factory):
            assert beanstalkd_factory().kind == "embedded"
        """,
        "--beanstalkd=embedded",
    )
    result.assert_outcomes(passed=1)


def test_auto_falls_back_to_embedded(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(pytester.path))
    monkeypatch.delenv("BEANSTALKD_BIN", raising=False)
    monkeypatch.delenv("BEANSTALKM_SERVER", raising=False)
    result = run(
        pytester,
        """
        def test_it(beanstalkd_factory):
            assert beanstalkd_factory().kind == "embedded"
        """,
    )
    result.assert_outcomes(passed=1)


@needs_real
def test_auto_prefers_the_real_server(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BEANSTALKM_SERVER", raising=False)
    result = run(
        pytester,
        """
        def test_it(beanstalkd_factory):
            assert beanstalkd_factory().kind == "real"
        """,
    )
    result.assert_outcomes(passed=1)


def test_real_when_missing_fails_clearly(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(pytester.path))
    monkeypatch.delenv("BEANSTALKD_BIN", raising=False)
    result = run(pytester, TWO_TESTS, "--beanstalkd=real")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # at start-up, no test run
    assert [line for line in result.stderr.lines if line] == [
        "ERROR: --beanstalkd=real, but beanstalkd is not installed (not on PATH, no "
        "$BEANSTALKD_BIN); install it, or choose --beanstalkd=embedded or auto",
    ]
    monkeypatch.setenv("BEANSTALKM_SERVER", "real")
    result = run(pytester, TWO_TESTS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines[0].startswith("ERROR: BEANSTALKM_SERVER=real, but beanstalkd")


TWO_TESTS = "def test_one(beanstalkd):\n    pass\n\ndef test_two(beanstalk_client):\n    pass\n"


def test_bad_env_value_fails_once_at_start_up(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BEANSTALKM_SERVER", "bogus")
    result = run(pytester, TWO_TESTS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.stderr.lines if line] == [
        "ERROR: BEANSTALKM_SERVER='bogus': expected one of auto, real, embedded"
    ]
    assert "test_one" not in result.stdout.str()
    # --help still works, to find out what the values are
    assert run(pytester, TWO_TESTS, "--help").ret == pytest.ExitCode.OK


@pytest.mark.parametrize("kind", ["embedded", pytest.param("real", marks=needs_real)])
def test_marker_passes_flags(pytester: pytest.Pytester, kind: str) -> None:
    result = run(
        pytester,
        """
        import pytest
        from helpers import ask, stat

        @pytest.mark.beanstalkd("-z", "10")
        def test_it(beanstalkd):
            assert stat(beanstalkd, "max-job-size") == "10"
            assert ask(beanstalkd, b"put 0 0 1 11\\r\\n" + b"x" * 11 + b"\\r\\n") == (
                b"JOB_TOO_BIG\\r\\n"
            )
        """,
        f"--beanstalkd={kind}",
    )
    result.assert_outcomes(passed=1)


def test_marker_chooses_kind(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest
        from helpers import stat

        @pytest.mark.beanstalkd(kind="embedded")
        def test_it(beanstalkd):
            assert "beanstalkm" in stat(beanstalkd, "os")
        """,
    )
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("kind", ["embedded", pytest.param("real", marks=needs_real)])
def test_each_test_gets_a_fresh_server(pytester: pytest.Pytester, kind: str) -> None:
    result = run(
        pytester,
        """
        import pytest
        from helpers import ask, stat

        @pytest.mark.parametrize("n", range(3))
        def test_it(beanstalkd, n):
            assert stat(beanstalkd, "total-jobs") == "0"
            assert ask(beanstalkd, b"put 0 0 1 1\\r\\nx\\r\\n") == b"INSERTED 1\\r\\n"
        """,
        f"--beanstalkd={kind}",
    )
    result.assert_outcomes(passed=3)


def test_server_is_stopped_after_the_test(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import socket
        import pytest

        seen = []

        def test_first(beanstalkd):
            seen.append(beanstalkd)

        def test_second():
            with pytest.raises(OSError):
                socket.create_connection(seen[0], timeout=1)
        """,
        "--beanstalkd=embedded",
    )
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize("kind", ["embedded", pytest.param("real", marks=needs_real)])
def test_factory_handles(pytester: pytest.Pytester, kind: str) -> None:
    result = run(
        pytester,
        """
        import time
        from helpers import ask, stat

        def test_it(beanstalkd_factory):
            started = time.monotonic()
            one = beanstalkd_factory()
            assert time.monotonic() - started < 2
            two = beanstalkd_factory(["-z", "5"])
            assert one.port != two.port
            assert stat(two.address, "max-job-size") == "5"
            assert ask(one.address, b"put 0 0 1 1\\r\\nx\\r\\n") == b"INSERTED 1\\r\\n"
            port = one.port
            one.restart()
            assert one.port == port
            assert stat(one.address, "total-jobs") == "0"
            one.enter_drain_mode()
            deadline = time.monotonic() + 5
            while stat(one.address, "draining") != "true":
                assert time.monotonic() < deadline
                time.sleep(0.01)
            assert ask(one.address, b"put 0 0 1 1\\r\\nx\\r\\n") == b"DRAINING\\r\\n"
        """,
        f"--beanstalkd={kind}",
    )
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("kind", ["embedded", pytest.param("real", marks=needs_real)])
def test_factory_binlog_and_unix_socket(pytester: pytest.Pytester, kind: str) -> None:
    result = run(
        pytester,
        """
        import shutil, socket, tempfile
        from beanstalkm.testing import connect

        def ask(address, request):
            with connect(address, timeout=5) as sock:
                sock.sendall(request)
                return sock.recv(4096)

        def test_it(beanstalkd_factory, tmp_path):
            short = tempfile.mkdtemp(prefix="bs")
            try:
                server = beanstalkd_factory(["-l", f"unix:{short}/s.sock", "-b", str(tmp_path)])
                assert server.address == (f"unix:{short}/s.sock", 0)
                assert ask(server.address, b"put 0 0 1 1\\r\\nx\\r\\n") == b"INSERTED 1\\r\\n"
                server.restart()  # with -b, the job comes back
                assert ask(server.address, b"peek 1\\r\\n") == b"FOUND 1 1\\r\\nx\\r\\n"
                server.stop()
            finally:
                shutil.rmtree(short)
        """,
        f"--beanstalkd={kind}",
    )
    result.assert_outcomes(passed=1)


def test_embedded_rejects_unsupported_flags(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        def test_it(beanstalkd_factory):
            beanstalkd_factory(["-u", "nobody"])
        """,
        "--beanstalkd=embedded",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*-u: the embedded server does not change user*"])


def test_help_lists_the_option(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--beanstalkd=*"])


@pytest.mark.parametrize("kind", ["embedded", pytest.param("real", marks=needs_real)])
def test_beanstalk_client(pytester: pytest.Pytester, kind: str) -> None:
    result = run(
        pytester,
        """
        import beanstalkm

        def test_round_trip(beanstalk_client, beanstalkd):
            assert (beanstalk_client.host, beanstalk_client.port) == beanstalkd
            beanstalk_client.put({"to": "ada"})
            beanstalk_client.queue.put(b"raw")
            first = beanstalk_client.reserve(timeout=0)
            second = beanstalk_client.reserve(timeout=0)
            assert first.body == {"to": "ada"}
            assert second.body == "raw"

        def test_fresh_server_each_time(beanstalk_client):
            assert beanstalk_client.queue.stats()["total-jobs"] == 0
        """,
        f"--beanstalkd={kind}",
    )
    result.assert_outcomes(passed=2)
