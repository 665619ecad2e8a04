"""Questions in other languages over English bulletins: the question's language, its Latin-script
part (what BM25 and word matching can use), and the kind of answer a Chinese question asks for.

The bulletins are English. A Chinese question shares no words with them, so lexical evidence comes
only from what it writes in Latin script or digits ("IPCC", "2021"); everything else is left to the
multilingual embedding model. Offsets are never touched here: these are copies used for matching.
"""

from __future__ import annotations

import re
import unicodedata

# Han ideographs (unified, extension A, compatibility), and CJK punctuation, kana and Hangul:
# scripts with no word in common with English text.
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK = re.compile(r"[\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u3190-\u31ff"
                  r"\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+")
_WORD = re.compile(r"[^\W_]+(?:['’\-+][^\W_]+)*")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+(?:['’\-][A-Za-z\u00c0-\u024f]+)*")


def question_language(question: str) -> str:
    """``"zh"`` when the question is written mostly in Chinese (more Han characters than Latin
    words: "IPCC在哪里发布了报告？" is Chinese, "What does 碳达峰 mean?" is English), else ``"en"``."""
    han = len(_HAN.findall(question))
    return "zh" if han and han > len(_LATIN_WORD.findall(question)) else "en"


def latin_part(text: str) -> str:
    """``text`` with every run of CJK characters replaced by a space: the words BM25 and the
    answer scorer can match in English text. Text without CJK characters is returned unchanged."""
    if not _CJK.search(text):
        return text
    return " ".join(_CJK.sub(" ", unicodedata.normalize("NFKC", text)).split())


# A Chinese interrogative names the kind of phrase asked for, as the English wh-word does in
# rag/answer/span.py; the English phrase stands in for it there. Order matters: the first match wins.
_ZH_KINDS = [
    ("when", re.compile(r"什么时候|何时|哪一?天|哪一?年|几月|几号|几日|日期|时间")),
    ("how many", re.compile(r"多少|几[个位家项次名人]|多大|比例|百分之")),
    ("where", re.compile(r"在哪|哪里|何地|哪个城市|哪座城市|什么地方|哪个国家|地点")),
    ("who", re.compile(r"谁|哪位|哪些人|什么人|哪个部|哪一?个?机构|哪个部门|哪个组织|哪个委员会")),
]


def span_question(question: str) -> str | None:
    """An English stand-in for a Chinese question, for the span picker: the English wh-phrase of
    the kind it asks for, then its Latin-script words ("IPCC在哪里..." -> "where IPCC"). ``None``
    when its kind is not one the picker can find (a "what" or "why" question): no span then."""
    for english, pattern in _ZH_KINDS:
        if pattern.search(question):
            words = _WORD.findall(latin_part(question)) if _CJK.search(question) else []
            return " ".join([english, *words])
    return None
