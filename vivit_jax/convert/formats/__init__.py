"""Readers of released video checkpoints, one module per format (see `convert/released.py`).

Each module has `DESCRIPTION`, `matches(tensors, path) -> bool` and
`read(tensors, path) -> released.Released`; `tensors` is the file's raw content with
'/'-joined names. A format is a `vit_layouts.Layout` name table (source regex → our name,
with small per-tensor hooks) plus a function that infers the model's sizes from the tensors
(or the Hugging Face `config.json` beside them), on the shared layer `common.py`: prefix
strip, required tensors, one shape check, the HF side-car reader. Code beyond the table is
for the tensors a table cannot rename alone (Scenic's per-model-type names, VidTr's
class-token grid). The `model` / `dataset` config each reference builds: `convert/protocols.py`.
"""
