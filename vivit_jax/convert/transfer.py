"""Moves tensors from a source checkpoint into a freshly initialised video model.

One function, `transfer`, serves both `vivit-convert` (source = a ViT in canonical form)
and `config.init_from` (source = an earlier video run). For every parameter of the new
model it finds the source tensor (same name, or a family alias: a ViT has no temporal
attention, so TimeSformer's starts from the spatial one), adapts it (tubelet kernel from a
2D kernel, position embeddings tiled/resized, head re-initialised when the classes differ)
or keeps the fresh value, and names the tensor when nothing fits.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import jax
import numpy as np

from vivit_jax.convert import initializers
from vivit_jax.convert.initializers import TokenLayout

POS = "Transformer/posembed_input/pos_embedding"


def abstract_model(config):
    """The config's model with abstract (shape-only) parameters: its structure, no compute."""
    from flax import nnx

    from vivit_jax import state as state_lib
    return nnx.eval_shape(lambda: state_lib.create_model(config, nnx.Rngs(0)))


def fresh_params(config) -> dict:
    """Freshly initialised params (pure dict of numpy) of the config's model, initialised under
    one jit: eager initialisation compiles a program per parameter (~45 for a 2-layer model).
    The program runs once, so it is compiled without LLVM's optimisations (half the compile
    time; values within float rounding of the optimised program's)."""
    from flax import nnx

    from vivit_jax import state as state_lib

    def init():
        model = state_lib.create_model(config, nnx.Rngs(config.seed))
        return nnx.to_pure_dict(nnx.state(model, nnx.Param))
    compiled = jax.jit(init).lower().compile(compiler_options=FAST_COMPILE)
    return jax.tree.map(np.asarray, compiled())


# XLA:CPU options for a program that runs once: skip LLVM's optimisation passes.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def token_layouts(model) -> dict[str, TokenLayout]:
    """Position/time embeddings of a built (or abstract) model → their token layouts."""
    from vivit_jax.models import stat, timesformer, vidtr, vivit
    if isinstance(model, vivit.ViViT):
        t, h, w = model.grid
        cls = int(model.classifier == "token")
        if model.model_type == "spatio_temporal":
            return {POS: TokenLayout(cls, (t, h, w))}
        if model.model_type == "factorised_encoder":
            out = {POS: TokenLayout(cls, (1, h, w))}
            if hasattr(model, "TemporalTransformer"):
                t_cls = int(model.temporal_classifier == "token")
                out["TemporalTransformer/posembed_input/pos_embedding"] = TokenLayout(
                    t_cls, (t, 1, 1))
            return out
        return {POS: TokenLayout(0, (t, h, w))}  # Models 3-4: no CLS.
    if isinstance(model, timesformer.TimeSformer):
        t, h, w = model.grid
        out = {POS: TokenLayout(1, (1, h, w))}
        if model.attention_type != "space_only":
            out["time_embed"] = TokenLayout(0, (t, 1, 1))
        return out
    if isinstance(model, vidtr.VidTr):
        t, h, w = model.grid
        if model.reference == "gluonmm":  # Official: one table, VidTr's row/column apart.
            out = {POS: TokenLayout(1, (t, h, w))}
            if not model.compact:
                out.update(posembed_row=TokenLayout(0, (1, h, w)),
                           posembed_col=TokenLayout(0, (t, 1, 1)))
            return out
        return {POS: TokenLayout(1, (1, h, w)), "time_embed": TokenLayout(1, (t, 1, 1))}
    if isinstance(model, stat.STAT):
        return {}  # Trained from scratch; an earlier STAT run loads with equal shapes only.
    raise ValueError(f"no token layout known for {type(model).__name__}")


def aliases(model, model_cfg) -> list[tuple[str, str]]:
    """(target regex, source template): where a parameter the source lacks starts from."""
    from vivit_jax.models import timesformer, vivit
    rows = [(r"embedding/conv/(kernel|bias)", r"embedding/\1")]  # ViT 2D patch embedding.
    if isinstance(model, vivit.ViViT) and model.model_type == "factorised_self_attention":
        if model_cfg.get("temporal_attention_init") == "copy_spatial":
            # 'copy_spatial' (Scenic): temporal MSA from the ViT's MSA; 'zero' keeps the
            # model's zero output projection (the block starts as a residual, Section 3.4).
            rows.append((r"(Transformer/encoderblock_\d+)/MultiHeadDotProductAttention_temporal"
                         r"/(.*)", r"\1/MultiHeadDotProductAttention_1/\2"))
    if isinstance(model, timesformer.TimeSformer):
        # Official TimeSformer `load_pretrained`: attn → temporal_attn, norm1 → temporal_norm1;
        # temporal_fc stays zero so the block starts as the image model.
        rows += [(r"(Transformer/encoderblock_\d+)/temporal_attn/(.*)",
                  r"\1/MultiHeadDotProductAttention_1/\2"),
                 (r"(Transformer/encoderblock_\d+)/temporal_norm/(.*)", r"\1/LayerNorm_0/\2")]
    return rows


def zeros(model) -> list[str]:
    """Regexes of parameters a ViT lacks that must start at zero so the video model starts
    as the image model: TimeSformer's `temporal_fc` and `time_embed` (official code)."""
    from vivit_jax.models import timesformer
    if isinstance(model, timesformer.TimeSformer):
        return [r"Transformer/encoderblock_\d+/temporal_fc/(kernel|bias)", r"time_embed"]
    return []


@dataclasses.dataclass
class Report:
    """What happened to each parameter of the new model."""
    loaded: list[str] = dataclasses.field(default_factory=list)
    adapted: list[str] = dataclasses.field(default_factory=list)  # 'name: how'
    fresh: list[str] = dataclasses.field(default_factory=list)  # 'name: why'
    unused: list[str] = dataclasses.field(default_factory=list)  # Source tensors not used.

    def check_encoder(self, what: str, allow: bool = False) -> None:
        """Refuses a load that leaves most of the main encoder (`Transformer/encoderblock_*`)
        freshly initialised — a source of another layout or depth would otherwise train a
        random encoder after one log line — unless `allow` (`init_from.allow_fresh_encoder`)."""
        enc = re.compile(r"Transformer/encoderblock_\d+/")
        name = lambda e: e.split(":")[0]
        done = [n for n in self.loaded + [name(a) for a in self.adapted] if enc.match(n)]
        fresh = [name(f) for f in self.fresh if enc.match(name(f))]
        if not allow and len(fresh) > len(done):
            raise ValueError(
                f"{what} leaves {len(fresh)} of the {len(fresh) + len(done)} encoder tensors "
                f"freshly initialised (e.g. {fresh[0]!r} is not in it): a checkpoint of another "
                f"model, layout or depth. Set --config.init_from.allow_fresh_encoder=true to "
                f"load it anyway")

    def summary(self) -> str:
        lines = [f"loaded {len(self.loaded)} tensors as they are, adapted {len(self.adapted)}, "
                 f"kept {len(self.fresh)} freshly initialised"]
        lines += [f"  adapted  {a}" for a in _grouped(self.adapted)]
        lines += [f"  fresh    {f}" for f in _grouped(self.fresh)]
        if self.unused:
            lines.append(f"  unused source tensors ({len(self.unused)}): "
                         f"{', '.join(self.unused[:12])}{' …' if len(self.unused) > 12 else ''}")
        return "\n".join(lines)


def _grouped(entries: list[str]) -> list[str]:
    """'name: why' lines with the layer index folded (`encoderblock_*`), counted."""
    groups: dict[str, int] = {}
    for e in entries:
        key = re.sub(r"encoderblock_\d+", "encoderblock_*", e)
        groups[key] = groups.get(key, 0) + 1
    return [k if n == 1 else k.replace(":", f" (×{n}):", 1) for k, n in groups.items()]


def flatten(tree) -> dict[str, np.ndarray]:
    """Pure-dict params → `{'a/b/c': array}`."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {"/".join(str(getattr(k, "key", k)) for k in path): v for path, v in leaves}


def _source_name(name: str, src: dict, rows: Sequence[tuple[str, str]]) -> str | None:
    if name in src:
        return name
    for pattern, template in rows:
        m = re.fullmatch(pattern, name)
        if m and m.expand(template) in src:
            return m.expand(template)
    return None


def _infer_layout(name: str, n: int, dst: TokenLayout) -> TokenLayout:
    """Source layout from the token count alone (no source config): same spatial grid or
    same frames with a square grid, same class-token slots as the target."""
    t, h, w = dst.grid
    grid = n - dst.prefix
    if grid > 0 and grid % (h * w) == 0:
        return TokenLayout(dst.prefix, (grid // (h * w), h, w))
    side = int(round((grid / t) ** 0.5)) if grid > 0 else 0
    if side and t * side * side == grid:
        return TokenLayout(dst.prefix, (t, side, side))
    raise ValueError(f"tensor {name!r}: cannot tell the token grid of {n} source tokens "
                     f"(target {dst}); keep the source run's config.json beside its checkpoints")


def transfer(dst_params, src: dict[str, np.ndarray], *, dst_layouts: dict[str, TokenLayout],
             src_layouts: dict[str, TokenLayout] | None, alias_rows: Sequence[tuple[str, str]],
             kernel_init: str = "central_frame", posemb: str = "resize_tile",
             load_head: bool = True, dont_load: Sequence[str] = (),
             zero: Sequence[str] = ()) -> tuple[dict, Report]:
    """`dst_params` (pure dict, fresh init) with the tensors of `src` (flat names) moved in.

    `load_head`: load `head/*` when its shape fits (else it stays fresh: a new class count).
    `dont_load`: regexes of target names that stay freshly initialised.
    `zero`: regexes of target names the source lacks that start at zero (`zeros(model)`).
    Returns `(new pure-dict params (numpy), report)`; raises ValueError naming the tensor
    when a source tensor cannot be made to fit.
    """
    if kernel_init not in initializers.KERNEL_INITS:
        raise ValueError(f"init={kernel_init!r}: expected one of {initializers.KERNEL_INITS}")
    # Scanned models (`model.scan`) store each stack as one `encoderblock [L, …]`: both sides
    # are moved per layer (`encoderblock_{i}`), and the target's stacks are rebuilt after.
    dst_params, stacked = unstack_groups(dst_params)
    src = unstack_flat(src)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(dst_params)
    report, used, new, mismatched = Report(), set(), [], []
    for path, fresh in leaves:
        name = "/".join(str(getattr(k, "key", k)) for k in path)
        fresh = np.asarray(fresh)
        new.append(fresh)
        if any(re.search(p, name) for p in dont_load):
            report.fresh.append(f"{name}: matches init_from.dont_load")
            continue
        sname = _source_name(name, src, alias_rows)
        if sname is None:
            if any(re.fullmatch(p, name) for p in zero):
                new[-1] = np.zeros_like(fresh)
                report.adapted.append(f"{name}: zero (not in the source; starts as the ViT)")
            else:
                report.fresh.append(f"{name}: not in the source checkpoint")
            continue
        used.add(sname)
        value, how = np.asarray(src[sname], np.float32), f"from {sname}" if sname != name else ""
        if name.startswith("head/"):
            if not load_head:
                report.fresh.append(f"{name}: classifier head re-initialised")
                continue
            if value.shape != fresh.shape:
                report.fresh.append(f"{name}: classifier head re-initialised (source "
                                    f"{value.shape} → {fresh.shape}: another class count)")
                continue
        if name in dst_layouts and value.shape[-1] == fresh.shape[-1]:  # Else: another width.
            src_layout = (src_layouts or {}).get(sname) or (
                dst_layouts[name] if value.shape == fresh.shape else
                _infer_layout(name, value.shape[1], dst_layouts[name]))
            if value.shape != fresh.shape or src_layout != dst_layouts[name]:
                value = initializers.adapt_posemb(name, value, src_layout, dst_layouts[name],
                                                  posemb, fresh)
                how = f"{how} {src_layout.prefix}+{src_layout.grid} → " \
                      f"{dst_layouts[name].prefix}+{dst_layouts[name].grid} ({posemb})".strip()
        elif name == "embedding/conv/kernel" and value.ndim == 4 and fresh.ndim == 5:
            value = initializers.inflate_kernel(value, fresh.shape[0], kernel_init, fresh)
            how = f"{how} 2D kernel → t={fresh.shape[0]} ({kernel_init})".strip()
        elif (value.shape != fresh.shape and value.size == fresh.size
              and re.search(r"(query|key|value|out|temporal_attn\w*)/(kernel|bias)$", name)):
            value = value.reshape(fresh.shape)  # Same projection, another head split.
            how = f"{how} heads regrouped {src[sname].shape} → {fresh.shape}".strip()
        if value.shape != fresh.shape:
            via = f" (from source tensor {sname!r})" if sname != name else ""
            mismatched.append(f"tensor {name!r}: expected {fresh.shape}, found {value.shape}"
                              f"{via}")
            continue
        new[-1] = value.astype(fresh.dtype)
        (report.adapted.append(f"{name}: {how}") if how else report.loaded.append(name))
    if mismatched:  # All of them at once: a wrong width shows in every block.
        more = f"; … and {len(mismatched) - 8} more" if len(mismatched) > 8 else ""
        raise ValueError("; ".join(mismatched[:8]) + more)
    report.unused = sorted(set(src) - used)
    return restack_groups(jax.tree_util.tree_unflatten(treedef, new), stacked), report


def unstack_flat(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Flat names: `…Transformer/encoderblock/X [L, …]` → `…/encoderblock_{i}/X` (big_vision
    `scan=True` ViTs, a scanned run's checkpoint); other names unchanged."""
    out = {}
    for k, v in tensors.items():
        m = re.fullmatch(r"(.*Transformer/encoderblock)/(.*)", k)
        if m is None:
            out[k] = v
            continue
        for i in range(v.shape[0]):
            out[f"{m[1]}_{i}/{m[2]}"] = v[i]
    return out


def unstack_groups(tree: dict) -> tuple[dict, list[tuple[str, ...]]]:
    """Pure-dict params with every stacked `encoderblock` split per layer, and the key paths of
    the dicts that held one (for `restack_groups`)."""
    from vivit_jax.models import layers
    paths = []

    def walk(node, path):
        if not isinstance(node, dict):
            return node
        node = {k: walk(v, path + (k,)) for k, v in node.items()}
        if "encoderblock" in node:
            paths.append(path)
            node = layers.unstack_blocks(node)
        return node
    return walk(tree, ()), paths


def restack_groups(tree: dict, paths: Sequence[tuple[str, ...]]) -> dict:
    """Inverse of `unstack_groups` (numpy leaves)."""
    from vivit_jax.models import layers
    for path in paths:
        parent, node = None, tree
        for k in path:
            parent, node = node, node[k]
        depth = sum(1 for k in node if re.fullmatch(r"encoderblock_\d+", k))
        stacked = layers.stack_blocks(node, depth)
        stacked["encoderblock"] = jax.tree.map(np.asarray, stacked["encoderblock"])
        if parent is None:
            tree = stacked
        else:
            parent[path[-1]] = stacked
    return tree
