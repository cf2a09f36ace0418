"""Throw-away certificates for TLS tests, made with the openssl command line tool."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
"""


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


def _openssl(*args: str) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        raise RuntimeError("the openssl command line tool is needed to make test certificates")
    subprocess.run([binary, *args], check=True, capture_output=True, timeout=60)


def _new_key_args(key: Path) -> list[str]:
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key)]


def certificate_authority(directory: Path, name: str = "Test CA") -> KeyPair:
    pair = KeyPair(directory / f"{name.replace(' ', '_')}.pem", directory / f"{name.replace(' ', '_')}.key")
    _openssl(
        "req", "-x509", *_new_key_args(pair.key), "-out", str(pair.cert), "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return pair


def self_signed(directory: Path, name: str = "localhost") -> KeyPair:
    """A self-signed server certificate for localhost and 127.0.0.1 (its own CA)."""
    pair = KeyPair(directory / f"{name}.pem", directory / f"{name}.key")
    _openssl(
        "req", "-x509", *_new_key_args(pair.key), "-out", str(pair.cert), "-days", "2", "-subj", f"/CN={name}",
        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    )  # fmt: skip
    return pair


def signed_by(ca: KeyPair, directory: Path, name: str) -> KeyPair:
    """A certificate for ``name`` (also valid for localhost and 127.0.0.1), signed by ``ca``."""
    pair = KeyPair(directory / f"{name}.pem", directory / f"{name}.key")
    request, extensions = directory / f"{name}.csr", directory / f"{name}.ext"
    extensions.write_text(EXTENSIONS)
    _openssl("req", "-new", *_new_key_args(pair.key), "-out", str(request), "-subj", f"/CN={name}")
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca.cert), "-CAkey", str(ca.key), "-CAcreateserial",
        "-out", str(pair.cert), "-days", "2", "-extfile", str(extensions),
    )  # fmt: skip
    return pair


def client_context(trusted: Path, client: KeyPair | None = None) -> ssl.SSLContext:
    """What a charge point uses: verify the server against ``trusted``; optionally present a certificate."""
    context = ssl.create_default_context(cafile=str(trusted))
    if client is not None:
        context.load_cert_chain(str(client.cert), str(client.key))
    return context
