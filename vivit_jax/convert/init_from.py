"""`config.init_from`: start a training run from a converted ViT, an earlier run or a ViT file."""
from __future__ import annotations

import json
import os
from collections.abc import Callable

import jax
import ml_collections
import numpy as np

from vivit_jax import checkpoint as ckpt_lib
from vivit_jax import fileio
from vivit_jax.convert import readers, transfer
from vivit_jax.convert.initializers import POSEMB_MODES, TokenLayout

VIT_SUFFIXES = (".npz", ".safetensors") + readers.PICKLE_SUFFIXES


def source_layouts(config_dict: dict | None, log: Callable[[str], None]
                   ) -> dict[str, TokenLayout] | None:
    """Token layouts of the run that wrote a checkpoint, from its saved config.json."""
    if not config_dict:
        return None
    from vivit_jax import config as config_lib
    try:
        cfg = config_lib.complete(ml_collections.ConfigDict(config_dict))
        return transfer.token_layouts(transfer.abstract_model(cfg))
    except (ValueError, KeyError, TypeError) as e:  # An older config: infer from shapes.
        log(f"init_from: source config.json not usable ({e}); token grids inferred from shapes")
        return None


def load_init(params, config: ml_collections.ConfigDict, *,
              log: Callable[[str], None] = print) -> dict:
    """Fresh params (pure dict) with `config.init_from.checkpoint` loaded into them.

    The checkpoint is a `vivit-convert` output, a workdir (its latest step), a
    `checkpoints/<step>` directory, or a ViT `.npz`/`.safetensors` file (converted on the
    fly with central-frame init). The head is re-initialised when the class count differs,
    position embeddings are resized/tiled per `init_from.posemb`, names matching
    `init_from.dont_load` stay fresh. Returns numpy arrays: the caller shards them.
    """
    spec = config.init_from
    if spec.posemb not in POSEMB_MODES:
        raise ValueError(f"init_from.posemb={spec.posemb!r}: expected one of {POSEMB_MODES}")
    model = transfer.abstract_model(config)
    dst_layouts = transfer.token_layouts(model)
    path = str(spec.checkpoint)  # Local or `gs://…` (pathlib would fold the URL).
    if os.path.splitext(path)[1] in VIT_SUFFIXES:
        from vivit_jax.models import tokenizers
        heads = tokenizers.resolve_sizes(config.model)["num_heads"]
        vit = readers.read_vit(path, num_heads=heads)
        src = vit.params
        src_layouts = {transfer.POS: TokenLayout(1, (1, *vit.grid))}
        what, zero = f"{vit.layout} ViT", transfer.zeros(model)
    else:
        found = ckpt_lib.resolve(path)
        src = transfer.flatten(ckpt_lib.restore_params(found))
        src_layouts = source_layouts(
            json.loads(fileio.read_text(found.config)) if found.config else None, log)
        what, zero = "checkpoint", ()
    new, report = transfer.transfer(
        jax.device_get(params), src, dst_layouts=dst_layouts, src_layouts=src_layouts,
        alias_rows=transfer.aliases(model, config.model), posemb=spec.posemb,
        dont_load=tuple(spec.dont_load), zero=zero)
    log(f"init_from: {what} {str(path)!r}\n{report.summary()}")
    report.check_encoder(f"init_from {what} {str(path)!r}", spec.allow_fresh_encoder)
    return jax.tree.map(np.asarray, new)
