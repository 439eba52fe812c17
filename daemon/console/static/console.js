// Dockyard console: what the server-rendered pages gain with JavaScript (they work without it).
//  - the topology: drag to pan, wheel (or +/-) to zoom, the flows of the node under the pointer
//    highlighted, live status refreshed in place every 10 s;
//  - action forms sent with fetch and the CSRF token in a header, the answer shown in place.
(function () {
  "use strict";
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";

  function flash(message, failed) {
    var box = document.getElementById("flash");
    if (!box) return;
    box.textContent = message;
    box.className = failed ? "failed" : "";
  }

  // --- actions ---------------------------------------------------------------------------
  document.querySelectorAll("form.action").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = {};
      new FormData(form).forEach(function (value, key) {
        if (key !== "csrf") data[key] = value;
      });
      if (data.confirm === "true") data.confirm = true;
      var button = form.querySelector("button");
      if (button) button.disabled = true;
      fetch(form.getAttribute("action"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(data)
      }).then(function (response) {
        return response.json().then(function (body) { return { status: response.status, body: body }; });
      }).then(function (answer) {
        var body = answer.body;
        var text = body.message || body.error || "done";
        if (body.hint) text += " (" + body.hint + ")";
        flash(text, answer.status >= 400);
        if (answer.status < 400 && form.dataset.reload !== "no") setTimeout(function () { location.reload(); }, 1500);
      }).catch(function () {
        flash("the daemon did not answer; try again", true);
      }).finally(function () {
        if (button) button.disabled = false;
      });
    });
  });

  // --- the topology ------------------------------------------------------------------------
  var frame = document.querySelector("section.graph");
  var svg = frame ? frame.querySelector("svg.topology") : null;
  if (!svg) return;
  var base = svg.getAttribute("viewBox").split(" ").map(Number);
  var view = base.slice();
  // Start with the whole graph in view, however wide it is.
  svg.removeAttribute("width");
  svg.removeAttribute("height");

  function apply() { svg.setAttribute("viewBox", view.join(" ")); }

  function zoom(factor, cx, cy) {
    var w = view[2] * factor, h = view[3] * factor;
    if (w < 200 || w > base[2] * 4) return;
    view = [cx - (cx - view[0]) * factor, cy - (cy - view[1]) * factor, w, h];
    apply();
  }

  function point(event) {
    var rect = svg.getBoundingClientRect();
    var scale = Math.max(view[2] / rect.width, view[3] / rect.height);
    return { x: view[0] + (event.clientX - rect.left) * scale, y: view[1] + (event.clientY - rect.top) * scale, scale: scale };
  }

  svg.addEventListener("wheel", function (event) {
    event.preventDefault();
    var p = point(event);
    zoom(event.deltaY > 0 ? 1.15 : 1 / 1.15, p.x, p.y);
  }, { passive: false });

  var drag = null;
  svg.addEventListener("pointerdown", function (event) {
    if (event.button !== 0) return;
    drag = { x: event.clientX, y: event.clientY, view: view.slice(), moved: false, scale: point(event).scale };
  });
  window.addEventListener("pointermove", function (event) {
    if (!drag) return;
    var dx = event.clientX - drag.x, dy = event.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 4) drag.moved = true;
    view = [drag.view[0] - dx * drag.scale, drag.view[1] - dy * drag.scale, view[2], view[3]];
    apply();
  });
  window.addEventListener("pointerup", function () {
    if (drag && drag.moved) {
      // A drag that ends on a node must not follow its link.
      svg.addEventListener("click", function stop(e) { e.preventDefault(); svg.removeEventListener("click", stop, true); }, true);
    }
    drag = null;
  });
  frame.addEventListener("keydown", function (event) {
    var cx = view[0] + view[2] / 2, cy = view[1] + view[3] / 2;
    if (event.key === "+" || event.key === "=") zoom(1 / 1.2, cx, cy);
    else if (event.key === "-") zoom(1.2, cx, cy);
    else if (event.key === "0") { view = base.slice(); apply(); }
  });

  // Highlight the flows and parts of the node under the pointer.
  function highlight(id, on) {
    svg.classList.toggle("dim", on);
    svg.querySelectorAll(".hot").forEach(function (el) { el.classList.remove("hot"); });
    if (!on) return;
    var own = svg.querySelector('.node[data-id="' + CSS.escape(id) + '"]');
    if (own) own.classList.add("hot");
    svg.querySelectorAll('[data-s="' + CSS.escape(id) + '"], [data-t="' + CSS.escape(id) + '"]').forEach(function (edge) {
      edge.classList.add("hot");
      [edge.dataset.s, edge.dataset.t].forEach(function (end) {
        var node = svg.querySelector('.node[data-id="' + CSS.escape(end) + '"]');
        if (node) node.classList.add("hot");
      });
    });
  }
  svg.querySelectorAll(".node:not(.tenant)").forEach(function (node) {
    node.addEventListener("mouseenter", function () { highlight(node.dataset.id, true); });
    node.addEventListener("mouseleave", function () { highlight(node.dataset.id, false); });
  });

  // Live status, in place.
  var health = ["ok", "progressing", "degraded", "missing", "unknown"];
  function refresh() {
    fetch("/api/topology" + location.search, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) return;
        data.nodes.forEach(function (node) {
          if (node.kind !== "app" && node.kind !== "group") return;
          var el = svg.querySelector('.node[data-id="' + CSS.escape(node.id) + '"]');
          if (!el) return;
          health.forEach(function (h) { el.classList.remove(h); });
          el.classList.add(node.health);
          var sub = el.querySelector("[data-status]");
          if (sub) sub.textContent = node.sub.length > 30 ? node.sub.slice(0, 29) + "…" : node.sub;
        });
      })
      .catch(function () { /* the next round tries again */ });
  }
  setInterval(refresh, 10000);
})();
