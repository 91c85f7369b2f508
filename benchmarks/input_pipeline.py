r"""Input pipeline against the JPEG-decode bound, per core: every paper recipe in configs/ at
16 and 32 frames, the 4×3 evaluation views, bytes sent per batch, the device augmentation's
share of a ViViT-B train step, and the trainer's overlap with a model that costs nothing.

Writes its own DMVR shards into a temp dir (`--videos` synthetic 340×256 videos of
`--video_frames` frames, JPEG q95 4:4:4 as `vivit-prepare --min_resize 256` writes them).
The host figures run in a child process pinned to one core (its tf.data threads all share
it) and are timed by that process's CPU time: clips per CPU-second *is* clips/s per core,
whatever else loads the machine, measured beside the bound, `tf.io.decode_jpeg` of the same
shards' frames on that core, timed the same way. Recipes: the distinct dataset recipes (train_pp,
sampling, sizes) of configs/kinetics400 and configs/ssv2, each named by its first config.
Eval: `multiview_iterator` with the ViViT K400 config's 4×3 views; its bound decodes each
distinct frame of the 4 clips once.

  python benchmarks/input_pipeline.py [--videos 16 --video_frames 80 --batches 4]
  python benchmarks/input_pipeline.py --before /tmp/old_tree   # also the code in that tree

`--before DIR` runs the same host measurement on the vivit_jax in DIR (e.g. `git archive
<commit> | tar -x -C DIR`) beside this one. `--device false` skips the ViViT-B step and the
overlap (host figures only). Prints a table and one JSON line per row.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402,I001  (sets TF_CPP_MIN_LOG_LEVEL before TensorFlow loads)

import numpy as np  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
EVAL_CONFIG = "configs/kinetics400/vivit_b16x2_fe_32x2x1_k400.py"
SSV2_CONFIG = "configs/ssv2/vivit_b16x2_fe_32x1x1_ssv2.py"
STEP_CONFIG = EVAL_CONFIG  # The ViViT-B whose train step the device augmentation is set beside.
OVERLAP_CONFIG = "configs/kinetics400/timesformer_b16_divided_8x32x1_k400.py"


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
    """Synthetic DMVR shards `train-*` and `validation-*` + label map in `out_dir`."""
    from vivit_jax.data import dmvr_format

    rng = np.random.default_rng(0)
    recs = []
    for i in range(num_videos):
        jpegs = [dmvr_format.encode_jpeg(f, 95) for f in _video(rng, num_frames)]
        recs.append(dmvr_format.make_sequence_example(
            jpegs, label_index=[i % 4], label_text=[f"c{i % 4}"], video_id=f"v{i}"))
    for split in ("train", "validation"):
        dmvr_format.write_shards(out_dir, split, recs, num_shards)
    dmvr_format.write_label_map(out_dir, [f"c{i}" for i in range(4)])


def paper_recipes() -> dict[str, object]:
    """{first config's name: its dataset section} for each distinct train recipe of the
    Kinetics-400 and SSv2 configs."""
    from vivit_jax import config as config_lib
    from vivit_jax.data import preprocess

    out, seen = {}, set()
    for path in sorted((REPO / "configs").glob("*/*.py")):
        if path.parent.name == "synthetic":
            continue
        d = config_lib.load(str(path)).dataset
        key = (d.train_pp or preprocess.default_train_pp(d), d.sampling, d.image_size)
        if key not in seen:
            seen.add(key)
            out[path.stem] = d
    return out


def _data_cfg(d, data_dir: str, frames: int):
    d = d.copy_and_resolve_references()
    d.update(dict(name="dmvr", data_dir=data_dir, num_classes=4, num_frames=frames,
                  shuffle_buffer=16))
    return d


def _decode_fps(data_dir: str) -> float:
    """Frames/s of `tf.io.decode_jpeg` over the train shards' frames, one thread."""
    from vivit_jax.data import dmvr_format, sources
    from vivit_jax.data.tf_quiet import tf

    recs = sources.dmvr_records(dmvr_format.list_shards(data_dir, "train"), "error")
    frames = [f for ex in recs.map(sources.parse_dmvr) for f in ex["frames"].numpy()]
    ds = tf.data.Dataset.from_tensor_slices(frames).map(tf.io.decode_jpeg)
    opts = tf.data.Options()
    opts.threading.private_threadpool_size = 1
    ds = ds.with_options(opts)
    for _ in ds.take(64):
        pass
    t0 = time.process_time()
    n = sum(1 for _ in ds)
    return n / (time.process_time() - t0)


def _rate(it, batches: int, warmup: int, rows_of, clock=time.perf_counter) -> tuple[float, dict]:
    """Rows/s over `batches` after `warmup`, by `clock` (the host figures: this process's CPU
    time, on its one core: what the work costs, whatever else runs on the machine)."""
    for _ in range(warmup):
        batch = next(it)
    t0 = clock()
    n = 0
    for _ in range(batches):
        batch = next(it)
        n += rows_of(batch)
    return n / (clock() - t0), batch


def host_figures(data_dir: str, batches: int, batch_size: int, video_frames: int) -> list[dict]:
    """The host rows (run pinned to one core): decode bound, recipes, eval 4×3."""
    import inspect

    from vivit_jax import config as config_lib
    from vivit_jax.data import pipeline, video_ops

    fps = _decode_fps(data_dir)
    rows = [dict(case="decode bound", frames_per_s=fps)]
    extra = {"threads": 1} if "threads" in inspect.signature(
        pipeline.train_iterator).parameters else {}
    for name, d in paper_recipes().items():
        for frames in (16, 32):
            cfg = _data_cfg(d, data_dir, frames)
            it = pipeline.train_iterator(cfg, global_batch_size=batch_size, seed=0, **extra)
            rate, batch = _rate(it, batches, 2, lambda b: len(b["label"]), time.process_time)
            v = batch["video"]
            rows.append(dict(case=f"{name} {frames}f", recipe=cfg.train_pp or "(plain fields)",
                             sampling=cfg.sampling, clips_per_s=rate, bound=fps / frames,
                             of_bound=rate * frames / fps, dtype=str(v.dtype),
                             batch_mb=v.nbytes / 2**20, shape=list(v.shape)))
    d = config_lib.load(str(REPO / EVAL_CONFIG)).dataset
    cfg = _data_cfg(d, data_dir, d.num_frames)
    idx = video_ops.multi_clip_indices(video_frames, cfg.sampling, cfg.test_clips, cfg.num_frames,
                                       cfg.stride).numpy()
    distinct = len(np.unique(idx))
    it = pipeline.multiview_iterator(cfg, "validation", num_clips=cfg.test_clips,
                                     num_crops=cfg.test_crops, global_batch_size=2)
    rate, batch = _rate(it, batches, 1, lambda b: int(b["mask"].sum()), time.process_time)
    v = batch["video"]
    rows.append(dict(case=f"eval {cfg.test_clips}x{cfg.test_crops} {cfg.num_frames}f",
                     videos_per_s=rate, bound=fps / distinct, of_bound=rate * distinct / fps,
                     distinct_frames=distinct, dtype=str(v.dtype), batch_mb=v.nbytes / 2**20,
                     shape=list(v.shape)))
    return rows


def _run_host(data_dir: str, args, pythonpath: str | None, script: str = __file__
              ) -> list[dict]:
    """`script --host_only` (default: `host_figures`) in a child process pinned to one core
    (of `pythonpath`'s vivit_jax): its JSON lines."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([pythonpath, env.get("PYTHONPATH", "")])
    core = min(os.sched_getaffinity(0))
    cmd = ["taskset", "-c", str(core), sys.executable, script, "--host_only", data_dir,
           "--batches", str(args.batches), "--batch_size", str(args.batch_size),
           "--video_frames", str(args.video_frames)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False,
                         cwd=pythonpath or None)
    if out.returncode:
        raise SystemExit(f"{pathlib.Path(script).stem}: error: host measurement failed:\n"
                         f"{out.stderr[-3000:]}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def device_share(args) -> dict:
    """ms of the device augmentation of the ViViT K400 and SSv2 recipes on one 32-frame clip,
    against the ViViT-B FE K400 train step (batch 1, float input: the model alone)."""
    import jax
    import jax.numpy as jnp

    from vivit_jax import config as config_lib
    from vivit_jax.data import device_augment

    out = {}
    for name, path in (("k400", EVAL_CONFIG), ("ssv2", SSV2_CONFIG)):
        d = config_lib.load(str(REPO / path)).dataset
        fn = jax.jit(device_augment.build(d))
        video = jnp.asarray(np.random.default_rng(0).integers(
            0, 256, (1, d.num_frames, d.image_size, d.image_size, 3), np.uint8))
        key = jax.random.key(0)
        jax.block_until_ready(fn(video, key))
        out[f"aug_{name}_ms"] = 1e3 * common.median_rate(
            lambda k: jax.block_until_ready([fn(video, key) for _ in range(k)]), 1, 3, 3) ** -1
    cfg = config_lib.load(str(REPO / STEP_CONFIG), [f"--config.batch_size={1}"] + (
        [f"--config.model.num_layers={args.layers}"] if args.layers else []))
    step = common.throughput(cfg, calls=1, repeats=1, parts=("train",),
                             devices=jax.devices()[:1])
    out["vivit_b_step_ms"] = step["train_ms_per_step"]
    for name in ("k400", "ssv2"):
        aug = out[f"aug_{name}_ms"]
        out[f"aug_{name}_share"] = aug / (aug + out["vivit_b_step_ms"])
    return out


def overlap(data_dir: str, args) -> dict:
    """Clips/s of the train iterator alone, and of the trainer's loop over it (device
    prefetch + a jitted step that normalises and nothing else), all cores: TimeSformer's K400
    recipe (no photometric op: on a CPU "device" colour jitter would time the CPU, not the
    overlap; its cost is `device_share`'s)."""
    import jax
    import jax.numpy as jnp

    from vivit_jax import config as config_lib
    from vivit_jax import sharding
    from vivit_jax.data import device_augment, pipeline, prefetch

    d = _data_cfg(config_lib.load(str(REPO / OVERLAP_CONFIG)).dataset, data_dir, 16)
    alone, _ = _rate(pipeline.train_iterator(d, global_batch_size=args.batch_size, seed=0),
                     args.batches, 2, lambda b: len(b["label"]))
    mesh = sharding.make_mesh((("data", 1), ("fsdp", 1), ("model", 1)), jax.devices()[:1])
    augment = device_augment.build(d)
    steps = {"free": jax.jit(lambda v, k: v[:, 0, 0, 0, 0].astype(jnp.float32)),
             "normalising": jax.jit(lambda v, k: jnp.mean(augment(v, k)))}
    out = dict(pipeline_clips_per_s=alone)
    for name, step in steps.items():
        it = prefetch.to_device(pipeline.train_iterator(d, global_batch_size=args.batch_size,
                                                        seed=0), sharding.batch_sharding(mesh))
        key = jax.random.key(0)
        pending = []

        def rows(b, step=step, pending=pending, key=key):
            pending.append(step(b["video"], key))  # Read one step late, as the trainer does.
            if len(pending) > 1:
                jax.block_until_ready(pending.pop(0))
            return b["label"].shape[0]

        rate, _ = _rate(it, args.batches, 2, rows)
        out[f"trainer_{name}_clips_per_s"] = rate
        out[f"trainer_{name}_of_pipeline"] = rate / alone
    return out


def _print_host(rows: list[dict], label: str) -> None:
    print(f"\n[{label}] host, one core ({rows[0]['code']})")
    bound = rows[0]["frames_per_s"]
    print(f"  decode bound: {bound:.0f} frames/s/core")
    for r in rows[1:]:
        rate = r.get("clips_per_s", r.get("videos_per_s"))
        unit = "clips" if "clips_per_s" in r else "videos"
        print(f"  {r['case']:<48} {rate:7.1f} {unit}/s/core  bound {r['bound']:6.1f}  "
              f"{r['of_bound']:5.0%}  {r['dtype']} {r['batch_mb']:.1f} MB/batch")


def parser(doc: str) -> argparse.ArgumentParser:
    """The flags of the shards and the timed batches (`_run_host` passes them to the child);
    `--host_only DIR`: the child's run."""
    p = argparse.ArgumentParser(description=doc, formatter_class=common.HelpFormatter)
    p.add_argument("--videos", type=int, default=16, help="synthetic videos to write")
    p.add_argument("--video_frames", type=int, default=80, help="frames each")
    p.add_argument("--batch_size", type=int, default=8, help="clips per batch")
    p.add_argument("--batches", type=int, default=4, help="timed batches per case")
    p.add_argument("--host_only", default="", help=argparse.SUPPRESS)
    return p


def main(argv=None) -> int:
    """Generates shards, measures, prints a table and JSON lines."""
    p = parser(__doc__)
    p.add_argument("--before", default="", help="a tree with an older vivit_jax to set beside")
    p.add_argument("--host", default="true", choices=("true", "false"),
                   help="the host figures (one pinned core) and --before")
    p.add_argument("--device", default="true", choices=("true", "false"),
                   help="also the device augmentation's share and the trainer overlap")
    p.add_argument("--layers", type=int, default=0,
                   help="ViViT-B depth override for the step (0: the paper's; smoke tests)")
    args = p.parse_args(argv)
    if args.host_only:
        import vivit_jax

        for r in host_figures(args.host_only, args.batches, args.batch_size, args.video_frames):
            print(json.dumps(dict(code=str(pathlib.Path(vivit_jax.__file__).parent), **r)))
        return 0
    meta = common.machine(__file__, argv)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        make_shards(d, args.videos, args.video_frames)
        print(f"shards: {args.videos} videos × {args.video_frames} frames 340×256 "
              f"({time.perf_counter() - t0:.0f} s)")
        rows = []
        if args.host == "true":
            rows = [dict(part="after", **r) for r in _run_host(d, args, None)]
            _print_host(rows, "this tree")
        if args.before and args.host == "true":
            before = [dict(part="before", **r) for r in _run_host(d, args, args.before)]
            _print_host(before, f"before: {args.before}")
            rows += before
        if args.device == "true":
            share = device_share(args)
            print(f"\ndevice augmentation on one 32-frame clip: K400 recipe "
                  f"{share['aug_k400_ms']:.0f} ms, SSv2 recipe {share['aug_ssv2_ms']:.0f} ms; "
                  f"ViViT-B FE train step (batch 1, CPU) {share['vivit_b_step_ms']:.0f} ms: "
                  f"{share['aug_k400_share']:.1%} / {share['aug_ssv2_share']:.1%} of the step")
            ov = overlap(d, args)
            print(f"trainer loop, TimeSformer K400 16 frames, all cores: pipeline alone "
                  f"{ov['pipeline_clips_per_s']:.1f} clips/s; with a free step "
                  f"{ov['trainer_free_clips_per_s']:.1f} ({ov['trainer_free_of_pipeline']:.0%}),"
                  f" a step that only normalises {ov['trainer_normalising_clips_per_s']:.1f} "
                  f"({ov['trainer_normalising_of_pipeline']:.0%}: on CPU the device's work "
                  f"shares the pipeline's cores)")
            rows += [dict(part="device", **share), dict(part="overlap", **ov)]
    common.print_json(rows, meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
