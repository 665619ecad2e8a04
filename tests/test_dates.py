from rag.dates import find_date, in_range, stated_year


def test_dates_keep_what_the_text_says():
    assert find_date("On March 1, the ministry met.") == "--03-01"
    assert find_date("On March 1, the ministry met.", 2023) == "2023-03-01"
    assert find_date("On March 1, 2022, the ministry met.", 2023) == "2022-03-01"
    assert find_date("Published 2022-11-30.") == "2022-11-30"
    assert find_date("On February 30 nothing happened.") is None
    assert find_date("No date here.") is None


def test_the_year_a_file_states():
    assert stated_year("It met on March 1, 2023. Then on March 5.") == 2023
    assert stated_year("The 2021 and 2022 quotas.") is None  # a year alone is not a date


def test_partial_dates_pass_a_filter_when_some_year_puts_them_inside():
    assert in_range("--03-05", "2023-03-01", "2023-03-31")
    assert not in_range("--04-05", "2023-03-01", "2023-03-31")
    assert in_range("--01-05", "2022-12-01", "2023-01-31")  # across a new year
    assert not in_range("--06-05", "2022-12-01", "2023-01-31")
    assert in_range("--06-05", "2020-12-01", "2023-01-31")  # a whole year inside
    assert in_range("--06-05", "2023-07-01", None)  # open end
    assert in_range("2023-03-05", "2023-03-01", "2023-03-31") and not in_range("2023-04-05", None, "2023-03-31")
    assert not in_range(None, "2023-03-01", None) and in_range(None, None, None)
