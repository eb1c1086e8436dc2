// Face_Comparison: drag-and-drop, previews and checks of the chosen photos, and a compare form
// that keeps them. Plain file inputs and a plain POST work without this script.
//
// Browsers cannot put a file back into a file input from a server answer, so the script sends
// the form with fetch() and swaps in only the outcome (result or error): the inputs, and the
// photos chosen in them, stay as they are. If fetch fails, the form is posted the plain way.
(function () {
  "use strict";

  var FORMATS = "JPEG, PNG, WEBP, GIF or BMP";

  // The first bytes of the formats the server accepts (modules/faces/engine/imaging.py).
  function formatOf(bytes) {
    function has(offset, text) {
      for (var i = 0; i < text.length; i++) {
        if (bytes[offset + i] !== text.charCodeAt(i)) return false;
      }
      return true;
    }
    if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "JPEG";
    if (bytes[0] === 0x89 && has(1, "PNG")) return "PNG";
    if (has(0, "GIF8")) return "GIF";
    if (has(0, "BM")) return "BMP";
    if (has(0, "RIFF") && has(8, "WEBP")) return "WEBP";
    return null;
  }

  // Resolves to a message when the file must not be sent, else to null.
  function problemWith(file, maxBytes) {
    var name = "\u201c" + file.name + "\u201d";
    if (!file.size) return Promise.resolve(name + " is empty.");
    if (maxBytes && file.size > maxBytes) {
      var mb = function (n) { return (n / 1048576).toFixed(1) + " MB"; };
      return Promise.resolve(name + " is " + mb(file.size) + "; the limit is " + mb(maxBytes) + ".");
    }
    return file.slice(0, 12).arrayBuffer().then(function (buffer) {
      if (formatOf(new Uint8Array(buffer))) return null;
      return name + " is not a photo: choose a " + FORMATS + " image.";
    }, function () {
      return name + " cannot be read.";
    });
  }

  function errorSlot(input) {
    var zone = input.closest("[data-dropzone]") || input.parentNode;
    var slot = zone.querySelector("[data-dz-error]");
    if (!slot) {
      slot = document.createElement("span");
      slot.className = "dz-error";
      slot.setAttribute("role", "alert");
      slot.setAttribute("data-dz-error", "");
      input.insertAdjacentElement("afterend", slot);
    }
    return slot;
  }

  function showError(input, message) {
    var slot = errorSlot(input);
    slot.textContent = message || "";
    slot.hidden = !message;
    input.setCustomValidity(message || "");
  }

  function markFailed(zone, problem) {
    var overlay = zone.querySelector("[data-dz-overlay]");
    zone.classList.toggle("failed", !!problem);
    if (overlay) {
      overlay.textContent = problem || "";
      overlay.hidden = !problem;
    }
  }

  function showPreview(zone, file) {
    var img = zone.querySelector(".dz-preview");
    var hint = zone.querySelector(".dz-hint");
    if (!img) return;
    if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
    if (!file) {
      delete img.dataset.url;
      img.removeAttribute("src");
      img.hidden = true;
      zone.classList.remove("filled");
      if (hint) hint.textContent = hint.dataset.empty || hint.textContent;
      return;
    }
    if (hint && !hint.dataset.empty) hint.dataset.empty = hint.textContent;
    img.dataset.url = URL.createObjectURL(file);
    img.src = img.dataset.url;
    img.alt = file.name;
    img.hidden = false;
    zone.classList.add("filled");
    if (hint) hint.textContent = file.name + " (" + Math.round(file.size / 1024) + " kB)";
  }

  // Checks the chosen file; a file that is not a photo is taken out of the input.
  function check(input) {
    var form = input.form;
    var maxBytes = form ? parseInt(form.dataset.maxBytes || "0", 10) : 0;
    var zone = input.closest("[data-dropzone]");
    var file = input.files && input.files[0];
    var token = {};
    input._checking = token;
    if (zone) markFailed(zone, null);
    if (!file) {
      showError(input, null);
      if (zone) showPreview(zone, null);
      return Promise.resolve(true);
    }
    return problemWith(file, maxBytes).then(function (problem) {
      if (input._checking !== token) return false;  // another file was chosen meanwhile
      if (problem) {
        input.value = "";
        if (zone) showPreview(zone, null);
      } else if (zone) {
        showPreview(zone, file);
      }
      showError(input, problem);
      return !problem;
    });
  }

  function setupZone(zone) {
    var input = zone.querySelector("input[type=file]");
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

  function swap(selector, fresh) {
    var current = document.querySelector(selector);
    var next = fresh.querySelector(selector);
    if (current && next) current.replaceWith(document.importNode(next, true));
    return !!next;
  }

  function setupCompareForm(form) {
    var button = form.querySelector("[data-compare-button]");
    var label = button ? button.textContent : "";

    function busy(on) {
      form.classList.toggle("busy", on);
      if (button) {
        button.disabled = on;
        button.textContent = on ? "Comparing\u2026" : label;
      }
    }

    function plainPost() {
      busy(true);
      HTMLFormElement.prototype.submit.call(form);
    }

    // Set before the asynchronous file check, so a second quick submit is ignored.
    var pending = false;

    function show(html) {
      var page = new DOMParser().parseFromString(html, "text/html");
      if (!swap("[data-compare-outcome]", page)) return false;
      swap("[data-form-errors]", page);
      swap("[data-compare-recent]", page);
      var failed = document.querySelector("[data-compare-outcome] [data-failed-which]");
      if (failed) {
        var zone = form.querySelector(
          "[data-dropzone][for='id_image_" + failed.dataset.failedWhich + "']"
        );
        if (zone) markFailed(zone, failed.dataset.failedProblem);
      }
      var outcome = document.querySelector("[data-compare-outcome]");
      if (outcome.firstElementChild) outcome.scrollIntoView({ block: "start" });
      return true;
    }

    function unreadable(status) {
      // The server answered, so it may have compared and logged already: never post again.
      pending = false;
      busy(false);
      var slot = document.querySelector("[data-form-errors]") || form;
      var note = document.createElement("p");
      note.className = "msg msg-error";
      note.setAttribute("role", "alert");
      note.textContent =
        "The answer could not be shown (HTTP " + status + "). Reload the page to see it " +
        "under Recent comparisons before comparing again.";
      slot.prepend(note);
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (pending) return;
      pending = true;
      var inputs = Array.prototype.slice.call(form.querySelectorAll("input[type=file]"));
      Promise.all(inputs.map(check)).then(function (results) {
        if (results.indexOf(false) !== -1) {
          pending = false;
          return;
        }
        if (!window.fetch || !window.DOMParser) return plainPost();
        busy(true);
        fetch(form.action, {
          method: "POST",
          body: new FormData(form),
          credentials: "same-origin",
          headers: { "X-Requested-With": "fetch" },
        }).then(
          function (response) {
            return response.text().then(
              function (html) {
                if (!show(html)) return unreadable(response.status);
                pending = false;
                busy(false);
              },
              function () { unreadable(response.status); }
            );
          },
          // No response at all (offline, fetch blocked): fall back to the plain form. Once an
          // answer has arrived, whatever it is, the form is never posted again.
          plainPost
        );
      });
    });
  }

  function init() {
    document.querySelectorAll("[data-dropzone]").forEach(setupZone);
    document.querySelectorAll("form input[type=file][accept^='image/']").forEach(function (input) {
      input.addEventListener("change", function () { check(input); });
    });
    document.querySelectorAll("[data-compare-form]").forEach(setupCompareForm);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
