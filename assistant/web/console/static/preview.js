// The widget preview opens the widget once it has loaded its settings, so the panel shows at once.
(function () {
  "use strict";
  var tries = 0;
  var timer = setInterval(function () {
    var host = document.querySelector("mn-assistant-widget");
    var root = host && host.shadowRoot && host.shadowRoot.querySelector(".mnw-root[data-config]");
    if (root || ++tries > 50) {
      clearInterval(timer);
      var bubble = host && host.shadowRoot && host.shadowRoot.getElementById("mnw-bubble");
      if (bubble) bubble.click();
    }
  }, 100);
})();
