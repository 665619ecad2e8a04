"""Recover a trainable checkpoint from a shipped answer model: the int8 ONNX file back to the
float weights of ``eval.train_answer_model``'s network, as a run folder that ``--init`` reads.

Why: the repository keeps every model version, but only as int8 ONNX; the training runs' float
checkpoints lived in temporary folders and are gone. Dequantising the file gives exactly the
weights the shipped model computes with (each int8 value times its scale), so training on from
them continues the shipped version rather than starting again from the base encoder (version 4
took about five hours of CPU training over four runs). What the file cannot give back is the
rounding each weight lost (half an int8 step) and the optimiser's state; a continuation starts
with a fresh schedule anyway.

    python -m eval.recover_answer_model --out /tmp/v8       # from rag/models/answer-minilm.onnx
    python -m eval.train_answer_model --data DATA --out RUN --init /tmp/v8 ...

The graph is the one ``eval.export_answer_model`` writes: ONNX Runtime's BERT fusions, then
dynamic int8 quantisation (``QEmbedLayerNormalization``, ``QAttention``, ``MatMulInteger``) and
8-bit blocks for the feed-forward down-projections (``MatMulNBits``). Each weight is found by
the module path in its node's name, which the exporter takes from the PyTorch module.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

import numpy as np

_LAYER = re.compile(r"layer\.(\d+)/")


def recovered_weights(exported) -> dict[str, np.ndarray]:
    """The float32 weights of an exported answer model (an ``onnx.ModelProto``), keyed by
    ``AnswerNet``'s state-dict names."""
    import onnx
    from onnx import numpy_helper

    from rag.encode.block_matmul import block_weights

    graph = exported.graph
    initializers = {i.name: i for i in graph.initializer}

    def array(name: str) -> np.ndarray:
        return numpy_helper.to_array(initializers[name])

    def dequantised(values: str, scale: str, zero: str) -> np.ndarray:
        return ((array(values).astype(np.float32) - array(zero).astype(np.float32)) * array(scale)).astype(np.float32)

    weights: dict[str, np.ndarray] = {}
    for node in graph.node:
        if node.op_type == "QEmbedLayerNormalization":  # tables and layer norm, 8 bits per tensor
            for values, scale, zero in zip(node.input[2:7], node.input[8:13], node.input[13:18]):
                weights[values.removesuffix("_quantized")] = dequantised(values, scale, zero)
        elif node.op_type == "QAttention":  # one (hidden, 3 hidden) matrix: query, key, value side by side
            layer = _layer(node.output[0])
            qkv = dequantised(node.input[1], node.input[4], node.input[7])
            bias = array(node.input[2])
            for k, part in enumerate(("query", "key", "value")):
                columns = slice(k * qkv.shape[1] // 3, (k + 1) * qkv.shape[1] // 3)
                prefix = f"encoder.encoder.layer.{layer}.attention.self.{part}"
                weights[f"{prefix}.weight"] = np.ascontiguousarray(qkv[:, columns].T)
                weights[f"{prefix}.bias"] = bias[columns].astype(np.float32)
        elif node.op_type == "MatMulInteger" and node.input[1] in initializers:  # per output channel
            values = node.input[1]
            scale = values.removesuffix("_quantized") + "_scale"
            weights[f"{_module(node.name)}.weight"] = np.ascontiguousarray(
                dequantised(values, scale, node.input[3]).T)
        elif node.op_type == "MatMulNBits":
            matrix = block_weights(node, initializers)
            if matrix is None:
                raise ValueError(f"{node.name} is not an 8-bit block layer this recipe writes")
            weights[f"{_module(node.name)}.weight"] = np.ascontiguousarray(matrix.T)
    for name, tensor in initializers.items():  # biases and layer norms stay float, under their module names
        if name.startswith(("encoder.", "answer.", "span.")) and tensor.data_type == onnx.TensorProto.FLOAT \
                and not name.endswith("_scale"):
            weights.setdefault(name, numpy_helper.to_array(tensor).astype(np.float32))
    return weights


def _layer(name: str) -> int:
    found = _LAYER.search(name)
    if found is None:
        raise ValueError(f"no layer number in {name!r}")
    return int(found.group(1))


def _module(node_name: str) -> str:
    """'/encoder/encoder/layer.0/intermediate/dense/MatMul_quant' -> 'encoder.encoder.layer.0.intermediate.dense'."""
    return ".".join(node_name.strip("/").split("/")[:-1])


def layers_of(weights: dict[str, np.ndarray]) -> int:
    return 1 + max(int(k.split(".")[3]) for k in weights if k.startswith("encoder.encoder.layer."))


def main(argv: list[str] | None = None) -> int:
    from rag.answer.model import MODEL_FILE
    from rag.answer.reading import InputLimits

    parser = argparse.ArgumentParser(prog="python -m eval.recover_answer_model", description=__doc__.split("\n\n")[0])
    parser.add_argument("--onnx", type=Path, default=MODEL_FILE, help="the exported model (default: the shipped one)")
    parser.add_argument("--out", type=Path, required=True, help="run folder to write model.pt into")
    args = parser.parse_args(argv)
    if not args.onnx.is_file():
        print(f"error: {args.onnx} is not a file", file=sys.stderr)
        return 2
    import onnx
    import torch
    from google.protobuf.message import DecodeError

    from eval.train_answer_model import _save, build_model

    raw = args.onnx.read_bytes()
    try:
        exported = onnx.load_from_string(raw)
        weights = recovered_weights(exported)
        layers = layers_of(weights)
    except (KeyError, ValueError, DecodeError) as error:
        print(f"error: {args.onnx} is not an answer model this recipe exports: {error}", file=sys.stderr)
        return 2
    model = build_model(layers)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights) - {k for k in expected if k.endswith("position_ids")})
    if missing:
        print(f"error: {args.onnx} lacks weights for {', '.join(missing[:4])}"
              f"{' and more' if len(missing) > 4 else ''}", file=sys.stderr)
        return 2
    state = {k: torch.from_numpy(weights[k]) if k in weights else v for k, v in expected.items()}
    try:
        model.load_state_dict(state)  # strict: every name and shape checked
    except RuntimeError as error:
        print(f"error: {args.onnx} does not fit the base encoder: {str(error).splitlines()[-1].strip()}",
              file=sys.stderr)
        return 2
    metadata = {p.key: p.value for p in exported.metadata_props}
    config = {"layers": layers, "recovered_from": str(args.onnx), "sha256": hashlib.sha256(raw).hexdigest(),
              "limits": InputLimits.from_metadata(metadata).__dict__}
    args.out.mkdir(parents=True, exist_ok=True)
    _save(args.out / "model.pt", {"model": state, "config": config}, torch)
    print(f"{len(weights)} weights of a {layers}-layer model recovered into {args.out / 'model.pt'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
