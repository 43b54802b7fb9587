// Live alerts on Today: server-sent events from /api/alerts/stream (the login cookie is the
// viewer token), newest on top; the latest-signal-per-screen table follows along.
(function () {
  "use strict";
  var list = document.getElementById("alerts");
  var screens = document.querySelector("#screens tbody");
  var live = document.getElementById("live");
  if (!list || !window.EventSource) { return; }

  function text(tag, value) {
    var el = document.createElement(tag);
    el.textContent = value;
    return el;
  }

  function percent(p) { return Math.round(p * 100) + "%"; }

  function addAlert(a) {
    var li = document.createElement("li");
    li.dataset.alertId = a.alert_id;
    var img = document.createElement("img");
    img.className = "thumb";
    img.alt = "frame " + a.frame_id;
    img.src = "/api/alerts/" + encodeURIComponent(a.alert_id) + "/thumbnail";
    li.appendChild(img);
    li.appendChild(text("strong", a.signal));
    li.appendChild(document.createTextNode(" " + percent(a.prob) + " · " + a.device + " · model v" +
      a.model_version + " · " + String(a.frame_ts).slice(11, 19) + " UTC · "));
    var link = text("a", "lineage");
    link.href = "/api/alerts/" + encodeURIComponent(a.alert_id) + "/lineage";
    li.appendChild(link);
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 50) { list.removeChild(list.lastChild); }
    var row = screens.querySelector('tr[data-device="' + CSS.escape(a.device) + '"]');
    if (!row) {
      row = document.createElement("tr");
      row.dataset.device = a.device;
      screens.appendChild(row);
    }
    row.replaceChildren(text("td", a.device), text("td", a.signal), text("td", percent(a.prob)),
      text("td", String(a.frame_ts).slice(11, 19)));
  }

  var source = new EventSource("/api/alerts/stream");
  source.onopen = function () { live.textContent = "live"; };
  source.onerror = function () { live.textContent = "reconnecting…"; };
  source.addEventListener("alert", function (event) { addAlert(JSON.parse(event.data)); });
})();
