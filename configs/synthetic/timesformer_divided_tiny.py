r"""Tiny TimeSformer (divided_space_time attention) on the embedded synthetic_motion set.

Frame patches 8×8 on 8 frames of 32² → 8 frames × 4×4 patches + CLS; hidden 96, 4 layers.
synthetic_motion classes are only visible through motion (BENCHMARKS.md).

Measured with this config (2026-12-01, 3000 steps, CPU shared with 2-3 other runs, 2159 s in
the trainer): validation top-1 88.25 %, test 86.5 % -- NOT the >= 95 % target yet. Every
translation and scale class is at 96-100 %; rotate_cw / rotate_ccw are at 58 % / 64 %: a
small shape turning 13-20 degrees between sampled frames is a sub-patch change for 8x8 frame
patches. (With time_embed std 0.02 the same run reached 46.75 %, loss ~ ln 2.) With
`--config.model.classifier=gmp` (max of the final patch tokens, not the paper's CLS): 90.0 %
validation, 89.0 % test (78.0 % at step 1000 against 60.25 %), rotation still 70 / 52 %.
With gmp and `--config.num_train_steps=6000`: 91.75 % / 93.0 % (rotation 76 / 64 %); with
2-frame tubelets as well (`--config.model.variant=Ti/8x2`, what lifts VidTr's tiny config to
99.5 %): 91.25 % / 92.75 % (rotation 70 / 62 %). So the config keeps the paper's frame
patches and CLS; the divided attention's treatment of the rotation pair is the open question.

  vivit-train --config configs/synthetic/timesformer_divided_tiny.py --workdir workdirs/tsf_divided

`runlocal` shrinks it further for smoke tests:

  vivit-train --config configs/synthetic/timesformer_divided_tiny.py:runlocal --workdir /tmp/tsf
"""
from vivit_jax import recipes


def get_config(arg=None):
    return recipes.synthetic_tiny(dict(
        family="timesformer", variant="Ti/8",  # 8×8 frame patches.
        attention_type="divided_space_time",
        # From scratch: random time_embed/temporal_fc (zero init is for starting from a ViT and
        # leaves the frames interchangeable at step 0, a saddle the tiny run sits on).
        zero_init_temporal=False,
        # Order must be salient from step 0: with std 0.02 (the patches' scale is ~1) the run
        # learns the motion's kind, not its direction (46.75 % at 3000 steps, loss ~ ln 2);
        # std 1.0 passes 50 % by step 800 (1200-step probes: 0.3 → 68.5 %, 1.0 → 75.25 %).
        time_embed_std=1.0,
        hidden_size=96, num_layers=4, num_heads=4, mlp_dim=192), arg)
