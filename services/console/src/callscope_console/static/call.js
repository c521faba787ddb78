// Call view: live transcript (partials replaced by finals), sentiment line, alerts with their
// evidence highlighted; after the call, the summary and the recording.
"use strict";

(() => {
  const { t, el, duration, tags, postJson, banner } = Console;
  const callId = document.body.dataset.callId;
  const lines = new Map(); // "channel:utterance_no" -> segment view
  const sentiment = new Map(); // customer "utterance_no" -> {at, score}
  const alerts = new Map();
  const evidence = new Set(); // "channel:utterance_no" of utterances that raised an alert
  const finalsReceived = []; // every final event received, to check resumption has no repeats
  const postCall = new Set(); // channels whose post-call (version 2) transcript arrived
  let call = null;
  let lastEventId = "";
  let source = null;
  let ended = false;

  const key = (channel, no) => channel + ":" + no;

  function renderHead() {
    if (!call) return;
    document.getElementById("call-agent").textContent = call.agent || "–";
    document.getElementById("call-customer").textContent = call.customer || "–";
    document.getElementById("call-queue").textContent = t("queue") + " " + call.queue;
    document.getElementById("call-language").textContent = call.language || "–";
    const status = document.getElementById("call-status");
    status.textContent = call.live ? t("call_live") : t("call_ended");
    status.className = "status-badge " + (call.live ? "live" : "ended");
    tick();
  }

  function tick() {
    if (!call) return;
    const ms = call.live && call.started_at_ms ? Date.now() - call.started_at_ms : call.duration_ms;
    document.getElementById("call-duration").textContent = duration(ms || 0);
  }

  function renderTranscript() {
    const list = document.getElementById("transcript");
    const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 20;
    const ordered = [...lines.values()].sort((a, b) => a.start_ms - b.start_ms || (a.channel < b.channel ? -1 : 1));
    list.replaceChildren(
      ...ordered.map((line) => {
        const k = key(line.channel, line.utterance_no);
        return el("li", {
          class: ["line", line.channel, line.final ? "final" : "partial", evidence.has(k) ? "evidence" : ""].join(" ").trim(),
          "data-key": k, lang: line.language || null,
        },
          el("div", {}, el("div", { class: "who", text: t(line.channel) }), el("div", { class: "time", text: duration(line.start_ms) })),
          el("div", { class: "text", text: line.text }),
        );
      }),
    );
    document.getElementById("no-transcript").hidden = ordered.length > 0;
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function renderSentiment() {
    const points = [...sentiment.values()].sort((a, b) => a.at - b.at);
    const span = Math.max(call && call.duration_ms ? call.duration_ms : 0, ...points.map((p) => p.at), 1);
    const coords = points.map((p) => [(p.at / span) * 300, 50 - p.score * 45]);
    if (coords.length === 1) coords.push([coords[0][0] + 4, coords[0][1]]);
    document.getElementById("sentiment-line").setAttribute("points", coords.map((c) => c.map((v) => v.toFixed(1)).join(",")).join(" "));
  }

  function alertItem(alert) {
    const head = el("div", { class: "head" },
      el("span", { class: "severity " + alert.severity, text: t(alert.severity) }),
      el("b", { class: "rule", text: alert.rule }),
      el("span", { class: "muted", text: duration(alert.at_ms) }),
    );
    if (alert.acknowledged_by) {
      head.append(el("span", { class: "acked-by muted", text: t("acknowledged_by") + " " + alert.acknowledged_by }));
    } else {
      const ack = el("button", {
        type: "button", class: "ack", text: t("acknowledge"),
        onclick: async () => {
          ack.disabled = true;
          const reply = await postJson("/api/alerts/" + encodeURIComponent(alert.alert_id) + "/ack");
          if (!reply.ok) { ack.disabled = false; ack.title = reply.data.error || reply.status; }
        },
      });
      head.append(ack);
    }
    return el("li", { class: "alert " + alert.severity + (alert.acknowledged_by ? " acked" : ""), "data-alert-id": alert.alert_id },
      head,
      el("div", { class: "reason", text: alert.reason }),
      alert.evidence.map((e) => el("blockquote", { class: "evidence " + e.channel, text: t(e.channel) + ": “" + e.text + "”" })),
    );
  }

  function renderAlerts() {
    const items = [...alerts.values()].sort((a, b) => a.at_ms - b.at_ms);
    document.getElementById("alerts").replaceChildren(...items.map(alertItem));
    document.getElementById("no-alerts").hidden = items.length > 0;
  }

  function renderSummary(summary) {
    const rows = [];
    const add = (label, value) => rows.push(el("dt", { text: t(label) }), el("dd", {}, value));
    if (summary.sentiment) add("sentiment", Console.sentimentBadge(summary.sentiment));
    add("category", tags(summary.categories));
    add("talk_agent", duration(summary.agent_talk_ms));
    add("talk_customer", duration(summary.customer_talk_ms));
    add("silence", duration(summary.silence_ms));
    if (summary.qa_score !== null && summary.qa_score !== undefined) add("qa_score", String(Math.round(summary.qa_score)));
    document.getElementById("summary").replaceChildren(...rows);
  }

  async function afterCall() {
    document.getElementById("after-call").hidden = false;
    const response = await fetch("/api/calls/" + encodeURIComponent(callId) + "/analysis", { credentials: "same-origin" });
    if (!response.ok) return;
    const data = await response.json();
    if (data.call) { call = { ...call, ...data.call }; renderHead(); }
    if (data.summary) renderSummary(data.summary);
    for (const segment of data.transcript || []) handlers.transcript(segment);
    for (const alert of data.alerts || []) handlers.alert(alert);
    for (const alertId of data.acknowledged_alert_ids || []) {
      const alert = alerts.get(alertId);
      if (alert && !alert.acknowledged_by) alert.acknowledged_by = "✓";
    }
    renderTranscript(); renderAlerts();
  }

  document.getElementById("play").addEventListener("click", async () => {
    const error = document.getElementById("recording-error");
    const audio = document.getElementById("audio");
    const reply = await postJson("/api/calls/" + encodeURIComponent(callId) + "/recording");
    if (!reply.ok) {
      error.hidden = false;
      error.textContent = t("recording_refused") + " (" + reply.status + "): " + (reply.data.error || "");
      audio.hidden = true;
      return;
    }
    error.hidden = true;
    audio.src = reply.data.url;
    audio.hidden = false;
    audio.play().catch(() => {});
  });

  const handlers = {
    reset() {
      lines.clear(); sentiment.clear(); alerts.clear(); evidence.clear(); postCall.clear();
    },
    call(overview) {
      call = { ...(call || {}), ...overview };
      if (!call.live && !ended) { ended = true; afterCall(); }
    },
    transcript(segment) {
      const k = key(segment.channel, segment.utterance_no);
      if (segment.final && segment.version >= 2 && !postCall.has(segment.channel)) {
        // The post-call transcript of a channel is cut anew: it replaces the live lines whole.
        postCall.add(segment.channel);
        for (const [other, line] of lines) {
          if (line.channel === segment.channel && line.version < 2) lines.delete(other);
        }
      }
      if (postCall.has(segment.channel) && segment.version < 2) return;
      const known = lines.get(k);
      // A final replaces the partials; a later version (post-call) replaces the live final.
      if (known && known.final && (!segment.final || segment.version < known.version)) return;
      lines.set(k, segment);
    },
    analysis(analysis) {
      if (analysis.channel === "customer" && analysis.sentiment && analysis.sentiment.score !== null) {
        sentiment.set(analysis.utterance_no, { at: analysis.start_ms, score: analysis.sentiment.score });
      }
    },
    alert(alert) {
      alerts.set(alert.alert_id, { ...(alerts.get(alert.alert_id) || {}), ...alert });
      for (const e of alert.evidence) evidence.add(key(e.channel, e.utterance_no));
    },
    acknowledged(ack) {
      const alert = alerts.get(ack.alert_id);
      if (alert) alert.acknowledged_by = ack.by || "✓";
    },
    summary(summary) {
      renderSummary(summary);
      document.getElementById("after-call").hidden = false;
    },
  };

  function connect() {
    if (source) source.close();
    const query = lastEventId ? "?last_event_id=" + encodeURIComponent(lastEventId) : "";
    source = new EventSource("/events/calls/" + encodeURIComponent(callId) + query);
    source.onopen = () => banner(false);
    source.onerror = () => { if (!ended || source.readyState !== EventSource.CLOSED) banner(true); };
    for (const [name, apply] of Object.entries(handlers)) {
      source.addEventListener(name, (event) => {
        if (event.lastEventId) lastEventId = event.lastEventId;
        const data = JSON.parse(event.data);
        if (name === "transcript" && data.final) {
          finalsReceived.push(key(data.channel, data.utterance_no) + ":" + data.version);
        }
        apply(data);
        renderHead(); renderTranscript(); renderSentiment(); renderAlerts();
      });
    }
    source.addEventListener("end", () => {
      source.close();
      banner(false);
      if (call) { call.live = false; renderHead(); }
      if (!ended) { ended = true; afterCall(); }
    });
    source.addEventListener("failed", (event) => {
      source.close();
      const data = JSON.parse(event.data);
      const error = document.getElementById("call-error");
      error.hidden = false;
      error.textContent = data.status + ": " + data.message;
    });
  }

  // Alerts and acknowledgements of this call also come from the floor stream, so they show
  // even after the call's own stream has ended (e.g. an alert raised on a late final).
  const floorSource = new EventSource("/events/floor");
  floorSource.addEventListener("alert", (event) => {
    const alert = JSON.parse(event.data);
    if (alert.call_id !== callId) return;
    handlers.alert(alert);
    renderTranscript(); renderAlerts();
  });
  floorSource.addEventListener("acknowledged", (event) => {
    const ack = JSON.parse(event.data);
    if (ack.call_id !== callId) return;
    handlers.acknowledged(ack);
    renderAlerts();
  });

  setInterval(tick, 1000);
  // For the browser tests: drop the live stream and resume it from the last event received.
  window.consoleCall = {
    lines, alerts, finalsReceived,
    get lastEventId() { return lastEventId; },
    dropAndResume() { source.close(); connect(); },
  };
  connect();
})();
