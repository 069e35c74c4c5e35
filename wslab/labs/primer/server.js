const WebSocket = require('ws');

// 创建WebSocket服务器并监听指定端口
const wss = new WebSocket.Server({ port: 8080 });

// 监听连接事件
wss.on('connection', (ws) => {
  console.log('新的WebSocket连接建立');

  // 监听消息接收事件
  ws.on('message', (message) => {
    console.log('收到消息:', message);

    // 回复消息给客户端
    ws.send('服务器收到消息:' + message);
  });

  // 监听连接关闭事件
  ws.on('close', () => {
    console.log('WebSocket连接关闭');
  });
});
