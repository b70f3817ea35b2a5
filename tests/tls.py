"""Throwaway TLS certificates for the tests, made at test time with the ``openssl`` CLI.

:func:`make_certificates` writes a CA, a server certificate signed by it (for
``localhost`` and ``127.0.0.1``, usable as a client certificate too, as a Cluster
node's bus and a replica's link need), a client certificate signed by the same
CA, and a second CA that signed nothing here (to prove a wrong CA is refused).
The keys are EC P-256, so making them is instant. :class:`Certificates` says how
to hand them to ``redis-server``, ``redis-cli`` and a corral URL.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

__all__ = ["Certificates", "OpensslMissing", "make_certificates", "openssl"]


class OpensslMissing(Exception):
    """The ``openssl`` program is not on PATH."""


def openssl(*args: str, cwd: Path) -> None:
    """Run ``openssl args…`` in ``cwd``."""
    exe = shutil.which("openssl")
    if exe is None:
        raise OpensslMissing("openssl is not on PATH (apt-get install -y openssl)")
    subprocess.run([exe, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


_EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def _self_signed(name: str, cn: str, cwd: Path) -> None:
    openssl("req", "-x509", *_EC_KEY, "-keyout", f"{name}.key", "-out", f"{name}.crt",
            "-days", "2", "-subj", f"/CN={cn}", cwd=cwd)  # fmt: skip


def _signed(name: str, cn: str, extensions: str, cwd: Path) -> None:
    (cwd / f"{name}.cnf").write_text(extensions)
    openssl("req", *_EC_KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={cn}", cwd=cwd)  # fmt: skip
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.cnf",
            cwd=cwd)  # fmt: skip


@dataclass(frozen=True)
class Certificates:
    """A CA, a server and a client certificate it signed, and an unrelated CA."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    """A CA that signed none of these certificates."""

    def server_args(self, *, auth_clients: bool = True) -> list[str]:
        """``redis-server`` options for TLS with these files (``auth_clients``: a
        client must show a certificate the CA signed)."""
        return [
            "--tls-cert-file", str(self.server_cert),
            "--tls-key-file", str(self.server_key),
            "--tls-ca-cert-file", str(self.ca),
            "--tls-auth-clients", "yes" if auth_clients else "no",
        ]  # fmt: skip

    def server_conf(self, *, auth_clients: bool = True) -> str:
        """The same as :meth:`server_args`, as lines of a configuration file."""
        args = self.server_args(auth_clients=auth_clients)
        return "".join(
            f"{k.removeprefix('--')} {v}\n" for k, v in zip(args[::2], args[1::2], strict=True)
        )

    def cli_args(self) -> list[str]:
        """``redis-cli`` options to reach a TLS server that wants a client certificate."""
        return ["--tls", "--cacert", str(self.ca),
                "--cert", str(self.client_cert), "--key", str(self.client_key)]  # fmt: skip

    def query(self, *, client: bool = True, ca: Path | None = None) -> str:
        """A corral URL's TLS parameters: the CA (``ca``, or this one), and the
        client certificate when ``client``."""
        params = {"ssl_ca_certs": str(ca or self.ca)}
        if client:
            params |= {"ssl_certfile": str(self.client_cert), "ssl_keyfile": str(self.client_key)}
        return urlencode(params)

    def redis_py_kwargs(self) -> dict[str, Any]:
        """redis-py keyword arguments for the same (for reading behind corral's back)."""
        return {
            "ssl": True,
            "ssl_ca_certs": str(self.ca),
            "ssl_certfile": str(self.client_cert),
            "ssl_keyfile": str(self.client_key),
        }


def make_certificates(directory: Path) -> Certificates:
    """Write a throwaway CA and the certificates it signed into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    _self_signed("ca", "corral-test-ca", directory)
    _self_signed("other-ca", "corral-other-ca", directory)
    _signed("server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\n", directory)
    _signed("client", "corral-test-client", "extendedKeyUsage=clientAuth\n", directory)
    names = ("ca.crt", "server.crt", "server.key", "client.crt", "client.key", "other-ca.crt")
    return Certificates(*(directory / name for name in names))
