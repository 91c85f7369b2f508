"""`synthetic_motion`: a procedurally generated video set whose classes differ only in motion.

Each video shows one shape (square, triangle, cross, bar, ellipse: all with visible
rotation) of a random colour and size over a static low-contrast texture. The classes come
in pairs and a pair's videos are exact time reversals of each other: for the same random
draw, `move_left` is `move_right` with the frame order reversed (likewise `move_up` /
`move_down`, `rotate_ccw` / `rotate_cw`, `shrink` / `grow`). All parameters are drawn the
same way whatever the label, so the *set* of frames of a video (and the distribution of a
frame picked at random) carries no class information; only their order does. Note: the
first frame of a clip still hints weakly at the direction (a right-mover starts left of
its path centre), which no bounded, monotone motion can avoid.

The set is written as DMVR shards (see `dmvr_format`) so the main training path is the one
real datasets use.

Two-label variant (Epic-Kitchens-style, `dataset.label_sets='noun:5,verb:8'`): every clip
also carries its shape as a second label set, noun = shape (5), verb = motion; records follow
vivit_jax/label_sets.py's convention (`clip/label/index` = [shape, 5 + motion]). The videos
are the same ones the one-label set holds for the same parameters.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import time

import numpy as np

from vivit_jax import fileio
from vivit_jax.data import dmvr_format

CLASSES = (
    "move_left",
    "move_right",
    "move_up",
    "move_down",
    "rotate_cw",
    "rotate_ccw",
    "grow",
    "shrink",
)
SHAPES = ("square", "triangle", "cross", "bar", "ellipse")
SPLITS = ("train", "validation", "test")
# Bump when rendering changes: it is part of the cache directory's hash.
GENERATOR_VERSION = 1

# label -> (motion rendered forward, whether the frames are reversed). The reversed label
# of each pair is the same forward rendering played backwards.
_MOTION = {
    0: ("x", True),
    1: ("x", False),  # move_left = move_right reversed
    2: ("y", True),
    3: ("y", False),  # move_up = move_down reversed (y points down)
    4: ("rot", False),
    5: ("rot", True),  # rotate_ccw = rotate_cw reversed
    6: ("scale", False),
    7: ("scale", True),  # shrink = grow reversed
}


def _sdf(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Approximate signed distance (object units, <0 inside) of a unit-sized shape."""
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) - 0.8
    if shape == "bar":
        return np.maximum(np.abs(u) - 1.0, np.abs(v) - 0.4)
    if shape == "cross":
        arm = lambda a, b: np.maximum(np.abs(a) - 1.0, np.abs(b) - 0.33)  # noqa: E731
        return np.minimum(arm(u, v), arm(v, u))
    if shape == "triangle":  # Equilateral, circumradius 1, one vertex along +u.
        d = -0.5 * np.ones_like(u)
        for k in range(3):
            a = 2 * np.pi * k / 3
            d = np.maximum(d, u * np.cos(a) + v * np.sin(a) - 0.5)
        return d
    if shape == "ellipse":
        return (np.sqrt(u**2 + (v / 0.45) ** 2) - 1.0) * 0.45
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Static low-contrast texture [H, W, 3] float: smooth colour noise plus faint stripes."""
    base = rng.uniform(50, 205) + rng.uniform(-20, 20, size=3)
    g = 4  # Coarse noise grid, bilinearly upsampled.
    grid = rng.normal(0, 10, size=(g, g, 3))
    pos = (np.arange(size) + 0.5) / size * (g - 1)
    lo = np.minimum(pos.astype(int), g - 2)
    w = pos - lo
    interp = np.zeros((size, g))
    interp[np.arange(size), lo] = 1 - w
    interp[np.arange(size), lo + 1] = w
    noise = np.einsum("hi,ijc,wj->hwc", interp, grid, interp)
    phi, freq, phase = rng.uniform(0, np.pi), rng.uniform(2, 5), rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size] / size
    stripes = 6 * np.sin(2 * np.pi * freq * (xx * np.cos(phi) + yy * np.sin(phi)) + phase)
    return base + noise + stripes[..., None]


def _object_colour(rng: np.random.Generator, bg_mean: np.ndarray) -> np.ndarray:
    """A colour at least 80 grey levels (mean over channels) away from the background."""
    for _ in range(100):
        colour = rng.uniform(0, 255, size=3)
        if np.abs(colour - bg_mean).mean() >= 80:
            return colour
    return np.where(bg_mean > 127, 0.0, 255.0)


def render_video(
    rng: np.random.Generator, label: int, num_frames: int, image_size: int
) -> np.ndarray:
    """Renders one video of class `CLASSES[label]` as uint8 [T, H, W, 3].

    Every random draw is independent of `label`, so the same generator state renders the
    pair partner as the exact time reversal.
    """
    if label not in _MOTION:
        raise ValueError(f"label {label} out of range; expected 0..{len(CLASSES) - 1}")
    t_count, size = num_frames, image_size
    steps = max(t_count - 1, 1)
    # --- Draws (same order for every label). ---
    shape = SHAPES[rng.integers(len(SHAPES))]
    bg = _background(rng, size)
    colour = _object_colour(rng, bg.mean(axis=(0, 1)))
    radius = size * rng.uniform(0.17, 0.24)  # Pixels per object unit: 11-15 px long at 32².
    angle0 = rng.uniform(0, 2 * np.pi)
    speed = size * rng.uniform(0.02, 0.031)  # px/frame: 4.5-7 px over 8 frames at 32².
    omega = np.deg2rad(rng.uniform(6.5, 10.0))  # rad/frame: 45-70° over 8 frames.
    growth = rng.uniform(1.045, 1.07)  # Scale factor/frame: x1.36-1.6 over 8 frames.
    centre_u = rng.uniform(-1, 1, size=2)  # Where, within the allowed band, the path centre sits.

    t = np.arange(t_count, dtype=np.float64)
    motion, reverse = _MOTION[label]
    angle = np.full(t_count, angle0)
    scale = np.full(t_count, radius)
    span = np.zeros(2)  # Half extent of the path in x and y.
    offset = np.zeros((t_count, 2))
    if motion in ("x", "y"):
        axis = 0 if motion == "x" else 1
        travel = min(speed * steps, size - 1.6 * radius)  # Keep >= 80 % of the object inside.
        offset[:, axis] = travel * (t / steps - 0.5)
        span[axis] = travel / 2
    elif motion == "rot":
        angle = angle0 + omega * t
    else:  # scale
        growth = min(growth, 3.0 ** (1 / steps))  # Long videos: cap the total size ratio.
        scale = radius * growth ** (t - steps / 2)
    reach = 0.8 * scale.max() + span  # Centre band: path and object stay mostly inside.
    centre = size / 2 + centre_u * np.maximum(size / 2 - reach, 0)
    cx, cy = (centre[None, :] + offset).T

    # --- Render all frames at once. ---
    pix = np.arange(size) + 0.5
    dx = pix[None, None, :] - cx[:, None, None]
    dy = pix[None, :, None] - cy[:, None, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    s = scale[:, None, None]
    u = (cos * dx + sin * dy) / s  # Rotating the object by +angle: clockwise on screen.
    v = (-sin * dx + cos * dy) / s
    alpha = np.clip(0.5 - _sdf(shape, u, v) * s, 0, 1)[..., None]  # 1-px anti-aliased edge.
    frames = bg[None] * (1 - alpha) + colour * alpha
    frames = np.clip(np.rint(frames), 0, 255).astype(np.uint8)
    return frames[::-1].copy() if reverse else frames


def _params_hash(params: dict) -> str:
    return hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]


def _split_examples(split: str, size: int, params: dict):
    """Yields serialized SequenceExamples of one split, in a deterministic order."""
    split_id = SPLITS.index(split)
    two = bool(params.get("label_sets"))
    n_cls = params["num_classes"] - (len(SHAPES) if two else 0)
    labels = np.arange(size) % n_cls  # Balanced, then shuffled by the split's own seed.
    np.random.default_rng([params["seed"], split_id, 0]).shuffle(labels)
    for i, label in enumerate(labels):
        rng = np.random.default_rng([params["seed"], split_id, 1, i])
        video = render_video(rng, int(label), params["num_frames"], params["image_size"])
        jpegs = [dmvr_format.encode_jpeg(f, quality=95) for f in video]
        index, text, sets = [int(label)], [CLASSES[label]], []
        if two:  # The shape is render_video's first draw from the same generator.
            shape = int(np.random.default_rng([params["seed"], split_id, 1, i]).integers(
                len(SHAPES)))
            index, text = [shape, len(SHAPES) + int(label)], [SHAPES[shape], CLASSES[label]]
            sets = [("noun", shape, SHAPES[shape]), ("verb", int(label), CLASSES[label])]
        yield dmvr_format.make_sequence_example(
            jpegs,
            label_index=index,
            label_text=text,
            label_sets=sets,
            video_id=f"synthetic_motion/{split}/{i:06d}",
            start_us=0,
            end_us=int(params["num_frames"] * 1e6 / 10),  # Nominal 10 fps, as DMVR resamples.
        )


def label_names(num_classes: int, label_sets: str = "") -> list[str]:
    """The label map's classes: the motions, or (two-label variant) `noun:<shape>` × 5 then
    `verb:<motion>` × (num_classes - 5)."""
    if label_sets:
        return ([f"noun:{s}" for s in SHAPES]
                + [f"verb:{c}" for c in CLASSES[:num_classes - len(SHAPES)]])
    return list(CLASSES[:num_classes])


def cache_root(data_dir: str) -> pathlib.Path:
    """Where `dataset.data_dir` puts the generated set: that local directory, else
    $VIVIT_JAX_CACHE, else ~/.cache/vivit_jax."""
    if fileio.is_remote(data_dir):  # pathlib would fold the URL into a local directory.
        raise ValueError(f"dataset.data_dir={data_dir}: synthetic_motion is generated into a "
                         f"local cache directory; give a local path (or '' for the default)")
    if data_dir:
        return pathlib.Path(data_dir).expanduser()
    env = os.environ.get("VIVIT_JAX_CACHE")
    return pathlib.Path(env).expanduser() if env else pathlib.Path.home() / ".cache" / "vivit_jax"


def ensure_synthetic_motion(
    cache_dir: str | os.PathLike,
    *,
    num_frames: int = 16,
    image_size: int = 32,
    num_classes: int = 8,
    train_size: int = 2400,
    validation_size: int = 400,
    test_size: int = 400,
    seed: int = 0,
    num_shards: int = 4,
    label_sets: str = "",
) -> pathlib.Path:
    """Returns `cache_dir/synthetic_motion-<hash>/`, generating its shards on first use.

    Deterministic in its arguments (same arguments: byte-identical shards). Generated into a
    temporary directory renamed at the end, so a killed run never leaves a half dataset.
    `label_sets='noun:5,verb:K'`: the two-label variant (module doc), `num_classes` = 5 + K.
    """
    if label_sets:
        want = f"noun:{len(SHAPES)},verb:{num_classes - len(SHAPES)}"
        if label_sets.replace(" ", "") != want or not 1 <= num_classes - len(SHAPES) <= 8:
            raise ValueError(f"dataset.label_sets={label_sets!r} for synthetic_motion: its only "
                             f"label sets are 'noun:{len(SHAPES)},verb:K' (shape, motion; K <= "
                             f"{len(CLASSES)}, num_classes = {len(SHAPES)} + K)")
    elif not 1 <= num_classes <= len(CLASSES):
        raise ValueError(
            f"num_classes={num_classes} for synthetic_motion; expected 1..{len(CLASSES)}"
        )
    if num_frames < 2 or image_size < 8:
        raise ValueError(
            f"synthetic_motion needs num_frames >= 2 and image_size >= 8, "
            f"got {num_frames} and {image_size}"
        )
    sizes = {"train": train_size, "validation": validation_size, "test": test_size}
    params = dict(
        version=GENERATOR_VERSION,
        num_frames=num_frames,
        image_size=image_size,
        num_classes=num_classes,
        sizes=sizes,
        seed=seed,
        num_shards=num_shards,
    )
    if label_sets:  # Only then: the one-label set's directory name stays what it was.
        params["label_sets"] = label_sets.replace(" ", "")
    cache_dir = pathlib.Path(cache_dir).expanduser()
    final = cache_dir / f"synthetic_motion-{_params_hash(params)}"
    if final.is_dir():
        return final
    total = sum(sizes.values())
    print(
        f"generating synthetic_motion ({total} videos, {num_frames} frames, "
        f"{image_size}x{image_size}) into {final} …",
        flush=True,
    )
    start = time.time()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for split in SPLITS:
            dmvr_format.write_shards(
                tmp, split, _split_examples(split, sizes[split], params), num_shards
            )
        dmvr_format.write_label_map(tmp, label_names(num_classes, label_sets))
        (tmp / "params.json").write_text(json.dumps(params, indent=1, sort_keys=True) + "\n")
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():  # Not a concurrent writer finishing first: a real error.
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"synthetic_motion ready in {time.time() - start:.1f}s: {final}", flush=True)
    return final
