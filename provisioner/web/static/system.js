// Live status for the system page: the power state, the reinstall's stage and the timeline,
// from /ui/systems/<name>.json. The page works without it (it reloads during a reinstall).
(function () {
  "use strict";
  var root = document.getElementById("system");
  if (!root) { return; }
  var url = root.getAttribute("data-status-url");
  var busy = 2000, idle = 10000;

  function text(id, value) {
    var el = document.getElementById(id);
    if (el && el.textContent !== value) { el.textContent = value; }
  }

  function seen(at) {
    if (!at) { return "never"; }
    var ago = Math.max(0, Math.round(Date.now() / 1000 - at));
    return new Date(at * 1000).toLocaleString() + " (" + ago + " s ago)";
  }

  function render(data) {
    text("system-status", data.status);
    text("system-netboot", data.netboot ? "on" : "off");
    if (data.power) {
      var st = document.getElementById("power-state");
      if (st) { st.textContent = data.power.state; st.className = "state state-" + data.power.state; }
      text("power-error", data.power.error || "");
      text("power-seen", seen(data.power.last_seen));
    }
    var running = false;
    if (data.reinstall) {
      var stage = document.getElementById("reinstall-stage");
      if (stage) { stage.textContent = data.reinstall.stage; stage.className = "state state-" + data.reinstall.stage; }
      text("reinstall-message", data.reinstall.message);
      running = data.reinstall.stage !== "done" && data.reinstall.stage !== "failed";
    }
    var body = document.querySelector("#events tbody");
    if (body) {
      while (body.firstChild) { body.removeChild(body.firstChild); }
      data.events.forEach(function (e) {
        var tr = document.createElement("tr");
        // the sentence for people, the raw JSON one click away (as the order page shows them)
        [String(Math.floor(e.at)), e.kind].forEach(function (v) {
          var td = document.createElement("td");
          td.textContent = v;
          tr.appendChild(td);
        });
        var cell = document.createElement("td");
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
        cell.appendChild(span);
        cell.appendChild(document.createTextNode(" "));
        cell.appendChild(raw);
        tr.appendChild(cell);
        body.appendChild(tr);
      });
    }
    return running;
  }

  function poll() {
    var xhr = new XMLHttpRequest();
    xhr.open("GET", url);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.onload = function () {
      var running = false;
      if (xhr.status === 200) {
        try { running = render(JSON.parse(xhr.responseText)); } catch (err) { running = false; }
      }
      setTimeout(poll, running ? busy : idle);
    };
    xhr.onerror = function () { setTimeout(poll, idle); };
    xhr.send();
  }
  var seenEl = document.getElementById("power-seen");
  if (seenEl) { seenEl.textContent = seen(parseFloat(seenEl.getAttribute("data-at"))); }
  setTimeout(poll, busy);
}());
