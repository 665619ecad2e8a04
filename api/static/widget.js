/* bulletin-rag chat widget: no build step, no dependencies.

   On any page, one tag adds a chat button that opens a chat panel:
     <script src="https://HOST/widget.js" data-api="https://HOST" defer></script>
   data-mode="page" data-target="#id" renders the chat inside that element instead (the page at / does this,
   replacing its server-rendered form and answering the page's ?q= in the chat).
   Customisation, all optional: data-title, data-greeting, data-suggestions ("First question?|Second?"),
   data-lang (en, zh), data-theme (light, dark, auto), and colours through CSS custom properties set on the
   bulletin-chat element by the host page (--bc-accent, --bc-ink, ...: see widget.css).

   Everything lives in a shadow root, so the host page's styles and ours never meet. Text from the server
   or the user only ever reaches the DOM as text nodes (append/textContent), never as HTML. */
(() => {
  "use strict";

  const script = document.currentScript || document.querySelector("script[src*='widget.js']");
  if (!script || script.dataset.bulletinChat) return; // loaded twice: keep the first
  script.dataset.bulletinChat = "mounted";

  const SCRIPT_URL = new URL(script.src, location.href);
  const API = (script.dataset.api || SCRIPT_URL.origin).replace(/\/+$/, "");
  const MODE = script.dataset.mode === "page" ? "page" : "floating";
  const TIMEOUT_MS = 60000;
  const MAX_MESSAGES = 20; // turns sent to /chat (the server takes 50); follow-ups need only the recent ones
  const EXCERPT_CHARS = 240;

  // ---- interface strings ----------------------------------------------------------------------------------

  const STRINGS = {
    en: {
      title: "Ask the bulletins", newConversation: "New conversation", close: "Close chat",
      conversation: "Conversation", question: "Your question about the bulletins", placeholder: "Ask a question…",
      send: "Send", back: "Back to the conversation", bulletinText: "Bulletin text",
      greeting: "Ask a question about the news bulletins. Answers are sentences quoted from them; " +
                "select a numbered source such as [1] to read it in its bulletin.",
      suggestions: "Suggested questions", searching: "Searching the bulletins…", youAsked: "You asked: ",
      answerTo: (q) => `Answer to: ${q}`, searchedFor: "Searched for: ", short: "Short answer: ", from: "From: ",
      source: (n, title) => `Source ${n}: ${title}`, sources: "Sources", noAnswer: "No answer found",
      dontSay: "The bulletins don't say.", noBulletin: "No bulletin answers ", closest: " These passages came closest:",
      nearest: "Nearest passages", copy: "Copy answer", copied: "Copied", copyFailed: "Copy failed",
      quotesInEnglish: "The quotes are in English, as the bulletins are.",
      original: (name) => `Original: ${name}`, originalPage: (name, page) => `Original: ${name}, page ${page}`,
      opening: "Opening the bulletin…", loading: "Loading…", cantOpen: "The bulletin could not be opened",
      cited: "Cited passage: ", endCited: " End of cited passage. ",
      opened: (title) => `Opened ${title}. The cited passage is highlighted.`, wrong: "Something went wrong. ",
      timeout: (s) => `The bulletin service did not answer within ${s} seconds. Try again in a moment.`,
      unreachable: (api) => `Can't reach the bulletin service at ${api}. It may be down or unreachable from this ` +
                            "page. Check your connection and try again.",
      tooMany: (wait) => `Too many questions right now${wait ? `: try again in ${wait} seconds` : ""}.`,
      failed: (status, id) => `The bulletin service failed (HTTP ${status})${id}. Try again later.`,
      refused: (said, id) => `The bulletin service could not take this question: ${said}${id}`,
      request: (id) => ` (request ${id})`, unreadable: "The bulletin service sent a reply this page cannot read.",
      dateLocale: "en-GB",
    },
    zh: {
      title: "向简报提问", newConversation: "新对话", close: "关闭对话", conversation: "对话",
      question: "关于简报的问题", placeholder: "输入问题…", send: "发送", back: "返回对话",
      bulletinText: "简报全文",
      greeting: "就新闻简报提问。回答是从简报中引用的原句；选择编号来源（如 [1]）可在简报中阅读原文。",
      suggestions: "推荐问题", searching: "正在检索简报…", youAsked: "你的问题：",
      answerTo: (q) => `回答：${q}`, searchedFor: "检索内容：", short: "简短回答：", from: "出处：",
      source: (n, title) => `来源 ${n}：${title}`, sources: "来源", noAnswer: "未找到答案",
      dontSay: "简报中没有相关内容。", noBulletin: "没有简报回答：", closest: " 最接近的段落：",
      nearest: "最接近的段落", copy: "复制回答", copied: "已复制", copyFailed: "复制失败",
      quotesInEnglish: "引文为简报英文原文。",
      original: (name) => `原文：${name}`, originalPage: (name, page) => `原文：${name}，第 ${page} 页`,
      opening: "正在打开简报…", loading: "加载中…", cantOpen: "无法打开该简报", cited: "引用段落：",
      endCited: " 引用段落结束。", opened: (title) => `已打开《${title}》，引用段落已高亮。`,
      wrong: "出错了。",
      timeout: (s) => `简报服务在 ${s} 秒内没有回应，请稍后再试。`,
      unreachable: (api) => `无法连接简报服务 ${api}。服务可能已停止，或本页面无法访问它。请检查网络后重试。`,
      tooMany: (wait) => `提问过于频繁${wait ? `，请在 ${wait} 秒后重试` : ""}。`,
      failed: (status, id) => `简报服务出错（HTTP ${status}）${id}。请稍后再试。`,
      refused: (said, id) => `简报服务无法处理这个问题：${said}${id}`, request: (id) => `（请求 ${id}）`,
      unreadable: "简报服务的回复无法读取。", dateLocale: "zh-CN",
    },
  };
  const LANG = STRINGS[script.dataset.lang] ? script.dataset.lang : "en";
  const T = STRINGS[LANG];
  const THEME = ["light", "dark", "auto"].includes(script.dataset.theme) ? script.dataset.theme : "auto";
  const TITLE = script.dataset.title || T.title;
  const GREETING = script.dataset.greeting || T.greeting;
  const SUGGESTIONS = (script.dataset.suggestions || "").split("|").map((q) => q.trim()).filter(Boolean).slice(0, 6);

  // ---- DOM helpers --------------------------------------------------------------------------------------

  /** An element with attributes, listeners (onclick: fn) and children; strings become text nodes. */
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === false || value == null) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) if (child != null && child !== false) node.append(child);
    return node;
  }

  function icon(path) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const p = document.createElementNS("http://www.w3.org/2000/svg", "path");
    p.setAttribute("d", path);
    svg.append(p);
    return svg;
  }

  const srOnly = (text) => h("span", { class: "sr-only" }, text);

  /** Split ``text`` at code-point offsets: the API counts characters as Python does, JS strings count UTF-16 units. */
  function splitAt(text, start, end) {
    const chars = Array.from(text);
    start = Math.max(0, Math.min(start, chars.length));
    end = Math.max(start, Math.min(end, chars.length));
    return [chars.slice(0, start).join(""), chars.slice(start, end).join(""), chars.slice(end).join("")];
  }

  function excerpt(text) {
    const flat = text.replace(/\s+/g, " ").trim();
    if (flat.length <= EXCERPT_CHARS) return flat;
    const cut = flat.slice(0, EXCERPT_CHARS);
    return cut.slice(0, Math.max(cut.lastIndexOf(" "), EXCERPT_CHARS - 40)) + " …";
  }

  /** "2023-03-20" -> "20 March 2023"; "--03-20" (the bulletin gives no year) -> "20 March". */
  function formatDate(iso) {
    const m = /^(\d{4}|-)-(\d{2})-(\d{2})$/.exec(iso || "");
    if (!m) return iso || "";
    const partial = m[1] === "-";
    const date = new Date(Date.UTC(partial ? 2000 : +m[1], +m[2] - 1, +m[3]));
    const parts = { day: "numeric", month: "long", timeZone: "UTC" };
    if (!partial) parts.year = "numeric";
    return date.toLocaleDateString(T.dateLocale, parts);
  }

  /** Scroll ``container`` (not the host page) so that ``el`` sits at ``where`` ("start" or "center"). */
  function scrollWithin(container, el, where) {
    const box = container.getBoundingClientRect();
    const target = el.getBoundingClientRect();
    const offset = where === "center" ? (box.height - Math.min(target.height, box.height)) / 2 : 8;
    container.scrollTop += target.top - box.top - offset;
  }

  // ---- the API ------------------------------------------------------------------------------------------

  class ApiError extends Error {}

  async function call(path, body) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
    const init = body === undefined ? { signal: controller.signal } : {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      signal: controller.signal,
    };
    let response;
    let data = null;
    try {
      response = await fetch(API + path, init);
      try { data = await response.json(); } catch (_) { data = null; }
    } catch (err) {
      if (controller.signal.aborted) {
        throw new ApiError(T.timeout(TIMEOUT_MS / 1000));
      }
      throw new ApiError(T.unreachable(API));
    } finally {
      clearTimeout(timer);
    }
    if (!response.ok) throw new ApiError(describeFailure(response, data));
    if (data === null) throw new ApiError(T.unreadable);
    return data;
  }

  function describeFailure(response, data) {
    const said = data && typeof data.error === "string" ? data.error : "";
    const id = data && data.request_id ? T.request(data.request_id) : "";
    if (response.status === 429) return `${T.tooMany(response.headers.get("Retry-After"))} ${said}`.trim();
    if (response.status >= 500) return T.failed(response.status, id);
    return T.refused(said || `HTTP ${response.status}`, id);
  }

  // ---- answers ------------------------------------------------------------------------------------------

  /** The answer text with clickable [n] markers and the short answer span emphasised once. */
  function answerText(data, openCitation) {
    const byN = new Map(data.citations.map((c) => [c.n, c]));
    const parts = data.answer.split(/\[(\d+)\]/); // text, n, text, n, ..., text
    const cited = (i) => byN.get(Number(parts[i + 1]));
    // The span sits verbatim inside a cited quote: emphasise it in the sentence that precedes that marker.
    let spanAt = -1;
    if (data.span) {
      for (let i = 0; i < parts.length && spanAt < 0; i += 2) {
        if (parts[i].includes(data.span) && cited(i) && cited(i).quote.includes(data.span)) spanAt = i;
      }
      for (let i = 0; i < parts.length && spanAt < 0; i += 2) if (parts[i].includes(data.span)) spanAt = i;
    }
    const p = h("p", { class: "answer-text" });
    parts.forEach((part, i) => {
      if (i % 2 === 0) {
        const at = i === spanAt ? part.indexOf(data.span) : -1;
        const text = i + 1 < parts.length ? part.trimEnd() : part; // the marker brings its own space
        if (at < 0) p.append(text);
        else p.append(text.slice(0, at), h("strong", { class: "span" }, data.span), text.slice(at + data.span.length));
        return;
      }
      const c = byN.get(Number(part));
      glue(p, c ? citeButton(c, openCitation) : `[${part}]`);
    });
    return p;
  }

  /** Append ``marker`` to ``p`` on one line with the word before it, so that it never wraps to a line alone. */
  function glue(p, marker) {
    const last = p.lastChild;
    const together = h("span", { class: "nowrap" });
    if (last && last.nodeType === Node.TEXT_NODE) {
      const word = /\S{0,30}$/.exec(last.data)[0];
      last.data = last.data.slice(0, last.data.length - word.length);
      together.append(word);
    } else if (last) {
      together.append(last); // the emphasised span ends right before the marker
    }
    together.append("\u00a0", marker);
    p.append(together);
  }

  function citeButton(c, openCitation) {
    const button = h("button", { type: "button", class: "cite", title: c.title,
                                 "aria-label": T.source(c.n, c.title) }, `[${c.n}]`);
    button.addEventListener("click", () => openCitation(c, button));
    return button;
  }

  /** The answer and its sources as plain text, as the clipboard gets it (the same shape as /v1 content). */
  function plainText(data) {
    if (data.abstained) return `${T.dontSay} ${T.noBulletin}${data.searched_question || data.question}`;
    const sources = data.citations.map((c) => `[${c.n}] ${c.title} (${c.source})`);
    return sources.length ? `${data.answer}\n\n${T.sources}:\n${sources.join("\n")}` : data.answer;
  }

  async function copyText(text, shadow) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (_) { // no Clipboard API (a page over plain http, an old browser): the selection way
      const area = h("textarea", { class: "sr-only", "aria-hidden": "true", tabindex: "-1" });
      area.value = text;
      shadow.append(area);
      area.select();
      const done = document.execCommand && document.execCommand("copy");
      area.remove();
      return Boolean(done);
    }
  }

  function copyButton(data, shadow) {
    const label = h("span", {}, T.copy);
    const button = h("button", { type: "button", class: "copy" }, icon("M9 9h10v10H9zM5 15V5h10"), label);
    let timer = 0;
    button.addEventListener("click", async () => {
      const ok = await copyText(plainText(data), shadow);
      label.textContent = ok ? T.copied : T.copyFailed;
      clearTimeout(timer);
      timer = setTimeout(() => { label.textContent = T.copy; }, 2000);
    });
    return button;
  }

  function renderAnswer(data, openCitation, shadow) {
    const article = h("article", { class: "msg bot", "aria-label": T.answerTo(data.question) });
    if (data.searched_question && data.searched_question !== data.question) {
      article.append(h("p", { class: "searched" }, T.searchedFor, h("q", {}, data.searched_question)));
    }
    if (data.span) article.append(h("p", { class: "short" }, T.short, h("strong", {}, data.span)));
    article.append(answerText(data, openCitation));
    if (data.lang && data.lang !== "en") {  // said in the asker's language, whatever the interface's
      const asker = STRINGS[data.lang] || T;
      article.append(h("p", { class: "quotes-lang", lang: STRINGS[data.lang] ? data.lang : LANG }, asker.quotesInEnglish));
    }
    const titles = [...new Set(data.citations.map((c) => c.title))];
    if (titles.length) article.append(h("p", { class: "from" }, `${T.from}${titles.join("; ")}`));
    article.append(h("div", { class: "tools" }, copyButton(data, shadow)));
    return article;
  }

  function renderAbstention(data, openPassage) {
    const article = h("article", { class: "msg bot abstained", "aria-label": T.noAnswer });
    article.append(h("p", { class: "lead" }, T.dontSay));
    article.append(h("p", {}, T.noBulletin, h("q", {}, data.searched_question || data.question),
                     data.passages.length ? T.closest : ""));
    if (data.passages.length) {
      article.append(h("ul", { class: "passages", "aria-label": T.nearest }, data.passages.map((p) => {
        const button = h("button", { type: "button", class: "passage-title" }, p.title);
        button.addEventListener("click", () => openPassage(p, button));
        return h("li", {}, button, h("p", { class: "excerpt" }, excerpt(p.text)));
      })));
    }
    return article;
  }

  // ---- the shell: every element, built once -------------------------------------------------------------

  // widget.css has one dark palette, :host([data-scheme="dark"]): "auto" follows the reader's system setting.
  function followScheme(host) {
    const dark = window.matchMedia("(prefers-color-scheme: dark)");
    const apply = () => { host.dataset.scheme = THEME === "auto" ? (dark.matches ? "dark" : "light") : THEME; };
    apply();
    if (THEME === "auto") dark.addEventListener("change", apply);
  }

  function buildShell() {
    const host = document.createElement("bulletin-chat");
    host.dataset.mode = MODE;
    host.dataset.theme = THEME;
    followScheme(host);
    const shadow = host.attachShadow({ mode: "open" });
    const sheet = h("link", { rel: "stylesheet", href: new URL("widget.css", SCRIPT_URL).href });
    const root = h("div", { class: `root ${MODE}`, lang: LANG, hidden: true }); // shown once the stylesheet is in
    shadow.append(sheet, root);

    const ids = { title: "bc-title", input: "bc-question", panel: "bc-panel", source: "bc-source-title" };
    const floating = MODE === "floating";
    const ui = { host, shadow, sheet, root };
    ui.launcher = floating ? h("button", { type: "button", class: "launcher", "aria-expanded": "false",
      "aria-controls": ids.panel }, icon("M4 4h16v11H8l-4 4z"), h("span", {}, TITLE)) : null;
    ui.newButton = h("button", { type: "button", class: "new" }, T.newConversation);
    ui.closeButton = floating
      ? h("button", { type: "button", class: "close", "aria-label": T.close }, icon("M6 6l12 12M18 6L6 18")) : null;
    ui.head = h("header", { class: "head" }, h("h2", { id: ids.title }, TITLE), ui.newButton, ui.closeButton);

    // A polite log that announces answers only: questions and the waiting dots are hidden from it (each
    // answer is named after its question), so a screen reader hears what is new and nothing twice.
    ui.log = h("div", { class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
                        "aria-label": T.conversation, tabindex: "0" });
    ui.input = h("input", { id: ids.input, class: "question", type: "text", maxlength: "2000", autocomplete: "off",
                            placeholder: T.placeholder, enterkeyhint: "send" });
    ui.send = h("button", { type: "submit", class: "send" }, T.send);
    ui.form = h("form", { class: "ask", "aria-label": TITLE },
                h("label", { for: ids.input, class: "sr-only" }, T.question), ui.input, ui.send);
    ui.conversation = h("div", { class: "conversation" }, ui.log, ui.form);

    ui.backButton = h("button", { type: "button", class: "back" }, icon("M15 5l-7 7 7 7"), h("span", {}, T.back));
    ui.sourceTitle = h("h3", { id: ids.source, class: "source-title" });
    ui.sourceMeta = h("p", { class: "source-meta" });
    ui.sourceText = h("div", { class: "source-text", tabindex: "0", "aria-label": T.bulletinText });
    ui.sourceStatus = h("p", { class: "sr-only", role: "status" });
    ui.sourceView = h("section", { class: "source", role: "dialog", "aria-modal": "true", "aria-labelledby": ids.source,
                                   hidden: true },
                      h("div", { class: "source-head" }, ui.backButton, ui.sourceTitle, ui.sourceMeta),
                      ui.sourceText, ui.sourceStatus);

    ui.panel = h("section", { id: ids.panel, class: "panel", role: floating ? "dialog" : "region",
                              "aria-labelledby": ids.title, hidden: floating },
                 ui.head, ui.conversation, ui.sourceView);
    root.append(...[ui.launcher, ui.panel].filter(Boolean));
    return ui;
  }

  // ---- the source view: one bulletin, the cited characters highlighted ----------------------------------

  function sourceViewer(ui) {
    const bulletins = new Map();
    let opener = null;
    let request = 0; // a later open (or a close) makes an earlier, slower one drop its result

    /** A link to the file the bulletin was read from, when its text was extracted (a PDF opens at the page). */
    function originalLink(bulletinId, ref) {
      if (!ref.text_source || ref.text_source === ref.source) return null;
      const name = ref.source.split("/").pop();
      const page = Number.isInteger(ref.page) ? ref.page : null;
      const href = `${API}/bulletins/${encodeURIComponent(bulletinId)}/original${page ? `#page=${page}` : ""}`;
      return h("a", { class: "original", href, target: "_blank", rel: "noopener" },
               page ? T.originalPage(name, page) : T.original(name));
    }

    async function open(bulletinId, start, end, from, ref = {}) {
      const mine = ++request;
      opener = from;
      ui.head.inert = ui.conversation.inert = true; // the source view covers them
      ui.sourceView.hidden = false;
      ui.sourceTitle.textContent = T.opening;
      ui.sourceMeta.replaceChildren();
      ui.sourceText.replaceChildren(h("p", { class: "loading" }, T.loading));
      ui.backButton.focus();
      let b;
      try {
        b = bulletins.get(bulletinId) || await call(`/bulletins/${encodeURIComponent(bulletinId)}`);
        bulletins.set(bulletinId, b);
      } catch (err) {
        if (mine !== request) return;
        ui.sourceTitle.textContent = T.cantOpen;
        ui.sourceText.replaceChildren(h("p", { class: "msg error", role: "alert" }, err.message));
        return;
      }
      if (mine !== request) return;
      // Offsets are positions in the text file (the source, or the text extracted from a PDF, web page or Word
      // file); the bulletin's text starts at b.char_start.
      const [before, cited, after] = splitAt(b.text, start - b.char_start, end - b.char_start);
      const mark = h("mark", {}, cited);
      ui.sourceTitle.textContent = b.title;
      ui.sourceMeta.replaceChildren(...[b.date && h("time", { datetime: b.date }, formatDate(b.date)),
        originalLink(bulletinId, ref) || b.source].filter(Boolean).flatMap((part, i) => (i ? [" · ", part] : [part])));
      ui.sourceText.replaceChildren(before, srOnly(T.cited), mark, srOnly(T.endCited), after);
      ui.sourceStatus.textContent = T.opened(b.title);
      scrollWithin(ui.sourceText, mark, "center");
    }

    function close(restoreFocus = true) {
      if (ui.sourceView.hidden) return;
      request += 1;
      ui.sourceView.hidden = true;
      ui.head.inert = ui.conversation.inert = false;
      ui.sourceStatus.textContent = "";
      if (restoreFocus && opener && opener.isConnected) opener.focus();
      opener = null;
    }

    return {
      open, close,
      isOpen: () => !ui.sourceView.hidden,
      openCitation: (c, from) => open(c.bulletin_id, c.char_start, c.char_end, from, c),
      openPassage: (p, from) => open(p.bulletin_id, p.char_start, p.char_end, from, p),
    };
  }

  // ---- the conversation: bubbles, follow-ups through /chat, starting over --------------------------------

  function conversation(ui, viewer) {
    let history = [];   // turns the server has answered: [{role, content}]
    let generation = 0; // bumped by "New conversation": late replies of an old conversation are dropped
    let sending = false;

    function showIntro() {
      const intro = h("div", { class: "intro" }, h("p", {}, GREETING));
      if (SUGGESTIONS.length) {
        const starter = (q) => h("button", { type: "button", class: "suggestion",
                                             onclick: () => !sending && ask(q) }, q);
        intro.append(h("ul", { class: "suggestions", "aria-label": T.suggestions },
                       SUGGESTIONS.map((q) => h("li", {}, starter(q)))));
      }
      ui.log.replaceChildren(intro);
    }

    function setSending(on) {
      sending = on;
      ui.input.disabled = on;
      ui.send.disabled = on;
      ui.form.setAttribute("aria-busy", String(on));
    }

    function add(node) {
      ui.log.append(node);
      scrollWithin(ui.log, node, "start");
      return node;
    }

    async function ask(question) {
      const asked = generation;
      const active = ui.shadow.activeElement;
      const hadFocus = ui.form.contains(active) || Boolean(active && active.classList.contains("suggestion"));
      const messages = [...history, { role: "user", content: question }].slice(-MAX_MESSAGES);
      while (messages[0].role !== "user") messages.shift();
      ui.log.querySelector(".suggestions")?.remove(); // starters are for an empty conversation
      add(h("div", { class: "msg user", "aria-hidden": "true" }, srOnly(T.youAsked), question));
      const pending = add(h("div", { class: "msg bot pending", "aria-hidden": "true" },
                            h("span", { class: "dots" }, h("i"), h("i"), h("i")), T.searching));
      setSending(true);
      let reply;
      try {
        const data = await call("/chat", { messages });
        if (asked !== generation) return;
        history = [...messages, { role: "assistant", content: data.answer }];
        reply = data.abstained ? renderAbstention(data, viewer.openPassage)
          : renderAnswer(data, viewer.openCitation, ui.shadow);
      } catch (err) {
        if (asked !== generation) return;
        reply = h("div", { class: "msg error", role: "alert" }, h("strong", {}, T.wrong),
                  err instanceof ApiError ? err.message : String(err));
        if (!ui.input.value) ui.input.value = question; // ready to send again
      }
      pending.remove();
      add(reply);
      setSending(false);
      if (hadFocus && !ui.shadow.activeElement) ui.input.focus();
      return reply;
    }

    function submit() {
      const question = ui.input.value.trim();
      if (sending || !question) return ui.input.focus();
      ui.input.value = "";
      ask(question);
    }

    function startOver() {
      generation += 1;
      history = [];
      viewer.close(false);
      setSending(false);
      showIntro();
      ui.input.value = "";
      ui.input.focus();
    }

    showIntro();
    return { submit, startOver, ask };
  }

  // ---- mount: the panel, the keys, the place on the page -------------------------------------------------

  function mount() {
    const ui = buildShell();
    const viewer = sourceViewer(ui);
    const chat = conversation(ui, viewer);

    const reveal = () => {
      ui.root.hidden = false;
      if (MODE !== "page") return;
      ui.input.focus(); // the page exists to ask: start in the question box
      // The page's own address (/?q=...&source=...&start=&end=, the page without JavaScript) carries on here.
      const params = new URLSearchParams(location.search);
      const question = (params.get("q") || "").trim();
      if (question) {
        chat.ask(question).then(() => {
          const source = params.get("source");
          if (source) viewer.open(source, Number(params.get("start")) || 0, Number(params.get("end")) || 0, ui.input);
        });
      }
    };
    ui.sheet.addEventListener("load", reveal);
    ui.sheet.addEventListener("error", reveal);

    function openPanel() {
      ui.panel.hidden = false;
      ui.launcher.setAttribute("aria-expanded", "true");
      ui.input.focus();
    }

    function closePanel() {
      viewer.close(false);
      ui.panel.hidden = true;
      ui.launcher.setAttribute("aria-expanded", "false");
      ui.launcher.focus();
    }

    ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      chat.submit();
    });
    ui.newButton.addEventListener("click", chat.startOver);
    ui.backButton.addEventListener("click", () => viewer.close());
    if (ui.launcher) ui.launcher.addEventListener("click", () => (ui.panel.hidden ? openPanel() : closePanel()));
    if (ui.closeButton) ui.closeButton.addEventListener("click", closePanel);
    ui.root.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      if (viewer.isOpen()) viewer.close();
      else if (MODE === "floating" && !ui.panel.hidden) closePanel();
      else return;
      event.preventDefault();
      event.stopPropagation();
    });
    return ui.host;
  }

  function place() {
    const host = mount();
    const target = MODE === "page" && script.dataset.target ? document.querySelector(script.dataset.target) : null;
    if (target) target.replaceChildren(host); // the server-rendered form and answer give way to the chat
    else document.body.append(host);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", place);
  else place();
})();
