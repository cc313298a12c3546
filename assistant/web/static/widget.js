/* Microneedling assistant widget: add
 *   <script src="https://YOUR-ASSISTANT-HOST/widget.js" defer></script>
 * to any page. It adds a chat bubble that talks to this server's /api/ask.
 * Everything shown is set with textContent: no HTML from a question, an answer or the
 * documents is ever rendered. No key or secret is needed or stored. */
(function () {
  "use strict";
  if (window.__microneedlingWidget) return;
  window.__microneedlingWidget = true;

  var script = document.currentScript;
  var base = script ? new URL(script.src, document.baseURI).origin : window.location.origin;
  var history = [];

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  var style = el("style");
  style.textContent = [
    ".mnw-bubble{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;",
    "background:#7b3f61;color:#fff;font:600 22px sans-serif;cursor:pointer;box-shadow:0 4px 12px rgba(0,0,0,.25);z-index:2147483000}",
    ".mnw-panel{position:fixed;right:20px;bottom:88px;width:360px;max-width:calc(100vw - 40px);height:520px;",
    "max-height:calc(100vh - 120px);display:none;flex-direction:column;background:#fff;border-radius:12px;",
    "box-shadow:0 8px 30px rgba(0,0,0,.3);font:14px/1.45 sans-serif;color:#222;z-index:2147483000;overflow:hidden}",
    ".mnw-panel.mnw-open{display:flex}",
    ".mnw-head{background:#7b3f61;color:#fff;padding:10px 14px;font-weight:600;display:flex;justify-content:space-between}",
    ".mnw-head button{background:none;border:0;color:#fff;font-size:18px;cursor:pointer}",
    ".mnw-log{flex:1;overflow-y:auto;padding:10px 12px}",
    ".mnw-msg{margin:8px 0;padding:8px 10px;border-radius:8px;white-space:pre-wrap}",
    ".mnw-user{background:#f1e6ec;margin-left:40px}",
    ".mnw-bot{background:#f5f5f5;margin-right:20px}",
    ".mnw-urgent{background:#fdecea;border:1px solid #d93025}",
    ".mnw-notes{margin:6px 0 0;padding-left:18px;font-size:12px;color:#444}",
    ".mnw-caveat{margin-top:6px;font-size:12px;font-style:italic;color:#555}",
    ".mnw-votes{margin-top:6px}.mnw-votes button{border:1px solid #ccc;background:#fff;border-radius:4px;cursor:pointer;margin-right:4px}",
    ".mnw-votes button[disabled]{opacity:.5;cursor:default}",
    ".mnw-form{display:flex;border-top:1px solid #eee}",
    ".mnw-form input{flex:1;border:0;padding:12px;font:inherit}",
    ".mnw-form button{border:0;background:#7b3f61;color:#fff;padding:0 16px;cursor:pointer}"
  ].join("");
  document.head.appendChild(style);

  var bubble = el("button", {"class": "mnw-bubble", "type": "button", "aria-label": "Ask about microneedling",
                             "id": "mnw-bubble"}, "?");
  var panel = el("div", {"class": "mnw-panel", "role": "dialog", "aria-label": "Microneedling questions", "id": "mnw-panel"});
  var head = el("div", {"class": "mnw-head"});
  head.appendChild(el("span", {}, "Microneedling questions"));
  var close = el("button", {"type": "button", "aria-label": "Close"}, "×");
  head.appendChild(close);
  var log = el("div", {"class": "mnw-log", "aria-live": "polite", "id": "mnw-log"});
  var form = el("form", {"class": "mnw-form"});
  var input = el("input", {"type": "text", "maxlength": "1000", "placeholder": "Type your question…",
                           "aria-label": "Your question", "id": "mnw-input"});
  var send = el("button", {"type": "submit", "id": "mnw-send"}, "Send");
  form.appendChild(input);
  form.appendChild(send);
  panel.appendChild(head);
  panel.appendChild(log);
  panel.appendChild(form);
  document.body.appendChild(bubble);
  document.body.appendChild(panel);

  function toggle(open) {
    panel.classList.toggle("mnw-open", open);
    if (open) input.focus();
  }
  bubble.addEventListener("click", function () { toggle(!panel.classList.contains("mnw-open")); });
  close.addEventListener("click", function () { toggle(false); });

  function addUser(text) {
    log.appendChild(el("div", {"class": "mnw-msg mnw-user"}, text));
    log.scrollTop = log.scrollHeight;
  }

  function addReply(data, box) {
    box = box || el("div", {"class": "mnw-msg mnw-bot"});
    box.className = "mnw-msg mnw-bot" + (data.status === "urgent" ? " mnw-urgent" : "");
    box.setAttribute("data-status", data.status || "error");
    box.textContent = "";
    box.appendChild(el("div", {"class": "mnw-answer"}, data.answer || data.error || "Something went wrong."));
    if (data.citations && data.citations.length) {
      var notes = el("ol", {"class": "mnw-notes"});
      data.citations.forEach(function (c) {
        notes.appendChild(el("li", {"value": String(c.n)}, c.title + " — " + c.section + ": “" + c.quote + "”"));
      });
      box.appendChild(notes);
    }
    if (data.caveat) box.appendChild(el("div", {"class": "mnw-caveat"}, data.caveat));
    if (data.answer_id) box.appendChild(votes(data.answer_id));
    log.appendChild(box);
    log.scrollTop = log.scrollHeight;
  }

  function votes(answerId) {
    var wrap = el("div", {"class": "mnw-votes"});
    [["up", "Helpful", "This answer helped"], ["down", "Not helpful", "This answer did not help"]].forEach(function (v) {
      var b = el("button", {"type": "button", "aria-label": v[2], "data-vote": v[0]}, v[1]);
      b.addEventListener("click", function () {
        wrap.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
        fetch(base + "/api/feedback", {method: "POST", headers: {"Content-Type": "application/json"},
                                       body: JSON.stringify({answer_id: answerId, vote: v[0]})})
          .then(function (r) { wrap.setAttribute("data-voted", r.ok ? v[0] : "failed"); })
          .catch(function () { wrap.setAttribute("data-voted", "failed"); });
      });
      wrap.appendChild(b);
    });
    return wrap;
  }

  // Reads /api/ask/stream: one JSON object a line, sentences ("delta") then the whole reply ("done").
  function streamAnswer(question, box) {
    var shown = el("div", {"class": "mnw-answer"});
    box.appendChild(shown);
    log.appendChild(box);
    return fetch(base + "/api/ask/stream", {method: "POST", headers: {"Content-Type": "application/json"},
                                            body: JSON.stringify({question: question, history: history.slice(-6)})})
      .then(function (r) {
        if (!r.ok || !r.body) return r.json();
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
                shown.textContent = (shown.textContent ? shown.textContent + " " : "") + msg.text;
                log.scrollTop = log.scrollHeight;
              } else if (msg.type === "done") { final = msg; }
            });
            return chunk.done ? final : pump();
          });
        }
        return pump();
      });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var question = input.value;
    if (!question.trim()) return;
    input.value = "";
    addUser(question);
    send.disabled = true;
    var box = el("div", {"class": "mnw-msg mnw-bot", "data-status": "pending"});
    streamAnswer(question, box)
      .then(function (data) { addReply(data || {}, box); history.push(question); })
      .catch(function () { addReply({error: "The assistant cannot be reached right now. Please call the clinic."}, box); })
      .then(function () { send.disabled = false; input.focus(); });
  });
})();
