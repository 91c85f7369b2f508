"""DMVR SequenceExample schema: round trip, exact keys/kinds, shards, label map."""

import io
import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from vivit_jax.data import dmvr_format as dm


def _frames(seed=0, t=4, h=16, w=24):
    rng = np.random.default_rng(seed)
    # Smooth content so JPEG error stays small.
    base = rng.integers(0, 256, size=(t, 1, 1, 3))
    ramp = np.linspace(0, 60, w)[None, None, :, None]
    return np.clip(base + ramp, 0, 255).astype(np.uint8) * np.ones((t, h, w, 3), np.uint8)


def _parse(serialized):
    return {k: v.numpy() for k, v in dm.parse_sequence_example(tf.constant(serialized)).items()}


def test_round_trip_multi_label():
    frames = _frames()
    rec = dm.make_sequence_example(
        [dm.encode_jpeg(f) for f in frames],
        label_index=[3, 7],
        label_text=["c", "g"],
        video_id="vids/a.mp4",
        start_us=1_500_000,
        end_us=3_250_000,
        caption=["a cat"],
    )
    out = _parse(rec)
    assert out["frames"].shape == (4,)
    decoded = np.stack([tf.io.decode_jpeg(f).numpy() for f in out["frames"]])
    assert decoded.shape == frames.shape
    assert np.abs(decoded.astype(int) - frames).max() <= 4
    assert out["label_index"].tolist() == [3, 7]
    assert out["label_text"].tolist() == [b"c", b"g"]
    assert out["video_id"] == b"vids/a.mp4"
    assert (out["start_us"], out["end_us"]) == (1_500_000, 3_250_000)
    assert out["caption"].tolist() == [b"a cat"]


def test_written_keys_and_kinds_are_dmvrs():
    rec = dm.make_sequence_example(
        [dm.encode_jpeg(f) for f in _frames(t=3)],
        label_index=[1],
        label_text=["b"],
        video_id="v",
        start_us=0,
        end_us=10,
        caption=["x"],
    )
    ex = tf.train.SequenceExample.FromString(rec)
    kinds = {k: f.WhichOneof("kind") for k, f in ex.context.feature.items()}
    assert kinds == {
        "clip/label/index": "int64_list",
        "clip/label/text": "bytes_list",
        "video/filename": "bytes_list",
        "clip/start/timestamp": "int64_list",
        "clip/end/timestamp": "int64_list",
        "caption/string": "bytes_list",
    }
    assert list(ex.feature_lists.feature_list) == ["image/encoded"]
    feats = ex.feature_lists.feature_list["image/encoded"].feature
    assert len(feats) == 3
    assert all(f.WhichOneof("kind") == "bytes_list" and len(f.bytes_list.value) == 1 for f in feats)
    assert feats[0].bytes_list.value[0][:2] == b"\xff\xd8"  # JPEG magic.
    assert ex.context.feature["clip/end/timestamp"].int64_list.value[:] == [10]


def test_record_missing_optional_keys_parses():
    # Only frames + label index, as a minimal DMVR-made record might have.
    ex = tf.train.SequenceExample()
    ex.context.feature["clip/label/index"].int64_list.value[:] = [5]
    ex.context.feature["clip/label/string"].bytes_list.value[:] = [b"five"]  # Alternate key.
    for f in _frames(t=2):
        ex.feature_lists.feature_list["image/encoded"].feature.add().bytes_list.value[:] = [
            dm.encode_jpeg(f)
        ]
    out = _parse(ex.SerializeToString())
    assert out["frames"].shape == (2,)
    assert out["label_index"].tolist() == [5]
    assert out["label_text"].tolist() == [b"five"]
    assert out["video_id"] == b""
    assert (out["start_us"], out["end_us"]) == (0, -1)
    assert out["caption"].tolist() == []


def test_parse_inside_tf_data_map():
    recs = [
        dm.make_sequence_example(
            [dm.encode_jpeg(f) for f in _frames(i, t=2 + i)],
            label_index=[i],
            label_text=[str(i)],
            video_id=f"v{i}",
        )
        for i in range(3)
    ]
    ds = tf.data.Dataset.from_tensor_slices(recs).map(dm.parse_sequence_example)
    got = [
        (len(x["frames"]), int(x["label_index"][0]), x["video_id"]) for x in ds.as_numpy_iterator()
    ]
    assert got == [(2, 0, b"v0"), (3, 1, b"v1"), (4, 2, b"v2")]


def test_encode_jpeg_matches_pil_decode():
    frame = _frames(t=1)[0]
    back = np.asarray(Image.open(io.BytesIO(dm.encode_jpeg(frame, quality=95))))
    assert np.abs(back.astype(int) - frame).max() <= 4
    with pytest.raises(ValueError, match="uint8"):
        dm.encode_jpeg(frame.astype(np.float32))


def test_write_shards_names_counts_and_round_robin(tmp_path):
    recs = [
        dm.make_sequence_example(
            [dm.encode_jpeg(_frames(t=1)[0])], label_index=[i], label_text=[], video_id=f"v{i}"
        )
        for i in range(10)
    ]
    paths = dm.write_shards(tmp_path, "train", recs, num_shards=4)
    assert [p.name for p in paths] == [f"train-{i:05d}-of-00004" for i in range(4)]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("num_")) == [
        p.name for p in paths
    ]  # No temporaries left behind.
    assert dm.list_shards(tmp_path, "train") == [str(p) for p in paths]
    ids = [
        [int(_parse(r.numpy())["label_index"][0]) for r in tf.data.TFRecordDataset(str(p))]
        for p in paths
    ]
    assert ids == [[0, 4, 8], [1, 5, 9], [2, 6], [3, 7]]
    assert dm.shard_counts(tmp_path, "train") == {str(p): n for p, n in zip(paths, [3, 3, 2, 2])}


def test_interrupted_write_leaves_no_final_shard(tmp_path):
    def gen():
        yield dm.make_sequence_example([b"x"], label_index=[0], label_text=[], video_id="v")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        dm.write_shards(tmp_path, "train", gen(), num_shards=2)
    assert list(tmp_path.iterdir()) == []
    # A stray temporary (e.g. from a SIGKILLed run) is never listed as a shard.
    (tmp_path / ".train-00000-of-00001.tmp-123").write_bytes(b"partial")
    with pytest.raises(FileNotFoundError) as e:
        dm.list_shards(tmp_path, "train")
    msg = str(e.value)
    assert "'train'" in msg and str(tmp_path) in msg and "train-00000-of-000NN" in msg


def test_list_shards_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        dm.list_shards(tmp_path / "nope", "train")
    (tmp_path / "test-00000-of-00003").write_bytes(b"")
    (tmp_path / "test-00002-of-00003").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="test-00001-of-00003"):
        dm.list_shards(tmp_path, "test")
    with pytest.raises(FileNotFoundError, match="'validation'"):
        dm.list_shards(tmp_path, "validation")


def test_label_map_round_trip_and_errors(tmp_path):
    labels = ["abseiling", "air drumming", "zumba"]
    path = dm.write_label_map(tmp_path, labels)
    assert path.name == "label_map.json"
    assert json.loads(path.read_text()) == {"labels": labels}
    assert dm.read_label_map(tmp_path) == labels
    path.write_text(json.dumps(["a", "b"]))  # A plain list is accepted too.
    assert dm.read_label_map(tmp_path) == ["a", "b"]
    path.write_text("{not json")
    with pytest.raises(ValueError, match=str(path)):
        dm.read_label_map(tmp_path)
    path.unlink()
    with pytest.raises(FileNotFoundError, match=str(path)):
        dm.read_label_map(tmp_path)
    with pytest.raises(ValueError, match="duplicate"):
        dm.write_label_map(tmp_path, ["a", "a"])
