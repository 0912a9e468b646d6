"""Real servers for the lake tests: a private PostgreSQL cluster and moto's S3 server, both on
loopback ephemeral ports, both started and stopped by the test session.

PostgreSQL is Debian's package (``apt-get install postgresql``; ``.ci/run`` installs it). The
cluster lives in a fresh temp folder with its own socket dir, listens on 127.0.0.1 only, trusts
local connections, and is stopped (``pg_ctl stop -m immediate``) at the end. PostgreSQL refuses
to run as root, so when the tests run as root its programs run as ``nobody`` via ``runuser``.

A missing component skips the test on a developer's machine and FAILS it in CI (``CI=true``),
so a CI run can never pass by skipping the lake.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str) -> None:
    """Skip on a developer's machine, fail in CI: a lake test never passes by not running."""
    message = f"{what} (CI installs it in .ci/run; locally: apt-get install postgresql, "
    message += "pip install -e '.[dev,lake]')"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bin() -> Path | None:
    found = sorted(str(p) for p in Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("pg_ctl")
    return Path(which).resolve().parent if which else None


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    socket_dir: str = ""  # its Unix socket's folder: reachable from another network namespace

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def socket_url(self, url: str) -> str:
        """``url`` (one of ``url``'s) over the Unix socket instead of TCP on loopback."""
        database = url.rsplit("/", 1)[1]
        return (
            f"postgresql+psycopg://{self.user}@/{database}?host={self.socket_dir}&port={self.port}"
        )

    def create_database(self, name: str) -> str:
        """A fresh database (one per test keeps catalogs apart); its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _as_postgres_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "nobody", "--", *cmd]


@contextlib.contextmanager
def postgres_cluster() -> Iterator[Postgres]:
    bindir = pg_bin()
    if bindir is None:
        missing("PostgreSQL (pg_ctl) not found")
        raise AssertionError("unreachable")
    root = Path(tempfile.mkdtemp(prefix="nsechain-pg-"))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    if os.geteuid() == 0:
        for p in (root, sockets):
            shutil.chown(p, "nobody", "nogroup")
    user = "nsechain"
    run = subprocess.run
    init = [str(bindir / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8"]
    run(_as_postgres_user([*init, "--no-sync"]), check=True, capture_output=True)
    port = 0
    try:
        for _ in range(5):  # a port picked free can be taken by another helper before we bind it
            port = free_port()
            opts = f"-h 127.0.0.1 -p {port} -k {sockets} -c fsync=off -c max_connections=60"
            start = [str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-w", "-t", "60"]
            done = run(
                _as_postgres_user([*start, "-l", str(root / "log"), "start"]), capture_output=True
            )
            if done.returncode == 0:
                break
        else:
            log = (root / "log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"PostgreSQL did not start: {log}")
        yield Postgres("127.0.0.1", port, user, str(sockets))
    finally:
        stop = [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
        run(_as_postgres_user(stop), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class S3:
    endpoint: str
    access_key: str = "testing"
    secret_key: str = "testing"
    region: str = "us-east-1"

    def create_bucket(self, name: str) -> None:
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )
        client.create_bucket(Bucket=name)


@contextlib.contextmanager
def moto_s3() -> Iterator[S3]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        missing("moto[server] is not installed")
        raise AssertionError("unreachable") from None
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((host, port), 1):
                break
            time.sleep(0.05)
        yield S3(f"http://{host}:{port}")
    finally:
        server.stop()
