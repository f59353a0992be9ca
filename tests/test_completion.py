"""tulip completion: scripts made from the parsers, loaded by the real shells and asked to complete."""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

import pytest

from aiotulip.cli import _build_parser
from tests.needs import binary
from tests.terminal import tulip_cmd


def script(shell: str) -> str:
    proc = subprocess.run(tulip_cmd("completion", shell), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def bash_complete(tmp_path: Path, *words: str) -> list[str]:
    """What bash's completion function offers for the command line *words* (the last being completed)."""
    path = tmp_path / "tulip.bash"
    if not path.exists():
        path.write_text(script("bash"))
    quoted = " ".join(f"'{word}'" for word in words)
    code = (f"source {path}; COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; _tulip; "
            'printf "%s\\n" "${COMPREPLY[@]}"')  # fmt: skip
    proc = subprocess.run(
        [binary("bash"), "-c", code], capture_output=True, text=True, timeout=30, cwd=tmp_path
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return [line for line in proc.stdout.splitlines() if line]


def test_bash_offers_commands_options_and_their_values(tmp_path: Path) -> None:
    (tmp_path / "urls.txt").write_text("")
    assert bash_complete(tmp_path, "tulip", "fe") == ["fetch"]
    assert set(bash_complete(tmp_path, "tulip", "")) >= {"fetch", "serve", "spin", "completion", "--version"}
    assert bash_complete(tmp_path, "tulip", "fetch", "--conc") == ["--concurrency"]
    offered = bash_complete(tmp_path, "tulip", "fetch", "-c", "8", "--on-")
    assert offered == ["--on-collision", "--on-complete", "--on-download-complete", "--on-error",
                       "--on-download-error"]  # fmt: skip
    assert bash_complete(tmp_path, "tulip", "fetch", "--engine", "") == ["asyncio", "threads", "sequential"]
    assert bash_complete(tmp_path, "tulip", "fetch", "-i", "ur") == ["urls.txt"]
    assert bash_complete(tmp_path, "tulip", "completion", "") == ["bash", "zsh", "fish"]
    assert bash_complete(tmp_path, "tulip", "fetch", "--concurrency", "") == []  # a number: nothing to guess


def test_bash_knows_every_option_of_every_command(tmp_path: Path) -> None:
    """Made from the parsers: whatever option a part adds is offered, with nothing written by hand."""
    parser = _build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, child in sub.choices.items():
        wanted = {s for a in child._actions for s in a.option_strings if s.startswith("--")}
        offered = set(bash_complete(tmp_path, "tulip", name, "--"))
        assert offered == wanted, name


def test_zsh_completes_through_its_completion_system(tmp_path: Path) -> None:
    zsh = binary("zsh")
    (tmp_path / "_tulip").write_text(script("zsh"))
    assert (
        subprocess.run([zsh, "-n", str(tmp_path / "_tulip")], capture_output=True, timeout=30).returncode == 0
    )
    driver = tmp_path / "drive.zsh"
    driver.write_text(f"""
zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z 'PROMPT="> "; fpath=({tmp_path} $fpath); autoload -Uz compinit; compinit -u -D; setopt nobeep'
zpty -w -n z $'tulip fe\\t'
sleep 1
zpty -w -n z $'\\x15tulip fetch --concu\\t'
sleep 1
zpty -w -n z $'\\x15tulip fetch --engine \\t'
sleep 1
out=""
while zpty -r -t z line; do out+="$line"; done
print -r -- "$out"
zpty -d z
""")  # fmt: skip
    proc = subprocess.run([zsh, "-f", str(driver)], capture_output=True, text=True, timeout=60)
    screen = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", proc.stdout)
    assert "tulip fetch " in screen
    assert "--concurrency" in screen and "downloads in flight" in screen
    assert "asyncio" in screen and "sequential" in screen and "threads" in screen


def test_fish_completes(tmp_path: Path) -> None:
    fish = binary("fish")
    path = tmp_path / "tulip.fish"
    path.write_text(script("fish"))
    code = (f"source {path}; complete -C 'tulip fe'; echo ---; complete -C 'tulip fetch --conc'; echo ---; "
            "complete -C 'tulip fetch --engine '; echo ---; complete -C 'tulip fetch -n'")  # fmt: skip
    proc = subprocess.run([fish, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    commands, options, engines, short = (part.strip().splitlines() for part in proc.stdout.split("---"))
    assert [line.split("\t")[0] for line in commands] == ["fetch"]
    assert [line.split("\t")[0] for line in options] == ["--concurrency"]
    assert sorted(line.split("\t")[0] for line in engines) == ["asyncio", "sequential", "threads"]
    assert any(line.startswith("-nH\t") for line in short)


def test_an_unknown_shell_is_one_line() -> None:
    proc = subprocess.run(tulip_cmd("completion", "tcsh"), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "invalid choice" in proc.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_script_names_the_version(shell: str) -> None:
    from aiotulip._version import __version__

    assert f"tulip {__version__}" in script(shell).splitlines()[0 if shell != "zsh" else 1]
