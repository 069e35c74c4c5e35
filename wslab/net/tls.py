"""A throw-away certificate authority for ``wss://`` on loopback (layer 2).

``serve(tls=True)`` asks :func:`make_tls` for a fresh local CA (trustme) and a
server certificate for 127.0.0.1, ::1 and localhost.  Clients trust the
server only when given the CA (``connect(url, ca_file=server.ca_file)``):
exactly what a browser does with a real CA in its trust store.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass


@dataclass(frozen=True)
class TLSFiles:
    server_context: ssl.SSLContext
    ca_file: str      # PEM of the local CA, for clients
    ca_pem: bytes


def make_tls() -> TLSFiles:
    """A new CA and server certificate; the CA's PEM is written to a temporary file."""
    import trustme

    ca = trustme.CA(organization_name="wslab local CA")
    cert = ca.issue_cert("127.0.0.1", "::1", "localhost")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    pem = ca.cert_pem.bytes()
    fd, path = tempfile.mkstemp(prefix="wslab-ca-", suffix=".pem")
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return TLSFiles(ctx, path, pem)


def client_context(ca_file: str | None) -> ssl.SSLContext:
    """A client TLS context trusting ``ca_file`` (or the system's CAs when None)."""
    ctx = ssl.create_default_context()
    if ca_file is not None:
        ctx.load_verify_locations(ca_file)
    return ctx
