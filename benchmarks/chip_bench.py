"""Micro-benchmark: parse + Passive + Active Authentication per card, trust paths cached.

    python -m benchmarks.chip_bench [--cards N] [--rounds N] [--out FILE]

Prints median/p90/p99 per card variant and records the machine beside the numbers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.machine import machine_info
from bhytgate.chip import TrustStore, load_dump, verify_chip
from bhytgate_clients.cardlab import (
    IssueOptions,
    SimulatedChip,
    create_pki,
    issue_card,
    make_citizen,
    write_pki,
)

VARIANTS = {
    "rsa-ds + rsa1024-aa": IssueOptions(),
    "ec-ds + ec-aa": IssueOptions(ds="ec", aa="ec"),
    "rsa-pss-ds + rsa1024-aa": IssueOptions(rsa_scheme="pss"),
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument(
        "--photo", type=Path, default=Path("../shared/faces/face_recognition/examples/obama.jpg")
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pki = write_pki(create_pki(), root / "pki")
        store = TrustStore.from_paths([root / "pki" / "trust"], crls=[root / "pki" / "crl"])
        for name, options in VARIANTS.items():
            card_dir = issue_card(pki, make_citizen(1), args.photo, options).write(
                root / name.replace(" ", "_")
            )
            chip = SimulatedChip.from_dump(card_dir)
            dump = load_dump(card_dir)
            samples = []
            for i in range(args.rounds + 20):
                challenge = secrets.token_bytes(32)
                signatures = chip.answer_challenge(challenge)  # the chip's work is not timed
                start = time.perf_counter()
                report = verify_chip(dump, store, challenge=challenge, aa_signatures=signatures)
                elapsed = (time.perf_counter() - start) * 1000
                assert report.valid
                if i >= 20:  # warm-up: the first check of a DS pays its chain verification once
                    samples.append(elapsed)
            results[name] = {
                "median_ms": round(statistics.median(samples), 3),
                "p90_ms": round(percentile(samples, 0.90), 3),
                "p99_ms": round(percentile(samples, 0.99), 3),
                "samples": len(samples),
            }
            print(
                f"{name:28s} median {results[name]['median_ms']:7.3f} ms"
                f"   p99 {results[name]['p99_ms']:7.3f} ms"
            )
    record = {
        "benchmark": "chip",
        "date": dt.datetime.now(dt.UTC).isoformat(),
        "machine": machine_info(),
        "results": results,
    }
    if args.out:
        args.out.write_text(json.dumps(record, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
