"""``beanstalkm completion``: print the shell completion script for bash, zsh or fish."""

from __future__ import annotations

import argparse

from ..base import Context
from ..completion import SHELLS, script
from ..options import Subparsers, add_command

__all__ = ["add_parser", "cmd_completion"]


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers,
        "completion",
        cmd_completion,
        "print the shell completion script (bash, zsh, fish)",
        "Print the completion script for a shell. It completes subcommands, options, "
        "choices and, from the server, tube names.\n\n"
        '  bash: add to ~/.bashrc:  eval "$(beanstalkm completion bash)"\n'
        '  zsh:  add to ~/.zshrc after compinit:  eval "$(beanstalkm completion zsh)"\n'
        "  fish: beanstalkm completion fish > ~/.config/fish/completions/beanstalkm.fish",
        ["beanstalkm completion bash > ~/.local/share/bash-completion/completions/beanstalkm"],
        output={},
        server=False,
    )
    p.add_argument("shell", choices=SHELLS, help="the shell")


def cmd_completion(ctx: Context, args: argparse.Namespace) -> int:
    """Print the completion script (made from the parser of this very command line)."""
    from .. import build_parser

    ctx.out.stream.write(script(args.shell, build_parser()))
    ctx.out.stream.flush()
    return 0
