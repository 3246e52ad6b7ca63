//! The demo page.

/// The page served at `/`: it opens an `EventSource` on `/events` and shows every
/// event as it arrives, with a form that publishes, and a form that streams a
/// generated reply from `POST /generate` (read with `fetch`, word by word): a
/// resumable one, which the page resumes after a broken connection or a reload
/// (kept in `localStorage`), with a Stop button.
///
/// Its own query is passed on to `/events` (`topic=`, `client=`), and more
/// parameters steer it: `events=a,b` listens for those event types too (besides
/// `message`, `shutdown` and `resync`); `report=TOPIC` publishes every event it
/// receives, as JSON, to that topic (how the browser test hears what the browser
/// got); `generate=N` also opens an `EventSource` on `GET /generate?words=N` and
/// shows (and reports) its events, reconnecting with the last checkpoint as its
/// `Last-Event-ID` when the reply ends; `reply=N` (with `reply_rate=R`) streams a
/// resumable N-word reply on the first load, and `reload_after=K` reloads the page
/// once after K of its words: the reply is reported (`{"type": "reply", "data":
/// {"text", "reason"}}`) once, when it ends.
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
  <span></span><span><button>Stream a reply</button> <button id="stop" type="button" disabled>Stop</button></span>
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

// A resumable reply, read with fetch: POST can carry a body, EventSource cannot.
// The response names where to resume it (`Resume-Location`); the page keeps that,
// the last event id and the text so far in localStorage, so that after a broken
// connection, or a reload, it resumes with GET and `Last-Event-ID`: the reply goes
// on where it was, and is never asked for (and paid for) twice.
const out = document.getElementById("reply");
const stop = document.getElementById("stop");
const saved = () => JSON.parse(localStorage.getItem("reply") || "null");
const save = (reply) => localStorage.setItem("reply", JSON.stringify(reply));

// Reads an SSE body frame by frame: `event:`, `data:` and `id:` lines are all a
// reply needs.
async function* frames(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const lines = buffer.slice(0, end).split("\n");
      buffer = buffer.slice(end + 2);
      const field = (name) => lines.filter((l) => l.startsWith(name + ": ")).map((l) => l.slice(name.length + 2));
      const data = field("data");
      if (data.length) yield { type: field("event")[0] || "message", data: data.join("\n"), id: field("id")[0] };
    }
  }
}

// Follows the reply in `reply` ({location, lastEventId, text}) from `response`
// until its `end` event; returns whether it got there.
async function follow(reply, response) {
  stop.disabled = false;
  for await (const frame of frames(response)) {
    if (frame.id !== undefined) reply.lastEventId = frame.id;
    if (frame.type === "message") reply.text += frame.data;
    if (frame.type === "end") {
      finish(reply, frame.data);
      return true;
    }
    save(reply);
    out.textContent = reply.text;
  }
  return false;
}

// The end, shown (and reported) once: the stored reply is gone after it.
function finish(reply, reason) {
  localStorage.removeItem("reply");
  stop.disabled = true;
  out.textContent = reply.text + ` [${reason}]`;
  if (report) show({ type: "reply", data: JSON.stringify({ text: reply.text, reason }), lastEventId: "" });
}

// Resumes `reply` until it ends: after a broken connection, after a second.
async function resume(reply) {
  for (;;) {
    let response;
    try {
      response = await fetch(reply.location, { headers: reply.lastEventId ? { "last-event-id": reply.lastEventId } : {} });
    } catch {
      await new Promise((done) => setTimeout(done, 1000));
      continue;
    }
    if (response.status === 204) {
      // Gone (cancelled, or expired while away): what was read stays.
      finish(reply, "gone");
      return;
    }
    try {
      if (await follow(reply, response)) return;
    } catch {}
    await new Promise((done) => setTimeout(done, 1000));
  }
}

async function generateReply(body) {
  out.textContent = "";
  const response = await fetch("/generate", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    out.textContent = `${response.status}: ${await response.text()}`;
    return;
  }
  const reply = { location: response.headers.get("resume-location"), lastEventId: "", text: "" };
  save(reply);
  try {
    if (await follow(reply, response)) return;
  } catch {}
  await resume(reply);
}

document.getElementById("generate").addEventListener("submit", (submit) => {
  submit.preventDefault();
  const form = new FormData(submit.target);
  generateReply({
    prompt: form.get("prompt"),
    words: Number(form.get("words")),
    rate: Number(form.get("rate")),
  });
});

stop.addEventListener("click", () => {
  const reply = saved();
  if (reply) fetch(reply.location + "/cancel", { method: "POST" });
});

// Tests steer the page: `reply=N` streams an N-word reply on the first load (at
// `reply_rate` words/s), `reload_after=K` reloads the page once, mid-reply, after
// K words.
const reloadAfter = Number(params.get("reload_after") || 0);
if (reloadAfter && !sessionStorage.getItem("reloaded")) {
  const check = setInterval(() => {
    const reply = saved();
    if (reply && reply.text.split(" ").length > reloadAfter) {
      clearInterval(check);
      sessionStorage.setItem("reloaded", "yes");
      location.reload();
    }
  }, 10);
}
if (saved()) {
  out.textContent = saved().text;
  resume(saved());
} else if (params.get("reply") && !sessionStorage.getItem("replied")) {
  sessionStorage.setItem("replied", "yes");
  generateReply({ words: Number(params.get("reply")), rate: Number(params.get("reply_rate") || 200) });
}

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
