// CRM: the contacts list's "Merge selected" is offered when exactly two
// contacts are ticked. Without this script the server says what is wrong.
(function () {
  "use strict";
  function update(form) {
    var button = form.querySelector("[data-merge-button]");
    if (!button) return;
    var n = form.querySelectorAll('input[name="id"]:checked').length;
    button.disabled = n !== 2;
    var hint = form.querySelector("[data-merge-hint]");
    if (hint) hint.textContent = n === 2 ? "Compare the two and choose what to keep." : n > 2 ? "Tick only two contacts." : "Tick two contacts to compare and merge them.";
  }
  document.addEventListener("change", function (ev) {
    var form = ev.target.closest && ev.target.closest("form[data-merge-pick]");
    if (form) update(form);
  });
  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-merge-pick]"), update);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
