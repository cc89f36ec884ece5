// Live status for the order page: poll the JSON view and update the page in place.
// The page works without this script (it then reloads itself every 5 s).
(function () {
  "use strict";
  var root = document.getElementById("order");
  if (!root) { return; }
  var url = root.getAttribute("data-status-url");
  var terminal = { installed: true, failed: true, cancelled: true };
  var delay = 1500;
  var afterPolls = 0;

  function text(id, value) {
    var el = document.getElementById(id);
    if (el && el.textContent !== value) { el.textContent = value; }
  }

  // the event for people, and its raw JSON one click away (as the server renders it)
  function detailCell(e) {
    var td = document.createElement("td");
    var span = document.createElement("span");
    span.className = "event-text";
    span.textContent = e.text || e.kind;
    var raw = document.createElement("details");
    raw.className = "raw";
    var summary = document.createElement("summary");
    summary.textContent = "JSON";
    var code = document.createElement("code");
    code.textContent = JSON.stringify(e.detail);
    raw.appendChild(summary);
    raw.appendChild(code);
    td.appendChild(span);
    td.appendChild(document.createTextNode(" "));
    td.appendChild(raw);
    return td;
  }

  // a migration started from the UI runs on the server: keep polling until its outcome
  function migrating(events) {
    for (var i = events.length - 1; i >= 0; i -= 1) {
      var k = events[i].kind;
      if (k === "migration:done" || k === "migration:failed") { return false; }
      if (k === "migration:started" || k === "migration:progress") { return true; }
    }
    return false;
  }

  function render(data) {
    var state = document.getElementById("order-state");
    state.textContent = data.labels[data.state] || data.state;
    state.className = "state state-" + data.state;
    state.setAttribute("data-state", data.state);
    text("order-detail", data.detail || "");
    text("order-address", data.address || "not yet known");
    text("order-fqdn", data.fqdn || "");
    text("order-host", data.host || "not placed yet");
    data.steps.forEach(function (step) {
      var li = root.querySelector('li[data-stage="' + step.stage + '"]');
      if (li) { li.className = "step " + (step.at === null ? "pending" : "done"); }
    });
    var body = document.querySelector("#events tbody");
    if (body && body.rows.length !== data.events.length) {
      while (body.firstChild) { body.removeChild(body.firstChild); }
      data.events.forEach(function (e) {
        var tr = document.createElement("tr");
        ["+" + (e.at - data.created).toFixed(1) + " s", e.subject, e.kind].forEach(function (v) {
          var td = document.createElement("td");
          td.textContent = v;
          tr.appendChild(td);
        });
        tr.appendChild(detailCell(e));
        body.appendChild(tr);
      });
    }
    if (migrating(data.events)) { return true; }
    if (data.state === "failed" || data.state === "cancelled") { return false; }
    if (terminal[data.state]) {
      // installed: keep watching a while for "booted from its disk"
      afterPolls += 1;
      var pending = data.steps.some(function (s) { return s.at === null; });
      return pending && afterPolls < 120;
    }
    return true;
  }

  function poll() {
    var xhr = new XMLHttpRequest();
    xhr.open("GET", url);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.onload = function () {
      var again = true;
      if (xhr.status === 200) {
        try { again = render(JSON.parse(xhr.responseText)); } catch (err) { again = true; }
      }
      if (again) { setTimeout(poll, delay); }
    };
    xhr.onerror = function () { setTimeout(poll, delay * 4); };
    xhr.send();
  }
  setTimeout(poll, delay);
}());
