// SOS acknowledgement page: "Add my location" fills the form's hidden fields from the browser's
// geolocation, only when the recipient asks and the browser allows it. Without this script the
// page still takes every answer and note; the location is simply left out.
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }
  ready(function () {
    var box = document.querySelector("[data-ack-location]");
    if (!box || !("geolocation" in navigator)) return;
    var button = box.querySelector("[data-ack-share]");
    var status = box.querySelector("[data-ack-location-status]");
    box.hidden = false;
    function say(text) { status.textContent = text; }
    button.addEventListener("click", function () {
      button.disabled = true;
      say("Asking your browser for your location…");
      navigator.geolocation.getCurrentPosition(function (position) {
        var c = position.coords;
        document.getElementById("ack-latitude").value = c.latitude.toFixed(6);
        document.getElementById("ack-longitude").value = c.longitude.toFixed(6);
        document.getElementById("ack-accuracy").value = Math.round(c.accuracy);
        say("Location added (± " + Math.round(c.accuracy) + " m); it is sent with your answer.");
        button.textContent = "Update my location";
        button.disabled = false;
      }, function (error) {
        say("No location: " + error.message + ". Your answer still goes through without it.");
        button.disabled = false;
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    });
  });
})();
