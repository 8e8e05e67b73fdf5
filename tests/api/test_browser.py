"""The web page at ``/`` driven in a real headless Chromium (Debian's package) by Playwright.

Nothing here downloads a browser: Playwright is pointed at the system Chromium
(``make browser-deps`` installs it and a CJK font). Screenshots land in
``test-artifacts/screenshots/`` for a person to look at.
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.timeout(300)]

SHOTS = REPO / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# The flags this machine's closed network needs (see the machine notes): no background
# fetches, no component updates, no sync, no first-run work.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


def chromium_path() -> str:
    path = os.environ.get("SEMSEARCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        raise RuntimeError(f"Chromium not found at {path}: run `make browser-deps` "
                           "(Debian's chromium and fonts-noto-cjk), or set SEMSEARCH_CHROMIUM")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), headless=True,
                                     args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser, live_server) -> Iterator[object]:
    """A fresh desktop page on the live server; it fails on stray requests or JS errors."""
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    page.set_default_timeout(30_000)
    foreign: list[str] = []
    js_errors: list[str] = []
    page.on("request", lambda r: None if r.url.startswith((live_server.url, "data:"))
            else foreign.append(r.url))
    page.on("pageerror", lambda e: js_errors.append(str(e)))
    page.goto(live_server.url + "/")
    # the header is filled from /v1/info and /v1/collections
    page.get_by_test_id("info-entries").filter(has_text="80").wait_for()
    yield page
    context.close()
    assert foreign == [], "the page must not reach outside the server"
    assert js_errors == []


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def no_horizontal_overflow(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"page is {width}px wide in a {viewport}px viewport"


def search(page, query: str) -> None:
    box = page.get_by_label("用户问题")
    box.fill(query)
    box.press("Enter")


def test_header_shows_model_build_entries_and_thresholds(page) -> None:
    expect_text = {"info-model": "multilingual-e5-small", "info-build": "#",
                   "info-entries": "80", "info-thresholds": "≥"}
    for testid, text in expect_text.items():
        assert text in page.get_by_test_id(testid).inner_text()
    options = page.locator("#search-category option").all_inner_texts()
    assert "账户" in options and options[0] == "全部分类"
    unlabelled = page.evaluate("""[...document.querySelectorAll('input, select, textarea')]
        .filter((el) => el.labels.length === 0).map((el) => el.id)""")
    assert unlabelled == [], "every control needs a <label for>"


def test_search_finds_the_right_entry_first(page) -> None:
    search(page, "退款多久能到账啊")
    first = page.get_by_test_id("hit").first
    first.wait_for()
    assert first.get_attribute("data-external-id") == "refund-001"
    assert "退款多久到账" in first.get_by_test_id("hit-question").inner_text()
    badge = first.get_by_test_id("band-badge")
    assert badge.get_attribute("data-band") in {"high", "medium"}
    assert badge.inner_text() in {"高度相关", "中等相关"}
    assert first.get_by_test_id("matched-kind").inner_text() in {"标准问题", "相似问题", "答案", "答案片段"}
    assert float(first.get_by_test_id("hit-score").inner_text()) > 0.5
    assert "ms" in page.get_by_test_id("search-took").inner_text()
    assert page.get_by_test_id("hit").count() == 5
    assert page.get_by_test_id("search-error").is_hidden()
    no_horizontal_overflow(page)
    shot(page, "search-1280x800.png")

    page.set_viewport_size(PHONE)
    no_horizontal_overflow(page)
    shot(page, "search-390x844.png")


def test_search_category_and_top_k_controls(page) -> None:
    page.get_by_label("分类").select_option("物流")
    page.get_by_label("返回条数").fill("2")
    search(page, "密码记不住了怎么重置")
    page.get_by_test_id("hit").first.wait_for()
    hits = page.get_by_test_id("hit")
    assert hits.count() <= 2
    assert all(t.strip() == "物流" for t in page.locator(".hit .chip.category").all_inner_texts())


def test_similarity_scores_three_candidates(page) -> None:
    page.get_by_role("tab", name="相似度").click()
    page.get_by_label("源句").fill("怎么申请退款")
    candidates = page.get_by_label("候选句（每行一条）")
    candidates.fill("如何申请退货退款\n快递几天能送到\n退款多久能到账")
    candidates.press("Control+Enter")
    rows = page.get_by_test_id("similarity-row")
    rows.first.wait_for()
    assert rows.count() == 3
    for i in range(3):
        row = rows.nth(i)
        assert -1.0 <= float(row.get_by_test_id("similarity-score").inner_text()) <= 1.0
        assert row.get_by_test_id("band-badge").inner_text()
    sorted_scores = [float(s) for s in page.get_by_test_id("similarity-score").all_inner_texts()]
    assert sorted_scores == sorted(sorted_scores, reverse=True)
    assert page.get_by_test_id("similarity-row").first.get_attribute("data-index") != "1"

    page.locator("label[for=sim-order-input]").click()  # the radio sits under its label
    assert page.get_by_label("按输入顺序").is_checked()
    assert [rows.nth(i).get_attribute("data-index") for i in range(3)] == ["0", "1", "2"]
    no_horizontal_overflow(page)
    shot(page, "similarity-1280x800.png")
    page.set_viewport_size(PHONE)
    no_horizontal_overflow(page)
    shot(page, "similarity-390x844.png")


def test_embedding_shows_dimension_norm_and_values(page) -> None:
    page.get_by_role("tab", name="向量").click()
    page.locator("label[for=emb-kind-passage]").click()
    assert page.get_by_label("段落 passage").is_checked()
    text = page.get_by_label("文本", exact=True)
    text.fill("忘记登录密码怎么找回？")
    text.press("Control+Enter")
    page.get_by_test_id("embedding-result").wait_for()
    assert page.get_by_test_id("emb-dim").inner_text() == "384"
    assert abs(float(page.get_by_test_id("emb-norm").inner_text()) - 1.0) < 1e-3
    assert page.get_by_test_id("emb-values").locator("li").count() == 8
    page.get_by_role("button", name="复制为 JSON").click()
    page.get_by_role("status").filter(has_text="已复制").wait_for()
    copied = json.loads(page.evaluate("navigator.clipboard.readText()"))
    assert copied["dimension"] == 384 and len(copied["embedding"]) == 384
    assert copied["input_type"] == "passage"
    no_horizontal_overflow(page)
    shot(page, "embedding-1280x800.png")
    page.set_viewport_size(PHONE)
    no_horizontal_overflow(page)
    shot(page, "embedding-390x844.png")


def test_api_error_is_shown_as_a_message(page) -> None:
    search(page, "密" * 1001)
    alert = page.get_by_test_id("search-error")
    alert.wait_for()
    assert alert.get_attribute("role") == "alert"
    text = alert.inner_text()
    assert "query is 1001 characters; the limit is 1000" in text
    assert "413" in text and "input_too_large" in text
    assert "输入过长" in text
    assert page.get_by_test_id("hit").count() == 0
    shot(page, "error-1280x800.png")

    search(page, "   ")  # caught in the page, before any request
    assert "请输入" in alert.inner_text()
