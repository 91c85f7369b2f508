"""README's model-zoo table: its params and GMACs columns are `vivit-profile`'s numbers.

The figures cannot drift from the code (issue 32: STAT's rows said 51.7 GMACs, the code
52.71). Profiling every zoo model at full depth costs ~5 min of CPU (the abstract model's
`nnx.eval_shape` grows quadratically with depth: each parameter's random draw inspects the
whole trace so far), so each stack of L like blocks is profiled at depths 1 and 2 and
extrapolated: parameters are exactly affine in L, XLA's flops to ~1e-6 of the total, far
inside the table's 0.1 GMACs (`test_extrapolation_equals_the_full_profile`). Block 0 may
differ (gluonmm VidTr's position embedding); C-VidTr (pooling layers) and STAT (stages) are
profiled whole.
"""
import pathlib
import re
from collections.abc import Callable

import pytest

from vivit_jax import config as config_lib
from vivit_jax.evaluate import profile

REPO = pathlib.Path(__file__).resolve().parents[2]


def zoo_rows() -> list[tuple[str, float, float]]:
    """(config path, params M, GMACs) per config of the README's model-zoo table; a row of
    two configs (`vivit_{b,l}16x2…`) gives two, its figures comma-separated in order."""
    text = (REPO / "README.md").read_text()
    table = text.split("## Model zoo", 1)[1].split("\n\n| family", 1)[1].split("\n\n", 1)[0]
    rows = []
    for line in table.splitlines()[2:]:  # After the header's separator row.
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        spec, params, gmacs = cells[2].strip("`"), cells[3], cells[4]
        m = re.fullmatch(r"(.*)\{([\w,]+)\}(.*)", spec)
        paths = [m[1] + x + m[3] for x in m[2].split(",")] if m else [spec]
        ours = lambda cell: [float(x) for x in cell.split("/")[0].split(",")]
        assert len(ours(params)) == len(ours(gmacs)) == len(paths), line
        rows += zip(paths, ours(params), ours(gmacs))
    return rows


ROWS = zoo_rows()


def _depth_axes(cfg) -> list[tuple[Callable[[int], str], int]]:
    """Per stack of like blocks (block 0 may differ): (override setting its depth to d, full
    depth). Empty for the models profiled whole: C-VidTr (pooling layers) and STAT (stages),
    whose profiles at two smaller depths cost as much as one whole."""
    from vivit_jax.models import tokenizers

    m = cfg.model
    if m.family == "stat" or tuple(m.get("pool_layers", ())):
        return []
    axes = [(lambda d: f"--config.model.num_layers={d}",
             tokenizers.resolve_sizes(m)["num_layers"])]
    if m.get("model_type") == "factorised_encoder" and m.get("temporal_layers", 0) > 0:
        axes.append((lambda d: f"--config.model.temporal_layers={d}", m.temporal_layers))
    return axes


def measured(path: str, overrides=()) -> tuple[int, float]:
    """`vivit-profile`'s (params, GMACs) of a config, each stack extrapolated from depths 1
    and 2 (affine in each depth)."""
    axes = _depth_axes(config_lib.load(str(REPO / path), list(overrides)))

    def at(*depths):
        r = profile.profile(config_lib.load(str(REPO / path), [
            *overrides, *(make(d) for (make, _), d in zip(axes, depths))]))
        return r["params"], r["gmacs"]

    params, gmacs = base = at(*[1] * len(axes))
    for i, (_, full) in enumerate(axes):
        p2, g2 = at(*[1 + (j == i) for j in range(len(axes))])
        params += (full - 1) * (p2 - base[0])
        gmacs += (full - 1) * (g2 - base[1])
    return params, gmacs


@pytest.mark.parametrize("path,mparams,gmacs", ROWS, ids=[r[0].split("/")[-1] for r in ROWS])
def test_readme_zoo_figures_are_vivit_profiles(path, mparams, gmacs):
    params, got = measured(path)
    # The extrapolated GMACs are within 1e-5 of the whole profile, whose rounding the README
    # shows: a figure on a rounding boundary (Table 5's 4000.85) may come out 0.1 lower here.
    assert round(params / 1e6, 2) == mparams and abs(got - gmacs) <= 0.05 + 1e-5 * got, (
        f"README's model zoo says {mparams} M / {gmacs} GMACs for {path}; vivit-profile: "
        f"{params / 1e6:.2f} M / {got:.1f}")


def test_extrapolation_equals_the_full_profile():
    # The affine rule against whole profiles of both kinds of stack (the FE model has two;
    # gluonmm VidTr's layer 0 differs), at depths that keep the whole profile cheap.
    for path, depth in (("configs/kinetics400/vivit_b16x2_fe_32x2x1_k400.py",
                         ["--config.model.num_layers=4", "--config.model.temporal_layers=3"]),
                        ("configs/kinetics400/vidtr_s_8x8_gluonmm_k400.py",
                         ["--config.model.num_layers=4"])):
        cfg = config_lib.load(str(REPO / path), depth)
        assert _depth_axes(cfg), path
        whole = profile.profile(cfg)
        params, gmacs = measured(path, depth)
        assert params == whole["params"], path
        assert gmacs == pytest.approx(whole["gmacs"], rel=1e-5), path
