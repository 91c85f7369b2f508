r"""Tiny ViViT Model 1 with two label sets (Epic-Kitchens-style noun + verb), synthetic_motion.

The default experiment's model (vivit_tiny.py) trained on the two-label variant of
synthetic_motion: noun = the shape (5 classes), verb = the motion (8 classes), as class splits
over one 13-way head (`dataset.label_sets='noun:5,verb:8'`, Scenic's way for Epic-Kitchens:
vivit_jax/label_sets.py). Each set has its own softmax cross-entropy (their mean is the loss);
training logs and `vivit-eval` report noun, verb and action (both right) top-1 / top-5.
Measured accuracy: BENCHMARKS.md ("Two label sets").

  vivit-train --config configs/synthetic/vivit_tiny_ek.py --workdir workdirs/vivit_tiny_ek
  vivit-eval --workdir workdirs/vivit_tiny_ek --split validation
  vivit-train --config configs/synthetic/vivit_tiny_ek.py:runlocal --workdir /tmp/vt_ek
"""
from vivit_jax import recipes
from vivit_jax.data import synthetic


def get_config(arg=None):
    c = recipes.synthetic_tiny(dict(
        family="vivit",
        variant="Ti/8x2",  # 8×8 patches, tubelets 2 frames deep → 4×4×4 tokens.
        hidden_size=96, num_layers=4, num_heads=4, mlp_dim=192, classifier="token"), arg,
        num_train_steps=2000)
    nouns, verbs = len(synthetic.SHAPES), len(synthetic.CLASSES)
    c.dataset.num_classes = nouns + verbs
    c.dataset.label_sets = f"noun:{nouns},verb:{verbs}"
    return c
