"""Block-quantised layers rewritten as float ones (rag/encode/block_matmul.py), and the CPU check that chooses it."""

from __future__ import annotations

import numpy as np
import pytest

from rag.encode.cpu import has_int8_dot_product

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def test_int8_dot_products_are_vnni_or_amx():
    assert has_int8_dot_product(frozenset({"avx2", "avx512f", "avx512_vnni"}))
    assert has_int8_dot_product(frozenset({"avx2", "avx_vnni"}))
    assert has_int8_dot_product(frozenset({"amx_int8"}))
    assert not has_int8_dot_product(frozenset({"avx2", "fma", "avx512f"}))
    assert not has_int8_dot_product(frozenset())


def block_quantised(tmp_path, weights: np.ndarray) -> tuple:
    """A one-MatMul graph over ``weights``, quantised by the recipe onnx_backend uses (8 bits, blocks of 128)."""
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    k, n = weights.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="down")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["rows", n])],
        [numpy_helper.from_array(weights, "w")])
    plain = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    copy = onnx.ModelProto()
    copy.CopyFrom(plain)  # the quantiser rewrites the model it is given
    quantiser = MatMulNBitsQuantizer(copy, bits=8, block_size=128, is_symmetric=True, accuracy_level=4)
    quantiser.process()
    path = tmp_path / "blocks.onnx"
    quantiser.model.save_model_to_file(str(path), use_external_data_format=False)
    return plain, path


def run(model_or_path, x: np.ndarray) -> np.ndarray:
    source = str(model_or_path) if not hasattr(model_or_path, "SerializeToString") else model_or_path.SerializeToString()
    return ort.InferenceSession(source, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_block_layers_become_float_matmuls_over_the_same_weights(tmp_path):
    from rag.encode.block_matmul import float_block_matmuls

    rng = np.random.default_rng(0)
    weights = rng.normal(0, 0.05, (384, 96)).astype(np.float32)
    x = rng.normal(0, 1, (5, 384)).astype(np.float32)
    x[:, 7] = 40.0  # an outlier, as GELU outputs have: block-wise int8 activations round around it
    _, path = block_quantised(tmp_path, weights)
    model = onnx.load(str(path))
    assert [n.op_type for n in model.graph.node] == ["MatMulNBits"]

    # ONNX Runtime's own float reading of the block weights: the same node at accuracy level 0
    reference = onnx.ModelProto()
    reference.CopyFrom(model)
    for attribute in reference.graph.node[0].attribute:
        if attribute.name == "accuracy_level":
            attribute.i = 0

    assert float_block_matmuls(model) == 1
    assert [n.op_type for n in model.graph.node] == ["MatMul"]
    [stored] = [onnx.numpy_helper.to_array(i) for i in model.graph.initializer]
    step = np.abs(weights.reshape(3, 128, 96)).max(axis=1) / 127  # one 8-bit step per block and column
    assert np.all(np.abs(stored - weights).reshape(3, 128, 96) <= step[:, None, :] + 1e-7)
    exact = x @ weights
    floated, blocked = run(model, x), run(path, x)
    assert np.allclose(floated, run(reference, x), atol=1e-4)
    # float activations are nearer the unquantised product than int8 ones
    assert np.abs(floated - exact).max() < np.abs(blocked - exact).max()


def test_a_graph_without_block_layers_is_left_alone(tmp_path):
    from rag.encode.block_matmul import float_block_matmuls

    plain, _ = block_quantised(tmp_path, np.ones((128, 4), dtype=np.float32))
    before = plain.SerializeToString()
    assert float_block_matmuls(plain) == 0
    assert plain.SerializeToString() == before


def test_the_float_copy_is_made_once_in_the_cache_and_a_plain_graph_needs_none(tmp_path):
    from rag.encode.block_matmul import float_copy

    rng = np.random.default_rng(1)
    plain, path = block_quantised(tmp_path, rng.normal(0, 0.05, (256, 8)).astype(np.float32))
    cache = tmp_path / "cache"
    copy = float_copy(path, cache)
    assert copy.parent == cache and [n.op_type for n in onnx.load(str(copy)).graph.node] == ["MatMul"]
    stamp = copy.stat().st_mtime_ns
    assert float_copy(path, cache) == copy and copy.stat().st_mtime_ns == stamp  # reused, not rewritten
    x = rng.normal(0, 1, (3, 256)).astype(np.float32)
    assert np.allclose(run(copy, x), run(path, x), atol=0.05)
    _, path = block_quantised(tmp_path, rng.normal(0, 0.05, (256, 8)).astype(np.float32))  # a new version
    newer = float_copy(path, cache)
    assert newer != copy and sorted(cache.iterdir()) == [newer]  # it replaces the old copy
    plain_path = tmp_path / "plain.onnx"
    onnx.save(plain, str(plain_path))
    assert float_copy(plain_path, cache) == plain_path  # nothing to rewrite: the graph as it is


def test_the_per_channel_copy_quantises_the_same_weights_per_output_channel(tmp_path):
    """``per-channel``: the block layers become int8 products with one activation scale per call
    (the answer model's choice on CPUs with int8 dot products); the graph's metadata is kept."""
    from rag.encode.block_matmul import block_copy

    rng = np.random.default_rng(2)
    _, path = block_quantised(tmp_path, rng.normal(0, 0.05, (256, 8)).astype(np.float32))
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {"limits.max_tokens": "96"})
    onnx.save(model, str(path))
    copy = block_copy(path, tmp_path / "cache", "per-channel")
    rewritten = onnx.load(str(copy))
    assert copy.name.endswith(".per-channel-blocks.onnx")
    assert "MatMulInteger" in {n.op_type for n in rewritten.graph.node}
    assert "MatMulNBits" not in {n.op_type for n in rewritten.graph.node}
    assert {p.key: p.value for p in rewritten.metadata_props} == {"limits.max_tokens": "96"}
    x = rng.normal(0, 1, (3, 256)).astype(np.float32)
    assert np.allclose(run(copy, x), run(path, x), atol=0.05)
    assert block_copy(path, tmp_path / "cache", "float") != copy  # each rewrite its own file
    with pytest.raises(ValueError, match="rewritten as one of"):
        block_copy(path, tmp_path / "cache", "int4")


def test_a_cache_that_cannot_be_written_leaves_the_block_layers_as_they_are(tmp_path, caplog):
    from rag.encode.onnx_backend import cpu_session

    _, path = block_quantised(tmp_path, np.ones((128, 4), dtype=np.float32))
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    session = cpu_session(path, 1, blocks="float", cache_dir=blocked / "cache")
    assert "cannot write the float copy" in caplog.text
    assert session.run(None, {"x": np.ones((1, 128), dtype=np.float32)})[0].shape == (1, 4)
