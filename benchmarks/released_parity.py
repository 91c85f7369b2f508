r"""Logit parity with each reference implementation, on the committed fixtures.

Every fixture under tests/fixtures/<format>/ holds a tiny model's weights in the reference's
own layout, an input clip and the reference's own logits for it (made by that folder's
make_fixtures.py with transformers, the official TimeSformer code, gluonmm or Scenic). This
reads each file through `vivit-convert`'s reader (format detected), runs our model and prints
the largest |logit difference| (the tests assert ≤ 1e-4):

  python benchmarks/released_parity.py [--json]
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import common  # noqa: E402,I001  (sets TF_CPP_MIN_LOG_LEVEL before TensorFlow loads)

import numpy as np  # noqa: E402

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "tests" / "fixtures"
IMAGENET = (np.float32([0.485, 0.456, 0.406]), np.float32([0.229, 0.224, 0.225]))


def _scenic(e):  # uint8 [B, T, H, W, C] → [-1, 1]
    return e["pixels"].astype(np.float32) / 127.5 - 1.0


def _gluonmm(e):  # uint8 [B, T, H, W, C] → ImageNet mean/std
    return (e["pixels"].astype(np.float32) / 255 - IMAGENET[0]) / IMAGENET[1]


# (name, file, expected npz, expected key, input fn, overrides)
CASES = [
    *[(f"scenic {m}", f"scenic/{m}.msgpack", "scenic/expected.npz", m, _scenic,
       ["model.model_type=factorised_dot_product"] if m.startswith("model4") else [])
      for m in ("model1_spatio_temporal", "model2_factorised_encoder",
                "model3_factorised_self_attention", "model4_factorised_dot_product")],
    *[(f"hf_vivit {a}", f"hf_vivit/{a}/model.safetensors", "hf_vivit/expected.npz", a, _scenic,
       []) for a in ("gelu_fast", "gelu")],
    *[(f"hf_timesformer {k}", f"hf_timesformer/{k}/model.safetensors",
       "hf_timesformer/expected.npz", k, lambda e: e["pixel_values"].transpose(0, 1, 3, 4, 2),
       []) for k in ("divided_space_time", "joint_space_time")],
    *[(f"timesformer {k}", f"timesformer/{k}.safetensors", "timesformer/expected.npz", k,
       lambda e: e["video"].transpose(0, 2, 3, 4, 1), ["model.num_heads=4"])
      for k in ("divided_space_time", "joint_space_time", "space_only")],
    *[(f"gluonmm {n}", f"gluonmm/{n}.safetensors", f"gluonmm/{n}.npz", "logits", _gluonmm,
       None) for n in ("vidtr_4f", "vidtr_16f", "cvidtr_8f", "cvidtr_16f")],
]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="also print one JSON line")
    args = p.parse_args(argv)
    from flax import nnx

    from vivit_jax.convert import released

    rows = []
    print(f"{'fixture':44s} {'format':15s} {'max |Δlogit|':>12s} {'max |logit|':>11s}")
    for name, file, npz, key, make_input, overrides in CASES:
        e = np.load(FIXTURES / npz)
        rel = released.read(str(FIXTURES / file))
        if overrides is None:  # gluonmm: the head count is not in the file; the npz has it.
            overrides = [f"model.num_heads={int(e['num_heads'])}"]
        _, model = released.load_model(rel, overrides)
        logits = np.asarray(nnx.jit(lambda m, v: m(v)[0])(model, make_input(e)))
        diff = float(np.abs(logits - e[key]).max())
        rows.append(dict(fixture=name, format=rel.format, max_abs_diff=diff,
                         max_abs_logit=float(np.abs(e[key]).max())))
        print(f"{name:44s} {rel.format:15s} {diff:12.2e} {rows[-1]['max_abs_logit']:11.3f}")
    if args.json:
        print(json.dumps({"rows": rows, **common.machine()}))
    return 0 if all(r["max_abs_diff"] <= 1e-4 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
