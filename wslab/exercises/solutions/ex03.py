"""Model solutions for 03_echo_server_and_client.ipynb (shown by ``ex03.solution(name)``)."""


def shout(conn, message):
    conn.send(message.upper())


names = {}  # connection id -> nickname


def chat(conn, message):
    me = names.get(conn.id, f"guest{conn.id}")
    if message.startswith("/nick "):
        new = message[len("/nick "):].strip()
        if not new:
            conn.send("* usage: /nick NAME")
            return
        names[conn.id] = new
        conn.server.broadcast(f"* {me} is now {new}", path="/chat")
    elif message == "/who":
        online = [names.get(c.id, f"guest{c.id}") for c in conn.server.clients
                  if c.path == "/chat"]
        conn.send("* online: " + ", ".join(sorted(online)))
    else:
        conn.server.broadcast(f"{me}: {message}", path="/chat")

