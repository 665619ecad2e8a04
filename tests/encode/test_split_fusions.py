"""Fused layer norms and GELUs split into standard operators (rag/encode/split_fusions.py)."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

HIDDEN = 16


def fused_block(tmp_path, opset: int = 17) -> tuple:
    """A residual block as the BERT optimiser leaves it: bias + GELU, then skip + bias + layer norm."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = {"gelu_bias": rng.normal(0, 1, HIDDEN), "gamma": rng.normal(1, 0.1, HIDDEN),
               "beta": rng.normal(0, 0.1, HIDDEN), "norm_bias": rng.normal(0, 0.5, HIDDEN)}
    nodes = [
        helper.make_node("BiasGelu", ["x", "gelu_bias"], ["g"], name="gelu", domain="com.microsoft"),
        helper.make_node("SkipLayerNormalization", ["g", "skip", "gamma", "beta", "norm_bias"], ["y"],
                         name="norm", domain="com.microsoft", epsilon=1e-12),
    ]
    tensor = ["batch", "tokens", HIDDEN]
    graph = helper.make_graph(
        nodes, "block",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, tensor),
         helper.make_tensor_value_info("skip", TensorProto.FLOAT, tensor)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, tensor)],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("com.microsoft", 1)])
    path = tmp_path / "fused.onnx"
    onnx.save(model, str(path))
    return model, path


def run(session, x: np.ndarray, skip: np.ndarray) -> np.ndarray:
    return session.run(None, {"x": x, "skip": skip})[0]


def test_the_split_graph_computes_what_the_fused_one_does(tmp_path):
    from rag.encode.split_fusions import split_fusions

    model, path = fused_block(tmp_path)
    assert split_fusions(model) == 2
    ops = [n.op_type for n in model.graph.node]
    assert ops == ["Add", "Gelu", "Add", "Add", "LayerNormalization"]
    split = tmp_path / "split.onnx"
    onnx.save(model, str(split))
    rng = np.random.default_rng(1)
    x, skip = (rng.normal(0, 1, (2, 5, HIDDEN)).astype(np.float32) for _ in range(2))
    fused = run(ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]), x, skip)
    unfused = run(ort.InferenceSession(str(split), providers=["CPUExecutionProvider"]), x, skip)
    assert np.allclose(fused, unfused, atol=1e-5)
    assert split_fusions(model) == 0  # nothing fused is left


def test_the_session_keeps_the_pieces_apart_and_the_copy_is_made_once(tmp_path, monkeypatch):
    """ONNX Runtime would fuse the pieces back on load; ``cpu_session(split=True)`` disables that,
    so the session runs the standard kernels (what the speed comes from: its profile says)."""
    import json

    from rag.encode.onnx_backend import cpu_session
    from rag.encode.split_fusions import split_copy

    _, path = fused_block(tmp_path)
    cache = tmp_path / "cache"
    copy = split_copy(path, cache)
    assert copy.parent == cache and copy.name.endswith(".split-fusions.onnx")
    stamp = copy.stat().st_mtime_ns
    assert split_copy(path, cache) == copy and copy.stat().st_mtime_ns == stamp  # reused, not rewritten
    newer = tmp_path / "fused.3f2a.per-channel-blocks.onnx"  # a new version, as another copy names it
    model = onnx.load(str(path))
    model.graph.node[0].name = "gelu-v2"
    onnx.save(model, str(newer))
    replaced = split_copy(newer, cache)
    assert sorted(p.name for p in cache.iterdir()) == [replaced.name]  # it replaces the old one
    copy = split_copy(path, cache)

    class Profiled(ort.SessionOptions):  # the options cpu_session makes, with its profile on
        def __init__(self):
            super().__init__()
            self.enable_profiling, self.profile_file_prefix = True, str(tmp_path / "profile")

    monkeypatch.setattr(ort, "SessionOptions", Profiled)
    session = cpu_session(path, 1, cache_dir=cache, split=True)
    rng = np.random.default_rng(2)
    x, skip = (rng.normal(0, 1, (1, 3, HIDDEN)).astype(np.float32) for _ in range(2))
    plain = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert np.allclose(run(session, x, skip), run(plain, x, skip), atol=1e-5)
    events = json.loads(open(session.end_profiling()).read())
    kernels = {e["args"]["op_name"] for e in events if e.get("cat") == "Node" and "op_name" in e.get("args", {})}
    assert "SkipLayerNormalization" not in kernels and "BiasGelu" not in kernels
    assert {"LayerNormalization", "Gelu"} <= kernels


def test_a_graph_with_nothing_fused_needs_no_copy(tmp_path):
    from onnx import TensorProto, helper

    from rag.encode.split_fusions import split_copy

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    path = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    assert split_copy(path, tmp_path / "cache") == path
    assert not (tmp_path / "cache").exists()


def test_a_cache_that_cannot_be_written_runs_the_fused_kernels(tmp_path, caplog):
    from rag.encode.onnx_backend import cpu_session

    _, path = fused_block(tmp_path)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    session = cpu_session(path, 1, cache_dir=blocked / "cache", split=True)
    assert "cannot write the split copy" in caplog.text
    x = np.ones((1, 2, HIDDEN), dtype=np.float32)
    assert run(session, x, x).shape == (1, 2, HIDDEN)


def test_a_graph_older_than_opset_17_keeps_its_fused_layer_norms(tmp_path):
    """``LayerNormalization`` came with opset 17: in an older graph only the GELUs are split."""
    from rag.encode.split_fusions import split_fusions

    model, _ = fused_block(tmp_path, opset=13)
    assert split_fusions(model) == 1
    assert [n.op_type for n in model.graph.node] == ["Add", "Gelu", "SkipLayerNormalization"]
