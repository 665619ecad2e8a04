"""The progress bar of long builds: it reports each stage without flooding a log file."""

from rag.progress import ProgressBar


def test_a_log_file_gets_a_few_lines_not_one_per_chunk(capsys):
    bar = ProgressBar()
    for done in range(0, 5001, 100):
        bar("splitting", done, 5000)
    for done in range(1, 20001):  # one report per chunk, as bulk encoding makes them
        bar("embedding", done, 20000)
    bar.close()
    err = capsys.readouterr().err
    assert "index: splitting" in err and "index: embedding" in err
    assert "20000/20000" in err  # the end of a stage is shown
    assert err.count("\r") < 20, f"{err.count(chr(13))} redraws"
