"""Where a local gateway keeps its state, so clients find it without flags.

`bhytgate serve` writes `gateway.json` (address, certificate paths) into the home folder:
$BHYTGATE_HOME, or ./.bhytgate under the current directory. Clients also read an "addresses" list
there, for several replicas.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any


def default_home() -> Path:
    return Path(os.environ.get("BHYTGATE_HOME", Path.cwd() / ".bhytgate")).resolve()


@dataclasses.dataclass(frozen=True)
class GatewayHome:
    root: Path

    @classmethod
    def find(cls, root: Path | None = None) -> GatewayHome:
        return cls(Path(root).resolve() if root else default_home())

    @property
    def info_path(self) -> Path:
        return self.root / "gateway.json"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    def info(self) -> dict[str, Any]:
        try:
            data = json.loads(self.info_path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise FileNotFoundError(
                f"no running gateway found: {self.info_path} is missing (start one with `bhytgate serve`, "
                "or set BHYTGATE_HOME)"
            ) from exc
        if not isinstance(data, dict):
            raise ValueError(f"{self.info_path} is not a JSON object")
        return data

    def terminal_credentials(self, terminal: str) -> tuple[Path, Path, Path]:
        """(CA certificate, terminal certificate, terminal key) for a dev terminal."""
        folder = self.pki / "terminals"
        return self.pki / "ca.pem", folder / f"{terminal}.pem", folder / f"{terminal}.key"
