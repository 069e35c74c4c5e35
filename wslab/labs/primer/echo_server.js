// wslab's echo twin of the primer's server.js (not the primer's code): the same `ws`
// package, sending every message back as it came (text as text, binary as binary), so the
// conformance run's echo cases apply.  Unlike server.js it listens on 127.0.0.1 only, prints
// its port, and handles each socket's 'error' event: without a listener, ws 8 re-throws a
// protocol error and the whole process exits (measured in notebook 02a).
'use strict';
const { WebSocketServer } = require('ws');

const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(process.argv[2] || 0) });
wss.on('connection', (ws) => {
  ws.on('error', () => {});  // ws closes the connection with the right code by itself
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => console.log(String(wss.address().port)));
