"""Proxies and toxics as toxiproxy's API describes them, checked from JSON; no I/O.

Every mistake raises ApiError with toxiproxy's status and words ("missing required field: name",
"proxy already exists", "bad request body: ..."), and a message that names the field at fault. The
toxic types are a table (``TOXIC_TYPES``): each attribute's unit, default and bounds, so that the
checks, the docs and the error messages come from one place.

What tulip checks that toxiproxy does not: unknown fields and attributes (a typo would otherwise be
a toxic that silently does nothing), values out of range (a negative latency, a toxicity of 2),
names that cannot be part of a URL path (``a/b``, ``..``).
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "STREAMS",
    "TOXIC_TYPES",
    "ApiError",
    "Attribute",
    "ProxySpec",
    "Toxic",
    "ToxicType",
    "format_address",
    "host_allowed",
    "is_loopback",
    "parse_body",
    "parse_proxy",
    "parse_proxy_list",
    "parse_toxic",
    "split_address",
    "update_proxy",
    "update_toxic",
]

STREAMS = ("upstream", "downstream")
DEFAULT_LISTEN = "127.0.0.1:0"  # toxiproxy's "" would listen on every interface
_MAX_MS = 86_400_000  # a day: anything longer is a typo, and would hold a timer for ever
_MAX_BYTES = 2**53  # what a JSON number holds exactly
_MAX_NAME = 200


class ApiError(Exception):
    """A request the API refuses: toxiproxy's message and HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def to_json(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status}


def bad_body(detail: str) -> ApiError:
    return ApiError(f"bad request body: {detail}")


def proxy_not_found() -> ApiError:
    return ApiError("proxy not found", 404)


def toxic_not_found() -> ApiError:
    return ApiError("toxic not found", 404)


def proxy_exists() -> ApiError:
    return ApiError("proxy already exists", 409)


def toxic_exists() -> ApiError:
    return ApiError("toxic already exists", 409)


# -- the toxic types -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attribute:
    """One attribute of a toxic type: a whole number in *unit*, *default* when absent."""

    name: str
    unit: str  # "ms", "µs", "bytes", "KB/s", "status", "seconds", "count"
    default: int | None = 0
    low: int = 0
    high: int = _MAX_BYTES
    nullable: bool = False  # None is a value (retry_after: no Retry-After header)


@dataclass(frozen=True)
class ToxicType:
    """A toxic type: its attributes, and whether it reads HTTP (then it acts on whole exchanges)."""

    name: str
    summary: str
    attributes: tuple[Attribute, ...] = ()
    http: bool = False


def _ms(name: str) -> Attribute:
    return Attribute(name, "ms", high=_MAX_MS)


TOXIC_TYPES: dict[str, ToxicType] = {
    kind.name: kind
    for kind in (
        ToxicType("latency", "delay the data by latency ± jitter", (_ms("latency"), _ms("jitter"))),
        ToxicType("bandwidth", "at most rate KB/s (1 KB = 1000 bytes)", (Attribute("rate", "KB/s"),)),
        ToxicType("slow_close", "hold the close back for delay", (_ms("delay"),)),
        ToxicType("timeout", "swallow the data; close after timeout (0: never)", (_ms("timeout"),)),
        ToxicType("reset_peer", "reset the connection timeout after the data starts", (_ms("timeout"),)),
        ToxicType(
            "slicer",
            "cut the data in pieces of average_size ± size_variation bytes, delay µs apart",
            (
                Attribute("average_size", "bytes"),
                Attribute("size_variation", "bytes"),
                Attribute("delay", "µs", high=_MAX_MS * 1000),
            ),
        ),
        ToxicType("limit_data", "close the connection after bytes", (Attribute("bytes", "bytes"),)),
        ToxicType("noop", "nothing (toxiproxy has it too)"),
        ToxicType(
            "http_error",
            "answer status (with Retry-After: retry_after) instead of the upstream",
            (
                Attribute("status", "status", default=503, low=400, high=599),
                Attribute("retry_after", "seconds", default=None, high=_MAX_MS // 1000, nullable=True),
            ),
            http=True,
        ),
        ToxicType("http_truncate", "cut the response body short at a seeded point, then close", http=True),
        ToxicType(
            "http_corrupt",
            "flip bytes of the response body at seeded places (same length)",
            (Attribute("bytes", "count", default=1, low=1, high=1024),),
            http=True,
        ),
        ToxicType("http_delay_headers", "hold the response head back for delay", (_ms("delay"),), http=True),
    )
}


@dataclass(frozen=True)
class Toxic:
    """A toxic as the API shows it."""

    name: str
    type: str
    stream: str = "downstream"
    toxicity: float = 1.0
    attributes: Mapping[str, int | None] = field(default_factory=dict)

    @property
    def kind(self) -> ToxicType:
        return TOXIC_TYPES[self.type]

    def to_json(self) -> dict[str, Any]:
        return {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
        }


_TOXIC_FIELDS = ("name", "type", "stream", "toxicity", "attributes")


def parse_toxic(data: object) -> Toxic:
    """Return the toxic a ``POST /proxies/{proxy}/toxics`` body describes, defaults filled in."""
    body = _object(data, _TOXIC_FIELDS)
    kind_name = body.get("type")
    if not isinstance(kind_name, str) or kind_name not in TOXIC_TYPES:
        known = ", ".join(TOXIC_TYPES)
        raise ApiError(f"invalid toxic type: {kind_name!r} (type is one of {known})")
    kind = TOXIC_TYPES[kind_name]
    stream = body.get("stream", "downstream")
    if not isinstance(stream, str) or stream.lower() not in STREAMS:
        raise ApiError("stream was invalid, can be either upstream or downstream")
    stream = stream.lower()
    if kind.http and stream != "downstream":
        raise ApiError(f"stream: {kind.name} changes responses, so its stream is downstream, not {stream}")
    name = body.get("name") or f"{kind.name}_{stream}"
    _check_name(name, "name")
    toxicity = _toxicity(body.get("toxicity", 1.0))
    attributes = _attributes(kind, {}, body.get("attributes", {}))
    return Toxic(name=name, type=kind.name, stream=stream, toxicity=toxicity, attributes=attributes)


def update_toxic(toxic: Toxic, data: object) -> Toxic:
    """Return *toxic* changed by a ``POST /proxies/{proxy}/toxics/{toxic}`` body: attributes merged,
    toxicity kept unless given; its name, type and stream stay what they are."""
    body = _object(data, _TOXIC_FIELDS)
    for key in ("name", "type", "stream"):
        if key in body and body[key] != getattr(toxic, key):
            raise bad_body(f"{key}: a toxic's {key} cannot change (remove it and add another)")
    toxicity = _toxicity(body["toxicity"]) if "toxicity" in body else toxic.toxicity
    attributes = _attributes(toxic.kind, dict(toxic.attributes), body.get("attributes", {}))
    return replace(toxic, toxicity=toxicity, attributes=attributes)


def _toxicity(value: object) -> float:
    number = _number(value)
    if number is None or not 0 <= number <= 1:
        raise bad_body(f"toxicity must be a probability from 0 to 1, not {value!r}")
    return float(number)


def _attributes(kind: ToxicType, current: dict[str, int | None], given: object) -> dict[str, int | None]:
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise bad_body(f"attributes must be a JSON object, not {given!r}")
    known = {attribute.name: attribute for attribute in kind.attributes}
    unknown = sorted(set(given) - set(known))
    if unknown:
        allowed = ", ".join(known) or "none"
        raise bad_body(f"attributes.{unknown[0]} is not an attribute of {kind.name} (it has {allowed})")
    values = {name: current.get(name, attribute.default) for name, attribute in known.items()}
    for name, value in given.items():
        values[name] = _attribute_value(kind, known[name], value)
    if kind.name == "slicer":
        average, variation = values["average_size"] or 0, values["size_variation"] or 0
        if average and variation >= average:
            raise bad_body("attributes.size_variation must be smaller than average_size")
    return values


def _attribute_value(kind: ToxicType, attribute: Attribute, value: object) -> int | None:
    if value is None and attribute.nullable:
        return None
    number = _number(value)
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if isinstance(number, int) and attribute.low <= number <= attribute.high:
        return number
    what = "a status" if attribute.unit == "status" else f"a whole number of {attribute.unit}"
    extra = " or null" if attribute.nullable else ""
    raise bad_body(
        f"attributes.{attribute.name} of {kind.name} must be {what} from {attribute.low} to "
        f"{attribute.high}{extra}, not {value!r}"
    )


def _number(value: object) -> int | float | None:
    """*value* if it is a JSON number (not a boolean, not infinite), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    return None


# -- proxies --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxySpec:
    """A proxy as the API shows it (without its toxics): *listen* is where it listens once bound."""

    name: str
    upstream: str
    listen: str = DEFAULT_LISTEN
    enabled: bool = True

    def to_json(self, toxics: list[Toxic]) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [toxic.to_json() for toxic in toxics],
        }


_PROXY_FIELDS = ("name", "listen", "upstream", "enabled", "toxics")  # toxics: Go's client sends them back


def parse_proxy(data: object, where: str = "") -> ProxySpec:
    """Return the proxy a ``POST /proxies`` body (or one item of a populate list) describes."""
    body = _object(data, _PROXY_FIELDS)
    for key in ("name", "upstream"):
        if not body.get(key):
            raise ApiError(f"missing required field: {key}{where}")
    _check_name(body["name"], "name")
    if body.get("toxics"):  # (null or [] as Go's client sends for a new proxy)
        # toxiproxy ignores them here: a config file's toxics were dropped without a word.
        raise bad_body(f"toxics{where}: a proxy's toxics are added with POST /proxies/NAME/toxics, not here")
    listen = body.get("listen") or DEFAULT_LISTEN
    enabled = body.get("enabled", True)
    _check_address(listen, "listen", port_zero=True)
    _check_address(body["upstream"], "upstream", port_zero=False)
    if not isinstance(enabled, bool):
        raise bad_body(f"enabled must be true or false, not {enabled!r}")
    return ProxySpec(name=body["name"], upstream=body["upstream"], listen=listen, enabled=enabled)


def update_proxy(spec: ProxySpec, data: object) -> ProxySpec:
    """Return *spec* changed by a ``POST /proxies/{proxy}`` body (absent fields keep their values)."""
    body = _object(data, _PROXY_FIELDS)
    if "name" in body and body["name"] != spec.name:
        raise bad_body("name: a proxy's name cannot change (delete it and create another)")
    merged = {"name": spec.name, "listen": spec.listen, "upstream": spec.upstream, "enabled": spec.enabled}
    merged.update({key: body[key] for key in ("listen", "upstream", "enabled") if key in body})
    return parse_proxy(merged)


def parse_proxy_list(data: object) -> list[ProxySpec]:
    """Return the proxies of a ``POST /populate`` body or a ``--config`` file: every one is checked
    before any is created, as toxiproxy does."""
    if not isinstance(data, list):
        raise bad_body(f"a JSON list of proxies is expected, not {type(data).__name__}")
    specs = []
    for number, item in enumerate(data, 1):
        if isinstance(item, dict):
            for key in ("name", "upstream"):
                if not item.get(key):
                    raise ApiError(f"missing required field: {key} at proxy {number}")
        specs.append(parse_proxy(item, f" at proxy {number}"))
    return specs


def _object(data: object, fields: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise bad_body(f"a JSON object is expected, not {type(data).__name__}")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise bad_body(f"{unknown[0]} is not a field (fields are {', '.join(fields)})")
    return data


def _check_name(name: object, key: str) -> None:
    """A name goes into URL paths (``/proxies/{name}``), as clients put it there, unescaped: no slash,
    no dot segment, nothing unprintable, and none of ``%?#`` (``x%2Fy`` was made, then never found:
    its path said ``x/y``)."""
    if name == "" or name is None:
        raise ApiError(f"missing required field: {key}")
    if not isinstance(name, str):
        raise bad_body(f"{key} must be a string, not {name!r}")
    if (
        len(name) > _MAX_NAME
        or "/" in name
        or "\\" in name
        or any(char in name for char in "%?#")
        or name in (".", "..")
        or any(not char.isprintable() or char.isspace() for char in name)
    ):
        raise bad_body(
            f"{key} {name[:_MAX_NAME]!r} cannot be part of a URL path: use up to {_MAX_NAME} printable "
            "characters, no spaces, none of / \\ % ? #"
        )


def parse_body(raw: bytes) -> object:
    """Return the JSON document *raw* holds; raise toxiproxy's 400 if it is not one."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        if not raw.strip():
            raise bad_body("EOF (the body is empty)") from None
        raise bad_body(str(exc)) from None


# -- addresses ------------------------------------------------------------------------------------


def split_address(text: str) -> tuple[str, int]:
    """Return (host, port) of ``host:port``, ``[v6]:port`` or ``:port``; raise ValueError."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise ValueError(f"missing port in address {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"an IPv6 address needs brackets: [{host}]:{port_text}")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"invalid port {port_text!r} in address {text!r}")
    if any(char.isspace() or not char.isprintable() or char in "/[]@" for char in host):
        raise ValueError(f"invalid host {host!r} in address {text!r}")
    return host, int(port_text)


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _check_address(value: object, key: str, *, port_zero: bool) -> None:
    if not isinstance(value, str):
        raise bad_body(f"{key} must be a string like 127.0.0.1:8080, not {value!r}")
    try:
        host, port = split_address(value)
    except ValueError as exc:
        raise bad_body(f"{key}: {exc}") from None
    if port == 0 and not port_zero:
        raise bad_body(f"{key}: port 0 is not an address to connect to ({value!r})")
    if key == "upstream" and not host:
        raise bad_body(f"{key}: missing host in address {value!r}")


def is_loopback(host: str) -> bool | None:
    """Whether *host* is on loopback: True or False for an IP literal, ``localhost`` or every
    interface (""); None for another name, which only resolving can tell."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    if not name:
        return False  # every interface
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return None


def host_allowed(header: str | None, *, exposed: bool, names: frozenset[str] = frozenset()) -> bool:
    """Whether a request's Host *header* names this API (a page that rebound its own DNS name to
    127.0.0.1 sends that name, and is refused): loopback and ``localhost`` always; when the API is
    *exposed* beyond loopback, any IP literal too; and the extra *names* (lower case)."""
    if header is None:
        return True  # HTTP/1.0 without Host: no name was rebound
    host, port = header.strip().lower(), ""
    if host.startswith("["):
        host, bracket, port = host[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            return False
        port = port[1:]
    elif host.count(":") == 1:
        host, _, port = host.partition(":")
    if port and not port.isdigit():
        return False  # "127.0.0.1:80@evil.example" is no Host a browser sends
    host = host.rstrip(".")
    if not host:
        return False
    if host in names:
        return True
    loopback = is_loopback(host)
    if loopback:
        return True
    if loopback is False:  # an IP literal that is not loopback
        return exposed
    return False
