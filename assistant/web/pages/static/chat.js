// Gradio names each message by its raw content, so a screen reader would read a reply's HTML
// source ("bot's message: <div class=..."). Without that name the message is read as shown.
// A file of its own (loaded through the page's head): the Content-Security-Policy lets no page
// evaluate a string of JavaScript, which is how Gradio runs a `js=` string.
(function () {
  "use strict";
  var unname = function () {
    document.querySelectorAll('#chatbot [data-testid="bot"][aria-label], #chatbot [data-testid="user"][aria-label]')
      .forEach(function (e) { e.removeAttribute("aria-label"); });
  };
  new MutationObserver(unname).observe(document.body,
    {subtree: true, childList: true, attributes: true, attributeFilter: ["aria-label"]});
  unname();
})();
