// The preview starts with an empty conversation: the widget keeps one per site in sessionStorage,
// which this same-origin frame would otherwise share with the console's earlier previews.
try { sessionStorage.removeItem("mn-assistant:" + location.origin); } catch (e) { /* storage off: nothing kept */ }
