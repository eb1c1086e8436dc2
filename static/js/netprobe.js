// NetProbe: show only the chosen kind's options, and mark a probe as running. The forms work
// without this file: every fieldset is shown and the server reads the chosen kind's.
(function () {
  "use strict";

  function syncKind(form) {
    var select = form.querySelector("[data-np-kind]");
    if (!select) return;
    var kind = select.value;
    form.querySelectorAll("fieldset[data-kind]").forEach(function (set) {
      var chosen = set.dataset.kind === kind;
      set.hidden = !chosen;
      set.disabled = !chosen;
    });
    form.querySelectorAll("[data-kind-help]").forEach(function (help) {
      help.hidden = help.dataset.kindHelp !== kind;
    });
    form.classList.add("js-kinds");
  }

  document.querySelectorAll("[data-np-kind-form]").forEach(function (form) {
    syncKind(form);
    form.addEventListener("change", function (event) {
      if (event.target.matches("[data-np-kind]")) syncKind(form);
    });
  });

  // Probes take up to a few seconds: say so, and keep a double click from running two.
  document.addEventListener("submit", function (event) {
    if (event.defaultPrevented) return;
    var form = event.target;
    if (!form.matches("[data-np-kind-form], [data-np-busy]")) return;
    var button = event.submitter || form.querySelector("button[type=submit]");
    if (!button || !button.dataset.busyLabel) return;
    window.setTimeout(function () {
      button.disabled = true;
      button.classList.add("is-busy");
      button.textContent = button.dataset.busyLabel;
    }, 0);
  });
})();
