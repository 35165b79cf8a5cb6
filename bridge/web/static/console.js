// bridge operator console: theme switch, the board's live refresh, sound and browser
// notifications on a new P1/P2, keyboard shortcuts (j/k, Enter, a, e). No framework, no inline code.
(function () {
  "use strict";

  function stored(key, fallback) {
    try { var v = window.localStorage.getItem(key); return v === null ? fallback : v; } catch (e) { return fallback; }
  }
  function store(key, value) {
    try { window.localStorage.setItem(key, value); } catch (e) { /* ignored */ }
  }

  // -- theme ----------------------------------------------------------------------------------
  var themeButton = document.getElementById("theme-toggle");
  if (themeButton) {
    themeButton.addEventListener("click", function () {
      var next = document.documentElement.getAttribute("data-theme") === "light" ? "dark" : "light";
      document.documentElement.setAttribute("data-theme", next);
      store("bridge.theme", next);
    });
  }

  // -- confirmations for forms that ask (cancel, reject, expire...) ----------------------------
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  // -- the board ------------------------------------------------------------------------------
  var board = document.getElementById("board");
  if (!board) { return; }
  var body = board.querySelector("tbody");
  var status = document.getElementById("live-status");
  var soundBox = document.getElementById("alert-sound");
  var csrf = board.getAttribute("data-csrf");
  var every = parseInt(board.getAttribute("data-poll-ms"), 10) || 10000;
  var selected = null; // the incident number the operator is on: kept across refreshes
  var known = {};
  var audio = null;

  function rows() { return Array.prototype.slice.call(body.querySelectorAll("tr[data-number]")); }
  rows().forEach(function (row) { known[row.getAttribute("data-number")] = true; });

  if (soundBox) {
    soundBox.checked = stored("bridge.alerts", "on") === "on";
    soundBox.addEventListener("change", function () {
      store("bridge.alerts", soundBox.checked ? "on" : "off");
      if (soundBox.checked && window.Notification && Notification.permission === "default") {
        Notification.requestPermission();
      }
    });
  }

  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      [0, 0.35].forEach(function (at) {
        var osc = audio.createOscillator(), gain = audio.createGain();
        osc.frequency.value = 880; osc.type = "square";
        gain.gain.setValueAtTime(0.12, audio.currentTime + at);
        gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + at + 0.25);
        osc.connect(gain); gain.connect(audio.destination);
        osc.start(audio.currentTime + at); osc.stop(audio.currentTime + at + 0.3);
      });
    } catch (e) { /* no audio here */ }
  }

  function announce(row) {
    if (!soundBox || !soundBox.checked) { return; }
    document.body.setAttribute("data-announced", row.getAttribute("data-number")); // what was announced last
    beep();
    if (window.Notification && Notification.permission === "granted") {
      var n = new Notification(row.getAttribute("data-priority") + " INC-" + row.getAttribute("data-number"),
        { body: row.getAttribute("data-title"), tag: "bridge-" + row.getAttribute("data-number") });
      n.onclick = function () { window.focus(); window.location.href = row.getAttribute("data-href"); };
    }
  }

  function select(row, scroll) {
    rows().forEach(function (r) { r.classList.remove("selected"); r.removeAttribute("aria-selected"); });
    if (!row) { selected = null; return; }
    row.classList.add("selected");
    row.setAttribute("aria-selected", "true");
    selected = row.getAttribute("data-number");
    if (scroll) { row.scrollIntoView({ block: "nearest" }); }
  }

  function refresh() {
    var url = board.getAttribute("data-rows-url");
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.status === 401 || response.redirected) { window.location.reload(); return null; }
        if (!response.ok) { throw new Error(String(response.status)); }
        var total = document.getElementById("board-total");
        if (total && response.headers.get("X-Board-Total")) { total.textContent = response.headers.get("X-Board-Total"); }
        return response.text();
      })
      .then(function (html) {
        if (html === null) { return; }
        var scrollY = window.scrollY;
        body.innerHTML = html;
        var fresh = [];
        rows().forEach(function (row) {
          var number = row.getAttribute("data-number");
          if (!known[number]) {
            known[number] = true;
            var p = row.getAttribute("data-priority");
            if (p === "P1" || p === "P2") { fresh.push(row); }
          }
        });
        if (selected) { select(body.querySelector('tr[data-number="' + selected + '"]'), false); }
        window.scrollTo(0, scrollY);
        if (fresh.length) { announce(fresh[0]); }
        if (status) { status.textContent = status.getAttribute("data-live") + " " + new Date().toLocaleTimeString(); status.classList.remove("breached"); }
      })
      .catch(function () {
        if (status) { status.textContent = status.getAttribute("data-offline"); status.classList.add("breached"); }
      });
  }
  window.setInterval(refresh, every);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { refresh(); } });

  body.addEventListener("click", function (event) {
    var row = event.target.closest("tr[data-number]");
    if (!row) { return; }
    select(row, false);
    if (!event.target.closest("a, button, form")) { window.location.href = row.getAttribute("data-href"); }
  });

  function act(action) {
    var row = selected && body.querySelector('tr[data-number="' + selected + '"]');
    if (!row || !csrf) { return; }
    var form = document.createElement("form");
    form.method = "post";
    form.action = row.getAttribute("data-href") + "/" + action;
    [["csrf_token", csrf], ["next", window.location.pathname + window.location.search]].forEach(function (pair) {
      var input = document.createElement("input");
      input.type = "hidden"; input.name = pair[0]; input.value = pair[1];
      form.appendChild(input);
    });
    document.body.appendChild(form);
    form.submit();
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select") { return; }
    var list = rows();
    var index = list.findIndex(function (r) { return r.getAttribute("data-number") === selected; });
    if (event.key === "j") { select(list[Math.min(index + 1, list.length - 1)] || null, true); event.preventDefault(); }
    else if (event.key === "k") { select(list[Math.max(index - 1, 0)] || null, true); event.preventDefault(); }
    else if (event.key === "Enter" && index >= 0) { window.location.href = list[index].getAttribute("data-href"); }
    else if (event.key === "a" && index >= 0 && list[index].getAttribute("data-can-ack") === "1") { act("ack"); }
    else if (event.key === "e" && index >= 0 && list[index].getAttribute("data-can-escalate") === "1") { act("escalate"); }
  });
})();
