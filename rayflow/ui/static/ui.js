// rayflow ui: live updates of a running run's page, and the compare picker. No libraries.
(function () {
  "use strict";
  // Scripts inserted with innerHTML do not run: run the ones of a swapped fragment (the timeline's).
  var rerun = function (node) {
    node.querySelectorAll("script").forEach(function (old) {
      var s = document.createElement("script");
      s.textContent = old.textContent;
      old.parentNode.replaceChild(s, old);
    });
  };
  var head = document.getElementById("run-head");
  var url = head && head.getAttribute("data-live");
  if (url) {
    var busy = false, timer = null;
    var tick = function () {
      if (busy) { return; }
      busy = true;
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          Object.keys(data.html).forEach(function (id) {
            var node = document.getElementById(id);
            if (node) { node.innerHTML = data.html[id]; rerun(node); }
          });
          document.body.setAttribute("data-run-status", data.status);
          if (!data.running && timer) { clearInterval(timer); timer = null; }
        })
        .catch(function () { /* the server may be restarting: try again next tick */ })
        .then(function () { busy = false; });
    };
    timer = setInterval(tick, 1500);
  }
  var form = document.getElementById("compare-form");
  if (form) {
    var button = document.getElementById("compare-button");
    var update = function () {
      button.disabled = form.querySelectorAll("input.pick:checked").length < 2;
    };
    form.addEventListener("change", update);
    update();
  }
})();
