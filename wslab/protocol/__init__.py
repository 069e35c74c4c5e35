"""Layer 1: the sans-I/O WebSocket core (standard library only).

Frames, the opening handshake, close codes, message assembly and the
connection state table.  Nothing here opens a socket, starts a loop or reads a
clock, so every byte rule can be tested on its own.

Modules: :mod:`.frames` (RFC 6455 section 5), :mod:`.handshake` (section 4),
:mod:`.closecodes` (section 7.4), :mod:`.assembler` (sections 5.4, 5.6),
:mod:`.state` (sections 4 and 7), :mod:`.explainer` (the picture of section 5.2),
:mod:`.deflate` (RFC 7692), :mod:`.uri` (section 3: ws:// and wss:// URIs) and
:mod:`.app_ping` (the JSON heartbeat browsers use instead of ping frames).
``explain(data)`` (``from wslab.protocol import explain``) explains a frame.
"""

from . import app_ping, assembler, closecodes, deflate, explainer, frames, handshake, state, uri
from .assembler import Message, MessageAssembler
from .closecodes import (
    CloseCode,
    check_close_args,
    describe_close_code,
    is_valid_close_code_on_wire,
)
from .deflate import PerMessageDeflate, parse_extension_offer
from .errors import HandshakeError, NeedMoreData, ProtocolError, WSLabError
from .explainer import Explanation, Field, explain
from .frames import (
    Frame,
    FrameHeader,
    FrameParser,
    Opcode,
    decode_frame,
    decode_header,
    encode_frame,
    encode_header,
    mask,
    parse_close_payload,
)
from .handshake import (
    Headers,
    Request,
    Response,
    accept_key,
    build_error_response,
    build_request,
    build_response,
    check_response,
    make_key,
    parse_request,
    split_head,
)
from .state import TRANSITIONS, ConnectionStateMachine, State, Transition, next_state
from .uri import WsUri, parse_ws_uri

__all__ = [
    "TRANSITIONS",
    "CloseCode",
    "ConnectionStateMachine",
    "Explanation",
    "Field",
    "Frame",
    "FrameHeader",
    "FrameParser",
    "HandshakeError",
    "Headers",
    "Message",
    "MessageAssembler",
    "NeedMoreData",
    "Opcode",
    "PerMessageDeflate",
    "ProtocolError",
    "Request",
    "Response",
    "State",
    "Transition",
    "WSLabError",
    "WsUri",
    "accept_key",
    "app_ping",
    "assembler",
    "build_error_response",
    "build_request",
    "build_response",
    "check_close_args",
    "check_response",
    "closecodes",
    "decode_frame",
    "decode_header",
    "deflate",
    "describe_close_code",
    "encode_frame",
    "encode_header",
    "explain",
    "explainer",
    "frames",
    "handshake",
    "is_valid_close_code_on_wire",
    "make_key",
    "mask",
    "next_state",
    "parse_close_payload",
    "parse_extension_offer",
    "parse_request",
    "parse_ws_uri",
    "split_head",
    "state",
    "uri",
]
