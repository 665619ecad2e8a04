from rag.corpus import body_range, find_date, read_corpus, split_bulletins
from rag.config import PROJECT_ROOT

from conftest import SEED_FILE, SEEDS

SEED_TITLES = [
    "National Carbon Neutrality Science and Technology Expert Committee Established",
    "IPCC Releases the Synthesis Report of Its Sixth Assessment",
    "National Carbon Market Completes Its First Compliance Cycle",
    "Renewable Energy Capacity Reaches 1.213 Billion Kilowatts",
    "Guidelines Issued for a Carbon Peaking and Carbon Neutrality Standard System",
]


def seed_text() -> str:
    return SEED_FILE.read_bytes().decode("utf-8")


def test_seed_digest_splits_into_its_five_bulletins():
    bulletins = split_bulletins(seed_text(), "seeds/china-climate-digest.txt")
    assert [b.title for b in bulletins] == SEED_TITLES
    assert [b.date for b in bulletins] == ["2023-03-01", "2023-03-20", "2021-12-31", "2023-02-13", "2023-04-01"]


def test_bulletin_ranges_slice_the_original_characters():
    text = seed_text()
    bulletins = split_bulletins(text, "seeds/x.txt")
    for b in bulletins:
        piece = text[b.char_start:b.char_end]
        assert piece.startswith(b.title)
        assert piece == piece.strip()
    # the non-breaking spaces of the seed are kept, not normalised away
    assert any("\u00a0" in text[b.char_start:b.char_end] for b in bulletins)
    # ranges do not overlap and stay in order
    assert all(a.char_end < b.char_start for a, b in zip(bulletins, bulletins[1:]))


def test_subtitle_stays_in_the_body_and_headline_after_one_blank_line_splits():
    text = seed_text()
    bulletins = split_bulletins(text, "seeds/x.txt")
    standards = bulletins[-1]
    body = text[slice(*body_range(text, standards))]
    assert body.startswith("Eleven departments aim for at least 1,000")
    market = bulletins[2]
    before = text[bulletins[1].char_end:market.char_start]
    assert before.count("\n") == 2  # a single blank line separates it from the IPCC bulletin


def test_ids_are_stable_and_unique():
    a = split_bulletins(seed_text(), "seeds/x.txt")
    b = split_bulletins(seed_text(), "seeds/x.txt")
    assert [x.id for x in a] == [x.id for x in b]
    assert len({x.id for x in a}) == len(a)


def test_file_without_headline_is_one_bulletin_titled_by_fallback():
    text = "The ministry said on May 5, 2024, that coal use fell.\n\nIt gave no figures."
    (bulletin,) = split_bulletins(text, "x.txt", fallback_title="Coal report")
    assert bulletin.title == "Coal report"
    assert (bulletin.char_start, bulletin.char_end) == (0, len(text))
    assert bulletin.date == "2024-05-05"


def test_dates_without_a_year_take_the_year_of_the_file():
    assert find_date("On March 1, the ministry met.", 2023) == "2023-03-01"
    assert find_date("On March 1, the ministry met.") is None
    assert find_date("Published 2022-11-30.") == "2022-11-30"


def test_read_corpus_reports_sources_relative_to_the_project():
    (f,) = read_corpus(SEEDS, PROJECT_ROOT)
    assert f.source == "seeds/china-climate-digest.txt"
