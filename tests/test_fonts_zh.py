"""Chinese plot text: drawn with a CJK font when one is installed, else English with one note
(never boxes in place of characters)."""

from __future__ import annotations

import warnings

import pytest

from tests.conftest import need
from wslab import i18n
from wslab.ui import fonts, plots

SAMPLES = [0.001 + i * 1e-5 for i in range(50)]


@pytest.fixture(autouse=True)
def _fresh():
    fonts.reset()
    yield
    i18n.set_language(None)
    fonts.reset()


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))
            if t.get_text()]


def _draw_without_missing_glyphs(fig) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*[Gg]lyph.*missing")
        plots.figure_png(fig)  # a character the fonts cannot draw warns ("Glyph ... missing")


def test_english_plots_are_unchanged_by_the_font_lookup(monkeypatch):
    monkeypatch.setenv("WSLAB_LANG", "en")
    fig = plots.rtt_series(SAMPLES)
    assert "Echo round trip, one message at a time" in _texts(fig)
    assert fonts._found == []  # English never looks for a CJK font


def test_zh_cn_plots_use_a_cjk_font_when_one_is_installed(capsys):
    need(fonts.cjk_family() is not None,
         "a CJK font (apt-get install fonts-noto-cjk; tests/sysdeps.py)")
    i18n.set_language("zh-CN")
    fig = plots.rtt_series(SAMPLES)
    texts = _texts(fig)
    assert "回显往返时间,一次一条消息" in texts and "消息序号" in texts
    assert any(t.startswith("中位数 ") for t in texts)  # the legend's median line
    _draw_without_missing_glyphs(fig)
    import matplotlib
    assert matplotlib.rcParams["font.family"] == ["sans-serif", fonts.cjk_family()]
    i18n.set_language("en")
    plots.rtt_series(SAMPLES)
    assert matplotlib.rcParams["font.family"] == ["sans-serif"]  # English: as matplotlib was
    assert capsys.readouterr().err == ""


def test_without_a_cjk_font_plots_stay_english_with_one_note(monkeypatch, capsys):
    monkeypatch.setattr(fonts, "_families", lambda: {"DejaVu Sans"})
    monkeypatch.setattr(fonts, "_add_files_on_disk", lambda: None)
    i18n.set_language("zh-CN")
    fig = plots.rtt_series(SAMPLES)
    _draw_without_missing_glyphs(plots.rtt_histogram(SAMPLES))
    texts = _texts(fig)
    assert "Echo round trip, one message at a time" in texts and "message number" in texts
    _draw_without_missing_glyphs(fig)
    err = capsys.readouterr().err
    assert err.count("fonts-noto-cjk") == 1  # one note, for two plots
    assert "中文字体" in err  # the note itself is in the learner's language


def test_a_cjk_font_installed_after_matplotlib_cached_its_fonts_is_found(monkeypatch):
    added = []
    monkeypatch.setattr(fonts, "_families",
                        lambda: {"DejaVu Sans", *(["Noto Sans CJK SC"] if added else [])})
    monkeypatch.setattr(fonts, "_add_files_on_disk", lambda: added.append(True))
    assert fonts.cjk_family() == "Noto Sans CJK SC" and added == [True]


def _screen():
    from tests import test_screen_plots
    return test_screen_plots


@pytest.mark.parametrize("name", list(_screen().FIGURES))
def test_every_figure_in_chinese_fits_and_has_no_missing_glyphs(name):
    """The screen checks of tests/test_screen_plots.py, on the zh-CN figures: no two texts
    overlap, none is cut off, every character has a glyph."""
    need(fonts.cjk_family() is not None,
         "a CJK font (apt-get install fonts-noto-cjk; tests/sysdeps.py)")
    screen = _screen()
    i18n.set_language("zh-CN")
    fig = screen.FIGURES[name]()
    _draw_without_missing_glyphs(fig)
    screen.render(fig)
    assert screen.text_overlaps(fig) == []
    assert screen.texts_cut_off(fig) == []
