"""A message handler importable by serve(process=True, handler="tests.handlers:shout")."""


def shout(conn, message):
    conn.send(message.upper())
