"""The process title: the command line as ``ps`` shows it, without the secrets typed into it.

Anyone on the machine can read ``/proc/PID/cmdline`` while a run goes, so a password in a URL, a
``--user`` pair or a ``-H`` value would be on show for as long as the download lasts. curl blanks
such arguments in place; Python cannot reach its argv memory, so setproctitle writes the title over
it (only when there was something to hide: an ordinary ``ps`` line stays as the shell made it). The
few milliseconds before this runs are curl's window too; a file (``--user @FILE``, the config file)
keeps a secret off the command line altogether.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["hidden", "hide_parsed", "hide_secrets", "parsed_hidden", "secrets_of"]

# A URL's credentials, user and password: user:PASSWORD@ up to the last @ before the path, as URL
# parsers split it (a user name may hold an @: me@site.com:PASSWORD@host), after scheme:// or at the
# start of a word or a value (tulip takes user:PASSWORD@host/x for http://, and -x user:PASSWORD@host:port);
# spaces and tabs too, which a word may hold (-x 'http://u:pass word@host:port' was used as given).
# The user too: it is as often a token as a name (TOKEN:x-oauth-basic@, an API key and no password).
_USERINFO = re.compile(r"(?i)((?:\b[a-z][a-z0-9+.-]*://|^-x|^|=))([^/:?#=]*:[^/?#]*)@")
# A URL's user with no password, which may be a token (https://TOKEN@host/): the whole userinfo, up
# to the last @ before the path, with no colon in it.
_USER_ONLY = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/:?#]+@(?=[^@/?#]*(?:[/?#]|$))")
# A URL or proxy given without a scheme, with a user and no password: TOKEN@host[:port][/...].
_BARE_USER = re.compile(r"([^/:?#@\s]+)@[^/?#@]+(?:[/?#]|$)")
# Options whose value is a secret of the kind USER:PASSWORD, those whose value is a header, and
# those whose whole value is a secret.
_PAIRS = ("--user", "--proxy-user")
_HEADERS = ("--header",)
_WHOLE = ("--pass",)
_SHORT = {"-u": "--user", "-H": "--header"}


def _masked(option: str, value: str) -> str:
    """*value* as the process list may show it, given to *option* (a pair, a header, a secret)."""
    if option in _PAIRS:
        return _pair(value)
    if option in _WHOLE:
        return "***" if value else value
    return _header(value)


def _pair(value: str) -> str:
    if value.startswith("@"):
        return value  # a file's name: no secret in it
    # Whole, as curl blanks it: the user may be the secret (an API key with an empty password).
    return "***" if ":" in value else value


def _header(value: str) -> str:
    name, colon, rest = value.partition(":")
    return f"{name}: ***" if colon and rest.strip() else value


def hidden(words: Sequence[str]) -> list[str]:
    """Return *words* (a command line) with every password, credential pair and header value as ``***``."""
    out: list[str] = []
    after: str | None = None  # the option whose value the next word is
    for word in words:
        if after is not None:
            out.append(_masked(after, word))
            after = None
            continue
        long, eq, value = word.partition("=")
        if word.startswith("--") and eq and long in (*_PAIRS, *_HEADERS, *_WHOLE):
            out.append(f"{long}={_masked(long, value)}")
        elif word in (*_PAIRS, *_HEADERS, *_WHOLE):
            after = word
            out.append(word)
        elif word[:2] in _SHORT and not word.startswith("--"):
            option = _SHORT[word[:2]]
            if len(word) == 2:
                after = option
                out.append(word)
            else:  # -uUSER:PASS, -H'Name: value'
                out.append(word[:2] + _masked(option, word[2:]))
        else:
            out.append(_USER_ONLY.sub(r"\1***@", _USERINFO.sub(r"\1***@", word)))
    return out


def secrets_of(parsed: object) -> list[str]:
    """The secret values an argparse namespace holds: the passwords of ``--user``/``--proxy-user``
    pairs and of URLs, and ``-H`` values — however they were spelt on the command line (argparse
    takes ``--head`` for ``--header`` and ``-quser:pw`` for ``-q -u user:pw``, which the words alone
    do not show)."""
    found: list[str] = []
    for name, value in vars(parsed).items():
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if not isinstance(item, str) or not item:
                continue
            if name in ("user", "proxy_user") and not item.startswith("@") and ":" in item:
                # The pair where it stands whole, else its password (-qubob:pw: joined to a flag)
                found += [item, item.partition(":")[2]]
            elif name == "key_passphrase":
                found.append(item)
            elif name == "header":
                found.append(item.partition(":")[2].strip())
            elif "@" in item:
                found += [match.group(2) for match in _USERINFO.finditer(item)]
                if name in ("urls", "proxy") and (bare := _BARE_USER.match(item)):
                    found.append(bare.group(1))  # (TOKEN@host: tulip takes it as http://, a token sent)
    return sorted({secret for secret in found if secret}, key=len, reverse=True)


def hide_parsed(words: Sequence[str], parsed: object, program: str = "tulip") -> bool:
    """Set the title to *words* with every secret value of *parsed* (see secrets_of) hidden, on top
    of what hide_secrets hides; return whether it changed. *parsed* holds the command line's values
    only: a secret from a file is on no command line, and masking its text wherever else it
    appears would point at it."""
    return _set(words, parsed_hidden(words, parsed), program)


def parsed_hidden(words: Sequence[str], parsed: object) -> list[str]:
    """Return *words* as hide_parsed shows them."""
    shown = hidden(words)
    for secret in secrets_of(parsed):
        # Only where a value of it stands: at the end of a word (but blanks) or before a URL's @, after the
        # start, a colon, an = or a space. Anywhere else (a password "127" in 127.0.0.1) the *** would
        # point at the secret, not hide it.
        where = re.compile(r"(?:(?<=[:=\s])|^)" + re.escape(secret) + r"(?=@|\s*$)")
        shown = [where.sub("***", word) for word in shown]
    return shown


def hide_secrets(words: Sequence[str], program: str = "tulip") -> bool:
    """Set the process title to *program* and *words* with their secrets hidden, if any were there;
    return whether it was changed."""
    return _set(words, hidden(words), program)


def _set(words: Sequence[str], shown: list[str], program: str) -> bool:
    if shown == list(words):
        return False
    try:
        import setproctitle
    except ImportError:  # pragma: no cover - a dependency; without it the title cannot change
        return False
    setproctitle.setproctitle(" ".join([program, *shown]))
    return True
