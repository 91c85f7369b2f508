"""Shared by the evaluation tests: a trainer-like workdir with random weights, video files."""
import pathlib

import av
import jax
import numpy as np

from vivit_jax import checkpoint as ckpt_lib
from vivit_jax import config as config_lib
from vivit_jax import sharding
from vivit_jax import state as state_lib

REPO = pathlib.Path(__file__).resolve().parents[2]
SMALL = ["--config.model.hidden_size=32", "--config.model.num_heads=2",
         "--config.model.mlp_dim=64", "--config.model.num_layers=2"]


def make_workdir(path: pathlib.Path, config: str, overrides=tuple(SMALL)) -> pathlib.Path:
    """A workdir as the trainer leaves it (config.json + checkpoints/1), random weights.

    Initialised and saved on one device: the 8 fake devices' replicated state would cost a
    sharded init compilation and Orbax's ~100 per-replica slice compilations (~13 s on
    2 cores) for the same checkpoint."""
    cfg = config_lib.load(str(REPO / config), list(overrides))
    path.mkdir(parents=True)
    (path / "config.json").write_text(cfg.to_json_best_effort(indent=2))
    one = sharding.make_mesh((("data", 1), ("fsdp", 1), ("model", 1)), jax.devices()[:1])
    setup = state_lib.setup_state(cfg, one)
    state = setup.init_state(jax.random.key(0))
    # Non-zero head so that the predictions depend on the video.
    state["params"]["head"]["kernel"] = jax.random.normal(
        jax.random.key(1), state["params"]["head"]["kernel"].shape)
    ck = ckpt_lib.Checkpointer(path, every_steps=1, keep=1)
    ck.save(1, state, force=True)
    ck.close()
    return path


def write_video(path: pathlib.Path, frames: np.ndarray, fps: int = 10) -> str:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return str(path)


def moving_square(n=20, h=48, w=64, seed=0):
    rng = np.random.default_rng(seed)
    frames = np.full((n, h, w, 3), 40, np.uint8)
    y, x = rng.integers(0, h - 16), 0
    for i in range(n):
        frames[i, y:y + 16, x + 2 * i:x + 2 * i + 16] = (220, 180, 30)
    return frames
