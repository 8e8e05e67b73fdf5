// semsearch web page: FAQ search, similarity, embeddings, the hit-test set, the missed
// questions, entry management, dedup/clustering and the FAQ audit over the public JSON API.
// Plain DOM code, no build step; every text from the server goes in through textContent.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  const BAND_LABELS = { high: "高度相关", medium: "中等相关", low: "弱相关", none: "无关" };
  // What a support lead should do with a hit of each band. One table feeds the legend,
  // the badge tooltips and the verdict above the hits, so they always say the same.
  const BAND_ACTIONS = { high: "可自动回答", medium: "建议人工确认", low: "仅作相关问题展示",
                         none: "转人工" };
  const BANDS = ["high", "medium", "low", "none"];
  // whether ``band`` is ``floor`` or better (BANDS runs best first)
  const atLeast = (band, floor) => BANDS.indexOf(band) >= 0 && BANDS.indexOf(band) <= BANDS.indexOf(floor);
  const KIND_LABELS = { question: "标准问题", similar: "相似问题", answer: "答案", chunk: "答案片段" };
  // Error codes of the JSON error shape (and a few of the page's own) -> [title, what it
  // means in Chinese]. The server's message is English, so it is shown only as detail.
  const ERRORS = {
    invalid_input: ["输入无效", "请求内容不符合要求，请检查输入后重试。"],
    invalid_json: ["输入无效", "请求内容不是有效的 JSON。"],
    bad_request: ["请求无效", "服务器无法处理这个请求。"],
    method_not_allowed: ["请求无效", "服务器不支持这种请求方式。"],
    unsupported_media_type: ["请求无效", "服务器不接受这种请求格式。"],
    input_too_large: ["输入过长", "输入超出了服务允许的长度或数量，请缩短后重试。"],
    not_found: ["未找到", "请求的集合或条目不存在，可能已被删除或尚未构建。"],
    not_ready: ["服务尚未就绪", "服务正在启动或索引尚未加载完成，请稍后重试。"],
    overloaded: ["服务繁忙，请稍后重试", "当前请求过多，服务暂时处理不过来，请等几秒再试。"],
    rate_limited: ["请求过于频繁", "请求过于频繁，请稍后再试。"],
    unauthorized: ["未授权", "缺少访问令牌或令牌不正确，请联系管理员。"],
    forbidden: ["无权限", "当前令牌无权执行这个操作。"],
    storage_full: ["存储空间已满", "服务器存储空间不足，无法保存数据，请联系管理员清理空间。"],
    internal_error: ["服务器内部错误", "服务器处理请求时出错，请稍后重试；一直出现时请联系管理员。"],
    config_error: ["配置错误", "服务的配置有误，请联系管理员。"],
    model_error: ["模型不可用", "模型无法加载，请联系管理员。"],
    index_mismatch: ["索引不可用", "索引与当前模型不匹配，需要重新构建索引。"],
    index_corrupt: ["索引已损坏", "索引文件缺失或被改动，需要重新构建索引。"],
    network: ["网络错误", "无法连接服务器，请检查网络，或确认服务仍在运行，然后重试。"],
    bad_response: ["响应无法解析", "服务器返回了无法解析的内容。"],
    http_error: ["请求失败", "服务器返回了错误，但没有说明原因。"],
    index: ["索引加载失败", "部分集合的索引无法加载，检索这些集合会失败。"],
    source_error: ["文件无法导入", "文件的列名或其中的行有问题，没有做任何修改；请按下方说明改正后重新导入。"],
    shrink_refused: ["已拒绝：会删除一半以上的条目", "为防止误删，没有做任何修改；请检查文件是否完整，或改用「合并」导入。"],
    reindex_busy: ["正在导入或重建索引", "另一次导入或重建正在进行，请等它完成后再试。"],
    quality_gate: ["新索引未启用", "新索引在命中测试集上的表现变差，已拒绝启用，没有做任何修改。"],
  };
  const UNKNOWN_ERROR = ["请求失败", "服务器返回了错误，详情见下方。"];

  const state = { info: null, collections: [], thresholds: null, simRows: [], bandSources: {} };

  // ---- helpers -------------------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = value;
      else if (key.startsWith("data-") || key.startsWith("aria-") || key === "role") {
        el.setAttribute(key, value);
      } else el[key] = value;
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  class ApiError extends Error {
    constructor(status, code, message, detail) {
      super(message);
      Object.assign(this, { status, code, detail });
    }
  }

  // The API key (when the server has keys) is kept for this browser tab only.
  const KEY_STORE = "semsearch-api-key";

  function authHeaders() {
    const key = sessionStorage.getItem(KEY_STORE);
    return key ? { Authorization: `Bearer ${key}` } : {};
  }

  async function api(method, path, body) {
    let response;
    const form = body instanceof FormData;  // a file upload: the browser sets the type
    try {
      response = await fetch(path, {
        method,
        headers: { ...authHeaders(),
                   ...(body === undefined || form ? {} : { "Content-Type": "application/json" }) },
        body: body === undefined ? undefined : form ? body : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, "network", err.message);
    }
    if (response.status === 204) return null;  // DELETE: nothing to parse
    let data = null;
    try {
      data = await response.json();
    } catch {
      if (response.ok) throw new ApiError(response.status, "bad_response", "response is not JSON");
    }
    if (!response.ok) {
      const e = (data && data.error) || {};
      throw new ApiError(response.status, e.code || "http_error",
                         e.message || `HTTP ${response.status} ${response.statusText}`, e.detail);
    }
    return data;
  }

  // Server errors: Chinese title and explanation first, the server's English message
  // small underneath. Page-side errors (plain Error) already carry a Chinese message.
  function showError(el, err) {
    el.replaceChildren();
    if (!err) {
      el.hidden = true;
      return;
    }
    if (!(err instanceof ApiError)) {
      el.append(h("strong", { class: "alert-title", text: "出错了" }),
                h("span", { class: "alert-message", "data-testid": "error-message", text: err.message }));
      el.hidden = false;
      return;
    }
    const [title, explanation] = ERRORS[err.code] || UNKNOWN_ERROR;
    el.append(h("strong", { class: "alert-title", text: title }),
              h("span", { class: "alert-message", "data-testid": "error-message", text: explanation }));
    if (err.status) {
      el.append(h("code", { class: "alert-code", text: `HTTP ${err.status} · ${err.code}` }));
    }
    if (err.message) {
      el.append(h("small", { class: "alert-detail", "data-testid": "error-detail", lang: "en",
                             text: err.message }));
    }
    el.hidden = false;
  }

  function fmt(x, digits = 4) {
    return Number(x).toFixed(digits);
  }

  // "高度相关：可自动回答（余弦 ≥ 0.9926）": the meaning of a band, for tooltips and the legend.
  function bandMeaning(band) {
    const t = state.thresholds;
    let range = "";
    if (t && band === "none") range = `（余弦 < ${fmt(t.low)}）`;
    else if (t && t[band] !== undefined) range = `（余弦 ≥ ${fmt(t[band])}）`;
    return `${BAND_LABELS[band] || band}：${BAND_ACTIONS[band] || ""}${range}`;
  }

  function badge(band, label) {
    return h("span", { class: `badge band-${band}`, "data-testid": "band-badge", "data-band": band,
                       title: bandMeaning(band), text: label || BAND_LABELS[band] || band });
  }

  function renderLegend() {
    const t = state.thresholds;
    $("band-legend").replaceChildren(...BANDS.map((b) =>
      h("div", { class: "legend-item", "data-band": b },
        h("dt", {}, badge(b)),
        h("dd", {}, BAND_ACTIONS[b],
          t ? h("small", { class: "mono",
                           text: b === "none" ? ` < ${fmt(t.low)}` : ` ≥ ${fmt(t[b])}` }) : null))));
  }

  // Runs one request per form at a time; a newer submit makes older answers stale.
  function busyRunner(button, busyText) {
    const idle = button.textContent;
    let seq = 0;
    return async (work) => {
      const mine = ++seq;
      button.disabled = true;
      button.textContent = busyText;
      try {
        await work(() => mine === seq);
      } finally {
        if (mine === seq) {
          button.disabled = false;
          button.textContent = idle;
        }
      }
    };
  }

  function ctrlEnterSubmits(textarea) {
    textarea.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        textarea.form.requestSubmit();
      }
    });
  }

  // ---- header: model, build, entries, thresholds ----------------------------------------

  function currentCollection() {
    return $("search-collection").value || (state.info && state.info.default_collection) || "";
  }

  function renderHeader() {
    const info = state.info;
    if (!info) return;
    const name = currentCollection();
    const coll = state.collections.find((c) => c.name === name);
    const served = (info.collections || {})[name];
    $("info-model").replaceChildren(
      h("span", { class: "mono", text: info.model }),
      h("small", { text: ` ${info.dimension} 维 · ${info.pooling} · ${info.device}/${info.precision}` }));
    $("info-build").replaceChildren(served && served.build_id
      ? h("span", {}, h("span", { class: "mono", text: `#${served.build_id}` }),
          h("small", { text: ` ${served.index_kind} · ${name}` }))
      : h("span", { class: "muted", text: `未构建（${name}）` }));
    $("info-entries").replaceChildren(coll
      ? h("span", {}, `${coll.documents}`, h("small", { text: ` 条 · ${coll.passages} 段落` }))
      : h("span", { class: "muted", text: "—" }));
    const t = collectionThresholds();
    const origin = thresholdsOrigin();
    $("info-thresholds").replaceChildren(
      h("span", { class: "thresholds" },
        ["high", "medium", "low"].map((b) =>
          h("span", { class: `tick band-${b}`, title: bandMeaning(b) },
            `${BAND_LABELS[b].slice(0, 1)} ≥ ${fmt(t[b])}`)),
        origin ? h("small", { class: "muted", "data-testid": "info-thresholds-source",
                              "data-source": origin.source, text: ` ${origin.label}` })
               : (info.calibrated ? null : h("small", { class: "muted", text: " 未校准" }))));
  }

  // The thresholds that band the current collection: its own (calibrated or set by hand)
  // or the model's; an older server only sends the model's.
  function collectionThresholds() {
    const info = state.info;
    if (!info) return null;
    const served = (info.collections || {})[currentCollection()];
    return (served && served.thresholds) || info.thresholds;
  }

  // Where they come from, in words; null for an older server that does not say.
  const SOURCE_LABELS = { calibrated: "本集合校准", manual: "手动设置", model: "模型默认" };

  function thresholdsOrigin() {
    const name = currentCollection();
    const served = state.info && (state.info.collections || {})[name];
    if (!served || !served.thresholds_source) return null;
    if (served.thresholds_source !== "collection") return { source: "model", label: SOURCE_LABELS.model };
    // /v1/info only says "the collection's own"; /bands (read by the hit-test tab) says
    // whether they were fitted or set by hand.
    const known = state.bandSources[name];
    const source = known && known !== "model" ? known : "calibrated";
    return { source, label: SOURCE_LABELS[source] };
  }

  function renderCategories() {
    const select = $("search-category");
    const previous = select.value;
    const coll = state.collections.find((c) => c.name === currentCollection());
    const categories = (coll && coll.categories) || [];
    select.replaceChildren(h("option", { value: "", text: "全部分类" }),
                           ...categories.map((c) => h("option", { value: c, text: c })));
    if (categories.includes(previous)) select.value = previous;
  }

  async function loadInfo() {
    try {
      const [info, collections] = await Promise.all([api("GET", "/v1/info"),
                                                     api("GET", "/v1/collections")]);
      state.info = info;
      state.collections = collections;
      const select = $("search-collection");
      const keep = select.value || info.default_collection;
      select.replaceChildren(...collections.map((c) => h("option", { value: c.name, text: c.name })));
      if (collections.some((c) => c.name === keep)) select.value = keep;
      $("collection-field").hidden = collections.length < 2;
      state.thresholds = collectionThresholds();
      renderCategories();
      renderHeader();
      renderLegend();  // now with the collection's thresholds
      if (!$("panel-hittest").hidden) loadHittest();
      if (!$("panel-insights").hidden) loadInsights();
      if (!$("panel-entries").hidden) loadEntries();
      const errors = Object.entries(info.errors || {});
      showError($("global-error"), errors.length
        ? new ApiError(0, "index", errors.map(([k, v]) => `${k}: ${v}`).join("；"))
        : null);
    } catch (err) {
      $("info-model").textContent = "不可用";
      showError($("global-error"), err);
    }
  }

  // ---- tabs -----------------------------------------------------------------------------

  const TABS = ["search", "similarity", "embedding", "hittest", "insights", "entries", "texts", "audit"];

  function selectTab(name, focus) {
    for (const t of TABS) {
      const tab = $(`tab-${t}`);
      const on = t === name;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      $(`panel-${t}`).hidden = !on;
      if (on && focus) tab.focus();
    }
    if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
    if (name === "hittest") loadHittest();  // the set may have changed elsewhere
    if (name === "insights") loadInsights();
    if (name === "entries") loadEntries();
    if (name === "audit") $("audit-collection").textContent = currentCollection() || "—";
  }

  function setupTabs() {
    TABS.forEach((t, i) => {
      const tab = $(`tab-${t}`);
      tab.addEventListener("click", () => selectTab(t));
      tab.addEventListener("keydown", (e) => {
        const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
        if (step) selectTab(TABS[(i + step + TABS.length) % TABS.length], true);
        if (e.key === "Home") selectTab(TABS[0], true);
        if (e.key === "End") selectTab(TABS[TABS.length - 1], true);
      });
    });
    const fromHash = location.hash.slice(1);
    selectTab(TABS.includes(fromHash) ? fromHash : "search");
  }

  // ---- FAQ search -----------------------------------------------------------------------

  // What the page tells a person before any hit, decided by the band of the top hit (the
  // one the engine ranks first, as the server's top-band metric does).
  const VERDICTS = {
    high: ["可以自动回答", "第 1 条高度相关，可以直接用它的答案回复用户。"],
    medium: ["建议人工确认", "第 1 条中等相关：可作为建议答案，请人工确认（或送审）后再回复。"],
    low: ["只找到弱相关的条目", "下列条目与问题只是弱相关，只能作为「相关问题」展示，不能当作答案；需要答复时请转人工。"],
    none: ["没有找到可以直接回答的条目", "建议转人工处理。"],
  };

  // The label of the answer that is shown opened: it says how far it may be trusted.
  const ANSWER_LABELS = { high: "答案 · 可自动回复", medium: "建议答案 · 需人工确认" };

  function renderHit(hit, rank, openAnswer, feedback) {
    const matched = h("p", { class: "matched" },
      h("span", { class: "muted", text: "命中：" }),
      h("span", { class: `kind kind-${hit.matched_kind}`, "data-testid": "matched-kind",
                  text: KIND_LABELS[hit.matched_kind] || hit.matched_kind }),
      h("span", { class: "matched-text", text: hit.matched_text }));
    const chips = h("div", { class: "chips" },
      hit.ambiguous ? h("span", { class: "chip ambiguous", "data-testid": "ambiguous",
                                  title: "另有条目同样高度相关，无法确定是哪一条，故降为中等相关",
                                  text: "多条相近" }) : null,
      hit.category ? h("span", { class: "chip category", text: hit.category }) : null,
      hit.tags.map((t) => h("span", { class: "chip tag", text: `#${t}` })),
      h("span", { class: "ext-id mono", text: hit.external_id }));
    const answer = h("details", { class: "answer", open: openAnswer, "data-testid": "hit-answer" },
      h("summary", { text: (openAnswer && ANSWER_LABELS[hit.band]) || "答案" }),
      h("p", { text: hit.answer || "（无答案）" }));
    // Hits are ordered by rank_score (cosine fused with BM25 and a hubness correction);
    // an older server does not send it, then only the cosine is shown.
    const hasRankScore = typeof hit.rank_score === "number" && Number.isFinite(hit.rank_score);
    return h("li", { class: `hit band-edge-${hit.band}`, "data-testid": "hit",
                     "data-external-id": hit.external_id, "data-band": hit.band },
      h("div", { class: "hit-head" },
        h("span", { class: "rank", "aria-label": `第 ${rank} 名`, text: rank }),
        h("h3", { class: "hit-question", "data-testid": "hit-question", text: hit.question }),
        h("div", { class: "hit-score" },
          hasRankScore ? h("small", { class: "rank-score", "data-testid": "rank-score",
                                      title: "排序分：结果按它排列，综合了语义相似度、关键词匹配与热门问题校正；分档不看它",
                                      text: `排序分 ${fmt(hit.rank_score)}` }) : null,
          // with two numbers side by side, name the cosine too
          hasRankScore ? h("small", { class: "score-label", text: "余弦" }) : null,
          h("span", { class: "score mono", "data-testid": "hit-score",
                      title: "余弦相似度：分档只看它", text: fmt(hit.score) }),
          badge(hit.band, hit.band_label))),
      matched, chips, answer,
      feedback ? h("div", { class: "hit-feedback" },
        h("button", { type: "button", class: "btn small", "data-testid": "feedback-up",
                      "aria-label": `第 ${rank} 条回答了问题`, text: "✓ 这条对",
                      onclick: () => feedback.up(hit) }),
        h("button", { type: "button", class: "btn small", "data-testid": "feedback-down",
                      "aria-label": `第 ${rank} 条没有回答问题`, text: "✗ 不对",
                      onclick: () => feedback.down(hit) })) : null);
  }

  // ✓/✗ (👍/👎) on the hits of one search: POST /v1/feedback with its search_id; ✗ asks
  // which entry was right (or none), and can add the question to the collection's hit-test set.
  function feedbackBox(searchId, query, collection, hits) {
    const status = h("p", { class: "feedback-status", role: "status", "data-testid": "feedback-status" });
    const choice = h("select", { id: "feedback-entry", "data-testid": "feedback-entry" },
      hits.map((hit) => h("option", { value: hit.external_id, text: `${hit.external_id} · ${hit.question}` })),
      h("option", { value: "", text: "都不对（没有合适的条目）" }));
    const addToSet = h("input", { type: "checkbox", id: "feedback-testset", "data-testid": "feedback-testset" });
    const submit = h("button", { type: "submit", class: "btn primary small", "data-testid": "feedback-submit",
                                 text: "提交反馈" });
    const form = h("form", { class: "feedback-form", hidden: true, "data-testid": "feedback-form" },
      h("label", { htmlFor: "feedback-entry", text: "哪一条才对？" }), choice,
      h("span", { class: "check" }, addToSet,
        h("label", { htmlFor: "feedback-testset", text: "同时加入命中测试集" })),
      submit);
    const send = async (helpful, entryId, toSet) => {
      submit.disabled = true;
      try {
        await api("POST", "/v1/feedback",
                  { search_id: searchId, helpful, ...(entryId ? { entry_id: entryId } : {}) });
        let note = helpful ? `已记录：${entryId} 回答了这个问题。`
          : `已记录：${entryId ? `正确的是 ${entryId}` : "没有合适的条目"}。`;
        if (toSet) {
          const set = await api("POST", testsetPath(collection), { questions: [
            entryId ? { query, expected_ids: [entryId] } : { query, expected: "none" }] });
          note += `已加入命中测试集（现有 ${set.count} 条）。`;
        }
        status.textContent = note + "谢谢！";
        form.hidden = true;
      } catch (err) {
        status.textContent = `反馈没有保存：${err.message}`;
      } finally {
        submit.disabled = false;
      }
    };
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      send(false, choice.value || null, addToSet.checked);
    });
    return {
      element: h("div", { class: "feedback", "data-testid": "feedback" }, form, status),
      up: (hit) => send(true, hit.external_id, false),
      down: (hit) => {
        form.hidden = false;
        const other = hits.find((x) => x.external_id !== hit.external_id);
        choice.value = other ? other.external_id : "";
        choice.focus();
      },
    };
  }

  function renderVerdict(band, hitCount) {
    const [title, text] = VERDICTS[band];
    const advice = band === "none" && !hitCount
      ? "没有符合条件的条目，建议转人工处理；也可以放宽分类或最低相关度再试。"
      : text;
    // The no-answer case gets its own test id: it is the one a person must not miss.
    return h("div", { class: `verdict verdict-${band}`, "data-band": band,
                      "data-testid": band === "none" ? "no-answer" : "search-verdict" },
      h("strong", { class: "verdict-title", text: title }),
      h("span", { class: "verdict-text", text: advice }));
  }

  function renderResults(hits, feedback) {
    const band = hits.length ? hits[0].band : "none";
    const openTop = atLeast(band, "medium");
    const list = h("ol", { class: "hits" },
      hits.map((hit, i) => renderHit(hit, i + 1, openTop && i === 0, feedback)));
    const parts = [renderVerdict(band, hits.length)];
    if (!hits.length) return parts;
    if (band === "none") {
      // Nothing here answers the question: keep the nearest entries out of sight until
      // someone asks for them, so that none of them is mistaken for the answer.
      parts.push(h("details", { class: "nearest", "data-testid": "nearest-hits" },
        h("summary", { text: `最接近的条目（${hits.length} 条，仅供参考，不能作为答案）` }),
        list));
    } else if (band === "low") {
      parts.push(h("h2", { class: "hits-title", "data-testid": "related-title",
                           text: "相关问题（仅供参考，不能作为答案）" }), list);
    } else {
      parts.push(list);
    }
    if (feedback) parts.push(feedback.element);
    return parts;
  }

  async function runSearch(isCurrent) {
    const query = $("search-query").value;
    const results = $("search-results");
    const meta = $("search-meta");
    // The previous question's hits would read as this question's answer: clear them.
    const refuse = (message, field) => {
      results.replaceChildren();
      meta.hidden = true;
      showError($("search-error"), new Error(message));
      field.focus();
    };
    if (!query.trim()) return refuse("请输入要检索的问题。", $("search-query"));
    const topK = Math.round(Number($("search-topk").value));
    if (!Number.isFinite(topK) || topK < 1 || topK > 100) {
      return refuse("返回条数需在 1 到 100 之间。", $("search-topk"));
    }
    const body = { query, top_k: topK };
    const collection = $("search-collection").value;
    if (collection) body.collection = collection;
    if ($("search-category").value) body.category = $("search-category").value;
    if ($("search-minband").value) body.min_band = $("search-minband").value;
    results.setAttribute("aria-busy", "true");
    try {
      const data = await api("POST", "/v1/search", body);
      if (!isCurrent()) return;
      showError($("search-error"), null);
      if (data.thresholds) state.thresholds = data.thresholds;  // for the badge tooltips
      const feedback = data.search_id && data.hits.length
        ? feedbackBox(data.search_id, query, collection || currentCollection(), data.hits) : null;
      results.replaceChildren(...renderResults(data.hits, feedback));
      // "返回", not "找到": five hits are not five answers; the verdict says what they are worth.
      const parts = [`返回 ${data.hits.length} 条`, `服务端用时 ${data.took_ms.toFixed(1)} ms`];
      meta.replaceChildren(h("span", { "data-testid": "search-took", text: parts.join(" · ") }));
      if (data.normalized_query !== data.query) {
        meta.append(h("span", { class: "muted" }, " · 规范化为：",
                      h("q", { text: data.normalized_query })));
      }
      meta.hidden = false;
      const served = state.info && (state.info.collections || {})[currentCollection()];
      if (served && data.build_id && served.build_id !== data.build_id) loadInfo();  // new build live
    } catch (err) {
      if (!isCurrent()) return;
      results.replaceChildren();
      meta.hidden = true;
      showError($("search-error"), err);
    } finally {
      results.removeAttribute("aria-busy");
    }
  }

  function setupSearch() {
    const run = busyRunner($("search-submit"), "检索中…");
    $("search-form").addEventListener("submit", (e) => {
      e.preventDefault();
      run(runSearch);
    });
    $("search-collection").addEventListener("change", () => {
      state.thresholds = collectionThresholds();
      renderCategories();
      renderHeader();
      renderLegend();
      resetHittest();
    });
  }

  // ---- similarity -----------------------------------------------------------------------

  // Cosine scores of one model crowd into a narrow range (e5: 0.75-1.0), so the bars
  // start a little below the lowest threshold rather than at zero; the caption says so.
  function barScale() {
    const t = state.thresholds || { high: 0.85, medium: 0.7, low: 0.5 };
    const floor = Math.max(0, Math.floor((t.low - (t.high - t.low)) * 20) / 20);
    return { floor, t };
  }

  function renderSimilarity() {
    const { floor, t } = barScale();
    const byScore = $("sim-order-score").checked;
    const rows = [...state.simRows];
    if (byScore) rows.sort((a, b) => b.score - a.score || a.index - b.index);
    const pos = (x) => `${Math.max(0, Math.min(1, (x - floor) / (1 - floor))) * 100}%`;
    $("similarity-scale").textContent =
      `条形刻度 ${floor.toFixed(2)}–1.00，竖线为阈值：弱 ${fmt(t.low)} · 中 ${fmt(t.medium)} · 高 ${fmt(t.high)}`;
    $("similarity-results").replaceChildren(...rows.map((row) =>
      h("li", { class: "sim-row", "data-testid": "similarity-row", "data-band": row.band,
                "data-index": row.index },
        h("span", { class: "sim-index mono", text: `#${row.index + 1}` }),
        h("span", { class: "sim-text", text: row.text }),
        h("span", { class: "bar", role: "img", "aria-label": `分数 ${fmt(row.score)}` },
          h("span", { class: `bar-fill band-${row.band}` }),
          ["low", "medium", "high"].map((b) => h("span", { class: "bar-tick", title: BAND_LABELS[b] }))),
        h("span", { class: "score mono", "data-testid": "similarity-score", text: fmt(row.score) }),
        badge(row.band, row.band_label))));
    // Widths are set after creation so that no style attribute comes from server text.
    const fills = $("similarity-results").querySelectorAll(".sim-row");
    fills.forEach((li, i) => {
      li.querySelector(".bar-fill").style.width = pos(rows[i].score);
      li.querySelectorAll(".bar-tick").forEach((tick, j) => {
        tick.style.left = pos(t[["low", "medium", "high"][j]]);
      });
    });
  }

  async function runSimilarity(isCurrent) {
    const source = $("sim-source").value;
    const candidates = $("sim-candidates").value.split("\n").filter((l) => l.trim());
    if (!source.trim()) {
      showError($("similarity-error"), new Error("请输入源句。"));
      $("sim-source").focus();
      return;
    }
    if (!candidates.length) {
      showError($("similarity-error"), new Error("请至少输入一条候选句（每行一条）。"));
      $("sim-candidates").focus();
      return;
    }
    try {
      const data = await api("POST", "/v1/similarity", { source, candidates });
      if (!isCurrent()) return;
      showError($("similarity-error"), null);
      state.thresholds = data.thresholds;
      state.simRows = data.scores;
      $("similarity-meta").textContent =
        `${data.scores.length} 条候选 · 服务端用时 ${data.took_ms.toFixed(1)} ms`;
      renderSimilarity();
      $("similarity-output").hidden = false;
    } catch (err) {
      if (isCurrent()) showError($("similarity-error"), err);
    }
  }

  function setupSimilarity() {
    const run = busyRunner($("sim-submit"), "计算中…");
    $("similarity-form").addEventListener("submit", (e) => {
      e.preventDefault();
      run(runSimilarity);
    });
    ctrlEnterSubmits($("sim-candidates"));
    for (const radio of document.querySelectorAll('input[name="sim-order"]')) {
      radio.addEventListener("change", renderSimilarity);
    }
    $("sim-example").addEventListener("click", () => {
      $("sim-source").value = "怎么申请退款";
      $("sim-candidates").value = "退款多久能到账\n如何申请退货退款\n快递几天能送到\n我想把钱退回来";
      $("sim-source").focus();
    });
  }

  // ---- embeddings -----------------------------------------------------------------------

  let lastEmbedding = null;

  async function runEmbedding(isCurrent) {
    const text = $("emb-text").value;
    if (!text.trim()) {
      showError($("embedding-error"), new Error("请输入文本。"));
      $("emb-text").focus();
      return;
    }
    const inputType = document.querySelector('input[name="emb-kind"]:checked').value;
    try {
      const data = await api("POST", "/v1/embeddings", { input: text, input_type: inputType });
      if (!isCurrent()) return;
      showError($("embedding-error"), null);
      const vector = data.data[0].embedding;
      const norm = Math.sqrt(vector.reduce((s, x) => s + x * x, 0));
      lastEmbedding = { model: data.model, input: text, input_type: inputType,
                        dimension: vector.length, embedding: vector };
      $("emb-dim").textContent = String(vector.length);
      $("emb-norm").textContent = fmt(norm, 6);
      $("emb-tokens").textContent = String(data.usage.prompt_tokens);
      $("emb-model").textContent = data.model;
      $("emb-values").replaceChildren(...vector.slice(0, 8).map((x) =>
        h("li", { text: (x >= 0 ? "+" : "") + fmt(x, 6) })));
      $("emb-copy-status").textContent = "";
      $("embedding-result").hidden = false;
    } catch (err) {
      if (isCurrent()) showError($("embedding-error"), err);
    }
  }

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch { /* fall through to the selection copy */ }
    }
    const area = h("textarea", { value: text, readOnly: true, class: "offscreen" });
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }

  function setupEmbedding() {
    const run = busyRunner($("emb-submit"), "生成中…");
    $("embedding-form").addEventListener("submit", (e) => {
      e.preventDefault();
      run(runEmbedding);
    });
    ctrlEnterSubmits($("emb-text"));
    $("emb-copy").addEventListener("click", async () => {
      if (!lastEmbedding) return;
      const ok = await copyText(JSON.stringify(lastEmbedding));
      $("emb-copy-status").textContent = ok
        ? `已复制 ${lastEmbedding.dimension} 维向量（JSON）`
        : "复制失败：浏览器不允许访问剪贴板";
    });
  }

  // ---- hit test -------------------------------------------------------------------------

  // The labelled test questions of the current collection: search a question, mark the
  // entry that answers it (or that none does), and the set grows. `semsearch calibrate`
  // fits the bands to it; `semsearch reindex` refuses a build that answers it worse.
  const SOURCE_NOTES = { calibrated: "按本集合的测试问题拟合", manual: "由管理员手动设置",
                         model: "尚未按本集合校准，使用模型的默认阈值" };
  const HITTEST_SHOWN = 50;  // the newest ones; the whole set: semsearch testset export
  const HITTEST_TOP_K = 10;
  const hittest = { collection: "", set: null, query: "", hits: [], seq: 0 };

  const testsetPath = (name) => `/v1/collections/${encodeURIComponent(name)}/testset`;

  function labelOf(query) {
    const found = hittest.set && hittest.set.questions.find((q) => q.query === query);
    return found ? found.expected_ids : null;
  }

  function renderTestset() {
    const set = hittest.set;
    const count = $("hittest-count");
    if (!set) {
      for (const id of ["hittest-total", "hittest-answerable", "hittest-unanswerable"]) $(id).textContent = "—";
      count.removeAttribute("data-count");
      $("hittest-items").replaceChildren();
      $("hittest-more").hidden = true;
      return;
    }
    $("hittest-total").textContent = String(set.count);
    $("hittest-answerable").textContent = String(set.answerable);
    $("hittest-unanswerable").textContent = String(set.count - set.answerable);
    count.setAttribute("data-count", String(set.count));
    count.setAttribute("data-answerable", String(set.answerable));
    const shown = set.questions.slice(-HITTEST_SHOWN);
    const more = $("hittest-more");
    more.hidden = set.questions.length <= HITTEST_SHOWN;
    more.textContent = more.hidden ? "" :
      `共 ${set.questions.length} 条，这里只列出最近添加的 ${HITTEST_SHOWN} 条；` +
      `完整列表：semsearch testset export --collection ${hittest.collection}`;
    const items = shown.map((q) => h("li", { class: "ht-row ht-item", "data-testid": "hittest-item",
                                            "data-query": q.query },
      h("span", { class: "ht-main" },
        h("span", { class: "ht-text", "data-testid": "hittest-item-query", text: q.query }),
        h("span", { class: "ht-ids", "data-testid": "hittest-item-expected" },
          q.expected_ids.length
            ? q.expected_ids.map((id) => h("span", { class: "chip mono", text: id }))
            : h("span", { class: "chip none", text: "无答案" }))),
      h("button", { type: "button", class: "btn small danger", "data-testid": "hittest-delete",
                    "aria-label": `删除「${q.query}」`, text: "删除",
                    onclick: (e) => deleteQuestion(q.query, e.currentTarget) })));
    $("hittest-items").replaceChildren(...(items.length ? items
      : [h("li", { class: "ht-row ht-empty muted", text: "测试集还是空的：在上面检索一个问题并标注答案。" })]));
  }

  const RANKING_LABELS = { dense: "语义", lexical: "关键词", hybrid: "语义+关键词" };

  function renderBands(bands) {
    const t = bands.thresholds;
    const source = $("hittest-source");
    source.replaceChildren(h("span", { text: SOURCE_LABELS[bands.source] || bands.source }));
    source.setAttribute("data-source", bands.source);
    source.title = SOURCE_NOTES[bands.source] || "";
    const p = bands.passage_thresholds, r = bands.ranking;
    const line = (x) => `高 ≥ ${fmt(x.high)} · 中 ≥ ${fmt(x.medium)} · 弱 ≥ ${fmt(x.low)}` +
      (typeof x.margin === "number" ? ` · 领先间隔 ${fmt(x.margin)}` : "");
    const differs = p && ["high", "medium", "low", "margin"].some((k) => p[k] !== t[k]);
    $("hittest-thresholds").textContent =
      `${SOURCE_NOTES[bands.source] || ""}：问题匹配 ${line(t)}` +
      (differs ? `；答案/正文匹配 ${line(p)}` : "") +
      (r ? `；排序 ${RANKING_LABELS[r.mode] || r.mode}${r.mode === "hybrid" ? `（关键词权重 ${r.weight}）` : ""}` : "");
  }

  function renderHittestHits() {
    const query = hittest.query;
    const label = labelOf(query);
    $("hittest-meta").replaceChildren(
      h("span", {}, `「${query}」返回 ${hittest.hits.length} 条 · `),
      label === null ? h("span", { class: "muted", text: "尚未在测试集中" })
        : h("span", { "data-testid": "hittest-current" }, "当前标注：",
            h("strong", { text: label.length ? label.join("、") : "无答案" })));
    const none = $("hittest-none");
    none.classList.toggle("is-label", label !== null && !label.length);
    none.setAttribute("aria-pressed", String(label !== null && !label.length));
    $("hittest-hits").replaceChildren(...(hittest.hits.length ? hittest.hits.map((hit, i) => {
      const chosen = label !== null && label.includes(hit.external_id);
      return h("li", { class: `ht-row ht-hit${chosen ? " is-label" : ""}`, "data-testid": "hittest-hit",
                       "data-external-id": hit.external_id, "data-band": hit.band },
        h("span", { class: "rank", "aria-label": `第 ${i + 1} 名`, text: i + 1 }),
        h("span", { class: "ht-main" },
          h("span", { class: "ht-text", text: hit.question }),
          h("span", { class: "ext-id mono", text: hit.external_id })),
        h("span", { class: "ht-score" },
          h("span", { class: "score mono", title: "余弦相似度：分档只看它", text: fmt(hit.score) }),
          badge(hit.band, hit.band_label)),
        h("button", { type: "button", class: `btn small${chosen ? " chosen" : ""}`,
                      "data-testid": "hittest-save", "aria-pressed": String(chosen),
                      "aria-label": `把 ${hit.external_id} 标为「${query}」的正确答案`,
                      text: chosen ? "✓ 已标注" : "✓ 正确答案",
                      onclick: (e) => saveQuestion(query, [hit.external_id], e.currentTarget) }));
    }) : [h("li", { class: "ht-row ht-empty muted", text: "没有返回任何条目。" })]));
    $("hittest-results").hidden = false;
  }

  function hittestStatus(text) {
    const el = $("hittest-status");
    el.textContent = text;
    el.hidden = !text;
  }

  // Clears what belongs to another collection; loads this one's set when the tab is open.
  function resetHittest() {
    hittest.set = null;
    hittest.hits = [];
    $("hittest-results").hidden = true;
    hittestStatus("");
    renderTestset();
    if (!$("panel-hittest").hidden) loadHittest();
    if (!$("panel-insights").hidden) loadInsights();
  }

  async function loadHittest() {
    const name = currentCollection();
    if (!name) return;  // /v1/info has not answered yet; it calls back
    const mine = ++hittest.seq;
    hittest.collection = name;
    $("hittest-collection").textContent = name;
    $("hittest-calibrate").textContent = `semsearch calibrate --collection ${name} --write`;
    try {
      const [set, bands] = await Promise.all([
        api("GET", testsetPath(name)),
        api("GET", `/v1/collections/${encodeURIComponent(name)}/bands`)]);
      if (mine !== hittest.seq) return;
      hittest.set = set;
      state.bandSources[name] = bands.source;
      renderTestset();
      renderBands(bands);
      renderHeader();  // 手动设置 vs 本集合校准, which /v1/info does not tell apart
      if (!$("hittest-results").hidden) renderHittestHits();
      showError($("hittest-error"), null);
    } catch (err) {
      if (mine === hittest.seq) showError($("hittest-error"), err);
    }
  }

  async function runHittestSearch(isCurrent) {
    const query = $("hittest-query").value.trim();  // the server stores it trimmed
    if (!query) {
      showError($("hittest-error"), new Error("请输入要测试的问题。"));
      $("hittest-query").focus();
      return;
    }
    const name = currentCollection();
    hittestStatus("");
    try {
      const data = await api("POST", "/v1/search", { query, top_k: HITTEST_TOP_K, collection: name });
      if (!isCurrent()) return;
      showError($("hittest-error"), null);
      hittest.query = query;
      hittest.hits = data.hits;
      renderHittestHits();
    } catch (err) {
      if (!isCurrent()) return;
      $("hittest-results").hidden = true;  // the old hits are not this question's
      showError($("hittest-error"), err);
    }
  }

  // One write at a time: the label and delete buttons wait for it. The rows are rebuilt
  // afterwards, so focus goes to what refocus() finds in the new ones.
  async function oneWrite(work, refocus) {
    const buttons = document.querySelectorAll("#hittest-none, #panel-hittest .ht-rows button");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      await work();
    } finally {
      buttons.forEach((b) => { if (b.isConnected) b.disabled = false; });
      const target = refocus();
      if (target) target.focus();
    }
  }

  function saveQuestion(query, expected, button) {
    const name = hittest.collection;
    const before = labelOf(query);
    const id = expected[0];
    const refocus = () => (button.isConnected ? button
      : [...document.querySelectorAll("[data-testid=hittest-hit]")]
          .find((li) => li.getAttribute("data-external-id") === id)
          ?.querySelector("[data-testid=hittest-save]"));
    return oneWrite(async () => {
      try {
        const set = await api("POST", testsetPath(name),
                              { questions: [{ query, expected_ids: expected }] });
        if (name !== hittest.collection) return;
        hittest.set = set;
        showError($("hittest-error"), null);
        renderTestset();
        if (hittest.query === query) renderHittestHits();
        const what = expected.length ? `正确答案 ${expected.join("、")}` : "无答案（不应回答）";
        hittestStatus(`${before === null ? "已加入测试集" : "已重新标注"}：「${query}」→ ${what}。` +
                      `测试集现有 ${set.count} 条。`);
      } catch (err) {
        showError($("hittest-error"), err);
      }
    }, refocus);
  }

  function deleteQuestion(query, button) {
    const name = hittest.collection;
    // its row is gone afterwards: then the list's next delete button, or the question box
    const next = button.closest("li").nextElementSibling || button.closest("li").previousElementSibling;
    const refocus = () => {
      if (button.isConnected) return button;  // failed: the row is still there
      const q = next ? next.getAttribute("data-query") : null;
      const row = q === null ? null : [...document.querySelectorAll("[data-testid=hittest-item]")]
        .find((li) => li.getAttribute("data-query") === q);
      return (row && row.querySelector("[data-testid=hittest-delete]")) || $("hittest-query");
    };
    return oneWrite(async () => {
      try {
        await api("DELETE", `${testsetPath(name)}?query=${encodeURIComponent(query)}`);
        if (name !== hittest.collection) return;
        hittest.set = await api("GET", testsetPath(name));
        showError($("hittest-error"), null);
        renderTestset();
        if (!$("hittest-results").hidden) renderHittestHits();
        hittestStatus(`已从测试集删除：「${query}」。测试集现有 ${hittest.set.count} 条。`);
      } catch (err) {
        showError($("hittest-error"), err);
      }
    }, refocus);
  }

  function setupHittest() {
    const run = busyRunner($("hittest-submit"), "检索中…");
    $("hittest-form").addEventListener("submit", (e) => {
      e.preventDefault();
      run(runHittestSearch);
    });
    $("hittest-none").addEventListener("click", (e) => {
      if (hittest.query) saveQuestion(hittest.query, [], e.currentTarget);
    });
  }

  // ---- 未命中问题: the misses of the search log, grouped, with their suggestions ------

  const insights = { seq: 0 };
  const pct = (x) => `${(100 * x).toFixed(1)}%`;

  async function loadInsights() {
    const name = currentCollection();
    if (!name) return;  // /v1/info has not answered yet
    const mine = ++insights.seq;
    $("insights-collection").textContent = name;
    const since = $("insights-since").value;
    const path = `/v1/collections/${encodeURIComponent(name)}/insights` +
      (since ? `?since=${encodeURIComponent(since)}` : "");
    try {
      const data = await api("GET", path);
      if (mine !== insights.seq) return;
      showError($("insights-error"), null);
      $("insights-searches").textContent = String(data.searches);
      $("insights-high").textContent = data.searches ? pct(data.band_share.high) : "—";
      $("insights-none").textContent = data.searches ? pct(data.band_share.none) : "—";
      $("insights-groups-count").textContent = String(data.groups.length);
      const list = $("insights-groups");
      list.replaceChildren(...data.groups.map((g) => renderGroup(name, since, g)));
      if (!data.groups.length) {
        list.append(h("li", { class: "ht-row muted", "data-testid": "insights-empty",
                              text: data.searches ? "这段时间没有未命中的问题。" : "这段时间还没有检索。" }));
      }
    } catch (err) {
      if (mine === insights.seq) showError($("insights-error"), err);
    }
  }

  function renderGroup(collection, since, g) {
    const near = g.nearest;
    const answer = g.suggestion === "new_entry"
      ? h("input", { id: `insights-answer-${g.group_id}`, type: "text", placeholder: "新条目的答案（可稍后补）",
                     "data-testid": "insights-answer" }) : null;
    // One button per way out: the suggestion, and for a group suggested as a new entry
    // while an entry sits close (medium or better), adding it to that entry instead.
    function applyButton(action, entryId, testid, primary) {
      const button = h("button", { type: "button", class: primary ? "btn primary small" : "btn small",
                                   "data-testid": testid,
                                   text: action === "add_similar" ? `加为 ${entryId} 的相似问题` : "新建条目" });
      button.addEventListener("click", async () => {
        button.disabled = true;
        try {
          const body = { group_id: g.group_id, action, ...(since ? { since } : {}) };
          // the entry the button names, even if the FAQ has changed since the list was read
          if (action === "add_similar") body.entry_id = entryId;
          if (action === "new_entry" && answer && answer.value.trim()) body.answer = answer.value.trim();
          const done = await api("POST", `/v1/collections/${encodeURIComponent(collection)}/insights/apply`, body);
          const status = $("insights-status");
          status.hidden = false;
          status.textContent = action === "add_similar"
            ? `已把 ${done.added.length} 个问题加为 ${done.entry_id} 的相似问题。`
            : `已新建条目 ${done.entry_id}：「${g.representative}」，含 ${done.added.length} 个相似问题。`;
          await loadInsights();
        } catch (err) {
          button.disabled = false;
          showError($("insights-error"), err);
        }
      });
      return button;
    }
    const act = applyButton(g.suggestion, g.entry_id, "insights-apply", true);
    const close = g.suggestion === "new_entry" && near && atLeast(near.band, "medium");
    const instead = close ? applyButton("add_similar", near.entry_id, "insights-apply-nearest", false) : null;
    // the passage the group reached, when it is not the entry's standard question (and
    // the entry is related at all: the passage an off-topic question lands on says nothing)
    const related = near && atLeast(near.band, "low");
    const via = related && near.matched_kind && near.matched_kind !== "question"
      ? h("span", { class: "muted", "data-testid": "insights-via",
                    text: `（经由${KIND_LABELS[near.matched_kind] || near.matched_kind}「${near.matched_text}」）` }) : null;
    return h("li", { class: "ht-row insights-group", "data-testid": "insights-group",
                     "data-group-id": g.group_id, "data-suggestion": g.suggestion },
      h("div", { class: "ig-head" },
        h("span", { class: "ig-size", title: "这一组的检索次数", text: `${g.size} 次` }),
        h("strong", { class: "ig-question", "data-testid": "insights-representative", text: g.representative }),
        g.disliked ? h("span", { class: "chip", title: "被标为「不对」的检索", text: `不对 ×${g.disliked}` }) : null),
      g.examples.length > 1 ? h("p", { class: "ig-examples muted", text: `其他问法：${g.examples.filter((q) => q !== g.representative).join(" · ")}` }) : null,
      near ? h("p", { class: "ig-nearest" }, h("span", { class: "muted", text: "最接近的条目：" }),
        h("span", { class: "mono", text: near.entry_id }), ` ${near.question} `, via,
        h("span", { class: "score mono", text: fmt(near.score) }), badge(near.band)) : null,
      // an off-topic question (the weather) lands here too: say so rather than only
      // offering to make it an entry
      !related ? h("p", { class: "ig-unrelated muted", "data-testid": "insights-unrelated",
        text: "FAQ 里没有与它相关的条目：属于本业务就新建条目，与业务无关可不处理。" }) : null,
      h("div", { class: "ig-actions" },
        answer ? h("label", { htmlFor: answer.id, class: "muted", text: "答案" }) : null, answer, act, instead));
  }

  function setupInsights() {
    const run = busyRunner($("insights-submit"), "读取中…");
    $("insights-form").addEventListener("submit", (e) => {
      e.preventDefault();
      run(loadInsights);
    });
    $("insights-since").addEventListener("change", () => run(loadInsights));
  }

  // ---- 条目管理: browse, search, add, edit, delete, upload, export ---------------------

  const entries = { seq: 0, offset: 0, limit: 20, total: 0, editing: null };
  const collectionPath = (name) => `/v1/collections/${encodeURIComponent(name)}`;

  function entriesStatus(text) {
    const el = $("entries-status");
    el.replaceChildren();
    el.hidden = !text;
    if (text) el.append(...(Array.isArray(text) ? text : [text]));
  }

  function renderEntryCategories() {
    const select = $("entries-category");
    const keep = select.value;
    const coll = state.collections.find((c) => c.name === currentCollection());
    select.replaceChildren(h("option", { value: "", text: "全部" }),
      ...((coll && coll.categories) || []).map((c) => h("option", { value: c, text: c })));
    select.value = [...select.options].some((o) => o.value === keep) ? keep : "";
  }

  function renderExportLinks(name) {
    for (const format of ["xlsx", "csv", "jsonl"]) {
      $(`export-${format}`).href = `${collectionPath(name)}/export?format=${format}`;
    }
  }

  async function loadEntries() {
    const name = currentCollection();
    if (!name) return;
    const mine = ++entries.seq;
    renderEntryCategories();
    renderExportLinks(name);
    const params = new URLSearchParams({ offset: entries.offset, limit: entries.limit });
    const q = $("entries-q").value.trim();
    if (q) params.set("q", q);
    if ($("entries-category").value) params.set("category", $("entries-category").value);
    try {
      const page = await api("GET", `${collectionPath(name)}/documents?${params}`);
      if (mine !== entries.seq) return;
      showError($("entries-error"), null);
      entries.total = page.total;
      const last = Math.min(page.offset + page.items.length, page.total);
      $("entries-meta").textContent = page.total
        ? `集合 ${name}：第 ${page.offset + 1}–${last} 条，共 ${page.total} 条${q || params.has("category") ? "（筛选后）" : ""}`
        : (q || params.has("category") ? "没有符合条件的条目。" : `集合 ${name} 还没有条目。`);
      $("entries-list").replaceChildren(...page.items.map(renderEntry));
      $("entries-prev").disabled = page.offset === 0;
      $("entries-next").disabled = last >= page.total;
    } catch (err) {
      if (mine === entries.seq) showError($("entries-error"), err);
    }
  }

  function renderEntry(doc) {
    const edit = h("button", { type: "button", class: "btn small", "data-testid": "entry-edit", text: "编辑" });
    const remove = h("button", { type: "button", class: "btn small danger", "data-testid": "entry-delete", text: "删除" });
    edit.addEventListener("click", () => openEditor(doc));
    remove.addEventListener("click", () => deleteEntry(doc, remove));
    const facts = [doc.category ? `分类：${doc.category}` : "未分类",
                   `${doc.similar_questions.length} 个相似问题`,
                   ...(doc.tags.length ? [`标签：${doc.tags.join("、")}`] : [])];
    return h("li", { class: "ht-row entry-row", "data-testid": "entry-row", "data-external-id": doc.external_id },
      h("div", { class: "entry-q" }, h("span", { class: "mono muted", text: `${doc.external_id} ` }), doc.question),
      h("p", { class: "entry-sub", text: `${facts.join(" · ")} · 答案：${doc.answer.slice(0, 80)}${doc.answer.length > 80 ? "…" : ""}` }),
      h("div", { class: "entry-actions" }, edit, remove));
  }

  function openEditor(doc) {
    entries.editing = doc ? doc.external_id : null;
    $("entry-editor-title").textContent = doc ? `编辑条目 ${doc.external_id}` : "新建条目";
    $("entry-id").value = doc ? doc.external_id : `faq-${Date.now().toString(36)}`;
    $("entry-id").readOnly = Boolean(doc);
    $("entry-question").value = doc ? doc.question : "";
    $("entry-similar").value = doc ? doc.similar_questions.join("\n") : "";
    $("entry-answer").value = doc ? doc.answer : "";
    $("entry-category").value = doc ? doc.category || "" : "";
    $("entry-tags").value = doc ? doc.tags.join(", ") : "";
    $("entry-editor").hidden = false;
    $(doc ? "entry-question" : "entry-id").focus();
  }

  async function saveEntry() {
    const name = currentCollection();
    entriesStatus(null);
    const id = $("entry-id").value.trim();
    if (!id || !$("entry-question").value.trim()) {
      showError($("entries-error"), new Error("编号和标准问题都要填写。"));
      return;
    }
    const split = (text, sep) => text.split(sep).map((x) => x.trim()).filter(Boolean);
    const body = {
      question: $("entry-question").value.trim(),
      answer: $("entry-answer").value.trim(),
      similar_questions: split($("entry-similar").value, /\n/),
      category: $("entry-category").value.trim() || null,
      tags: split($("entry-tags").value, /[,，、|]/),
    };
    if (entries.editing) {  // keep what the form does not show
      const old = await api("GET", `${collectionPath(name)}/documents/${encodeURIComponent(id)}`);
      body.metadata = old.metadata;
    } else if (await api("GET", `${collectionPath(name)}/documents/${encodeURIComponent(id)}`).catch(() => null)) {
      showError($("entries-error"), new Error(`编号 ${id} 已有条目；请换一个编号，或在列表里编辑那一条。`));
      return;
    }
    const saved = await api("PUT", `${collectionPath(name)}/documents/${encodeURIComponent(id)}`, body);
    showError($("entries-error"), null);
    $("entry-editor").hidden = true;
    entriesStatus(`已保存条目 ${saved.external_id}：「${saved.question}」。下一次检索就能找到它。`);
    await loadInfo();  // the header's counts, the categories and the list
  }

  async function deleteEntry(doc, button) {
    if (!confirm(`删除条目 ${doc.external_id}「${doc.question}」？删除后检索不再返回它。`)) return;
    button.disabled = true;
    entriesStatus(null);
    try {
      await api("DELETE", `${collectionPath(currentCollection())}/documents/${encodeURIComponent(doc.external_id)}`);
      showError($("entries-error"), null);
      entriesStatus(`已删除条目 ${doc.external_id}。`);
      if (entries.offset > 0 && entries.offset >= entries.total - 1) {  // its page is empty now
        entries.offset = Math.max(0, entries.offset - entries.limit);
      }
      await loadInfo();
    } catch (err) {
      button.disabled = false;
      showError($("entries-error"), err);
    }
  }

  function uploadSummary(r) {
    const parts = [`新增 ${r.new}`, `修改 ${r.changed}`, `删除 ${r.deleted}`, `未变 ${r.unchanged}`];
    if (r.skipped) parts.push(`跳过无效行 ${r.skipped}`);
    return parts.join("，");
  }

  async function runUpload() {
    const name = currentCollection();
    const file = $("upload-file").files[0];
    if (!file) {
      showError($("entries-error"), new Error("请先选择要导入的文件（.xlsx、.csv 或 .jsonl）。"));
      return;
    }
    const mode = $("upload-mode").value;
    entriesStatus(null);  // the last action's note would read as this one's
    const send = (dryRun) => {
      const form = new FormData();
      form.append("file", file, file.name);
      return api("POST", `${collectionPath(name)}/upload?mode=${mode}${dryRun ? "&dry_run=true" : ""}`, form);
    };
    try {
      if (mode === "replace") {  // say what would be deleted before anything is
        const preview = await send(true);
        if (preview.deleted && !confirm(`按「替换」导入 ${file.name} 会删除 ${preview.deleted} 个文件中没有的条目（${uploadSummary(preview)}）。继续？`)) {
          entriesStatus("已取消导入，没有做任何修改。");
          return;
        }
      }
      const report = await send(false);
      showError($("entries-error"), null);
      const lines = [`已导入 ${report.file}：${uploadSummary(report)}。` +
                     (report.build ? `新索引已启用（${report.build.vectors} 个向量）。` : "索引无需重建。")];
      if (report.ignored_columns.length) lines.push(h("br"), `未识别、已忽略的列：${report.ignored_columns.join("、")}。`);
      entriesStatus(lines);
      $("upload-file").value = "";
      entries.offset = 0;
      await loadInfo();
    } catch (err) {
      showError($("entries-error"), err);
      const rows = err.detail && err.detail.errors;
      if (Array.isArray(rows) && rows.length) {  // which rows are wrong, one per line
        $("entries-error").append(h("ul", { class: "upload-report", "data-testid": "upload-errors" },
          ...rows.slice(0, 20).map((r) => h("li", { text: r }))));
      }
    }
  }

  function setupEntries() {
    const run = busyRunner($("entries-submit"), "查找中…");
    $("entries-form").addEventListener("submit", (e) => {
      e.preventDefault();
      entries.offset = 0;
      run(loadEntries);
    });
    $("entries-category").addEventListener("change", () => { entries.offset = 0; run(loadEntries); });
    $("entries-prev").addEventListener("click", () => { entries.offset = Math.max(0, entries.offset - entries.limit); run(loadEntries); });
    $("entries-next").addEventListener("click", () => { entries.offset += entries.limit; run(loadEntries); });
    $("entries-new").addEventListener("click", () => openEditor(null));
    $("entry-cancel").addEventListener("click", () => { $("entry-editor").hidden = true; });
    const save = busyRunner($("entry-save"), "保存中…");
    $("entry-editor").addEventListener("submit", (e) => {
      e.preventDefault();
      save(() => saveEntry().catch((err) => showError($("entries-error"), err)));
    });
    const upload = busyRunner($("upload-submit"), "导入中…");
    $("upload-form").addEventListener("submit", (e) => {
      e.preventDefault();
      upload(runUpload);
    });
  }

  // ---- 去重/聚类: any texts, grouped by meaning ----------------------------------------

  async function runTexts(isCurrent) {
    const texts = $("texts-input").value.split("\n").map((t) => t.trim()).filter(Boolean);
    const mode = document.querySelector("input[name=texts-mode]:checked").value;
    $("texts-groups").hidden = true;
    $("texts-meta").hidden = true;
    if (!texts.length) {
      showError($("texts-error"), new Error("请输入要分组的文本，每行一条。"));
      return;
    }
    const body = { texts, collection: currentCollection() || undefined };
    const threshold = $("texts-threshold").value.trim();
    if (threshold) body.threshold = Number(threshold);
    try {
      const data = await api("POST", `/v1/${mode}`, body);
      if (!isCurrent()) return;
      showError($("texts-error"), null);
      const meta = $("texts-meta");
      meta.hidden = false;
      meta.textContent = mode === "dedup"
        ? `${data.texts} 条文本中有 ${data.groups.length} 组重复（阈值 ${fmt(data.threshold)}）`
        : `${data.texts} 条文本分成 ${data.groups.length} 个主题（阈值 ${fmt(data.threshold)}）`;
      const list = $("texts-groups");
      list.replaceChildren(...data.groups.map((g) =>
        h("li", { class: "ht-row", "data-testid": "texts-group" },
          h("div", { class: "ig-head" },
            h("span", { class: "ig-size", text: `${g.size} 条` }),
            h("strong", { "data-testid": "texts-representative", text: g.representative })),
          h("ul", { class: "group-texts" }, ...g.texts.map((t, i) =>
            h("li", { text: `#${g.indices[i] + 1} ${t}` }))))));
      if (!data.groups.length) {
        list.append(h("li", { class: "ht-row muted", text: mode === "dedup" ? "没有找到重复的文本。" : "没有分组。" }));
      }
      list.hidden = false;
    } catch (err) {
      if (isCurrent()) showError($("texts-error"), err);
    }
  }

  function setupTexts() {
    const run = busyRunner($("texts-submit"), "分组中…");
    $("texts-form").addEventListener("submit", (e) => {
      e.preventDefault();
      run(runTexts);
    });
    ctrlEnterSubmits($("texts-input"));
  }

  // ---- FAQ 体检: duplicates, conflicts, misfiled similar questions, unreached entries --

  function auditSection(title, rows, render, testid, empty) {
    const list = h("ol", { class: "ht-rows card", "data-testid": testid },
      ...rows.slice(0, 50).map(render));
    if (!rows.length) list.append(h("li", { class: "ht-row muted", text: empty }));
    if (rows.length > 50) list.append(h("li", { class: "ht-row muted", text: `… 还有 ${rows.length - 50} 条（完整列表：semsearch audit --json）` }));
    return [h("h2", { class: "subhead", text: title }), list];
  }

  function pairRow(d) {
    return h("li", { class: "ht-row audit-pair", "data-testid": "audit-pair" },
      h("div", {}, h("span", { class: "mono muted", text: `${d.entry_a} ` }), d.question_a),
      h("div", {}, h("span", { class: "mono muted", text: `${d.entry_b} ` }), d.question_b),
      h("div", { class: "muted" }, "相似度 ", h("span", { class: "score mono", text: fmt(d.score) }),
        d.sure ? " · 几乎肯定是同一个问题" : " · 请人工确认：可能只是相关的问题",
        d.same_answer ? " · 答案相同，可合并" : " · 答案不同"));
  }

  async function runAudit(isCurrent) {
    const name = currentCollection();
    $("audit-collection").textContent = name || "—";
    try {
      const data = await api("GET", `${collectionPath(name)}/audit`);
      if (!isCurrent()) return;
      showError($("audit-error"), null);
      const c = data.counts;
      const mergeable = data.duplicates.filter((d) => d.same_answer);
      $("audit-duplicates-count").textContent = String(c.duplicates - c.conflicts);
      $("audit-conflicts-count").textContent = String(c.conflicts);
      $("audit-misfiled-count").textContent = String(c.misfiled);
      $("audit-unreached-count").textContent = c.unreached === null ? "—" : String(c.unreached);
      const unreachedNote = data.unreached === null
        ? [h("h2", { class: "subhead", text: "从没被命中的条目" }),
           h("p", { class: "hint", "data-testid": "audit-unreached-reason",
                    text: `无法统计：${data.unreached_reason || "没有检索日志"}` })]
        : auditSection(`从没被命中的条目（最近 ${data.log_days} 天 ${data.searches} 次检索中，没有一次的第 1 条是它）`,
            data.unreached, (u) => h("li", { class: "ht-row" },
              h("span", { class: "mono muted", text: `${u.entry_id} ` }), u.question),
            "audit-unreached", "每个条目都被命中过。");
      $("audit-sections").replaceChildren(
        ...auditSection("答案冲突：问题几乎相同，答案却不同", data.conflicts, pairRow, "audit-conflicts", "没有发现答案冲突。"),
        ...auditSection("重复条目：问题几乎相同（达到「高度相关」阈值），答案也相同，可合并", mergeable, pairRow, "audit-duplicates", "没有发现可合并的重复条目。"),
        ...auditSection("可能放错条目的相似问题：离另一个条目更近", data.misfiled, (m) =>
          h("li", { class: "ht-row audit-pair", "data-testid": "audit-misfiled-row" },
            h("div", {}, "「", m.question, "」现属 ", h("span", { class: "mono", text: m.entry_id }),
              "（", h("span", { class: "score mono", text: fmt(m.own_score) }), "）"),
            h("div", { class: "muted" }, "更接近 ", h("span", { class: "mono", text: m.other_entry_id }),
              ` ${m.other_question}（`, h("span", { class: "score mono", text: fmt(m.other_score) }), "）")),
          "audit-misfiled", "没有发现放错的相似问题。"),
        ...unreachedNote);
      $("audit-result").hidden = false;
    } catch (err) {
      if (isCurrent()) showError($("audit-error"), err);
    }
  }

  function setupAudit() {
    const run = busyRunner($("audit-run"), "体检中…");
    $("audit-run").addEventListener("click", () => run(runAudit));
  }

  function setupApiKey() {
    const input = $("api-key-input");
    input.value = sessionStorage.getItem(KEY_STORE) || "";
    input.addEventListener("change", () => {
      const key = input.value.trim();
      if (key) sessionStorage.setItem(KEY_STORE, key);
      else sessionStorage.removeItem(KEY_STORE);
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    setupTabs();
    renderLegend();  // without thresholds until /v1/info answers
    setupSearch();
    setupSimilarity();
    setupEmbedding();
    setupHittest();
    setupInsights();
    setupEntries();
    setupTexts();
    setupAudit();
    setupApiKey();
    loadInfo();
  });
})();
