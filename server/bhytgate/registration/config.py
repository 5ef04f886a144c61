"""`[registration]` and `[registration.integrity]` of gateway.toml into a `RegistrationConfig`.

[registration]
device_attempts = 10          # per terminal per device_window_s
device_window_s = 3600
cccd_attempts = 5             # per CCCD per cccd_window_s
cccd_window_s = 86400
max_verification_age_s = 600
terminal_kinds = ["phone"]

[registration.integrity]      # absent or without keys: integrity not checked
algorithms = ["ES256"]
max_age_s = 300
clock_skew_s = 10
package_names = ["vn.gov.baohiemxahoi.vssid"]
required_device_verdicts = ["MEETS_DEVICE_INTEGRITY"]
required_app_verdict = "PLAY_RECOGNIZED"   # "" = not checked
require_licensed = false
on_missing = "reject"         # accept | review | reject
on_invalid = "reject"         # forged, wrong nonce, stale
on_verdict_failed = "review"

[[registration.integrity.keys]]
kid = "play-1"
alg = "ES256"
pem_file = "keys/play-integrity.pem"       # relative to the home folder
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bhytgate.policy.model import AssuranceLevel, TerminalKind
from bhytgate.registration.integrity import Disposition, IntegrityKey, IntegrityPolicy
from bhytgate.registration.model import RegistrationConfig

_DURATIONS = {
    "device_window_s": "device_window",
    "cccd_window_s": "cccd_window",
    "max_verification_age_s": "max_verification_age",
    "attestation_ttl_s": "attestation_ttl",
}


def _seconds(value: Any) -> dt.timedelta:
    return dt.timedelta(seconds=float(value))


def integrity_policy(section: Mapping[str, Any], home: Path) -> IntegrityPolicy:
    values = dict(section)
    keys = {}
    for item in values.pop("keys", []):
        path = Path(item["pem_file"])
        pem = (path if path.is_absolute() else home / path).read_text(encoding="ascii")
        key = IntegrityKey(str(item["kid"]), str(item["alg"]), pem)
        keys[key.kid] = key
    out: dict[str, Any] = {"keys": keys}
    for name in ("max_age", "clock_skew"):
        if f"{name}_s" in values:
            out[name] = _seconds(values.pop(f"{name}_s"))
    for name in ("algorithms", "package_names", "required_device_verdicts"):
        if name in values:
            out[name] = frozenset(str(v) for v in values.pop(name))
    if "required_app_verdict" in values:
        out["required_app_verdict"] = str(values.pop("required_app_verdict")) or None
    for name in ("on_missing", "on_invalid", "on_verdict_failed"):
        if name in values:
            out[name] = Disposition(values.pop(name))
    if "require_licensed" in values:
        out["require_licensed"] = bool(values.pop("require_licensed"))
    if values:
        raise ValueError(f"unknown [registration.integrity] settings: {', '.join(sorted(values))}")
    return IntegrityPolicy(**out)


def registration_config(section: Mapping[str, Any], home: Path) -> RegistrationConfig:
    values = dict(section)
    out: dict[str, Any] = {"integrity": integrity_policy(values.pop("integrity", {}), home)}
    for key, name in _DURATIONS.items():
        if key in values:
            out[name] = _seconds(values.pop(key))
    if "terminal_kinds" in values:
        out["terminal_kinds"] = frozenset(TerminalKind(k) for k in values.pop("terminal_kinds"))
    if "required_level" in values:
        out["required_level"] = AssuranceLevel(values.pop("required_level"))
    for name in ("device_attempts", "cccd_attempts"):
        if name in values:
            out[name] = int(values.pop(name))
    if values:
        raise ValueError(f"unknown [registration] settings: {', '.join(sorted(values))}")
    return RegistrationConfig(**out)
