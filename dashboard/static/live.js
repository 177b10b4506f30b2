// secmon dashboard: live updates over Server-Sent Events.
//
// Pages work without this script; it only adds what arrives after a page
// was rendered: new alerts, and the Overview's counters. Everything it
// writes goes through textContent and createElement, never through HTML
// parsing (the Content-Security-Policy's Trusted Types forbid innerHTML),
// so stored text from an attacker stays text.
"use strict";

(function () {
  var body = document.body;
  var url = body && body.getAttribute("data-stream");
  if (!url || typeof EventSource === "undefined") {
    return;
  }
  var state = document.getElementById("live-state");
  var live = document.getElementById("live");
  var list = document.getElementById("live-alerts");
  var badge = document.getElementById("new-alerts");
  var resync = document.getElementById("resync");
  var newAlerts = 0;
  var maxItems = 50;
  var source = null;
  var backoff = 1000;
  var timer = null;
  var lastId = ""; // of the last alert received, so a new stream resumes after it

  function setState(text, down) {
    if (!state) {
      return;
    }
    state.hidden = false;
    state.textContent = text;
    state.classList.toggle("down", !!down);
  }

  // utc renders an RFC 3339 time as "2026-03-02 14:05:09 UTC".
  function utc(s) {
    var d = new Date(s);
    if (isNaN(d.getTime())) {
      return "";
    }
    return d.toISOString().slice(0, 19).replace("T", " ") + " UTC";
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) {
      e.className = cls;
    }
    if (text !== undefined) {
      e.textContent = String(text);
    }
    return e;
  }

  var severities = { info: 1, low: 1, medium: 1, high: 1, critical: 1 };

  function onAlert(ev) {
    if (ev.lastEventId) {
      lastId = ev.lastEventId;
    }
    var a;
    try {
      a = JSON.parse(ev.data);
    } catch (e) {
      return;
    }
    var sev = severities[a.severity] ? a.severity : "info";
    // An alert already listed on the Alerts page: update its figures.
    var cards = document.querySelectorAll("[data-alert-id]");
    for (var i = 0; i < cards.length; i++) {
      if (cards[i].getAttribute("data-alert-id") === a.id) {
        var count = cards[i].querySelector('[data-field="count"]');
        var last = cards[i].querySelector('[data-field="last_seen"]');
        var status = cards[i].querySelector('[data-field="status"]');
        if (count) { count.textContent = Number(a.count).toLocaleString("en-US"); }
        if (last) { last.textContent = utc(a.last_seen); }
        if (status) { status.textContent = a.status; }
      }
    }
    if (!list || a.status !== "open") {
      return;
    }
    // Keep one line per alert: a repeat replaces the older line.
    var old = list.querySelector('[data-id="' + (/^[0-9a-f-]{36}$/.test(a.id) ? a.id : "x") + '"]');
    var isNew = !old;
    var li = el("li", "live-item");
    li.setAttribute("data-id", a.id);
    li.setAttribute("data-rule", a.rule);
    li.appendChild(el("span", "when", utc(a.last_seen)));
    li.appendChild(el("span", "sev sev-" + sev, sev));
    li.appendChild(document.createTextNode(" "));
    li.appendChild(el("b", "rule", a.rule));
    li.appendChild(el("span", "subj mono", a.subject));
    li.appendChild(el("span", "summary", a.summary));
    li.appendChild(el("span", "quiet", " ×" + a.count));
    if (old) {
      list.replaceChild(li, old);
    } else {
      list.insertBefore(li, list.firstChild);
    }
    while (list.children.length > maxItems) {
      list.removeChild(list.lastChild);
    }
    live.hidden = false;
    if (isNew && badge) {
      newAlerts++;
      badge.textContent = "+" + newAlerts;
      badge.hidden = false;
    }
  }

  function onCounters(ev) {
    var c;
    try {
      c = JSON.parse(ev.data);
    } catch (e) {
      return;
    }
    var nodes = document.querySelectorAll("[data-live]");
    for (var i = 0; i < nodes.length; i++) {
      var key = nodes[i].getAttribute("data-live");
      if (!Object.prototype.hasOwnProperty.call(c, key)) {
        continue;
      }
      var v = c[key];
      var text = typeof v === "number" ? v.toLocaleString("en-US") : String(v);
      if (nodes[i].textContent !== text) {
        nodes[i].textContent = text;
        nodes[i].classList.remove("changed");
        void nodes[i].offsetWidth; // restart the highlight
        nodes[i].classList.add("changed");
      }
    }
  }

  function connect() {
    timer = null;
    source = new EventSource(lastId ? url + "?last=" + encodeURIComponent(lastId) : url);
    source.addEventListener("open", function () {
      backoff = 1000;
      setState("live", false);
    });
    source.addEventListener("alert", onAlert);
    source.addEventListener("position", function (ev) {
      if (ev.lastEventId) {
        lastId = ev.lastEventId;
      }
    });
    source.addEventListener("counters", onCounters);
    source.addEventListener("resync", function () {
      if (resync) {
        resync.hidden = false;
      }
    });
    source.addEventListener("error", function () {
      setState("reconnecting", true);
      // The browser retries a dropped or ended stream by itself, naming
      // the last message it got; one it gave up on (a refusal such as 503)
      // is retried here, with a growing delay.
      if (source.readyState === EventSource.CLOSED && timer === null) {
        source.close();
        timer = setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 30000);
      }
    });
  }

  connect();
  window.addEventListener("pagehide", function () {
    if (source) {
      source.close();
    }
  });
})();
