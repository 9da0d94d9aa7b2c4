"""Shell completion: the scripts load in bash, zsh and fish, and complete what the
parser has (subcommands, options, choices) and, from the server, tube names."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from beanstalkm import Client
from beanstalkm.cli import build_parser
from beanstalkm.cli.completion import SHELLS, script, spec
from beanstalkm.testing import BeanstalkdProcess, free_port

from .util import cli_env, run_cli

BIN = str(Path(sys.executable).parent)


def shell_env(address: tuple[str, int] | None = None) -> dict[str, str]:
    """The console script first on PATH, as after pip install."""
    env = cli_env(address) if address else dict(os.environ)
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    return env


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = run_cli(None, "completion", "bash")
    assert result.returncode == 0, result.stderr
    path = tmp_path_factory.mktemp("completion") / "beanstalkm.bash"
    path.write_text(result.stdout)
    return path


def complete_bash(
    script_path: Path, line: str, address: tuple[str, int] | None = None
) -> list[str]:
    """What bash offers for the last word of ``line`` (empty when it ends in a space)."""
    words = shlex.split(line) + ([""] if line.endswith(" ") else [])
    array = " ".join(shlex.quote(w) for w in words)
    command = (
        f"source {shlex.quote(str(script_path))}; COMP_WORDS=({array}); "
        f'COMP_CWORD={len(words) - 1}; _beanstalkm; printf "%s\\n" "${{COMPREPLY[@]}}"'
    )
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", command],
        capture_output=True, text=True, timeout=30, env=shell_env(address),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return sorted(w for w in result.stdout.splitlines() if w)


def test_bash_script_loads(bash_script: Path) -> None:
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", f"source {bash_script} && complete -p beanstalkm"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "complete -F _beanstalkm beanstalkm"
    assert result.stderr == ""


def test_bash_completes_subcommands_options_and_choices(bash_script: Path) -> None:
    assert complete_bash(bash_script, "beanstalkm pu") == ["purge", "put"]
    assert complete_bash(bash_script, "beanstalkm --json --port 1 pe") == ["peek"]
    assert complete_bash(bash_script, "beanstalkm put --t") == ["--table", "--ttr", "--tube"]
    assert complete_bash(bash_script, "beanstalkm top --sort re") == ["ready", "reserved"]
    assert complete_bash(bash_script, "beanstalkm worker x:y --log-level ") == [
        "debug", "error", "info", "warning",
    ]  # fmt: skip
    assert complete_bash(bash_script, "beanstalkm completion ") == ["bash", "fish", "zsh"]
    assert complete_bash(bash_script, "beanstalkm put --ttr ") == []
    assert complete_bash(bash_script, "beanstalkm serve -") == []  # beanstalkd's flags


def test_bash_offers_every_option_of_every_subcommand(bash_script: Path) -> None:
    for command in spec(build_parser()).commands:
        if command.foreign:
            continue
        expected = sorted(flag for option in command.options for flag in option.flags)
        assert complete_bash(bash_script, f"beanstalkm {command.name} -") == expected


def test_bash_completes_tube_names_from_the_server(
    bash_script: Path, server: BeanstalkdProcess, client: Client
) -> None:
    client.queue.use("emails")
    client.queue.watch("sms")
    assert complete_bash(bash_script, "beanstalkm put -t ", server.address) == [
        "default", "emails", "sms",
    ]  # fmt: skip
    assert complete_bash(bash_script, "beanstalkm purge em", server.address) == ["emails"]
    assert complete_bash(bash_script, "beanstalkm move emails s", server.address) == ["sms"]
    assert complete_bash(bash_script, "beanstalkm pause ", server.address) == [
        "default", "emails", "sms",
    ]  # fmt: skip
    assert complete_bash(bash_script, "beanstalkm pause emails ", server.address) == []
    # the server named on the line is the one asked
    line = f"beanstalkm --port {server.port} kick -t e"
    assert complete_bash(bash_script, line, ("127.0.0.1", free_port())) == ["emails"]


def test_tube_completion_gives_up_quickly_when_the_server_is_down(bash_script: Path) -> None:
    assert complete_bash(bash_script, "beanstalkm put -t ", ("127.0.0.1", free_port())) == []


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_script_loads_and_registers(tmp_path: Path) -> None:
    path = tmp_path / "_beanstalkm"
    path.write_text(script("zsh", build_parser()))
    check = subprocess.run(["zsh", "-n", str(path)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    command = (
        f"autoload -U compinit && compinit -u -d {tmp_path}/zcompdump && "
        f"source {path} && print -r -- $_comps[beanstalkm]"
    )
    result = subprocess.run(
        ["zsh", "-f", "-c", command], capture_output=True, text=True, timeout=30,
        env=shell_env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "_beanstalkm"
    assert result.stderr == ""


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes(tmp_path: Path, server: BeanstalkdProcess, client: Client) -> None:
    client.queue.use("emails")
    path = tmp_path / "beanstalkm.fish"
    path.write_text(script("fish", build_parser()))

    def complete(line: str) -> list[str]:
        result = subprocess.run(
            ["fish", "--no-config", "-c", f"source {path}; complete -C{shlex.quote(line)}"],
            capture_output=True, text=True, timeout=30, env=shell_env(server.address),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return sorted(line.split("\t")[0] for line in result.stdout.splitlines())

    assert complete("beanstalkm pu") == ["purge", "put"]
    assert complete("beanstalkm top --sort re") == ["ready", "reserved"]
    assert "--tube" in complete("beanstalkm put --")
    assert complete("beanstalkm put -t ") == ["default", "emails"]


def test_every_shell_has_a_script() -> None:
    parser = build_parser()
    for shell in SHELLS:
        text = script(shell, parser)
        for command in spec(parser).commands:
            assert command.name in text
    with pytest.raises(ValueError, match="powershell"):
        script("powershell", parser)
