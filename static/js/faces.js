// Face_Comparison: drag-and-drop and previews on the compare form. Plain file inputs work
// without this script; it only fills them from a drop and shows what was chosen.
(function () {
  "use strict";

  function showPreview(zone, file) {
    var img = zone.querySelector(".dz-preview");
    var hint = zone.querySelector(".dz-hint");
    if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
    if (!file) {
      img.hidden = true;
      zone.classList.remove("filled");
      return;
    }
    img.dataset.url = URL.createObjectURL(file);
    img.src = img.dataset.url;
    img.alt = file.name;
    img.hidden = false;
    zone.classList.add("filled");
    if (hint) hint.textContent = file.name + " (" + Math.round(file.size / 1024) + " kB)";
  }

  function setup(zone) {
    var input = zone.querySelector("input[type=file]");
    input.addEventListener("change", function () {
      showPreview(zone, input.files && input.files[0]);
    });
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("dragover");
      });
    });
    ["dragleave", "dragend"].forEach(function (name) {
      zone.addEventListener(name, function () {
        zone.classList.remove("dragover");
      });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("dragover");
      var files = event.dataTransfer && event.dataTransfer.files;
      if (!files || !files.length) return;
      var one = new DataTransfer();
      one.items.add(files[0]);
      input.files = one.files;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    });
  }

  function init() {
    document.querySelectorAll("[data-dropzone]").forEach(setup);
    document.querySelectorAll("[data-compare-form]").forEach(function (form) {
      form.addEventListener("submit", function () {
        var button = form.querySelector("[data-compare-button]");
        form.classList.add("busy");
        if (button) button.textContent = "Comparing…";
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
