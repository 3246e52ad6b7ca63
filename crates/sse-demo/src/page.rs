//! The demo page.

/// The page served at `/`: it opens an `EventSource` on `/events` and shows every
/// event as it arrives, with a form that publishes, and a form that streams a
/// generated reply from `POST /generate` (read with `fetch`, word by word).
///
/// Its own query is passed on to `/events` (`topic=`, `client=`), and more
/// parameters steer it: `events=a,b` listens for those event types too (besides
/// `message`, `shutdown` and `resync`); `report=TOPIC` publishes every event it
/// receives, as JSON, to that topic (how the browser test hears what the browser
/// got); `generate=N` also opens an `EventSource` on `GET /generate?words=N` and
/// shows (and reports) its events, reconnecting with the last checkpoint as its
/// `Last-Event-ID` when the reply ends.
pub const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>SSE demo</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 48rem; padding: 0 1rem; }
  form { display: grid; grid-template-columns: 7rem 1fr; gap: .4rem; margin: 1rem 0; }
  textarea { height: 4rem; }
  #state { font-weight: bold; }
  #log { list-style: none; padding: 0; }
  #log li { border-bottom: 1px solid #ddd; padding: .3rem 0; white-space: pre-wrap; }
  .meta { color: #666; font-size: 85%; }
</style>
</head>
<body>
<h1>Server-Sent Events</h1>
<p>Stream: <code id="url"></code> &mdash; <span id="state">connecting</span>
  &mdash; your client id: <code id="me">(not yet known)</code></p>
<form id="publish">
  <label for="data">data</label><textarea id="data" name="data">Hello!</textarea>
  <label for="event">event type</label><input id="event" name="event" placeholder="message">
  <label for="id">id</label><input id="id" name="id" placeholder="automatic">
  <label for="topic">topic</label><input id="topic" name="topic" placeholder="everyone">
  <label for="client">client</label><input id="client" name="client" placeholder="everyone">
  <span></span><button>Publish</button>
</form>
<p id="result" class="meta"></p>
<form id="generate">
  <label for="prompt">prompt</label><input id="prompt" name="prompt" value="Tell me about SSE">
  <label for="words">words</label><input id="words" name="words" type="number" value="40" min="0">
  <label for="rate">words/s</label><input id="rate" name="rate" type="number" value="20" min="0">
  <span></span><button>Stream a reply</button>
</form>
<p id="reply"></p>
<p class="meta">Live, from <a href="/stats">/stats</a> every second (also as
  <a href="/metrics">Prometheus text</a>):
  <span id="figures"></span></p>
<canvas id="chart" width="720" height="120" style="width: 100%; border: 1px solid #ddd"></canvas>
<ol id="log"></ol>
<script>
"use strict";
const params = new URLSearchParams(location.search);
const report = params.get("report");
const stream = new URLSearchParams();
for (const name of ["topic", "client"]) {
  for (const value of params.getAll(name)) stream.append(name, value);
}
const url = "/events" + (stream.toString() ? "?" + stream : "");
document.getElementById("url").textContent = url;
const state = document.getElementById("state");
const log = document.getElementById("log");
const source = new EventSource(url);
const listening = new Set();
let reports = Promise.resolve();

function show(event) {
  const item = document.createElement("li");
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = `${event.type}${event.lastEventId ? " #" + event.lastEventId : ""}`;
  item.append(meta, document.createTextNode(event.data));
  log.prepend(item);
  if (report) {
    // One report at a time, so they reach the server in the order events arrived.
    const seen = { type: event.type, data: event.data, lastEventId: event.lastEventId };
    reports = reports.then(() => fetch("/publish", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic: report, data: JSON.stringify(seen) }),
    })).catch(() => {});
  }
}

function listen(type) {
  if (type && !listening.has(type)) {
    listening.add(type);
    source.addEventListener(type, show);
  }
}

for (const type of ["message", "shutdown", "resync", ...(params.get("events") || "").split(",")]) {
  listen(type);
}
// The server issues this page's client id and tells it first on every connection:
// publish to it with the form's "client" field.
source.addEventListener("client-id", (event) => {
  document.getElementById("me").textContent = event.data;
  document.getElementById("client").placeholder = `everyone (you are ${event.data})`;
});
source.onopen = () => { state.textContent = "open"; };
source.onerror = () => {
  state.textContent = source.readyState === EventSource.CLOSED ? "closed" : "reconnecting";
};

const generate = params.get("generate");
if (generate) {
  const reply = new EventSource("/generate?rate=0&words=" + encodeURIComponent(generate));
  for (const type of ["message", "resumed", "done"]) reply.addEventListener(type, show);
}

// A per-request stream read with fetch: POST can carry a body, EventSource cannot.
// The SSE parser here is the least a reply needs: `event:` and `data:` lines.
document.getElementById("generate").addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const form = new FormData(submit.target);
  const out = document.getElementById("reply");
  out.textContent = "";
  const response = await fetch("/generate", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      prompt: form.get("prompt"),
      words: Number(form.get("words")),
      rate: Number(form.get("rate")),
    }),
  });
  if (!response.ok) {
    out.textContent = `${response.status}: ${await response.text()}`;
    return;
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end).split("\n");
      buffer = buffer.slice(end + 2);
      const type = (frame.find((l) => l.startsWith("event: ")) || "event: message").slice(7);
      const data = frame.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (!frame.some((l) => l.startsWith("data: "))) continue;
      if (type === "message") out.textContent += data;
      else out.textContent += ` [${type}: ${data}]`;
    }
  }
});

// The live figures: clients, events/s and drops, the last 60 seconds.
const series = { clients: [], "events/s": [], drops: [] };
const colors = { clients: "steelblue", "events/s": "seagreen", drops: "firebrick" };
let previous = null;
async function sample() {
  let stats;
  try { stats = await (await fetch("/stats")).json(); } catch { return; }
  const drops = stats.dropped + stats.lag_disconnects;
  const now = { clients: stats.active, "events/s": previous ? stats.published - previous.published : 0, drops: previous ? drops - previous.drops : 0 };
  previous = { published: stats.published, drops };
  for (const name in series) {
    series[name].push(now[name]);
    if (series[name].length > 60) series[name].shift();
  }
  document.getElementById("figures").textContent =
    Object.entries(now).map(([name, value]) => `${name}: ${value}`).join(" \u00b7 ");
  const canvas = document.getElementById("chart");
  const chart = canvas.getContext("2d");
  chart.clearRect(0, 0, canvas.width, canvas.height);
  for (const name in series) {
    const values = series[name];
    const top = Math.max(1, ...values);
    chart.strokeStyle = colors[name];
    chart.beginPath();
    values.forEach((value, i) => {
      const x = (i / 59) * canvas.width;
      const y = canvas.height - 2 - (value / top) * (canvas.height - 4);
      i ? chart.lineTo(x, y) : chart.moveTo(x, y);
    });
    chart.stroke();
  }
}
sample();
setInterval(sample, 1000);

document.getElementById("publish").addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const form = new FormData(submit.target);
  const body = {};
  for (const [name, value] of form) if (value !== "") body[name] = value;
  if (!("data" in body)) body.data = "";
  listen(body.event);
  const response = await fetch("/publish", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  document.getElementById("result").textContent =
    `${response.status}: ${await response.text()}`;
});
</script>
</body>
</html>
"#;
