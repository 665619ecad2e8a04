"""ONNX Runtime copies of the embedding model: int8 for fast encoding on CPUs without AMX (the
corpus, and by default questions), fp32 for questions where ``RAG_QUERY_PRECISION=fp32`` (the same
vectors as sentence-transformers at a third of its per-call cost).

The copies are made from the local sentence-transformers model (nothing is downloaded): the
transformer with mean pooling and L2 normalisation is exported to ONNX (with the token states as
a second output, which sentence vectors are pooled from) with eager attention, whose pattern ONNX
Runtime's transformer optimiser fuses (attention, layer norms, GELU). Then the weight matrices
are quantised to int8 per output channel (dynamic quantisation: activations get one int8 scale
per tensor), except the feed-forward down-projections, whose GELU inputs have outliers that a
single scale flattens: those get 8-bit weights in blocks of 128 with int8 arithmetic on
activations quantised block by block (``MatMulNBits``, accuracy level 4); on CPUs without int8
dot products (no VNNI or AMX) those run in float over the same weights (``block_matmul``), where
ONNX Runtime's block kernel is slower than float. Attention scores stay in float. The vectors
stay within ~0.99 cosine of fp32. The results are cached in a folder (by default
``INDEX/models/``) under a key of the model files and library versions, written atomically, so it
is made once per model and machine setup.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from rag.errors import IndexStateError
from rag.fileio import write_atomic

log = logging.getLogger(__name__)
EXPORT_VERSION = 5  # bump when the export or quantisation recipe changes
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "bulletin-rag-models"  # ONNX copies when no index folder is given


def onnx_available() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def cached_models(model, model_path: str, cache_dir: Path) -> tuple[Path, Path]:
    """Paths of the fp32 and int8 ONNX copies of ``model`` in ``cache_dir``, exported on first use."""
    found = cached(model_path, cache_dir)
    if found:
        return found
    key = _cache_key(model_path)
    plain, quantised = Path(cache_dir) / f"{key}.fp32.onnx", Path(cache_dir) / f"{key}.int8.onnx"
    log.info("exporting the embedding model to ONNX (fp32 and int8) in %s, once", cache_dir)
    try:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".export-") as tmp:
            exported, reduced = Path(tmp) / "model.onnx", Path(tmp) / "model.int8.onnx"
            _export(model, model_path, exported)
            _optimise(exported, model)
            _quantise(exported, reduced)
            write_atomic(quantised, reduced.read_bytes())
            write_atomic(plain, exported.read_bytes())
    except OSError as exc:
        raise IndexStateError(f"cannot write the ONNX model in {cache_dir}: {exc.strerror or exc}") from None
    return plain, quantised


def cached(model_path: str, cache_dir: Path) -> tuple[Path, Path] | None:
    """The fp32 and int8 copies if both are already in ``cache_dir``, else ``None``."""
    key = _cache_key(model_path)
    plain, quantised = Path(cache_dir) / f"{key}.fp32.onnx", Path(cache_dir) / f"{key}.int8.onnx"
    return (plain, quantised) if plain.is_file() and quantised.is_file() else None



BLOCK_LAYERS = ("int8", "float", "per-channel")  # how 8-bit block layers run: as stored, or block_matmul.REWRITES


def cpu_session(path: Path, threads: int, blocks: str = "int8", cache_dir: Path | None = None,
                split: bool = False):
    """An ONNX Runtime session on the CPU with ``threads`` intra-op threads that do not spin;
    ``blocks``: how its 8-bit block-quantised layers run (``BLOCK_LAYERS``): as stored, in float
    (for CPUs without int8 dot products: ``cpu.has_int8_dot_product``) or per channel
    (``block_matmul``); ``split``: its fused layer norms and GELUs split into faster standard
    operators (``split_fusions``); the rewrites from copies made once in ``cache_dir`` (default: a
    folder in the system's temporary directory)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    # Busy-waiting threads steal the other core from the process next door on a shared machine.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if blocks not in BLOCK_LAYERS:
        raise ValueError(f"block layers run as one of {', '.join(BLOCK_LAYERS)}, not {blocks!r}")
    if blocks != "int8":
        from rag.encode.block_matmul import block_copy

        try:
            path = block_copy(path, cache_dir or DEFAULT_CACHE, blocks)
        except OSError as exc:  # a read-only cache: the shipped graph still answers, a little slower
            log.warning("cannot write the %s copy of %s (%s); running its block layers as stored",
                        blocks, path, exc.strerror or exc)
    disabled = []
    if split:
        from rag.encode.split_fusions import REFUSIONS, split_copy

        try:
            path, disabled = split_copy(path, cache_dir or DEFAULT_CACHE), list(REFUSIONS)
        except OSError as exc:
            log.warning("cannot write the split copy of %s (%s); running its fused kernels",
                        path, exc.strerror or exc)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"],
                                disabled_optimizers=disabled)

class OnnxEncoder:
    """Runs an ONNX copy with the model's own tokenizer (``tokenizer.json``) and maximum length.

    Needs neither torch nor sentence-transformers, so a service whose copies are cached starts
    in a second or two instead of importing them.
    """

    def __init__(self, onnx_path: Path, model_path: str, threads: int, float_blocks: bool = False):
        from tokenizers import Tokenizer

        self._session = cpu_session(onnx_path, threads, "float" if float_blocks else "int8", Path(onnx_path).parent)
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.dimension = int(self._session.get_outputs()[0].shape[-1])
        self._tokenizer = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
        # tokenizer.json may fix its own padding and length; use the sentence-transformers settings.
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_sequence_length(model_path))
        pad = _special_token(model_path, "pad_token", "[PAD]")
        self._tokenizer.enable_padding(pad_id=self._tokenizer.token_to_id(pad) or 0, pad_token=pad)

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised vectors of ``texts`` (one padded batch)."""
        return self._run(self._tokenizer.encode_batch(texts), ["embedding"])[0].astype(np.float32)

    def encode_tokens(self, texts: list[str]) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """Vectors of ``texts`` with, per text, its token states and their character offsets."""
        batch = self._tokenizer.encode_batch(texts)
        pooled, states = self._run(batch, ["embedding", "tokens"])
        lengths = [sum(e.attention_mask) for e in batch]
        return (pooled.astype(np.float32), [states[i, :n] for i, n in enumerate(lengths)],
                [np.array(e.offsets[:n], dtype=np.int64).reshape(-1, 2) for e, n in zip(batch, lengths)])

    def _run(self, batch, outputs: list[str]) -> list[np.ndarray]:
        feed = {"input_ids": np.array([e.ids for e in batch], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in batch], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in batch], dtype=np.int64)}
        return self._session.run(outputs, {k: v for k, v in feed.items() if k in self._inputs})


def max_sequence_length(model_path: str) -> int:
    """The model's ``max_seq_length`` as sentence-transformers reads it (sentence_bert_config.json)."""
    try:
        config = json.loads((Path(model_path) / "sentence_bert_config.json").read_text(encoding="utf-8"))
        return int(config["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return 512


def _special_token(model_path: str, name: str, default: str) -> str:
    try:
        value = json.loads((Path(model_path) / "special_tokens_map.json").read_text(encoding="utf-8"))[name]
    except (OSError, ValueError, KeyError):
        return default
    return value.get("content", default) if isinstance(value, dict) else str(value)


def _cache_key(model_path: str) -> str:
    from importlib.metadata import version

    # Versions from package metadata: importing torch here would cost seconds at start-up.
    digest = hashlib.sha1(f"v{EXPORT_VERSION}|ort {version('onnxruntime')}|torch {version('torch')}".encode())
    for path in sorted(Path(model_path).rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path.relative_to(model_path)}|{stat.st_size}|{int(stat.st_mtime)}".encode())
    return digest.hexdigest()[:16]


def _export(model, model_path: str, path: Path) -> None:
    """Export transformer + mean pooling + normalisation of a sentence-transformers model."""
    import torch
    from transformers import AutoModel

    transformer, pooling = model[0], model[1]
    mean = getattr(pooling, "pooling_mode", None) == "mean" or getattr(pooling, "pooling_mode_mean_tokens", False)
    if not mean or len(model) > 3:
        raise IndexStateError("the onnx-int8 backend supports mean-pooled models only: set RAG_BACKEND=fp32")
    # The same weights with eager attention: the SDPA export's masking ops block fusion.
    encoder = AutoModel.from_pretrained(model_path, local_files_only=True, attn_implementation="eager")

    class Pooled(torch.nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1), hidden

    sample = transformer.tokenizer(["an example", "a slightly longer example text"], padding=True,
                                   return_tensors="pt")
    token_types = sample.get("token_type_ids", torch.zeros_like(sample["input_ids"]))
    dynamic = {name: {0: "batch", 1: "tokens"} for name in ("input_ids", "attention_mask", "token_type_ids")}
    dynamic["embedding"] = {0: "batch"}
    dynamic["tokens"] = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        # The TorchScript exporter: it needs no onnxscript and handles this model in ~2 s.
        torch.onnx.export(Pooled(encoder).eval(),
                          (sample["input_ids"], sample["attention_mask"], token_types), str(path),
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["embedding", "tokens"], dynamic_axes=dynamic, opset_version=17, dynamo=False)


@contextmanager
def quiet_root_logger():
    """ONNX Runtime's optimiser and quantisers log hints at INFO and WARNING on the root logger;
    they do not apply here, so only errors get through while one runs."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _optimise(path: Path, model) -> None:
    """Fuse attention, layer norms and GELU in place (ONNX Runtime's BERT optimiser, offline)."""
    from onnxruntime.transformers.optimizer import optimize_model

    config = model[0].auto_model.config
    with quiet_root_logger():
        optimised = optimize_model(str(path), model_type="bert", num_heads=config.num_attention_heads,
                                   hidden_size=config.hidden_size)
        optimised.save_model_to_file(str(path))


def _sensitive_nodes(model) -> list[str]:
    """The feed-forward down-projections: their inputs (GELU outputs) have outliers that a
    per-tensor int8 activation scale flattens (worst cosine to fp32 on the seeds 0.988 -> 0.995
    with block-wise activation scales)."""
    return [n.name for n in model.graph.node
            if n.op_type == "MatMul" and "/output/dense" in n.name and "attention" not in n.name]


def quantise_per_channel(source: Path, target: Path, *, only: list[str] | None = None,
                         exclude: list[str] | None = None) -> None:
    """``source``'s float matrix products (those named ``only``, or all but ``exclude``) as int8
    weights per output channel with one activation scale per call, written to ``target``: the
    recipe's dynamic quantisation, also used to rewrite block layers (``block_matmul``)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with quiet_root_logger():
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                         nodes_to_quantize=only, nodes_to_exclude=exclude,
                         extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT})


def _quantise(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    sensitive = _sensitive_nodes(onnx.load(str(source)))
    quantise_per_channel(source, target, exclude=sensitive)
    with quiet_root_logger():
        # Block-wise int8 for the down-projections: 8-bit weights (block 128), int8 compute.
        partly = onnx.load(str(target))
        others = [n.name for n in partly.graph.node if n.op_type == "MatMul" and n.name not in sensitive]
        blocks = MatMulNBitsQuantizer(partly, bits=8, block_size=128, is_symmetric=True, accuracy_level=4,
                                      nodes_to_exclude=others)
        blocks.process()
        blocks.model.save_model_to_file(str(target), use_external_data_format=False)


def quantise_int8(source: Path, target: Path) -> None:
    """This module's int8 recipe for any BERT-shaped ONNX graph (the answer model's export uses it too)."""
    _quantise(source, target)
