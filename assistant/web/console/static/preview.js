// The widget preview opens the widget once it has loaded its settings, so the panel shows at once,
// without taking the focus from the form the manager is typing in.
(function () {
  "use strict";
  var tries = 0;
  var timer = setInterval(function () {
    var host = document.querySelector("mn-assistant-widget");
    var root = host && host.shadowRoot && host.shadowRoot.querySelector(".mnw-root[data-config]");
    if (root || ++tries > 50) {
      clearInterval(timer);
      var bubble = host && host.shadowRoot && host.shadowRoot.getElementById("mnw-bubble");
      // Opening the panel focuses its input; the manager may be typing in the settings form
      // around this frame, so the focus goes back to where it was (else keys land in the preview).
      var outer = null;
      try { outer = window.parent !== window ? window.parent.document.activeElement : null; } catch (e) { /* other origin */ }
      if (bubble) bubble.click();
      if (outer && outer !== window.frameElement && outer.focus) outer.focus();
    }
  }, 100);
})();
