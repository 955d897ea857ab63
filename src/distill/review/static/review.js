// Keyboard shortcuts for the review page. The page works without this file (forms and links);
// it is served from the app itself, the only script the Content-Security-Policy allows.
"use strict";
document.addEventListener("keydown", function (ev) {
  var t = ev.target;
  var typing = t && (t.tagName === "TEXTAREA" || t.tagName === "INPUT" || t.tagName === "SELECT");
  if (typing) {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && t.form) { ev.preventDefault(); t.form.requestSubmit(document.getElementById("save-edit")); }
    if (ev.key === "Escape") { t.blur(); }
    return;
  }
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  var click = function (id) { var el = document.getElementById(id); if (el) { ev.preventDefault(); el.click(); } };
  switch (ev.key) {
    case "a": click("approve"); break;
    case "r": click("reject"); break;
    case "u": click("undo"); break;
    case "j": click("next"); break;
    case "k": click("prev"); break;
    case "e": {
      var box = document.getElementById("edit-box");
      if (box) { ev.preventDefault(); box.open = true; var a = document.getElementById("edit-answer"); a.focus(); a.setSelectionRange(a.value.length, a.value.length); }
      break;
    }
  }
});
