// Search of past calls: words (transcriber full-text search) and call metadata.
"use strict";

(() => {
  const { t, el, duration, sentimentBadge, tags, marked, fillQueues } = Console;
  const form = document.getElementById("search-form");
  fillQueues(document.getElementById("queue-filter"));

  async function run() {
    const query = new URLSearchParams();
    for (const [name, value] of new FormData(form)) if (value) query.set(name, value);
    history.replaceState(null, "", "/search?" + query);
    const error = document.getElementById("search-error");
    const response = await fetch("/api/search?" + query, { credentials: "same-origin" });
    const data = await response.json().catch(() => ({}));
    error.hidden = response.ok;
    error.textContent = response.ok ? "" : data.error || String(response.status);
    const found = response.ok ? data.calls : [];
    document.getElementById("results").replaceChildren(
      ...found.map((call) =>
        el("tr", { class: "result", "data-call-id": call.call_id },
          el("td", {}, el("a", { href: "/calls/" + encodeURIComponent(call.call_id),
            text: call.started_at_ms ? new Date(call.started_at_ms).toLocaleString() : call.call_id })),
          el("td", { text: call.agent || "–" }),
          el("td", { class: "mono", text: call.customer || "–" }),
          el("td", { text: call.queue }),
          el("td", { class: "duration", text: duration(call.duration_ms) }),
          el("td", { text: call.language || "–" }),
          el("td", {}, sentimentBadge(call.sentiment)),
          el("td", {}, tags(call.categories)),
          el("td", {}, (call.snippets || []).map((s) => el("div", { class: "snippet" }, marked(s)))),
        ),
      ),
    );
    document.getElementById("result-count").textContent = response.ok ? found.length : "";
    document.getElementById("no-results").hidden = !response.ok || found.length > 0;
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); run(); });
  const initial = new URLSearchParams(location.search);
  for (const [name, value] of initial) if (form.elements[name]) form.elements[name].value = value;
  if ([...initial.keys()].length) run();
})();
