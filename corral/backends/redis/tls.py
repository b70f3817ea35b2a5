"""What a failed TLS connection means, in words that name the URL parameter that fixes it.

OpenSSL's reasons (``CERTIFICATE_VERIFY_FAILED``, ``TLSV13_ALERT_CERTIFICATE_REQUIRED``
…) are precise but say nothing of corral's URL. :func:`tls_hint` reads them from
an error's text (every client corral uses keeps OpenSSL's words in it) and says
what to change; :func:`closed_before_reply_hint` covers a server that hangs up
before its first reply, which is how a TLS port answers plain text and how a
TLS 1.3 server often refuses a missing client certificate. Standard library only.
"""

from __future__ import annotations

__all__ = ["HANDSHAKE_TIMEOUT_HINT", "closed_before_reply_hint", "tls_hint"]

_MISMATCH = ("hostname mismatch", "ip address mismatch")
_NO_CLIENT_CERTIFICATE = (
    "CERTIFICATE_REQUIRED",
    "certificate required",
    "SSLV3_ALERT_BAD_CERTIFICATE",
    "ALERT_UNKNOWN_CA",
    "ALERT_HANDSHAKE_FAILURE",
)
_NOT_TLS = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG")


def tls_hint(text: str) -> str:
    """``"; <what to change>"`` for the TLS failure that ``text`` reports, or ``""``
    when it reports none."""
    if "CERTIFICATE_VERIFY_FAILED" in text:
        if any(m in text.lower() for m in _MISMATCH):
            return (
                "; the server's TLS certificate does not name the host of the URL: connect "
                "by a name the certificate carries, or add ssl_check_hostname=false"
            )
        return (
            "; the server's TLS certificate is not trusted: name the CA that signed it "
            "with ssl_ca_certs=/path/to/ca.crt (ssl_cert_reqs=none turns verification "
            "off, for a test setup only)"
        )
    if any(reason in text for reason in _NO_CLIENT_CERTIFICATE):
        return (
            "; the server refused this client's certificate, or wants one: give a "
            "certificate its CA signed with ssl_certfile=/path/client.crt&ssl_keyfile="
            "/path/client.key"
        )
    if any(reason in text for reason in _NOT_TLS):
        return "; the server did not answer in TLS: is this its tls-port? (plain TCP: redis://)"
    return ""


HANDSHAKE_TIMEOUT_HINT = (
    " (a plain-TCP port never answers a TLS handshake: is this the server's tls-port? "
    "plain TCP: redis://)"
)
"""What a TLS connection that timed out while being set up may mean."""


def closed_before_reply_hint(tls: bool) -> str:
    """What a server that closed the connection before its first reply may mean."""
    if tls:
        return (
            "; the server closed the TLS connection before its first reply: if it wants "
            "a client certificate (tls-auth-clients), give ssl_certfile= and ssl_keyfile="
        )
    return (
        "; the server closed the connection before its first reply: if it speaks TLS "
        "on this port, use rediss://"
    )
