"""`vivit-rollout` on a real video for joint, divided and separable attention, and for the
factorised ViViTs (Models 2-4)."""
import pytest

from tests.evaluate.helpers import make_workdir, moving_square, write_video
from vivit_jax.evaluate import rollout


@pytest.mark.parametrize("config", ["configs/synthetic/vivit_tiny.py",
                                    "configs/synthetic/timesformer_divided_tiny.py",
                                    "configs/synthetic/timesformer_joint_tiny.py",
                                    "configs/synthetic/vidtr_tiny.py",
                                    "configs/synthetic/vivit_fe_tiny.py",
                                    "configs/synthetic/vivit_fsa_tiny.py",
                                    "configs/synthetic/vivit_fdp_tiny.py"])
def test_rollout_png_for_each_attention_kind(config, tmp_path, capsys):
    workdir = make_workdir(tmp_path / "w", config)
    video = write_video(tmp_path / "v.mp4", moving_square())
    png = tmp_path / "rollout.png"
    masks = rollout.run(video, checkpoint=str(workdir), out=str(png), layers=[1, 2])
    assert png.stat().st_size > 5000 and sorted(masks) == [1, 2]
    for m in masks.values():
        assert m.shape == (8, 32, 32) and 0 <= m.min() and m.max() == pytest.approx(1.0)
        # 30 % of the tokens kept, each token covering the same number of pixels.
        assert (m > 0).mean() == pytest.approx(0.3, abs=0.02)
    assert rollout.main([video, "--checkpoint", str(workdir), "--out", str(png),
                         "--layers", "5"]) == 1
    assert "the model has layers 1..2" in capsys.readouterr().err

