"""Layer 1: the sans-I/O WebSocket core (standard library only).

Frames, the opening handshake, close codes, message assembly and the
connection state table.  Nothing here opens a socket, starts a loop or reads a
clock, so every byte rule can be tested on its own.

Modules: :mod:`.frames` (RFC 6455 section 5), :mod:`.handshake` (section 4),
:mod:`.closecodes` (section 7.4), :mod:`.assembler` (sections 5.4, 5.6),
:mod:`.state` (sections 4 and 7), :mod:`.explain` (the picture of section 5.2)
and :mod:`.deflate` (RFC 7692), :mod:`.uri` (section 3: ws:// and wss:// URIs).
``frames.explain(data)`` explains a frame;
``wslab.protocol.explain`` stays the module.
"""

from . import assembler, closecodes, deflate, frames, handshake, state, uri
from . import explain as explain  # the module; the function is frames.explain
from .assembler import Message, MessageAssembler
from .closecodes import CloseCode, describe_close_code, is_valid_close_code_on_wire
from .deflate import PerMessageDeflate, parse_extension_offer
from .errors import HandshakeError, NeedMoreData, ProtocolError, WSLabError
from .explain import Explanation, Field
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
    "assembler",
    "build_error_response",
    "build_request",
    "build_response",
    "check_response",
    "closecodes",
    "decode_frame",
    "decode_header",
    "deflate",
    "describe_close_code",
    "encode_frame",
    "encode_header",
    "explain",
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
