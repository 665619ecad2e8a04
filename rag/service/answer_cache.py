"""The answers one engine has given, kept for the same question asked again.

A widget's suggested questions and a team's recurring questions come back many times; the answer
to one is fixed for an index generation (retrieval, the first stage and the answer model are all
deterministic), so it is kept rather than computed again. The cache lives in the ``Engine``, which
is a snapshot of one generation: adding or removing a bulletin makes a new engine with an empty
cache, so an answer never outlives the bulletins it quotes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import replace

from rag.records import Answer


class AnswerCache:
    """At most ``size`` answers, the least recently asked dropped first; ``size`` 0 keeps none.

    Shared by the server's worker threads, hence the lock. Answers go out as copies with their own
    lists and timings, so nothing a caller does to one changes what the next caller gets.
    """

    def __init__(self, size: int):
        self.size = max(0, size)
        self._answers: OrderedDict[Hashable, Answer] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Answer | None:
        if not self.size:
            return None
        with self._lock:
            answer = self._answers.get(key)
            if answer is not None:
                self._answers.move_to_end(key)
        return None if answer is None else _copy(answer)

    def put(self, key: Hashable, answer: Answer) -> None:
        if not self.size:
            return
        with self._lock:
            self._answers[key] = _copy(answer)
            self._answers.move_to_end(key)
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)

    def __len__(self) -> int:
        return len(self._answers)


def _copy(answer: Answer) -> Answer:
    return replace(answer, citations=list(answer.citations), passages=list(answer.passages),
                   timings_ms=dict(answer.timings_ms))
