"""The embedded default: everything `bhytgate serve` needs on a fresh machine, created once.

- a dev CA with a server certificate and one certificate per demo terminal (mTLS on);
- the card lab's test CSCAs and CRLs as the trust anchors (real CCCD anchors are not public);
- demo citizens from ../shared/faces: a card dump per person, their BHYT entitlements imported,
  and one card per attack.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from bhytgate.entitlement.importer import parse_entitlements
from bhytgate.pki.devca import TerminalIdentity, add_terminal, write_dev_pki
from bhytgate.service.cluster import open_store_with_keys
from bhytgate.service.config import GatewayConfig
from bhytgate_clients.cardlab.demo import build_demo

DEV_TERMINALS = (
    TerminalIdentity("desk-01", "01001", "hospital-checkin", "desk"),  # type: ignore[arg-type]
    TerminalIdentity("desk-02", "79014", "hospital-checkin", "desk"),  # type: ignore[arg-type]
    TerminalIdentity("kiosk-01", "01001", "hospital-checkin", "kiosk"),  # type: ignore[arg-type]
    TerminalIdentity("phone-01", "01001", "hospital-checkin", "phone"),  # type: ignore[arg-type]
    TerminalIdentity("counter-01", "01001", "counter", "desk"),  # type: ignore[arg-type]
    TerminalIdentity("admin-01", "01001", "admin", "desk"),  # type: ignore[arg-type]
    TerminalIdentity("reviewer-01", "01001", "reviewer", "desk"),  # type: ignore[arg-type]
    TerminalIdentity("auditor-01", "00000", "auditor", "desk"),  # type: ignore[arg-type]
    # The fund's own administrator (BHXH Việt Nam, 00000): the one that imports entitlements.
    TerminalIdentity("bhxh-admin-01", "00000", "admin", "desk"),  # type: ignore[arg-type]
)

DEV_TOML = """# Written by `bhytgate serve` for the embedded demo; edit freely.
[gateway]
gateway_id = "bhytgate-dev"

[liveness]
# The demo's simulated camera replays real photos, which can turn a head but cannot blink:
# the demo asks for head turns only. Production keeps the default (turns and blinks).
actions_per_challenge = 2
allowed_actions = ["turn_left", "turn_right"]
"""


@dataclasses.dataclass(frozen=True)
class DevHome:
    home: Path
    demo: Path
    cards: list[Path]
    attacks: list[Path]


def default_faces_dir() -> Path | None:
    for candidate in (
        Path.cwd().parent / "shared" / "faces",
        Path(__file__).resolve().parents[3] / "shared" / "faces",
    ):
        if (candidate / "labels.csv").is_file():
            return candidate
    return None


def ensure_dev_home(config: GatewayConfig, faces_dir: Path | None, *, log: object = print) -> DevHome:
    home = config.home
    home.mkdir(parents=True, exist_ok=True)
    say = log if callable(log) else print
    if not (home / "gateway.toml").exists():
        (home / "gateway.toml").write_text(DEV_TOML, encoding="utf-8")
    if not (config.pki_dir / "ca.pem").exists():
        write_dev_pki(config.pki_dir, DEV_TERMINALS)
        say(f"created dev CA and terminal certificates in {config.pki_dir}")
    else:
        for ident in DEV_TERMINALS:
            if not (config.pki_dir / "terminals" / f"{ident.terminal_id}.pem").exists():
                add_terminal(config.pki_dir, ident)
    demo = home / "demo"
    if not (demo / "entitlements.jsonl").exists():
        if faces_dir is None:
            raise FileNotFoundError("demo photos not found: pass --faces DIR (../shared/faces)")
        summary = build_demo(demo, faces_dir)
        say(f"issued {summary.genuine} demo cards and {summary.attacks} attack cards in {demo}")
    for sub, pattern in (("csca", "*.der"), ("crl", "*.crl")):
        target = config.trust_dir / sub
        target.mkdir(parents=True, exist_ok=True)
        source = demo / "pki" / ("trust" if sub == "csca" else "crl")
        for path in sorted(source.glob(pattern)):
            if not (target / path.name).exists():
                shutil.copy2(path, target / path.name)
    store, _ = open_store_with_keys(config)
    try:
        records, errors = parse_entitlements((demo / "entitlements.jsonl").read_bytes(), "jsonl")
        if errors:
            raise ValueError(f"demo entitlements invalid: {errors[:3]}")
        store.upsert_entitlements(records)
    finally:
        store.close()
    return DevHome(
        home,
        demo,
        sorted(p for p in (demo / "cards").iterdir() if p.is_dir()),
        sorted(p for p in (demo / "attacks").iterdir() if p.is_dir()),
    )
