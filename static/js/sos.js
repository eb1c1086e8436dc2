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
