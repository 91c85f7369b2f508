"""gluonmm VidTr / C-VidTr checkpoints: logit parity with the official code, released layout.

The fixtures (tests/fixtures/gluonmm/, written by make_fixtures.py with the gluonmm source and
torch) hold tiny official models in the released key layout and the official logits.
"""
import json
import os

import numpy as np
import pytest
from flax import nnx
from safetensors.numpy import save_file

from vivit_jax.convert import released, transfer
from vivit_jax.convert.initializers import TokenLayout

HERE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "gluonmm")
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # timm IMAGENET_DEFAULT_*.

# name: (compact, frames, stride, pool layers, pool drops, every-layer position embedding)
FIXTURES = {
    "vidtr_4f": (False, 4, 1, (), None, False),
    "vidtr_16f": (False, 16, 4, (), None, True),
    "cvidtr_8f": (True, 8, 8, (1, 3, 5), (2, 2, 2), False),
    "cvidtr_16f": (True, 16, 4, (1, 2, 4), (8, 4, 2), False),
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_logits_equal_the_official_code(name):
    compact, frames, stride, pool, drop, every = FIXTURES[name]
    rel = released.read(os.path.join(HERE, f"{name}.safetensors"))  # Format auto-detected.
    assert rel.format == "gluonmm"
    m, d = rel.config["model"], rel.config["dataset"]
    assert (m["reference"], m.get("pool_layers", ()), m.get("pool_drop")) == (
        "gluonmm", pool, drop)
    assert (d["num_frames"], d["stride"], d["image_size"], d["normalization"]) == (
        frames, stride, 28, "mean_std")
    assert (d["test_clips"], d["test_crops"], d["mean"], d["std"]) == (
        10, 3, MEAN, STD)
    expected = np.load(os.path.join(HERE, f"{name}.npz"))
    # The head count is not in the file (fused in_proj); the fixture records it.
    cfg, model = released.load_model(rel, [f"model.num_heads={int(expected['num_heads'])}"])
    assert cfg.model.reference == "gluonmm" and model.compact == compact
    assert [b.use_pos for b in model.blocks()][1:] == [every] * (cfg.model.num_layers - 1)
    pixels = expected["pixels"].astype(np.float32) / 255  # [B, T, H, W, 3]
    video = (pixels - np.float32(MEAN)) / np.float32(STD)  # As make_fixtures.py.
    logits, out = nnx.jit(lambda m, v: m(v))(model, video)
    assert logits.shape == expected["logits"].shape
    np.testing.assert_allclose(np.asarray(logits), expected["logits"], rtol=1e-4, atol=1e-4)
    assert int(out["frames"]) == frames - sum(drop or ())


def _vidtr_s(depth: int, rng) -> dict[str, np.ndarray]:
    """The released VidTr-S key layout (no DDP prefix) at ViT-B width, `depth` layers."""
    d, mlp, t, s = 768, 3072, 8, 14 * 14
    r = lambda *shape: rng.standard_normal(shape, dtype=np.float32) * 0.02
    p = {"conv_stem.weight": r(d, 3, 1, 16, 16), "conv_stem.bias": r(d),
         "cls_t": r(1, s + 1, d), "cls_s": r(t, 1, d), "pos_embedding": r(1, (t + 1) * (s + 1), d),
         "encoder.norm.weight": 1 + r(d), "encoder.norm.bias": r(d),
         "fc.weight": r(400, d), "fc.bias": r(400)}
    for i in range(depth):
        b = f"encoder.layers.{i}."
        p.update({b + "self_attn.in_proj_weight": r(3 * d, d),
                  b + "self_attn.in_proj_bias": r(3 * d),
                  b + "self_attn.out_proj.weight": r(d, d), b + "self_attn.out_proj.bias": r(d),
                  b + "linear1.weight": r(mlp, d), b + "linear1.bias": r(mlp),
                  b + "linear2.weight": r(d, mlp), b + "linear2.bias": r(d)})
        for n in ("norm1", "norm2"):
            p.update({b + n + ".weight": 1 + r(d), b + n + ".bias": r(d)})
    return p


def test_released_vidtr_s_layout_converts_to_a_workdir(tmp_path):
    """VidTr-S shapes (2 of its 12 layers, to stay fast) → detected, a workdir written."""
    path = str(tmp_path / "vidtr_s_8x8_patch16_224_k400.safetensors")
    save_file(_vidtr_s(2, np.random.default_rng(0)), path)
    record = released.convert(path, str(tmp_path / "out"), log=lambda _: None)
    assert record["format"] == "gluonmm" and not record["fresh"]
    cfg = json.loads((tmp_path / "out" / "config.json").read_text())
    m, d = cfg["model"], cfg["dataset"]
    assert (m["reference"], m["hidden_size"], m["num_heads"], m["mlp_dim"], m["num_layers"],
            m["pool_layers"]) == ("gluonmm", 768, 12, 3072, 2, [])
    assert (d["num_frames"], d["stride"], d["image_size"], d["min_resize"], d["num_classes"],
            d["test_clips"], d["test_crops"]) == (8, 8, 224, 224, 400, 10, 3)
    assert (tmp_path / "out" / "checkpoints").is_dir()


def test_wrong_shape_names_the_tensor_and_both_shapes(tmp_path):
    from safetensors.numpy import load_file
    tensors = load_file(os.path.join(HERE, "vidtr_4f.safetensors"))
    bad = "module.encoder.layers.1.linear1.weight"
    tensors[bad] = tensors[bad][:63]
    path = str(tmp_path / "bad.safetensors")
    save_file(tensors, path)
    with pytest.raises(released.ReleasedError,
                       match=r"'encoder\.layers\.1\.linear1\.weight': expected \(64, 32\), "
                             r"found \(63, 32\)"):
        released.read(path)
    del tensors[bad]
    save_file(tensors, path)
    with pytest.raises(released.ReleasedError, match=r"'encoder\.layers\.1\.linear1\.weight' "
                                                     r"is missing"):
        released.read(path, "gluonmm")


def test_token_layouts_let_a_vit_position_embedding_tile_over_time():
    from vivit_jax.models import build_model, default_model_config
    cfg = default_model_config("vidtr")
    cfg.update(dict(variant="Ti/8", hidden_size=16, num_layers=1, num_heads=2, mlp_dim=32,
                    reference="gluonmm"))
    model = nnx.eval_shape(lambda: build_model(cfg, num_classes=3, input_shape=(4, 16, 16),
                                               rngs=nnx.Rngs(0)))
    assert transfer.token_layouts(model) == {
        transfer.POS: TokenLayout(1, (4, 2, 2)), "posembed_row": TokenLayout(0, (1, 2, 2)),
        "posembed_col": TokenLayout(0, (4, 1, 1))}
    cfg.update(dict(num_layers=2, pool_layers=(0,), pool_drop=2))
    compact = nnx.eval_shape(lambda: build_model(cfg, num_classes=3, input_shape=(4, 16, 16),
                                                 rngs=nnx.Rngs(0)))
    assert transfer.token_layouts(compact) == {transfer.POS: TokenLayout(1, (4, 2, 2))}
