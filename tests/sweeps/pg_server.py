"""A throwaway PostgreSQL server for tests: Debian's ``postgresql`` package (installed with
apt-get when missing), one data folder in /tmp, reachable only through a unix socket there.

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user the
package creates.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be installed or started here."""


def _bindir() -> str | None:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    return os.path.dirname(found[-1]) if found else None


def _install() -> None:
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise PostgresUnavailable(
            "postgresql is not installed and apt-get is not usable here (needs root)"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"]
    try:
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
            done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.SubprocessError) as exc:
        raise PostgresUnavailable(f"Debian's postgresql could not be installed: {exc}") from None
    if done.returncode != 0:
        raise PostgresUnavailable(
            f"Debian's postgresql could not be installed: {done.stderr.strip()[-300:]}"
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a SQLAlchemy URL (psycopg2, unix socket) of a fresh server; stop it afterwards."""
    bindir = _bindir()
    if bindir is None:
        _install()
        bindir = _bindir()
        if bindir is None:
            raise PostgresUnavailable(
                "the postgresql package installed no /usr/lib/postgresql/*/bin/initdb"
            )
    folder = tempfile.mkdtemp(prefix="rfpg", dir="/tmp")
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, user="postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = os.path.join(folder, "data"), _free_port()
    pg_ctl = [*prefix, os.path.join(bindir, "pg_ctl"), "-D", data]

    def run(cmd: list[str]) -> None:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = ""
            if os.path.exists(os.path.join(folder, "log")):
                with open(os.path.join(folder, "log")) as f:
                    log = f.read()[-500:]
            raise PostgresUnavailable(
                f"{' '.join(cmd[len(prefix) :][:2])} failed: "
                f"{(done.stderr or done.stdout).strip()[-300:]} {log}"
            )

    try:
        run(
            [
                *prefix,
                os.path.join(bindir, "initdb"),
                "-D",
                data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        )
        options = (
            f"-p {port} -k {folder} -c listen_addresses='' -c fsync=off -c max_connections=100"
        )
        run([*pg_ctl, "-o", options, "-l", os.path.join(folder, "log"), "-w", "-t", "60", "start"])
        try:
            yield f"postgresql+psycopg2://postgres@/postgres?host={folder}&port={port}"
        finally:
            subprocess.run(
                [*pg_ctl, "-m", "immediate", "-w", "stop"], capture_output=True, timeout=60
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
