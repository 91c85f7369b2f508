"""Video decoding for `vivit-prepare` and `vivit-predict`: PyAV + numpy + PIL only.

Kept apart from TensorFlow and JAX so that `vivit-prepare`'s worker processes start in a
fraction of a second (they import this module, nothing heavier) and `--help` is instant.
"""

from __future__ import annotations

import io
import os

import numpy as np

_EPS = 1e-6


def encode_jpeg(frame_hw3_uint8: np.ndarray, quality: int = 95) -> bytes:
    """Encodes one [H, W, 3] uint8 frame as JPEG (PIL; 4:4:4 chroma keeps small colour edges)."""
    from PIL import Image

    frame = np.asarray(frame_hw3_uint8)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3:
        raise ValueError(f"expected a [H, W, 3] uint8 frame, got {frame.dtype} {frame.shape}")
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality, subsampling=0)
    return buf.getvalue()


def decode_video(
    path: str, start: float = 0.0, end: float | None = None, fps: float = 10.0,
    min_resize: int = 256,
) -> tuple[list[np.ndarray], float, float]:
    """(frames uint8 [H, W, 3], clip start s, clip end s) of `path` trimmed and resampled."""
    import av

    with av.open(path) as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        if start > 0:
            container.seek(int(start / stream.time_base), stream=stream, backward=True)
        size = None
        out: list[np.ndarray] = []
        prev, prev_t, k, i = None, None, 0, 0

        def rgb(frame) -> np.ndarray:
            nonlocal size
            if size is None:
                w, h = frame.width, frame.height
                s = min_resize / min(w, h) if min_resize else 1.0
                size = (max(1, round(w * s)), max(1, round(h * s)))
            return frame.to_ndarray(format="rgb24", width=size[0], height=size[1])

        for frame in container.decode(stream):
            t = frame.time if frame.time is not None else i / rate
            i += 1
            if end is not None and t >= end - _EPS:
                break
            if fps:
                # Targets before this frame's time are shown by the previous frame.
                while prev is not None and start + k / fps + _EPS < t:
                    out.append(rgb(prev))
                    k += 1
            elif t >= start - _EPS:
                out.append(rgb(frame))
            prev, prev_t = frame, t
        if prev is None:
            raise ValueError("no frames decoded")
        video_end = prev_t + 1.0 / rate
        clip_end = video_end if end is None else min(end, video_end)
        while fps and start + k / fps < clip_end - _EPS:
            out.append(rgb(prev))
            k += 1
    if not out:
        raise ValueError(f"no frames in [{start}, {clip_end})")
    return out, start, clip_end


_IMAGE_EXTS = (".jpg", ".jpeg", ".png")


def decode_frame_dir(path: str, num_frames: int = 0, min_resize: int = 256
                     ) -> list[np.ndarray]:
    """Frames uint8 [H, W, 3] of a raw-frame directory (mmaction2's `rawframes`): its image
    files in name order, the first `num_frames` (0: all), short side resized to `min_resize`."""
    from PIL import Image

    names = sorted(n for n in os.listdir(path) if n.lower().endswith(_IMAGE_EXTS))
    if num_frames:
        if len(names) < num_frames:
            raise ValueError(f"{len(names)} image files, the list says {num_frames}")
        names = names[:num_frames]
    if not names:
        raise ValueError("no image files (jpg/png) in the directory")
    out = []
    for n in names:
        with Image.open(os.path.join(path, n)) as im:
            im = im.convert("RGB")
            if min_resize:
                s = min_resize / min(im.size)
                im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))),
                               Image.BILINEAR)
            out.append(np.asarray(im))
    return out


def convert(task):
    """Worker: (shard, row, label indices, options) → (shard, row, clip | None, reason), the
    clip `{"jpegs": [bytes], "start": s, "end": s}` (the caller writes the record)."""
    shard, row, _, opts = task
    try:
        if os.path.isdir(row.path):  # Raw frames: taken as they are, at a nominal rate.
            frames = decode_frame_dir(row.path, getattr(row, "num_frames", 0),
                                      opts["min_resize"])
            start, end = 0.0, len(frames) / (opts["fps"] or 30.0)
        else:
            if not os.path.isfile(row.path):
                raise FileNotFoundError("file not found")
            if os.path.getsize(row.path) == 0:
                raise ValueError("empty file (0 bytes)")
            frames, start, end = decode_video(row.path, row.start, row.end, opts["fps"],
                                              opts["min_resize"])
        jpegs = [encode_jpeg(f, opts["jpeg_quality"]) for f in frames]
        return shard, row, {"jpegs": jpegs, "start": start, "end": end}, ""
    except Exception as e:  # noqa: BLE001 — any decoder failure: skip and report the video.
        return shard, row, None, f"{type(e).__name__}: {e}".strip()
