"""Rewritten copies of an ONNX graph, made once per source file into a cache folder.

``block_matmul`` (block layers per CPU) and ``split_fusions`` (fused kernels split) both rewrite a
graph for speed and keep the result as a file keyed by the source's bytes, the onnx version and
the rewrite's own version, written atomically, an earlier model's copy removed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


def cached_copy(source: Path, cache_dir: Path, suffix: str, version: int, rewrite: Callable,
                what: str, family: str | None = None) -> Path:
    """``source`` rewritten by ``rewrite`` (an ``onnx.ModelProto`` to the rewritten one, or None when
    there is nothing to rewrite) as ``cache_dir/<stem>.<key>.<suffix>``, made once; ``source``
    itself when there is nothing to rewrite. ``what`` says what the copy holds, for the log; the
    copies of earlier versions are those named ``<family>.*.<suffix>`` (default: the source's stem).

    A file, not bytes in memory: a session read from a path took 66 MB where one built from the
    rewritten model's bytes kept 147 MB (the parsed and serialised copies stay in the heap).
    """
    import onnx

    from rag.fileio import write_atomic

    with open(source, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    key = hashlib.sha256(f"{digest}|onnx {onnx.__version__}|v{version}".encode()).hexdigest()[:16]
    target = Path(cache_dir) / f"{Path(source).stem}.{key}.{suffix}"
    if target.is_file():
        return target
    model = rewrite(onnx.load(str(source)))
    if model is None:
        return Path(source)
    log.info("writing %s: %s with %s, once", target, source, what)
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    write_atomic(target, model.SerializeToString())
    for stale in Path(cache_dir).glob(f"{family or Path(source).stem}.*.{suffix}"):
        if stale != target:  # an earlier version of the same model: a new model replaces its copy
            stale.unlink(missing_ok=True)
    return target
