"""How the engine reads one answer model's outputs: a candidate's rank (the model's logit plus the
first stage's score) and the refusal (a logistic regression over the best logit and the chosen
sentence's first-stage scores), fitted per model and stored in its file's metadata."""

from __future__ import annotations

import math
from dataclasses import dataclass

# What a refusal may weigh: the best answer logit among the candidates, and the chosen sentence's
# first-stage scores (rag/answer/select.py): its relevance and the parts it sums.
REFUSAL_FEATURES = ("best_logit", "relevance", "dense", "lexical", "passage")


@dataclass(frozen=True)
class Calibration:
    """How the engine reads one model's outputs, fitted for that model on SQuAD training articles
    held out of its training (eval/answer_sweep.py ``--fit-abstention N,BLEND --write-calibration``,
    never on SQuAD dev or the project's own questions), and stored in its file's metadata: a
    retrained or smaller model brings its own.

    - ranking: the model's answer logit plus ``heuristic_weight`` times the heuristic score
      (rag/answer/select.py), which knows the passage's rank and the question's rare words;
    - refusal: a logistic regression over ``features`` (names from ``REFUSAL_FEATURES``: the best
      answer logit among the candidates and the chosen sentence's first-stage scores), compared
      with ``threshold`` (the one refusing 10% of answerable questions there).

    The defaults are version 2's (rag/models/MODEL_CARD.md), for files from before this was stored:
    fitted at N=2 candidates (``--fit-abstention 2,8``, the engine's ``answer_candidates``), over
    the best logit and the chosen sentence's relevance (the features of every file before
    2026-12-02, which store no feature names).
    """

    heuristic_weight: float = 8.0
    confidence_weights: tuple[float, ...] = (0.65873, 7.1703)  # one per feature
    confidence_bias: float = -3.84485
    threshold: float = 0.4314
    features: tuple[str, ...] = ("best_logit", "relevance")

    def __post_init__(self):
        unknown = [f for f in self.features if f not in REFUSAL_FEATURES]
        if unknown or len(self.features) != len(self.confidence_weights):
            raise ValueError(f"a calibration needs one weight per feature of {', '.join(REFUSAL_FEATURES)}: "
                             f"got features {list(self.features)} and {len(self.confidence_weights)} weights")

    def metadata(self) -> dict[str, str]:
        return {"calibration.heuristic_weight": repr(self.heuristic_weight),
                "calibration.confidence_weights": ",".join(repr(w) for w in self.confidence_weights),
                "calibration.confidence_bias": repr(self.confidence_bias),
                "calibration.threshold": repr(self.threshold),
                "calibration.confidence_features": ",".join(self.features)}

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> Calibration:
        if "calibration.threshold" not in metadata:
            return cls()
        weights = tuple(float(w) for w in metadata["calibration.confidence_weights"].split(","))
        features = tuple(metadata.get("calibration.confidence_features", "best_logit,relevance").split(","))
        return cls(float(metadata["calibration.heuristic_weight"]), weights,
                   float(metadata["calibration.confidence_bias"]), float(metadata["calibration.threshold"]),
                   features)

    def confidence(self, probabilities: list[float], chosen) -> float:
        """``chosen``: the chosen sentence's first-stage scores (a ScoredSentence, or a sweep row's dict)."""
        z = self.confidence_bias + sum(w * f for w, f in zip(self.confidence_weights,
                                                             confidence_features(probabilities, chosen, self.features)))
        return 1.0 / (1.0 + math.exp(-z))


def confidence_features(probabilities: list[float], chosen, names: tuple[str, ...]) -> tuple[float, ...]:
    """The values of the features ``names`` that the confidence weighs (``Calibration``):
    eval/answer_sweep.py fits it on the same values. ``chosen``: the chosen sentence's first-stage
    scores, as attributes (a ScoredSentence) or keys (a sweep row's candidate)."""
    def part(name: str) -> float:
        if name == "best_logit":
            return max(logit(p) for p in probabilities)
        return float(chosen[name] if isinstance(chosen, dict) else getattr(chosen, name))

    return tuple(part(name) for name in names)


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))

