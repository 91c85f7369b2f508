"""Model families and the registry that builds one from the config's `model` section.

A family is one module of this package, named as the family: `model.family='vivit'` is
`vivit.py`. It defines `default_config()` (every `model` field it reads, with `family`) and
`MODEL`, the `nnx.Module` class built as `MODEL(num_classes, cfg=…, input_shape=(T, H, W),
dtype=…, rngs=…)`. A reference implementation's own reading of a family
(`model.reference='gluonmm'`) is the module `<family>_<reference>.py` with its `MODEL`.
Adding a family is adding its file; nothing here lists them.
"""
from __future__ import annotations

import importlib
import pathlib
import pkgutil

import jax.numpy as jnp
import ml_collections
from flax import nnx

_HERE = pathlib.Path(__file__).parent


def families() -> list[str]:
    """Every family: the modules of this package with `default_config()` and `MODEL`."""
    names = []
    for info in pkgutil.iter_modules([str(_HERE)]):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "MODEL") and hasattr(module, "default_config"):
            names.append(info.name)
    return sorted(names)


def _module(family: str, reference: str = "paper"):
    name = family if reference in ("", "paper") else f"{family}_{reference}"
    module = None
    if name.isidentifier() and (_HERE / f"{name}.py").is_file():
        module = importlib.import_module(f"{__name__}.{name}")
    if name != family and not hasattr(module, "MODEL"):
        raise ValueError(f"model.reference={reference!r}: the {family} family has no such "
                         f"reading (no vivit_jax/models/{name}.py)")
    if name == family and not (hasattr(module, "MODEL") and hasattr(module, "default_config")):
        raise ValueError(f"model.family={family!r}: expected one of {families()}")
    return module


def default_model_config(family: str) -> ml_collections.ConfigDict:
    """All fields the given family reads, with their defaults."""
    return _module(family).default_config()


def build_model(model_cfg: ml_collections.ConfigDict, *, num_classes: int,
                input_shape: tuple[int, int, int], dtype=jnp.float32,
                rngs: nnx.Rngs) -> nnx.Module:
    """Instantiates the model the config names. `input_shape` is (frames, height, width)."""
    cls = _module(model_cfg.family, model_cfg.get("reference", "paper")).MODEL
    return cls(num_classes, cfg=model_cfg, input_shape=input_shape, dtype=dtype, rngs=rngs)
