"""Model solutions for 04a_reading_the_wire.ipynb (shown by ``ex04a.solution(name)``).

The first three read the answer from the trace the way the table shows it; in the
notebook you read the same packets with your eyes.
"""


def segments(trace):
    # the client's message frame on connection 1, and the client packets carrying its bytes
    frame = next(f for f in trace.frames(1, "client") if f.frame.opcode in (1, 2))
    return len(trace.segments(1, "client", frame.start, frame.end))


def closing(trace):
    answers = {}
    for n, scenario in ((1, "client starts"), (2, "server starts")):
        conn = trace.conn(n)
        fin = next(p for p in conn.packets if p.flag_names.startswith("FIN"))
        closer = conn.side(fin)          # who sent the first FIN
        # who waited: the kernel's socket table (trace.sockets()); where it could not be
        # read, the end that closed first (RFC 9293 3.6)
        held = trace.time_wait.get(n) or [closer]
        answers[scenario] = {"first FIN": closer,
                             "TIME_WAIT": "both" if len(held) == 2 else held[0]}
    return answers


def reset(trace):
    conn = trace.conn(1)                 # client <-> proxy
    rst = next(p for p in conn.packets if "RST" in p.flag_names)
    closes = [f for side in ("client", "server") for f in trace.frames(1, side)
              if f.frame.opcode == 8]
    return {"flag": "RST", "sent by port": rst.src[1], "close frame": bool(closes)}


def unmask_first(payloads):
    data = b"".join(payloads)                     # one byte stream: a frame may span segments
    pos = data.index(b"\r\n\r\n") + 4             # the frames begin after the HTTP head
    length = data[pos + 1] & 0x7F                 # byte 1: MASK bit, then the 7-bit length
    pos += 2
    if length == 126:                             # 16-bit extended length (RFC 6455 5.2)
        length = int.from_bytes(data[pos:pos + 2], "big")
        pos += 2
    elif length == 127:                           # 64-bit extended length
        length = int.from_bytes(data[pos:pos + 8], "big")
        pos += 8
    key = data[pos:pos + 4]                       # the masking key comes last in the header
    pos += 4
    masked = data[pos:pos + length]
    return bytes(b ^ key[i % 4] for i, b in enumerate(masked))   # RFC 6455 5.3
