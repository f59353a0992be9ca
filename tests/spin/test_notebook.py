"""Spinner and SpinnerGroup in a real IPython kernel (started by the test, as Jupyter starts one): one
output area replaced in place, output above it, the final line left — and no frame in the cell's stream."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="module")
def kernel() -> Iterator[Any]:
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=60)
    try:
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def run_cell(client: Any, code: str) -> list[dict[str, Any]]:
    """Execute *code* and return the iopub messages it caused, up to the kernel going idle."""
    msg_id = client.execute(code)
    messages = []
    for _ in range(10_000):
        msg = client.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return messages
        messages.append(msg)
    raise AssertionError("the kernel never went idle")


def areas(messages: list[dict[str, Any]]) -> tuple[dict[str, list[str]], list[str]]:
    """Each display's texts in order (by display id), and everything written to the cell's streams."""
    shown: dict[str, list[str]] = {}
    streams = []
    for msg in messages:
        kind, content = msg["msg_type"], msg["content"]
        if kind in ("display_data", "update_display_data"):
            shown.setdefault(content["transient"]["display_id"], []).append(content["data"]["text/plain"])
        elif kind == "stream":
            streams.append(content["text"])
        elif kind == "error":
            raise AssertionError("\n".join(content["traceback"]))
    return shown, streams


CODES = {
    "thread": """
import time
from aiotulip import Spinner
with Spinner("thinking", interval=0.05) as sp:
    time.sleep(0.4)
    sp.write("a line above")
    time.sleep(0.2)
    sp.ok("done")
""",
    "asyncio": """
import asyncio
from aiotulip import Spinner
async with Spinner("thinking", interval=0.05) as sp:
    await asyncio.sleep(0.4)
    sp.write("a line above")
    await asyncio.sleep(0.2)
    sp.ok("done")
""",
}


@pytest.mark.parametrize("backend", CODES)
def test_a_spinner_animates_one_area_and_ends_with_its_final_line(kernel: Any, backend: str) -> None:
    shown, streams = areas(run_cell(kernel, CODES[backend]))
    assert streams == []  # not one frame printed: they replace each other
    (log, frames) = shown.values()  # the output area above, then the spinner's own
    assert log[-1] == "a line above\n"
    assert frames[-1] == "✔ done"
    animated = [text for text in frames[:-1] if text.endswith(" thinking")]
    assert len(animated) >= 3 and len({text[0] for text in animated}) >= 2  # the frame turns


def test_a_group_shows_live_lines_under_the_finished_ones(kernel: Any) -> None:
    code = """
import asyncio
from aiotulip import SpinnerGroup
async with SpinnerGroup(interval=0.05) as group:
    a, b = group.add("alpha"), group.add("数据库")
    await asyncio.sleep(0.3)
    a.ok("alpha done")
    await asyncio.sleep(0.3)
    group.write("note")
    b.fail("数据库 broke")
"""
    shown, streams = areas(run_cell(kernel, code))
    assert streams == []
    (log, block) = shown.values()
    assert log[-1] == "note\n"
    assert any(text.startswith("✔ alpha done\n") and text.endswith(" 数据库") for text in block)
    both = [text.splitlines() for text in block if len(text.splitlines()) == 2]
    assert any(first.endswith(" alpha") and second.endswith(" 数据库") for first, second in both)
    assert block[-1] == "✔ alpha done\n✖ 数据库 broke"


def test_a_spinner_given_a_file_in_a_kernel_writes_to_the_file(kernel: Any, tmp_path: Any) -> None:
    out = tmp_path / "out.txt"
    code = f"""
from aiotulip import Spinner
with open({str(out)!r}, "w") as f, Spinner("to a file", stream=f) as sp:
    sp.ok("ok")
"""
    shown, streams = areas(run_cell(kernel, code))
    assert shown == {} and streams == []
    assert out.read_text() == "to a file\n✔ ok\n"
