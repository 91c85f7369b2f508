r"""Input-pipeline throughput: training clips/s (16 frames, 224², full train augmentation).

Writes its own DMVR shards into a temp dir (synthetic 256×340 videos, JPEG q90, as
`vivit-prepare` would produce at --min_resize 256), then times `pipeline.train_iterator`
(dense 16×2 sampling, JPEG decode of the sampled frames, random resized crop, flip, colour
jitter, RandAugment(2, 9), normalisation). Prints a table and one JSON line.

  python benchmarks/input_pipeline.py [--batches 12 --batch_size 8 --videos 32]

The JSON line carries the machine, date and command (`common.machine`).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402,I001  (sets TF_CPP_MIN_LOG_LEVEL before TensorFlow loads)

import numpy as np  # noqa: E402

from vivit_jax.data import config as data_config  # noqa: E402
from vivit_jax.data import dmvr_format, pipeline  # noqa: E402

TRAIN_PP = "random_resized_crop(224)|flip|color_jitter(0.4)|randaug(2, 9)"


def _video(rng: np.random.Generator, t: int, h: int = 256, w: int = 340) -> np.ndarray:
    """Moving smooth gradients plus mild noise (JPEG sizes close to natural video)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, 3)
    frames = []
    for k in range(t):
        base = [127 + 100 * np.sin(xx / (40 + 10 * c) + yy / 60 + phase[c] + 0.2 * k)
                for c in range(3)]
        img = np.stack(base, -1) + rng.normal(0, 6, (h, w, 3))
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(frames)


def make_shards(out_dir: str, num_videos: int, num_frames: int, num_shards: int = 4) -> None:
    """Synthetic DMVR shards `train-*` + label map in `out_dir`."""
    rng = np.random.default_rng(0)
    recs = []
    for i in range(num_videos):
        jpegs = [dmvr_format.encode_jpeg(f, 90) for f in _video(rng, num_frames)]
        recs.append(dmvr_format.make_sequence_example(
            jpegs, label_index=[i % 4], label_text=[f"c{i % 4}"], video_id=f"v{i}"))
    dmvr_format.write_shards(out_dir, "train", recs, num_shards)
    dmvr_format.write_label_map(out_dir, [f"c{i}" for i in range(4)])


def main(argv=None) -> None:
    """Generates shards, times the train iterator, prints a table and a JSON line."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=common.HelpFormatter)
    p.add_argument("--videos", type=int, default=32, help="synthetic videos to write")
    p.add_argument("--video_frames", type=int, default=40, help="frames each (4 s at 10 fps)")
    p.add_argument("--batch_size", type=int, default=8, help="clips per batch")
    p.add_argument("--batches", type=int, default=12, help="timed batches")
    p.add_argument("--warmup", type=int, default=2, help="untimed batches first")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        make_shards(d, args.videos, args.video_frames)
        t_gen = time.perf_counter() - t0
        cfg = data_config.default_data_config()
        cfg.update(dict(name="dmvr", data_dir=d, num_classes=4, num_frames=16, stride=2,
                        image_size=224, min_resize=256, train_pp=TRAIN_PP, shuffle_buffer=16))
        it = pipeline.train_iterator(cfg, global_batch_size=args.batch_size, seed=0)
        for _ in range(args.warmup):
            batch = next(it)
        t0 = time.perf_counter()
        for _ in range(args.batches):
            batch = next(it)
        dt = time.perf_counter() - t0
    clips = args.batches * args.batch_size
    cores = common.cpu_count()
    res = dict(
        benchmark="input_pipeline", clips_per_s=round(clips / dt, 2),
        clips_per_s_per_core=round(clips / dt / cores, 2), cores=cores,
        frames=16, size=224, batch_size=args.batch_size, clips=clips, seconds=round(dt, 2),
        shape=list(batch["video"].shape), train_pp=TRAIN_PP, shard_gen_s=round(t_gen, 1),
    )
    print(f"{'metric':<22}{'value':>12}")
    for k in ("clips_per_s", "clips_per_s_per_core", "cores", "clips", "seconds"):
        print(f"{k:<22}{res[k]:>12}")
    common.print_json([res], common.machine(__file__, argv))


if __name__ == "__main__":
    main()
