"""Three readers of one URL, for `test_url_parser_differentials.py`: the lab's (`urlsplit`,
RFC 3986), httpx's (`httpx._urlparse`, RFC 3986 with IDNA), and a browser's: the WHATWG URL
Standard's parser `ada` (the one Node.js uses), installed with the test tooling only.

A URL "means the same" to them when each that reads it at all finds the same scheme, host and
port (the origin, RFC 6454 §4: what a browser lands on and what httpx connects to) and, where the
path matters, the same path once dot segments are removed (RFC 3986 §5.2.4; WHATWG and httpx both
remove them). A reader that refuses a URL reaches no host at all, so it disagrees with nobody
about where it goes; `Reading.error` says so, and the tests say what must happen then.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from .ci import unavailable

try:
    import ada_url
except ImportError:
    unavailable("ada-url (requirements-test.txt), the WHATWG URL judge, is not installed")

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Reading:
    scheme: str = ""
    host: str = ""
    port: int | None = None
    path: str = ""
    error: str | None = None

    @property
    def origin(self) -> tuple[str, str, int | None]:
        return (self.scheme, self.host, self.port)


def _host(text: str) -> str:
    """A host as the readers' outputs compare: lowercased, IPv6 without brackets, an IP address
    in its one canonical spelling (`::ffff:7f00:1` and `::ffff:127.0.0.1` are one address)."""
    text = text.lower().removeprefix("[").removesuffix("]")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


def _port(scheme: str, port: int | None) -> int | None:
    return port if port is not None else DEFAULT_PORTS.get(scheme)


def lab_reading(url: str) -> Reading:
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        return Reading(scheme, _host(parts.hostname or ""), _port(scheme, parts.port), parts.path or "/")
    except ValueError as exc:
        return Reading(error=f"urlsplit: {exc}")


def httpx_reading(url: str) -> Reading:
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii")  # what goes to the resolver: IDNA-encoded
        path = parsed.raw_path.decode("ascii").partition("?")[0]
        return Reading(parsed.scheme, _host(host), _port(parsed.scheme, parsed.port), path or "/")
    except (httpx.InvalidURL, ValueError) as exc:  # idna's errors are ValueErrors
        return Reading(error=f"httpx: {type(exc).__name__}: {exc}")


def whatwg_reading(url: str) -> Reading:
    try:
        parsed = ada_url.parse_url(url)
    except ValueError as exc:
        return Reading(error=f"WHATWG: {exc}")
    scheme = parsed["protocol"].removesuffix(":")
    port = int(parsed["port"]) if parsed["port"] else None
    return Reading(scheme, _host(parsed["hostname"]), _port(scheme, port), parsed["pathname"] or "/")


READERS = {"lab": lab_reading, "httpx": httpx_reading, "WHATWG": whatwg_reading}


def readings(url: str, readers: tuple[str, ...] = ("lab", "httpx", "WHATWG")) -> dict[str, Reading]:
    return {name: READERS[name](url) for name in readers}


def without_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, which httpx and WHATWG apply and urlsplit does not."""
    return urlsplit(urljoin("http://h/", path)).path if path.startswith("/") else path


def disagreement(url: str, readers: tuple[str, ...] = ("lab", "httpx", "WHATWG"), *, path: bool = False) -> str | None:
    """How the readers that read `url` at all part on its origin (and, with `path`, its path), or None."""
    read = {name: r for name, r in readings(url, readers).items() if r.error is None}
    if len({r.origin for r in read.values()}) > 1:
        return f"{url!r} has different origins: " + ", ".join(f"{n} {r.origin}" for n, r in read.items())
    if path and len({without_dot_segments(r.path) for r in read.values()}) > 1:
        return f"{url!r} has different paths: " + ", ".join(f"{n} {r.path!r}" for n, r in read.items())
    return None


def whatwg_resolved(base: str, reference: str) -> str | None:
    """Where a browser goes from `base` on `reference` (a Location, a form's action), or None."""
    try:
        return str(ada_url.join_url(base, reference))
    except ValueError:
        return None


# Hostile spellings, by class (Orange Tsai, "A New Era of SSRF"; WHATWG URL §3.5 host parsing).
HOSTILE_HOSTS = (
    # legacy IPv4 forms: inet_aton (getaddrinfo) and WHATWG read them as 127.0.0.1
    "127.1", "0x7f.0.0.1", "2130706433", "0177.0.0.1", "0x7f000001", "127.0.0.01", "127.0.0.1.", "0", "0x",
    # numbers WHATWG refuses and a resolver takes as a name
    "1e1.1.1.1", "4294967296", "1.2.3.4.5",
    # IPv6: mapped, compatible, zone id, IPvFuture
    "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::127.0.0.1]", "[fe80::1%25eth0]", "[v1.x]", "[::]",
    # percent-encoded host bytes: WHATWG decodes them
    "%61pp.example", "app%2eexample", "app.ex%41mple", "app.example%00.evil", "app.example%2f.evil",
    # IDNA: full-width and ideographic dots, full-width letters, soft hyphen, zero width space
    "app\u3002example", "app\uff0eexample", "\uff41pp.example", "app.exam\u00adple", "app.example\u200b",
    "b\u00fccher.example", "xn--bcher-kva.example", "xn--app.example",
    # a final capital sigma: UTS #46 (WHATWG) maps it to U+03C3, httpx's str.lower to final U+03C2
    "a.\u03a3",
    # case, trailing dots, ports written oddly
    "APP.example", "app.example.", "app.example:443", "app.example:0443", "app.example:", "app.example:+443",
    "app.example:65536",
    # userinfo and the delimiters that hide it
    "a@app.example", "app.example\\@evil.example", "evil.example#@app.example", "evil.example?@app.example",
    "app.example\\.evil.example",
    # control characters and spaces inside the host
    "app\t.example", "app.ex\nample", "app.example ", "app.example\x00",
    # wide Unicode: a mathematical bold a (NFKC: a), a Cyrillic a (a homograph), a full-width
    # solidus that NFKC makes a "/" before an "@" (urlsplit refuses it), and a host of 70,000 bytes
    "\U0001d41app.example", "\u0430pp.example", "ex\u00e4mple.com\uff0f@evil.example", "a" * 70_000 + ".example",
)  # fmt: skip
HOSTILE_PREFIXES = ("https://", "HTTPS://", "https:", "https:/", "https:///", "https:\\\\", " https://", "\thttps://")
HOSTILE_PATHS = ("/client.json", "/a/../b", "/a/%2e%2e/b", "/a\\..\\b", "/%2fevil", "//evil.example/x", "/\u00e9", "")
HOSTILE_REFERENCES = (
    "/\\evil.example/", "\\\\evil.example/", "//evil.example/", "/\t/evil.example/", "https:evil.example",
    "https:/evil.example", "https:\\\\evil.example", " https://evil.example/", "\n//evil.example",
    "https://evil.example\\@auth.example.com/", "https://auth.example.com\\@evil.example/", "/%5Cevil.example/",
    "./", "../../../", "?x", "#y", "", "http://auth.example.com:443/", "https://auth.example.com:443/",
    "https://127.1/", "https://%61uth.example.com/", "//auth\u3002example.com/", "/" + "a" * 5000,
)  # fmt: skip


def generated_urls() -> list[str]:
    """Every hostile prefix × host × path: about 3,000 URLs."""
    return [prefix + host + path for prefix in HOSTILE_PREFIXES for host in HOSTILE_HOSTS for path in HOSTILE_PATHS]
