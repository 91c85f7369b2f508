"""TensorFlow (for tf.data only), imported without its C++ start-up chatter on stderr.

TF 2.21 logs "oneDNN custom operations are on …" through absl before
`TF_CPP_MIN_LOG_LEVEL` is read when numpy was imported first, so every CLI would open with
four lines of noise above its own output. The import runs with file descriptor 2 pointed at
a temporary file; if the import fails, what it printed is replayed before the error.
Use: `from vivit_jax.data.tf_quiet import tf`.
"""

from __future__ import annotations

import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _import_tensorflow():
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            import tensorflow
        except BaseException:
            os.dup2(saved, 2)
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return tensorflow


tf = _import_tensorflow()
