"""Languages: the catalogue is complete and compiled, English stays as written, and the
language follows set_language() and then the environment."""

from __future__ import annotations

import gettext
import pathlib

import pytest

import wslab
import wslab.exercises
from wslab import i18n
from wslab.i18n import catalogue, po

ROOT = pathlib.Path(__file__).resolve().parents[1]
ZH_PO = ROOT / "wslab" / "locale" / "zh_CN" / "LC_MESSAGES" / "wslab.po"


@pytest.fixture(autouse=True)
def _english_after(monkeypatch):
    for var in ("WSLAB_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    yield
    i18n.set_language(None)


def test_every_learner_facing_message_has_a_zh_cn_entry():
    messages = catalogue.scan(ROOT / "wslab")
    assert len({m.msgid for m in messages}) > 100, "the scan finds the wrapped messages"
    lacking = catalogue.missing(messages, po.read(ZH_PO))
    assert not lacking, "no zh-CN entry (run `python tools/i18n.py extract`, translate):\n" + \
        "\n".join(f"  {m.where}: {m.msgid!r}" for m in lacking[:30])


def test_a_changed_english_message_without_an_entry_fails():
    source = 'from wslab.i18n import _\nx = _("PASS")\ny = _("NOT YET")\n'
    entries = po.read(ZH_PO)
    assert catalogue.missing(catalogue.scan_source(source, name="m.py"), entries) == []
    changed = source.replace("NOT YET", "NOT YET!")
    lacking = catalogue.missing(catalogue.scan_source(changed, name="m.py"), entries)
    assert [(m.msgid, m.where) for m in lacking] == [("NOT YET!", "m.py:3")]


def test_messages_are_literals_never_f_strings():
    bad = []
    for path in sorted((ROOT / "wslab").rglob("*.py")):
        bad += catalogue.bad_calls(path.read_text("utf-8"), name=str(path.relative_to(ROOT)))
    assert not bad, bad
    assert catalogue.bad_calls('_(f"{x} frames")', name="m.py") == ["m.py:1"]


def test_translations_keep_the_placeholders_of_the_english_message():
    assert catalogue.placeholder_mismatches(po.read(ZH_PO)) == []
    wrong = [po.Entry("{n} frames", "{m} 个帧"), po.Entry("{n:,} bytes", "{n} 字节"),
             po.Entry("{x!r} sent", "已发送 {x}"), po.Entry("{a} and {b}", "{b} 和 {a}")]
    assert catalogue.placeholder_mismatches(wrong) == ["{n} frames", "{n:,} bytes", "{x!r} sent"]


def test_the_committed_mo_is_compiled_from_the_po():
    """`python tools/i18n.py compile` after every .po edit: the .mo gettext reads is current."""
    for path in (ROOT / "wslab" / "locale").glob("*/LC_MESSAGES/*.po"):
        assert path.with_suffix(".mo").read_bytes() == po.compile_mo(po.read(path)), \
            f"{path.with_suffix('.mo').name} is out of date: run `python tools/i18n.py compile`"


def test_the_compiled_catalogue_reads_back_through_gettext(tmp_path):
    entries = [po.Entry("", "Content-Type: text/plain; charset=UTF-8\n"),
               po.Entry("frame", "帧"), po.Entry("mask", "掩码", ["#, fuzzy"]),
               po.Entry("ping", "")]
    mo = tmp_path / "x.mo"
    mo.write_bytes(po.compile_mo(entries))
    with mo.open("rb") as f:
        t = gettext.GNUTranslations(f)
    assert t.gettext("frame") == "帧"
    assert t.gettext("mask") == "mask"  # fuzzy: not used
    assert t.gettext("ping") == "ping"  # untranslated: English


def test_the_po_reader_reads_continued_strings_and_escapes():
    text = ('# c\nmsgid ""\nmsgstr "h"\n\n#, fuzzy\nmsgid "a \\"b\\"\\n"\n"c"\n'
            'msgstr "甲"\n"乙"\n')
    entries = po.parse_po(text)
    assert [(e.msgid, e.msgstr, e.fuzzy) for e in entries] == \
        [("", "h", False), ('a "b"\nc', "甲乙", True)]
    with pytest.raises(po.PoError, match="x.po:1"):
        po.parse_po('msgid_plural "x"\n', name="x.po")


def test_english_is_the_default_and_prints_as_written():
    assert i18n.language() == "en"
    r = wslab.exercises.Result(False, "look again", "Exercise 1 (accept key)")
    assert str(r) == "Exercise 1 (accept key): [NOT YET] look again"
    assert "NOT YET" in r._repr_html_()


def test_set_language_switches_marks_and_names():
    assert wslab.set_language("zh-CN") == "zh-CN"
    r = wslab.exercises.Result(True, "ok", "Exercise 1 (accept key)")
    assert str(r) == f"{i18n._('Exercise 1 (accept key)')}: [{i18n._('PASS')}] ok"
    assert i18n._("PASS") != "PASS" and "通过" in str(r)
    assert wslab.set_language("en") == "en"
    assert str(r) == "Exercise 1 (accept key): [PASS] ok"


@pytest.mark.parametrize(("env", "want"), [
    ({"WSLAB_LANG": "zh-CN"}, "zh-CN"),
    ({"WSLAB_LANG": "en", "LANG": "zh_CN.UTF-8"}, "en"),
    ({"LANGUAGE": "zh_CN:en"}, "zh-CN"),
    ({"LANG": "zh_CN.UTF-8"}, "zh-CN"),
    ({"LANG": "de_DE.UTF-8"}, "en"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({}, "en"),
])
def test_the_environment_chooses_when_the_notebook_does_not(monkeypatch, env, want):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert i18n.language() == want
    wslab.set_language("en")
    assert i18n.language() == "en"  # the notebook's choice wins


def test_a_language_without_messages_is_refused():
    with pytest.raises(i18n.LanguageError, match="zh-CN") as info:
        wslab.set_language("fr")
    assert isinstance(info.value, wslab.WSLabError)
    assert i18n.normalise("zh-Hans") == i18n.normalise("zh") == "zh-CN"


def test_the_i18n_layer_imports_the_standard_library_and_protocol_errors_only():
    import ast
    import sys
    for path in (ROOT / "wslab" / "i18n").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.module in {"protocol.errors", "po", None}, (path.name, node.module)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) \
                    else [node.module or ""]
                for name in names:
                    assert name.split(".")[0] in sys.stdlib_module_names, (path.name, name)


def test_zh_cn_check_feedback_reads_in_chinese_and_english_stays_as_written():
    from wslab.exercises import ex00, ex01

    def off_by_four(size, from_client):
        return ex00.real_header_bytes(size, from_client) + (4 if not from_client else 0)

    english = str(ex00.check_header_bytes(off_by_four))
    assert english.startswith("Exercise 2 (header bytes): [NOT YET] header_bytes(0, False) "
                              "returned 6; a server frame with a 0-byte payload has 2 header "
                              "bytes:")
    assert english.endswith("only clients mask (5.1).")
    wslab.set_language("zh-CN")
    chinese = str(ex00.check_header_bytes(off_by_four))
    assert chinese.startswith("练习 2(帧头字节数): [还差一点] header_bytes(0, False) 返回了 6")
    assert "只有客户端才加掩码" in chinese
    lower = str(ex01.check_accept_key(lambda key: ex01._b64_sha1(key + ex01.hs.GUID.lower())))
    assert "GUID 写成了小写" in lower and ex01.hs.GUID in lower


def _shadowing(text: str) -> list[int]:
    """Lines of functions that both call ``_()`` and assign the name ``_`` (``x, _ = ...``,
    ``for _ in ...``): there ``_`` is no longer the catalogue and the call fails."""
    import ast
    found = []
    for fn in ast.walk(ast.parse(text)):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        nodes = list(ast.walk(fn))
        calls = any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "_"
                    for n in nodes)
        stores = [n.lineno for n in nodes if isinstance(n, ast.Name) and n.id == "_"
                  and isinstance(n.ctx, ast.Store)]
        if calls and stores:
            found += stores
    return found


def test_no_function_that_translates_rebinds_the_underscore():
    bad = []
    for path in sorted((ROOT / "wslab").rglob("*.py")):
        bad += [f"{path.relative_to(ROOT)}:{n}" for n in _shadowing(path.read_text("utf-8"))]
    assert not bad, bad
    assert _shadowing("def f():\n    a, _ = g()\n    return _('x')\n") == [2]


def test_the_state_diagram_reads_every_protocol_event_and_note_through_the_catalogue():
    """The protocol's state table stays English; wslab.ui.diagrams marks each of its events
    and notes for the catalogue, so a new row without a marked text fails here."""
    from wslab.protocol.state import TRANSITIONS
    from wslab.ui import diagrams
    assert set(diagrams.EVENTS) == {t.event for t in TRANSITIONS}
    assert all(k == v for k, v in diagrams.EVENTS.items())
    assert set(diagrams.NOTES) == {t.note for t in TRANSITIONS}
    english = diagrams.state_table_html()
    assert "close frame received" in english and ">OPEN<" in english
    wslab.set_language("zh-CN")
    chinese = diagrams.state_table_html()
    assert "已收到 Close 帧" in chinese and ">OPEN<" in chinese and ">CLOSING<" in chinese
    assert "close frame received" not in chinese


def test_conformance_cases_read_in_chinese_and_stay_english_as_data():
    from wslab.i18n import Later, shown
    from wslab.labs import conformance
    case = next(c for c in conformance.CASES if c.id == "7.6.1")
    assert case.title == "close code 1001 (valid)" and isinstance(case.title, Later)
    titles = {c.id: c.title for c in conformance.CASES}
    wslab.set_language("zh-CN")
    assert shown(case.title) == "关闭码 1001(有效)"
    assert shown(titles["2.3"]) == "文本,126 字节(16 位长度形式)"
    assert shown(titles["3.1"]) == "文本分成 3 个分片"
    assert case.title == "close code 1001 (valid)"  # the data stays English
    untranslated = [c.id for c in conformance.CASES
                    for text in (c.title, c.expected, c.hint, c.group)
                    if shown(text) == text and not text.startswith(("Close 10", "Sec-", "UTF-8",
                                                                  "close 1000"))]
    assert not untranslated, untranslated


def test_meeting_and_talk_lines_read_in_chinese_and_print_as_written_in_english():
    from wslab.i18n import later
    from wslab.labs.own_server import Meeting, Talk
    what = later(i18n.N_("echoed {text!r} and {data!r}, ping not answered, closed with {code}"),
                 text="hi", data=b"\x00", code=1000)
    m, t = Meeting("wslab.connect", False, what), Talk("ws://x/", ["> TEXT"], [], 1000)
    english = (str(m), str(t))
    assert english == ("wslab.connect          NOT YET  echoed 'hi' and b'\\x00', ping not "
                       "answered, closed with 1000", "ws://x/\n  > TEXT\n  closed with 1000")
    wslab.set_language("zh-CN")
    assert "还差一点" in str(m) and "ping 没有得到回应" in str(m) and "'hi'" in str(m)
    assert str(t).endswith("以 1000 关闭")


def test_every_text_the_browser_client_page_shows_is_marked_and_sent_translated():
    """browser_client.js shows the learner only texts it looks up with tr("..."): each is in
    BrowserClient.JS_TEXTS (so in the catalogue), and the widget carries them translated."""
    import re

    from wslab.ui import browser_client
    js = (ROOT / "wslab" / "ui" / "browser_client.js").read_text("utf-8")
    looked_up = set(re.findall(r'\btr\("((?:[^"\\]|\\.)*)"', js))
    assert len(looked_up) >= 15
    assert looked_up == set(browser_client.JS_TEXTS)
    # no learner-facing literal left outside tr(): button labels, placeholders, details
    assert not re.findall(r'(?:textContent|placeholder|title|ariaLabel|detail): "', js)
    english = browser_client.BrowserClient("ws://127.0.0.1:1/echo")
    assert english.texts == {m: m for m in browser_client.JS_TEXTS}
    wslab.set_language("zh-CN")
    chinese = browser_client.BrowserClient("ws://127.0.0.1:1/echo")
    assert chinese.texts["Connect"] == "连接" and chinese.texts["Close"] == "关闭"
    assert all(v and "{" not in v or k.count("{") == v.count("{")
               for k, v in chinese.texts.items())


def test_lab_printouts_read_in_chinese_and_print_as_written_in_english():
    from wslab.i18n import N_, later
    from wslab.labs.retry_codes import CloseOutcome
    from wslab.labs.wire import WireExchange
    outcomes = [CloseOutcome(1001, 0.25, None), CloseOutcome(1008, None, "policy: no"),
                CloseOutcome(4000, None, None)]
    ex = WireExchange(head=b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
                      steps=[(">", b"\x88\x82", N_("Close 1000 'bye': a clean goodbye")),
                             (">", b"\x81", later(N_("(breaks a rule: {error})"), error="x"))],
                      tcp_closed_by_server=True)
    english = [str(o) for o in outcomes] + [str(ex)]
    assert english[:3] == ["1001: connected again after 250 ms", "1008: gave up (policy)",
                           "4000: neither connected again nor gave up in time"]
    assert english[3].splitlines()[::2] == [
        "server answered: HTTP/1.1 101 Switching Protocols",
        "    Close 1000 'bye': a clean goodbye", "    (breaks a rule: x)"]
    assert english[3].endswith("server closed the TCP connection")
    wslab.set_language("zh-CN")
    chinese = [str(o) for o in outcomes] + [str(ex)]
    assert chinese[0] == "1001:250 ms 后重连成功" and "放弃了(policy)" in chinese[1]
    assert "服务器的回答:HTTP/1.1 101" in chinese[3] and "(违反了规则:x)" in chinese[3]
    assert "客户端 -> 服务器" in chinese[3] and chinese[3].endswith("服务器关闭了 TCP 连接")


def test_the_handshake_transcript_reads_in_chinese_and_keeps_english_data():
    from wslab.i18n import N_, later
    from wslab.labs.by_hand import VARIANTS, Transcript
    from wslab.ui.views import transcript_html
    t = Transcript("ws://x/echo", "missing_key")
    t.add("→", N_("upgrade request"), b"GET", later(
        N_("an ordinary HTTP/1.1 GET asking to switch protocols; the key is 16 random bytes in "
           "base64; variant: {variant}"), variant=later(VARIANTS["missing_key"])), "4.1")
    t.add("←", later(N_("HTTP answer {status}"), status=400), b"HTTP/1.1 400")
    english = str(t)
    assert "→ upgrade request  [RFC 6455 4.1]" in english and "← HTTP answer 400" in english
    assert "variant: no Sec-WebSocket-Key (a malformed request" in english
    wslab.set_language("zh-CN")
    assert t.request == b"GET"  # found by its English title
    html = transcript_html(t)
    assert "升级请求" in html and "HTTP 回答 400" in html and "变体:没有 Sec-WebSocket-Key" in html


def test_what_came_back_in_a_conformance_case_reads_in_chinese():
    from wslab.i18n import shown
    from wslab.labs import conformance as c
    from wslab.protocol.receiver import PongReceived
    events = [PongReceived(b"x"), c._TcpClosed()]
    verdict = c.judge_fail(events, 1002)
    assert verdict.got == "Pong b'x', then TCP closed without a Close frame"
    assert c._story([]) == "nothing"
    braces = c.judge_fail([c._TcpClosed("reset {x}")], 1002).got  # a peer's words: as they are
    wslab.set_language("zh-CN")
    assert shown(verdict.got) == "Pong b'x',然后 TCP 已关闭,没有 Close 帧"
    assert shown(verdict.note) == "服务器把这个帧当作有效帧继续处理;它必须使连接失败(7.1.7)"
    assert shown(braces) == "TCP reset {x},没有 Close 帧"
