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
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN", base_url=live_server.url)
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


def api_search(page, query: str) -> dict:
    """What the server itself answers, to know what the page should make of it."""
    response = page.request.post("/v1/search", data={"query": query, "top_k": 5})
    assert response.ok, response.text()
    return response.json()


def open_answers(page) -> int:
    return page.evaluate("[...document.querySelectorAll('[data-testid=hit-answer]')]"
                         ".filter((d) => d.open).length")


def tab_strip_has_no_scrollbar(page) -> None:
    sizes = page.get_by_role("tablist").evaluate(
        "(el) => [el.scrollWidth, el.clientWidth, el.scrollHeight, el.clientHeight]")
    scroll_w, client_w, scroll_h, client_h = sizes
    assert scroll_w <= client_w and scroll_h <= client_h, f"tab strip overflows: {sizes}"


def left_edges(locator) -> list[float]:
    return [round(locator.nth(i).bounding_box()["x"], 1) for i in range(locator.count())]


def test_header_shows_model_build_entries_and_thresholds(page) -> None:
    expect_text = {"info-model": "multilingual-e5-small", "info-build": "#",
                   "info-entries": "80", "info-thresholds": "≥"}
    for testid, text in expect_text.items():
        assert text in page.get_by_test_id(testid).inner_text()
    options = page.locator("#search-category option").all_inner_texts()
    assert "账户" in options and options[0] == "全部分类"
    # the origin of the collection's thresholds replaces the old "未校准" note
    served = page.request.get("/v1/info").json()["collections"]["default"]
    origin = page.get_by_test_id("info-thresholds-source")
    assert origin.inner_text().strip() in {"本集合校准", "手动设置", "模型默认"}
    if served["thresholds_source"] == "model":
        assert origin.inner_text().strip() == "模型默认"
    assert "未校准" not in page.get_by_test_id("info-thresholds").inner_text()
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
    # a good match: the answer is offered, with what to do with it, and no no-answer notice
    assert page.get_by_test_id("no-answer").count() == 0
    assert page.get_by_test_id("nearest-hits").count() == 0
    verdict = page.get_by_test_id("search-verdict")
    assert verdict.get_attribute("data-band") == badge.get_attribute("data-band")
    assert verdict.inner_text().startswith(("可以自动回答", "建议人工确认"))
    assert first.get_by_test_id("hit-answer").evaluate("(d) => d.open")
    assert open_answers(page) == 1
    assert first.get_by_test_id("hit-answer").locator("p").is_visible()
    no_horizontal_overflow(page)
    tab_strip_has_no_scrollbar(page)
    shot(page, "search-1280x800.png")

    page.set_viewport_size(PHONE)
    no_horizontal_overflow(page)
    tab_strip_has_no_scrollbar(page)
    shot(page, "search-390x844.png")


def test_off_topic_query_says_there_is_no_answer(page) -> None:
    query = "今天天气怎么样"
    served = api_search(page, query)
    assert served["hits"] and served["hits"][0]["band"] == "none", "the sample FAQ changed?"
    search(page, query)
    notice = page.get_by_test_id("no-answer")
    notice.wait_for()
    text = notice.inner_text()
    assert "没有找到可以直接回答的条目" in text and "转人工" in text
    assert page.get_by_test_id("search-verdict").count() == 0
    assert "找到 5 条" not in page.get_by_test_id("search-meta").inner_text()
    # the hits are there, but folded away, and no answer is opened
    nearest = page.get_by_test_id("nearest-hits")
    assert nearest.evaluate("(d) => d.tagName === 'DETAILS' && !d.open")
    assert "最接近的条目" in nearest.locator(":scope > summary").inner_text()
    assert nearest.get_by_test_id("hit").count() == page.get_by_test_id("hit").count() == 5
    assert page.get_by_test_id("hit").first.is_hidden()
    assert open_answers(page) == 0
    no_horizontal_overflow(page)
    shot(page, "search-offtopic-1280x800.png")

    page.set_viewport_size(PHONE)
    no_horizontal_overflow(page)
    shot(page, "search-offtopic-390x844.png")
    nearest.locator(":scope > summary").click()  # a person may still look at them
    assert page.get_by_test_id("hit").first.is_visible()
    assert open_answers(page) == 0
    no_horizontal_overflow(page)
    shot(page, "search-offtopic-expanded-390x844.png")


def test_band_legend_and_badge_tooltips(page) -> None:
    legend = page.get_by_test_id("band-legend")
    assert legend.is_visible()
    text = legend.inner_text()
    for label, action in [("高度相关", "可自动回答"), ("中等相关", "建议人工确认"),
                          ("弱相关", "仅作相关问题展示"), ("无关", "转人工")]:
        assert label in text and action in text
    info = page.request.get("/v1/info").json()
    # the current collection's (its own, or the model's)
    served = info["collections"]["default"].get("thresholds") or info["thresholds"]
    assert f"≥ {served['high']:.4f}" in text and f"< {served['low']:.4f}" in text
    hint = page.get_by_test_id("search-hint").inner_text()
    assert "排序综合了语义相似度、关键词匹配与热门问题校正" in hint and "分档只看余弦相似度" in hint

    search(page, "退款多久能到账啊")
    page.get_by_test_id("hit").first.wait_for()
    actions = {"high": "可自动回答", "medium": "建议人工确认", "low": "仅作相关问题展示",
               "none": "转人工"}
    badges = page.get_by_test_id("band-badge")
    assert badges.count() >= 9  # four in the legend, one per hit
    for i in range(badges.count()):
        b = badges.nth(i)
        assert actions[b.get_attribute("data-band")] in (b.get_attribute("title") or "")


def test_rank_score_is_shown_when_the_server_sends_it(page) -> None:
    query = "退款多久能到账啊"
    hits = api_search(page, query)["hits"]
    search(page, query)
    page.get_by_test_id("hit").first.wait_for()
    shown = page.get_by_test_id("rank-score")
    if "rank_score" not in hits[0]:
        assert shown.count() == 0  # an older server: only the cosine, and no "NaN"
        pytest.skip("this server does not send rank_score yet")
    assert shown.count() == len(hits)
    for i, hit in enumerate(hits):
        assert shown.nth(i).inner_text() == f"排序分 {hit['rank_score']:.4f}"
        assert "排序" in shown.nth(i).get_attribute("title")


def test_verdict_follows_the_top_hit_band(page) -> None:
    """Bands and rank scores rewritten on the way to the page, to reach every verdict."""
    case: dict = {}

    def reshape(route) -> None:
        data = route.fetch().json()
        hits = data["hits"]
        for i, hit in enumerate(hits):
            hit["band"] = case["bands"][i] if i < len(case["bands"]) else "none"
            hit["band_label"] = {"high": "高度相关", "medium": "中等相关", "low": "弱相关",
                                 "none": "无关"}[hit["band"]]
            hit.pop("rank_score", None)
            if case.get("rank_scores"):
                hit["rank_score"] = 0.9 - i / 10
        data["hits"] = hits[:case.get("keep", len(hits))]
        route.fulfill(json=data)

    page.route("**/v1/search", reshape)
    hits = page.get_by_test_id("hit")

    case.update(bands=["high"], rank_scores=True)
    search(page, "退款多久能到账啊")
    page.get_by_test_id("search-verdict").filter(has_text="可以自动回答").wait_for()
    assert page.get_by_test_id("search-verdict").get_attribute("data-band") == "high"
    assert "可自动回复" in hits.first.get_by_test_id("hit-answer").locator("summary").inner_text()
    assert open_answers(page) == 1
    assert page.get_by_test_id("rank-score").first.inner_text() == "排序分 0.9000"

    case.update(bands=["low", "low"], rank_scores=False)  # and an older server's hits
    search(page, "退款多久能到账")
    page.get_by_test_id("search-verdict").filter(has_text="弱相关").wait_for()
    assert page.get_by_test_id("related-title").inner_text().startswith("相关问题")
    assert hits.first.is_visible() and open_answers(page) == 0
    assert page.get_by_test_id("rank-score").count() == 0
    assert page.get_by_test_id("no-answer").count() == 0

    # a weak hit ranked below an unrelated one: the top hit decides, nothing is answered
    case.update(bands=["none", "low"], rank_scores=True)
    search(page, "退款多久能到")
    page.get_by_test_id("no-answer").wait_for()
    assert page.get_by_test_id("nearest-hits").evaluate("(d) => !d.open")
    assert open_answers(page) == 0

    case.update(bands=[], keep=0)
    search(page, "退款多久")
    page.get_by_test_id("no-answer").filter(has_text="放宽").wait_for()
    assert page.get_by_test_id("nearest-hits").count() == 0 and hits.count() == 0
    assert "返回 0 条" in page.get_by_test_id("search-took").inner_text()


def test_search_category_and_top_k_controls(page) -> None:
    page.get_by_label("分类", exact=True).select_option("物流")
    page.get_by_label("返回条数").fill("2")
    search(page, "密码记不住了怎么重置")
    # no 物流 entry answers a password question: the hits come folded under the notice
    page.get_by_test_id("no-answer").wait_for()
    page.get_by_test_id("hit").first.wait_for(state="attached")
    hits = page.get_by_test_id("hit")
    assert hits.count() <= 2
    assert all(t.strip() == "物流" for t in page.locator(".hit .chip.category").all_text_contents())


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


def test_similarity_rows_line_up_on_a_phone(page) -> None:
    page.set_viewport_size(PHONE)
    page.get_by_role("tab", name="相似度").click()
    page.get_by_label("源句").fill("怎么申请退款")
    candidates = page.get_by_label("候选句（每行一条）")
    # mixed bands (badges of different widths) and one long line that wraps
    candidates.fill("如何申请退货退款\n快递几天能送到\n退款多久能到账\n"
                    "我在网上买的东西不想要了，想把钱原路退回到我的银行卡里应该怎么操作")
    candidates.press("Control+Enter")
    rows = page.get_by_test_id("similarity-row")
    rows.first.wait_for()
    assert rows.count() == 4
    assert len({rows.nth(i).get_attribute("data-band") for i in range(4)}) > 1
    bars = page.locator(".sim-row .bar")
    for parts in (bars, page.get_by_test_id("similarity-score"),
                  page.get_by_test_id("similarity-results").get_by_test_id("band-badge")):
        assert len(set(left_edges(parts))) == 1, left_edges(parts)
    widths = {round(bars.nth(i).bounding_box()["width"], 1) for i in range(4)}
    assert len(widths) == 1 and widths.pop() > 80
    badge_right = max(b["x"] + b["width"] for b in (
        page.get_by_test_id("similarity-results").get_by_test_id("band-badge").nth(i).bounding_box()
        for i in range(4)))
    card = page.get_by_test_id("similarity-results").bounding_box()
    assert badge_right <= card["x"] + card["width"]
    no_horizontal_overflow(page)
    tab_strip_has_no_scrollbar(page)
    shot(page, "similarity-mixed-390x844.png")


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
    search(page, "退款多久能到账啊")
    page.get_by_test_id("hit").first.wait_for()
    search(page, "密" * 1001)
    alert = page.get_by_test_id("search-error")
    alert.wait_for()
    # the previous question's hits are gone: they would read as this question's answer
    assert page.get_by_test_id("hit").count() == 0
    assert not page.get_by_test_id("search-meta").is_visible()
    assert alert.get_attribute("role") == "alert"
    text = alert.inner_text()
    assert "query is 1001 characters; the limit is 1000" in text
    assert "413" in text and "input_too_large" in text
    assert "输入过长" in text
    # the Chinese explanation is the message; the server's English is the small detail
    message = alert.get_by_test_id("error-message").inner_text()
    assert "输入超出" in message and "limit" not in message
    assert "the limit is 1000" in alert.get_by_test_id("error-detail").inner_text()
    assert page.get_by_test_id("hit").count() == 0
    shot(page, "error-1280x800.png")

    search(page, "   ")  # caught in the page, before any request
    assert "请输入" in alert.inner_text()

    # an error caught in the page clears the previous question's hits too
    search(page, "退款多久能到账啊")
    page.get_by_test_id("hit").first.wait_for()
    page.get_by_label("返回条数").fill("0")
    page.get_by_test_id("search-submit").click()
    page.wait_for_function("document.querySelector('[data-testid=search-error]')"
                           ".innerText.includes('1 到 100')")
    assert page.get_by_test_id("hit").count() == 0
    assert not page.get_by_test_id("search-meta").is_visible()


@pytest.mark.parametrize(("status", "code", "chinese"), [
    (429, "overloaded", "请求过多"), (401, "unauthorized", "令牌"),
    (503, "not_ready", "正在启动"), (507, "storage_full", "存储空间不足"),
    (500, "internal_error", "服务器处理请求时出错"), (418, "teapot", "服务器返回了错误"),
])
def test_server_errors_are_explained_in_chinese(page, status, code, chinese) -> None:
    english = f"an English message for {code}"
    page.route("**/v1/search", lambda route: route.fulfill(
        status=status, json={"error": {"code": code, "message": english, "detail": None}}))
    search(page, "退款多久能到账")
    alert = page.get_by_test_id("search-error")
    alert.wait_for()
    assert chinese in alert.get_by_test_id("error-message").inner_text()
    assert alert.get_by_test_id("error-detail").inner_text() == english
    assert f"{status} · {code}" in alert.inner_text()


def test_network_error_is_explained_in_chinese(page) -> None:
    page.route("**/v1/search", lambda route: route.abort())
    search(page, "退款多久能到账")
    alert = page.get_by_test_id("search-error")
    alert.wait_for()
    assert alert.locator(".alert-title").inner_text() == "网络错误"
    assert "无法连接服务器" in alert.get_by_test_id("error-message").inner_text()
    assert alert.get_by_test_id("error-detail").inner_text()  # the browser's own words


def hittest_count(page) -> int:
    count = page.get_by_test_id("hittest-count")
    count.and_(page.locator("[data-count]")).wait_for()
    return int(count.get_attribute("data-count"))


def test_hit_test_tab_labels_questions(page) -> None:
    from playwright.sync_api import expect

    answered, off_topic = "退款多久能到账啊", "今天天气怎么样"
    path = "/v1/collections/default/testset"
    served = page.request.get(path).json()
    before = {q["query"] for q in served["questions"]}
    assert answered not in before and off_topic not in before, "left over from another run?"
    mine: list[str] = []
    try:
        page.get_by_role("tab", name="命中测试").click()
        assert page.get_by_test_id("tab-hittest").get_attribute("aria-selected") == "true"
        count = page.get_by_test_id("hittest-count")
        n = hittest_count(page)
        assert n == served["count"]
        assert page.get_by_test_id("hittest-total").inner_text() == str(n)
        assert page.get_by_test_id("hittest-unanswerable").inner_text() == \
            str(served["count"] - served["answerable"])
        source = page.get_by_test_id("hittest-source")
        bands = page.request.get("/v1/collections/default/bands").json()
        expect(source).to_have_attribute("data-source", bands["source"])
        assert source.inner_text() == {"calibrated": "本集合校准", "manual": "手动设置",
                                       "model": "模型默认"}[bands["source"]]
        explain = page.get_by_test_id("hittest-explain").inner_text()
        assert "semsearch calibrate --collection default --write" in explain
        assert "semsearch reindex" in explain

        # search, then mark refund-001 as the answer
        box = page.get_by_label("测试问题")
        box.fill(answered)
        page.get_by_test_id("hittest-submit").click()
        hit = page.get_by_test_id("hittest-hit").and_(page.locator("[data-external-id=refund-001]"))
        hit.wait_for()
        assert page.get_by_test_id("hittest-hit").first.get_attribute("data-external-id") == "refund-001"
        assert hit.get_by_test_id("band-badge").inner_text()
        assert 0.5 < float(hit.locator(".score").inner_text()) <= 1.0
        mine.append(answered)
        hit.get_by_test_id("hittest-save").click()
        expect(count).to_have_attribute("data-count", str(n + 1))
        expect(page.get_by_test_id("hittest-status")).to_contain_text("已加入测试集")
        item = page.get_by_test_id("hittest-item").filter(has_text=answered)
        expect(item).to_have_count(1)
        assert item.get_by_test_id("hittest-item-expected").inner_text() == "refund-001"
        assert "refund-001" in page.get_by_test_id("hittest-current").inner_text()
        expect(page.get_by_test_id("hittest-hit").first.get_by_test_id("hittest-save")) \
            .to_have_attribute("aria-pressed", "true")
        stored = {q["query"]: q["expected_ids"] for q in page.request.get(path).json()["questions"]}
        assert stored[answered] == ["refund-001"]
        no_horizontal_overflow(page)
        shot(page, "hittest-1280x800.png")

        # an off-topic question: saved as 无答案
        box.fill(off_topic)
        box.press("Enter")
        page.get_by_test_id("hittest-meta").filter(has_text=off_topic).wait_for()
        mine.append(off_topic)
        page.get_by_test_id("hittest-none").click()
        expect(count).to_have_attribute("data-count", str(n + 2))
        expect(page.get_by_test_id("hittest-none")).to_have_attribute("aria-pressed", "true")
        item = page.get_by_test_id("hittest-item").filter(has_text=off_topic)
        expect(item.get_by_test_id("hittest-item-expected")).to_have_text("无答案")
        assert page.get_by_test_id("hittest-unanswerable").inner_text() == \
            str(served["count"] - served["answerable"] + 1)
        stored = {q["query"]: q["expected_ids"] for q in page.request.get(path).json()["questions"]}
        assert stored[off_topic] == []

        page.set_viewport_size(PHONE)
        no_horizontal_overflow(page)
        tab_strip_has_no_scrollbar(page)
        shot(page, "hittest-390x844.png")

        # delete both: the count is back
        for query in (answered, off_topic):
            page.get_by_test_id("hittest-item").filter(has_text=query) \
                .get_by_test_id("hittest-delete").click()
            expect(page.get_by_test_id("hittest-item").filter(has_text=query)).to_have_count(0)
            mine.remove(query)
        expect(count).to_have_attribute("data-count", str(n))
        expect(page.get_by_test_id("hittest-status")).to_contain_text("已从测试集删除")
        assert page.get_by_test_id("hittest-error").is_hidden()
        no_horizontal_overflow(page)
    finally:  # the live server is shared: leave its set as it was
        for query in mine:
            page.request.delete(path, params={"query": query})
    assert answered not in {q["query"] for q in page.request.get(path).json()["questions"]}


def test_hit_test_tab_keyboard_and_errors(page) -> None:
    page.get_by_test_id("tab-embedding").focus()
    page.keyboard.press("ArrowRight")
    assert page.get_by_test_id("tab-hittest").get_attribute("aria-selected") == "true"
    assert page.evaluate("location.hash") == "#hittest"
    page.keyboard.press("ArrowRight")
    assert page.get_by_test_id("tab-insights").get_attribute("aria-selected") == "true"
    page.keyboard.press("End")
    assert page.get_by_test_id("tab-audit").get_attribute("aria-selected") == "true"
    page.keyboard.press("ArrowRight")  # wraps round to the first tab
    assert page.get_by_test_id("tab-search").get_attribute("aria-selected") == "true"

    page.route("**/v1/collections/default/testset*", lambda route: route.fulfill(
        status=503, json={"error": {"code": "not_ready", "message": "warming up", "detail": None}}))
    page.get_by_test_id("tab-search").click()
    page.get_by_test_id("tab-hittest").click()
    alert = page.get_by_test_id("hittest-error")
    alert.wait_for()
    assert "正在启动" in alert.get_by_test_id("error-message").inner_text()
    assert alert.get_by_test_id("error-detail").inner_text() == "warming up"
    page.get_by_label("测试问题").fill("   ")
    page.get_by_test_id("hittest-submit").click()
    assert "请输入" in alert.inner_text()


def test_feedback_on_a_hit_is_stored_and_can_join_the_hit_test_set(page, live_server) -> None:
    from playwright.sync_api import expect

    from tests.api.test_searchlog import rows

    query = "我的帳號被鎖住了怎麼辦"  # Traditional characters, as a user in Taiwan types
    path = "/v1/collections/default/testset"
    try:
        search(page, query)
        first = page.get_by_test_id("hit").first
        first.wait_for()
        assert page.get_by_test_id("feedback-up").count() == page.get_by_test_id("hit").count()
        first.get_by_test_id("feedback-up").click()
        status = page.get_by_test_id("feedback-status")
        expect(status).to_contain_text("已记录")
        # 👎 on the first hit: say which entry was right, and keep the question as a test
        first.get_by_test_id("feedback-down").click()
        form = page.get_by_test_id("feedback-form")
        expect(form).to_be_visible()
        second = page.get_by_test_id("hit").nth(1).get_attribute("data-external-id")
        assert page.get_by_label("哪一条才对？").input_value() == second
        page.get_by_label("同时加入命中测试集").check()
        shot(page, "feedback-1280x800.png")
        page.get_by_test_id("feedback-submit").click()
        expect(status).to_contain_text("已加入命中测试集")
        expect(form).to_be_hidden()
        stored = {q["query"]: q["expected_ids"] for q in page.request.get(path).json()["questions"]}
        assert stored[query] == [second]
        given = rows(live_server, "SELECT f.helpful, f.entry_id FROM feedback f JOIN search_log s "
                                  "ON s.id = f.search_id WHERE s.query = :q ORDER BY f.id", q=query)
        assert [tuple(r) for r in given][-2:] == [
            (1, first.get_attribute("data-external-id")), (0, second)]
        no_horizontal_overflow(page)
    finally:  # the live server is shared: leave its set as it was
        page.request.delete(path, params={"query": query})


def test_insights_tab_lists_missed_questions_and_applies_a_suggestion(page, live_server) -> None:
    """A collection of its own (the server is shared): questions it cannot answer are
    asked, the tab groups them, 新建条目 turns the group into an entry that answers them."""
    from playwright.sync_api import expect

    base = "/v1/collections/page-loop"
    page.request.put(base)
    page.request.put(base + "/documents/refund", data={"question": "退款多久能到账",
                                                        "answer": "三到五个工作日"})
    try:
        for query in ("礼品卡怎么用", "礼品卡怎么用", "礼品卡怎么使用啊", "今天天气怎么样"):
            page.request.post("/v1/search", data={"query": query, "collection": "page-loop"})
        page.reload()
        page.get_by_label("集合").select_option("page-loop")
        page.get_by_test_id("tab-insights").click()
        group = page.get_by_test_id("insights-group").filter(has_text="礼品卡怎么用")
        expect(group).to_have_count(1)
        expect(page.get_by_test_id("insights-searches")).to_have_text("4")
        assert group.get_attribute("data-suggestion") == "new_entry"
        assert group.get_by_test_id("insights-representative").inner_text() == "礼品卡怎么用"
        # nothing in this FAQ is near the weather: the group says so beside its 新建条目
        weather = page.get_by_test_id("insights-group").filter(has_text="今天天气怎么样")
        expect(weather.get_by_test_id("insights-unrelated")).to_contain_text("与业务无关可不处理")
        no_horizontal_overflow(page)
        shot(page, "insights-1280x800.png")
        page.set_viewport_size(PHONE)
        no_horizontal_overflow(page)
        tab_strip_has_no_scrollbar(page)
        shot(page, "insights-390x844.png")
        group.get_by_label("答案").fill("在结算页选择礼品卡支付")
        group.get_by_test_id("insights-apply").click()
        expect(page.get_by_test_id("insights-status")).to_contain_text("已新建条目")
        # gone from the list (another group may now name the new entry as its nearest)
        expect(page.get_by_test_id("insights-representative").filter(has_text="礼品卡")).to_have_count(0)
        top = page.request.post("/v1/search", data={"query": "礼品卡怎么使用",
                                                    "collection": "page-loop"}).json()["hits"][0]
        assert top["answer"] == "在结算页选择礼品卡支付"
        assert page.get_by_test_id("insights-error").is_hidden()
    finally:
        page.request.delete(base, params={"force": "true"})


def test_an_add_similar_button_adds_to_the_entry_it_names(page, live_server) -> None:
    """The FAQ may change between reading the list and clicking: the button carries out
    what it says (加为 A 的相似问题), not whatever the group suggests by then."""
    from playwright.sync_api import expect

    base = "/v1/collections/page-named"
    page.request.put(base)
    for entry, question in (("gift", "礼品卡在哪里买"), ("coupon", "优惠券怎么领")):
        page.request.put(f"{base}/documents/{entry}", data={"question": question, "answer": "见帮助中心"})
    try:
        ids = [page.request.post("/v1/search", data={"query": "礼品卡能抵运费吗",
                                                     "collection": "page-named"}).json()["search_id"]
               for _ in range(2)]
        page.request.post("/v1/feedback", data={"search_id": ids[0], "helpful": False, "entry_id": "gift"})
        page.reload()
        page.get_by_label("集合").select_option("page-named")
        page.get_by_test_id("tab-insights").click()
        group = page.get_by_test_id("insights-group").filter(has_text="礼品卡能抵运费吗")
        expect(group.get_by_test_id("insights-apply")).to_have_text("加为 gift 的相似问题")
        expect(group.get_by_test_id("insights-unrelated")).to_have_count(0)
        # meanwhile someone else names another entry, twice: the group now suggests that one
        for _ in range(2):
            page.request.post("/v1/feedback", data={"search_id": ids[1], "helpful": False,
                                                    "entry_id": "coupon"})
        group.get_by_test_id("insights-apply").click()
        expect(page.get_by_test_id("insights-status")).to_contain_text("加为 gift 的相似问题")
        gift = page.request.get(f"{base}/documents/gift").json()
        coupon = page.request.get(f"{base}/documents/coupon").json()
        assert "礼品卡能抵运费吗" in gift["similar_questions"]
        assert "礼品卡能抵运费吗" not in coupon["similar_questions"]
    finally:
        page.request.delete(base, params={"force": "true"})


def test_a_new_entry_group_close_to_an_entry_can_join_it_instead(page, live_server) -> None:
    """A group that reached an entry only through one of its similar questions is
    suggested as a new entry; the page says which passage it reached and offers the
    entry as the other way out."""
    from playwright.sync_api import expect

    base = "/v1/collections/page-near"
    page.request.put(base)
    page.request.put(base + "/documents/refund", data={
        "question": "退款多久能到账", "answer": "三到五个工作日", "similar_questions": ["钱什么时候退回来"]})
    try:
        found = page.request.post("/v1/search", data={"query": "钱啥时候退回来",
                                                      "collection": "page-near"}).json()
        assert found["hits"][0]["matched_kind"] == "similar"
        page.request.post("/v1/feedback", data={"search_id": found["search_id"], "helpful": False})
        page.reload()
        page.get_by_label("集合").select_option("page-near")
        page.get_by_test_id("tab-insights").click()
        group = page.get_by_test_id("insights-group").filter(has_text="钱啥时候退回来")
        expect(group).to_have_count(1)
        assert group.get_attribute("data-suggestion") == "new_entry"
        expect(group.get_by_test_id("insights-via")).to_have_text("（经由相似问题「钱什么时候退回来」）")
        expect(group.get_by_test_id("insights-apply")).to_have_text("新建条目")
        instead = group.get_by_test_id("insights-apply-nearest")
        expect(instead).to_have_text("加为 refund 的相似问题")
        no_horizontal_overflow(page)
        shot(page, "insights-near-1280x800.png")
        instead.click()
        expect(page.get_by_test_id("insights-status")).to_contain_text("已把 1 个问题加为 refund 的相似问题")
        refund = page.request.get(f"{base}/documents/refund").json()
        assert refund["similar_questions"] == ["钱什么时候退回来", "钱啥时候退回来"]
        assert page.get_by_test_id("insights-error").is_hidden()
    finally:
        page.request.delete(base, params={"force": "true"})


def test_entries_texts_and_audit_tabs(page, tmp_path) -> None:
    """条目管理 (find, add, edit, delete, upload, export), 去重/聚类 and FAQ 体检 on a
    collection of their own (the server is shared)."""
    from openpyxl import Workbook
    from playwright.sync_api import expect

    base = "/v1/collections/page-entries"
    page.request.put(base)
    for entry_id, question, answer in (("refund", "退款多久能到账", "三到五个工作日"),
                                       ("address", "怎么修改收货地址", "在订单页修改"),
                                       ("refund-old", "退款多久能到账", "七个工作日")):
        page.request.put(f"{base}/documents/{entry_id}", data={"question": question, "answer": answer})
    page.on("dialog", lambda dialog: dialog.accept())
    try:
        page.reload()
        page.get_by_label("集合").select_option("page-entries")
        page.get_by_test_id("tab-entries").click()
        rows = page.get_by_test_id("entry-row")
        expect(rows).to_have_count(3)
        expect(page.get_by_test_id("entries-meta")).to_contain_text("共 3 条")
        page.get_by_label("查找条目").fill("地址")
        page.get_by_test_id("entries-submit").click()
        expect(rows).to_have_count(1)
        assert rows.first.get_attribute("data-external-id") == "address"

        page.get_by_test_id("entries-new").click()
        page.get_by_label("编号", exact=True).fill("gift")
        page.get_by_label("标准问题", exact=True).fill("礼品卡怎么用")
        page.get_by_label("相似问题（每行一个）").fill("礼品卡如何使用\n礼品卡能干嘛")
        page.get_by_test_id("entry-answer").fill("在结算页选择礼品卡支付")
        page.get_by_label("所属分类").fill("支付")
        page.get_by_test_id("entry-save").click()
        expect(page.get_by_test_id("entries-status")).to_contain_text("已保存条目 gift")
        top = page.request.post("/v1/search",
                                data={"query": "礼品卡咋用", "collection": "page-entries"}).json()
        assert top["hits"][0]["external_id"] == "gift"

        page.get_by_label("查找条目").fill("")
        page.get_by_test_id("entries-submit").click()
        expect(rows).to_have_count(4)
        rows.filter(has_text="怎么修改收货地址").get_by_test_id("entry-edit").click()
        page.get_by_test_id("entry-answer").fill("在订单详情页点「修改地址」")
        page.get_by_test_id("entry-save").click()
        expect(page.get_by_test_id("entries-status")).to_contain_text("已保存条目 address")
        assert page.request.get(f"{base}/documents/address").json()["answer"] == "在订单详情页点「修改地址」"

        book = Workbook()
        book.active.append(["标准问题", "相似问题", "答案", "分类"])
        book.active.append(["发票怎么开", "要发票\n开票", "在订单页申请", "发票"])
        good = tmp_path / "常见问题.xlsx"
        book.save(good)
        page.get_by_test_id("upload-file").set_input_files(str(good))
        page.get_by_test_id("upload-submit").click()
        expect(page.get_by_test_id("entries-status")).to_contain_text("新增 1")
        expect(rows).to_have_count(5)
        no_horizontal_overflow(page)
        shot(page, "entries-1280x800.png")

        book.active.merge_cells("A1:B1")
        bad = tmp_path / "merged.xlsx"
        book.save(bad)
        page.get_by_test_id("upload-file").set_input_files(str(bad))
        page.get_by_test_id("upload-submit").click()
        error = page.get_by_test_id("entries-error")
        expect(error).to_contain_text("文件无法导入")
        expect(error).to_contain_text("merged cells")
        assert page.get_by_test_id("entries-status").is_hidden()  # not the last upload's note
        shot(page, "entries-upload-error-1280x800.png")

        # with a key in the header box, the page's writes carry it
        page.get_by_label("API 密钥").fill("key-123")
        page.get_by_label("API 密钥").dispatch_event("change")
        with page.expect_request(lambda r: r.method == "DELETE") as sent:
            rows.filter(has_text="礼品卡怎么用").get_by_test_id("entry-delete").click()
        assert sent.value.headers["authorization"] == "Bearer key-123"
        expect(page.get_by_test_id("entries-status")).to_contain_text("已删除条目 gift")
        expect(rows).to_have_count(4)
        href = page.get_by_test_id("export-xlsx").get_attribute("href")
        exported = page.request.get(href)
        assert exported.status == 200 and exported.body()[:2] == b"PK"
        page.set_viewport_size(PHONE)
        no_horizontal_overflow(page)
        tab_strip_has_no_scrollbar(page)
        shot(page, "entries-390x844.png")
        page.set_viewport_size(DESKTOP)

        page.get_by_test_id("tab-texts").click()
        page.get_by_test_id("texts-input").fill(
            "退款多久能到账\n退款多久能到账？\n怎么修改收货地址\n今天天气怎么样")
        page.get_by_test_id("texts-submit").click()
        expect(page.get_by_test_id("texts-meta")).to_contain_text("4 条文本中有 1 组重复")
        assert page.get_by_test_id("texts-group").first.inner_text().count("退款多久能到账") >= 2
        shot(page, "texts-1280x800.png")

        page.get_by_test_id("tab-audit").click()
        page.get_by_test_id("audit-run").click()
        expect(page.get_by_test_id("audit-conflicts-count")).to_have_text("1")
        expect(page.get_by_test_id("audit-conflicts")).to_contain_text("refund-old")
        shot(page, "audit-1280x800.png")
        for tab in ("entries", "texts", "audit"):
            assert page.get_by_test_id(f"{tab}-error").is_hidden()
    finally:
        page.request.delete(base, params={"force": "true"})
