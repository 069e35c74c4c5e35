// wslab BrowserClient: this file runs in YOUR browser, not in the kernel.
//
// It is an anywidget module (https://anywidget.dev): `initialize` runs once per widget and owns
// the browser's own WebSocket (the API every web page has: new WebSocket(url), onopen,
// onmessage, onerror, onclose, send, close); `render` draws a view of it in the notebook.
// Every event is reported to the kernel with model.send(), so a cell can read `bc.events`.
// Your own handler code (BrowserClient(onmessage="...")) runs here too, after the built-in one.

const NAMES = ["CONNECTING", "OPEN", "CLOSING", "CLOSED"];
// anywidget hands initialize() and render() different wrappers of one model: the socket's
// state is kept here, by the widget's instance id.
const STATE = new Map();
// The log a view shows keeps the newest LINES_MAX lines; older ones are counted, not kept,
// so a peer that sends 20,000 messages costs 500 list items, not 20,000.
const LINES_MAX = 500;

// An id for our own app pings that a peer cannot guess: 128 random bits, in hex.
function randomId() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)),
    (b) => b.toString(16).padStart(2, "0")).join("");
}

// new WebSocket() needs ws: or wss:.  wslab may hand us a path relative to the Jupyter
// server (/user/alice/proxy/41234/echo): resolve it against this page, then swap the scheme.
function resolveURL(url) {
  const u = new URL(url, location.href);
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  return u.href;
}

const UTF8 = new TextEncoder();

// What the learner reads comes from the kernel already in the learner's language (wslab's
// gettext catalogue, the widget's `texts`): the English text is the key, and is shown itself
// when no translation came.  Values fill the {name} placeholders.
function translated(model, text, values) {
  const texts = model.get("texts") || {};
  let out = Object.prototype.hasOwnProperty.call(texts, text) ? texts[text] : text;
  for (const [k, v] of Object.entries(values || {})) out = out.split("{" + k + "}").join(String(v));
  return out;
}

function describe(data) {
  if (typeof data === "string") return { kind: "text", size: UTF8.encode(data).length, data: data.slice(0, 2000) };
  const bytes = new Uint8Array(data);  // binaryType "arraybuffer"
  const hex = Array.from(bytes.slice(0, 32), (b) => b.toString(16).padStart(2, "0")).join(" ");
  return { kind: "binary", size: bytes.length, data: hex + (bytes.length > 32 ? " ..." : "") };
}

// A student's handler: the body of function (event, socket, show) { ... }.
function compile(code) {
  if (!code || !code.trim()) return null;
  return new Function("event", "socket", "show", code);  // eslint-disable-line no-new-func
}

function initialize({ model }) {
  const tr = (text, values) => translated(model, text, values);
  let socket = null;
  let t0 = performance.now();
  // our pending app pings, by random id (a Map: a peer's "constructor" is no key of it)
  const pendingPings = new Map();
  const lines = [];                 // the newest events (at least LINES_MAX), for the views
  const log = { lines, total: 0 };  // total: every event ever logged (dropped = total - kept)
  const listeners = new Set();      // views to redraw
  // Messages are handled one after another in arrival order, even when a Blob must be read.
  let inbox = Promise.resolve();

  // Views draw at most once a frame, however many events arrived since the last one.
  let drawQueued = false;
  const redraw = () => {
    if (drawQueued) return;
    drawQueued = true;
    requestAnimationFrame(() => { drawQueued = false; syncState(); listeners.forEach((fn) => fn()); });
  };
  function report(ev) {
    ev.t_ms = Math.round((performance.now() - t0) * 1000) / 1000;
    ev.readyState = socket ? socket.readyState : 3;
    ev.bufferedAmount = socket ? socket.bufferedAmount : 0;
    lines.push(ev);
    log.total++;
    if (lines.length >= 2 * LINES_MAX) lines.splice(0, lines.length - LINES_MAX);  // amortised
    model.send({ event: ev });
    // state changes reach the kernel at once (a hidden tab draws no frames); a message
    // flood syncs once a frame
    if (ev.type !== "message") syncState();
    redraw();
  }
  function syncState() {
    const s = socket ? socket.readyState : 3;
    const changes = {
      ready_state: s,
      buffered_amount: socket ? socket.bufferedAmount : 0,
      protocol: socket ? socket.protocol : "",
      extensions: socket ? socket.extensions : "",
      socket_url: socket ? socket.url : "",
      binary_type: socket ? socket.binaryType : model.get("binary_type"),
    };
    let dirty = false;
    for (const [k, v] of Object.entries(changes)) {
      if (model.get(k) !== v) { model.set(k, v); dirty = true; }
    }
    if (dirty) model.save_changes();
  }
  function runHandler(name, event) {
    let fn;
    try {
      fn = compile(model.get(name));
    } catch (err) {
      report({ type: "handler-error", handler: name, error: "SyntaxError: " + err.message });
      return;
    }
    if (!fn) return;
    const show = (x) => report({ type: "show", handler: name, text: typeof x === "string" ? x : JSON.stringify(x) });
    try {
      fn.call(socket, event, socket, show);
    } catch (err) {
      report({ type: "handler-error", handler: name, error: String(err) });
    }
  }

  function connect() {
    if (socket && socket.readyState < 2) socket.close(1000, "reconnecting");
    const url = model.get("url");
    if (!url) { report({ type: "error", detail: tr("no URL: give BrowserClient(url) or a server") }); return; }
    let target;
    try {
      target = resolveURL(url);
      const protocols = model.get("protocols");
      socket = protocols.length ? new WebSocket(target, protocols) : new WebSocket(target);
    } catch (err) {
      socket = null;
      report({ type: "error", detail: String(err) });  // a SyntaxError from new WebSocket()
      return;
    }
    t0 = performance.now();
    socket.binaryType = model.get("binary_type") || "blob";
    const mine = socket;
    report({ type: "connect", url: target, offered: model.get("protocols") });
    socket.onopen = (event) => {
      if (mine !== socket) return;
      report({ type: "open", url: mine.url, protocol: mine.protocol, extensions: mine.extensions });
      runHandler("onopen", event);
    };
    const onMessage = async (event) => {
      if (mine !== socket) return;
      let data = event.data;
      if (data instanceof Blob) data = await data.arrayBuffer();
      if (typeof data === "string" && data.startsWith('{"type": "pong"')) {
        let t = null;
        try { t = JSON.parse(data).t; } catch (err) { /* not our pong: an ordinary message */ }
        if (typeof t === "string" && pendingPings.has(t)) {
          report({ type: "app-pong", t: t, rtt_ms: performance.now() - pendingPings.get(t) });
          pendingPings.delete(t);
          return;
        }
      }
      report(Object.assign({ type: "message" }, describe(data)));
      runHandler("onmessage", event);
    };
    // Reading a Blob is asynchronous: a small one read later could overtake a big one read
    // first.  Chaining every message after the previous one keeps arrival order.
    socket.onmessage = (event) => {
      inbox = inbox.then(() => onMessage(event)).catch((err) => {
        report({ type: "error", detail: tr("reading a message failed: {error}", { error: String(err) }) });
      });
    };
    socket.onerror = (event) => {
      if (mine !== socket) return;
      // The browser hides why on purpose (no status code, no headers): see the close event.
      report({ type: "error", detail: tr("the browser reports an error; pages are never told why") });
      runHandler("onerror", event);
    };
    socket.onclose = (event) => {
      if (mine !== socket) return;
      report({ type: "close", code: event.code, reason: event.reason, wasClean: event.wasClean });
      runHandler("onclose", event);
    };
  }

  function send(text, buffers) {
    if (!socket || socket.readyState !== 1) {
      // The browser API would throw InvalidStateError while CONNECTING and silently drop
      // data after CLOSING; wslab says so instead of guessing.
      report({ type: "error", detail: tr("not OPEN: readyState is {state}", { state: NAMES[socket ? socket.readyState : 3] }) });
      return;
    }
    if (buffers && buffers.length) {
      const view = buffers[0];
      const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice();
      socket.send(bytes.buffer);
      report(Object.assign({ type: "send" }, describe(bytes.buffer)));
    } else {
      socket.send(text);
      report(Object.assign({ type: "send" }, describe(text)));
    }
  }

  function appPing() {
    if (!socket || socket.readyState !== 1) { report({ type: "error", detail: tr("not OPEN") }); return; }
    const t = randomId();
    if (pendingPings.size >= 100) pendingPings.delete(pendingPings.keys().next().value);
    pendingPings.set(t, performance.now());
    socket.send(JSON.stringify({ type: "ping", t: t }));
    report({ type: "app-ping", t: t });
  }

  function close(code, reason) {
    if (!socket) { report({ type: "error", detail: tr("no socket to close") }); return; }
    try {
      if (code === null || code === undefined) socket.close(); else socket.close(code, reason || "");
    } catch (err) {
      // close(1001) or close(1006) from a page: InvalidAccessError (only 1000 and 3000-4999).
      report({ type: "error", detail: String(err) });
      return;
    }
    report({ type: "closing", code: code, reason: reason || "" });
  }

  const onCustom = (msg, buffers) => {
    if (msg.cmd === "connect") connect();
    else if (msg.cmd === "send") send(msg.text, buffers);
    else if (msg.cmd === "close") close(msg.code, msg.reason);
    else if (msg.cmd === "app_ping") appPing();
  };
  model.on("msg:custom", onCustom);
  // What the browser's WebSocket object offers: note there is no ping().
  const api = Object.getOwnPropertyNames(WebSocket.prototype).filter((n) => n !== "constructor").sort();
  model.set("api", api);
  model.save_changes();
  const timer = setInterval(() => { if (socket && socket.readyState < 3) { syncState(); redraw(); } }, 250);

  const key = model.get("_instance");
  STATE.set(key, { connect, send, close, appPing, log, listeners, socket: () => socket });
  return () => {
    STATE.delete(key);
    clearInterval(timer);
    model.off("msg:custom", onCustom);
    if (socket && socket.readyState < 2) socket.close(1000, "widget closed");
  };
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, attrs || {});
  node.append(...children);
  return node;
}

function render({ model, el: root }) {
  const bc = STATE.get(model.get("_instance"));
  const tr = (text, values) => translated(model, text, values);
  const url = el("input", { type: "text", className: "wslab-bc-url", value: model.get("url"), ariaLabel: tr("WebSocket URL") });
  url.addEventListener("change", () => { model.set("url", url.value); model.save_changes(); });
  const connectBtn = el("button", { textContent: tr("Connect"), className: "wslab-bc-connect" });
  const closeBtn = el("button", { textContent: tr("Close"), className: "wslab-bc-close" });
  const message = el("input", { type: "text", placeholder: tr("message (Enter sends)"), ariaLabel: tr("message"), className: "wslab-bc-message" });
  const sendBtn = el("button", { textContent: tr("Send"), className: "wslab-bc-send" });
  const pingBtn = el("button", { textContent: tr("App ping"), title: tr("a JSON heartbeat: the browser API has no ping()"), className: "wslab-bc-ping" });
  const state = el("span", { className: "wslab-bc-state" });
  const facts = el("div", { className: "wslab-bc-facts" });
  const dropped = el("div", { className: "wslab-bc-dropped" });
  const list = el("ol", { className: "wslab-bc-log" });
  connectBtn.addEventListener("click", () => { model.set("url", url.value); model.save_changes(); bc.connect(); });
  closeBtn.addEventListener("click", () => bc.close(1000, "bye"));
  const sendNow = () => { bc.send(message.value); message.value = ""; };
  sendBtn.addEventListener("click", sendNow);
  message.addEventListener("keydown", (e) => { if (e.key === "Enter") sendNow(); });
  pingBtn.addEventListener("click", () => bc.appPing());

  let shown = 0;  // how many of bc.log.total this view has drawn
  function line(ev) {
    let text = ev.type;
    if (ev.type === "message" || ev.type === "send") text += " " + ev.kind + " (" + ev.size + " B): " + ev.data;
    else if (ev.type === "open") text += " protocol='" + ev.protocol + "' extensions='" + ev.extensions + "'";
    else if (ev.type === "close") text += " code " + ev.code + " reason '" + ev.reason + "' wasClean " + ev.wasClean;
    else if (ev.type === "connect") text += " " + ev.url;
    else if (ev.type === "app-pong") text += " " + tr("round trip {ms} ms", { ms: ev.rtt_ms.toFixed(2) });
    else if (ev.type === "show") text = tr("[your {handler}]", { handler: ev.handler }) + " " + ev.text;
    else if (ev.type === "handler-error") text = tr("[your {handler} threw]", { handler: ev.handler }) + " " + ev.error;
    else if (ev.detail) text += ": " + ev.detail;
    return el("li", { className: "wslab-bc-ev-" + ev.type, textContent: ev.t_ms.toFixed(1).padStart(9) + " ms  " + text });
  }
  function draw() {
    const s = bc.socket();
    const rs = s ? s.readyState : 3;
    state.textContent = "readyState " + rs + " " + NAMES[rs];
    state.dataset.state = String(rs);
    facts.textContent = "url " + (s ? s.url : "-") + " | binaryType " + (s ? s.binaryType : model.get("binary_type"))
      + " | bufferedAmount " + (s ? s.bufferedAmount : 0) + " | protocol '" + (s ? s.protocol : "")
      + "' | extensions '" + (s ? s.extensions : "") + "'";
    const { lines, total } = bc.log;
    if (total > shown) {
      const fresh = lines.slice(Math.max(0, lines.length - Math.min(total - shown, LINES_MAX)));
      const items = document.createDocumentFragment();
      items.append(...fresh.map(line));
      list.append(items);
      while (list.childElementCount > LINES_MAX) list.firstElementChild.remove();
      shown = total;
      const hidden = total - list.childElementCount;
      dropped.textContent = hidden ? tr("{n} earlier lines not shown", { n: hidden.toLocaleString("en-US") }) : "";
      list.scrollTop = list.scrollHeight;
    }
  }
  bc.listeners.add(draw);
  model.on("change:url", () => { url.value = model.get("url"); });
  root.classList.add("wslab-bc");
  root.append(
    el("div", { className: "wslab-bc-row" }, url, connectBtn, closeBtn),
    el("div", { className: "wslab-bc-row" }, message, sendBtn, pingBtn, state),
    facts, dropped, list);
  draw();
  return () => bc.listeners.delete(draw);
}

export default { initialize, render };
