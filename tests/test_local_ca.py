"""The served lab's TLS directory (`serve --tls-dir`, by default ~/.mcp-auth-lab/tls), kept from
run to run: a server certificate that cannot serve is made anew, since clients trust only the CA;
a CA that cannot be read is an error naming the file, since a new CA must be trusted again."""

from __future__ import annotations

import datetime
import importlib
import importlib.util
import shutil
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from lab_servers import local_ca
from lab_servers.local_ca import ensure_local_ca


def _server_context(directory: Path) -> ssl.SSLContext:
    """What the served lab loads: fails unless the certificate and its key belong together."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "server.pem", directory / "server-key.pem")
    return context


def _issued_by_the_ca(directory: Path) -> bool:
    ca = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
    server = x509.load_pem_x509_certificate((directory / "server.pem").read_bytes())
    try:
        server.verify_directly_issued_by(ca)
    except Exception:  # noqa: BLE001  # any failure means: not issued by this CA
        return False
    return True


def test_a_second_run_keeps_the_ca_and_the_server_certificate(tmp_path: Path) -> None:
    ensure_local_ca(tmp_path)
    files = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    ensure_local_ca(tmp_path)
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == files


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda d: (d / "server.pem").write_text("garbage"), id="server certificate unreadable"),
        pytest.param(lambda d: (d / "server-key.pem").write_text("garbage"), id="server key unreadable"),
        pytest.param(lambda d: (d / "server-key.pem").unlink(), id="server key missing"),
        pytest.param(
            lambda d: shutil.copy(d / "other" / "server-key.pem", d / "server-key.pem"), id="server key of another CA's"
        ),
        pytest.param(
            lambda d: shutil.copy(d / "other" / "server.pem", d / "server.pem"), id="server certificate of another CA"
        ),
        pytest.param(  # a pair that belongs together, issued by a CA no client of this one trusts (RFC 5280 §6.1)
            lambda d: [shutil.copy(d / "other" / name, d / name) for name in ("server.pem", "server-key.pem")],
            id="server certificate and key of another CA",
        ),
    ],
)
def test_a_server_certificate_that_cannot_serve_is_made_anew_under_the_same_ca(tmp_path: Path, damage: object) -> None:
    ensure_local_ca(tmp_path / "other")
    ensure_local_ca(tmp_path)
    ca = (tmp_path / "ca.pem").read_bytes()
    damage(tmp_path)  # type: ignore[operator]
    ensure_local_ca(tmp_path)
    assert (tmp_path / "ca.pem").read_bytes() == ca  # what clients trust is unchanged
    assert _issued_by_the_ca(tmp_path) and _server_context(tmp_path)


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        pytest.param(
            lambda d: (d / "ca.pem").write_text("garbage"), "ca.pem is not a PEM certificate", id="ca unreadable"
        ),
        pytest.param(
            lambda d: ((d / "ca-key.pem").write_text("garbage"), (d / "server.pem").unlink()),
            "ca-key.pem is not the key of the CA",
            id="ca key unreadable when a server certificate is due",
        ),
        pytest.param(
            lambda d: (shutil.copy(d / "other" / "ca-key.pem", d / "ca-key.pem"), (d / "server.pem").unlink()),
            "ca-key.pem is not the key of the CA",
            id="another CA's key",
        ),
    ],
)
def test_a_ca_that_cannot_be_used_is_an_error_naming_the_file_and_what_to_do(
    tmp_path: Path, damage: object, named: str
) -> None:
    ensure_local_ca(tmp_path / "other")
    ensure_local_ca(tmp_path)
    damage(tmp_path)  # type: ignore[operator]
    with pytest.raises(ValueError, match=named) as refused:
        ensure_local_ca(tmp_path)
    assert f"delete {tmp_path} to start over, then trust the new CA it makes" in str(refused.value)


@pytest.mark.parametrize("missing", ["ca.pem", "ca-key.pem"])
def test_a_ca_whose_certificate_or_key_is_gone_is_made_anew_with_a_server_certificate_it_issued(
    tmp_path: Path, missing: str
) -> None:
    # A CA is its certificate and its key together: without the key it can issue nothing more (the
    # next server certificate), without the certificate no client can trust what it issued.
    ensure_local_ca(tmp_path)
    old = (tmp_path / "ca.pem").read_bytes()
    (tmp_path / missing).unlink()
    ensure_local_ca(tmp_path)
    assert (tmp_path / "ca.pem").read_bytes() != old
    assert _issued_by_the_ca(tmp_path) and _server_context(tmp_path)


def test_without_a_directory_the_ca_is_kept_where_mcp_auth_lab_tls_dir_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The environment's answer to --tls-dir, which the no-home-directory error names as the way out.
    monkeypatch.setenv("MCP_AUTH_LAB_TLS_DIR", str(tmp_path / "from-env"))
    assert ensure_local_ca().directory == tmp_path / "from-env"
    assert ensure_local_ca(tmp_path / "given").directory == tmp_path / "given"  # an argument comes first


def test_a_new_tls_directory_and_its_lock_are_its_owners_alone(tmp_path: Path) -> None:
    # The directory holds the CA's private key: no one else may list it, enter it or open its lock.
    ensure_local_ca(tmp_path / "new" / "tls")  # its parents made too, as for the default ~/.mcp-auth-lab/tls
    assert stat.S_IMODE((tmp_path / "new" / "tls").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "new" / "tls" / ".lock").stat().st_mode) == 0o600


def test_a_key_made_anew_over_a_file_anyone_could_read_is_readable_by_its_owner_alone(tmp_path: Path) -> None:
    ensure_local_ca(tmp_path)
    key = tmp_path / "server-key.pem"
    key.write_text("garbage")
    key.chmod(0o644)
    ensure_local_ca(tmp_path)
    assert _server_context(tmp_path) and stat.S_IMODE(key.stat().st_mode) == 0o600


@pytest.mark.skipif(importlib.util.find_spec("fcntl") is None, reason="the directory's lock is flock's (POSIX)")
def test_runs_started_at_once_on_a_new_directory_leave_one_ca_and_a_certificate_it_issued(tmp_path: Path) -> None:
    # Four `serve` runs at once (threads here: each takes the lock through a descriptor of its
    # own, as a process does), five times over: without the lock, most rounds left one run's CA
    # key beside another's certificate, and the directory was refused from then on.
    for round_ in range(5):
        directory = tmp_path / str(round_)
        start, failures = threading.Barrier(4), []

        def run(
            directory: Path = directory, start: threading.Barrier = start, failures: list[Exception] = failures
        ) -> None:
            start.wait()
            try:
                ensure_local_ca(directory)
            except Exception as failure:  # noqa: BLE001  # reported below, with the round
                failures.append(failure)

        runs = [threading.Thread(target=run) for _ in range(4)]
        for thread in runs:
            thread.start()
        for thread in runs:
            thread.join()
        assert failures == [], round_
        assert _issued_by_the_ca(directory) and _server_context(directory), round_
        ensure_local_ca(directory)  # and a later run takes the directory as it is


def test_a_user_the_system_does_not_know_can_still_serve_with_a_tls_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container run as a user with no passwd entry and no HOME has no home directory: the
    default directory under it was computed at import, so `serve --tls-dir DIR` failed there too,
    with a RuntimeError traceback."""

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    monkeypatch.delenv("MCP_AUTH_LAB_TLS_DIR", raising=False)
    try:
        importlib.reload(local_ca)  # what `python -m lab_servers serve` imports
        assert local_ca.ensure_local_ca(tmp_path).ca_certificate.exists()
        with pytest.raises(ValueError, match="no home directory to keep the lab's CA in: pass --tls-dir DIR"):
            local_ca.ensure_local_ca()
    finally:
        monkeypatch.undo()
        importlib.reload(local_ca)


def _expiring_within_a_day(directory: Path, which: str) -> None:
    """Replace the CA (`ca`) or the server certificate (`server`) in `directory` with one made as
    if a year (the CA's lifetime) or 90 days (the server's) less 12 hours ago: valid 12 h more."""
    now = datetime.datetime.now(datetime.UTC)
    if which == "ca":
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = local_ca._ca_certificate(key, now - datetime.timedelta(days=365, hours=-12))
        local_ca._write_key(directory / "ca-key.pem", key)
        (directory / "ca.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return
    ca_key = serialization.load_pem_private_key((directory / "ca-key.pem").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    issuer = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
    server_key = serialization.load_pem_private_key((directory / "server-key.pem").read_bytes(), password=None)
    assert isinstance(server_key, ec.EllipticCurvePrivateKey)
    certificate = local_ca._server_certificate(server_key, ca_key, issuer, now - datetime.timedelta(days=90, hours=-12))
    (directory / "server.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def test_a_ca_expiring_within_a_day_is_made_anew_with_a_server_certificate_it_issued(tmp_path: Path) -> None:
    # A CA that dies tomorrow would take every served run with it; the lab makes a new one (which
    # the user trusts again) while the old one still works, and a server certificate under it.
    ensure_local_ca(tmp_path)
    _expiring_within_a_day(tmp_path, "ca")
    expiring = (tmp_path / "ca.pem").read_bytes()
    ensure_local_ca(tmp_path)
    assert (tmp_path / "ca.pem").read_bytes() != expiring
    assert _issued_by_the_ca(tmp_path) and _server_context(tmp_path)


def test_a_server_certificate_expiring_within_a_day_is_made_anew_under_the_same_ca(tmp_path: Path) -> None:
    ensure_local_ca(tmp_path)
    ca = (tmp_path / "ca.pem").read_bytes()
    _expiring_within_a_day(tmp_path, "server")
    expiring = (tmp_path / "server.pem").read_bytes()
    ensure_local_ca(tmp_path)
    assert (tmp_path / "ca.pem").read_bytes() == ca  # what clients trust is unchanged
    assert (tmp_path / "server.pem").read_bytes() != expiring
    assert _issued_by_the_ca(tmp_path) and _server_context(tmp_path)


def test_the_trust_instructions_name_the_ca_file_never_the_server_certificate(tmp_path: Path) -> None:
    # Clients trust the CA, so the server certificate can be made anew without them noticing.
    instructions = ensure_local_ca(tmp_path).trust_instructions()
    assert f"NODE_EXTRA_CA_CERTS={tmp_path / 'ca.pem'}" in instructions
    assert "server.pem" not in instructions


def test_the_ca_may_issue_only_server_certificates_and_the_server_certificate_only_serves(tmp_path: Path) -> None:
    # RFC 5280 §4.2.1.9: basicConstraints is critical in a CA certificate, and a pathLenConstraint
    # of 0 lets it issue no further CA; §4.2.1.3: a CA signs certificates (keyCertSign, cRLSign),
    # an ECDSA server key signs its handshakes (digitalSignature); §4.2.1.10: nameConstraints MUST
    # be critical; §4.2.1.12: the server certificate is for TLS server authentication only.
    ensure_local_ca(tmp_path)
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.pem").read_bytes())
    server = x509.load_pem_x509_certificate((tmp_path / "server.pem").read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).critical
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value == x509.BasicConstraints(True, 0)
    assert ca.extensions.get_extension_for_class(x509.NameConstraints).critical
    ca_usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert ca_usage.critical and ca_usage.value == x509.KeyUsage(
        False, False, False, False, False, True, True, False, False
    )
    assert server.extensions.get_extension_for_class(x509.BasicConstraints).value == x509.BasicConstraints(False, None)
    server_usage = server.extensions.get_extension_for_class(x509.KeyUsage)
    assert server_usage.critical and server_usage.value == x509.KeyUsage(
        True, False, False, False, False, False, False, False, False
    )
    # §4.2.1.6: with a non-empty subject (CN=localhost) subjectAltName SHOULD be non-critical.
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert not names.critical and "localhost" in names.value.get_values_for_type(x509.DNSName)
    assert list(server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
    ]
    assert ca.not_valid_after_utc - ca.not_valid_before_utc == datetime.timedelta(days=365, minutes=5)
    assert server.not_valid_after_utc - server.not_valid_before_utc == datetime.timedelta(days=90, minutes=5)


def test_bun_clients_get_the_same_ca_constrained_to_localhost_alone(tmp_path: Path) -> None:
    # Bun's TLS (BoringSSL) cannot check an iPAddress name constraint, and RFC 5280 §4.2.1.10 has
    # a client that cannot check a critical constraint on a name form reject certificates naming
    # one: opencode refused every certificate of the lab ("unsupported name constraint type").
    # ca-bun.pem is the same CA (subject, key, validity) with its DNS constraint alone, so the
    # one server certificate chains to it too; ca.pem keeps every constraint for everyone else.
    lab = ensure_local_ca(tmp_path)
    ca = x509.load_pem_x509_certificate(lab.ca_certificate.read_bytes())
    twin = x509.load_pem_x509_certificate(lab.bun_ca_certificate.read_bytes())
    server = x509.load_pem_x509_certificate(lab.server_certificate.read_bytes())
    assert (twin.subject, twin.public_key(), twin.not_valid_before_utc, twin.not_valid_after_utc) == (
        ca.subject, ca.public_key(), ca.not_valid_before_utc, ca.not_valid_after_utc
    )  # fmt: skip
    assert twin.serial_number != ca.serial_number  # RFC 5280 §4.1.2.2: unique per issuer
    constraints = twin.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical and constraints.value.permitted_subtrees == [x509.DNSName("localhost")]
    assert constraints.value.excluded_subtrees is None
    assert twin.extensions.get_extension_for_class(x509.BasicConstraints).value == x509.BasicConstraints(True, 0)
    server.verify_directly_issued_by(twin)
    assert f"NODE_EXTRA_CA_CERTS={lab.bun_ca_certificate}" in lab.trust_instructions()


@pytest.mark.parametrize("before", ["missing", "of another CA"])
def test_a_tls_directory_without_bun_s_ca_gets_it_and_keeps_what_clients_trust(tmp_path: Path, before: str) -> None:
    # A directory made before ca-bun.pem existed, or holding another CA's (the CA made anew).
    ensure_local_ca(tmp_path / "other")
    ensure_local_ca(tmp_path)
    kept = {name: (tmp_path / name).read_bytes() for name in ("ca.pem", "ca-key.pem", "server.pem")}
    if before == "missing":
        (tmp_path / "ca-bun.pem").unlink()
    else:
        shutil.copy(tmp_path / "other" / "ca-bun.pem", tmp_path / "ca-bun.pem")
    ensure_local_ca(tmp_path)
    assert {name: (tmp_path / name).read_bytes() for name in kept} == kept
    twin = x509.load_pem_x509_certificate((tmp_path / "ca-bun.pem").read_bytes())
    x509.load_pem_x509_certificate(kept["server.pem"]).verify_directly_issued_by(twin)


@pytest.mark.parametrize("name", ["ca-key.pem", "ca.pem", "server-key.pem", "server.pem", "ca-bun.pem"])
def test_a_symbolic_link_where_the_lab_writes_a_file_is_refused_and_its_target_left_alone(
    tmp_path: Path, name: str
) -> None:
    # A --tls-dir others can write to (a shared /tmp directory) may hold a link planted where the
    # lab writes: the lab once wrote its certificate through it into the link's target (or set a
    # key's mode on it). It writes only files of its own now, and names the link. (A new CA
    # removes the old server.pem first: the link planted there meets a directory with its CA.)
    directory, victim = tmp_path / "tls", tmp_path / "victim"
    if name == "server.pem":
        ensure_local_ca(directory).server_certificate.unlink()
    directory.mkdir(exist_ok=True)
    victim.write_text("not the lab's\n")
    victim.chmod(0o644)
    (directory / name).symlink_to(victim)
    with pytest.raises(OSError, match="a symbolic link stands where the lab writes its own file") as refused:
        ensure_local_ca(directory)
    assert refused.value.filename == str(directory / name)
    assert victim.read_text() == "not the lab's\n" and stat.S_IMODE(victim.stat().st_mode) == 0o644
    (directory / name).unlink()  # the way out the message names
    ensure_local_ca(directory).server_certificate.read_bytes()
