"""Two of ONNX Runtime's fused BERT kernels split back into standard operators, where those run faster.

The offline BERT optimiser (``onnx_backend._optimise``) fuses each residual and its layer norm into
``SkipLayerNormalization`` and each feed-forward bias and GELU into ``BiasGelu``. On one CPU thread
(ONNX Runtime 1.32, AVX-512 VNNI, 2026-12-03) those two fused kernels took 5.0 of the answer
model's 17.4 ms for a 96-token pair (profiled per channel): the twelve layer norms 0.27 ms each for
96 x 384 values. The same arithmetic as ``Add`` + ``LayerNormalization`` and ``Add`` + ``Gelu``
runs the call in 10.1 ms instead of 12.8 (7.4 instead of 9.7 at 70 tokens). Only the answer model
takes the split copy: the embedding model's question vectors must stay those its index was built
with. The session must not fuse the pieces back (``REFUSIONS``, ``onnx_backend.cpu_session``).
"""

from __future__ import annotations

from pathlib import Path

COPY_VERSION = 1  # bump when the rewrite changes: cached copies are keyed by it
SUFFIX = "split-fusions.onnx"
# ONNX Runtime's optimisers that would fuse the split pieces back when the session loads.
REFUSIONS = ("SkipLayerNormFusion", "BiasGeluFusion")


def split_fusions(model) -> int:
    """Rewrite ``model``'s (an ``onnx.ModelProto``) ``SkipLayerNormalization`` and ``BiasGelu`` nodes
    in place as the standard operators they fuse; how many it rewrote.

    A layer norm whose fused node also outputs its mean or variance (training graphs) is left fused,
    and so are all of them in a graph older than opset 17, which has no ``LayerNormalization``; the
    fourth output, the input-skip-bias sum, is kept under its name."""
    from onnx import helper

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    graph, nodes, rewritten = model.graph, [], 0
    for node in graph.node:
        if (node.domain == "com.microsoft" and node.op_type == "SkipLayerNormalization" and opset >= 17
                and not any(node.output[1:3])):
            x, skip, gamma = node.input[:3]
            beta, bias = (list(node.input[3:5]) + ["", ""])[:2]
            epsilon = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "epsilon"), 1e-12)
            total = f"{node.name}/sum"
            nodes.append(helper.make_node("Add", [x, skip], [total], name=f"{node.name}/add"))
            if bias:
                nodes.append(helper.make_node("Add", [total, bias], [f"{total}_bias"], name=f"{node.name}/add_bias"))
                total = f"{total}_bias"
            nodes.append(helper.make_node("LayerNormalization", [total, gamma] + ([beta] if beta else []),
                                          [node.output[0]], name=f"{node.name}/norm", axis=-1, epsilon=epsilon))
            if len(node.output) > 3 and node.output[3]:
                nodes.append(helper.make_node("Identity", [total], [node.output[3]], name=f"{node.name}/sum_out"))
        elif node.domain == "com.microsoft" and node.op_type == "BiasGelu":
            before = f"{node.name}/biased"
            nodes.append(helper.make_node("Add", list(node.input[:2]), [before], name=f"{node.name}/add"))
            nodes.append(helper.make_node("Gelu", [before], [node.output[0]], name=f"{node.name}/gelu",
                                          domain="com.microsoft"))
        else:
            nodes.append(node)
            continue
        rewritten += 1
    if rewritten:
        del graph.node[:]
        graph.node.extend(nodes)
    return rewritten


def split_copy(source: Path, cache_dir: Path) -> Path:
    """``source`` with its fused layer norms and GELUs split (``split_fusions``), as a file in
    ``cache_dir`` made once (``model_copies.cached_copy``); ``source`` itself when it has none.
    The copies of the same model's earlier versions are matched by its name's first part, since
    ``source`` is itself often a copy whose name carries its own key (block_matmul's)."""
    from rag.encode.model_copies import cached_copy

    return cached_copy(source, cache_dir, SUFFIX, COPY_VERSION, lambda m: m if split_fusions(m) else None,
                       "its fused layer norms and GELUs split", family=Path(source).name.split(".")[0])
