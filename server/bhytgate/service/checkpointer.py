"""Audit checkpoints the gateway keeps by itself: at start, every `checkpoint_interval_s`, and at
stop, a signed checkpoint of the audit log (`AdminService.audit_checkpoint`) appended as one JSON
line to `checkpoint_file`, the format `bhytgate admin checkpoint` prints and `admin audit
--checkpoints` reads.

A hash chain alone cannot show a log rewritten from some record on with every hash recomputed;
a checkpoint kept outside the database pins it. Checkpoints only someone remembered to take left
every record after the last one unpinned, so the gateway takes them too. The file is only as far
from the database as its path: put it on storage that whoever can write the database cannot (another
host's mount, append-only storage), and keep copies. A log whose size and head have not moved since
the last line gets no new line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

from bhytgate.audit.checkpoint import AuditCheckpoint
from bhytgate.service.admin import AdminService
from bhytgate.service.model import Unavailable

log = logging.getLogger("bhytgate.checkpoints")


def checkpoint_line(token: str, checkpoint: AuditCheckpoint) -> str:
    """One line of a checkpoints file, as `bhytgate admin checkpoint` prints it."""
    return json.dumps(
        {
            "checkpoint": token,
            "record_count": checkpoint.size,
            "head_hash": checkpoint.head,
            "time": checkpoint.issued_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )


class CheckpointKeeper:
    """Appends checkpoints to one file; each line written with one write() and fsync'd, so
    replicas sharing a home append whole lines."""

    def __init__(self, admin: AdminService, path: Path) -> None:
        self.admin = admin
        self.path = path
        self._last: tuple[int, str] | None = None
        self.written = 0  # lines this keeper appended

    async def take(self) -> bool:
        """Sign and append a checkpoint; False when the log is empty or has not moved."""
        token, checkpoint = await self.admin.audit_checkpoint()
        if checkpoint.size == 0 or self._last == (checkpoint.size, checkpoint.head):
            return False
        await asyncio.to_thread(self._append, checkpoint_line(token, checkpoint) + "\n")
        self._last = (checkpoint.size, checkpoint.head)
        self.written += 1
        return True

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line.encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)

    async def take_logged(self) -> None:
        """`take`, with its failure logged rather than raised: keeping checkpoints must never
        stop the gateway, nor stop for good."""
        try:
            await self.take()
        except Unavailable:
            log.warning("audit checkpoint skipped: database unavailable")
        except OSError as exc:
            log.error("audit checkpoint not written to %s: %s", self.path, exc.strerror or type(exc).__name__)
        except Exception as exc:
            log.error("audit checkpoint failed: %s", type(exc).__name__)

    async def run_forever(self, every_s: float) -> None:
        """At start, then every `every_s` seconds (cancel to stop)."""
        while True:
            await self.take_logged()
            await asyncio.sleep(every_s)
