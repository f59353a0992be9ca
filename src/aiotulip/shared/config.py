"""The config file: ``[fetch]`` and ``[serve]`` tables of long options, as defaults for the command.

    # ~/.config/tulip/config.toml ($XDG_CONFIG_HOME/tulip/config.toml)
    [fetch]
    concurrency = 32
    retries = 8
    user-agent = "mirror-bot/1.0"
    header = ["X-Team: data"]

    [serve]
    port = 8080

A key is a long option of that command without its dashes (``user_agent`` is ``user-agent``); its
value is what the option takes — a number or a string where it takes a value (checked as the
command line checks it), ``true`` for a switch, a list of strings for an option given many times.
Each becomes the option's default, so the command line still wins (a list is added to). A misspelt
key, a table tulip does not read or a value of the wrong type stops the command before it starts:
one line naming the file and the key, exit 2. ``--config FILE`` reads another file (which must
then exist), ``--no-config`` none. Only the command line reads it: ``aiotulip.fetch()`` does not.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from aiotulip.errors import UsageError

__all__ = ["COMMANDS", "add_arguments", "apply", "default_path"]

COMMANDS = ("fetch", "serve")  # the commands that read a table of the file
_NOT_KEYS = frozenset({"help", "config", "no-config", "version"})
_SKIP = object()  # a switch set to false: the parser's own default stands


def default_path() -> str:
    """Return ``$XDG_CONFIG_HOME/tulip/config.toml``, else ``~/.config/tulip/config.toml``."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "tulip", "config.toml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--config FILE`` and ``--no-config`` to a command that reads the file."""
    group = parser.add_argument_group("config file")
    group.add_argument("--config", metavar="FILE", help=f"read defaults from FILE (default {_shown()})")
    group.add_argument("--no-config", action="store_true", help="read no config file")


def _shown() -> str:
    home = os.path.expanduser("~")
    path = default_path()
    return "~" + path[len(home) :] if path.startswith(home + os.sep) else path


def apply(parser: argparse.ArgumentParser, command: str, path: str | None, disabled: bool) -> bool:
    """Set *parser*'s defaults from the file's ``[command]`` table; return whether any were set.

    UsageError for a file that cannot be read, is not TOML, or says what *parser* cannot take."""
    if disabled:
        if path is not None:
            raise UsageError("--config and --no-config contradict each other")
        return False
    required = path is not None
    path = path if path is not None else default_path()
    document = _load(path, required)
    if document is None:
        return False
    for key, value in document.items():
        if key not in COMMANDS:
            raise UsageError(f"{path}: unknown table [{key}] (tulip reads [{'] and ['.join(COMMANDS)}])")
        if not isinstance(value, dict):
            raise UsageError(f"{path}: {key} must be a table ([{key}] and its keys below it)")
    table = document.get(command, {})
    if not table:
        return False
    by_name = _long_options(parser)
    defaults: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("_", "-")
        action = by_name.get(name)
        where = f"{path}: [{command}] {key}"
        if action is None:
            raise UsageError(f"{where}: tulip {command} has no option --{name} (see tulip {command} --help)")
        converted = _value(action, value, where)
        if converted is not _SKIP:
            defaults[action.dest] = converted
    parser.set_defaults(**defaults)
    return bool(defaults)


def _load(path: str, required: bool) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            data = f.read(1024 * 1024 + 1)
    except FileNotFoundError:
        if required:
            raise UsageError(f"--config {path}: no such file") from None
        return None
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    if len(data) > 1024 * 1024:
        raise UsageError(f"config file {path} is larger than 1 MiB")
    import tomllib  # (only where a config file exists: most runs have none, and it costs 4 ms)

    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"config file {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from None


def _long_options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Return each long option of *parser* by its name without dashes (aliases too)."""
    found = {}
    for action in parser._actions:
        for option in action.option_strings:
            if option.startswith("--") and option[2:] not in _NOT_KEYS:
                found[option[2:]] = action
    return found


def _value(action: argparse.Action, value: Any, where: str) -> Any:
    """Return *value* as *action* would store it from the command line; UsageError naming *where*."""
    if action.nargs == 0:  # a switch: store_true, store_false, store_const
        if not isinstance(value, bool):
            raise UsageError(f"{where}: must be true or false, not {_kind(value)}")
        return action.const if value else _SKIP
    if isinstance(action, argparse._AppendAction):
        values = [value] if isinstance(value, str | int | float) and not isinstance(value, bool) else value
        if not isinstance(values, list):
            raise UsageError(f"{where}: must be a string or a list of strings, not {_kind(value)}")
        return [_one(action, item, where) for item in values]
    if type(action) is not argparse._StoreAction or action.nargs not in (None, "?"):
        raise UsageError(f"{where}: cannot be set in the config file")
    return _one(action, value, where)


def _one(action: argparse.Action, value: Any, where: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise UsageError(f"{where}: must be {'a string' if action.type is None else 'a number or a string'}, "
                         f"not {_kind(value)}")  # fmt: skip
    if action.type is None and not isinstance(value, str):
        raise UsageError(f"{where}: must be a string, not {_kind(value)}")
    text = str(value)
    names_a_file = action.metavar in ("FILE", "DEST", "DIR") or getattr(action.type, "__name__", "") == "path"
    if text.startswith("~/") and names_a_file:
        text = os.path.expanduser(text)  # (the shell would have, on the command line)
    converted: Any = text
    if callable(action.type):
        try:
            converted = action.type(text)
        except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
            raise UsageError(f"{where}: {exc}") from None
    if action.choices is not None and converted not in action.choices:
        raise UsageError(f"{where}: {value!r} is not one of {', '.join(map(str, action.choices))}")
    return converted


def _kind(value: Any) -> str:
    names = {bool: "true/false", int: "a number", float: "a number", str: "a string", list: "a list",
             dict: "a table"}  # fmt: skip
    return names.get(type(value), type(value).__name__)
