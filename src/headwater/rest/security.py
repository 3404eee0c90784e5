"""Who may talk to the REST endpoint, and over what: bearer tokens and TLS.

``security.rest.auth.token-file`` names a file holding the cluster's REST token (readable
by its owner only). When set, every request must carry ``Authorization: Bearer <token>``
(401 in Flink's error form otherwise): the REST API, the Prometheus endpoint and the
dashboard alike. ``security.ssl.rest.enabled`` serves HTTPS with the PEM certificate and
key of ``security.ssl.rest.cert`` / ``security.ssl.rest.key``. Clients read the token from
``HEADWATER_TOKEN`` (or ``--token``) and trust ``security.ssl.rest.ca`` / ``HEADWATER_CA_FILE``.
"""

from __future__ import annotations

import hmac
import os
import secrets
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from headwater.config import Configuration
from headwater.private_files import read_private_text, write_private_text

TOKEN_FILE = "security.rest.auth.token-file"
SSL_ENABLED = "security.ssl.rest.enabled"
SSL_CERT = "security.ssl.rest.cert"
SSL_KEY = "security.ssl.rest.key"
SSL_CA = "security.ssl.rest.ca"


class ConfigurationError(ValueError):
    """A security setting names a missing or unsafe file."""


def generate_token() -> str:
    """A fresh random REST token."""
    return secrets.token_urlsafe(32)


def write_token_file(path: Path, token: str) -> Path:
    """Write ``token`` to ``path``, readable and writable by its owner only."""
    return write_private_text(path, token + "\n")


def read_token_file(path: str | os.PathLike[str]) -> str:
    """The token in ``path``; refuses files that others may read."""
    try:
        token = read_private_text(path, "the REST token file")
    except OSError as exc:  # missing, unreadable, or readable by others
        raise ConfigurationError(f"{TOKEN_FILE}: {exc}") from exc
    if len(token) < 16:
        raise ConfigurationError(f"{TOKEN_FILE}: {path} holds no token of at least 16 "
                                 "characters")
    return token


def configured_token(configuration: Mapping[str, Any]) -> str | None:
    """The REST token the configuration asks for, or None (no authentication)."""
    path = str(configuration.get(TOKEN_FILE) or "")
    return read_token_file(path) if path else None


class BearerTokenCheck:
    """Compares ``Authorization: Bearer ...`` headers with the cluster's token."""

    def __init__(self, token: str | None) -> None:
        self.token = token

    @property
    def enabled(self) -> bool:
        """Whether requests must carry the token."""
        return self.token is not None

    def accepts(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header value carries the token."""
        if self.token is None:
            return True
        scheme, _, presented = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), self.token.encode())


def server_ssl_context(configuration: Configuration) -> ssl.SSLContext | None:
    """The TLS context of the REST server, or None when TLS is off."""
    if not configuration.get_bool(SSL_ENABLED):
        return None
    cert, key = configuration.get(SSL_CERT), configuration.get(SSL_KEY)
    if not cert or not key:
        raise ConfigurationError(f"{SSL_ENABLED} needs {SSL_CERT} and {SSL_KEY} (PEM files)")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"cannot load the REST certificate {cert} / key {key}: "
                                 f"{exc}") from exc
    return context
