// Floor view: live calls and open alerts from /events/floor (server-sent events).
"use strict";

(() => {
  const { t, el, duration, sentimentBadge, tags, postJson, fillQueues, banner } = Console;
  const calls = new Map();
  const alerts = new Map();
  const queueFilter = document.getElementById("queue-filter");
  const severityFilter = document.getElementById("severity-filter");
  const params = new URLSearchParams(location.search);
  fillQueues(queueFilter);
  // When each alert reached this page (epoch ms): the browser tests measure alert latency.
  const alertSeenAt = {};
  const seenCalls = new Set(); // every call this page was ever sent (the tests check queues)
  let source = null;

  function addQueueOption(queue) {
    if (!queue || [...queueFilter.options].some((o) => o.value === queue)) return;
    if (queueFilter.dataset.admin) queueFilter.append(el("option", { value: queue, text: queue }));
  }

  function renderCalls() {
    const body = document.getElementById("calls");
    const rows = [...calls.values()].sort((a, b) => (a.started_at_ms || 0) - (b.started_at_ms || 0));
    body.replaceChildren(
      ...rows.map((call) =>
        el("tr", { "data-call-id": call.call_id, class: "call-row" },
          el("td", { text: call.agent || "–" }),
          el("td", { class: "mono", text: call.customer || "–" }),
          el("td", { text: call.queue }),
          el("td", { class: "duration", "data-started": call.started_at_ms || "", text: duration(elapsed(call)) }),
          el("td", { text: call.language || "–" }),
          el("td", {}, sentimentBadge(call.sentiment)),
          el("td", {}, tags(call.categories)),
          el("td", {}, el("a", { href: "/calls/" + encodeURIComponent(call.call_id), text: t("open_call") })),
        ),
      ),
    );
    document.getElementById("call-count").textContent = rows.length;
    document.getElementById("no-calls").hidden = rows.length > 0;
  }

  function elapsed(call) {
    return call.started_at_ms ? Date.now() - call.started_at_ms : call.duration_ms || 0;
  }

  function alertItem(alert) {
    const ack = el("button", {
      type: "button", class: "ack", text: t("acknowledge"),
      onclick: async () => {
        ack.disabled = true;
        const reply = await postJson("/api/alerts/" + encodeURIComponent(alert.alert_id) + "/ack");
        if (!reply.ok) { ack.disabled = false; ack.title = reply.data.error || reply.status; }
        // On success the acknowledged event (sent to every open page) removes the alert.
      },
    });
    return el("li", { class: "alert " + alert.severity, "data-alert-id": alert.alert_id, "data-call-id": alert.call_id },
      el("div", { class: "head" },
        el("span", { class: "severity " + alert.severity, text: t(alert.severity) }),
        el("b", { class: "rule", text: alert.rule }),
        el("span", { class: "muted", text: (alert.agent || "") + " · " + alert.queue }),
        el("a", { href: "/calls/" + encodeURIComponent(alert.call_id), text: t("open_call") }),
        ack,
      ),
      el("div", { class: "reason", text: alert.reason }),
      alert.evidence.map((e) => el("blockquote", { class: "evidence " + e.channel, text: "“" + e.text + "”" })),
    );
  }

  function renderAlerts() {
    const list = document.getElementById("alerts");
    const items = [...alerts.values()].sort((a, b) => (b.raised_at_ms || 0) - (a.raised_at_ms || 0));
    list.replaceChildren(...items.map(alertItem));
    document.getElementById("alert-count").textContent = items.length;
    document.getElementById("no-alerts").hidden = items.length > 0;
  }

  const handlers = {
    reset() { calls.clear(); alerts.clear(); },
    call(call) { calls.set(call.call_id, call); seenCalls.add(call.call_id); addQueueOption(call.queue); },
    call_ended(ended) { calls.delete(ended.call_id); },
    alert(alert) {
      if (!(alert.alert_id in alertSeenAt)) alertSeenAt[alert.alert_id] = Date.now();
      alerts.set(alert.alert_id, alert);
    },
    acknowledged(ack) { alerts.delete(ack.alert_id); },
  };

  function connect() {
    if (source) source.close();
    const query = new URLSearchParams();
    if (queueFilter.value) query.set("queue", queueFilter.value);
    if (severityFilter.value !== "info") query.set("severity", severityFilter.value);
    history.replaceState(null, "", "/floor" + (query.toString() ? "?" + query : ""));
    source = new EventSource("/events/floor?" + query);
    source.onopen = () => { banner(false); window.consoleFloor.open = true; };
    source.onerror = () => { banner(true); window.consoleFloor.open = false; };
    for (const [name, apply] of Object.entries(handlers)) {
      source.addEventListener(name, (event) => {
        apply(JSON.parse(event.data));
        renderCalls();
        renderAlerts();
      });
    }
  }

  if (params.get("queue")) {
    addQueueOption(params.get("queue"));
    queueFilter.value = params.get("queue");
  }
  if (params.get("severity")) severityFilter.value = params.get("severity");
  queueFilter.addEventListener("change", connect);
  severityFilter.addEventListener("change", connect);
  setInterval(() => {
    document.querySelectorAll("#calls tr").forEach((row) => {
      const call = calls.get(row.dataset.callId);
      if (call) row.querySelector(".duration").textContent = duration(elapsed(call));
    });
  }, 1000);
  window.consoleFloor = { calls, alerts, alertSeenAt, seenCalls, open: false, reconnect: connect };
  renderCalls();
  renderAlerts();
  connect();
})();
