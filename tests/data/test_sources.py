"""Multi-view eval, TSN through the pipeline, TFDS (mock) source, truncated shards."""

import io
import re

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from vivit_jax.data import config as data_config
from vivit_jax.data import dmvr_format as dm
from vivit_jax.data import pipeline, sources

N_FRAMES = 12  # Frame k of video v has grey level 20k + v.


@pytest.fixture(scope="module")
def dmvr_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("frames")
    recs = [
        dm.make_sequence_example(
            [dm.encode_jpeg(np.full((24, 36, 3), 20 * k + v, np.uint8)) for k in range(N_FRAMES)],
            label_index=[v % 2], label_text=[f"c{v % 2}"], video_id=f"v{v}")
        for v in range(5)
    ]
    for split in ("train", "validation"):
        dm.write_shards(d, split, recs, 2)
    dm.write_label_map(d, ["c0", "c1"])
    return d


def _cfg(data_dir, **kw):
    cfg = data_config.default_data_config()
    cfg.update(dict(name="dmvr", data_dir=str(data_dir), num_classes=2, num_frames=3,
                    stride=2, image_size=24, min_resize=24, shuffle_buffer=4), **kw)
    return cfg


def _frame_index(clip, video):
    """Frame indices back from a uint8 clip [F, H, W, 3] of video `video`."""
    level = clip.mean(axis=(1, 2, 3))
    return np.round((level - video) / 20).astype(int).tolist()


@pytest.mark.parametrize("sampling,want", [
    ("dense", [[0, 2, 4], [6, 8, 10]]),  # Offsets linspace(0, 12 - 3·2, 2).
    ("tsn", [[1, 5, 9], [3, 7, 11]]),  # floor((k + (c + 0.5)/2) · 12/3).
])
def test_multiview_views_indices_and_coverage(dmvr_dir, sampling, want):
    cfg = _cfg(dmvr_dir, sampling=sampling)
    runs = [list(pipeline.multiview_iterator(cfg, "validation", num_clips=2, num_crops=3,
                                             global_batch_size=4, process_index=p,
                                             process_count=2, include_ids=True))
            for p in range(2)]
    assert [len(r) for r in runs] == [2, 2]  # 3 and 2 videos, 2 per process-batch.
    batch = runs[0][0]
    assert batch["video"].shape == (2, 6, 3, 24, 24, 3)
    for b in (b for r in runs for b in r):
        for vid, views, m in zip(b["video_id"], b["video"], b["mask"]):
            if m:
                v = int(vid[1:])
                got = [_frame_index(views[i], v) for i in range(6)]
                assert got == [want[i // 3] for i in range(6)]  # View i: clip i // 3.
    index = sorted(i for r in runs for b in r for i in b["video_index"] if i >= 0)
    assert index == [0, 1, 2, 3, 4]
    assert all(np.array_equal(b["video_index"] >= 0, b["mask"] > 0) for r in runs for b in r)


def test_tsn_train_one_frame_per_segment_and_eval_centres(dmvr_dir):
    cfg = _cfg(dmvr_dir, sampling="tsn", num_frames=4)
    batch = next(pipeline.train_iterator(cfg, global_batch_size=5, seed=0))
    for clip in batch["video"]:
        idx = np.array(_frame_index(clip, 0))  # Level offset < 5 rounds away.
        assert all(3 * k <= i < 3 * k + 3 for k, i in enumerate(idx)), idx
    (ev,) = list(pipeline.eval_iterator(cfg, "validation", global_batch_size=5))
    assert [_frame_index(c, 0) for c in ev["video"]] == [[1, 4, 7, 10]] * 5


def test_truncated_shard_error_or_skip(dmvr_dir, tmp_path, capsys):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(dmvr_dir, bad)
    (bad / "num_examples.json").unlink()
    shard = bad / "validation-00001-of-00002"
    shard.write_bytes(shard.read_bytes()[:-30])  # Last of its 2 records cut short.
    with pytest.raises(ValueError) as e:
        pipeline.num_examples(_cfg(bad), "validation")
    # TF's reason without its stray quote ("…at 2110' failed with …", issue 32).
    assert re.fullmatch(
        rf"shard {shard} is truncated or corrupt after record 1: truncated record at \d+ \(Read "
        r"less bytes than requested\) \(set dataset.on_corrupt='skip' to read the 1 good "
        r"records\)", str(e.value)), str(e.value)
    cfg = _cfg(bad, on_corrupt="skip")
    batches = list(pipeline.eval_iterator(cfg, "validation", global_batch_size=8,
                                          include_ids=True))
    ids = [i for b in batches for i, m in zip(b["video_id"], b["mask"]) if m]
    assert sorted(ids) == [b"v0", b"v1", b"v2", b"v4"]  # v3 (2nd record of shard 1) lost.
    assert "validation-00001-of-00002 is truncated" in capsys.readouterr().out


def test_tfds_source_with_mock_data():
    tfds = pytest.importorskip("tensorflow_datasets")
    cfg = data_config.default_data_config()
    cfg.update(dict(name="tfds:ucf101/ucf101_1_256", num_classes=101, num_frames=4,
                    stride=2, image_size=16, min_resize=16, shuffle_buffer=4,
                    train_split="train", eval_split="test"))
    with tfds.testing.mock_data(num_examples=3):
        pipeline.resolve_data_dir(cfg)  # num_classes matches the ClassLabel.
        train = next(pipeline.train_iterator(cfg, global_batch_size=4, seed=0))
        assert train["video"].shape == (4, 4, 16, 16, 3)
        assert set(train["label"].tolist()) <= set(range(101))
        assert pipeline.num_examples(cfg, "test") == 3
        batches = list(pipeline.eval_iterator(cfg, "test", global_batch_size=2))
        assert [b["mask"].tolist() for b in batches] == [[1, 1], [1, 0]]
        # Reference: the raw frames decoded by PIL, centred dense clip, resize 256 → 16.
        # (Under mock_data, TFDS's own decoded path yields different random frames.)
        ref = next(iter(tfds.load("ucf101/ucf101_1_256", split="test", shuffle_files=False,
                                  decoders={"video": tfds.decode.SkipDecoding()})))
        frames = ref["video"].numpy()
        n = len(frames)
        idx = (max(0, (n - 8) // 2) + 2 * np.arange(4)) % n
        video = np.stack([np.asarray(Image.open(io.BytesIO(frames[i])).convert("RGB"))
                          for i in idx])
        want = tf.image.resize(video.astype(np.float32), [16, 16], antialias=True)
        # uint8 pixels (normalised on the device); PIL's and TF's JPEG decoders differ by a
        # level or two.
        np.testing.assert_allclose(batches[0]["video"][0], want.numpy(), atol=2.55)
        assert batches[0]["label"][0] == ref["label"].numpy()
    with pytest.raises(ValueError, match="num_classes=7 but TFDS 'tfds:ucf101/ucf101_1_256'"):
        with tfds.testing.mock_data(num_examples=1):
            pipeline.resolve_data_dir(_with(cfg, num_classes=7))


def _with(cfg, **kw):
    c = cfg.copy_and_resolve_references()
    c.update(kw)
    return c


def test_tfds_split_the_dataset_lacks_is_missing_like_absent_shards(monkeypatch):
    """(mock_data leaves `info.splits` empty, so a stand-in builder carries the splits.)"""
    from types import SimpleNamespace

    splits = {"train": SimpleNamespace(num_examples=9537), "test": SimpleNamespace(
        num_examples=3783)}
    monkeypatch.setattr(sources, "tfds_builder",
                        lambda cfg: SimpleNamespace(info=SimpleNamespace(splits=splits)))
    cfg = _with(data_config.default_data_config(), name="tfds:ucf101/ucf101_1_256")
    assert pipeline.num_examples(cfg, "test") == 3783
    # Missing like absent shards (FileNotFoundError): the trainer skips an absent test split.
    with pytest.raises(FileNotFoundError, match=r"TFDS dataset 'tfds:ucf101/ucf101_1_256' "
                                                r"has no split 'validation'; its splits: "
                                                r"\['test', 'train'\]"):
        pipeline.num_examples(cfg, "validation")
    with pytest.raises(FileNotFoundError, match="no split 'val'"):
        pipeline.num_examples(cfg, "train[:10%]+val")


def test_tfds_dataset_not_prepared_says_how_and_where(repo, tmp_path, capsys):
    # Issue 32: an unprepared TFDS dataset ended in a 30-line traceback (TFDS's assertion).
    pytest.importorskip("tensorflow_datasets")
    from vivit_jax import main

    cfg = _with(data_config.default_data_config(), name="tfds:ucf101/ucf101_1_256",
                num_classes=101, data_dir=str(tmp_path / "tfds"))
    want = (f"TFDS dataset 'ucf101/ucf101_1_256' is not prepared in {tmp_path}/tfds/ucf101/"
            f"ucf101_1_256/2.0.0 (dataset.data_dir='{tmp_path}/tfds'): prepare it once with "
            f"`tfds build ucf101/ucf101_1_256 --data_dir={tmp_path}/tfds`, or point "
            f"--config.dataset.data_dir at the TFDS data dir that holds it")
    with pytest.raises(ValueError) as e:
        pipeline.num_examples(cfg, "train")
    assert str(e.value) == want
    workdir = tmp_path / "run"
    assert main.run_train(["--config", str(repo / "configs/synthetic/vivit_tiny.py"),
                           "--workdir", str(workdir), f"--config.dataset.data_dir={tmp_path}/tfds",
                           "--config.dataset.name=tfds:ucf101/ucf101_1_256",
                           "--config.dataset.num_classes=101"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [f"vivit-train: error: {want}"]
    assert not workdir.exists()
    with pytest.raises(ValueError, match=r"^dataset.name='tfds:no_such_set': TFDS has no "
                                         r"dataset 'no_such_set' \(`tfds build --help`"):
        pipeline.num_examples(_with(cfg, name="tfds:no_such_set"), "train")


def test_tfds_per_process_counts_follow_even_splits(monkeypatch):
    """Each process's part of a TFDS split is counted by TFDS's even_splits rule (the first
    n % P parts one longer), also for 'a+b' splits; the parts sum to the split."""
    from types import SimpleNamespace

    splits = {"train": SimpleNamespace(num_examples=9537), "test": SimpleNamespace(
        num_examples=3784)}
    monkeypatch.setattr(sources, "tfds_builder",
                        lambda cfg: SimpleNamespace(info=SimpleNamespace(splits=splits)))
    cfg = _with(data_config.default_data_config(), name="tfds:ucf101/ucf101_1_256")
    parts = [sources.tfds_process_split("test", p, 3) for p in range(3)]
    assert [sources.tfds_num_examples(cfg, s) for s in parts] == [1262, 1261, 1261]
    both = [sources.tfds_process_split("test+train", p, 2) for p in range(2)]
    assert [sources.tfds_num_examples(cfg, s) for s in both] == [1892 + 4769, 1892 + 4768]
