"""What a gateway claims for itself alone before it serves: its listen addresses (checked, then
bound one by one, with no port shared: SO_REUSEPORT is off) and, on SQLite, its database (an
flock held until it stops)."""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import socket
from pathlib import Path

import grpc

from bhytgate.service.config import GatewayConfig
from bhytgate.storage import is_postgres


def check_listen(listen: str, what: str) -> None:
    """Refuse a `HOST:PORT` that is not one, before anything starts. gRPC keeps only a port's low 16
    bits (127.0.0.1:99999 listened on 34463, -1 on 65535) and takes an empty port for 0, so the
    gateway ran where no terminal looks for it and wrote that port into gateway.json (attack run,
    2026-12-02); an empty host or a malformed one was reported as a port in use."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isascii() or not port.isdigit() or len(port) > 5 or int(port) > 65535:
        raise ValueError(f"{what} {listen!r}: must be HOST:PORT with a port from 0 to 65535")
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if (
        not bare
        or not bare.isprintable()
        or any(c in bare for c in "[] /")
        or (":" in bare) != (bare != host)
    ):
        raise ValueError(f"{what} {listen!r}: the host must be a name, an IPv4 address or [an IPv6 address]")


def bind_targets(listen: str) -> list[str]:
    """The addresses to bind for `HOST:PORT`, one per address a host name resolves to.

    gRPC binds every address of a name itself but counts the name bound when any one of them is
    (`localhost` with 127.0.0.1's port taken bound [::1] alone, logging only a warning): then the
    clients that resolve it to the taken address reach the other process. Bound one by one, each
    must succeed. Numeric addresses and the wildcard are bound as they are."""
    host, _, port = listen.rpartition(":")
    bare = host.strip("[]")
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(bare)  # a numeric address: gRPC binds exactly that one
        return [listen]
    if bare in ("", "*"):
        return [listen]
    try:
        infos = socket.getaddrinfo(bare, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise RuntimeError(f"could not bind {listen}: cannot resolve {bare!r}") from exc
    found = sorted({str(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)})
    return [f"[{a}]:{port}" if ":" in a else f"{a}:{port}" for a in found] or [listen]


def bind(server: grpc.aio.Server, config: GatewayConfig, credentials: grpc.ServerCredentials | None) -> int:
    """Bind `config.listen`; the port bound. A port already in use is refused (no SO_REUSEPORT),
    on every address the listen name stands for."""
    if config.plaintext:
        host = config.listen.rsplit(":", 1)[0].strip("[]")
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("plaintext mode listens on loopback only (127.0.0.1, ::1 or localhost)")
    bound = 0
    for target in bind_targets(config.listen):
        if bound:  # port 0: the next addresses take the port the first one was given
            target = f"{target.rpartition(':')[0]}:{bound}"
        try:
            if config.plaintext:
                port = server.add_insecure_port(target)
            else:
                assert credentials is not None
                port = server.add_secure_port(target, credentials)
        except RuntimeError:  # grpcio raises where it used to return 0
            port = 0
        if port == 0 or (bound and port != bound):
            where = "" if target == config.listen else f" ({target})"
            raise RuntimeError(
                f"could not bind {config.listen}{where}: the port is in use (another gateway?) "
                "or the address is not one of this machine's"
            )
        bound = port
    return bound


def hold_sqlite(db_url: str) -> int | None:
    """On SQLite, one gateway process serves a database: the document lock and the frame index
    are in its memory, so a second `bhytgate serve` on the same home (another port) let two
    simultaneous checks of one card both read an empty history (attack run, 2026-12-02).
    An exclusive flock on `<database>.serving`, held until the gateway stops (the kernel drops it
    if the process dies); None on PostgreSQL, where replicas share their locks in the database."""
    if is_postgres(db_url) or ("://" in db_url and not db_url.startswith("sqlite:///")):
        return None  # PostgreSQL, or a scheme open_store refuses in its own words
    path = Path(db_url.removeprefix("sqlite:///"))
    lock_path = path.with_name(path.name + ".serving")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        other = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
        os.close(fd)
        raise RuntimeError(
            f"database {path} is already served by another gateway (pid {other}): on SQLite one"
            " process serves a database (its document lock and frame memory are in memory);"
            " replicas need PostgreSQL"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
