"""Block-quantised matrix products (``MatMulNBits``) rewritten, on CPUs where another form is faster.

The int8 recipe (``onnx_backend``) runs the feed-forward down-projections as ``MatMulNBits``:
8-bit weights in blocks of 128, with int8 arithmetic on activations quantised block by block. With
int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI, AMX) ONNX Runtime makes that fast: on an
AVX-512 VNNI machine the same layers in fp32 took three times as long. Without them it is the slow
path. Two rewrites, each made once into a cached file (``block_copy``):

- ``float``: float ``MatMul`` over the same weights, for CPUs without int8 dot products. On a
  2-core AVX2 machine (2026-12-01, one thread, ONNX Runtime 1.22+) it took the answer model from
  132.8 to 98.4 ms for two pairs of 70 tokens, and the embedding model from 260 to 195 ms for one
  text of 256 tokens (as fast as its fp32 copy). The weights are dequantised exactly, so only the
  activations' rounding goes: the outputs move towards the fp32 model's, never away from it.
- ``per-channel``: the same weights quantised again per output channel, with one activation scale
  per call, as the model's other matrix products are (ONNX Runtime's ``DynamicQuantizeMatMul``).
  On an AVX-512 VNNI core (ONNX Runtime 1.32) the block kernel took 5.8 of the answer model's
  18.4 ms for a 91-token pair, the fourteen per-channel products 3.2 ms for more arithmetic; per
  channel the call takes 13.1 ms instead of 19.0. One activation scale rounds the GELU outputs'
  outliers more coarsely: the embedding model lost cosine to fp32 that way (0.995 -> 0.988 at worst
  on the seeds), so only the answer model uses it, where its answers and refusals measured the same
  (rag/models/MODEL_CARD.md, "Down-projections per channel").
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

COPY_VERSION = 1  # bump when a rewrite changes: cached copies are keyed by it
REWRITES = ("float", "per-channel")


def float_copy(source: Path, cache_dir: Path) -> Path:
    """``source`` with its 8-bit block layers in float (``block_copy``)."""
    return block_copy(source, cache_dir, "float")


def block_copy(source: Path, cache_dir: Path, rewrite: str) -> Path:
    """``source`` with its 8-bit block layers rewritten (``rewrite``, one of ``REWRITES``), as a file
    in ``cache_dir`` made once (``model_copies.cached_copy``); ``source`` itself when it has none."""
    from rag.encode.model_copies import cached_copy

    if rewrite not in REWRITES:
        raise ValueError(f"block layers are rewritten as one of {', '.join(REWRITES)}, not {rewrite!r}")

    def rewritten(model):
        blocks = {n.name for n in model.graph.node if n.op_type == "MatMulNBits"}
        if not float_block_matmuls(model):
            return None
        if rewrite == "per-channel":
            return _per_channel(model, [n.name for n in model.graph.node if n.op_type == "MatMul" and n.name in blocks])
        return model

    what = "its block-quantised layers " + ("in float" if rewrite == "float" else "per channel")
    return cached_copy(source, cache_dir, f"{rewrite}-blocks.onnx", COPY_VERSION, rewritten, what)


def _per_channel(model, names: list[str]):
    """``model`` (an ``onnx.ModelProto``) with its float ``MatMul`` nodes ``names`` quantised by the
    recipe's per-channel quantisation (``onnx_backend.quantise_per_channel``); its metadata kept."""
    import onnx

    from rag.encode.onnx_backend import quantise_per_channel  # the quantiser loads only when rewriting

    metadata = {p.key: p.value for p in model.metadata_props}
    with tempfile.TemporaryDirectory(prefix="per-channel-") as tmp:
        floats, quantised = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        onnx.save(model, str(floats))
        quantise_per_channel(floats, quantised, only=names)
        result = onnx.load(str(quantised))
    onnx.helper.set_model_props(result, metadata)
    return result


def float_block_matmuls(model) -> int:
    """Rewrite ``model``'s (an ``onnx.ModelProto``) 8-bit ``MatMulNBits`` nodes in place as float
    ``MatMul`` nodes (plus ``Add`` for a bias) over their dequantised weights; how many it rewrote.

    Nodes with other bit widths or an input it does not read (``g_idx``) are left as they are.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    nodes, rewritten = [], 0
    for node in graph.node:
        weights = block_weights(node, initializers) if node.op_type == "MatMulNBits" else None
        if weights is None:
            nodes.append(node)
            continue
        name = f"{node.name}/float_weight"
        graph.initializer.append(numpy_helper.from_array(weights, name))
        bias = node.input[5] if len(node.input) > 5 and node.input[5] else None
        product = f"{node.output[0]}/product" if bias else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], name], [product], name=node.name))
        if bias:
            nodes.append(helper.make_node("Add", [product, bias], [node.output[0]], name=f"{node.name}/bias"))
        rewritten += 1
    if rewritten:
        del graph.node[:]
        graph.node.extend(nodes)
        used = {name for node in graph.node for name in node.input}
        kept = [i for i in graph.initializer if i.name in used]
        del graph.initializer[:]
        graph.initializer.extend(kept)
    return rewritten


def block_weights(node, initializers) -> np.ndarray | None:
    """The (K, N) float32 weight matrix of an 8-bit ``MatMulNBits`` node; None for other nodes."""
    from onnx import helper, numpy_helper

    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if attributes.get("bits", 4) != 8 or (len(node.input) > 4 and node.input[4]):
        return None
    if any(name not in initializers for name in node.input[1:3]):
        return None
    k, n = attributes["K"], attributes["N"]
    blocks = numpy_helper.to_array(initializers[node.input[1]]).astype(np.float32).reshape(n, -1, attributes["block_size"])
    scales = numpy_helper.to_array(initializers[node.input[2]]).astype(np.float32).reshape(n, -1, 1)
    zero = np.float32(128.0)  # the default zero point of unsigned 8-bit storage (symmetric quantisation)
    if len(node.input) > 3 and node.input[3]:
        if node.input[3] not in initializers:
            return None
        zero = numpy_helper.to_array(initializers[node.input[3]]).astype(np.float32).reshape(n, -1, 1)
    return np.ascontiguousarray(((blocks - zero) * scales).reshape(n, -1)[:, :k].T)
