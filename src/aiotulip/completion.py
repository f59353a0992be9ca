"""``tulip completion bash|zsh|fish``: a completion script, made from the command's own parsers.

Nothing here is written by hand per option: the parsers of every command are built and walked
(their subcommands, options, choices and metavars), so an option added to any part is completed the
day it is added. Values are completed from ``choices`` where an option has them, as files where its
metavar is ``FILE``, as folders where it is ``DEST`` or ``DIR``, and not at all otherwise.

    source <(tulip completion bash)        # or: > ~/.local/share/bash-completion/completions/tulip
    tulip completion zsh > "${fpath[1]}/_tulip"
    tulip completion fish > ~/.config/fish/completions/tulip.fish
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

from aiotulip._version import __version__

__all__ = ["SHELLS", "Command", "Option", "add_arguments", "commands", "run", "script"]

SHELLS = ("bash", "zsh", "fish")
_WORD = re.compile(r"[A-Za-z0-9._:/+=-]+")  # what goes into a script unquoted


@dataclass(frozen=True)
class Option:
    """One option (or positional) of a command, as completion needs it."""

    strings: tuple[str, ...]  # "-c", "--concurrency"; empty for a positional
    takes_value: bool
    choices: tuple[str, ...]
    kind: str  # "file", "dir", "word" (choices), "any" (a value nothing can guess), "" (a switch)
    help: str


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    options: tuple[Option, ...]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the one argument of ``tulip completion``: the shell."""
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete for")


def run(args: argparse.Namespace) -> int:
    """Print the script for ``args.shell``."""
    print(script(args.shell), end="")
    return 0


def commands() -> tuple[list[Option], list[Command]]:
    """Return the top-level options and every command, read from the parsers of ``tulip``."""
    from aiotulip.cli import _build_parser

    parser = _build_parser()
    top = [_option(action) for action in parser._actions if action.option_strings]
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, child in action.choices.items():
                options = tuple(_option(each) for each in child._actions)
                found.append(Command(name, helps.get(name, ""), options))
    return top, found


def _option(action: argparse.Action) -> Option:
    takes_value = action.nargs != 0
    choices = tuple(str(choice) for choice in action.choices or () if _WORD.fullmatch(str(choice)))
    metavar = action.metavar if isinstance(action.metavar, str) else ""
    if not takes_value:
        kind = ""
    elif choices:
        kind = "word"
    elif metavar in ("FILE",) or getattr(action.type, "__name__", "") == "path":
        kind = "file"
    elif metavar in ("DEST", "DIR"):
        kind = "dir"
    else:
        kind = "any"
    text = " ".join((action.help or "").split()).replace("%(default)s", str(action.default))
    return Option(tuple(action.option_strings), takes_value, choices, kind, text)


def script(shell: str) -> str:
    """Return the completion script for *shell*."""
    top, found = commands()
    return {"bash": _bash, "zsh": _zsh, "fish": _fish}[shell](top, found)


def _words(values: list[str] | tuple[str, ...]) -> str:
    return " ".join(value for value in values if _WORD.fullmatch(value))


# -- bash ---------------------------------------------------------------------------------------------


def _bash(top: list[Option], found: list[Command]) -> str:
    first = [command.name for command in found] + [string for option in top for string in option.strings]
    lines = [
        f"# bash completion for tulip {__version__}, made by `tulip completion bash`",
        "_tulip() {",
        "    local cur prev cmd i",
        '    cur="${COMP_WORDS[COMP_CWORD]}"',
        '    prev="${COMP_WORDS[COMP_CWORD-1]}"',
        '    cmd=""',
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        '        case "${COMP_WORDS[i]}" in',
        "            -*) ;;",
        '            *) cmd="${COMP_WORDS[i]}"; break ;;',
        "        esac",
        "    done",
        "    COMPREPLY=()",
        '    if [[ -z "$cmd" ]]; then',
        f'        COMPREPLY=($(compgen -W "{_words(first)}" -- "$cur"))',
        "        return 0",
        "    fi",
        '    case "$cmd" in',
    ]
    for command in found:
        lines.append(f"    {command.name})")
        values = [o for o in command.options if o.strings and o.takes_value]
        if values:
            lines.append('        case "$prev" in')
            for option in values:
                pattern = "|".join(s for s in option.strings if _WORD.fullmatch(s))
                if option.kind == "word":
                    action = f'COMPREPLY=($(compgen -W "{_words(option.choices)}" -- "$cur"))'
                elif option.kind == "file":
                    action = 'COMPREPLY=($(compgen -f -- "$cur"))'
                elif option.kind == "dir":
                    action = 'COMPREPLY=($(compgen -d -- "$cur"))'
                else:
                    action = ":"
                lines.append(f"            {pattern}) {action}; return 0 ;;")
            lines.append("        esac")
        flags = [s for o in command.options for s in o.strings]
        positional = [c for o in command.options if not o.strings for c in o.choices]
        lines += [
            '        if [[ "$cur" == -* ]]; then',
            f'            COMPREPLY=($(compgen -W "{_words(flags)}" -- "$cur"))',
        ]
        if positional:
            offer = f'            COMPREPLY=($(compgen -W "{_words(positional)}" -- "$cur"))'
            lines += ["        else", offer]
        lines += ["        fi", "        ;;"]
    lines += ["    esac", "    return 0", "}", "complete -o default -F _tulip tulip", ""]
    return "\n".join(lines)


# -- zsh ----------------------------------------------------------------------------------------------


def _zsh_text(text: str) -> str:
    """Return *text* escaped for a single-quoted _arguments spec's [...] or a description."""
    return re.sub(r"([\[\]:\\])", r"\\\1", text).replace("'", "'\\''")


def _zsh_spec(option: Option) -> list[str]:
    text = _zsh_text(option.help)
    if option.kind == "word":
        value = f":value:({_words(option.choices)})"
    elif option.kind == "file":
        value = ":file:_files"
    elif option.kind == "dir":
        value = ":folder:_files -/"
    elif option.kind == "any":
        value = ":value: "
    else:
        value = ""
    if not option.strings:  # a positional
        return [f"'*{value or ':value: '}'"] if option.takes_value else []
    return [f"'{string}[{text}]{value}'" for string in option.strings if _WORD.fullmatch(string)]


def _zsh(top: list[Option], found: list[Command]) -> str:
    lines = ["#compdef tulip", f"# zsh completion for tulip {__version__}, made by `tulip completion zsh`"]
    lines.append("")
    for command in found:
        specs = [spec for option in command.options for spec in _zsh_spec(option)]
        lines.append(f"_tulip_{command.name}() {{")
        lines.append("    _arguments -s -S \\")
        lines += [f"        {spec} \\" for spec in specs]
        lines.append("        && return 0")
        lines.append("}")
        lines.append("")
    described = " ".join(f"'{c.name}:{_zsh_text(c.help)}'" for c in found)
    lines += [
        "_tulip() {",
        '    local curcontext="$curcontext" state line',
        "    local -a commands",
        f"    commands=({described})",
        "    _arguments -C \\",
        *[f"        {spec} \\" for option in top for spec in _zsh_spec(option)],
        "        '1:command:->command' \\",
        "        '*::argument:->argument' && return 0",
        "    case $state in",
        "        command) _describe -t commands 'tulip command' commands ;;",
        "        argument)",
        "            case $line[1] in",
        *[f"                {c.name}) _tulip_{c.name} ;;" for c in found],
        "            esac",
        "            ;;",
        "    esac",
        "}",
        "",
        'if [[ "$funcstack[1]" == "_tulip" ]]; then _tulip "$@"; else compdef _tulip tulip; fi',
        "",
    ]
    return "\n".join(lines)


# -- fish ---------------------------------------------------------------------------------------------


def _fish_text(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish(top: list[Option], found: list[Command]) -> str:
    lines = [f"# fish completion for tulip {__version__}, made by `tulip completion fish`"]
    lines.append("complete -c tulip -f")
    names = " ".join(c.name for c in found)
    for command in found:
        lines.append(f"complete -c tulip -n 'not __fish_seen_subcommand_from {names}' -a {command.name} "
                     f"-d {_fish_text(command.help)}")  # fmt: skip
    for command in found:
        seen = f"-n '__fish_seen_subcommand_from {command.name}'"
        for option in command.options:
            if not option.strings:
                if option.choices:
                    lines.append(f"complete -c tulip {seen} -a '{_words(option.choices)}'")
                continue
            parts = []
            for string in option.strings:
                if not _WORD.fullmatch(string):
                    continue
                if string.startswith("--"):
                    parts.append(f"-l {string[2:]}")
                elif len(string) == 2:
                    parts.append(f"-s {string[1]}")
                else:
                    parts.append(f"-o {string[1:]}")  # (an old-style option such as -nH)
            if option.kind == "word":
                parts.append(f"-x -a '{_words(option.choices)}'")
            elif option.kind in ("file", "dir"):
                parts.append("-r -F")
            elif option.kind == "any":
                parts.append("-x")
            lines.append(f"complete -c tulip {seen} {' '.join(parts)} -d {_fish_text(option.help)}")
    lines.append("")
    return "\n".join(lines)
