"""Readers of released video checkpoints, one module per format (see `convert/released.py`).

Each module has `DESCRIPTION`, `matches(tensors, path) -> bool` and
`read(tensors, path) -> released.Released`; `tensors` is the file's raw content with
'/'-joined names. A format is a declarative name map plus small per-tensor hooks, as the
ViT layouts in `convert/vit_layouts.py`.
"""
