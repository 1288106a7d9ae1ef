"""`python -m lab_servers serve`'s options: what it refuses before it serves, each refusal naming
the option and the rule — a non-loopback host without the flag, a port in use or shared, a TLS
directory or trace file it cannot use, a client document the AS would refuse (CIMD §4, §8.7)."""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path

import pytest

from lab_servers import DEFAULT_REVISION, HARDENED, NAIVE, ASCapabilities, Lab, load_trace
from lab_servers.client_documents import READY_DOCUMENTS, ClientDocumentError, read_client_document
from lab_servers.local_ca import ensure_local_ca
from lab_servers.serve import serving
from lab_servers.serve_console import serve_until_interrupted

from .serve_helpers import tls_dir

__all__ = ["tls_dir"]  # the session fixture, shared from serve_helpers.py
pytestmark = pytest.mark.anyio


async def test_a_non_loopback_host_needs_the_explicit_flag() -> None:
    with pytest.raises(ValueError, match="allow-non-loopback"):
        async with serving(host="0.0.0.0", mcp_port=0, as_port=0):
            pass


async def test_a_port_in_use_is_a_clear_error(tls_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match=rf"cannot listen on 127.0.0.1:{taken.getsockname()[1]}"):
            async with serving(mcp_port=taken.getsockname()[1], as_port=0, tls_directory=tls_dir):
                pass


@pytest.mark.parametrize(
    ("ports", "message"),
    [
        ({"mcp_port": 70000}, "--mcp-port 70000 is not a TCP port"),
        ({"documents_port": -1}, "--documents-port -1 is not a TCP port"),
        ({"mcp_port": 8123, "as_port": 8123}, "--mcp-port and --as-port are both 8123"),
        ({"as_port": 8124, "documents_port": 8124}, "--as-port and --documents-port are both 8124"),
    ],
)
async def test_each_server_needs_a_tcp_port_of_its_own(tls_dir: Path, ports: dict[str, int], message: str) -> None:
    # Two servers on one port: the second bound, failed to listen, and uvicorn stopped without a word
    # ("a lab server stopped while starting"); a port past 65535 was an OverflowError from bind.
    with pytest.raises(ValueError, match=re.escape(message)):
        async with serving(**{"mcp_port": 0, "as_port": 0, "documents_port": 0, **ports}, tls_directory=tls_dir):
            pass


async def test_a_tls_dir_or_trace_file_that_cannot_be_used_is_named(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    with pytest.raises(OSError, match=re.escape(f"--tls-dir {not_a_directory}")):
        async with serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=not_a_directory):
            pass
    planted = tmp_path / "shared"
    planted.mkdir()
    (planted / "ca-key.pem").symlink_to(not_a_directory)
    with pytest.raises(OSError, match=re.escape(f"--tls-dir {planted / 'ca-key.pem'}: a symbolic link stands where")):
        async with serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=planted):
            pass
    with pytest.raises(OSError, match=re.escape(f"--trace-file {tmp_path}: Is a directory")):
        await serve_until_interrupted(trace_file=tmp_path)


def test_a_users_client_document_is_read_no_further_than_the_as_would_fetch(tmp_path: Path) -> None:
    # CIMD §8.7: the AS reads at most its limit of a document; so does serve, which otherwise read
    # --client-document /dev/zero until memory ran out.
    document = tmp_path / "client.json"
    document.write_text('{"client_name": "' + "x" * 6000 + '"}', encoding="utf-8")
    with pytest.raises(ClientDocumentError, match=re.escape("over 5120 bytes")):
        read_client_document(document, lambda path: f"https://127.0.0.1:1{path}", Lab().auth_server)
    if Path("/dev/zero").exists():
        with pytest.raises(ClientDocumentError, match=re.escape("/dev/zero is a device, not a file the lab reads")):
            read_client_document(Path("/dev/zero"), lambda path: f"https://127.0.0.1:1{path}", Lab().auth_server)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_named_pipe_is_refused_unread_where_it_hung_serve_before_its_banner(tmp_path: Path) -> None:
    # Opening a named pipe waits for a writer: serve hung, deaf to Ctrl-C and SIGTERM (Python
    # retries the interrupted open), and load_trace with it. A planted /dev/zero as the CA's
    # certificate filled memory.
    pipe = tmp_path / "doc.json"
    os.mkfifo(pipe)
    with pytest.raises(ClientDocumentError, match="is a named pipe, not a file the lab reads"):
        read_client_document(pipe, lambda path: f"https://127.0.0.1:1{path}", Lab().auth_server)
    with pytest.raises(OSError, match="is a named pipe"):
        load_trace(pipe)
    tls = tmp_path / "tls"
    tls.mkdir()
    (tls / "ca-key.pem").write_text("x")
    if Path("/dev/zero").exists():
        (tls / "ca.pem").symlink_to("/dev/zero")
        with pytest.raises(ValueError, match="is not a PEM certificate"):
            ensure_local_ca(tls)


def test_the_command_line_refuses_a_non_loopback_host_without_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    # In process: test_serve_process.py runs the same command as a child (`python -m lab_servers serve`).
    from lab_servers.__main__ import main

    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "--allow-non-loopback" in capsys.readouterr().err


@pytest.mark.parametrize(("host", "reachable"), [("127.0.0.2", False), ("192.0.2.7", True)])
def test_a_host_the_lab_does_not_name_is_refused_without_calling_loopback_what_is_not(
    host: str, reachable: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    # 127.0.0.2 is a loopback address (RFC 1122 §3.2.1.3): it needs the flag, since the lab's URLs
    # name 127.0.0.1, ::1 or localhost, but nobody else can reach it ("is not a loopback address",
    # "others can then reach the lab" said otherwise).
    from lab_servers.__main__ import main

    assert main(["serve", "--host", host, "--mcp-port", "70000"]) == 2
    err = capsys.readouterr().err
    assert f"--host {host} is none of 127.0.0.1, ::1, localhost; pass --allow-non-loopback" in err
    assert ("others can then reach the lab" in err) is reachable and "not a loopback address" not in err


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ('{"client_name": "a", "client_name": "b"}', "appears twice"),
        ('{"x": ' + "[" * 2000 + "]" * 2000 + "}", "RFC 8259 §9"),
        ('{"client_name": NaN}', "NaN"),
    ],
    ids=["duplicate-name", "nested-2000-deep", "nan"],
)
def test_a_users_client_document_the_as_would_refuse_is_refused_at_start_naming_the_rule(
    tmp_path: Path, text: str, rule: str
) -> None:
    # The AS reads a fetched document with the bounded parser (CIMD §4 via bounded_json):
    # serve --client-document reads it the same way, so the user hears of it before a handshake.
    document = tmp_path / "client.json"
    document.write_text(text, encoding="utf-8")
    with pytest.raises(ClientDocumentError, match=re.escape(rule)):
        read_client_document(document, lambda path: f"https://127.0.0.1:1{path}", Lab().auth_server)


REDIRECT_URIS = ["http://localhost:3030/callback"]
ED25519_PUBLIC = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}


@pytest.mark.parametrize(
    ("document", "rule"),
    [
        (
            {"client_name": "k", "redirect_uris": REDIRECT_URIS, "token_endpoint_auth_method": "private_key_jwt",
             "jwks": {"keys": [{**ED25519_PUBLIC, "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}]}},
            "jwks contains private key material (key 0 holds the private member 'd')",
        ),
        (
            {"client_name": "s", "redirect_uris": REDIRECT_URIS, "token_endpoint_auth_method": "none", "client_secret": "hunter2"},
            "the document contains client_secret; a CIMD client MUST NOT have a shared secret (section 4.1)",
        ),
        (
            {"client_name": "s", "redirect_uris": REDIRECT_URIS, "token_endpoint_auth_method": "client_secret_basic"},
            "token_endpoint_auth_method 'client_secret_basic' is a shared-secret method, forbidden in a document",
        ),
        ({"client_name": "nr"}, "the document has no redirect_uris; MCP requires client_id, client_name and redirect_uris"),
        (
            {"client_name": "r", "redirect_uris": ["http://app.example/callback"]},
            "must use https, or http on a loopback host",
        ),
        (
            {"client_name": "j", "redirect_uris": REDIRECT_URIS, "token_endpoint_auth_method": "private_key_jwt"},
            "private_key_jwt needs the client's public keys in jwks or jwks_uri",
        ),
        (
            {"client_name": "u", "redirect_uris": REDIRECT_URIS, "token_endpoint_auth_method": "private_key_jwt",
             "jwks_uri": "https://169.254.169.254/keys"},
            "jwks_uri host 169.254.169.254 resolves to special-use address",
        ),
        ({"client_name": "d", "redirect_uris": REDIRECT_URIS, "x": [[[[[[[[1]]]]]]]]}, "nested deeper than 8 levels"),
        (
            {"client_name": "b", "redirect_uris": REDIRECT_URIS, "x": list(range(1100))},
            "bytes as served (its client_id filled in, written with indents), over the 5120",
        ),
    ],
    ids=["private-key", "client-secret", "secret-method", "no-redirect-uris", "http-redirect-uri", "no-keys",
         "jwks-uri-special-use", "nested-9-deep", "over-5-kib-as-served"],
)  # fmt: skip
def test_a_document_the_as_would_refuse_at_authorize_is_refused_at_start_naming_the_rule(
    tmp_path: Path, document: dict[str, object], rule: str
) -> None:
    # The banner lists under "Client ids you can use" only what the AS then accepts (README): serve
    # published all of these, listed them, and the AS refused each at a client's /authorize.
    path = tmp_path / "client.json"
    path.write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")
    with pytest.raises(ClientDocumentError, match=re.escape(rule)):
        read_client_document(path, lambda path: f"https://127.0.0.1:1{path}", Lab().auth_server)


def test_a_document_the_as_accepts_is_served_as_the_bytes_it_was_judged_by(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"client_name": "mine", "redirect_uris": REDIRECT_URIS}), encoding="utf-8")
    url, body = read_client_document(path, lambda path: f"https://127.0.0.1:1{path}", Lab().auth_server)
    assert url == "https://127.0.0.1:1/mine.json" and json.loads(body)["client_id"] == url


def test_a_private_key_is_never_published_even_for_an_as_that_would_take_it(tmp_path: Path) -> None:
    # The naive AS accepts a jwks with a private member; the documents host would serve the key
    # to anyone who asked (CIMD §4.1: public keys only).
    path = tmp_path / "client.json"
    leaked = {**ED25519_PUBLIC, "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}
    path.write_text(json.dumps({"client_name": "k", "redirect_uris": REDIRECT_URIS, "jwks": {"keys": [leaked]}}))
    with pytest.raises(ClientDocumentError, match=re.escape("which the documents host would serve to anyone")):
        read_client_document(path, lambda path: f"https://127.0.0.1:1{path}", Lab(policy=NAIVE).auth_server)


PRIVATE_ED25519 = {**ED25519_PUBLIC, "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}
# Every shape a `jwks` can carry a private key in, not only a JWK Set's "keys" (RFC 7517 §4-§5).
LEAKING_JWKS = {
    "a-jwk-set": {"keys": [ED25519_PUBLIC, PRIVATE_ED25519]},
    "a-bare-jwk": PRIVATE_ED25519,
    "a-list-of-jwks": [PRIVATE_ED25519],
    "keys-an-object": {"keys": {"0": PRIVATE_ED25519}},
    "nested-in-a-key": {"keys": [{**ED25519_PUBLIC, "backup": PRIVATE_ED25519}]},
    "a-symmetric-key": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]},
    "rsa-primes": [{"kty": "RSA", "n": "AQAB", "e": "AQAB", "p": "AQAB", "q": "AQAB"}],
}
# What serve's AS can be: CIMD on under either policy; CIMD off (--http, whose AS refuses
# http documents, or --no-cimd); a revision before CIMD (--revision 2025-06-18).
SERVE_MODES = {
    "cimd-hardened": lambda: Lab(policy=HARDENED),
    "cimd-naive": lambda: Lab(policy=NAIVE),
    "no-cimd": lambda: Lab(capabilities=ASCapabilities.for_revision(DEFAULT_REVISION).but(cimd=False)),
    "revision-2025-06-18": lambda: Lab(revision="2025-06-18"),
}


@pytest.mark.parametrize("mode", SERVE_MODES)
@pytest.mark.parametrize("jwks", LEAKING_JWKS)
def test_a_private_key_is_never_published_whatever_shape_its_jwks_has_and_whatever_the_as_takes(
    tmp_path: Path, jwks: str, mode: str
) -> None:
    # A document whose jwks holds a private key is refused at start whatever the policy (CIMD
    # §4.1, README). Only a JWK Set's "keys" were looked in, and with CIMD off the AS's own checks
    # are skipped: a bare JWK or a list of JWKs holding "d" was served to anyone.
    path = tmp_path / "client.json"
    path.write_text(json.dumps({"client_name": "k", "redirect_uris": REDIRECT_URIS, "jwks": LEAKING_JWKS[jwks]}))
    with pytest.raises(
        ClientDocumentError, match=r"jwks contains private key material \(.* holds the private member '(d|k|p)'\)"
    ):
        read_client_document(path, lambda path: f"https://127.0.0.1:1{path}", SERVE_MODES[mode]().auth_server)


@pytest.mark.parametrize("mode", SERVE_MODES)
@pytest.mark.parametrize(
    ("jwks", "rule"),
    [
        (ED25519_PUBLIC, "is not a JWK Set (RFC 7517 §5"),
        ([ED25519_PUBLIC], "is not a JWK Set (RFC 7517 §5"),
        ({"keys": "none"}, "is not a JWK Set (RFC 7517 §5"),
        ({"keys": [ED25519_PUBLIC, 5]}, "is not a JWK Set (RFC 7517 §4, §5): key 1 is not a JSON object"),
    ],
    ids=["a-bare-jwk", "a-list-of-jwks", "keys-no-array", "a-key-no-object"],
)
def test_a_jwks_that_is_no_jwk_set_is_refused_at_start_even_with_cimd_off(
    tmp_path: Path, jwks: object, rule: str, mode: str
) -> None:
    # The documents host serves it to anyone as the client's keys, whether or not this AS reads it.
    path = tmp_path / "client.json"
    path.write_text(json.dumps({"client_name": "k", "redirect_uris": REDIRECT_URIS, "jwks": jwks}))
    with pytest.raises(
        ClientDocumentError, match=re.escape(f"which the documents host would serve as the client's keys, {rule}")
    ):
        read_client_document(path, lambda path: f"https://127.0.0.1:1{path}", SERVE_MODES[mode]().auth_server)


async def test_serve_over_http_refuses_at_start_a_bare_jwk_holding_a_private_key(tmp_path: Path) -> None:
    # --http: the AS takes no CIMD client (its documents would be http), and the key was served.
    path = tmp_path / "client.json"
    path.write_text(json.dumps({"client_name": "k", "redirect_uris": REDIRECT_URIS, "jwks": PRIVATE_ED25519}))
    with pytest.raises(ClientDocumentError, match=re.escape("the top-level object holds the private member 'd'")):
        async with serving(mcp_port=0, as_port=0, documents_port=0, tls=False, client_documents=(path,)):
            pass


@pytest.mark.parametrize("policy", ["hardened", "naive"])
def test_every_document_serve_publishes_of_its_own_is_one_its_as_accepts(policy: str) -> None:
    # The banner lists them under "Client ids you can use" (README): each is judged as the AS
    # judges a document it fetched, for every revision served with CIMD.
    from lab_servers.__main__ import SERVED_REVISIONS
    from lab_servers.authorization_server.client_ids import judge_published_document
    from lab_servers.metadata_host import document_body

    judged = [Lab(revision=r, policy=NAIVE if policy == "naive" else HARDENED).auth_server for r in SERVED_REVISIONS]
    judged = [auth_server for auth_server in judged if auth_server.capabilities.cimd_usable]
    assert len(judged) >= 2  # 2025-11-25 and later
    for auth_server in judged:
        for ready in READY_DOCUMENTS:
            url = f"https://127.0.0.1:8002{ready.path}"
            assert judge_published_document(url, document_body(ready.document(url)), auth_server.cimd)


async def test_serve_refuses_at_start_a_document_its_as_would_refuse(tls_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "secret.json"
    path.write_text(json.dumps({"client_name": "s", "redirect_uris": REDIRECT_URIS, "client_secret": "hunter2"}))
    with pytest.raises(ClientDocumentError, match=re.escape("a CIMD client MUST NOT have a shared secret")):
        async with serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=tls_dir, client_documents=(path,)):
            pass


@pytest.mark.parametrize(
    ("host", "warned"), [("[::1]", False), ("::1", False), ("127.0.0.2", False), ("0.0.0.0", True)]
)
def test_the_non_loopback_warning_is_for_non_loopback_hosts_however_written(
    host: str, warned: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    from lab_servers.__main__ import main

    # The serve stops at its port before binding anything; the warning comes first, if at all.
    assert main(["serve", "--host", host, "--allow-non-loopback", "--mcp-port", "70000"]) == 2
    err = capsys.readouterr().err
    assert "is not a TCP port" in err and ("WARNING: listening on" in err) is warned


@pytest.mark.parametrize("name", ["we ird.json", "x#y.json", "q?.json"])
def test_a_client_document_whose_name_is_no_url_path_segment_is_refused(tmp_path: Path, name: str) -> None:
    # Served at /<file name>: a space, '#' or '?' made a client_id no request could reach (a
    # fragment, CIMD §3), and the banner advertised it.
    document = tmp_path / name
    document.write_text('{"client_name": "mine", "redirect_uris": ["http://127.0.0.1:9/cb"]}', encoding="utf-8")
    with pytest.raises(ClientDocumentError, match=re.escape("takes letters, digits and - . _ ~ only (RFC 3986")):
        read_client_document(document, lambda path: f"http://127.0.0.1:1{path}", Lab().auth_server)


async def test_two_client_documents_at_one_url_are_refused_naming_both(tmp_path: Path) -> None:
    # Published at one path, the second replaced the first (or the lab's own Inspector document)
    # and the banner listed both at one URL.
    for folder, name in (("a", "same.json"), ("b", "same.json"), ("c", "inspector-web.json")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_text('{"client_name": "x", "redirect_uris": ["http://127.0.0.1:9/cb"]}')
    for documents, already in (
        (
            (tmp_path / "a" / "same.json", tmp_path / "b" / "same.json"),
            f"already serves your document {tmp_path / 'a' / 'same.json'}",
        ),
        ((tmp_path / "c" / "inspector-web.json",), "already serves MCP Inspector"),
    ):
        with pytest.raises(ClientDocumentError, match=re.escape(already)):
            async with serving(mcp_port=0, as_port=0, tls=False, client_documents=documents):
                pass
