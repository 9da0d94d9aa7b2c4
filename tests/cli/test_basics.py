"""The command line as a whole: help, version, addresses, errors, exit codes, serve."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess

import pytest

import beanstalkm
from beanstalkm.cli import build_parser, main
from beanstalkm.testing import BeanstalkdProcess, free_port

from .util import ROOT, cli_env, console_script, run_cli, wait_for

SUBCOMMANDS = [
    "put", "reserve", "consume", "peek", "kick", "delete", "bury", "tubes", "stats",
    "pause", "purge", "move", "top", "web", "worker", "exporter", "demo", "completion",
]  # fmt: skip
#: Subcommands that talk to no server.
OFFLINE = ["completion"]


def test_help_from_the_console_script() -> None:
    result = run_cli(None, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: beanstalkm")
    for name in [*SUBCOMMANDS, "serve"]:
        assert f"    {name}" in result.stdout
    assert "BEANSTALKD_URL" in result.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_help_of_every_subcommand(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: beanstalkm {name}")
    # the connection options are everywhere a server is
    assert ("--host" in out) is (name not in OFFLINE)
    assert "example" in out


def test_every_subcommand_is_tested_for_help() -> None:
    parser = build_parser()
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert isinstance(action.choices, dict)
    assert sorted(action.choices) == sorted([*SUBCOMMANDS, "serve"])


def test_version_and_module_entry_point() -> None:
    result = run_cli(None, "--version", module=True)
    assert (result.returncode, result.stdout.strip()) == (0, f"beanstalkm {beanstalkm.__version__}")


def test_no_command_prints_usage() -> None:
    result = run_cli(None)
    assert result.returncode == 2
    assert "usage: beanstalkm" in result.stderr


def test_unknown_command_and_bad_arguments() -> None:
    assert run_cli(None, "frobnicate").returncode == 2
    result = run_cli(None, "delete", "twelve")
    assert result.returncode == 2
    assert "invalid int value" in result.stderr


def test_server_down_says_so_with_the_address() -> None:
    port = free_port()
    result = run_cli(("127.0.0.1", port), "stats")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1  # one clear line, no traceback
    assert lines[0].startswith(f"beanstalkm stats: cannot connect to 127.0.0.1:{port}")
    assert "Connection refused" in lines[0]


def test_address_options_override_the_environment(server: BeanstalkdProcess) -> None:
    host, port = server.address
    env = cli_env(("127.0.0.1", free_port()))  # BEANSTALKD_URL points nowhere
    ok = subprocess.run(
        [*console_script(), "--port", str(port), "stats", "--json"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=30,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["version"]
    # after the subcommand too, and --url
    assert run_cli(None, "stats", "--url", f"beanstalk://{host}:{port}").returncode == 0
    assert run_cli(None, "stats", "--host", host, "--port", str(port)).returncode == 0


def test_default_address_is_localhost_11300(monkeypatch: pytest.MonkeyPatch) -> None:
    from beanstalkm.cli.base import resolve_address

    monkeypatch.delenv("BEANSTALKD_URL", raising=False)
    args = build_parser().parse_args(["stats"])
    assert resolve_address(args) == ("127.0.0.1", 11300)
    monkeypatch.setenv("BEANSTALKD_URL", "beanstalk://example.org:1234")
    assert resolve_address(args) == ("example.org", 1234)
    args = build_parser().parse_args(["--host", "h", "stats"])
    assert resolve_address(args) == ("h", 1234)


def test_bad_url_is_a_usage_error(server: BeanstalkdProcess) -> None:
    result = run_cli(None, "stats", env=cli_env(server.address, BEANSTALKD_URL="http://x"))
    assert result.returncode == 2
    assert result.stderr.startswith("beanstalkm stats: BEANSTALKD_URL: unsupported URL scheme")


def test_invalid_tube_name_is_refused_before_sending(server: BeanstalkdProcess) -> None:
    result = run_cli(server.address, "put", "x", "--tube", "no spaces")
    assert result.returncode == 2
    assert "not a valid tube name" in result.stderr


def waiting(client: beanstalkm.Client, tube: str) -> int:
    """How many clients wait to reserve from ``tube`` (0 if it does not exist yet)."""
    try:
        return client.queue.stats_tube(tube)["current-waiting"]
    except beanstalkm.NotFound:
        return 0


def test_reserve_interrupted_exits_130(server: BeanstalkdProcess) -> None:
    client = beanstalkm.Client(*server.address, timeout=5)
    for command, code in (("reserve", 130), ("consume", 0)):
        proc = subprocess.Popen(
            [*console_script(), command, "-t", "empty"],
            env=cli_env(server.address), cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            wait_for(lambda: waiting(client, "empty") == 1)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == code, err
        assert "Traceback" not in err
    client.close()


def test_serve_comes_first() -> None:
    result = run_cli(None, "--json", "serve", "-p", "0")
    assert result.returncode == 2
    assert result.stderr == (
        "beanstalkm serve: serve takes beanstalkd's flags and must come first "
        "(--json does not apply to it): beanstalkm serve -p 0\n"
    )
    result = run_cli(None, "--host", "h", "serve")
    assert "(--host h does not apply to it): beanstalkm serve\n" in result.stderr


def test_serve_hands_its_arguments_to_the_embedded_server() -> None:
    result = run_cli(None, "serve", "-v")  # -v: version, as for beanstalkd (-V is verbose)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
