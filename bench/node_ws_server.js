// Echo + chat server on the `ws` package: the Node.js peer of `python -m bench.peers`.
// Not installed into the repo: the harness copies this file into a temporary folder,
// runs `npm install ws@8 --no-audit --no-fund` there, then `node node_ws_server.js 0`.
// /echo sends every message back; /chat sends every message to every /chat client
// (the classic tutorial loop: one send per client).  Prints the port, one line, and
// exits when its stdin closes (the harness closes it) or on SIGTERM.  A stdin line
// "bcast TEXT" broadcasts TEXT to the /chat clients with that same loop (ws's own
// broadcast idiom) and prints process.hrtime.bigint() taken just before it
// (CLOCK_MONOTONIC, the clock of Python's perf_counter_ns on Linux).
'use strict';
const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.argv[2] || 0);
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });
const chat = new Set();

function broadcast(data, isBinary) {
  for (const c of chat) {
    if (c.readyState === WebSocket.OPEN) c.send(data, { binary: isBinary });
  }
}

wss.on('connection', (ws, req) => {
  const path = (req.url || '/').split('?')[0];
  if (path === '/chat') {
    chat.add(ws);
    ws.on('close', () => chat.delete(ws));
    ws.on('message', (data, isBinary) => broadcast(data, isBinary));
  } else {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  }
});
wss.on('listening', () => console.log(String(wss.address().port)));
let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  pending += chunk;
  let cut;
  while ((cut = pending.indexOf('\n')) >= 0) {
    const line = pending.slice(0, cut);
    pending = pending.slice(cut + 1);
    if (line.startsWith('bcast ')) {
      const t0 = process.hrtime.bigint();
      broadcast(line.slice(6), false);
      console.log(String(t0));
    }
  }
});
process.stdin.on('end', () => process.exit(0));
