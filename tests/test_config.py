"""Settings: the model chooses its own fitted abstention thresholds unless told otherwise."""

import pytest

from rag.config import FITTED_CROSS_LINGUAL_THRESHOLDS, FITTED_THRESHOLDS, MULTILINGUAL_MODEL, Settings
from rag.errors import QueryError, SettingsError


def test_each_model_gets_its_fitted_thresholds():
    default = Settings()
    assert default.model_name == "all-MiniLM-L6-v2" and default.abstain_threshold == 0.43
    e5 = Settings.from_env({"RAG_MODEL": MULTILINGUAL_MODEL})
    assert e5.multilingual and e5.abstain_threshold == FITTED_THRESHOLDS[MULTILINGUAL_MODEL]
    assert e5.cross_lingual_threshold == FITTED_CROSS_LINGUAL_THRESHOLDS[MULTILINGUAL_MODEL]
    switched = default.with_(model=MULTILINGUAL_MODEL)
    assert switched.abstain_threshold == e5.abstain_threshold  # follows the model it switched to
    assert switched.with_(model="").abstain_threshold == 0.43


def test_an_explicit_threshold_wins_over_the_fitted_one():
    chosen = Settings.from_env({"RAG_MODEL": MULTILINGUAL_MODEL, "RAG_ABSTAIN_THRESHOLD": "0.6"})
    assert chosen.abstain_threshold == 0.6
    assert chosen.with_(model="").abstain_threshold == 0.6  # set by hand: kept


def test_the_bundled_model_may_be_named():
    named = Settings(model="all-MiniLM-L6-v2")
    assert named.model_path == Settings().model_path and named.model_name == Settings().model_name


@pytest.mark.parametrize("env", [{"RAG_CHUNK_TOKENS": "8"}, {"RAG_MODE": "fuzzy"}, {"RAG_TOP_K": "five"},
                                 {"RAG_BACKEND": "gpu"}, {"RAG_ANSWERER": "oracle"}, {"RAG_ANSWER_WORKERS": "-1"},
                                 {"RAG_ANSWER_WINDOWS": "maybe"}, {"RAG_QUERY_PRECISION": "fp16"},
                                 {"RAG_HYBRID_WEIGHT": "1.5"}, {"RAG_HYBRID_WEIGHT": "-0.1"}, {"RAG_HYBRID_WEIGHT": "half"}])
def test_a_bad_setting_is_a_settings_error_not_a_query_error(env):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert not isinstance(raised.value, QueryError)  # the server's configuration, not the request, is wrong


def test_a_switch_reads_the_usual_words_for_on_and_off():
    assert Settings().answer_windows is True
    for off in ("0", "false", "No", "off"):
        assert Settings.from_env({"RAG_ANSWER_WINDOWS": off}).answer_windows is False
    for on in ("1", "TRUE", "yes", "on"):
        assert Settings.from_env({"RAG_ANSWER_WINDOWS": on}).answer_windows is True


def test_the_hybrid_weight_default_is_the_searchs_own():
    from rag.search.hybrid import DENSE_WEIGHT

    assert Settings().hybrid_weight == DENSE_WEIGHT == 0.5
    assert Settings.from_env({"RAG_HYBRID_WEIGHT": "0.7"}).hybrid_weight == 0.7
