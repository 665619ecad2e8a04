"""Splitting files into bulletins: the user's real digest, and six other shapes real files take."""

import pytest

from rag.fileio import format_bulletin, write_bulletin
from rag.ingest.bulletins import body_range, split_bulletins

from helpers import SEED_FILE, SEED_TITLES


def seed_text() -> str:
    return SEED_FILE.read_bytes().decode("utf-8")


def check_ranges(text, bulletins):
    """Every bulletin slices its own characters: it starts at its headline, no white space at
    either end, in order, without overlap."""
    for b in bulletins:
        piece = text[b.char_start:b.char_end]
        assert piece == piece.strip() and piece
    assert all(a.char_end < b.char_start for a, b in zip(bulletins, bulletins[1:]))


def titles(text, **kwargs):
    bulletins = split_bulletins(text, "x.txt", **kwargs)
    check_ranges(text, bulletins)
    return [b.title for b in bulletins]


def test_the_real_seed_gives_its_five_bulletins_titled_by_their_headlines():
    text = seed_text()
    bulletins = split_bulletins(text, "seeds/seed.txt")
    assert [b.title for b in bulletins] == SEED_TITLES
    check_ranges(text, bulletins)
    # the text says "On March 1" but never the year: the date stays partial, nothing is invented
    assert [b.date for b in bulletins] == ["--03-01", "--03-05", None, "--03-20", "--03-30"]
    assert split_bulletins(text, "x", year=2023)[3].date == "2023-03-20"
    # the non-breaking spaces of the real file are kept in the ranges
    assert "\u00a0" in text[bulletins[1].char_start:bulletins[1].char_end]


def test_the_seed_subtitle_and_subheading_stay_inside_their_bulletins():
    text = seed_text()
    miit, _, ipcc = split_bulletins(text, "x")[1:4]
    body = text[slice(*body_range(text, miit))]
    assert body.startswith("Focus on high-end, intelligent and green")
    assert "Increased global temperature rise will bring about an escalation of hazards." in \
        text[slice(*body_range(text, ipcc))]
    assert not text[slice(*body_range(text, ipcc))].startswith("IPCC Releases")


def test_one_bulletin_per_file_is_titled_by_its_headline_not_its_file_name():
    text = "Coal output rises in Shanxi\n\nShanxi mined more coal in May than in April.\n\nExports fell.\n"
    assert titles(text, fallback_title="File name") == ["Coal output rises in Shanxi"]
    assert titles("The ministry said on May 5, 2024, that coal use fell.\n\nIt gave no figures.",
                  fallback_title="Coal report") == ["Coal report"]


def test_markdown_headings_split_at_the_top_level_and_front_matter_names_the_file():
    text = ("# Wind power doubles\n\nCapacity reached 400 GW.\n\n## Outlook\n\nMore is planned.\n\n"
            "# Solar exports grow\n\nExports rose by a third.\n")
    assert titles(text) == ["Wind power doubles", "Solar exports grow"]
    front = "---\ntitle: Hydrogen strategy published\ndate: 2023-04-02\n---\nThe plan sets targets. It says more.\n"
    (bulletin,) = split_bulletins(front, "x.md", fallback_title="File name")
    assert (bulletin.title, bulletin.date) == ("Hydrogen strategy published", "2023-04-02")
    assert front[bulletin.char_start:bulletin.char_end].startswith("The plan sets targets")


def test_a_headline_that_ends_with_a_full_stop_still_titles_its_bulletin():
    text = ("Arctic sea ice reached its second-lowest extent on record.\n\n"
            "Satellite data published on Tuesday show the ice covered 4.1 million square kilometres in "
            "September, against a 1981-2010 average of 6.2 million. Researchers said the loss was driven by "
            "warm Atlantic water.\n")
    (bulletin,) = split_bulletins(text, "x.txt", fallback_title="File name")
    assert bulletin.title == "Arctic sea ice reached its second-lowest extent on record."
    assert text[slice(*body_range(text, bulletin))].startswith("Arctic sea ice")  # it may be the lede


def test_long_headlines_are_headlines():
    head = ("State Council issues guiding opinions on accelerating the green and low-carbon transformation of "
            "traditional industries including steel, cement and chemicals")  # 22 words
    text = f"{head}\n\nThe opinions set targets for 2025. They name five sectors.\n\n\n\nSecond story here\n\nIt says more.\n"
    assert titles(text) == [head, "Second story here"]


def test_crlf_line_endings_and_a_byte_order_mark():
    text = "\ufeffCoal output rises\r\n\r\nShanxi mined more coal.\r\n\r\n\r\n\r\nWind power doubles\r\n\r\nCapacity rose.\r\n"
    bulletins = split_bulletins(text, "x.txt")
    assert [b.title for b in bulletins] == ["Coal output rises", "Wind power doubles"]
    check_ranges(text, bulletins)
    assert text[bulletins[0].char_start] == "C"  # the mark is not part of the bulletin


def test_a_digest_whose_bulletins_are_separated_by_a_single_blank_line():
    text = ("Coal output rises in Shanxi\n\nShanxi mined more coal in May. Output rose 4%.\n\n"
            "Officials expect more in June.\n\n"
            "Wind power capacity doubles\n\nInstalled wind capacity reached 400 GW.\n\n"
            "Solar exports grow\n\nExports of panels rose by a third.\n")
    assert titles(text) == ["Coal output rises in Shanxi", "Wind power capacity doubles", "Solar exports grow"]


def test_a_paragraph_that_ends_with_a_colon_or_a_hard_wrapped_line_is_not_a_headline():
    text = ("Ministry sets three priorities\n\nThe ministry will focus on the following three aspects:\n\n"
            "In terms of greening, it will build green factories.\n")
    assert titles(text) == ["Ministry sets three priorities"]
    wrapped = "The U.S. Agriculture Department said the\nwheat crop would be smaller than expected.\n"
    assert titles(wrapped, fallback_title="Wheat") == ["Wheat"]


@pytest.mark.parametrize("single", [True, False])
def test_ids_are_stable_and_unique(single):
    a = split_bulletins(seed_text(), "seeds/x.txt", single=single)
    b = split_bulletins(seed_text(), "seeds/x.txt", single=single)
    assert [x.id for x in a] == [x.id for x in b]
    assert len({x.id for x in a}) == len(a) == (1 if single else 5)


def test_a_written_bulletin_reads_back_with_its_title_and_date(tmp_path):
    write_bulletin(tmp_path / "wind.txt", "Wind Farm Opens", "A wind farm opened in Gansu.", "2024-05-02")
    text = (tmp_path / "wind.txt").read_text(encoding="utf-8")
    assert text == format_bulletin("Wind Farm Opens", "A wind farm opened in Gansu.", "2024-05-02")
    [bulletin] = split_bulletins(text, "wind.txt")
    assert (bulletin.title, bulletin.date) == ("Wind Farm Opens", "2024-05-02")
