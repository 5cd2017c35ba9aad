// rayflow ui: live updates of a running run's page (only what changed), a step's further tasks
// on demand, and the compare picker. No libraries.
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
  var getJSON = function (url) {
    return fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; });
  };
  var row = function (html) {
    var t = document.createElement("tbody");
    t.innerHTML = html;
    return t.firstElementChild;
  };
  var q = function (sel, attr, value) {
    return document.querySelector(sel + "[" + attr + '="' + CSS.escape(value) + '"]');
  };
  var taskBody = function (step) { return q("#tasks tbody", "data-step-tasks", step); };
  var shownIn = function (body) { return body.querySelectorAll("tr[data-task]").length; };

  // A task row that changed: swapped in place, or added to its step while the step shows fewer
  // rows than its limit (beyond that, the step's "more" line counts it).
  var applyTask = function (t) {
    var old = q("#tasks tr", "data-task", t.task);
    if (old) { old.parentNode.replaceChild(row(t.html), old); return; }
    var body = taskBody(t.step);
    if (!body) { return; }
    var placeholder = body.querySelector("tr.placeholder");
    if (placeholder) { placeholder.remove(); }
    if (shownIn(body) < parseInt(body.getAttribute("data-limit") || "100", 10)) {
      body.insertBefore(row(t.html), body.querySelector("tr.more"));
    }
  };
  var setMore = function (body, left) {
    var more = body && body.querySelector("tr.more");
    if (!more) { return; }
    more.querySelector(".more-count").textContent = String(Math.max(0, left));
    more.hidden = left <= 0;
  };
  var applyStep = function (name, s) {
    var old = q("#steps tr", "data-step", name);
    if (old) { old.parentNode.replaceChild(row(s.html), old); }
    var body = taskBody(name);
    if (body) { setMore(body, s.rows - shownIn(body)); }
  };

  var head = document.getElementById("run-head");
  var url = head && head.getAttribute("data-live");
  if (url) {
    var cursor = head.getAttribute("data-cursor") || "";
    var timelineUrl = head.getAttribute("data-timeline");
    var busy = false, timer = null;
    var refreshTimeline = function () {
      var box = document.getElementById("timeline-body");
      if (!box || !timelineUrl) { return; }
      getJSON(timelineUrl).then(function (data) {
        if (data) { box.innerHTML = data.html; rerun(box); }
      }).catch(function () { /* next change will try again */ });
    };
    var apply = function (data) {
      if (data.reload) { window.location.reload(); return; }
      cursor = data.cursor;
      head.innerHTML = data.head;
      (data.tasks || []).forEach(applyTask);
      Object.keys(data.steps || {}).forEach(function (name) { applyStep(name, data.steps[name]); });
      if (data.graph) { document.getElementById("graph").innerHTML = data.graph; }
      var total = document.getElementById("task-total");
      if (total) { total.textContent = String(data.task_total); }
      document.body.setAttribute("data-run-status", data.status);
      if (data.graph || !data.running) { refreshTimeline(); }
      if (!data.running && timer) { clearInterval(timer); timer = null; }
    };
    var tick = function () {
      if (busy) { return; }
      busy = true;
      getJSON(url + "?since=" + encodeURIComponent(cursor))
        .then(function (data) { if (data) { apply(data); } })
        .catch(function () { /* the server may be restarting: try again next tick */ })
        .then(function () { busy = false; });
    };
    timer = setInterval(tick, 1500);
  }

  // "show more" of a step's tasks: the next window, appended without reloading the page.
  var tasks = document.getElementById("tasks");
  if (tasks) {
    tasks.addEventListener("click", function (event) {
      var link = event.target.closest && event.target.closest("a.more-link[data-more]");
      if (!link) { return; }
      event.preventDefault();
      var body = link.closest("tbody");
      getJSON(link.getAttribute("data-more")).then(function (data) {
        if (!data) { return; }
        var holder = document.createElement("tbody");
        holder.innerHTML = data.html;
        var more = body.querySelector("tr.more");
        Array.prototype.slice.call(holder.children).forEach(function (tr) {
          if (!q("#tasks tr", "data-task", tr.getAttribute("data-task"))) { body.insertBefore(tr, more); }
        });
        if (data.next === null) { setMore(body, 0); return; }
        link.setAttribute("data-more", link.getAttribute("data-more").replace(/offset=\d+/, "offset=" + data.next));
        link.setAttribute("href", link.getAttribute("href").replace(/offset=\d+/, "offset=" + data.next));
        setMore(body, data.total - data.next);
      });
    });
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
