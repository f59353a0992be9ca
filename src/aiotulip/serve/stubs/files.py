"""WireMock's layout on disk: ``DIR/mappings/**/*.json`` (one mapping, or ``{"mappings": [...]}``)
and the bodies they name in ``DIR/__files/``.

A body file is read only from inside ``__files``: its name is checked for its shape when the
mapping is read (``model.safe_body_name``), and its real path, symlinks followed, when it is
opened, so that neither ``../`` nor a link can reach a file outside.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from aiotulip.errors import UsageError
from aiotulip.serve.stubs.model import MappingError, Stub, parse_stub

__all__ = ["BodyFiles", "load_mappings", "mapping_list"]

MAX_MAPPING_FILE = 16 * 1024 * 1024
_CHUNK = 64 * 1024


class BodyFiles:
    """The ``__files`` folder of a mappings directory (or none: then no stub may name a file)."""

    def __init__(self, root: Path | None, missing: Path | None = None) -> None:
        self.root = Path(os.path.realpath(root)) if root is not None else None
        self.missing = missing  # the __files folder a mappings directory lacks

    def path(self, name: str) -> Path:
        """Return the real path of body file *name*; raise MappingError if it is not a file inside."""
        if self.root is None:
            if self.missing is not None:
                raise MappingError("bodyFileName", f"there is no {self.missing} folder")
            raise MappingError("bodyFileName", "no __files folder: start tulip serve with --mappings DIR")
        real = Path(os.path.realpath(self.root / name))
        if not real.is_relative_to(self.root) or real == self.root:
            raise MappingError("bodyFileName", f"{name!r} leads outside __files")
        if not real.is_file():
            raise MappingError("bodyFileName", f"{name!r} is not a file in {self.root}")
        return real

    def chunks(self, name: str) -> Iterator[bytes]:
        """Read body file *name* a chunk at a time (blocking: run it off the loop)."""
        with open(self.path(name), "rb") as file:
            while chunk := file.read(_CHUNK):
                yield chunk


def mapping_list(data: object, where: str) -> list[object]:
    """Return the mappings in one JSON document: itself, or its ``mappings`` list."""
    if isinstance(data, dict) and "mappings" in data and "request" not in data:
        items = data["mappings"]
        if not isinstance(items, list):
            raise MappingError(f"{where}mappings", "must be a list of mappings")
        return items
    return [data]


def load_mappings(root: Path) -> tuple[list[Stub], BodyFiles]:
    """Read every mapping under ``root/mappings`` (sorted by path, so the order is the same on every
    machine) and check the body files they name; raise UsageError naming the file and field."""
    folder = root / "mappings"
    if not folder.is_dir():
        raise UsageError(
            f"{root} has no mappings/ folder (WireMock's layout: DIR/mappings/*.json, DIR/__files/)"
        )
    bodies = root / "__files"
    files = BodyFiles(bodies, None) if bodies.is_dir() else BodyFiles(None, bodies)
    inside = Path(os.path.realpath(folder))
    stubs: list[Stub] = []
    where: dict[str, Path] = {}  # the file each id came from
    for path in sorted(folder.rglob("*.json")):
        try:
            # A link that leads out of mappings/ is not followed, as a body file's is not.
            if not Path(os.path.realpath(path)).is_relative_to(inside):
                raise UsageError(f"{path}: a link that leads outside {folder}")
            info = path.stat()
            if not stat.S_ISREG(info.st_mode):  # (a FIFO read would hold the server for good)
                raise UsageError(f"{path}: not a regular file")
            if info.st_size > MAX_MAPPING_FILE:
                raise UsageError(f"{path}: larger than {MAX_MAPPING_FILE >> 20} MiB")
            data = json.loads(path.read_bytes())
        except (OSError, ValueError, RecursionError) as exc:
            raise UsageError(f"{path}: not a JSON mapping file ({exc})") from None
        try:
            items = mapping_list(data, "")
            for index, item in enumerate(items):
                stub = parse_stub(item, f"mappings[{index}]" if len(items) > 1 else "")
                if stub.answer.body_file is not None:
                    files.path(stub.answer.body_file)
                if stub.id in where:  # (WireMock would keep one and say nothing)
                    raise MappingError("id", f"{stub.id} is the id of a mapping in {where[stub.id]} too")
                where[stub.id] = path
                stubs.append(stub)
        except MappingError as exc:
            raise UsageError(f"{path}: {exc}") from None
    return stubs, files
