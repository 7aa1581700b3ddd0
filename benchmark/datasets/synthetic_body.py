"""Bodies, outfits and the walking skeleton of the synthetic people.

A :class:`Body` is everything that stays with a person whatever they wear (proportions,
posture, gait, skin and hair); an :class:`Outfit` is what a second recording in other
clothes changes. :func:`body_parts` turns a body, an outfit and per-frame walking
parameters into capsules and ellipsoids in metres.

Coordinates: x to the image's right, y up from the floor, z away from the camera,
relative to the point on the floor under the pelvis. A person with yaw 0 faces the
camera (their forward direction is -z).
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

# Part labels of the z-buffer; colours are assigned per label (see synthetic_render).
HEAD, NECK, CHEST, ABDOMEN, PELVIS, SHOULDERS = 0, 1, 2, 3, 4, 5
UPPER_ARM, FOREARM, HAND, THIGH, SHIN, FOOT, BAG, HAT = 6, 7, 8, 9, 10, 11, 12, 13
N_PARTS = 14

PATTERNS = ("plain", "stripes", "logo", "sleeves", "two-tone")
BAGS = ("none", "backpack", "shoulder")

_HAIR = np.array([[0.05, 0.04, 0.035], [0.20, 0.12, 0.07], [0.42, 0.28, 0.15],
                  [0.78, 0.65, 0.42], [0.62, 0.60, 0.58]])
_HAIR_P = np.array([0.40, 0.28, 0.14, 0.10, 0.08])
_SKIN_LIGHT = np.array([0.95, 0.80, 0.70])
_SKIN_DARK = np.array([0.33, 0.21, 0.15])


@dataclass(frozen=True)
class Body:
    """A persistent body: lengths in metres, angles in radians, colours linear RGB."""

    height: float
    shoulder: float      # half distance between the shoulder joints
    shoulder_level: float  # shoulder joint height as a fraction of the height
    chest_depth: float   # half depth of the chest
    waist: float         # half width of the abdomen
    belly: float         # half depth of the abdomen
    hip: float           # half width of the pelvis
    head: float          # half width of the head
    leg: float           # hip joint height as a fraction of the height
    limb: float          # limb thickness factor
    lean: float          # forward lean of the upper body
    arm_swing: float     # shoulder swing amplitude while walking
    stride: float        # hip swing amplitude while walking
    cadence: float       # gait cycles per second
    speed: float         # walking speed, m/s
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    hair_length: float   # 0 = short, 1 = shoulder length


@dataclass(frozen=True)
class Outfit:
    """Clothing of one recording: colours (linear RGB), pattern, sleeves, trousers, bag,
    and the garments' shape, which depth sees too: ``bulk`` scales the clothed torso and
    upper limbs (tight shirt 0.95 to padded jacket 1.35), ``skirt`` is the hem height of
    a skirt, dress or long coat as a fraction of the height (0 = none), ``hat`` a cap."""

    top: tuple[float, float, float]
    bottom: tuple[float, float, float]
    shoes: tuple[float, float, float]
    accent: tuple[float, float, float]
    pattern: str
    stripe_period: float
    long_sleeves: bool
    shorts: bool
    hem: float           # shirt hem height as a fraction of the height
    bag: str
    bag_colour: tuple[float, float, float]
    bulk: float = 1.0
    skirt: float = 0.0
    hat: bool = False


def sample_body(rng: np.random.Generator) -> Body:
    """A random adult body.

    Proportions vary around typical values about twice as much as among real adults, so
    that shape, the only cue both modalities share, separates the data set's people at
    the small input sizes of the CPU profiles.
    """
    height = float(np.clip(rng.normal(1.72, 0.09), 1.50, 1.98))
    mass = float(np.clip(rng.normal(0.0, 1.0), -2.2, 2.5))  # slim (-) to heavy (+) build

    def part(mean: float, sd: float, build: float) -> float:
        return height * float(rng.normal(mean, sd)) * (1.0 + build * mass)

    tone = float(rng.beta(2.0, 2.0))
    hair = _HAIR[rng.choice(len(_HAIR), p=_HAIR_P)] * rng.uniform(0.85, 1.15)
    return Body(
        height=height,
        shoulder=part(0.112, 0.012, 0.08),
        shoulder_level=float(rng.normal(0.815, 0.015)),
        chest_depth=part(0.060, 0.008, 0.14),
        waist=part(0.085, 0.010, 0.18),
        belly=part(0.056, 0.008, 0.26),
        hip=part(0.098, 0.010, 0.09),
        head=part(0.056, 0.006, 0.0),
        leg=float(rng.normal(0.530, 0.025)),
        limb=float(rng.normal(1.0, 0.12)) * (1.0 + 0.14 * mass),
        lean=float(rng.normal(0.03, 0.07)),
        arm_swing=float(np.clip(rng.normal(0.35, 0.12), 0.05, 0.70)),
        stride=float(np.clip(rng.normal(0.40, 0.05), 0.28, 0.52)),
        cadence=float(rng.normal(0.95, 0.06)),
        speed=float(np.clip(rng.normal(1.30, 0.12), 0.9, 1.7)),
        skin=_rgb(_SKIN_DARK + tone * (_SKIN_LIGHT - _SKIN_DARK)),
        hair=_rgb(np.clip(hair, 0.0, 1.0)),
        hair_length=float(rng.beta(1.2, 2.0)),
    )


def sample_outfit(rng: np.random.Generator, avoid: Outfit | None = None) -> Outfit:
    """Random clothes; with ``avoid`` the top and bottom colours differ visibly from it."""
    for _ in range(50):
        top, bottom = clothing_colour(rng), _bottom_colour(rng)
        if avoid is None or (_distance(top, avoid.top) > 0.35
                             and _distance(bottom, avoid.bottom) > 0.15):
            break
    accent = clothing_colour(rng)
    while _distance(accent, top) < 0.35:
        accent = clothing_colour(rng)
    shoes = _rgb(np.full(3, rng.uniform(0.03, 0.25)) if rng.random() < 0.6
                 else np.asarray(clothing_colour(rng)))
    return Outfit(
        top=top, bottom=bottom, shoes=shoes, accent=accent,
        pattern=str(rng.choice(PATTERNS, p=[0.35, 0.2, 0.2, 0.1, 0.15])),
        stripe_period=float(rng.uniform(0.05, 0.12)),
        long_sleeves=bool(rng.random() < 0.6),
        shorts=bool(rng.random() < 0.15),
        hem=float(rng.uniform(0.50, 0.57)),
        bag=str(rng.choice(BAGS, p=[0.6, 0.25, 0.15])),
        bag_colour=clothing_colour(rng),
        bulk=float(rng.uniform(0.95, 1.35)),
        skirt=float(rng.uniform(0.22, 0.42)) if rng.random() < 0.2 else 0.0,
        hat=bool(rng.random() < 0.2),
    )


@dataclass(frozen=True)
class Part:
    """One primitive for all frames of a batch.

    A capsule joins ``a`` and ``b`` (F, 3) with ``radius``; an ellipsoid has centre
    ``a`` (F, 3), semi-axes ``axes`` (3,) and rotation ``rotation`` (F, 3, 3) from its
    own frame to the camera-aligned frame.
    """

    label: int
    kind: str
    a: np.ndarray
    radius: float = 0.0
    b: np.ndarray | None = None
    axes: np.ndarray | None = None
    rotation: np.ndarray | None = None


def body_parts(body: Body, outfit: Outfit, phase: np.ndarray, yaw: np.ndarray
               ) -> list[Part]:
    """The primitives of ``body`` walking at gait ``phase`` (rad) and heading ``yaw`` (rad).

    The legs swing in the sagittal plane with knees bending during the swing phase; the
    arms swing against the legs; the pelvis height follows the lower foot, so the body
    bobs as it walks.
    """
    phase, yaw = np.asarray(phase, float), np.asarray(yaw, float)
    n, h = len(phase), body.height
    ankle_h, segment = 0.045 * h, (body.leg * h - 0.045 * h) / 2.0
    turn = _rot_y(yaw)
    lean = _rot_x(np.full(n, body.lean))
    upper_rot = turn @ lean
    legs, pelvis = _legs_and_pelvis(body, phase)

    def upper(x: float, y: float, z: float) -> np.ndarray:
        """A point of the upright upper body relative to the hip centre, leaned."""
        return pelvis + (lean @ np.array([x, y, z]))

    parts_local: list[tuple[int, str, dict]] = []
    limb_r = 0.026 * h * body.limb
    bulk = outfit.bulk
    for side, sign, offset in (("l", -1.0, 0.0), ("r", 1.0, np.pi)):
        swing, shin_angle = legs[side]
        hip = pelvis + np.array([sign * 0.55 * body.hip, 0.0, 0.0])
        knee = hip + segment * _sagittal(swing)
        ankle = knee + segment * _sagittal(shin_angle)
        foot_pitch = 0.5 * shin_angle
        heel = ankle + 0.6 * ankle_h * _sagittal(foot_pitch) + np.array([0, 0, 0.02 * h])
        toe = heel + 0.13 * h * _sagittal(foot_pitch + np.pi / 2 - 0.1)
        parts_local += [(THIGH, "capsule", {"a": hip, "b": knee,
                                            "radius": 1.55 * limb_r * bulk}),
                        (SHIN, "capsule", {"a": knee, "b": ankle, "radius": 1.1 * limb_r}),
                        (FOOT, "capsule", {"a": heel, "b": toe, "radius": 0.021 * h})]

        arm_swing = body.arm_swing * np.sin(phase + offset + np.pi)
        shoulder = upper(sign * body.shoulder, (body.shoulder_level - body.leg) * h, 0.0)
        abduct = np.array([sign * 0.10, 0.0, 0.0])
        elbow = shoulder + 0.186 * h * (_sagittal(arm_swing) + abduct)
        wrist = elbow + 0.150 * h * (_sagittal(arm_swing + 0.15 + 0.6 * np.clip(arm_swing, 0,
                                                                                 None)) + abduct)
        hand = wrist + 0.065 * h * _sagittal(arm_swing + 0.2)
        parts_local += [(UPPER_ARM, "capsule", {"a": shoulder, "b": elbow,
                                                "radius": limb_r * bulk}),
                        (FOREARM, "capsule", {"a": elbow, "b": wrist, "radius": 0.8 * limb_r}),
                        (HAND, "capsule", {"a": wrist, "b": hand, "radius": 0.75 * limb_r})]

    torso_h = (body.shoulder_level - body.leg) * h
    shoulder_y = torso_h - 0.012 * h
    parts_local += [
        (SHOULDERS, "capsule", {"a": upper(-body.shoulder, shoulder_y, 0.0),
                                "b": upper(body.shoulder, shoulder_y, 0.0),
                                "radius": 1.25 * limb_r * bulk}),
        (NECK, "capsule", {"a": upper(0, torso_h - 0.02 * h, 0.0),
                           "b": upper(0, torso_h + 0.07 * h, -0.01 * h),
                           "radius": 0.028 * h}),
        (CHEST, "ellipsoid", {"a": upper(0, torso_h - 0.095 * h, 0.0),
                              "axes": (0.93 * body.shoulder * bulk, 0.115 * h,
                                       body.chest_depth * bulk)}),
        (ABDOMEN, "ellipsoid", {"a": upper(0, 0.085 * h, 0.0),
                                "axes": (body.waist * bulk, 0.085 * h, body.belly * bulk)}),
        (PELVIS, "ellipsoid", {"a": upper(0, 0.01 * h, 0.005 * h),
                               "axes": (body.hip, 0.07 * h, 0.058 * h)}),
        (HEAD, "ellipsoid", {"a": upper(0, (0.932 - body.leg) * h, -0.012 * h),
                             "axes": (body.head, 0.068 * h, 1.12 * body.head)}),
    ]
    if outfit.skirt > 0:
        top, hem = 0.03 * h, (outfit.skirt - body.leg) * h
        parts_local.append((PELVIS, "ellipsoid", {
            "a": upper(0, (top + hem) / 2, 0.0),
            "axes": (1.3 * body.hip * bulk, (top - hem) / 2, body.hip * bulk)}))
    if outfit.hat:
        parts_local.append((HAT, "ellipsoid", {
            "a": upper(0, (0.985 - body.leg) * h, -0.012 * h),
            "axes": (1.15 * body.head, 0.03 * h, 1.3 * body.head)}))
    if outfit.bag == "backpack":
        parts_local.append((BAG, "ellipsoid", {
            "a": upper(0, torso_h - 0.12 * h, body.chest_depth + 0.045 * h),
            "axes": (0.7 * body.shoulder, 0.11 * h, 0.05 * h)}))
    elif outfit.bag == "shoulder":
        parts_local.append((BAG, "ellipsoid", {
            "a": upper(body.hip + 0.045 * h, 0.03 * h, 0.0),
            "axes": (0.035 * h, 0.07 * h, 0.1 * h)}))

    parts = []
    for label, kind, geo in parts_local:
        a = np.einsum("nij,nj->ni", turn, geo["a"])
        if kind == "capsule":
            b = np.einsum("nij,nj->ni", turn, geo["b"])
            parts.append(Part(label, kind, a, radius=float(geo["radius"]), b=b))
        else:
            rotation = upper_rot if label not in (HEAD, HAT) else \
                turn @ _rot_x(np.full(n, 0.5 * body.lean))
            parts.append(Part(label, kind, a, axes=np.asarray(geo["axes"], float),
                              rotation=rotation))
    return parts


def _legs_and_pelvis(body: Body, phase: np.ndarray
                     ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Thigh and shin angles of each leg and the (F, 3) hip centre at gait ``phase``:
    the pelvis height follows the lower foot."""
    h = body.height
    ankle_h, segment = 0.045 * h, (body.leg * h - 0.045 * h) / 2.0
    legs = {}
    for side, offset in (("l", 0.0), ("r", np.pi)):
        swing = body.stride * np.sin(phase + offset)
        knee_bend = (0.1 + 0.9 * np.clip(np.cos(phase + offset), 0, None) ** 2) \
            * body.stride / 0.4
        legs[side] = (swing, swing - knee_bend)
    drop = np.max([segment * (np.cos(s) + np.cos(k)) for s, k in legs.values()], axis=0)
    pelvis_y = ankle_h + drop
    n = len(phase)
    return legs, np.stack([np.zeros(n), pelvis_y, np.zeros(n)], 1)


KINECT_JOINTS = 20
HIP_CENTER, SPINE, SHOULDER_CENTER, HEAD_JOINT = 0, 1, 2, 3
SHOULDER_RIGHT, SHOULDER_LEFT, HIP_RIGHT, HIP_LEFT = 4, 8, 12, 16


def torso_joints(body: Body, phase: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """(F, 20, 3) Kinect v1 joints in the body frame (metres, y up), NaN where not modelled.

    Given: hip centre, spine, shoulder centre, head, both shoulders and both hips, at the
    positions :func:`body_parts` draws them. Like Kinect's tracker, which assumes a person
    facing the camera, the "right" shoulder (hip) is the one at the smaller x.
    """
    phase, yaw = np.asarray(phase, float), np.asarray(yaw, float)
    n, h = len(phase), body.height
    pelvis = _legs_and_pelvis(body, phase)[1]
    lean = _rot_x(np.full(n, body.lean))
    torso_h = (body.shoulder_level - body.leg) * h

    def upper(x: float, y: float) -> np.ndarray:
        return pelvis + (lean @ np.array([x, y, 0.0]))

    joints = np.full((n, KINECT_JOINTS, 3), np.nan)
    joints[:, HIP_CENTER] = pelvis
    joints[:, SPINE] = upper(0.0, 0.5 * torso_h)
    joints[:, SHOULDER_CENTER] = upper(0.0, torso_h)
    joints[:, HEAD_JOINT] = upper(0.0, (0.932 - body.leg) * h)
    shoulders = np.stack([upper(-body.shoulder, torso_h), upper(body.shoulder, torso_h)], 1)
    hips = np.stack([pelvis + np.array([s * 0.55 * body.hip, 0.0, 0.0]) for s in (-1, 1)], 1)
    joints = np.einsum("nij,nkj->nki", _rot_y(yaw), joints)
    for pair, (right, left) in ((shoulders, (SHOULDER_RIGHT, SHOULDER_LEFT)),
                                (hips, (HIP_RIGHT, HIP_LEFT))):
        turned = np.einsum("nij,nkj->nki", _rot_y(yaw), pair)
        order = np.argsort(turned[:, :, 0], axis=1)
        turned = np.take_along_axis(turned, order[:, :, None], axis=1)
        joints[:, right], joints[:, left] = turned[:, 0], turned[:, 1]
    return joints


def _sagittal(angle: np.ndarray) -> np.ndarray:
    """Unit vectors hanging down, swung forward (-z) by ``angle``: (F, 3)."""
    angle = np.asarray(angle, float)
    return np.stack([np.zeros_like(angle), -np.cos(angle), -np.sin(angle)], -1)


def _rot_y(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    o, i = np.zeros_like(angle), np.ones_like(angle)
    return np.stack([np.stack([c, o, s], -1), np.stack([o, i, o], -1),
                     np.stack([-s, o, c], -1)], -2)


def _rot_x(angle: np.ndarray) -> np.ndarray:
    """Rotation about x that tips +y towards -z (a forward lean)."""
    c, s = np.cos(angle), np.sin(angle)
    o, i = np.zeros_like(angle), np.ones_like(angle)
    return np.stack([np.stack([i, o, o], -1), np.stack([o, c, s], -1),
                     np.stack([o, -s, c], -1)], -2)


def _rgb(values: np.ndarray) -> tuple[float, float, float]:
    r, g, b = (float(v) for v in values)
    return r, g, b


def _distance(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return float(np.linalg.norm(np.subtract(a, b)))


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    """HSV (display values) to linear RGB."""
    return _rgb(np.asarray(colorsys.hsv_to_rgb(h % 1.0, s, v)) ** 2.2)


def clothing_colour(rng: np.random.Generator) -> tuple[float, float, float]:
    """A garment colour: a third greys from black to white, the rest saturated hues."""
    if rng.random() < 0.35:
        return _hsv(rng.random(), rng.uniform(0.0, 0.08), rng.uniform(0.1, 0.95))
    return _hsv(rng.random(), rng.uniform(0.35, 0.9), rng.uniform(0.3, 0.95))


def _bottom_colour(rng: np.random.Generator) -> tuple[float, float, float]:
    """Trousers: mostly denim blue, dark neutrals or khaki, sometimes any colour."""
    kind = rng.random()
    if kind < 0.4:
        return _hsv(rng.normal(0.60, 0.02), rng.uniform(0.35, 0.65), rng.uniform(0.3, 0.6))
    if kind < 0.7:
        return _hsv(rng.random(), rng.uniform(0.0, 0.1), rng.uniform(0.08, 0.4))
    if kind < 0.85:
        return _hsv(rng.uniform(0.08, 0.13), rng.uniform(0.25, 0.5), rng.uniform(0.5, 0.8))
    return clothing_colour(rng)
