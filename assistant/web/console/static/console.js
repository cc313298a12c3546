// The console's few behaviours: drop a file on the upload form, and follow indexing jobs.
(function () {
  "use strict";
  var zone = document.getElementById("drop-zone");
  var input = document.getElementById("file");
  if (zone && input) {
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (e) {
      e.preventDefault();
      if (!e.dataTransfer || !e.dataTransfer.files.length) return;
      input.files = e.dataTransfer.files;  // the form then posts it as if picked
      input.dispatchEvent(new Event("change"));
    });
  }

  var list = document.getElementById("jobs");
  function active(jobs) {
    return jobs.some(function (j) { return j.state === "queued" || j.state === "running"; });
  }
  function show(jobs) {
    list.textContent = "";
    jobs.forEach(function (j) {
      var li = document.createElement("li");
      li.dataset.state = j.state;
      li.append(j.label + ": ");
      var strong = document.createElement("strong");
      strong.textContent = j.state;
      li.append(strong);
      if (j.state === "running" && j.total) {
        var bar = document.createElement("progress");
        bar.max = j.total; bar.value = j.done; bar.textContent = j.done + "/" + j.total;
        bar.setAttribute("aria-label", "embedding progress");
        li.append(" ", bar);
      }
      if (j.stage) li.append(" (" + j.stage + ")");
      var note = document.createElement("span");
      note.className = "muted";
      note.textContent = " " + j.message;
      li.append(note);
      list.append(li);
    });
  }
  if (list && list.querySelector("[data-state='queued'], [data-state='running']")) {
    var timer = setInterval(function () {
      fetch("/admin/jobs", {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (data) {
        show(data.jobs);
        if (!active(data.jobs)) { clearInterval(timer); location.reload(); }
      }).catch(function () { clearInterval(timer); });
    }, 1000);
  }
})();

// Widget settings: the preview follows the form as it is typed; the snippet copies.
(function () {
  "use strict";
  var form = document.getElementById("widget-form");
  var frame = document.getElementById("preview");
  if (form && frame) {
    var timer = null;
    form.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var params = new URLSearchParams();
        new FormData(form).forEach(function (value, key) {
          if (key !== "csrf_token" && key !== "allowed_origins") params.append(key, value);
        });
        frame.src = "/admin/widget/preview?" + params.toString();
      }, 300);
    });
  }
  var copy = document.getElementById("copy-snippet");
  if (copy && navigator.clipboard) {
    copy.addEventListener("click", function () {
      navigator.clipboard.writeText(document.getElementById("snippet").textContent).then(function () {
        copy.textContent = "Copied";
      });
    });
  }
})();
