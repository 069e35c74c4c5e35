"""Model solutions for 04_closing.ipynb (shown by ``ex04.solution(name)``)."""


def close_code(situation: str) -> int:
    return {
        "chat over": 1000,          # normal closure: the purpose is fulfilled (7.4.1)
        "tab closing": 1001,        # going away: a browser leaving the page (7.4.1)
        "server restart": 1012,     # service restart (IANA registry); 1001 is right too
        "not utf-8": 1007,          # a text message whose payload is not UTF-8 (8.1)
        "too big": 1009,            # message too big to process (7.4.1)
        "rate limit": 1008,         # policy violation: a generic code for policy (7.4.1)
        "handler bug": 1011,        # internal error: the server hit a condition it could not handle
        "logged in elsewhere": 4001,  # 4000-4999: private use, your application's meaning (7.4.2)
    }[situation]

