"""A message handler importable by serve(process=True, handler="tests.handlers:shout")."""


def shout(conn, message):
    conn.send(message.upper())


def noisy(conn, message):
    """Writes 1 KiB to stderr per message (a handler that logs too much); "raise" raises."""
    import sys
    if message == "raise":
        raise RuntimeError("the handler failed on purpose")
    sys.stderr.write("x" * 1023 + "\n")
    conn.send(message.upper())


def logs_an_error(conn, message):
    """Logs an error (as a library in a handler might) and echoes the message."""
    import logging
    logging.getLogger("tests.handlers").error("the handler saw %s", message)
    conn.send(message)
