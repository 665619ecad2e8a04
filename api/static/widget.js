/* bulletin-rag chat widget: no build step, no dependencies.

   On any page, one tag adds a chat button that opens a chat panel:
     <script src="https://HOST/widget.js" data-api="https://HOST" defer></script>
   data-mode="page" data-target="#id" renders the chat inside that element instead (the page at / does this).

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
    return date.toLocaleDateString("en-GB", parts);
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
        throw new ApiError(`The bulletin service did not answer within ${TIMEOUT_MS / 1000} seconds. Try again in a moment.`);
      }
      throw new ApiError(`Can't reach the bulletin service at ${API}. It may be down or unreachable from this page. ` +
                         "Check your connection and try again.");
    } finally {
      clearTimeout(timer);
    }
    if (!response.ok) throw new ApiError(describeFailure(response, data));
    if (data === null) throw new ApiError("The bulletin service sent a reply this page cannot read.");
    return data;
  }

  function describeFailure(response, data) {
    const said = data && typeof data.error === "string" ? data.error : "";
    const id = data && data.request_id ? ` (request ${data.request_id})` : "";
    if (response.status === 429) {
      const wait = response.headers.get("Retry-After");
      return `Too many questions right now${wait ? `: try again in ${wait} seconds` : ""}. ${said}`.trim();
    }
    if (response.status >= 500) return `The bulletin service failed (HTTP ${response.status})${id}. Try again later.`;
    return `The bulletin service could not take this question: ${said || `HTTP ${response.status}`}${id}`;
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
                                 "aria-label": `Source ${c.n}: ${c.title}` }, `[${c.n}]`);
    button.addEventListener("click", () => openCitation(c, button));
    return button;
  }

  function renderAnswer(data, openCitation) {
    const article = h("article", { class: "msg bot", "aria-label": "Answer" });
    if (data.searched_question && data.searched_question !== data.question) {
      article.append(h("p", { class: "searched" }, "Searched for: ", h("q", {}, data.searched_question)));
    }
    if (data.span) article.append(h("p", { class: "short" }, "Short answer: ", h("strong", {}, data.span)));
    article.append(answerText(data, openCitation));
    const titles = [...new Set(data.citations.map((c) => c.title))];
    if (titles.length) article.append(h("p", { class: "from" }, `From: ${titles.join("; ")}`));
    return article;
  }

  function renderAbstention(data, openPassage) {
    const article = h("article", { class: "msg bot abstained", "aria-label": "No answer found" });
    article.append(h("p", { class: "lead" }, "The bulletins don't say."));
    article.append(h("p", {}, "No bulletin answers ", h("q", {}, data.searched_question || data.question),
                     data.passages.length ? " These passages came closest:" : ""));
    if (data.passages.length) {
      article.append(h("ul", { class: "passages", "aria-label": "Nearest passages" }, data.passages.map((p) => {
        const button = h("button", { type: "button", class: "passage-title" }, p.title);
        button.addEventListener("click", () => openPassage(p, button));
        return h("li", {}, button, h("p", { class: "excerpt" }, excerpt(p.text)));
      })));
    }
    return article;
  }

  // ---- the shell: every element, built once -------------------------------------------------------------

  function buildShell() {
    const host = document.createElement("bulletin-chat");
    host.dataset.mode = MODE;
    const shadow = host.attachShadow({ mode: "open" });
    const sheet = h("link", { rel: "stylesheet", href: new URL("widget.css", SCRIPT_URL).href });
    const root = h("div", { class: `root ${MODE}`, hidden: true }); // shown once the stylesheet is in
    shadow.append(sheet, root);

    const ids = { title: "bc-title", input: "bc-question", panel: "bc-panel", source: "bc-source-title" };
    const floating = MODE === "floating";
    const ui = { host, shadow, sheet, root };
    ui.launcher = floating ? h("button", { type: "button", class: "launcher", "aria-expanded": "false",
      "aria-controls": ids.panel }, icon("M4 4h16v11H8l-4 4z"), h("span", {}, "Ask the bulletins")) : null;
    ui.newButton = h("button", { type: "button", class: "new" }, "New conversation");
    ui.closeButton = floating
      ? h("button", { type: "button", class: "close", "aria-label": "Close chat" }, icon("M6 6l12 12M18 6L6 18")) : null;
    ui.head = h("header", { class: "head" }, h("h2", { id: ids.title }, "Ask the bulletins"), ui.newButton,
                ui.closeButton);

    ui.log = h("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": "Conversation", tabindex: "0" });
    ui.input = h("input", { id: ids.input, class: "question", type: "text", maxlength: "2000", autocomplete: "off",
                            placeholder: "Ask a question…", enterkeyhint: "send" });
    ui.send = h("button", { type: "submit", class: "send" }, "Send");
    ui.form = h("form", { class: "ask", "aria-label": "Ask the bulletins" },
                h("label", { for: ids.input, class: "sr-only" }, "Your question about the bulletins"), ui.input, ui.send);
    ui.conversation = h("div", { class: "conversation" }, ui.log, ui.form);

    ui.backButton = h("button", { type: "button", class: "back" }, icon("M15 5l-7 7 7 7"),
                      h("span", {}, "Back to the conversation"));
    ui.sourceTitle = h("h3", { id: ids.source, class: "source-title" });
    ui.sourceMeta = h("p", { class: "source-meta" });
    ui.sourceText = h("div", { class: "source-text", tabindex: "0", "aria-label": "Bulletin text" });
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
               page ? `Original: ${name}, page ${page}` : `Original: ${name}`);
    }

    async function open(bulletinId, start, end, from, ref = {}) {
      const mine = ++request;
      opener = from;
      ui.head.inert = ui.conversation.inert = true; // the source view covers them
      ui.sourceView.hidden = false;
      ui.sourceTitle.textContent = "Opening the bulletin…";
      ui.sourceMeta.replaceChildren();
      ui.sourceText.replaceChildren(h("p", { class: "loading" }, "Loading…"));
      ui.backButton.focus();
      let b;
      try {
        b = bulletins.get(bulletinId) || await call(`/bulletins/${encodeURIComponent(bulletinId)}`);
        bulletins.set(bulletinId, b);
      } catch (err) {
        if (mine !== request) return;
        ui.sourceTitle.textContent = "The bulletin could not be opened";
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
      ui.sourceText.replaceChildren(before, srOnly("Cited passage: "), mark, srOnly(" End of cited passage. "), after);
      ui.sourceStatus.textContent = `Opened ${b.title}. The cited passage is highlighted.`;
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
      ui.log.replaceChildren(h("p", { class: "intro" },
        "Ask a question about the news bulletins. Answers are sentences quoted from them; " +
        "select a numbered source such as [1] to read it in its bulletin."));
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
      const hadFocus = ui.form.contains(ui.shadow.activeElement);
      const messages = [...history, { role: "user", content: question }].slice(-MAX_MESSAGES);
      while (messages[0].role !== "user") messages.shift();
      add(h("div", { class: "msg user" }, srOnly("You asked: "), question));
      const pending = add(h("div", { class: "msg bot pending", "aria-busy": "true" },
                            h("span", { class: "dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")),
                            "Searching the bulletins…"));
      setSending(true);
      let reply;
      try {
        const data = await call("/chat", { messages });
        if (asked !== generation) return;
        history = [...messages, { role: "assistant", content: data.answer }];
        reply = data.abstained ? renderAbstention(data, viewer.openPassage) : renderAnswer(data, viewer.openCitation);
      } catch (err) {
        if (asked !== generation) return;
        reply = h("div", { class: "msg error", role: "alert" }, h("strong", {}, "Something went wrong. "),
                  err instanceof ApiError ? err.message : String(err));
        if (!ui.input.value) ui.input.value = question; // ready to send again
      }
      pending.remove();
      add(reply);
      setSending(false);
      if (hadFocus && !ui.shadow.activeElement) ui.input.focus();
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
    return { submit, startOver };
  }

  // ---- mount: the panel, the keys, the place on the page -------------------------------------------------

  function mount() {
    const ui = buildShell();
    const viewer = sourceViewer(ui);
    const chat = conversation(ui, viewer);

    const reveal = () => {
      ui.root.hidden = false;
      if (MODE === "page") ui.input.focus(); // the page exists to ask: start in the question box
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
    (target || document.body).append(host);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", place);
  else place();
})();
