r"""`vivit-convert --vit` start-up: building the video model's fresh parameters eagerly
(one compiled program per parameter initialiser) vs under one jit (`transfer.fresh_params`,
what vivit-convert and the released-checkpoint loader use), then a whole conversion.

  python benchmarks/convert_init.py [--rounds 3] [--layers 2]

Each round runs both in fresh subprocesses (nothing cached between them), alternating, and
prints wall seconds; the medians close the table. The model is the default experiment's
ViViT (configs/synthetic/vivit_tiny.py) with `--layers` blocks, as the issue measured.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402,I001

REPO = pathlib.Path(__file__).resolve().parents[1]
CONFIG = str(REPO / "configs/synthetic/vivit_tiny.py")

CHILD = r"""
import sys, time, json
t0 = time.perf_counter()
from flax import nnx
from vivit_jax import config as config_lib
from vivit_jax import state as state_lib
from vivit_jax.convert import transfer
cfg = config_lib.load(sys.argv[1], [f"--config.model.num_layers={sys.argv[3]}"])
t1 = time.perf_counter()
if sys.argv[2] == "eager":
    params = nnx.to_pure_dict(nnx.state(state_lib.create_model(cfg, nnx.Rngs(cfg.seed)), nnx.Param))
else:
    params = transfer.fresh_params(cfg)
import jax
jax.block_until_ready(params)
print(json.dumps({"init_s": time.perf_counter() - t1, "imports_s": t1 - t0}))
"""


def _run(mode: str, layers: int) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, CONFIG, mode, str(layers)],
                         capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])["init_s"]


def _convert(vit: str, layers: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "vivit_jax.convert.convert", "--vit", vit, "--config",
               CONFIG, "--out", out + "/c", f"--config.model.num_layers={layers}",
               "--config.model.hidden_size=32", "--config.model.num_heads=4",
               "--config.model.mlp_dim=64"]
        import time
        t = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True, cwd=REPO)
        return time.perf_counter() - t


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--layers", type=int, default=2)
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from tests.convert import vit_fixtures as vf
    res = {"eager": [], "jit": [], "convert": []}
    with tempfile.TemporaryDirectory() as d:
        vit = d + "/vit.npz"
        vf.write_vision_transformer(vf.make_vit(classes=8), vit)
        for r in range(args.rounds):
            for mode in (("eager", "jit") if r % 2 == 0 else ("jit", "eager")):
                res[mode].append(_run(mode, args.layers))
            res["convert"].append(_convert(vit, args.layers))
            print(f"round {r + 1}: eager init {res['eager'][-1]:.2f} s, one jit "
                  f"{res['jit'][-1]:.2f} s, whole vivit-convert --vit {res['convert'][-1]:.2f} s")
    med = {k: statistics.median(v) for k, v in res.items()}
    print(f"median: eager init {med['eager']:.2f} s, one jit {med['jit']:.2f} s "
          f"({med['eager'] / med['jit']:.1f}×), whole vivit-convert --vit {med['convert']:.2f} s")
    print(json.dumps({"median_s": med, **common.machine(__file__, argv)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
