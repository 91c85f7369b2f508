r"""Our host input pipeline against a PyTorch peer (issue 28), per core, in one run: a
PySlowFast / mmaction2-style `torch.utils.data.Dataset` + `DataLoader` reading the SAME DMVR
shards, with the same temporal sampling and the same recipe (Scenic's ViViT K400:
`scale_jitter(230, 340)|random_crop(224)|flip|color_jitter(0.4, 0.8)`, normalised to
[-1, 1]), set beside ours and the JPEG-decode bound at 16 and 32 frames, batch 8.

  pip install torch==2.13.0          # the CPU wheel here (or: pip install -e '.[peers]')
  python benchmarks/input_pipeline_torch.py [--videos 16 --video_frames 80 --batches 4]

The peer, as those loaders do it: the TFRecord files are read and the SequenceExamples parsed
in plain Python (no TensorFlow on its side: the record framing and protobuf wire format by
hand, CRCs not checked), the sampled frames decoded in full with Pillow
(`PIL.Image.open` + `np.asarray`; no draft mode, torchvision is not available beside torch
2.13.0 here), then on float32 `[T, 3, H, W]` torch tensors: `F.interpolate` bilinear
(antialiased where it shrinks, as ours), a crop by slicing, `flip`, colour jitter (brightness,
contrast, saturation, hue: our formulas in torch ops), `x / 127.5 - 1`, and the clip out as
float32 `[3, T, H, W]`; `DataLoader(batch_size=8, shuffle=True, num_workers=0)`,
`torch.set_num_threads(1)`. Ours: `pipeline.train_iterator` with one tf.data thread (uint8
out; colour jitter and normalisation run in the jitted train step on the device).

Everything runs in one child process pinned to one core and is timed by its CPU time
(`input_pipeline._run_host`): clips per CPU-second is clips/s per core whatever else loads the
machine. Printed: the decode bounds (tf.io.decode_jpeg and Pillow, frames/s/core), ours, the
peer, ours/peer (target >= 1.5), and where the peer's CPU time goes; also the peer in our
split (the same loader without colour jitter and normalisation, uint8 out: what it would do
with the device taking the photometric part as ours does). Without torch the script says how
to install it and exits 2.
"""

from __future__ import annotations

import gc
import io
import json
import pathlib
import struct
import sys
import tempfile
import time
from collections import defaultdict

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402,I001  (sets TF_CPP_MIN_LOG_LEVEL before TensorFlow loads)
import input_pipeline  # noqa: E402

import numpy as np  # noqa: E402

TARGET = 1.5
# DMVR keys (vivit_jax.data.dmvr_format's; repeated here so the peer never imports TF).
IMAGE_KEY, LABEL_KEY = b"image/encoded", b"clip/label/index"


# --- TFRecord + SequenceExample without TensorFlow ------------------------------------------


def tfrecord_index(path: str) -> list[tuple[int, int]]:
    """(offset, length) of each record's payload: u64 length, u32 CRC, data, u32 CRC."""
    out, pos = [], 0
    with open(path, "rb") as f:
        while head := f.read(12):
            (n,) = struct.unpack("<Q", head[:8])
            out.append((pos + 12, n))
            pos += 12 + n + 4
            f.seek(pos)
    return out


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _fields(buf: memoryview):
    """(field number, value) of a protobuf message: ints for varints, sub-views otherwise."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        wire = key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + n], pos + n
        else:  # Fixed 64 / 32 bits (float lists): not read here.
            n = 8 if wire == 1 else 4
            value, pos = buf[pos:pos + n], pos + n
        yield key >> 3, value


def _map(buf: memoryview) -> dict[bytes, memoryview]:
    """A protobuf `map<string, M>` (Features / FeatureLists): {key: M's bytes}."""
    out = {}
    for _, entry in _fields(buf):
        kv = dict(_fields(entry))
        out[bytes(kv[1])] = kv.get(2, memoryview(b""))
    return out


def parse_sequence_example(record: bytes) -> tuple[list[memoryview], int]:
    """(the JPEG frames, the first label index) of one DMVR SequenceExample."""
    parts = dict(_fields(memoryview(record)))
    context, lists = _map(parts.get(1, memoryview(b""))), _map(parts[2])
    frames = [next(v for f, v in _fields(bl) if f == 1)  # Feature.bytes_list.value[0]
              for _, feature in _fields(lists[IMAGE_KEY]) for _, bl in _fields(feature)]
    ints = next(v for f, v in _fields(context[LABEL_KEY]) if f == 3)  # Feature.int64_list
    packed = next(v for _, v in _fields(ints))
    label = packed if isinstance(packed, int) else _varint(packed, 0)[0]
    return frames, label


# --- The peer: Dataset + torch augmentations --------------------------------------------------


def _grey(x):
    """Luma [T, 1, H, W] with tf.image.rgb_to_grayscale's weights (ours)."""
    w = x.new_tensor([0.2989, 0.5870, 0.1140]).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def _blend(a, b, factor):
    return (b + factor * (a - b)).clamp_(0.0, 255.0)


def _adjust_hue(rgb, delta: float):
    """tf.image.adjust_hue of [0, 1] RGB [T, 3, H, W] (ours: device_augment.adjust_hue)."""
    import torch

    r, g, b = rgb.unbind(1)
    v, top = rgb.max(1)
    c = v - rgb.amin(1)
    safe = torch.where(c > 0, c, torch.ones_like(c))
    h = torch.where(top == 0, (g - b) / safe,
                    torch.where(top == 1, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
    h = torch.where(c > 0, h / 6.0, torch.zeros_like(h))
    h = torch.remainder(h + delta, 1.0) * 6.0
    k = torch.remainder(rgb.new_tensor([5.0, 3.0, 1.0]).view(1, 3, 1, 1) + h[:, None], 6.0)
    return v[:, None] - c[:, None] * torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)


def color_jitter(x, rng: np.random.Generator, strength: float = 0.4, prob: float = 0.8):
    """Brightness, contrast, saturation ~ U(1 ± strength), hue ~ U(± strength/4), one draw per
    clip, with probability `prob` (video_ops.color_jitter's distribution and formulas)."""
    bri, con, sat = rng.uniform(1 - strength, 1 + strength, 3)
    hue = rng.uniform(-strength / 4, strength / 4)
    if rng.random() >= prob:
        return x
    x = _blend(x, 0.0, bri)
    x = _blend(x, _grey(x).mean((1, 2, 3), keepdim=True), con)  # Per frame, as ours.
    x = _blend(x, _grey(x), sat)
    return (_adjust_hue(x / 255.0, hue) * 255.0).clamp_(0.0, 255.0)


class ShardClips:
    """A map-style dataset of DMVR records (`peer_batches` makes it a torch `Dataset`):
    item i → (float32 clip [3, T, S, S], label), sampled and augmented as the ViViT K400
    recipe; `stage_s` sums the CPU seconds of each stage."""

    def __init__(self, files: list[str], num_frames: int, stride: int = 2, size: int = 224,
                 jitter: tuple[int, int] = (230, 340), seed: int = 0, photometric: bool = True):
        self.items = [(f, off, n) for f in files for off, n in tfrecord_index(f)]
        self.num_frames, self.stride, self.size, self.jitter = num_frames, stride, size, jitter
        self.rng = np.random.default_rng(seed)
        self.photometric = photometric  # False: our split (uint8 [T, S, S, 3] out).
        self.stage_s: dict[str, float] = defaultdict(float)

    def __len__(self) -> int:
        return len(self.items)

    def _stage(self, name: str, t0: float) -> float:
        t = time.process_time()
        self.stage_s[name] += t - t0
        return t

    def __getitem__(self, i: int):
        import torch
        import torch.nn.functional as F
        from PIL import Image

        t = time.process_time()
        path, off, n = self.items[i]
        with open(path, "rb") as f:
            f.seek(off)
            frames, label = parse_sequence_example(f.read(n))
        t = self._stage("read + parse", t)
        # Dense sampling with a random offset (video_ops.dense_indices), only those decoded.
        count, span = len(frames), (self.num_frames - 1) * self.stride
        offset = self.rng.integers(0, count - span if count > span else count)
        idx = (offset + np.arange(self.num_frames) * self.stride) % count
        decoded = {j: np.asarray(Image.open(io.BytesIO(frames[j])).convert("RGB"))
                   for j in np.unique(idx)}
        video = np.stack([decoded[j] for j in idx])
        t = self._stage("decode (Pillow)", t)
        x = torch.from_numpy(video).permute(0, 3, 1, 2).float()  # [T, 3, H, W]
        h, w = x.shape[-2:]
        short = int(self.rng.integers(self.jitter[0], self.jitter[1] + 1))
        hw = [max(short, round(s * short / min(h, w))) for s in (h, w)]
        x = F.interpolate(x, size=hw, mode="bilinear", align_corners=False,
                          antialias=hw[0] < h or hw[1] < w)
        t = self._stage("scale jitter", t)
        top = int(self.rng.integers(0, hw[0] - self.size + 1))
        left = int(self.rng.integers(0, hw[1] - self.size + 1))
        x = x[..., top:top + self.size, left:left + self.size]
        if self.rng.random() < 0.5:
            x = x.flip(-1)
        t = self._stage("crop + flip", t)
        if not self.photometric:
            x = x.round_().to(torch.uint8).permute(0, 2, 3, 1).contiguous()
            self._stage("to uint8", t)
            return x, label
        x = color_jitter(x, self.rng)
        t = self._stage("colour jitter", t)
        x = (x / 127.5 - 1.0).permute(1, 0, 2, 3).contiguous()  # [3, T, S, S] as PySlowFast.
        self._stage("normalise", t)
        return x, label


def peer_batches(files: list[str], num_frames: int, batch_size: int, seed: int = 0,
                 photometric: bool = True):
    """(the dataset, an endless iterator of the DataLoader's (video, label) batches);
    `photometric=False`: without colour jitter and normalisation, uint8 out (our split)."""
    import torch

    # A torch Dataset subclass made here: this module imports without torch.
    ds = type("ShardClipsDataset", (ShardClips, torch.utils.data.Dataset), {})(
        files, num_frames, seed=seed, photometric=photometric)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True,
                                         num_workers=0, drop_last=True,
                                         generator=torch.Generator().manual_seed(seed))

    def endless():
        while True:
            yield from loader

    return ds, endless()


def _pil_fps(files: list[str], limit: int = 320) -> float:
    """Frames/s of a full Pillow decode of the shards' first `limit` frames (CPU time)."""
    from PIL import Image

    jpegs = []
    for f in files:
        with open(f, "rb") as fh:
            data = fh.read()
        jpegs += [bytes(j) for off, n in tfrecord_index(f)
                  for j in parse_sequence_example(data[off:off + n])[0]]
    jpegs = jpegs[:limit]
    t0 = time.process_time()
    for j in jpegs:
        np.asarray(Image.open(io.BytesIO(j)).convert("RGB"))
    return len(jpegs) / (time.process_time() - t0)


def host_rows(data_dir: str, batches: int, batch_size: int) -> list[dict]:
    """The figures (run pinned to one core): bounds, then the peer and ours per frame count."""
    import torch

    from vivit_jax import config as config_lib
    from vivit_jax.data import dmvr_format, pipeline

    torch.set_num_threads(1)
    files = dmvr_format.list_shards(data_dir, "train")
    tf_fps, pil_fps = input_pipeline._decode_fps(data_dir), _pil_fps(files)
    rows = [dict(case="decode bound", frames_per_s=tf_fps, pil_frames_per_s=pil_fps)]
    # Scenic's ViViT K400 recipe, from the config that states it.
    d = config_lib.load(str(input_pipeline.REPO / input_pipeline.EVAL_CONFIG)).dataset
    for frames in (16, 32):
        peer = {}
        for photometric in (True, False):
            ds, it = peer_batches(files, frames, batch_size, photometric=photometric)
            rate, batch = input_pipeline._rate(it, batches, 2, lambda b: len(b[1]),
                                               time.process_time)
            peer[photometric] = dict(rate=rate, stages=dict(ds.stage_s),
                                     shape=list(batch[0].shape), dtype=str(batch[0].dtype))
            del it, batch
        stages = peer[True]["stages"]
        cfg = input_pipeline._data_cfg(d, data_dir, frames)
        it = pipeline.train_iterator(cfg, global_batch_size=batch_size, seed=0, threads=1)
        ours, batch = input_pipeline._rate(it, batches, 2, lambda b: len(b["label"]),
                                           time.process_time)
        rows.append(dict(case=f"ViViT K400 {frames}f", recipe=cfg.train_pp,
                         ours_clips_per_s=ours, peer_clips_per_s=peer[True]["rate"],
                         ratio=ours / peer[True]["rate"],
                         peer_split_clips_per_s=peer[False]["rate"],
                         ratio_split=ours / peer[False]["rate"],
                         target=TARGET, bound=tf_fps / frames, pil_bound=pil_fps / frames,
                         ours_shape=list(batch["video"].shape),
                         ours_dtype=str(batch["video"].dtype),
                         peer_shape=peer[True]["shape"], peer_dtype=peer[True]["dtype"],
                         peer_stage_share={k: v / sum(stages.values())
                                           for k, v in stages.items()}))
        del it, batch
        gc.collect()
    return rows


def main(argv=None) -> int:
    """Generates shards, measures in a pinned child, prints a table and JSON lines."""
    args = input_pipeline.parser(__doc__).parse_args(argv)
    try:
        import torch
    except ImportError:
        print("input_pipeline_torch.py needs PyTorch: pip install torch==2.13.0",
              file=sys.stderr)
        return 2
    if args.host_only:
        for r in host_rows(args.host_only, args.batches, args.batch_size):
            print(json.dumps(r))
        return 0
    meta = {**common.machine(__file__, argv), "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as d:
        input_pipeline.make_shards(d, args.videos, args.video_frames)
        rows = input_pipeline._run_host(d, args, None, script=__file__)
    bound = rows[0]
    print(f"one core, CPU time; decode bound: tf.io.decode_jpeg {bound['frames_per_s']:.0f}, "
          f"Pillow {bound['pil_frames_per_s']:.0f} frames/s/core")
    for r in rows[1:]:
        print(f"  {r['case']}: ours {r['ours_clips_per_s']:.1f} clips/s/core "
              f"({r['ours_dtype']} {r['ours_shape']}), peer {r['peer_clips_per_s']:.1f} "
              f"({r['peer_dtype']} {r['peer_shape']}), bound {r['bound']:.1f} "
              f"(Pillow {r['pil_bound']:.1f}); ours/peer "
              + common.versus(r["ratio"], TARGET))
        print("    peer's CPU time in its Dataset: " + ", ".join(
            f"{k} {v:.0%}" for k, v in r["peer_stage_share"].items()))
        print(f"    peer in our split (no colour jitter / normalisation on the host, uint8 "
              f"out): {r['peer_split_clips_per_s']:.1f} clips/s/core; ours/that "
              f"{r['ratio_split']:.2f}")
    common.print_json(rows, meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
