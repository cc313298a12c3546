/* Microneedling assistant widget: add
 *   <script src="https://YOUR-ASSISTANT-HOST/widget.js" defer></script>
 * to any page. It adds a chat bubble that talks to this server's /api/ask/stream.
 *
 * Options (data- attributes on the script tag; they win over GET /api/widget-config):
 *   data-title, data-greeting, data-accent (#rgb or #rrggbb), data-position (left|right),
 *   data-starters ("question one|question two"), data-phone (the clinic's number),
 *   data-contact-url (the clinic's booking or contact page, http:// or https://),
 *   data-timeout (seconds to wait for an answer, default 20).
 *
 * Under a reply that is not an answer (a refusal, the closest passages) it offers the clinic's phone
 * and booking or contact page, and a form that leaves the question with the patient's e-mail or
 * phone for the clinic to reply (POST /api/contact; the server checks every field).
 *
 * Everything lives in a shadow root with its own reset, so the host page's CSS cannot reach in
 * and the widget's cannot leak out. Everything shown is set with textContent: no HTML from a
 * question, an answer, the documents or the configuration is ever rendered. No key or secret is
 * needed or stored. The conversation is kept in sessionStorage (this tab, this site), so it
 * survives reloads and page changes until "New chat". */
(function () {
  "use strict";
  if (window.__microneedlingWidget) return;
  window.__microneedlingWidget = true;

  var script = document.currentScript;
  var base = script ? new URL(script.src, document.baseURI).origin : window.location.origin;
  var attrs = (script && script.dataset) || {};
  var HEX = /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i;
  var PHONE = /^[0-9 +()\-]+$/;
  // The server's rule for CLINIC_CONTACT_URL: only a plain web address ever becomes a link.
  var WEB = /^https?:\/\/[^\s<>"']{1,2000}$/;
  // Replies that are not an answer; each offers the way to a person (phone, booking or contact page).
  var NOT_ANSWERED = ["closest", "out_of_scope"];
  var DEFAULTS = {title: "Microneedling questions", greeting: "Hello! Ask me anything about microneedling.",
                  accent: "#7b3f61", position: "right", starters: [], phone: "", contact_url: "",
                  retention_days: 0};
  var LEAVE = "Leave your question and how to reach you";
  var SENT = "Thank you: the clinic has your question and will contact you.";
  var CONSENT = "I agree that the clinic keeps my question and contact details to reply to me";
  // 20 s: the server answers in well under a second, and a language model (if enabled) has
  // its own 20 s limit; past that the visitor is better served by a retry or a phone call.
  var timeoutMs = (parseFloat(attrs.timeout) > 0 ? parseFloat(attrs.timeout) : 20) * 1000;
  var storeKey = "mn-assistant:" + base;
  var HISTORY_SENT = 6; // past questions sent with a new one, for follow-ups ("and for that?")
  var KEPT_MESSAGES = 60; // older messages are dropped from sessionStorage

  // --- configuration: defaults, then the server's, then the script tag's data- attributes ---

  function cleanConfig(raw, from) {
    var out = {};
    if (!raw || typeof raw !== "object") return out;
    ["title", "greeting"].forEach(function (k) {
      if (typeof raw[k] === "string" && raw[k].trim()) out[k] = raw[k].trim();
    });
    if (typeof raw.accent === "string") {
      if (HEX.test(raw.accent.trim())) out.accent = raw.accent.trim();
      else warn(from + ": accent " + JSON.stringify(raw.accent) + " is not a hex colour such as #7b3f61; ignored");
    }
    if (typeof raw.position === "string") {
      if (raw.position === "left" || raw.position === "right") out.position = raw.position;
      else warn(from + ": position must be left or right; ignored");
    }
    if (typeof raw.phone === "string") {
      if (!raw.phone.trim() || PHONE.test(raw.phone.trim())) out.phone = raw.phone.trim();
      else warn(from + ": phone may hold only digits, spaces and +()-; ignored");
    }
    if (typeof raw.contact_url === "string") {
      if (!raw.contact_url.trim() || WEB.test(raw.contact_url.trim())) out.contact_url = raw.contact_url.trim();
      else warn(from + ": contact_url must be a web address starting with https:// or http://; ignored");
    }
    // The server's only: how long a callback request is kept, said in the form's consent.
    if (typeof raw.retention_days === "number" && raw.retention_days > 0) {
      out.retention_days = Math.floor(raw.retention_days);
    }
    var starters = raw.starters;
    if (typeof starters === "string") starters = starters.split("|");
    if (Array.isArray(starters)) {
      out.starters = starters.filter(function (q) { return typeof q === "string" && q.trim(); })
        .map(function (q) { return q.trim(); });
    }
    return out;
  }

  function warn(text) { if (window.console) console.warn("microneedling widget: " + text); }

  var fromTag = cleanConfig({title: attrs.title, greeting: attrs.greeting, accent: attrs.accent,
                             position: attrs.position, starters: attrs.starters, phone: attrs.phone,
                             contact_url: attrs.contactUrl},
                            "data- attribute");
  var config = Object.assign({}, DEFAULTS, fromTag);

  // --- a few small helpers ---

  function el(tag, props, text) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) { node.setAttribute(k, props[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function telHref(phone) { return "tel:" + phone.replace(/[^0-9+]/g, ""); }

  function luminance(hex) {
    var h = hex.slice(1);
    if (h.length === 3) h = h.replace(/./g, "$&$&");
    return [0, 2, 4].map(function (i) {
      var c = parseInt(h.slice(i, i + 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    }).reduce(function (sum, c, i) { return sum + c * [0.2126, 0.7152, 0.0722][i]; }, 0);
  }

  // White text on the accent when it reads well enough (WCAG AA, 4.5:1), else near-black.
  function textOn(hex) { return 1.05 / (luminance(hex) + 0.05) >= 4.5 ? "#ffffff" : "#111111"; }

  function squash(text) { return String(text || "").replace(/\s+/g, " ").trim().toLowerCase(); }

  // --- the widget's own styles, inside its shadow root ---

  var CSS = [
    // The host element takes nothing from the page (important rules of a shadow tree's own
    // :host win over the page's important rules) and lays nothing out itself.
    ":host{all:initial !important;display:block !important;position:static !important}",
    ".mnw-root{all:initial;font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;",
    "font-size:15px;line-height:1.45;color:#1f1f1f;--mnw-accent:#7b3f61;--mnw-on-accent:#fff}",
    ".mnw-root *,.mnw-root *::before,.mnw-root *::after{box-sizing:border-box;font-family:inherit;",
    "letter-spacing:normal;text-transform:none;text-shadow:none}",
    "[hidden]{display:none !important}",
    "button,input,summary,a{font:inherit;color:inherit}",
    "button{cursor:pointer;margin:0}",
    ":focus-visible{outline:3px solid #1a5fb4;outline-offset:2px}",
    ".mnw-sr{position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);",
    "white-space:nowrap;border:0}",
    ".mnw-bubble{position:fixed;right:20px;bottom:20px;width:60px;height:60px;border-radius:50%;border:0;padding:0;",
    "display:flex;align-items:center;justify-content:center;background:var(--mnw-accent);color:var(--mnw-on-accent);",
    "box-shadow:0 4px 14px rgba(0,0,0,.28);z-index:2147483000}",
    ".mnw-bubble svg{width:28px;height:28px;fill:currentColor}",
    ".mnw-left .mnw-bubble{left:20px;right:auto}",
    ".mnw-panel{position:fixed;right:20px;bottom:92px;width:380px;max-width:calc(100vw - 40px);height:600px;",
    "max-height:calc(100vh - 112px);display:flex;flex-direction:column;background:#fff;border-radius:14px;",
    "box-shadow:0 10px 36px rgba(0,0,0,.3);overflow:hidden;z-index:2147483001}",
    ".mnw-left .mnw-panel{left:20px;right:auto}",
    ".mnw-head{display:flex;align-items:center;gap:4px;padding:6px 6px 6px 16px;background:var(--mnw-accent);",
    "color:var(--mnw-on-accent)}",
    ".mnw-head h2{flex:1;margin:0;font-size:16px;font-weight:600;line-height:1.3}",
    ".mnw-head button{min-width:44px;min-height:44px;border:0;border-radius:8px;background:transparent;",
    "color:inherit;font-size:14px;padding:0 10px}",
    ".mnw-head button:hover{background:rgba(127,127,127,.25)}",
    ".mnw-head .mnw-close{font-size:26px;line-height:1;padding:0}",
    ".mnw-log{position:relative;flex:1;overflow-y:auto;overscroll-behavior:contain;padding:12px 14px}",
    ".mnw-greeting{margin:4px 0 10px;padding:10px 12px;border-radius:12px;background:#f3f3f5}",
    ".mnw-starters{display:flex;flex-wrap:wrap;gap:8px;margin:0 0 8px}",
    ".mnw-starters button{min-height:44px;padding:8px 14px;border-radius:22px;border:2px solid var(--mnw-accent);",
    "background:#fff;color:#1f1f1f;text-align:left;font-size:14px}",
    ".mnw-starters button:hover{background:#f3f3f5}",
    ".mnw-msg{margin:10px 0;padding:10px 12px;border-radius:12px;white-space:pre-wrap;overflow-wrap:anywhere}",
    ".mnw-user{margin-left:48px;background:var(--mnw-accent);color:var(--mnw-on-accent)}",
    ".mnw-bot{margin-right:24px;background:#f3f3f5}",
    ".mnw-answer{margin:0}",
    ".mnw-answer p{margin:0 0 6px}",
    ".mnw-answer p:last-child{margin-bottom:0}",
    // A lead-in or heading shown once above the quotes it introduces; a table row, a cell a line.
    ".mnw-lead{font-weight:600}",
    ".mnw-row{padding-left:8px;border-left:3px solid #c9c9cf}",
    ".mnw-ref{display:inline;min-width:0;border:0;padding:0 1px;background:none;color:#1a5fb4;",
    "text-decoration:underline;font-size:.85em;vertical-align:baseline}",
    ".mnw-urgent{background:#fdecea;border:2px solid #b3261e;color:#3b0b08}",
    ".mnw-urgent .mnw-answer{font-weight:600}",
    // A safety message before an answer (a learned reading of the question fired): the urgent
    // reply's look, above the answer it comes with.
    ".mnw-alert{margin:0 0 10px;padding:8px 10px;border-radius:8px;background:#fdecea;border:2px solid #b3261e;",
    "color:#3b0b08;font-weight:600}",
    ".mnw-alert p{margin:0 0 6px}",
    // The closest passages: set apart from an answer by a grey edge and a label above them.
    ".mnw-closest{border-left:4px solid #5c5c66}",
    ".mnw-label{margin:0 0 4px;font-size:12.5px;font-weight:700;color:#3d3d45}",
    ".mnw-contact{display:flex;flex-wrap:wrap;gap:4px 16px;margin:8px 0 0;white-space:normal}",
    // The gap stands in for the space after "Call the clinic:", which a flex item's text loses.
    ".mnw-contact a{display:inline-flex;align-items:center;column-gap:.3em;min-height:24px;color:#1a5fb4;",
    "font-weight:600;text-decoration:underline}",
    ".mnw-nowrap{white-space:nowrap}",
    // The callback form under a reply that is not an answer.
    ".mnw-leave{margin-top:8px;white-space:normal}",
    ".mnw-leave-open{min-height:44px;padding:8px 14px;border-radius:10px;border:2px solid var(--mnw-accent);",
    "background:#fff;color:#1f1f1f;font-weight:600;text-align:left}",
    ".mnw-cf{margin-top:8px;padding:4px 10px 10px;border-radius:10px;background:#fff;border:1px solid #c9c9cf}",
    ".mnw-cf label,.mnw-cf legend{display:block;margin:8px 0 2px;padding:0;font-weight:600;font-size:14px}",
    ".mnw-cf fieldset{border:0;margin:0;padding:0;min-width:0}",
    ".mnw-hint{margin:0;font-size:13px;color:#555}",
    ".mnw-cf input[type=text],.mnw-cf input[type=email],.mnw-cf input[type=tel],.mnw-cf textarea{display:block;",
    "width:100%;min-height:44px;padding:8px 10px;border:1px solid #8c8c8c;border-radius:8px;font-size:16px;",
    "background:#fff;color:#1f1f1f;resize:vertical}",
    ".mnw-cf [aria-invalid=true]{border:2px solid #b3261e}",
    ".mnw-consent{display:flex;gap:8px;align-items:flex-start;margin-top:10px}",
    ".mnw-consent input{width:24px;height:24px;margin:2px 0 0;flex:none}",
    ".mnw-cf .mnw-consent label{margin:0;font-weight:400}",
    ".mnw-problem{margin:2px 0 0;font-size:13px;color:#b3261e}",
    ".mnw-cf-error{margin:8px 0 0;color:#8c1d18;font-weight:600}",
    ".mnw-cf-error:empty{display:none}",
    ".mnw-cf-send{min-height:44px;margin-top:10px;padding:8px 18px;border-radius:10px;border:0;",
    "background:var(--mnw-accent);color:var(--mnw-on-accent);font-weight:600}",
    ".mnw-cf-send[disabled]{opacity:.6;cursor:default}",
    ".mnw-sent{margin:8px 0 0;padding:8px 10px;border-radius:8px;background:#e6f2ea;color:#1d5a2c;font-weight:600}",
    ".mnw-icon{display:inline-block;margin-right:6px;color:#b3261e;font-size:18px;line-height:1}",
    ".mnw-call{display:flex;align-items:center;justify-content:center;min-height:44px;margin-top:10px;",
    "padding:8px 14px;border-radius:10px;background:#b3261e;color:#fff;font-weight:600;text-decoration:none}",
    ".mnw-error{background:#fff4e5;border:2px solid #8a5300}",
    ".mnw-error a{color:#1a5fb4}",
    ".mnw-retry{min-height:44px;margin-top:8px;padding:8px 18px;border-radius:10px;border:0;",
    "background:var(--mnw-accent);color:var(--mnw-on-accent);font-weight:600}",
    ".mnw-sources{margin-top:8px;font-size:13px;white-space:normal}",
    ".mnw-sources summary{display:list-item;min-height:24px;padding:2px 0;cursor:pointer;color:#1a5fb4}",
    ".mnw-sources ol{margin:6px 0 0;padding-left:22px}",
    ".mnw-sources li{margin:4px 0;padding:2px 4px;border-radius:6px}",
    ".mnw-sources li.mnw-hit{background:#fff3bf}",
    ".mnw-src-title{font-weight:600}",
    "a.mnw-src-title{color:#1a5fb4;text-decoration:underline}",
    ".mnw-quote{display:block;margin-top:2px;color:#444;font-style:italic}",
    ".mnw-caveat{margin:8px 0 0;font-size:12.5px;color:#555;white-space:normal}",
    ".mnw-votes{display:flex;align-items:center;gap:6px;margin-top:8px;white-space:normal}",
    ".mnw-votes button{min-height:28px;min-width:28px;padding:2px 10px;border:1px solid #8c8c8c;",
    "border-radius:14px;background:#fff;color:#1f1f1f;font-size:13px}",
    ".mnw-votes button[aria-pressed=true]{background:#e4e4ea;border-color:#1f1f1f}",
    ".mnw-votes button[disabled]{cursor:default}",
    ".mnw-thanks{font-size:12.5px;color:#555}",
    ".mnw-typing{display:inline-flex;gap:4px;padding:4px 0}",
    ".mnw-typing i{width:8px;height:8px;border-radius:50%;background:#767676;animation:mnw-blink 1.2s infinite}",
    ".mnw-typing i:nth-child(2){animation-delay:.2s}.mnw-typing i:nth-child(3){animation-delay:.4s}",
    "@keyframes mnw-blink{0%,80%,100%{opacity:.25}40%{opacity:1}}",
    "@media (prefers-reduced-motion:reduce){.mnw-typing i{animation:none}}",
    ".mnw-form{display:flex;gap:6px;padding:8px;border-top:1px solid #e3e3e3;background:#fff}",
    ".mnw-form input{flex:1;min-width:0;min-height:44px;padding:8px 12px;border:1px solid #8c8c8c;",
    "border-radius:10px;font-size:16px;background:#fff;color:#1f1f1f}",
    ".mnw-form button{min-height:44px;min-width:64px;padding:0 16px;border:0;border-radius:10px;",
    "background:var(--mnw-accent);color:var(--mnw-on-accent);font-weight:600}",
    ".mnw-form button[disabled]{opacity:.6;cursor:default}",
    // A phone: the open panel is the whole screen (the page behind it is locked by script).
    "@media (max-width:480px){",
    ".mnw-panel{top:0;right:0;bottom:0;left:0;width:100%;max-width:none;height:100%;max-height:none;border-radius:0}",
    ".mnw-left .mnw-panel{left:0}",
    ".mnw-open .mnw-bubble{display:none}",
    ".mnw-votes button{min-height:44px;min-width:44px}",
    ".mnw-contact a{min-height:44px}",
    ".mnw-sources summary{min-height:44px;padding:11px 0}",
    ".mnw-ref{padding:0 4px}",
    "}"
  ].join("\n");

  // --- the DOM, inside a shadow root ---

  var host = el("mn-assistant-widget");
  host.style.setProperty("all", "initial", "important");
  host.style.setProperty("display", "block", "important");
  var shadow = host.attachShadow({mode: "open"});
  var root = el("div", {"class": "mnw-root"});

  var bubble = el("button", {"class": "mnw-bubble", "type": "button", "id": "mnw-bubble",
                             "aria-expanded": "false", "aria-controls": "mnw-panel"});
  var bubbleLabel = el("span", {"class": "mnw-sr"});
  bubble.appendChild(bubbleLabel);
  var SVG = "http://www.w3.org/2000/svg";
  var icon = document.createElementNS(SVG, "svg");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("aria-hidden", "true");
  icon.setAttribute("focusable", "false");
  var iconPath = document.createElementNS(SVG, "path");
  iconPath.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
  icon.appendChild(iconPath);
  bubble.appendChild(icon);

  var panel = el("section", {"class": "mnw-panel", "id": "mnw-panel", "role": "dialog",
                             "aria-labelledby": "mnw-title"});
  panel.hidden = true;
  var head = el("div", {"class": "mnw-head"});
  var title = el("h2", {"id": "mnw-title"});
  var newChat = el("button", {"type": "button", "class": "mnw-new", "id": "mnw-new"}, "New chat");
  var close = el("button", {"type": "button", "class": "mnw-close", "id": "mnw-close", "aria-label": "Close"}, "×");
  head.appendChild(title);
  head.appendChild(newChat);
  head.appendChild(close);

  // Not a live region itself: the separate one below reads each new reply once.
  var log = el("div", {"class": "mnw-log", "id": "mnw-log", "role": "region", "aria-label": "Conversation",
                       "aria-busy": "false", "tabindex": "0"});
  var greeting = el("p", {"class": "mnw-greeting", "id": "mnw-greeting"});
  var starters = el("div", {"class": "mnw-starters", "id": "mnw-starters", "role": "group",
                            "aria-label": "Suggested questions"});
  var messages = el("div", {"class": "mnw-messages", "id": "mnw-messages"});
  log.appendChild(greeting);
  log.appendChild(starters);
  log.appendChild(messages);
  var announcer = el("div", {"class": "mnw-sr", "id": "mnw-announce", "aria-live": "polite", "aria-atomic": "true"});

  var form = el("form", {"class": "mnw-form"});
  var input = el("input", {"type": "text", "maxlength": "1000", "placeholder": "Type your question…",
                           "aria-label": "Your question", "id": "mnw-input", "autocomplete": "off",
                           "enterkeyhint": "send"});
  var send = el("button", {"type": "submit", "id": "mnw-send"}, "Send");
  form.appendChild(input);
  form.appendChild(send);
  panel.appendChild(head);
  panel.appendChild(log);
  panel.appendChild(announcer);
  panel.appendChild(form);
  root.appendChild(bubble);
  root.appendChild(panel);
  // A constructed style sheet where the browser has them: a page's Content-Security-Policy that
  // forbids inline <style> does not apply to it.
  try {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    shadow.adoptedStyleSheets = [sheet];
  } catch (e) {
    shadow.appendChild(el("style", {}, CSS));
  }
  shadow.appendChild(root);
  (document.body || document.documentElement).appendChild(host);

  function applyConfig() {
    root.classList.toggle("mnw-left", config.position === "left");
    root.style.setProperty("--mnw-accent", config.accent); // validated as a hex colour above
    root.style.setProperty("--mnw-on-accent", textOn(config.accent));
    title.textContent = config.title;
    bubbleLabel.textContent = config.title;
    greeting.textContent = config.greeting;
    starters.textContent = "";
    config.starters.forEach(function (q) {
      var chip = el("button", {"type": "button"}, q);
      chip.addEventListener("click", function () { if (!pending) ask(q); });
      starters.appendChild(chip);
    });
    starters.hidden = !config.starters.length || messages.childElementCount > 0;
    // Replies drawn from sessionStorage before the server's configuration came get its phone and link.
    messages.querySelectorAll(".mnw-contact").forEach(fillContact);
  }

  // --- the conversation, kept in sessionStorage ---

  function load() {
    try {
      var saved = JSON.parse(window.sessionStorage.getItem(storeKey) || "null");
      if (saved && Array.isArray(saved.messages) && Array.isArray(saved.history)) return saved;
    } catch (e) { /* storage blocked or corrupt: start afresh */ }
    return {messages: [], history: []};
  }

  function save() {
    state.messages = state.messages.slice(-KEPT_MESSAGES);
    state.history = state.history.slice(-HISTORY_SENT);
    try { window.sessionStorage.setItem(storeKey, JSON.stringify(state)); } catch (e) { /* private mode */ }
  }

  var state = load();
  var pending = null; // {controller, timer} while a question is out
  var replyCount = 0;

  // --- open, close, the page behind on a phone ---

  var phone = window.matchMedia("(max-width: 480px)");
  var lockedStyles = null;

  function lockPage(lock) {
    var nodes = [document.documentElement, document.body].filter(Boolean);
    if (lock && !lockedStyles) {
      lockedStyles = nodes.map(function (n) {
        return [n.style.getPropertyValue("overflow"), n.style.getPropertyPriority("overflow")];
      });
      nodes.forEach(function (n) { n.style.setProperty("overflow", "hidden", "important"); });
    } else if (!lock && lockedStyles) {
      nodes.forEach(function (n, i) {
        if (lockedStyles[i][0]) n.style.setProperty("overflow", lockedStyles[i][0], lockedStyles[i][1]);
        else n.style.removeProperty("overflow");
      });
      lockedStyles = null;
    }
  }

  function isOpen() { return !panel.hidden; }

  function setOpen(open) {
    panel.hidden = !open;
    root.classList.toggle("mnw-open", open);
    bubble.setAttribute("aria-expanded", String(open));
    fullScreen(open && phone.matches);
    if (open) {
      input.focus();
      var last = messages.lastElementChild;
      if (last) scrollToStart(last);
    } else {
      bubble.focus();
    }
  }

  // On a phone the open panel covers the page: it is modal there, so the page is locked and
  // Tab stays inside the panel (the page behind cannot be seen).
  function fullScreen(on) {
    lockPage(on);
    if (on) panel.setAttribute("aria-modal", "true");
    else panel.removeAttribute("aria-modal");
  }

  function keepTabInside(event) {
    var focusable = Array.prototype.filter.call(
      panel.querySelectorAll("button, input, textarea, a[href], summary, [tabindex='0']"),
      function (n) { return !n.disabled && n.getClientRects().length; });
    if (!focusable.length) return;
    var first = focusable[0], last = focusable[focusable.length - 1], here = shadow.activeElement;
    if (event.shiftKey && here === first) { event.preventDefault(); last.focus(); }
    else if (!event.shiftKey && here === last) { event.preventDefault(); first.focus(); }
  }

  if (phone.addEventListener) phone.addEventListener("change", function () { fullScreen(isOpen() && phone.matches); });
  bubble.addEventListener("click", function () { setOpen(!isOpen()); });
  close.addEventListener("click", function () { setOpen(false); });
  root.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && isOpen()) { event.preventDefault(); setOpen(false); }
    if (event.key === "Tab" && isOpen() && phone.matches) keepTabInside(event);
  });
  newChat.addEventListener("click", function () {
    if (pending) { // forget the question that is out: its reply would land in the new chat
      var cancelled = pending;
      pending = null;
      window.clearTimeout(cancelled.timer);
      cancelled.controller.abort();
    }
    state = {messages: [], history: []};
    save();
    messages.textContent = "";
    announcer.textContent = "";
    starters.hidden = !config.starters.length;
    log.scrollTop = 0;
    input.focus();
  });

  // New content is read from its start: the top of the element goes to the top of the log.
  function scrollToStart(node) {
    log.scrollTop += node.getBoundingClientRect().top - log.getBoundingClientRect().top - 8;
  }

  function announce(text) {
    // Emptied first so the same text twice is still read; only the new reply is in here.
    announcer.textContent = "";
    window.setTimeout(function () { announcer.textContent = text; }, 60);
  }

  // --- messages ---

  function addUser(text) {
    var node = el("div", {"class": "mnw-msg mnw-user"}, text);
    messages.appendChild(node);
    return node;
  }

  // Joins a quote's lead-in or heading to its words, and a table row's cells (the server's
  // CONTEXT_JOINER and CELL_SEPARATOR).
  var JOINER = " \u2026 ", CELL = " \u00b7 ";

  // A citation's own words: its quote without the context it starts with.
  function ownWords(c) {
    var context = typeof c.context === "string" ? c.context : "";
    var quote = String(c.quote || "");
    return context && quote.indexOf(context + JOINER) === 0 ? quote.slice(context.length + JOINER.length) : quote;
  }

  // The answer read back into its quotes, as the server's answering.quote_groups does: each group
  // is a lead-in or heading that its quotes share ("" for none) and the quotes' own words, each
  // with the markers after it. Words that are not a cited quote stay as written, under no context.
  function quoteGroups(text, citations) {
    var byN = {}, pieces = [], groups = [], pos = 0, m;
    var marker = /\[(\d+)\]/g;
    text = String(text || "");
    citations.forEach(function (c) { byN[c.n] = c; });
    while ((m = marker.exec(text))) {
      var n = Number(m[1]);
      if (!byN[n]) continue; // a bracketed number that names no citation is part of the text
      var piece = text.slice(pos, m.index).trim();
      if (piece || !pieces.length) pieces.push({text: piece, markers: [n]});
      else pieces[pieces.length - 1].markers.push(n);
      pos = m.index + m[0].length;
    }
    if (text.slice(pos).trim()) pieces.push({text: text.slice(pos).trim(), markers: []});
    pieces.forEach(function (p) {
      var c = p.markers.length ? byN[p.markers[0]] : null;
      var context = c && typeof c.context === "string" ? c.context : "";
      var last = groups.length ? groups[groups.length - 1] : null;
      if (context && p.text === c.quote) {
        groups.push({context: context, quotes: [{text: ownWords(c), markers: p.markers}]});
      } else if (context && p.text === ownWords(c) && last && last.context === context) {
        last.quotes.push({text: p.text, markers: p.markers});
      } else if (last && last.context === "") {
        last.quotes.push({text: p.text, markers: p.markers});
      } else {
        groups.push({context: "", quotes: [{text: p.text, markers: p.markers}]});
      }
    });
    return groups;
  }

  // The answer as one answer reads: a shared lead-in or heading once, on a line above its quotes;
  // the quotes under it in one paragraph, each followed by its marker buttons; a table row as its
  // cells, a "label: value" line each. All of it set as text.
  function renderAnswer(groups, sourceIds, openSource) {
    var box = el("div", {"class": "mnw-answer"});
    function ref(n) {
      var button = el("button", {"type": "button", "class": "mnw-ref", "aria-label": "Source " + n,
                                 "aria-controls": sourceIds[n]}, "[" + n + "]");
      button.addEventListener("click", function () { openSource(n); });
      return button;
    }
    groups.forEach(function (g) {
      if (g.context) box.appendChild(el("p", {"class": "mnw-lead"}, g.context));
      var run = null;
      g.quotes.forEach(function (q) {
        var cells = q.text.split(CELL).filter(function (cell) { return cell.trim(); });
        var target;
        if (cells.length > 1) {
          run = null;
          target = box.appendChild(el("p", {"class": "mnw-row"}));
          cells.forEach(function (cell, i) {
            if (i) target.appendChild(el("br"));
            target.appendChild(document.createTextNode(cell));
          });
        } else {
          if (run) run.appendChild(document.createTextNode(" "));
          else run = box.appendChild(el("p", {"class": "mnw-text"}));
          target = run;
          target.appendChild(document.createTextNode(q.text));
        }
        q.markers.forEach(function (n) {
          target.appendChild(document.createTextNode(" "));
          target.appendChild(ref(n));
        });
      });
    });
    return box;
  }

  // The document's page on the assistant's server, at the quoted passage (marked there).
  function documentHref(c) {
    return base + "/documents/" + String(c.source).split("/").map(encodeURIComponent).join("/") +
      "?quote=" + encodeURIComponent(String(c.quote || "").slice(0, 500)) + "#quote";
  }

  function renderSources(data, sourceIds, groups) {
    var details = el("details", {"class": "mnw-sources"});
    details.appendChild(el("summary", {}, "Sources (" + data.citations.length + ")"));
    var list = el("ol");
    var shown = squash(data.answer);
    // Citations whose words the answer shows under their lead-in or heading, shown once above them.
    var underContext = {};
    groups.forEach(function (g) {
      if (g.context) g.quotes.forEach(function (q) { q.markers.forEach(function (n) { underContext[n] = true; }); });
    });
    data.citations.forEach(function (c) {
      var li = el("li", {"value": String(c.n), "id": sourceIds[c.n], "tabindex": "-1"});
      var name = c.title || "Clinic information";
      if (c.source) {
        // The title opens the document at the quoted passage, in a new tab.
        var link = li.appendChild(el("a", {"class": "mnw-src-title", "href": documentHref(c), "target": "_blank",
                                           "rel": "noopener"}, name));
        link.appendChild(el("span", {"class": "mnw-sr"}, " (opens the document at this passage in a new tab)"));
      } else {
        li.appendChild(el("span", {"class": "mnw-src-title"}, name));
      }
      if (c.section && c.section !== c.title) li.appendChild(document.createTextNode(" — " + c.section));
      // The quote only where it adds something: a lead-in or heading the answer does not
      // show, or a model's paraphrase; a quote the answer already shows word for word is left out.
      if (c.quote && shown.indexOf(squash(c.quote)) < 0 && !underContext[c.n]) {
        li.appendChild(el("q", {"class": "mnw-quote"}, c.quote));
      }
      list.appendChild(li);
    });
    details.appendChild(list);
    return details;
  }

  function callLink(label) {
    return el("a", {"class": "mnw-call", "href": telHref(config.phone)}, label + " " + config.phone);
  }

  // The way to a person under a reply that is not an answer: the phone and the booking or contact
  // page, each only when configured; hidden when neither is.
  function fillContact(line) {
    line.textContent = "";
    if (config.phone) {
      var call = line.appendChild(el("a", {"href": telHref(config.phone)}, "Call the clinic: "));
      call.appendChild(el("span", {"class": "mnw-nowrap"}, config.phone)); // a number is not broken at its "-"
    }
    // cleanConfig lets only a web address through; checked again where it becomes a link.
    if (config.contact_url && WEB.test(config.contact_url)) {
      var link = el("a", {"class": "mnw-contact-link", "href": config.contact_url, "target": "_blank",
                          "rel": "noopener"}, "Book or contact us online");
      link.appendChild(el("span", {"class": "mnw-sr"}, " (opens in a new tab)"));
      line.appendChild(link);
    }
    line.hidden = !line.childElementCount;
    return line;
  }

  function renderReply(data, box, index) {
    var status = data.status || "error";
    var urgent = status === "urgent";
    var closest = status === "closest";
    box.className = "mnw-msg mnw-bot" + (urgent ? " mnw-urgent" : "") + (closest ? " mnw-closest" : "");
    box.setAttribute("data-status", status);
    box.textContent = "";
    var citations = Array.isArray(data.citations) ? data.citations : [];
    var sourceIds = {};
    citations.forEach(function (c) { sourceIds[c.n] = "mnw-r" + index + "-s" + c.n; });
    var details = null;

    function openSource(n) {
      details.open = true;
      var item = details.querySelector("#" + sourceIds[n]);
      details.querySelectorAll("li").forEach(function (li) { li.classList.toggle("mnw-hit", li === item); });
      scrollToStart(item);
      item.focus({preventScroll: true});
    }

    var groups = quoteGroups(data.answer, citations);
    var answer = renderAnswer(groups, sourceIds, openSource);
    if (urgent) {
      var first = answer.firstChild || answer;
      first.insertBefore(el("span", {"class": "mnw-icon", "aria-hidden": "true"}, "⚠"), first.firstChild);
    }
    // Said plainly before the quotes, so they are not read as an answer.
    if (closest) box.appendChild(el("p", {"class": "mnw-label"}, "No direct answer"));
    if (data.alert && data.alert.message) {
      var alertBox = box.appendChild(el("div", {"class": "mnw-alert"}));
      var said = alertBox.appendChild(el("p", {}, data.alert.message));
      said.insertBefore(el("span", {"class": "mnw-icon", "aria-hidden": "true"}, "⚠"), said.firstChild);
      if (config.phone) alertBox.appendChild(callLink("Call the clinic:"));
    }
    box.appendChild(answer);
    if (urgent && config.phone) box.appendChild(callLink("Call the clinic:"));
    if (citations.length) {
      details = renderSources(data, sourceIds, groups);
      box.appendChild(details);
    }
    if (NOT_ANSWERED.indexOf(status) >= 0) {
      box.appendChild(fillContact(el("p", {"class": "mnw-contact"})));
      box.appendChild(leaveForm(data, index));
    }
    // The caveat once, quietly, and the votes, under an answer only: an urgent message is not to
    // be weakened, and a reply that is not an answer has nothing to qualify or rate. The API
    // keeps the caveat on every reply.
    if (status === "answered") {
      if (data.caveat) box.appendChild(el("p", {"class": "mnw-caveat"}, data.caveat));
      if (data.answer_id) box.appendChild(votes(data));
    }
    return box;
  }

  // "Leave your question and how to reach you": a button that opens a form with the question
  // filled in, a name, an e-mail address and a phone number (one of the two is needed) and the
  // patient's consent. The server checks every field and says what is wrong; sent, the form
  // gives way to a thank-you that stays with the reply.
  function leaveForm(data, index) {
    var wrap = el("div", {"class": "mnw-leave"});
    if (data.contact === "sent") {
      wrap.appendChild(el("p", {"class": "mnw-sent", "tabindex": "-1"}, SENT));
      return wrap;
    }
    var id = "mnw-r" + index + "-cf";
    var toggle = el("button", {"type": "button", "class": "mnw-leave-open", "aria-expanded": "false",
                               "aria-controls": id}, LEAVE);
    var cform = el("form", {"class": "mnw-cf", "id": id, "novalidate": "", "aria-label": LEAVE});
    cform.hidden = true;
    var fields = {};

    function field(parent, name, label, control) {
      control.id = id + "-" + name;
      parent.appendChild(el("label", {"for": control.id}, label));
      parent.appendChild(control);
      var problem = el("p", {"class": "mnw-problem", "id": control.id + "-problem"});
      problem.hidden = true;
      parent.appendChild(problem);
      fields[name] = {control: control, problem: problem};
    }

    var question = el("textarea", {"rows": "3", "maxlength": "1000"});
    question.value = data.question || "";
    field(cform, "question", "Your question", question);
    field(cform, "name", "Your name (optional)", el("input", {"type": "text", "autocomplete": "name",
                                                              "maxlength": "100"}));
    var reach = el("fieldset", {"aria-describedby": id + "-hint"});
    reach.appendChild(el("legend", {}, "How can the clinic reach you?"));
    reach.appendChild(el("p", {"class": "mnw-hint", "id": id + "-hint"},
                         "An e-mail address or a phone number, or both."));
    // Said once for both fields: neither an e-mail address nor a phone number was given.
    var reachProblem = reach.appendChild(el("p", {"class": "mnw-problem", "id": id + "-reach-problem"}));
    reachProblem.hidden = true;
    field(reach, "email", "E-mail address", el("input", {"type": "email", "autocomplete": "email",
                                                         "maxlength": "254"}));
    field(reach, "phone", "Phone number", el("input", {"type": "tel", "autocomplete": "tel", "maxlength": "40"}));
    cform.appendChild(reach);
    var consentRow = el("div", {"class": "mnw-consent"});
    var consent = el("input", {"type": "checkbox", "id": id + "-consent", "aria-required": "true"});
    consentRow.appendChild(consent);
    consentRow.appendChild(el("label", {"for": consent.id}, CONSENT + (config.retention_days
      ? ". They are deleted after " + config.retention_days + " days." : ".")));
    cform.appendChild(consentRow);
    var consentProblem = el("p", {"class": "mnw-problem", "id": consent.id + "-problem"});
    consentProblem.hidden = true;
    cform.appendChild(consentProblem);
    fields.consent = {control: consent, problem: consentProblem};
    var error = cform.appendChild(el("p", {"class": "mnw-cf-error", "role": "alert"}));
    var submit = cform.appendChild(el("button", {"type": "submit", "class": "mnw-cf-send"}, "Send to the clinic"));

    toggle.addEventListener("click", function () {
      var show = cform.hidden;
      cform.hidden = !show;
      toggle.setAttribute("aria-expanded", String(show));
      if (show) {
        scrollToStart(cform);
        question.focus({preventScroll: true});
      }
    });

    function showProblems(problems) {
      var first = null;
      reachProblem.textContent = problems.contact || "";
      reachProblem.hidden = !problems.contact;
      Object.keys(fields).forEach(function (name) {
        var f = fields[name];
        var text = problems[name] || "";
        // "contact" (neither an e-mail address nor a phone number) belongs to both fields.
        var reachOnly = !text && problems.contact && (name === "email" || name === "phone");
        f.problem.textContent = text;
        f.problem.hidden = !text;
        if (text || reachOnly) {
          f.control.setAttribute("aria-invalid", "true");
          f.control.setAttribute("aria-describedby", text ? f.problem.id : reachProblem.id);
          first = first || f.control;
        } else {
          f.control.removeAttribute("aria-invalid");
          f.control.removeAttribute("aria-describedby");
        }
      });
      return first;
    }

    cform.addEventListener("submit", function (event) {
      event.preventDefault();
      if (submit.disabled) return;
      submit.disabled = true;
      error.textContent = "";
      fetch(base + "/api/contact", {method: "POST", headers: {"Content-Type": "application/json"},
                                    body: JSON.stringify({question: question.value, name: fields.name.control.value,
                                                          email: fields.email.control.value,
                                                          phone: fields.phone.control.value,
                                                          consent: consent.checked, channel: "widget"})})
        .then(function (r) {
          return r.json().catch(function () { return {}; })
            .then(function (body) { return {status: r.status, body: body}; });
        })
        .then(function (result) {
          if (result.status === 201) {
            data.contact = "sent";
            save();
            var thanks = el("p", {"class": "mnw-sent", "tabindex": "-1"}, SENT);
            wrap.textContent = "";
            wrap.appendChild(thanks);
            thanks.focus({preventScroll: true});
            announce(SENT);
            return;
          }
          var first = showProblems(result.body.problems || {});
          error.textContent = (result.status === 400 ? "Not sent yet: please check the form." :
                               result.body.error || "Your question could not be sent: please try again.");
          if (first) first.focus();
        }, function () {
          error.textContent = "Your question could not be sent: the assistant cannot be reached right now." +
            (config.phone ? " You can call the clinic on " + config.phone + "." : "");
        })
        .then(function () { submit.disabled = false; });
    });

    wrap.appendChild(toggle);
    wrap.appendChild(cform);
    return wrap;
  }

  function votes(data) {
    var wrap = el("div", {"class": "mnw-votes", "role": "group", "aria-label": "Was this helpful?"});
    var thanks = el("span", {"class": "mnw-thanks", "aria-live": "polite"});
    var buttons = [];
    // Words, not icons: the button's accessible name is exactly its visible text.
    [["up", "Helpful"], ["down", "Not helpful"]].forEach(function (v) {
      var b = el("button", {"type": "button", "data-vote": v[0], "aria-pressed": String(data.voted === v[0])}, v[1]);
      b.disabled = !!data.voted;
      b.addEventListener("click", function () {
        buttons.forEach(function (x) { x.disabled = true; });
        b.setAttribute("aria-pressed", "true");
        fetch(base + "/api/feedback", {method: "POST", headers: {"Content-Type": "application/json"},
                                       body: JSON.stringify({answer_id: data.answer_id, vote: v[0], channel: "widget"})})
          .then(function (r) { return r.ok ? v[0] : "failed"; }, function () { return "failed"; })
          .then(function (result) {
            wrap.setAttribute("data-voted", result);
            if (result === "failed") {
              thanks.textContent = "Your vote could not be sent.";
              buttons.forEach(function (x) { x.disabled = false; x.setAttribute("aria-pressed", "false"); });
              return;
            }
            thanks.textContent = "Thank you!";
            data.voted = v[0];
            save();
          });
      });
      buttons.push(b);
      wrap.appendChild(b);
    });
    if (data.voted) wrap.setAttribute("data-voted", data.voted);
    wrap.appendChild(thanks);
    return wrap;
  }

  function showError(box, question, message) {
    box.className = "mnw-msg mnw-bot mnw-error";
    box.setAttribute("data-status", "error");
    box.textContent = "";
    box.appendChild(el("p", {"class": "mnw-answer"}, message));
    var help = el("p", {"class": "mnw-help"});
    if (config.phone) {
      help.appendChild(document.createTextNode("You can also call the clinic on "));
      help.appendChild(el("a", {"href": telHref(config.phone)}, config.phone));
      help.appendChild(document.createTextNode("."));
    } else {
      help.textContent = "Please try again in a moment.";
    }
    box.appendChild(help);
    var retry = el("button", {"type": "button", "class": "mnw-retry"}, "Retry");
    retry.addEventListener("click", function () {
      if (pending) return;
      box.remove();
      ask(question, true);
    });
    box.appendChild(retry);
    scrollToStart(box);
  }

  // --- asking ---

  // Reads /api/ask/stream: one JSON object a line, sentences ("delta") then the whole reply ("done").
  function streamAnswer(question, box, signal) {
    var shown = null;
    return fetch(base + "/api/ask/stream", {method: "POST", headers: {"Content-Type": "application/json"},
                                            body: JSON.stringify({question: question, channel: "widget",
                                                                  history: state.history.slice(-HISTORY_SENT)}),
                                            signal: signal})
      .then(function (r) {
        if (!r.ok || !r.body) {
          return r.json().catch(function () { return {}; }).then(function (body) {
            body.httpStatus = r.status;
            return body;
          });
        }
        var reader = r.body.getReader(), decoder = new TextDecoder(), buffer = "", final = null;
        function pump() {
          return reader.read().then(function (chunk) {
            buffer += decoder.decode(chunk.value || new Uint8Array(), {stream: !chunk.done});
            var lines = buffer.split("\n");
            buffer = lines.pop();
            lines.forEach(function (line) {
              if (!line.trim()) return;
              var msg = JSON.parse(line);
              if (msg.type === "delta") {
                if (!shown) {
                  box.textContent = "";
                  shown = box.appendChild(el("p", {"class": "mnw-answer"}));
                  scrollToStart(box);
                }
                shown.textContent = (shown.textContent ? shown.textContent + " " : "") + msg.text;
              } else if (msg.type === "done") { final = msg; }
            });
            return chunk.done ? (final || {httpStatus: r.status}) : pump();
          });
        }
        return pump();
      });
  }

  function ask(question, retrying) {
    if (!question.trim() || pending) return;
    if (!retrying) addUser(question);
    starters.hidden = true;
    var box = el("div", {"class": "mnw-msg mnw-bot", "data-status": "pending"});
    var typing = el("span", {"class": "mnw-typing"});
    typing.appendChild(el("i"));
    typing.appendChild(el("i"));
    typing.appendChild(el("i"));
    typing.appendChild(el("span", {"class": "mnw-sr"}, "The assistant is typing"));
    box.appendChild(typing);
    messages.appendChild(box);
    log.scrollTop = log.scrollHeight;
    log.setAttribute("aria-busy", "true");
    send.disabled = true;
    var controller = new AbortController();
    var timedOut = false;
    var mine = pending = {controller: controller, timer: window.setTimeout(function () {
      timedOut = true;
      controller.abort();
    }, timeoutMs)};

    streamAnswer(question, box, controller.signal)
      .then(function (data) {
        if (mine !== pending) return;
        if (data.status && data.answer) {
          var index = replyCount++;
          var reply = {status: data.status, answer: data.answer, caveat: data.caveat, answer_id: data.answer_id,
                       question: question, alert: data.alert && data.alert.message ? {message: data.alert.message} : null,
                       citations: (data.citations || []).map(function (c) {
                         return {n: c.n, title: c.title, section: c.section, quote: c.quote,
                                 context: c.context || "", source: c.source || ""};
                       })};
          renderReply(reply, box, index);
          state.messages.push({role: "user", text: question}, {role: "bot", data: reply});
          if (data.status !== "invalid") state.history.push(question);
          save();
          scrollToStart(box);
          var urgentNow = data.status === "urgent" || reply.alert;
          announce((urgentNow ? "Urgent: " : data.status === "closest" ? "No direct answer. " : "") +
                   (reply.alert ? reply.alert.message + " " : "") + data.answer.replace(/\s*\[\d+\]/g, "") +
                   (urgentNow && config.phone ? " Call the clinic: " + config.phone : ""));
        } else {
          var status = data.httpStatus || 0;
          var message = status >= 400 && status < 500 && data.error ? "Sorry, that did not work: " + data.error
            : "Sorry, the assistant cannot answer right now.";
          showError(box, question, message);
          announce(message);
        }
      })
      .catch(function () {
        if (mine !== pending) return; // "New chat" cancelled it
        var message = timedOut ? "Sorry, the assistant is taking too long to answer."
          : "Sorry, the assistant cannot be reached right now.";
        showError(box, question, message);
        announce(message);
      })
      .then(function () {
        window.clearTimeout(mine.timer);
        if (pending === mine) pending = null;
        if (pending) return;
        log.setAttribute("aria-busy", "false");
        send.disabled = false;
        if (isOpen()) input.focus();
      });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var question = input.value;
    if (!question.trim() || pending) return;
    input.value = "";
    ask(question);
  });

  // --- start: the saved conversation, then the server's configuration under the tag's ---

  state.messages.forEach(function (m) {
    if (m.role === "user") addUser(m.text);
    else if (m.role === "bot" && m.data) messages.appendChild(renderReply(m.data, el("div"), replyCount++));
  });
  applyConfig();
  fetch(base + "/api/widget-config")
    .then(function (r) { return r.ok ? r.json() : {}; })
    .then(function (server) {
      config = Object.assign({}, DEFAULTS, cleanConfig(server, "/api/widget-config"), fromTag);
      applyConfig();
      root.setAttribute("data-config", "loaded");
    }, function () { root.setAttribute("data-config", "default"); });
})();
