"""Shell completion scripts for bash, zsh and fish, generated from the parser.

The scripts are written from the same ``argparse`` parser that reads the command
line, so they offer exactly its subcommands, options and choices; nothing has to be
installed at run time. Tube names (``--tube``, and the tube arguments of ``purge``,
``move``, ``pause``, ``tubes``) are completed from the server with ``beanstalkm tubes
-q``, with a one-second timeout so that a server that is down cannot hold up the
prompt.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final, Literal

from .base import PROG, TIMEOUT_ENV_VAR

__all__ = ["SHELLS", "Spec", "script", "spec"]

SHELLS: Final = ("bash", "zsh", "fish")
Value = Literal["none", "any", "tube", "dir", "choices"]

_TUBE_METAVARS: Final = ("TUBE", "SOURCE", "TARGET")
_TUBES_COMMAND: Final = f"{TIMEOUT_ENV_VAR}=1 command {PROG} tubes -q"


@dataclass
class Option:
    """An option: its spellings, what its value is, its help."""

    flags: list[str]
    value: Value
    help: str
    choices: list[str] = field(default_factory=list)
    repeat: bool = False


@dataclass
class Positional:
    name: str
    value: Value
    nargs: str | int | None
    choices: list[str] = field(default_factory=list)


@dataclass
class Command:
    name: str
    help: str
    options: list[Option]
    positionals: list[Positional]
    #: Arguments are not beanstalkm's (``serve`` takes beanstalkd's flags).
    foreign: bool = False


@dataclass
class Spec:
    """What the completion scripts complete: the options before a subcommand, and
    each subcommand."""

    options: list[Option]
    commands: list[Command]


def _value(action: argparse.Action) -> tuple[Value, list[str]]:
    if action.nargs == 0:
        return "none", []
    if action.choices is not None:
        return "choices", [str(c) for c in action.choices]
    metavar = action.metavar if isinstance(action.metavar, str) else ""
    if metavar in _TUBE_METAVARS or action.dest == "tube":
        return "tube", []
    if metavar == "DIR":
        return "dir", []
    return "any", []


def _options(parser: argparse.ArgumentParser) -> list[Option]:
    result = []
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        value, choices = _value(action)
        result.append(
            Option(
                flags=list(action.option_strings),
                value=value,
                help=(action.help or "").replace("%(default)s", str(action.default)),
                choices=choices,
                repeat=isinstance(action, argparse._AppendAction),
            )
        )
    return result


def _positionals(parser: argparse.ArgumentParser) -> list[Positional]:
    result = []
    for action in parser._actions:
        if action.option_strings:
            continue
        value, choices = _value(action)
        name = action.metavar if isinstance(action.metavar, str) else action.dest
        result.append(Positional(name.lower(), value, action.nargs, choices))
    return result


def spec(parser: argparse.ArgumentParser) -> Spec:
    """Read what can be completed from ``parser``."""
    commands = []
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
        for name, sub in action.choices.items():
            foreign = any(a.nargs == argparse.REMAINDER for a in sub._actions)
            commands.append(
                Command(
                    name,
                    helps.get(name, ""),
                    [] if foreign else _options(sub),
                    [] if foreign else _positionals(sub),
                    foreign,
                )
            )
    return Spec(_options(parser), commands)


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    """The completion script for ``shell`` (bash, zsh or fish)."""
    writers: dict[str, Callable[[Spec], str]] = {"bash": _bash, "zsh": _zsh, "fish": _fish}
    if shell not in writers:
        raise ValueError(f"no completion for {shell!r}: use one of {', '.join(SHELLS)}")
    return writers[shell](spec(parser))


# -- bash -----------------------------------------------------------------------------


def _words(items: Iterable[str]) -> str:
    return " ".join(items)


def _valued(options: list[Option]) -> list[str]:
    return [flag for o in options if o.value != "none" for flag in o.flags]


def _bash_value(value: Value, choices: list[str]) -> str:
    if value == "tube":
        return 'COMPREPLY=($(compgen -W "$(_beanstalkm_tubes)" -- "$cur"))'
    if value == "dir":
        return 'COMPREPLY=($(compgen -d -- "$cur"))'
    if value == "choices":
        return f'COMPREPLY=($(compgen -W "{_words(choices)}" -- "$cur"))'
    return "COMPREPLY=()"


def _bash(spec: Spec) -> str:
    global_valued = _valued(spec.options)
    value_cases = []
    option_cases = []
    positional_cases = []
    skip_cases = []
    for command in spec.commands:
        if command.foreign:
            continue
        # Values completed alike share a case; the server options are covered by "*:".
        by_kind: dict[str, tuple[Option, list[str]]] = {}
        for option in command.options:
            if option.value == "none" or option.flags[0] in global_valued:
                continue
            key = option.value + ":" + " ".join(option.choices)
            by_kind.setdefault(key, (option, []))[1].extend(option.flags)
        for option, flags in by_kind.values():
            patterns = "|".join(f"{command.name}:{flag}" for flag in flags)
            action = _bash_value(option.value, option.choices)
            value_cases.append(f"        {patterns}) {action}; return 0 ;;")
        every = _words(f for o in command.options for f in o.flags)
        option_cases.append(f'        {command.name}) opts="{every}" ;;')
        valued = "|".join(f"{command.name}:{flag}" for flag in _valued(command.options))
        if valued:
            skip_cases.append(f"            {valued}) ((i++)) ;;")
        for index, positional in enumerate(command.positionals):
            if positional.value == "any":
                continue
            many = positional.nargs in ("+", "*")
            where = f"{command.name}:*" if many else f"{command.name}:{index}"
            positional_cases.append(
                f"        {where}) {_bash_value(positional.value, positional.choices)} ;;"
            )
    global_value_cases = "|".join(f"*:{flag}" for flag in global_valued)
    return f"""\
# bash completion for {PROG}, generated by `{PROG} completion bash`.
# Load it in ~/.bashrc with:  eval "$({PROG} completion bash)"

_beanstalkm_tubes() {{
    local i server=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            {"|".join(global_valued)}) server+=("${{COMP_WORDS[i]}}" "${{COMP_WORDS[i+1]}}") ;;
        esac
    done
    {_TUBES_COMMAND} "${{server[@]}}" 2>/dev/null
}}

_beanstalkm() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    local cmd="" i word opts="" position=0
    COMPREPLY=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${{COMP_WORDS[i]}}"
        if [[ -z "$cmd" ]]; then
            case "$word" in
                {"|".join(global_valued)}) ((i++)) ;;
                -*) ;;
                *) cmd="$word" ;;
            esac
            continue
        fi
        case "$cmd:$word" in
{chr(10).join(skip_cases)}
            *:-*) ;;
            *) ((position++)) ;;
        esac
    done
    case "$cmd:$prev" in
        {global_value_cases}) return 0 ;;
{chr(10).join(value_cases)}
    esac
    if [[ -z "$cmd" ]]; then
        if [[ "$cur" == -* ]]; then
            COMPREPLY=($(compgen -W "{_words(f for o in spec.options for f in o.flags)}" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "{_words(c.name for c in spec.commands)}" -- "$cur"))
        fi
        return 0
    fi
    if [[ "$cur" == -* ]]; then
        case "$cmd" in
{chr(10).join(option_cases)}
        esac
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return 0
    fi
    case "$cmd:$position" in
{chr(10).join(positional_cases)}
    esac
    return 0
}}

complete -F _beanstalkm {PROG}
"""


# -- zsh ------------------------------------------------------------------------------


def _zsh_quote(text: str) -> str:
    """``text`` for inside single quotes."""
    return text.replace("'", "'\\''")


def _zsh_help(text: str) -> str:
    return _zsh_quote(text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]"))


def _zsh_action(value: Value, choices: list[str]) -> str:
    if value == "tube":
        return "_beanstalkm_tubes"
    if value == "dir":
        return "_files -/"
    if value == "choices":
        return "(" + " ".join(choices) + ")"
    return " "


def _zsh_option(option: Option) -> str:
    help_text = _zsh_help(option.help.split(";")[0])
    value = ""
    if option.value != "none":
        name = option.flags[-1].lstrip("-").replace("-", " ")
        value = f":{name}:{_zsh_action(option.value, option.choices)}"
    if len(option.flags) == 1:
        prefix = "*" if option.repeat else ""
        return f"'{prefix}{option.flags[0]}[{help_text}]{value}'"
    exclusive = "*" if option.repeat else f"({' '.join(option.flags)})"
    braces = ",".join(option.flags)
    return f"'{exclusive}'{{{braces}}}'[{help_text}]{value}'"


def _zsh_positional(index: int, positional: Positional) -> str:
    action = _zsh_action(positional.value, positional.choices)
    if positional.nargs in ("+", "*"):
        return f"'*:{positional.name}:{action}'"
    optional = ":" if positional.nargs == "?" else ""
    return f"'{index}:{optional}{positional.name}:{action}'"


def _zsh(spec: Spec) -> str:
    described = "\n".join(
        f"        '{c.name}:{_zsh_quote(c.help.replace(':', chr(92) + ':'))}'"
        for c in spec.commands
    )
    cases = []
    for command in spec.commands:
        if command.foreign:
            cases.append(f"                {command.name}) _message 'beanstalkd flags' ;;")
            continue
        specs = [_zsh_option(o) for o in command.options] + [
            _zsh_positional(i, p) for i, p in enumerate(command.positionals, 1)
        ]
        lines = " \\\n                        ".join(specs)
        cases.append(
            f"                {command.name}) _arguments -s \\\n                        {lines} ;;"
        )
    global_specs = " \\\n        ".join(_zsh_option(o) for o in spec.options)
    return f"""\
#compdef {PROG}
# zsh completion for {PROG}, generated by `{PROG} completion zsh`.
# Save it as _{PROG} in a directory of $fpath, or load it in ~/.zshrc (after
# compinit) with:  eval "$({PROG} completion zsh)"

_beanstalkm_tubes() {{
    local -a tubes server
    local i
    for ((i = 2; i < CURRENT; i++)); do
        case "${{words[i]}}" in
            {"|".join(_valued(spec.options))}) server+=("${{words[i]}}" "${{words[i+1]}}") ;;
        esac
    done
    tubes=(${{(f)"$({_TUBES_COMMAND} "${{server[@]}}" 2>/dev/null)"}})
    _describe -t tubes 'tube' tubes
}}

_beanstalkm() {{
    local curcontext="$curcontext" state line
    typeset -A opt_args
    local -a commands
    commands=(
{described}
    )
    _arguments -C \\
        {global_specs} \\
        '1: :->command' \\
        '*:: :->args'
    case $state in
        command)
            _describe -t commands '{PROG} command' commands ;;
        args)
            case $line[1] in
{chr(10).join(cases)}
            esac ;;
    esac
}}

if [[ "${{zsh_eval_context[-1]}}" == loadautofunc ]]; then
    _beanstalkm "$@"
else
    compdef _beanstalkm {PROG}
fi
"""


# -- fish -----------------------------------------------------------------------------


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_option(condition: str, option: Option) -> str:
    parts = [f"complete -c {PROG} -n {_fish_quote(condition)}"]
    for flag in option.flags:
        if flag.startswith("--"):
            parts.append(f"-l {flag[2:]}")
        else:
            parts.append(f"-s {flag[1:]}")
    if option.value == "tube":
        parts.append("-x -a '(__beanstalkm_tubes)'")
    elif option.value == "dir":
        parts.append("-x -a '(__fish_complete_directories)'")
    elif option.value == "choices":
        parts.append(f"-x -a {_fish_quote(' '.join(option.choices))}")
    elif option.value == "any":
        parts.append("-x")
    parts.append(f"-d {_fish_quote(option.help.split(';')[0])}")
    return " ".join(parts)


def _fish(spec: Spec) -> str:
    lines = [
        f"# fish completion for {PROG}, generated by `{PROG} completion fish`.",
        f"# Save it as ~/.config/fish/completions/{PROG}.fish, or run:",
        f"#   {PROG} completion fish | source",
        "",
        "function __beanstalkm_tubes",
        f"    env {TIMEOUT_ENV_VAR}=1 {PROG} tubes -q 2>/dev/null",
        "end",
        "",
        f"complete -c {PROG} -f",
    ]
    for option in spec.options:
        lines.append(_fish_option("__fish_use_subcommand", option))
    for command in spec.commands:
        lines.append(
            f"complete -c {PROG} -n __fish_use_subcommand -a {command.name} "
            f"-d {_fish_quote(command.help)}"
        )
    for command in spec.commands:
        condition = f"__fish_seen_subcommand_from {command.name}"
        for option in command.options:
            lines.append(_fish_option(condition, option))
        for positional in command.positionals:
            if positional.value == "tube":
                lines.append(
                    f"complete -c {PROG} -n {_fish_quote(condition)} -a '(__beanstalkm_tubes)'"
                )
            elif positional.value == "choices":
                lines.append(
                    f"complete -c {PROG} -n {_fish_quote(condition)} "
                    f"-a {_fish_quote(' '.join(positional.choices))}"
                )
    return "\n".join(lines) + "\n"
