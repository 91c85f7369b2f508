"""tf.data pipelines: values, determinism across resume, per-process files, eval padding."""

import itertools

import numpy as np
import pytest

from vivit_jax.data import config as data_config
from vivit_jax.data import dmvr_format as dm
from vivit_jax.data import pipeline

NUM_VIDEOS, NUM_SHARDS, VIDEO_LEN = 22, 4, 6


def _level(video, frame):
    """Constant grey level of frame `frame` of video `video` (identifies both)."""
    return 20 + 9 * frame + 3 * (video % 5)


@pytest.fixture(scope="module")
def dmvr_dir(tmp_path_factory):
    """22 videos of 6 constant-colour frames at 24x32; label = shard index (round-robin)."""
    d = tmp_path_factory.mktemp("dmvr")
    recs = []
    for v in range(NUM_VIDEOS):
        frames = [np.full((24, 32, 3), _level(v, f), np.uint8) for f in range(VIDEO_LEN)]
        recs.append(
            dm.make_sequence_example(
                [dm.encode_jpeg(f) for f in frames],
                label_index=[v % NUM_SHARDS],
                label_text=[f"c{v % NUM_SHARDS}"],
                video_id=f"vid{v:03d}",
            )
        )
    for split in ("train", "validation"):
        dm.write_shards(d, split, recs, NUM_SHARDS)
    dm.write_label_map(d, [f"c{i}" for i in range(NUM_SHARDS)])
    return d


def _cfg(data_dir, **kw):
    cfg = data_config.default_data_config()
    cfg.update(
        dict(
            name="dmvr",
            data_dir=str(data_dir),
            num_classes=NUM_SHARDS,
            num_frames=4,
            image_size=16,
            min_resize=16,
            shuffle_buffer=8,
        ),
        **kw,
    )
    return cfg


def _levels(video):
    """Per-frame grey level of a uint8 clip [T, H, W, 3] (what the pipelines send)."""
    return np.round(video.mean(axis=(1, 2, 3))).astype(int)


def test_default_config_fields():
    cfg = data_config.default_data_config()
    assert cfg.name == "synthetic_motion" and cfg.random_flip is False
    assert (cfg.num_frames, cfg.stride, cfg.image_size, cfg.min_resize) == (8, 1, 32, 32)
    assert cfg.synthetic.train_size == 2400 and cfg.synthetic.num_shards == 4


def test_train_values_shapes_and_clip_sampling(dmvr_dir):
    cfg = _cfg(dmvr_dir, stride=2)
    batch = next(pipeline.train_iterator(cfg, global_batch_size=6, seed=0))
    # uint8 pixels: normalisation and the photometric ops run in the train step.
    assert batch["video"].shape == (6, 4, 16, 16, 3) and batch["video"].dtype == np.uint8
    assert batch["label"].shape == (6,) and batch["label"].dtype == np.int32
    for video in batch["video"]:
        # Frames are constant images; a clip is 4 frames at stride 2 from a random start,
        # looping over the 6-frame video.
        assert np.abs(video.astype(int) - video[:, :1, :1]).max() <= 2
        lv = _levels(video)
        found = [
            (v, s)
            for v in range(5)
            for s in range(VIDEO_LEN)
            if np.abs(lv - [_level(v, (s + 2 * k) % VIDEO_LEN) for k in range(4)]).max() <= 2
        ]
        assert found, lv


def test_imagenet_normalisation(dmvr_dir):
    from vivit_jax.data import device_augment

    cfg = _cfg(dmvr_dir, normalization="imagenet")
    batch = next(pipeline.eval_iterator(cfg, "validation", global_batch_size=2))
    # vid000, centred window of 4 of 6 frames starts at frame 1; normalised on the device.
    x = np.array([_level(0, f) for f in (1, 2, 3, 4)], np.float32)[:, None] / 255
    want = (x - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    got = device_augment.normalize(batch["video"][0], cfg.normalization)
    np.testing.assert_allclose(np.asarray(got).mean(axis=(1, 2)), want, atol=0.03)


def test_train_is_deterministic_across_start_step(dmvr_dir):
    cfg = _cfg(dmvr_dir, random_flip=True)
    run = list(itertools.islice(pipeline.train_iterator(cfg, global_batch_size=4, seed=7), 8))
    resumed = list(
        itertools.islice(pipeline.train_iterator(cfg, global_batch_size=4, seed=7, start_step=5), 3)
    )
    for a, b in zip(run[5:8], resumed):
        np.testing.assert_array_equal(a["video"], b["video"])
        np.testing.assert_array_equal(a["label"], b["label"])
    # 8 batches of 4 cross an epoch (22 videos): reshuffled, still from the same pool.
    other = next(pipeline.train_iterator(cfg, global_batch_size=4, seed=8))
    assert not np.array_equal(other["video"], run[0]["video"])


def test_cache_decoded_epochs_are_permutations_and_resume_exactly(dmvr_dir):
    """`dataset.cache_decoded`: every epoch sees each video exactly once (a full shuffle of
    the decoded set, a new order per epoch), the same clips as decoding every time would
    give for the same video, and a resumed run continues the same stream."""
    cfg = _cfg(dmvr_dir, cache_decoded=True, random_crop=False, stride=1)
    it = pipeline.train_iterator(cfg, global_batch_size=2, seed=7)
    epochs = [[], [], []]
    for e in range(3):
        for _ in range(NUM_VIDEOS // 2):  # 22 videos, batches of 2: epochs align.
            b = next(it)
            for video in b["video"]:
                epochs[e].append(tuple(_levels(video)))
    assert epochs[0] != epochs[1] != epochs[2]  # Reshuffled every epoch.
    run = list(itertools.islice(pipeline.train_iterator(cfg, global_batch_size=2, seed=7), 16))
    resumed = list(itertools.islice(
        pipeline.train_iterator(cfg, global_batch_size=2, seed=7, start_step=13), 3))
    for a, b in zip(run[13:16], resumed):  # Resume across the epoch boundary (11 batches).
        np.testing.assert_array_equal(a["video"], b["video"])
        np.testing.assert_array_equal(a["label"], b["label"])
    # Each epoch holds every label as often as the data does (22 videos, label = v % 4).
    it = pipeline.train_iterator(cfg, global_batch_size=22, seed=3)
    for _ in range(2):
        labels = next(it)["label"]
        np.testing.assert_array_equal(np.bincount(labels, minlength=NUM_SHARDS),
                                      np.bincount(np.arange(NUM_VIDEOS) % NUM_SHARDS))


def test_synthetic_train_with_resize_and_random_crop(tmp_path):
    cfg = data_config.default_data_config()
    cfg.data_dir = str(tmp_path)
    cfg.synthetic.update(
        dict(
            num_frames=8, image_size=16, train_size=16, validation_size=8, test_size=8, num_shards=2
        )
    )
    cfg.update(dict(num_frames=4, image_size=12, min_resize=14))
    batch = next(pipeline.train_iterator(cfg, global_batch_size=8, seed=0))
    assert batch["video"].shape == (8, 4, 12, 12, 3)
    assert set(batch["label"].tolist()) <= set(range(8))
    assert batch["video"].std() > 10
    assert pipeline.num_examples(cfg, "train") == 16
    assert pipeline.num_examples(cfg, "test") == 8


def test_processes_read_disjoint_files(dmvr_dir):
    files = dm.list_shards(dmvr_dir, "train")
    p0, p1 = (pipeline.process_files(files, i, 2) for i in range(2))
    assert not set(p0) & set(p1) and sorted(p0 + p1) == files
    # Label = shard index, so the labels a process sees tell which files it reads.
    seen = []
    for i in range(2):
        it = pipeline.train_iterator(
            _cfg(dmvr_dir), global_batch_size=8, seed=0, process_index=i, process_count=2
        )
        batches = list(itertools.islice(it, 6))
        assert batches[0]["video"].shape[0] == 4
        seen.append(set(np.concatenate([b["label"] for b in batches]).tolist()))
    assert seen == [{0, 2}, {1, 3}]
    with pytest.raises(ValueError, match="not divisible"):
        pipeline.train_iterator(_cfg(dmvr_dir), global_batch_size=5, seed=0, process_count=2)


def test_eval_covers_each_example_once_with_padding(dmvr_dir):
    cfg = _cfg(dmvr_dir)
    batches = list(pipeline.eval_iterator(cfg, "validation", global_batch_size=8, include_ids=True))
    assert len(batches) == 3  # 22 = 8 + 8 + 6.
    assert [b["mask"].tolist() for b in batches][-1] == [1] * 6 + [0] * 2
    assert all(b["video"].shape == (8, 4, 16, 16, 3) for b in batches)
    ids = [i for b in batches for i, m in zip(b["video_id"], b["mask"]) if m]
    assert sorted(ids) == [f"vid{v:03d}".encode() for v in range(NUM_VIDEOS)]
    assert ids == sorted(ids)  # Round-robin shards read back in the original order.
    labels = np.concatenate([b["label"][b["mask"] > 0] for b in batches])
    assert labels.tolist() == [v % NUM_SHARDS for v in range(NUM_VIDEOS)]
    assert np.all(batches[-1]["video"][6:] == 0)
    for b in batches:  # Centred window: frames 1..4 of 6.
        for v, video, m in zip(b["video_id"], b["video"], b["mask"]):
            if m:
                want = [_level(int(v[3:]), f) for f in (1, 2, 3, 4)]
                assert np.abs(_levels(video) - want).max() <= 2


def test_eval_two_processes_same_batch_count(dmvr_dir):
    cfg = _cfg(dmvr_dir)
    runs = [
        list(
            pipeline.eval_iterator(
                cfg,
                "validation",
                global_batch_size=8,
                process_index=i,
                process_count=2,
                include_ids=True,
            )
        )
        for i in range(2)
    ]
    # Process 0 has shards 0, 2 (6 + 5 = 11 videos), process 1 shards 1, 3 (6 + 5).
    assert [len(r) for r in runs] == [3, 3]
    ids = [i for r in runs for b in r for i, m in zip(b["video_id"], b["mask"]) if m]
    assert sorted(ids) == [f"vid{v:03d}".encode() for v in range(NUM_VIDEOS)]
    assert sum(b["mask"].sum() for r in runs for b in r) == NUM_VIDEOS


def test_clear_errors(tmp_path, dmvr_dir):
    with pytest.raises(ValueError, match=r"dataset.data_dir '' is empty"):
        pipeline.resolve_data_dir(_cfg(""))
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "missing")):
        pipeline.resolve_data_dir(_cfg(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        FileNotFoundError, match=f"no shards for split 'train' in {tmp_path / 'empty'}"
    ):
        pipeline.train_iterator(_cfg(tmp_path / "empty"), global_batch_size=2, seed=0)
    with pytest.raises(ValueError, match=r"unknown dataset.name 'kinetics'.*synthetic_motion"):
        pipeline.resolve_data_dir(_cfg(dmvr_dir, name="kinetics"))
    with pytest.raises(
        ValueError, match=r"num_classes=10 but the label map .*label_map.json has 4"
    ):
        pipeline.resolve_data_dir(_cfg(dmvr_dir, num_classes=10))
    with pytest.raises(ValueError, match="normalization 'zscore'"):
        pipeline.train_iterator(_cfg(dmvr_dir, normalization="zscore"), global_batch_size=2, seed=0)
    with pytest.raises(FileNotFoundError, match="'test'"):
        pipeline.num_examples(_cfg(dmvr_dir), "test")


def test_process_split_examples_gives_the_single_process_global_batch(dmvr_dir):
    """With process_split='examples', 2 processes' local batches concatenate to exactly the
    global batch of 1 process (same clips, same augmentation), also after a resume."""
    cfg = _cfg(dmvr_dir, process_split="examples", random_crop=True, min_resize=20)
    single = pipeline.train_iterator(cfg, global_batch_size=8, seed=3, start_step=2)
    parts = [pipeline.train_iterator(cfg, global_batch_size=8, seed=3, start_step=2,
                                     process_index=p, process_count=2) for p in range(2)]
    for _ in range(3):
        whole = next(single)
        halves = [next(it) for it in parts]
        np.testing.assert_array_equal(np.concatenate([h["label"] for h in halves]),
                                      whole["label"])
        np.testing.assert_allclose(np.concatenate([h["video"] for h in halves]), whole["video"])
