"""Model families and the registry that builds one from the config's `model` section."""
from __future__ import annotations

import importlib

import jax.numpy as jnp
import ml_collections
from flax import nnx

# family name → (module, class name). Each module has `default_config()`.
FAMILIES = {
    "vivit": ("vivit_jax.models.vivit", "ViViT"),
    "timesformer": ("vivit_jax.models.timesformer", "TimeSformer"),
    "vidtr": ("vivit_jax.models.vidtr", "VidTr"),
    "stat": ("vivit_jax.models.stat", "STAT"),
}
# (family, model.reference) → (module, class name) where a reference implementation's
# reading is its own subclass (the family's default_config holds the `reference` field).
REFERENCES = {
    ("vidtr", "gluonmm"): ("vivit_jax.models.vidtr_gluonmm", "VidTrGluonmm"),
}


def _module(family: str):
    if family not in FAMILIES:
        raise ValueError(f"model.family={family!r}: expected one of {sorted(FAMILIES)}")
    return importlib.import_module(FAMILIES[family][0])


def default_model_config(family: str) -> ml_collections.ConfigDict:
    """All fields the given family reads, with their defaults."""
    return _module(family).default_config()


def build_model(model_cfg: ml_collections.ConfigDict, *, num_classes: int,
                input_shape: tuple[int, int, int], dtype=jnp.float32,
                rngs: nnx.Rngs) -> nnx.Module:
    """Instantiates the model the config names. `input_shape` is (frames, height, width)."""
    key = (model_cfg.family, model_cfg.get("reference", "paper"))
    if key in REFERENCES:
        module, name = REFERENCES[key]
        cls = getattr(importlib.import_module(module), name)
    else:
        cls = getattr(_module(model_cfg.family), FAMILIES[model_cfg.family][1])
    return cls(num_classes, cfg=model_cfg, input_shape=input_shape, dtype=dtype, rngs=rngs)
