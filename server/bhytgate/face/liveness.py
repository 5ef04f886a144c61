"""Liveness challenge: random head turns and blinks, bound to a nonce and a time window.

This is a *liveness challenge*, not certified presentation-attack detection. It makes a printed or
screen photo, a replayed frame, a pre-recorded clip of the wrong actions and a re-shot chip photo
fail; it does not stop a live deepfake fed through an unattested camera or a good 3-D mask (see
docs/face.md, "What the liveness challenge does not stop").

Everything here is pure logic over per-frame measurements (landmarks, hashes, timestamps); decoding,
detection and embedding happen in :class:`bhytgate.face.engine.FaceEngine`. The verifier asks for
embeddings through a callback, only for the few frames it needs and only after the cheap checks
passed, so a replayed or static burst costs no embedding.
"""

from __future__ import annotations

import enum
import hashlib
import itertools
import random
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from bhytgate.face.config import LivenessConfig
from bhytgate.face.detect import Box
from bhytgate.face.embed import Embedding, as_embedding
from bhytgate.face.errors import (
    LivenessBadRequest,
    LivenessBadSignature,
    LivenessCardPhoto,
    LivenessDiscontinuous,
    LivenessExpired,
    LivenessFrameReplayed,
    LivenessIdentityChanged,
    LivenessMissingAction,
    LivenessOutsideWindow,
    LivenessStatic,
    LivenessUnexpectedAction,
    LivenessWrongOrder,
)
from bhytgate.face.landmarks import Landmarks, as_landmarks, eye_aspect_ratio, normalised_shape, yaw_proxy

# The bytes a terminal signs are part of the wire contract, defined once in the client distribution
# (pure, standard library only; importing it loads no gRPC).
from bhytgate_client.signing import SIGNING_DOMAIN as SIGNING_DOMAIN
from bhytgate_client.signing import signing_payload as signing_payload

NONCE_BYTES = 16
PHASH_BYTES = 32  # 256-bit DCT hash

DeviceKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey


class Action(enum.StrEnum):
    """Actions from the subject's own point of view, in an unmirrored camera image."""

    TURN_LEFT = "turn_left"  # yaw proxy rises: the nose moves towards the image's right
    TURN_RIGHT = "turn_right"
    BLINK = "blink"


_TURNS = (Action.TURN_LEFT, Action.TURN_RIGHT)


@dataclass(frozen=True, slots=True)
class Challenge:
    """What the verifier asked for. The gateway keeps it server-side, keyed by nonce, and uses it once."""

    nonce: bytes
    actions: tuple[Action, ...]
    issued_at_ms: int
    expires_at_ms: int


def issue_challenge(now_ms: int, config: LivenessConfig, *, rng: random.Random | None = None) -> Challenge:
    """A random action sequence with no action twice in a row and at least one head turn.

    Three actions give 3 x 2 x 2 = 12 sequences: few enough that someone could pre-record them all,
    which is why the sequence is only one layer (with the window, replay store and device signature).
    """
    chooser = rng or secrets.SystemRandom()
    n = max(1, config.actions_per_challenge)
    vocabulary = [Action(a) for a in config.allowed_actions] or list(_TURNS)
    if not any(a in _TURNS for a in vocabulary):
        raise ValueError("allowed_actions must include a head turn")
    while True:
        actions: list[Action] = []
        for _ in range(n):
            options = [a for a in vocabulary if not actions or a != actions[-1]]
            actions.append(chooser.choice(options))
        if any(a in _TURNS for a in actions):
            break
    return Challenge(
        nonce=secrets.token_bytes(NONCE_BYTES),
        actions=tuple(actions),
        issued_at_ms=now_ms,
        expires_at_ms=now_ms + config.window_ms,
    )


# --- per-frame measurements -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FrameFingerprint:
    sha256: bytes  # of the frame's encoded bytes, as the terminal sent and signed them
    phash: bytes  # 256-bit perceptual hash of the decoded frame


@dataclass(frozen=True, slots=True)
class FrameMeasurement:
    """What the verifier needs from one frame; no pixels, no embedding."""

    timestamp_ms: int
    fingerprint: FrameFingerprint
    landmarks: Landmarks
    box: Box
    yaw: float
    ear: float


def measurement(
    timestamp_ms: int,
    fingerprint: FrameFingerprint,
    landmarks: npt.ArrayLike,
    box: Box,
    *,
    ear: float | None = None,
) -> FrameMeasurement:
    """`ear`: an eye-openness measured by an eye model; else the landmarks' eye aspect ratio."""
    lm = as_landmarks(landmarks)
    return FrameMeasurement(
        timestamp_ms=int(timestamp_ms),
        fingerprint=fingerprint,
        landmarks=lm,
        box=box,
        yaw=yaw_proxy(lm),
        ear=eye_aspect_ratio(lm) if ear is None else float(ear),
    )


def _dct_matrix(n: int) -> npt.NDArray[np.float64]:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    return np.asarray(np.cos(np.pi * (2 * i + 1) * k / (2 * n)), dtype=np.float64)


_DCT64 = _dct_matrix(64)


def perceptual_hash(gray64: npt.NDArray[np.floating] | npt.NDArray[np.integer]) -> bytes:
    """256-bit DCT hash of a 64x64 grey image: the 16x16 lowest frequencies against their median.

    Survives re-encoding and rescaling of the same frame; two camera frames of a moving person differ
    in many bits.
    """
    g = np.asarray(gray64, dtype=np.float64)
    if g.shape != (64, 64):
        raise ValueError("perceptual_hash expects a 64x64 grey image")
    block = (_DCT64 @ g @ _DCT64.T)[:16, :16].reshape(-1)
    bits = block > np.median(block[1:])
    return np.packbits(bits).tobytes()


def hamming(a: bytes, b: bytes) -> int:
    return int(np.unpackbits(np.frombuffer(a, np.uint8) ^ np.frombuffer(b, np.uint8)).sum())


# --- seen-frame store -----------------------------------------------------------------------------


class FrameStore(Protocol):
    """Recently seen frames. The default is in memory; the gateway may back it with a database."""

    def seen(self, fingerprint: FrameFingerprint, max_hamming: int) -> bool: ...

    def remember(self, fingerprints: Sequence[FrameFingerprint]) -> None: ...


class InMemoryFrameStore:
    """Bounded store of the most recent frames (oldest evicted first); near-match by Hamming distance."""

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self._capacity = capacity
        self._hashes = np.zeros((capacity, PHASH_BYTES // 8), dtype=np.uint64)
        self._digests: list[bytes | None] = [None] * capacity
        self._index: dict[bytes, int] = {}
        self._next = 0
        self._count = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._count

    def seen(self, fingerprint: FrameFingerprint, max_hamming: int) -> bool:
        probe = np.frombuffer(fingerprint.phash, dtype=np.uint64)
        with self._lock:
            if fingerprint.sha256 in self._index:
                return True
            if self._count == 0:
                return False
            diff = np.bitwise_count(self._hashes[: self._count] ^ probe).sum(axis=1)
            return bool((diff <= max_hamming).any())

    def remember(self, fingerprints: Sequence[FrameFingerprint]) -> None:
        with self._lock:
            for fp in fingerprints:
                if fp.sha256 in self._index:
                    continue
                slot = self._next
                old = self._digests[slot]
                if old is not None:
                    self._index.pop(old, None)
                self._digests[slot] = fp.sha256
                self._index[fp.sha256] = slot
                self._hashes[slot] = np.frombuffer(fp.phash, dtype=np.uint64)
                self._next = (slot + 1) % self._capacity
                self._count = min(self._count + 1, self._capacity)


# --- device signature -----------------------------------------------------------------------------


def load_device_key(data: bytes) -> DeviceKey:
    """A terminal's registered key: raw 32-byte Ed25519, or SubjectPublicKeyInfo (DER or PEM)."""
    try:
        if len(data) == 32:
            return ed25519.Ed25519PublicKey.from_public_bytes(data)
        key = (
            serialization.load_pem_public_key(data)
            if data.lstrip().startswith(b"-----")
            else serialization.load_der_public_key(data)
        )
    except (ValueError, TypeError) as exc:
        raise ValueError("not a usable device public key") from exc
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise ValueError("device keys must be Ed25519 or ECDSA P-256")


def verify_device_signature(key: DeviceKey, signature: bytes, payload: bytes) -> bool:
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, payload)
        else:
            key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


# --- motion analysis ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    action: Action
    frame: int  # index where the action was first seen
    peak: int  # frame where it was most pronounced (embedded for the identity check)


def turn_events(yaws: Sequence[float], delta: float) -> list[Event]:
    """Head turns relative to the first frame, with hysteresis: back under delta/2 counts as neutral."""
    events: list[Event] = []
    if not yaws:
        return events
    base = yaws[0]
    state: Action | None = None
    for i, yaw in enumerate(yaws):
        rel = yaw - base
        new: Action | None
        if rel >= delta:
            new = Action.TURN_LEFT
        elif rel <= -delta:
            new = Action.TURN_RIGHT
        elif abs(rel) < delta / 2:
            new = None
        else:
            new = state
        if new is not None and new != state:
            events.append(Event(new, i, i))
        elif new is not None and events and abs(rel) > abs(yaws[events[-1].peak] - base):
            events[-1] = Event(new, events[-1].frame, i)
        state = new
    return events


def open_eye_baseline(ears: Sequence[float], yaws: Sequence[float], delta: float) -> float:
    """The person's own open-eye EAR: the median over near-frontal frames (all frames if none)."""
    if not ears:
        return 0.0
    base = yaws[0] if yaws else 0.0
    frontal = [e for e, y in zip(ears, yaws, strict=False) if abs(y - base) < delta / 2]
    return float(np.median(frontal if frontal else list(ears)))


def blink_events(ears: Sequence[float], baseline: float, drop: float) -> list[Event]:
    """A blink is open -> closed -> open, with closed a relative drop below the person's baseline."""
    if baseline <= 0:
        return []
    closed_below = baseline * (1.0 - drop)
    open_above = baseline * (1.0 - drop / 2.0)
    events: list[Event] = []
    was_open = False
    start = -1
    lowest = -1
    for i, ear in enumerate(ears):
        if ear <= closed_below:
            if was_open and start < 0:
                start, lowest = i, i
            elif start >= 0 and ear < ears[lowest]:
                lowest = i
        elif ear >= open_above:
            if start >= 0:
                events.append(Event(Action.BLINK, start, lowest))
                start = -1
            was_open = True
    return events


def static_motion(frames: Sequence[FrameMeasurement]) -> float:
    """Largest mean landmark displacement from the first frame, in inter-ocular distances."""
    if len(frames) < 2:
        return 0.0
    first = normalised_shape(frames[0].landmarks)
    return max(
        float(np.linalg.norm(normalised_shape(f.landmarks) - first, axis=1).mean()) for f in frames[1:]
    )


def _match_actions(
    requested: Sequence[Action], turns: Sequence[Event], blinks: Sequence[Event], n_frames: int
) -> list[Event]:
    """Map each requested action to an observed event, in order, or raise the reason it fails."""
    req_turns = [a for a in requested if a in _TURNS]
    obs_turns = [e.action for e in turns]
    if obs_turns != req_turns:
        want, got = Counter(req_turns), Counter(obs_turns)
        # A camera that mirrors its frames (front cameras mirror their preview) shows every turn as
        # the other one: say so, since "wrong order" or "not seen" sends the holder to try again.
        mirror = {Action.TURN_LEFT: Action.TURN_RIGHT, Action.TURN_RIGHT: Action.TURN_LEFT}
        hint = (
            " (every turn came mirrored, right for left: if the camera mirrors its frames, un-mirror them)"
            if obs_turns == [mirror[a] for a in req_turns]
            else ""
        )
        if any(got[a] < n for a, n in want.items()):
            raise LivenessMissingAction("a requested head turn was not seen" + hint)
        if got == want:
            raise LivenessWrongOrder("head turns in the wrong order" + hint)
        raise LivenessUnexpectedAction("head turns that were not requested")
    matched: list[Event] = []
    turn_iter = iter(turns)
    used: set[int] = set()
    # frame bounds of each requested action's slot: after the previous turn, before the next one
    turn_frames = [e.frame for e in turns]
    turn_pos = 0
    for action in requested:
        if action in _TURNS:
            matched.append(next(turn_iter))
            turn_pos += 1
            continue
        lo = turn_frames[turn_pos - 1] if turn_pos > 0 else 0
        hi = turn_frames[turn_pos] if turn_pos < len(turn_frames) else n_frames - 1
        found = next((b for b in blinks if lo <= b.frame <= hi and b.frame not in used), None)
        if found is None:
            if not blinks:
                raise LivenessMissingAction("no blink seen")
            raise LivenessWrongOrder("blink not where it was requested")
        used.add(found.frame)
        matched.append(found)
    return matched


# --- verification ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LivenessEvidence:
    """A passed challenge: which frames to match against the card, and what was observed."""

    best_frame: int
    live_embedding: Embedding  # of the best frontal frame; the gateway matches this to the chip photo
    events: tuple[Event, ...]
    identity_distances: Mapping[int, float]  # frame -> distance to the best frame
    card_distance: float | None  # smallest distance of an embedded frame to the chip photo
    # Every embedded frame (the best frontal frame, then each head-turn peak) -> its embedding: the
    # gateway fuses them for the card match (match.fused_distance, FaceConfig.burst_fusion).
    frame_embeddings: Mapping[int, Embedding]
    timings_ms: Mapping[str, float] = field(default_factory=dict)  # filled by the engine
    # The second matcher's (SFace) embeddings of the same frames, when it is on (filled by the engine).
    second_embeddings: Mapping[int, npt.NDArray[np.float64]] = field(default_factory=dict)

    @property
    def match_embeddings(self) -> list[Embedding]:
        """The embedded frames, best frontal frame first: what ``match.fused_distance`` takes."""
        rest = [e for i, e in self.frame_embeddings.items() if i != self.best_frame]
        return [self.live_embedding, *rest]


def best_frontal_frame(frames: Sequence[FrameMeasurement], open_above: float) -> int:
    """The most frontal frame with the eyes open: the one worth matching against a frontal chip photo."""
    candidates = [i for i, f in enumerate(frames) if f.ear >= open_above] or list(range(len(frames)))
    return min(candidates, key=lambda i: (abs(frames[i].yaw), i))


def precheck(
    challenge: Challenge,
    frames: Sequence[tuple[bytes, int]],
    *,
    now_ms: int,
    config: LivenessConfig,
    device_key: DeviceKey | None = None,
    signature: bytes | None = None,
) -> None:
    """The checks that need only digests and timestamps; run before spending detection on frames."""
    n = len(frames)
    if not config.min_frames <= n <= config.max_frames:
        raise LivenessBadRequest(f"expected {config.min_frames}..{config.max_frames} frames, got {n}")
    stamps = [ts for _digest, ts in frames]
    if any(b <= a for a, b in itertools.pairwise(stamps)):
        raise LivenessBadRequest("frame timestamps must strictly increase")
    if now_ms > challenge.expires_at_ms:
        raise LivenessExpired("challenge expired")
    if stamps[0] < challenge.issued_at_ms or stamps[-1] > min(challenge.expires_at_ms, now_ms):
        raise LivenessOutsideWindow("frame timestamps outside the challenge window")
    if device_key is not None:
        try:
            payload = signing_payload(challenge.nonce, frames)
        except ValueError as exc:
            raise LivenessBadRequest("frame digests or timestamps malformed") from exc
        if signature is None or not verify_device_signature(device_key, signature, payload):
            raise LivenessBadSignature("terminal signature does not verify")


def verify_challenge(
    challenge: Challenge,
    frames: Sequence[FrameMeasurement],
    *,
    now_ms: int,
    store: FrameStore,
    config: LivenessConfig,
    embed: Callable[[Sequence[int]], Sequence[Embedding]],
    card_embedding: Embedding | None = None,
    device_key: DeviceKey | None = None,
    signature: bytes | None = None,
) -> LivenessEvidence:
    """Check a burst against its challenge; raise the first :class:`LivenessError` that applies.

    Checks run cheapest first: shape of the request, time window, device signature, replay (after
    which every frame is remembered, pass or fail), stillness, continuity, the actions and their
    order, then — spending embeddings — one person throughout, and not the chip photo itself.
    ``embed`` gets the indices of every frame to embed at once (best frontal frame first) and
    returns their embeddings in that order.
    """
    precheck(
        challenge,
        [(f.fingerprint.sha256, f.timestamp_ms) for f in frames],
        now_ms=now_ms,
        config=config,
        device_key=device_key,
        signature=signature,
    )
    n = len(frames)

    fingerprints = [f.fingerprint for f in frames]
    replayed = any(store.seen(fp, config.replay_max_hamming) for fp in fingerprints)
    store.remember(fingerprints)
    if replayed:
        raise LivenessFrameReplayed("a frame was seen in an earlier check")

    if len({fp.sha256 for fp in fingerprints}) < n or static_motion(frames) < config.static_motion:
        raise LivenessStatic("the burst does not move: a still image")

    for a, b in itertools.pairwise(frames):
        size = (a.box.width + b.box.width) / 2.0
        (ax, ay), (bx, by) = a.box.center, b.box.center
        jump = float(np.hypot(bx - ax, by - ay)) / max(size, 1.0)
        scale = max(a.box.width, b.box.width) / max(1, min(a.box.width, b.box.width))
        if jump > config.max_center_jump or scale > config.max_scale_jump:
            raise LivenessDiscontinuous("the face jumps between consecutive frames")

    yaws = [f.yaw for f in frames]
    ears = [f.ear for f in frames]
    turns = turn_events(yaws, config.turn_delta)
    baseline = open_eye_baseline(ears, yaws, config.turn_delta)
    blinks = blink_events(ears, baseline, config.blink_drop)
    matched = _match_actions(challenge.actions, turns, blinks, n)

    best = best_frontal_frame(frames, baseline * (1.0 - config.blink_drop / 2.0))
    # One call for every frame to embed (best frontal first), after every cheaper check passed.
    wanted = [best, *dict.fromkeys(e.peak for e in matched if e.action in _TURNS and e.peak != best)]
    results = embed(wanted)
    if len(results) != len(wanted):
        raise ValueError("embed returned a different number of embeddings than frames asked for")
    embedded: dict[int, Embedding] = {i: as_embedding(e) for i, e in zip(wanted, results, strict=True)}
    live = embedded[best]
    distances = {i: float(np.linalg.norm(e - live)) for i, e in embedded.items() if i != best}
    if any(d > config.identity_threshold for d in distances.values()):
        raise LivenessIdentityChanged("a different person performed an action")

    card_distance: float | None = None
    if card_embedding is not None:
        card = as_embedding(card_embedding)
        card_distance = min(float(np.linalg.norm(e - card)) for e in embedded.values())
        if card_distance < config.card_photo_min_distance:
            raise LivenessCardPhoto("the live face is the chip photo itself")

    return LivenessEvidence(
        best_frame=best,
        live_embedding=live,
        events=tuple(matched),
        identity_distances=distances,
        card_distance=card_distance,
        frame_embeddings=embedded,
    )


def frame_sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
