"""OCPP security profiles: the htpasswd file of charge point credentials and the server's
TLS context. Used by settings validation (at start) and by the gateway."""

from __future__ import annotations

import re
import ssl

BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")


def parse_htpasswd(text: str) -> dict[str, str]:
    """``user:hash`` lines (as ``htpasswd -B`` writes them); only bcrypt hashes are accepted."""
    entries: dict[str, str] = {}
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.rpartition(":")
        if not sep or not user:
            raise ValueError(f"line {number} is not 'charge point id:bcrypt hash'")
        if not hashed.startswith(BCRYPT_PREFIXES) or len(hashed) != 60:
            raise ValueError(f"line {number} ({user}) is not a bcrypt hash; create entries with htpasswd -B")
        entries[user] = hashed
    if not entries:
        raise ValueError("no entries; create them with htpasswd -B FILE <charge point id>")
    return entries


_COMMENT = re.compile(r"(^|\s)#.*$")


def parse_charge_point_ids(data: bytes | str) -> frozenset[str]:
    """The file form of OCPP_ALLOWED_CHARGE_POINTS: one charge point id per line; ``#`` starts a
    comment (at the start of a line, or after a space); blank lines are ignored. An empty file
    allows no charge point. Raises ValueError naming the line of a problem."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data  # UnicodeDecodeError is a ValueError
    ids: set[str] = set()
    for number, raw_line in enumerate(text.splitlines(), start=1):
        cp_id = _COMMENT.sub("", raw_line).strip()
        if not cp_id:
            continue
        if any(ord(char) < 32 or ord(char) == 127 for char in cp_id):
            raise ValueError(f"line {number}: a charge point id must not contain control characters")
        ids.add(cp_id)
    return frozenset(ids)


def client_certificate_names(peercert: object) -> list[str]:
    """The commonName (CN) values of the subject of a certificate as ``SSLObject.getpeercert()``
    gives it (``{"subject": ((("commonName", "CP_1"),), ...)}``)."""
    if not isinstance(peercert, dict):
        return []
    names: list[str] = []
    for rdn in peercert.get("subject", ()):
        for attribute in rdn:
            if isinstance(attribute, tuple) and len(attribute) == 2 and attribute[0] == "commonName":
                names.append(str(attribute[1]))
    return names


def server_tls_context(cert_file: str, key_file: str, client_ca_file: str | None) -> ssl.SSLContext:
    """The OCPP server's TLS context: TLS 1.2 or later; with a client CA, client certificates
    signed by it are required (OCPP security profile 3). Raises OSError or ssl.SSLError."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    if client_ca_file is not None:
        context.load_verify_locations(cafile=client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context
