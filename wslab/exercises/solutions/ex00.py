"""Model solutions for 00_welcome.ipynb (shown by ``ex00.solution(name)``)."""


def header_bytes(payload_size: int, from_client: bool) -> int:
    # 2 fixed bytes: FIN, RSV1-3, opcode | MASK, 7-bit payload length (RFC 6455 5.2)
    size = 2
    if 126 <= payload_size <= 65535:
        size += 2          # the 7-bit field says 126, the next 16 bits hold the length
    elif payload_size > 65535:
        size += 8          # the 7-bit field says 127, the next 64 bits hold the length
    if from_client:
        size += 4          # every client frame carries a 4-byte masking key (5.3)
    return size

