"""config.init_from: a trainer run starts from a converted ViT, then from that earlier run.

The run uses lr=0 for one step, so its saved params are exactly what was loaded.
"""
import numpy as np
import pytest
from flax import nnx

from tests.convert import vit_fixtures as vf
from vivit_jax import checkpoint as ckpt_lib
from vivit_jax import config as config_lib
from vivit_jax import state as state_lib
from vivit_jax import train
from vivit_jax.convert import convert, transfer
from vivit_jax.convert.init_from import load_init

CONFIG = "configs/synthetic/vivit_tiny.py:runlocal"
TINY = [f"--config.model.hidden_size={vf.D}", f"--config.model.num_layers={vf.DEPTH}",
        f"--config.model.num_heads={vf.HEADS}", f"--config.model.mlp_dim={vf.MLP}",
        "--config.model.variant=Ti/8x2", "--config.dataset.num_frames=4",
        "--config.dataset.image_size=16", "--config.dataset.min_resize=18"]
RUN = ["--config.num_train_steps=1", "--config.optim.lr=0.0", "--config.optim.warmup_steps=0",
       "--config.log_every_steps=1", "--config.eval_every_steps=0",
       "--config.eval_test_split=False", "--config.batch_size=8", "--config.eval_batch_size=8",
       "--config.dataset.synthetic.train_size=8", "--config.dataset.synthetic.validation_size=8"]


def final_params(workdir):
    ckpt = ckpt_lib.Checkpointer(workdir, every_steps=1, keep=10)
    state = ckpt.manager.restore(ckpt.latest_step())
    ckpt.close()
    return transfer.flatten(state["params"])


def test_init_from_converted_vit_then_from_a_run_with_more_frames(repo, data_cache, tmp_path):
    p = vf.make_vit(classes=1000)
    vf.write_vision_transformer(p, tmp_path / "vit.npz")
    conv = tmp_path / "converted"
    # Converted with the ViT's 1000-class head; the run below has 8 classes.
    assert convert.main(["--vit", str(tmp_path / "vit.npz"), "--config", str(repo / CONFIG),
                         "--out", str(conv), "--keep-head", *TINY,
                         "--config.dataset.num_classes=1000"]) == 0
    converted = transfer.flatten(ckpt_lib.restore_params(conv))
    data = [f"--config.dataset.data_dir={data_cache}"]

    cfg = config_lib.load(str(repo / CONFIG), TINY + RUN + data + [
        f"--config.init_from.checkpoint={conv}"])
    train.train_and_evaluate(cfg, str(tmp_path / "a"))
    a = final_params(tmp_path / "a")
    assert converted["head/kernel"].shape == (vf.D, 1000) and a["head/kernel"].shape == (vf.D, 8)
    assert not np.any(a["head/kernel"])  # Re-initialised (zeros), not loaded.
    for k, v in converted.items():
        if not k.startswith("head/"):
            np.testing.assert_array_equal(a[k], v, err_msg=k)  # Everything else loaded.
    np.testing.assert_array_equal(a["Transformer/encoderblock_1/MlpBlock_3/Dense_1/kernel"],
                                  p["Transformer/encoderblock_1/MlpBlock_3/Dense_1/kernel"])

    # 8 frames: 4 temporal token positions where run a has 2 → position embeddings resized,
    # and a dont_load regex keeps the first block's MLP fresh.
    cfg = config_lib.load(str(repo / CONFIG), TINY + RUN + data + [
        "--config.dataset.num_frames=8", f"--config.init_from.checkpoint={tmp_path / 'a'}",
        "--config.init_from.dont_load=('encoderblock_0/MlpBlock_3/Dense_0/kernel',)"])
    # load_init is what the trainer calls on its fresh params (checked above for run a).
    fresh = nnx.to_pure_dict(nnx.state(state_lib.create_model(cfg, nnx.Rngs(0)), nnx.Param))
    b = transfer.flatten(load_init(fresh, cfg))
    pos = "Transformer/posembed_input/pos_embedding"
    grid_a = a[pos][0, 1:].reshape(2, 4, vf.D)
    grid_b = b[pos][0, 1:].reshape(4, 4, vf.D)
    np.testing.assert_array_equal(b[pos][0, 0], a[pos][0, 0])  # The CLS slot is kept.
    # Half-pixel linear 2 → 4: sample points -0.25, 0.25, 0.75, 1.25 (edges clamped).
    want = np.stack([grid_a[0], 0.75 * grid_a[0] + 0.25 * grid_a[1],
                     0.25 * grid_a[0] + 0.75 * grid_a[1], grid_a[1]])
    np.testing.assert_allclose(grid_b, want, rtol=1e-6, atol=1e-6)
    dense0 = "Transformer/encoderblock_0/MlpBlock_3/Dense_0/kernel"
    assert not np.array_equal(b[dense0], a[dense0])  # dont_load: fresh.
    for k in a:
        if k not in (pos, dense0):
            np.testing.assert_array_equal(b[k], a[k], err_msg=k)


def test_init_from_a_vit_file_directly_and_a_misfit_names_the_tensor(repo, tmp_path):
    p = vf.make_vit(classes=8)
    vf.write_timm(p, tmp_path / "vit.safetensors")
    cfg = config_lib.load(str(repo / CONFIG), TINY + [
        f"--config.init_from.checkpoint={tmp_path / 'vit.safetensors'}"])
    fresh = nnx.to_pure_dict(nnx.state(state_lib.create_model(cfg, nnx.Rngs(0)), nnx.Param))
    got = transfer.flatten(load_init(fresh, cfg, log=lambda _: None))
    kern = got["embedding/conv/kernel"]  # Converted on the fly: central frame of t=2.
    np.testing.assert_array_equal(kern[1], p["embedding/kernel"])
    assert not np.any(kern[0])
    np.testing.assert_array_equal(got["head/kernel"], p["head/kernel"])  # 8 = 8 classes.
    cfg = config_lib.load(str(repo / CONFIG), TINY + [
        f"--config.init_from.checkpoint={tmp_path / 'vit.safetensors'}",
        "--config.model.mlp_dim=128"])
    fresh = nnx.to_pure_dict(nnx.state(state_lib.create_model(cfg, nnx.Rngs(0)), nnx.Param))
    want = (r"tensor 'Transformer/encoderblock_0/MlpBlock_3/Dense_0/kernel': "
            r"expected \(32, 128\), found \(32, 64\)")
    with pytest.raises(ValueError, match=want):
        load_init(fresh, cfg, log=lambda _: None)


def _load(cfg):
    fresh = nnx.to_pure_dict(nnx.state(state_lib.create_model(cfg, nnx.Rngs(0)), nnx.Param))
    return load_init(fresh, cfg, log=lambda _: None)


def test_scanned_models_load_what_unscanned_ones_do_both_ways(repo, tmp_path):
    # model.scan stacks the blocks as `encoderblock [L, …]`; a ViT, a converted ViT and an
    # unscanned run's checkpoint all load into it per layer (none of them is left fresh).
    p = vf.make_vit(classes=8)
    vf.write_big_vision(p, tmp_path / "vit.npz", scanned=True)  # A scanned source too.
    vit = [f"--config.init_from.checkpoint={tmp_path / 'vit.npz'}"]
    flat = transfer.flatten(_load(config_lib.load(str(repo / CONFIG), TINY + vit)))
    scanned = _load(config_lib.load(str(repo / CONFIG), TINY + vit + ["--config.model.scan=true"]))
    stack = scanned["Transformer"]["encoderblock"]
    assert "encoderblock_0" not in scanned["Transformer"]
    unstacked = transfer.flatten(transfer.unstack_groups(scanned)[0])
    assert sorted(unstacked) == sorted(flat)
    for k, v in flat.items():
        np.testing.assert_array_equal(unstacked[k], v, err_msg=k)
    np.testing.assert_array_equal(stack["MlpBlock_3"]["Dense_1"]["kernel"][1],
                                  p["Transformer/encoderblock_1/MlpBlock_3/Dense_1/kernel"])
    # And back: the scanned params as a (scanned) run's checkpoint into an unscanned model.
    src = transfer.flatten(scanned)
    back, report = transfer.transfer(transfer.unstack_groups(scanned)[0], src, dst_layouts={},
                                     src_layouts=None, alias_rows=[])
    assert report.fresh == [] and len(report.loaded) == len(flat)
    for k, v in transfer.flatten(back).items():
        np.testing.assert_array_equal(v, flat[k], err_msg=k)


def test_a_load_leaving_the_encoder_fresh_is_refused_unless_allowed(repo, tmp_path):
    p = vf.make_vit(classes=8)
    vf.write_timm(p, tmp_path / "vit.safetensors")
    base = TINY + [f"--config.init_from.checkpoint={tmp_path / 'vit.safetensors'}",
                   "--config.init_from.dont_load=('encoderblock_',)"]
    with pytest.raises(ValueError, match=r"leaves 32 of the 32 encoder tensors freshly "
                                         r"initialised .*allow_fresh_encoder=true"):
        _load(config_lib.load(str(repo / CONFIG), base))
    got = transfer.flatten(_load(config_lib.load(
        str(repo / CONFIG), base + ["--config.init_from.allow_fresh_encoder=true"])))
    np.testing.assert_array_equal(got["head/kernel"], p["head/kernel"])


WIDE = ["--config.model.hidden_size=48", "--config.model.num_heads=4"]


@pytest.mark.parametrize("config,extra", [
    (CONFIG, []),
    ("configs/synthetic/timesformer_divided_tiny.py", ["--config.model.variant=Ti/8"]),
    ("configs/synthetic/vidtr_tiny.py", ["--config.model.variant=Ti/8"]),
])
def test_another_width_names_the_tensor_and_both_shapes(repo, tmp_path, capsys, config, extra):
    # Issue 32: a ViT, or a converted TimeSformer / VidTr workdir, 32 wide into a 48-wide model
    # ended in numpy's concatenate error (the position embedding's class slots), naming nothing.
    vf.write_vision_transformer(vf.make_vit(classes=8), tmp_path / "vit.npz")
    args = ["--config", str(repo / config), *TINY, *extra]
    assert convert.main(["--vit", str(tmp_path / "vit.npz"), "--out", str(tmp_path / "w"),
                         *args]) == 0
    capsys.readouterr()
    assert convert.main(["--vit", str(tmp_path / "vit.npz"), "--out", str(tmp_path / "x"),
                         *args, *WIDE]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vivit-convert: error: tensor 'Transformer/")
    assert "expected (48,), found (32,)" in err[0] and not (tmp_path / "x").exists()
    want = r"tensor 'Transformer/encoder_norm/bias': expected \(48,\), found \(32,\)"
    for source in ("vit.npz", "w"):  # A ViT file and the converted workdir, via init_from.
        cfg = config_lib.load(str(repo / config), TINY + extra + WIDE + [
            f"--config.init_from.checkpoint={tmp_path / source}"])
        with pytest.raises(ValueError, match=want):
            _load(cfg)
