// SOS_Broadcast: "use my location" fills latitude/longitude from the browser (no inline JS: CSP).
(function () {
  "use strict";
  function field(id) { return document.getElementById(id); }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-geolocate]");
    if (!button) return;
    var status = document.querySelector("[data-geolocate-status]");
    function say(text) { if (status) status.textContent = text; }
    if (!("geolocation" in navigator)) { say("This browser cannot share its location."); return; }
    button.disabled = true;
    say("Asking the browser for your location…");
    navigator.geolocation.getCurrentPosition(function (position) {
      var c = position.coords;
      field("id_latitude").value = c.latitude.toFixed(6);
      field("id_longitude").value = c.longitude.toFixed(6);
      if (field("id_accuracy_m")) field("id_accuracy_m").value = Math.round(c.accuracy);
      say("Location filled in (± " + Math.round(c.accuracy) + " m).");
      button.disabled = false;
    }, function (error) {
      say("Could not get your location: " + error.message);
      button.disabled = false;
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });
})();

// The alert page's relative times ("retry in 40 s") tick here, so the live part's server can
// answer 204 while no data changed. The clock is the server's (data-rendered), not the phone's.
(function () {
  "use strict";
  function human(total) {
    total = Math.max(0, Math.round(total));
    if (total < 60) return total + " s";
    if (total < 600) {
      var m = Math.floor(total / 60), s = total % 60;
      return s ? m + " min " + s + " s" : m + " min";
    }
    if (total < 3600) return Math.floor(total / 60) + " min";
    if (total < 86400) {
      var h = Math.floor(total / 3600), mm = Math.floor((total % 3600) / 60);
      return mm ? h + " h " + mm + " min" : h + " h";
    }
    var d = Math.floor(total / 86400), hh = Math.floor((total % 86400) / 3600);
    return hh ? d + " d " + hh + " h" : d + " d";
  }
  function tick() {
    document.querySelectorAll("[data-rendered]").forEach(function (part) {
      if (part.sosOffset === undefined) {
        part.sosOffset = Number(part.getAttribute("data-rendered")) * 1000 - Date.now();
      }
      var now = Date.now() + part.sosOffset;
      part.querySelectorAll("time[data-until]").forEach(function (el) {
        var seconds = (Date.parse(el.getAttribute("datetime")) - now) / 1000;
        if (isNaN(seconds)) return;
        el.textContent = Math.round(seconds) > 0 ? "in " + human(seconds) : "now";
      });
    });
  }
  setInterval(tick, 1000);
})();

// "Send test" on a contact page: one send, its result in place of the method's status line.
// Without JS the form posts and the page comes back with the result as a message.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-method-test]");
    if (!form || !window.fetch) return;
    event.preventDefault();
    var status = document.getElementById("method-status-" + form.getAttribute("data-method-test"));
    var button = form.querySelector("button");
    if (button) button.disabled = true;
    if (status) status.textContent = "Sending a test message…";
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", "Accept": "text/html" }
    }).then(function (response) {
      if (response.redirected) {  // signed out meanwhile: the page goes to the login form
        window.location.reload();
        return;
      }
      return response.text().then(function (text) {
        if (status) {
          var type = response.headers.get("Content-Type") || "";
          if (type.indexOf("text/html") === 0 && text) {
            status.innerHTML = text;
          } else {
            status.textContent = "The test could not be sent (HTTP " + response.status + ").";
          }
        }
      });
    }).catch(function () {
      if (status) status.textContent = "The test could not be sent: the server did not answer.";
    }).then(function () {
      if (button) button.disabled = false;
    });
  });
})();
