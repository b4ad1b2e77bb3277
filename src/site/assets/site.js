// meshproof site: matrix filters by mesh, Kubernetes version and status. The state lives in the
// URL fragment (#mesh=osm&k8s=1.24.0&status=Partial), so a filtered view can be linked; the page
// works without this script.
(function () {
  "use strict";
  var form = document.getElementById("filters");
  var table = document.getElementById("matrix");
  if (!form || !table) { return; }
  var selects = form.querySelectorAll("select");
  var shown = document.getElementById("shown");

  function readHash() {
    var state = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
      var i = kv.indexOf("=");
      if (i > 0) { state[decodeURIComponent(kv.slice(0, i))] = decodeURIComponent(kv.slice(i + 1)); }
    });
    return state;
  }

  function apply() {
    var want = {};
    selects.forEach(function (s) { want[s.name] = s.value; });
    var rows = table.tBodies[0].rows;
    var n = 0;
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      var ok = (!want.mesh || r.dataset.mesh === want.mesh) &&
        (!want.k8s || r.dataset.k8s === want.k8s) &&
        (!want.status || r.dataset.status.split(" ").indexOf(want.status) >= 0);
      r.classList.toggle("hidden", !ok);
      if (ok) { n++; }
    }
    if (shown) { shown.textContent = n + " of " + rows.length + " rows shown"; }
  }

  function writeHash() {
    var parts = [];
    selects.forEach(function (s) {
      if (s.value) { parts.push(encodeURIComponent(s.name) + "=" + encodeURIComponent(s.value)); }
    });
    history.replaceState(null, "", parts.length ? "#" + parts.join("&") : location.pathname);
  }

  var initial = readHash();
  selects.forEach(function (s) {
    if (initial[s.name] !== undefined) {
      for (var i = 0; i < s.options.length; i++) {
        if (s.options[i].value === initial[s.name]) { s.value = initial[s.name]; }
      }
    }
    s.addEventListener("change", function () { apply(); writeHash(); });
  });
  apply();
})();
