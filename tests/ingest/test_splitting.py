"""Splitting files into bulletins, sentences and chunks: reuse of earlier splits, and the process pool."""

from rag.config import PROJECT_ROOT, Settings
from rag.index.corpus_index import StoredIndex
from rag.index.manifest import Manifest, Recipe
from rag.ingest import splitting
from rag.ingest.files import file_hash, read_corpus


def test_the_process_pool_splits_exactly_as_one_process_does(tmp_path, monkeypatch):
    seed = next((PROJECT_ROOT / "seeds").glob("*.txt")).read_text(encoding="utf-8")
    for n in range(6):  # files that differ, so a mix-up of their order would show
        (tmp_path / f"digest-{n}.txt").write_text(seed.replace("2023", str(2000 + n)), encoding="utf-8")
    files = read_corpus(tmp_path, tmp_path)
    settings = Settings()
    alone = splitting.split_corpus(files, settings, workers=1)
    monkeypatch.setattr(splitting, "PARALLEL_MIN_FILES", 2)
    seen = []
    pooled = splitting.split_corpus(files, settings, workers=2, progress=lambda *a: seen.append(a))
    assert pooled == alone
    bulletins, sentences, chunks = pooled
    assert [c.id for c in chunks] == list(range(len(chunks)))
    assert all(sentences[i].bulletin_id == c.bulletin_id for c in chunks for i in c.sentence_ids)
    assert seen[-1] == ("splitting", len(files), len(files))


def test_unchanged_files_take_their_split_from_the_previous_index(tmp_path, monkeypatch):
    for n in range(3):
        (tmp_path / f"story-{n}.txt").write_text(f"Story {n} Headline\n\nIt rained {n} days. Then it stopped.\n",
                                                 encoding="utf-8")
    files = read_corpus(tmp_path, tmp_path)
    settings = Settings()
    bulletins, sentences, chunks = splitting.split_corpus(files, settings)
    manifest = Manifest(recipe=Recipe.of(settings), corpus=None, files=3, dimension=384, backend=None,
                        index_type="IndexFlatIP", bulletins=len(bulletins), chunks=len(chunks),
                        sentences=len(sentences), embedded=0)
    previous = StoredIndex(manifest, bulletins, chunks, sentences, None, None,
                           [], [], {f.source: file_hash(f) for f in files})
    (tmp_path / "story-1.txt").write_text("Story 1 Headline\n\nIt snowed. A lot.\n", encoding="utf-8")
    changed = read_corpus(tmp_path, tmp_path)
    calls = []
    real = splitting.split_file
    monkeypatch.setattr(splitting, "split_file", lambda f, s: calls.append(f.source) or real(f, s))
    again = splitting.split_corpus(changed, settings, previous)
    monkeypatch.undo()
    assert calls == [f.source for f in changed if "story-1" in f.source]  # only the changed file
    assert again == splitting.split_corpus(changed, settings)
