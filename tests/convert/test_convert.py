"""vivit-convert: a static video through the converted model gives the ViT's own pre-logits.

DESIGN.md's invariant, for ViViT Model 1 (central frame and filter inflation), Model 2 and
TimeSformer (divided), from each published layout; plus the ViT-less parts (temporal
encoder, temporal attention, temporal_fc) and the refusals that name the culprit.
"""
import jax
import numpy as np
import pytest
from flax import nnx

from tests.convert import vit_fixtures as vf
from vivit_jax import checkpoint as ckpt_lib
from vivit_jax import config as config_lib
from vivit_jax import state as state_lib
from vivit_jax.convert import convert

VIVIT = "configs/synthetic/vivit_tiny.py"
TIMESFORMER = "configs/synthetic/timesformer_divided_tiny.py"
TINY = [f"--config.model.hidden_size={vf.D}", f"--config.model.num_layers={vf.DEPTH}",
        f"--config.model.num_heads={vf.HEADS}", f"--config.model.mlp_dim={vf.MLP}",
        "--config.dataset.num_frames=4", "--config.dataset.image_size=16"]


def run_convert(repo, tmp_path, vit_file, config, *extra, name="out"):
    out = tmp_path / name
    rc = convert.main(["--vit", str(vit_file), "--config", str(repo / config), "--out", str(out),
                       *TINY, *extra])
    return rc, out


def converted_model(repo, out, config, *extra):
    cfg = config_lib.load(str(repo / config), TINY + list(extra))
    params = ckpt_lib.restore_params(out)
    model = state_lib.create_model(cfg, nnx.Rngs(123))  # Another seed: every value comes from out.
    state = nnx.state(model, nnx.Param)
    nnx.replace_by_pure_dict(state, params)
    nnx.update(model, state)
    return model, params


def static_video(seed=0, frames=4):
    img = np.random.default_rng(seed).uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    return img, np.repeat(img[:, None], frames, axis=1)


GAP = ["--config.model.classifier=gap"]
M2 = ["--config.model.model_type=factorised_encoder", "--config.model.temporal_layers=0"]


# Model 1 with a CLS token is not in the list: on a static video each patch key appears T
# times but the CLS key once, so the CLS gets a smaller attention share than in the ViT (not
# representable by any parameter change). With GAP (no CLS) Model 1 is exact.
@pytest.mark.parametrize("layout,cls,init,extra", [
    ("vision_transformer", False, "central_frame", ["--config.model.variant=Ti/8x2", *GAP]),
    ("big_vision", False, "inflate", ["--config.model.variant=Ti/8x2", *GAP]),
    ("timm", True, "central_frame", ["--config.model.variant=Ti/8x2", *M2]),
    ("hugging_face", True, "inflate", ["--config.model.variant=Ti/8x4", *M2]),
])
def test_vivit_static_video_gives_vit_pre_logits(repo, tmp_path, layout, cls, init, extra):
    p = vf.make_vit(cls=cls)
    write = {"vision_transformer": vf.write_vision_transformer, "timm": vf.write_timm,
             "big_vision": vf.write_big_vision, "hugging_face": vf.write_hugging_face}[layout]
    suffix = ".safetensors" if layout in ("timm", "hugging_face") else ".npz"
    write(p, tmp_path / f"vit{suffix}")
    rc, out = run_convert(repo, tmp_path, tmp_path / f"vit{suffix}", VIVIT, "--init", init,
                          *extra)
    assert rc == 0
    model, params = converted_model(repo, out, VIVIT, *extra)
    img, video = static_video()
    _, o = model(video)
    want = vf.vit_pre_logits(p, img, approximate_gelu=True)
    np.testing.assert_allclose(np.asarray(o["pre_logits"]), want, atol=1e-5, rtol=1e-5)
    # The kernel by name: zeros except the central frame, or tiled / t.
    kern = params["embedding"]["conv"]["kernel"]
    t = kern.shape[0]
    if init == "central_frame":
        np.testing.assert_array_equal(kern[t // 2], p["embedding/kernel"])
        assert not np.any(np.delete(kern, t // 2, axis=0))
    else:
        np.testing.assert_allclose(kern, np.repeat(p["embedding/kernel"][None] / t, t, 0))
    assert not np.any(params["head"]["kernel"])  # Head re-initialised (zeros), 1000 → 8.


def test_model1_position_embedding_is_tiled_time_major(repo, tmp_path):
    p = vf.make_vit()
    vf.write_hugging_face(p, tmp_path / "hf.safetensors")
    rc, out = run_convert(repo, tmp_path, tmp_path / "hf.safetensors", VIVIT,
                          "--config.model.variant=Ti/8x2", "--posemb", "tile")
    assert rc == 0
    pos = ckpt_lib.restore_params(out)["Transformer"]["posembed_input"]["pos_embedding"]
    vit_pos = p["Transformer/posembed_input/pos_embedding"]
    assert pos.shape == (1, 1 + 2 * 4, vf.D)  # CLS + t=2 × 2×2 patches.
    np.testing.assert_array_equal(pos[:, 0], vit_pos[:, 0])
    np.testing.assert_array_equal(pos[0, 1:].reshape(2, 4, vf.D), np.stack([vit_pos[0, 1:]] * 2))


def test_model2_temporal_encoder_stays_freshly_initialised(repo, tmp_path):
    p = vf.make_vit()
    vf.write_vision_transformer(p, tmp_path / "vt.npz")
    extra = ["--config.model.variant=Ti/8x2", "--config.model.model_type=factorised_encoder",
             "--config.model.temporal_layers=1"]
    rc, out = run_convert(repo, tmp_path, tmp_path / "vt.npz", VIVIT, *extra)
    assert rc == 0
    params = ckpt_lib.restore_params(out)
    cfg = config_lib.load(str(repo / VIVIT), TINY + extra)
    fresh = nnx.to_pure_dict(nnx.state(state_lib.create_model(cfg, nnx.Rngs(cfg.seed)), nnx.Param))
    for a, b in zip(jax.tree.leaves(params["TemporalTransformer"]),
                    jax.tree.leaves(fresh["TemporalTransformer"])):
        # Scenic: the ViT has no temporal encoder. (vivit-convert initialises under one jit,
        # whose fused arithmetic rounds a few values 1 ulp away from eager initialisation.)
        np.testing.assert_allclose(a, b, rtol=2e-7, atol=0)
    np.testing.assert_array_equal(  # The spatial encoder is the ViT.
        params["Transformer"]["encoderblock_1"]["MlpBlock_3"]["Dense_0"]["kernel"],
        p["Transformer/encoderblock_1/MlpBlock_3/Dense_0/kernel"])
    # The spatial encoder's per-frame CLS output on a static video is the ViT's pre-logits.
    model, _ = converted_model(repo, out, VIVIT, *extra)
    img, video = static_video()
    x = model.embedding(video)
    b, t, h, w, d = x.shape
    x = model._with_cls(x.reshape(b, t, h * w, d), model.cls)
    x, _ = model.Transformer(x)
    want = vf.vit_pre_logits(p, img)
    for f in range(t):
        np.testing.assert_allclose(np.asarray(x[:, f, 0]), want, atol=1e-5, rtol=1e-5)


def test_timesformer_divided_static_video_gives_vit_pre_logits(repo, tmp_path):
    p = vf.make_vit()
    vf.write_big_vision(p, tmp_path / "bv.npz", scanned=True)
    # The tiny config draws temporal_fc/time_embed at random (from scratch); conversion
    # must zero them anyway (official TimeSformer) so the model starts as the ViT.
    extra = ["--config.model.variant=Ti/8", "--config.model.zero_init_temporal=False",
             "--config.model.classifier=token"]
    rc, out = run_convert(repo, tmp_path, tmp_path / "bv.npz", TIMESFORMER, *extra)
    assert rc == 0
    model, params = converted_model(repo, out, TIMESFORMER, *extra)
    blk = params["Transformer"]["encoderblock_0"]
    for proj in ("query", "key", "value", "out"):  # Temporal attention = the ViT's.
        np.testing.assert_array_equal(blk["temporal_attn"][proj]["kernel"],
                                      blk["MultiHeadDotProductAttention_1"][proj]["kernel"])
    assert not np.any(blk["temporal_fc"]["kernel"]) and not np.any(params["time_embed"])
    img, video = static_video()
    _, o = model(video)
    want = vf.vit_pre_logits(p, img, approximate_gelu=False)  # TimeSformer: erf GELU.
    np.testing.assert_allclose(np.asarray(o["pre_logits"]), want, atol=1e-5, rtol=1e-5)


def test_model3_vidtr_convert_and_keep_head(repo, tmp_path, capsys):
    p = vf.make_vit(classes=8)
    vf.write_timm(p, tmp_path / "t.safetensors")
    m3 = ["--config.model.variant=Ti/8x2", "--config.model.model_type=factorised_self_attention",
          *GAP]
    rc, out = run_convert(repo, tmp_path, tmp_path / "t.safetensors", VIVIT, *m3, "--keep-head")
    assert rc == 0
    params = ckpt_lib.restore_params(out)
    blk = params["Transformer"]["encoderblock_1"]
    np.testing.assert_array_equal(blk["MultiHeadDotProductAttention_temporal"]["key"]["kernel"],
                                  p["Transformer/encoderblock_1/MultiHeadDotProductAttention_1/"
                                    "key/kernel"])
    np.testing.assert_array_equal(params["head"]["kernel"], p["head/kernel"])  # --keep-head.
    pos = params["Transformer"]["posembed_input"]["pos_embedding"]  # No CLS slot: GAP model.
    np.testing.assert_array_equal(pos[0].reshape(2, 4, vf.D)[1],
                                  p["Transformer/posembed_input/pos_embedding"][0, 1:])
    rc, out = run_convert(repo, tmp_path, tmp_path / "t.safetensors",
                          "configs/synthetic/vidtr_tiny.py", "--config.model.variant=Ti/8",
                          "--config.model.pool_layers=()", name="vidtr")
    assert rc == 0, capsys.readouterr().err
    params = ckpt_lib.restore_params(out)
    np.testing.assert_array_equal(params["cls"], p["cls"])
    np.testing.assert_array_equal(params["Transformer"]["posembed_input"]["pos_embedding"],
                                  p["Transformer/posembed_input/pos_embedding"])


def _error(capsys, rc):
    assert rc == 1
    return capsys.readouterr().err


def test_refusals_name_the_culprit(repo, tmp_path, capsys):
    v1 = ["--config.model.variant=Ti/8x2"]
    vf.write_vision_transformer(vf.make_vit(mlp=128), tmp_path / "wide.npz")
    rc, _ = run_convert(repo, tmp_path, tmp_path / "wide.npz", VIVIT, *v1)
    assert ("tensor 'Transformer/encoderblock_0/MlpBlock_3/Dense_0/kernel': expected (32, 64), "
            "found (32, 128)") in _error(capsys, rc)
    vf.write_vision_transformer(vf.make_vit(), tmp_path / "vit.npz")
    # 32² frames: a 4×4 patch grid where the ViT has 2×2.
    rc, _ = run_convert(repo, tmp_path, tmp_path / "vit.npz", VIVIT, *v1, "--posemb", "tile",
                        "--config.dataset.image_size=32")
    err = _error(capsys, rc)
    assert "pos_embedding" in err and "2×2 to 4×4" in err and "resize" in err
    rc, out = run_convert(repo, tmp_path, tmp_path / "vit.npz", VIVIT, *v1, "--posemb", "resize",
                          "--config.dataset.image_size=32", name="big")
    assert rc == 0
    pos = ckpt_lib.restore_params(out)["Transformer"]["posembed_input"]["pos_embedding"]
    assert pos.shape == (1, 1 + 2 * 16, vf.D)
    rc, _ = run_convert(repo, tmp_path, tmp_path / "vit.npz", VIVIT, *v1, "--keep-head")
    assert "--keep-head: tensor 'head/kernel'" in _error(capsys, rc)
    rc, _ = run_convert(repo, tmp_path, tmp_path / "vit.npz", VIVIT, *v1,
                        "--config.model.num_layers=3")
    assert "model.num_layers=3 but the ViT has 2 encoder blocks" in _error(capsys, rc)
    rc = convert.main(["--vit", str(tmp_path / "vit.npz"), "--out", str(tmp_path / "stat"),
                       "--config", str(repo / "configs/synthetic/stat_tiny.py")])
    assert "STAT is trained from scratch" in _error(capsys, rc)
    rc, _ = run_convert(repo, tmp_path, tmp_path / "vit.npz", VIVIT, *v1, name="big")
    assert "already exists" in _error(capsys, rc)
