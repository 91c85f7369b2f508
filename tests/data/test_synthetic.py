"""synthetic_motion: determinism, time-reversal pairs, balance, visible motion."""

import numpy as np
import pytest
import tensorflow as tf

from vivit_jax.data import dmvr_format as dm
from vivit_jax.data import synthetic

SMALL = dict(
    num_frames=8,
    image_size=16,
    num_classes=8,
    train_size=40,
    validation_size=16,
    test_size=8,
    seed=0,
    num_shards=2,
)
PAIRS = [
    (1, 0),
    (3, 2),
    (4, 5),
    (6, 7),
]  # (forward, reversed): right/left, down/up, cw/ccw, grow/shrink


def _video(label, seed=3, t=16, size=32):
    return synthetic.render_video(np.random.default_rng(seed), label, t, size)


def _object_mask(video):
    """Pixels far from the static background (its per-pixel median over time)."""
    bg = np.median(video.astype(np.float32), axis=0)
    return np.abs(video - bg).sum(-1) > 60


def test_render_shape_dtype_and_determinism():
    a, b = _video(2), _video(2)
    assert a.shape == (16, 32, 32, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, _video(2, seed=4))


@pytest.mark.parametrize("fwd,rev", PAIRS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pairs_are_exact_time_reversals(fwd, rev, seed):
    np.testing.assert_array_equal(_video(fwd, seed), _video(rev, seed)[::-1])


@pytest.mark.parametrize("label", range(8))
def test_frames_change(label):
    v = _video(label).astype(int)
    # Consecutive frames differ, and the object covers a sensible area.
    assert all(np.abs(v[i + 1] - v[i]).sum() > 0 for i in range(len(v) - 1))
    area = _object_mask(_video(label)).sum((1, 2))
    assert 10 < np.median(area) < 0.5 * 32 * 32


def test_motion_is_visible():
    t = np.arange(16)
    for seed in range(5):
        for label, axis, sign in [(1, 2, 1), (0, 2, -1), (3, 1, 1), (2, 1, -1)]:
            m = _object_mask(_video(label, seed))  # [T, H, W]
            coords = np.arange(32)
            c = (m * (coords[None, None, :] if axis == 2 else coords[None, :, None])).sum((1, 2))
            c = c / m.sum((1, 2))
            # Median-background masks underestimate the travel (9.6+ px over 16 frames).
            assert sign * (c[-1] - c[0]) >= 4.5, (seed, label, c)
            assert sign * np.polyfit(t, c, 1)[0] > 0.3
        area_grow = np.array(_object_mask(_video(6, seed)).sum((1, 2)), float)
        assert area_grow[-1] > 1.6 * area_grow[0], (seed, area_grow)
        rot = _object_mask(_video(4, seed))
        assert np.abs(rot[-1].astype(int) - rot[0]).sum() > 0.3 * rot[0].sum()  # Shape turned.


def test_ensure_deterministic_balanced_and_cached(tmp_path, capsys):
    d1 = synthetic.ensure_synthetic_motion(tmp_path / "a", **SMALL)
    out = capsys.readouterr().out
    assert "generating synthetic_motion (64 videos, 8 frames, 16x16)" in out and str(d1) in out
    d2 = synthetic.ensure_synthetic_motion(tmp_path / "b", **SMALL)
    assert d1.name == d2.name and d1.name.startswith("synthetic_motion-")
    for split in ("train", "validation", "test"):
        f1, f2 = dm.list_shards(d1, split), dm.list_shards(d2, split)
        assert len(f1) == 2
        for a, b in zip(f1, f2):
            assert open(a, "rb").read() == open(b, "rb").read()
    assert dm.read_label_map(d1) == list(synthetic.CLASSES)
    # Cached: second call returns without printing or regenerating.
    mtime = (d1 / "train-00000-of-00002").stat().st_mtime_ns
    capsys.readouterr()
    assert synthetic.ensure_synthetic_motion(tmp_path / "a", **SMALL) == d1
    assert capsys.readouterr().out == ""
    assert (d1 / "train-00000-of-00002").stat().st_mtime_ns == mtime
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.startswith(".")]  # No temp dir.

    records = [
        dm.parse_sequence_example(r) for r in tf.data.TFRecordDataset(dm.list_shards(d1, "train"))
    ]
    labels = [int(r["label_index"][0]) for r in records]
    assert np.bincount(labels).tolist() == [5] * 8  # 40 videos, 8 classes.
    assert all(
        r["label_text"][0].numpy().decode() == synthetic.CLASSES[i] for r, i in zip(records, labels)
    )
    ids = sorted(r["video_id"].numpy().decode() for r in records)
    assert ids == [f"synthetic_motion/train/{i:06d}" for i in range(40)]
    assert all(len(r["frames"]) == 8 for r in records)
    frame = tf.io.decode_jpeg(records[0]["frames"][0]).numpy()
    assert frame.shape == (16, 16, 3)


def test_ensure_params_change_output(tmp_path):
    small = dict(SMALL, train_size=8, validation_size=8, test_size=8, num_classes=3)
    d0 = synthetic.ensure_synthetic_motion(tmp_path, **small)
    d1 = synthetic.ensure_synthetic_motion(tmp_path, **dict(small, seed=1))
    assert d0 != d1
    assert dm.read_label_map(d0) == ["move_left", "move_right", "move_up"]
    read = lambda d, s: b"".join(open(f, "rb").read() for f in dm.list_shards(d, s))  # noqa: E731
    assert read(d0, "train") != read(d1, "train")
    assert read(d0, "train") != read(d0, "validation")  # Splits use independent seeds.
    labels = [
        int(dm.parse_sequence_example(r)["label_index"][0])
        for r in tf.data.TFRecordDataset(dm.list_shards(d0, "test"))
    ]
    assert sorted(labels) == [0, 0, 0, 1, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="num_classes=9"):
        synthetic.ensure_synthetic_motion(tmp_path, **dict(small, num_classes=9))
