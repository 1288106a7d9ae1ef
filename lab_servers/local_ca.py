"""A local certificate authority for `python -m lab_servers serve`: MCP requires HTTPS for every
authorization server endpoint (MCP §11.3), and a CIMD `client_id` must be an https URL (CIMD §3).

On first run a CA key and certificate are made in a directory the user can find (default
`~/.mcp-auth-lab/tls`), then one server certificate for the loopback names (`localhost`,
`127.0.0.1`, `::1`). Clients trust the CA, never the server certificate: Node (MCP Inspector)
through `NODE_EXTRA_CA_CERTS`, Python (httpx, the SDK) through `SSL_CERT_FILE`, browsers and
everything else through the system store. The CA key never leaves the directory; it can sign
only for the names constrained below, so a leaked lab CA cannot impersonate a real site.

Bun's TLS (BoringSSL) cannot check an iPAddress name constraint, and RFC 5280 §4.2.1.10 has a
client that cannot check a critical constraint on a name form reject every certificate naming
one ("unsupported name constraint type"): Bun-compiled clients (opencode) refused the lab. For
them `ca-bun.pem` is the same CA (subject, key, validity) constrained to `localhost` alone:
trusting it, a Bun client accepts the same server certificate, and a leaked key could also sign
for IP addresses there, nowhere else.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import ipaddress
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .local_files import read_regular_file

# Under the home directory, found when first needed: a container run as a user the system does
# not know (no passwd entry, no HOME) has none, and `Path.home()` at import made every `serve`
# fail with a RuntimeError traceback, `--tls-dir` given or not.
DEFAULT_SUBDIRECTORY = Path(".mcp-auth-lab") / "tls"
LOOPBACK_NAMES = ("localhost",)
LOOPBACK_ADDRESSES = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class LocalCA:
    directory: Path

    @property
    def ca_certificate(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def bun_ca_certificate(self) -> Path:
        """The CA again, for clients whose TLS cannot check IP-address constraints (Bun's)."""
        return self.directory / "ca-bun.pem"

    @property
    def server_certificate(self) -> Path:
        return self.directory / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.directory / "server-key.pem"

    def trust_instructions(self) -> str:
        ca = self.ca_certificate
        return "\n".join(
            [
                f"TLS: certificates from the lab's local CA in {self.directory}",
                "  trust the CA (not the server certificate), in the client's own way:",
                f"    Node clients (MCP Inspector, npx …):  export NODE_EXTRA_CA_CERTS={ca}",
                f"    Python clients (httpx, the mcp SDK):  export SSL_CERT_FILE={ca}",
                f"    Bun clients (opencode, Claude Code):  export NODE_EXTRA_CA_CERTS={self.bun_ca_certificate}",
                f"    Debian/Ubuntu system store:           sudo cp {ca} /usr/local/share/ca-certificates/mcp-auth-lab.crt && sudo update-ca-certificates",
                f"    macOS keychain:                       sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {ca}",
                "  the CA is name-constrained to localhost, 127.0.0.1 and ::1; delete the directory to start over.",
            ]
        )


def ensure_local_ca(directory: Path | None = None) -> LocalCA:
    """The CA and server certificate in `directory`, made if missing (or expiring within a day).

    The server certificate is made anew whenever it cannot serve as it is (unreadable, expiring,
    not issued by this CA, or not matching its key): only the CA is trusted by clients, so they
    never notice. A CA that cannot be read is an error naming the file: a new one would have to
    be trusted again, which is the user's decision."""
    ca = LocalCA(Path(directory or os.environ.get("MCP_AUTH_LAB_TLS_DIR") or _default_directory()))
    ca.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _one_at_a_time(ca.directory):
        _ensure(ca)
    return ca


def _default_directory() -> Path:
    try:
        return Path.home() / DEFAULT_SUBDIRECTORY
    except RuntimeError:  # "Could not determine home directory."
        raise ValueError(
            "no home directory to keep the lab's CA in: pass --tls-dir DIR (or set MCP_AUTH_LAB_TLS_DIR)"
        ) from None


@contextlib.contextmanager
def _one_at_a_time(directory: Path) -> Iterator[None]:
    """Holds `directory`'s lock while its files are checked and made. Two `serve` runs started at
    once on a new directory each made a CA, and one's key was left beside the other's certificate:
    every later run refused the directory (delete it, trust a new CA). Where no lock can be taken
    (Windows has no flock, a directory the user cannot write), the files are made as before."""
    try:
        import fcntl

        descriptor = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT | _NO_FOLLOW, 0o600)
    except (ImportError, OSError):
        yield
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # released when the descriptor closes
        yield
    finally:
        os.close(descriptor)


def _ensure(ca: LocalCA) -> None:
    ca_key_path = ca.directory / "ca-key.pem"
    now = datetime.datetime.now(datetime.UTC)
    issuer = _certificate(ca.ca_certificate) if ca.ca_certificate.exists() and ca_key_path.exists() else None
    ca_key = None
    if issuer is None or _expires_soon(issuer, now):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        _write_key(ca_key_path, ca_key)
        issuer = _ca_certificate(ca_key, now)
        _write(ca.ca_certificate, issuer.public_bytes(serialization.Encoding.PEM))
        ca.server_certificate.unlink(missing_ok=True)
    if not _serves_as_it_is(ca, issuer, now):
        if ca_key is None:  # the CA on disk, not one just made
            ca_key = _ca_key(ca_key_path, issuer)
        server_key = ec.generate_private_key(ec.SECP256R1())
        _write_key(ca.server_key, server_key)
        certificate = _server_certificate(server_key, ca_key, issuer, now)
        _write(ca.server_certificate, certificate.public_bytes(serialization.Encoding.PEM))
    if not _is_bun_twin(ca.bun_ca_certificate, issuer):
        twin = _bun_ca_certificate(ca_key or _ca_key(ca_key_path, issuer), issuer)
        _write(ca.bun_ca_certificate, twin.public_bytes(serialization.Encoding.PEM))


def _is_bun_twin(path: Path, issuer: x509.Certificate) -> bool:
    """Whether `path` holds `issuer` again (subject, key, validity) for Bun: a TLS directory
    from before it existed, or one whose CA was made anew, gets it (again) on the next run."""
    try:
        twin = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return False
    return (twin.subject, twin.public_key(), twin.not_valid_after_utc) == (
        issuer.subject,
        issuer.public_key(),
        issuer.not_valid_after_utc,
    )


def _serves_as_it_is(ca: LocalCA, issuer: x509.Certificate, now: datetime.datetime) -> bool:
    """Whether the server certificate and key on disk can be served: readable, not expiring,
    signed by this CA, and the certificate's key is the key beside it."""
    try:
        certificate = x509.load_pem_x509_certificate(ca.server_certificate.read_bytes())
        key = serialization.load_pem_private_key(ca.server_key.read_bytes(), password=None)
        certificate.verify_directly_issued_by(issuer)
    except (OSError, ValueError, TypeError, InvalidSignature):
        return False
    return not _expires_soon(certificate, now) and key.public_key() == certificate.public_key()


def _certificate(path: Path) -> x509.Certificate:
    try:
        pem = read_regular_file(path, _MAX_PEM_BYTES)
        if len(pem) > _MAX_PEM_BYTES:
            raise ValueError(f"over {_MAX_PEM_BYTES} bytes")
        return x509.load_pem_x509_certificate(pem)
    except (OSError, ValueError):
        raise ValueError(f"{path} is not a PEM certificate: {_START_OVER.format(directory=path.parent)}") from None


def _ca_key(path: Path, issuer: x509.Certificate) -> ec.EllipticCurvePrivateKey:
    try:
        pem = read_regular_file(path, _MAX_PEM_BYTES)
        key = None if len(pem) > _MAX_PEM_BYTES else serialization.load_pem_private_key(pem, password=None)
    except (OSError, ValueError, TypeError):
        key = None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != issuer.public_key():
        raise ValueError(
            f"{path} is not the key of the CA in {path.parent}: {_START_OVER.format(directory=path.parent)}"
        )
    return key


_START_OVER = "delete {directory} to start over, then trust the new CA it makes"
# A PEM certificate or key of this CA is under 1 KB; a planted /dev/zero or a huge file is refused unread.
_MAX_PEM_BYTES = 64 * 1024


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write(path, pem, private=True)


# POSIX (Linux, macOS); Windows has no such flag.
_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    """One of the directory's files, written as a file of the lab's own: never through a symbolic
    link standing in its place (a `--tls-dir` others can write to), which would have the lab
    overwrite the link's target with a certificate, or make it readable by its owner alone.
    `private`: a key, readable by its owner alone, a file there already too (one made anew, one
    copied in)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NO_FOLLOW, 0o600 if private else 0o666)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise OSError(
            errno.ELOOP, "a symbolic link stands where the lab writes its own file; remove it", str(path)
        ) from None
    with os.fdopen(descriptor, "wb") as file:
        if private and os.chmod in os.supports_fd:
            os.chmod(descriptor, 0o600)  # by descriptor: the file opened, not a name that moved
        elif private:
            path.chmod(0o600)
        file.write(data)


def _expires_soon(certificate: x509.Certificate, now: datetime.datetime) -> bool:
    return certificate.not_valid_after_utc - now < datetime.timedelta(days=1)


def _loopback_names() -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in LOOPBACK_NAMES]
    return names + [x509.IPAddress(ipaddress.ip_address(address)) for address in LOOPBACK_ADDRESSES]


def _ca_certificate(key: ec.EllipticCurvePrivateKey, now: datetime.datetime) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "MCP auth lab local CA")])
    # RFC 5280 §4.2.1.10: the CA can only ever vouch for loopback names.
    permitted: list[x509.GeneralName] = [x509.DNSName(name) for name in LOOPBACK_NAMES]
    permitted += [x509.IPAddress(ipaddress.ip_network(f"{a}/{32 if '.' in a else 128}")) for a in LOOPBACK_ADDRESSES]
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _bun_ca_certificate(key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate) -> x509.Certificate:
    """`issuer` with its DNS constraint alone: the server certificate (issued by that subject and
    key) chains to it. Its own serial number (RFC 5280 §4.1.2.2: unique per issuer)."""
    constraints = issuer.extensions.get_extension_for_class(x509.NameConstraints).value
    permitted = [name for name in constraints.permitted_subtrees or () if isinstance(name, x509.DNSName)]
    builder = (
        x509.CertificateBuilder()
        .subject_name(issuer.subject)
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(issuer.not_valid_before_utc)
        .not_valid_after(issuer.not_valid_after_utc)
    )
    for extension in issuer.extensions:
        value = extension.value
        if isinstance(value, x509.NameConstraints):
            value = x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None)
        builder = builder.add_extension(value, critical=extension.critical)
    return builder.sign(key, hashes.SHA256())


def _server_certificate(
    key: ec.EllipticCurvePrivateKey, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, now: datetime.datetime
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName(_loopback_names()), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
