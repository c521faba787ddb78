// Shared helpers of the console's pages: texts, formatting, JSON calls, the header.
"use strict";

const Console = (() => {
  const texts = JSON.parse(document.getElementById("texts").textContent);
  const t = (key) => texts[key] || key;

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function duration(ms) {
    const total = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    const mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
  }

  function sentimentBadge(sentiment) {
    if (!sentiment || !sentiment.label) return el("span", { class: "muted", text: "–" });
    const score = sentiment.score === null ? "" : " " + sentiment.score.toFixed(2);
    return el("span", { class: "sentiment-badge " + sentiment.label, text: t(sentiment.label) + score });
  }

  function tags(values) {
    return (values || []).map((v) => el("span", { class: "tag", text: v }));
  }

  async function postJson(url, body = {}) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    const data = await response.json().catch(() => ({}));
    return { ok: response.ok, status: response.status, data };
  }

  // Text with the search engine's [matches] shown as <mark>, built without innerHTML.
  function marked(snippet) {
    const parts = [];
    const re = /\[([^\]]*)\]/g;
    let last = 0, m;
    while ((m = re.exec(snippet)) !== null) {
      parts.push(snippet.slice(last, m.index), el("mark", { text: m[1] }));
      last = m.index + m[0].length;
    }
    parts.push(snippet.slice(last));
    return parts;
  }

  function fillQueues(select) {
    const queues = (document.body.dataset.queues || "").split(",").filter(Boolean);
    for (const queue of queues) select.append(el("option", { value: queue, text: queue }));
    if (document.body.dataset.role === "admin") {
      select.dataset.admin = "1";
    }
  }

  function banner(show) {
    const node = document.getElementById("banner");
    if (node) node.hidden = !show;
  }

  // Header: current page, language links that come back here.
  const page = document.body.dataset.page;
  document.querySelectorAll("[data-nav]").forEach((a) => {
    if (a.dataset.nav === page) a.classList.add("current");
  });
  document.querySelectorAll("a.lang").forEach((a) => {
    a.href = "/lang/" + a.dataset.lang + "?next=" + encodeURIComponent(location.pathname + location.search);
    if (a.dataset.lang === document.documentElement.lang) a.classList.add("current");
  });

  return { t, el, duration, sentimentBadge, tags, postJson, marked, fillQueues, banner };
})();
