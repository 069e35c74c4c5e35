"""Model solutions for 02_frames.ipynb (shown by ``ex02.solution(name)``)."""


def parse_header(data: bytes) -> dict:
    b0, b1 = data[0], data[1]
    length = b1 & 0x7F
    size = 2
    if length == 126:                      # 16-bit extended length, big-endian
        length = int.from_bytes(data[2:4], "big")
        size = 4
    elif length == 127:                    # 64-bit extended length, big-endian
        length = int.from_bytes(data[2:10], "big")
        size = 10
    masked = bool(b1 & 0x80)
    mask_key = data[size:size + 4] if masked else None
    if masked:
        size += 4
    return {"fin": bool(b0 & 0x80), "rsv1": bool(b0 & 0x40), "rsv2": bool(b0 & 0x20),
            "rsv3": bool(b0 & 0x10), "opcode": b0 & 0x0F, "masked": masked,
            "length": length, "mask_key": mask_key, "header_size": size}


def mask(data: bytes, key: bytes) -> bytes:
    # byte i is XORed with key[i % 4]; the same function unmasks (RFC 6455 5.3)
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))
