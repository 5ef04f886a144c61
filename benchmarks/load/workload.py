"""The workload: a bench home from the card lab, the check mix, and frames rendered before the run.

A check is what a real terminal sends: the chip's files, its Active Authentication answer (signed at
run time, since the challenge is only known then) and a burst of fresh capture frames. The gateway
refuses frames it has seen before, so every check that reaches the face stage gets frames of its own,
rendered before the run (JPEG encoding on the generator's core during the run would distort it).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import io
import json
import math
import random
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from PIL import Image

from bhytgate.service.config import GatewayConfig, load_config
from bhytgate_clients.cardlab import IssueOptions, ensure_pki, issue_card, make_citizen
from bhytgate_clients.cardlab.camera import SimulatedCamera, _scene, capture
from bhytgate_clients.devsetup import ensure_dev_home

# Identities whose photos (DG2 photo excluded) perform both head turns and match the chip photo:
# kiosk and phone checks. (penny's turns work, but her frames sit at 0.47-0.54 from her chip photo,
# around the 0.50 threshold: mostly FACE_MISMATCH.)
LIVENESS_IDENTITIES = ("sheldon", "howard")
# Identities whose first live photo matches their chip photo reliably: staffed-desk checks.
DESK_IDENTITIES = ("obama", "howard", "sheldon", "biden", "amy", "stuart", "rose-leslie")
# (victim card, impostor face): a few dedicated victims, as a real attacker would target.
IMPOSTORS = (("howard", "biden"), ("stuart", "obama"), ("amy", "rose-leslie"))

# Many people, not a few cards checked again and again: the gateway serialises the checks of one
# document (fraud rules read its history), so a mix drawn from two cards would measure that lock.
# Each identity gets this many cards (distinct citizens, same photos); the first is the demo's own.
CARDS_PER_IDENTITY = {"liveness": 12, "desk": 4}

# Terminals of one facility (01001): one card at two facilities within 6 h would go to REVIEW.
DESK_TERMINALS = ("desk-01", "counter-01")
LIVENESS_TERMINALS = (("kiosk-01", "kiosk"), ("phone-01", "phone"))
ALL_TERMINALS = ("desk-01", "counter-01", "kiosk-01", "phone-01")

# The bench measures latency, not the fraud rules: a long run would otherwise lock the impostors'
# victims (3 mismatches / 24 h) and flag terminals by their reject rate.
BENCH_POLICY = {
    "mismatch_lock_threshold": 1_000_000_000,
    "velocity_max_facilities": 1_000,
    "terminal_min_rejections": 1_000_000_000,
}

KINDS = ("genuine_liveness", "genuine_desk", "impostor_face", "forged_chip", "expired_card", "replay")


@dataclasses.dataclass(frozen=True)
class Mix:
    """Proportions of each kind of check (normalised when used)."""

    genuine_liveness: float = 0.45  # kiosk or phone: chip + AA + 4-frame burst with 2 head turns
    genuine_desk: float = 0.35  # staffed desk: chip + AA + one frame + operator
    impostor_face: float = 0.08  # someone else's face on a genuine card -> FACE_MISMATCH
    forged_chip: float = 0.05  # the card lab's attack cards -> rejected at Passive/Active Authentication
    expired_card: float = 0.04  # a genuine but expired CCCD -> DOCUMENT_EXPIRED, no face work
    replay: float = 0.03  # a captured Verify request sent again -> CHALLENGE_REPLAYED

    def as_dict(self) -> dict[str, float]:
        total = sum(dataclasses.astuple(self))
        return {k: v / total for k, v in dataclasses.asdict(self).items()}


@dataclasses.dataclass(frozen=True)
class Card:
    name: str
    path: Path
    files: dict[str, bytes]


@dataclasses.dataclass
class Check:
    """One pre-rendered check. `frames` holds the roles the terminal will order at send time:
    "single" for a desk, "base", "turn_left", "turn_right", "end" for a liveness burst."""

    kind: str
    terminal: str
    terminal_kind: str  # desk | kiosk | phone
    card: str
    frames: dict[str, bytes]
    reusable: bool = False  # rejected before the face stage: its frames are never remembered


@dataclasses.dataclass(frozen=True)
class Spec:
    """What to render for one check (cheap to pickle to a render process)."""

    kind: str
    terminal: str
    terminal_kind: str
    card: str
    photos: tuple[tuple[str, str], ...]  # (role, photo path)
    seed: int


@dataclasses.dataclass
class BenchHome:
    home: Path
    config: GatewayConfig
    cards: dict[str, Card]
    faces: Path
    desk_photo: dict[str, Path]  # identity -> the live photo a desk check shows
    burst_photos: dict[str, dict[str, Path]]  # identity -> role -> photo
    attack_cards: list[str]
    expired_cards: list[str]
    people: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # identity -> its cards

    def card_of(self, identity: str, rng: random.Random) -> str:
        return rng.choice(self.people.get(identity) or [identity])


def _identity(card_dir: Path) -> str:
    meta = json.loads((card_dir / "card.json").read_text(encoding="utf-8"))
    return str(meta.get("identity") or card_dir.name.split("-", 1)[1]).replace("_", "-")


def _live_photos(faces: Path, card_dir: Path, identity: str) -> list[Path]:
    meta = json.loads((card_dir / "card.json").read_text(encoding="utf-8"))
    source = Path(meta["photo_source"]).resolve() if meta.get("photo_source") else None
    rows = (faces / "labels.csv").read_text(encoding="utf-8").splitlines()[1:]
    photos = [faces / r.split(",")[0] for r in rows if r.split(",")[1].replace("_", "-") == identity]
    return [p for p in photos if source is None or p.resolve() != source]


def _read_files(card_dir: Path) -> dict[str, bytes]:
    from bhytgate.chip import load_dump

    return dict(load_dump(card_dir).files)


def _issue_expired(home: Path, faces: Path) -> list[Path]:
    """Genuine CCCDs (RSA and EC chips) whose expiry date has passed."""
    pki = ensure_pki(home / "demo" / "pki")
    out = []
    photo = faces / "face_recognition" / "examples" / "obama.jpg"
    for index, kind in enumerate(("rsa", "ec")):
        target = home / "bench" / "expired" / f"expired-{kind}"
        if not (target / "EF.SOD").exists():
            citizen = make_citizen(f"bench-expired-{index}")
            past = dt.date.today() - dt.timedelta(days=40 + index)
            citizen = dataclasses.replace(
                citizen, issue_date=min(citizen.issue_date, past - dt.timedelta(days=400)), expiry_date=past
            )
            issue_card(pki, citizen, photo, IssueOptions(ds=kind, aa=kind)).write(target)  # type: ignore[arg-type]
        out.append(target)
    return out


def _issue_people(config: GatewayConfig, by_identity: dict[str, Path]) -> dict[str, list[Path]]:
    """More cards for each bench identity (new citizens, the same photos) with their entitlements."""
    from bhytgate.entitlement.importer import parse_entitlements
    from bhytgate.service.cluster import open_store_with_keys

    pki = ensure_pki(config.home / "demo" / "pki")
    wanted = {i: CARDS_PER_IDENTITY["liveness"] for i in LIVENESS_IDENTITIES}
    for identity in {*DESK_IDENTITIES, *(victim for victim, _ in IMPOSTORS)}:
        wanted.setdefault(identity, CARDS_PER_IDENTITY["desk"])
    out: dict[str, list[Path]] = {}
    records = []
    for identity, count in sorted(wanted.items()):
        source = by_identity[identity]
        meta = json.loads((source / "card.json").read_text(encoding="utf-8"))
        out[identity] = [source]
        for k in range(1, count):
            target = config.home / "bench" / "people" / f"{identity}-{k:02d}"
            citizen = make_citizen(f"bench-{identity}-{k}", sex=meta.get("sex"))
            kind = "rsa" if k % 2 else "ec"
            dump = issue_card(
                pki,
                citizen,
                Path(meta["photo_source"]),
                IssueOptions(ds=kind, aa=kind),  # type: ignore[arg-type]
                seed=f"bench-{identity}-{k}",
            )
            dump.meta["identity"] = identity
            dump.write(target)
            records.append(dump.entitlement)
            out[identity].append(target)
    store, _ = open_store_with_keys(config)
    try:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        parsed, errors = parse_entitlements(text.encode("utf-8"), "jsonl")
        if errors:
            raise ValueError(f"bench entitlements invalid: {errors[:3]}")
        store.upsert_entitlements(parsed)
    finally:
        store.close()
    return out


def prepare_home(home: Path, faces: Path, *, workers: int, queue_limit: int) -> BenchHome:
    """A fresh dev home (PKI, demo cards, entitlements), the bench policy and two expired cards."""
    config = load_config(home, listen="127.0.0.1:0", workers=workers, queue_limit=queue_limit)
    dev = ensure_dev_home(config, faces, log=lambda *_: None)
    toml = home / "gateway.toml"
    text = toml.read_text(encoding="utf-8")
    if "begin_rate_per_minute" not in text:
        # Four terminal identities stand in for a whole fleet: lift the per-terminal challenge rate
        # limit (60 a minute, far above what one real terminal needs).
        text = text.replace("[gateway]\n", "[gateway]\nbegin_rate_per_minute = 1000000000\n", 1)
        toml.write_text(text, encoding="utf-8")
    if "[policy]" not in text:
        lines = "\n".join(f"{k} = {v}" for k, v in BENCH_POLICY.items())
        toml.write_text(
            text + "\n# bhytgate bench: measure latency, not the fraud rules\n[policy]\n" + lines + "\n",
            encoding="utf-8",
        )
    config = load_config(home, listen="127.0.0.1:0", workers=workers, queue_limit=queue_limit)
    cards: dict[str, Card] = {}
    by_identity: dict[str, Path] = {}
    for card_dir in dev.cards:
        identity = _identity(card_dir)
        by_identity[identity] = card_dir
        cards[identity] = Card(identity, card_dir, _read_files(card_dir))
    attack_names = []
    for card_dir in dev.attacks:
        name = f"attack:{card_dir.name}"
        cards[name] = Card(name, card_dir, _read_files(card_dir))
        attack_names.append(name)
    expired_names = []
    for card_dir in _issue_expired(home, faces):
        name = f"expired:{card_dir.name}"
        cards[name] = Card(name, card_dir, _read_files(card_dir))
        expired_names.append(name)
    people: dict[str, list[str]] = {}
    for identity, dirs in _issue_people(config, by_identity).items():
        people[identity] = [identity]
        for card_dir in dirs[1:]:
            name = f"{identity}~{card_dir.name.rsplit('-', 1)[1]}"
            cards[name] = Card(name, card_dir, _read_files(card_dir))
            people[identity].append(name)
    desk_photo = {}
    for identity in {*DESK_IDENTITIES, *(i for _, i in IMPOSTORS)}:
        desk_photo[identity] = _live_photos(faces, by_identity[identity], identity)[0]
    burst_photos: dict[str, dict[str, Path]] = {}
    for identity in LIVENESS_IDENTITIES:
        photos = _live_photos(faces, by_identity[identity], identity)
        # The camera picks the photos whose measured yaw performs the turns; without a scene the
        # frames are the photos' own bytes, which names them.
        camera = SimulatedCamera(photos, scene=False)
        raw = {p.read_bytes(): p for p in photos}
        left = camera.burst(["turn_left"], start_ms=1, realtime=False)
        right = camera.burst(["turn_right"], start_ms=1, realtime=False)
        both = camera.burst(["turn_left", "turn_right"], start_ms=1, realtime=False)
        burst_photos[identity] = {
            "base": raw[both[0].image],
            "turn_left": raw[left[1].image],
            "turn_right": raw[right[1].image],
            "end": raw[both[-1].image],
        }
    return BenchHome(
        home, config, cards, faces, desk_photo, burst_photos, attack_names, expired_names, people
    )


def plan(bench: BenchHome, count: int, mix: Mix, rng: random.Random) -> list[Spec]:
    """`count` checks drawn from the mix (replays are not rendered: they resend an earlier request)."""
    weights = mix.as_dict()
    kinds = rng.choices(list(weights), weights=list(weights.values()), k=count)
    out = []
    for kind in kinds:
        seed = rng.getrandbits(48)
        desk = rng.choice(DESK_TERMINALS)
        if kind == "genuine_liveness":
            identity = rng.choice(LIVENESS_IDENTITIES)
            terminal, tkind = rng.choice(LIVENESS_TERMINALS)
            roles = tuple((r, str(p)) for r, p in bench.burst_photos[identity].items())
            out.append(Spec(kind, terminal, tkind, bench.card_of(identity, rng), roles, seed))
        elif kind == "genuine_desk":
            identity = rng.choice(DESK_IDENTITIES)
            photo = (("single", str(bench.desk_photo[identity])),)
            out.append(Spec(kind, desk, "desk", bench.card_of(identity, rng), photo, seed))
        elif kind == "impostor_face":
            victim, impostor = rng.choice(IMPOSTORS)
            photo = (("single", str(bench.desk_photo[impostor])),)
            out.append(Spec(kind, desk, "desk", bench.card_of(victim, rng), photo, seed))
        elif kind == "forged_chip":
            card = rng.choice(bench.attack_cards)
            out.append(Spec(kind, desk, "desk", card, (("single", str(bench.desk_photo["howard"])),), seed))
        elif kind == "expired_card":
            card = rng.choice(bench.expired_cards)
            out.append(Spec(kind, desk, "desk", card, (("single", str(bench.desk_photo["howard"])),), seed))
        else:
            out.append(Spec("replay", desk, "desk", "", (), seed))
    return out


def burst_stamps(count: int, begun_s: float) -> tuple[list[int], float]:
    """Millisecond stamps for `count` frames captured since Begin returned (at wall time `begun_s`),
    the last one now; and how long to wait before sending so that none is in the future.

    A terminal captures its burst between Begin and Verify; the bench has the frames already, so it
    stamps them 1 ms apart ending now (never before Begin's reply, which comes after the challenge
    was issued) rather than starting now and sleeping `count` ms into the check's latency."""
    now_ms = int(time.time() * 1000)
    first = max(math.ceil(begun_s * 1000), now_ms - (count - 1))
    stamps = [first + i for i in range(count)]
    return stamps, max(0.0, (stamps[-1] + 1) / 1000 - time.time())


MAX_FRAME_SIDE = 960  # a 720p-class terminal camera; larger source photos are scaled down to fit


def framed_capture(photo: bytes, rng: random.Random, scale: float, fx: float, fy: float) -> bytes:
    """Like the camera's `capture`, with the framing chosen per check and the frame size bounded.

    The gateway remembers every frame's perceptual hash and refuses a near-duplicate (<= 24 of 256
    bits). Hundreds of captures of one photo on random scenes collide (measured: 1% of pairs within
    24 bits); a per-check canvas size and face position keeps them >= 42 bits apart. The framing is
    fixed within a burst, so the face does not jump between consecutive frames."""
    with Image.open(io.BytesIO(photo)) as img:
        face = img.convert("RGB")
    w, h = face.size
    shrink = min(1.0, MAX_FRAME_SIDE / (max(w, h) * scale))
    if shrink < 1.0:
        w, h = max(1, round(w * shrink)), max(1, round(h * shrink))
        face = face.resize((w, h), Image.Resampling.BILINEAR)
    width, height = int(w * scale), int(h * scale)
    canvas = _scene((width, height), rng)
    canvas.paste(face, (int((width - w) * fx), int((height - h) * fy)))
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=92)
    return out.getvalue()


def render(spec: Spec) -> Check:
    """Fresh captures (a new random scene around each photo) for one check."""
    rng = random.Random(spec.seed)
    cache: dict[str, bytes] = {}
    frames = {}
    framing = (rng.uniform(1.6, 2.4), rng.random(), rng.random())
    for role, path in spec.photos:
        if path not in cache:
            cache[path] = Path(path).read_bytes()
        if spec.kind in ("genuine_liveness", "genuine_desk", "impostor_face"):
            frames[role] = framed_capture(cache[path], rng, *framing)
        else:
            frames[role] = capture(cache[path], rng)
    reusable = spec.kind in ("forged_chip", "expired_card", "replay")
    return Check(spec.kind, spec.terminal, spec.terminal_kind, spec.card, frames, reusable)


def render_all(
    specs: Sequence[Spec], *, processes: int = 2, executor: concurrent.futures.Executor | None = None
) -> Iterable[Check]:
    """Render in a process pool (before the run: nothing else is measured meanwhile)."""
    if executor is not None:
        return executor.map(render, specs, chunksize=8)
    if processes <= 1 or len(specs) < 16:
        return [render(s) for s in specs]
    with concurrent.futures.ProcessPoolExecutor(processes) as pool:
        return list(pool.map(render, specs, chunksize=8))
