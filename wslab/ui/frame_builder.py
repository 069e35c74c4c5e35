"""FrameBuilder: build a frame bit by bit, or decode hex, with a live bit diagram (layer 3).

Python twins: ``fb.set(fin=False, opcode=0x1, payload="Hel")``, ``fb.data``
(the bytes), ``fb.decode("81 05 48 65 6c 6c 6f")``.  Invalid frames are allowed
on purpose: the diagram points at the first wrong bit.
"""

from __future__ import annotations

import os

import ipywidgets as W

from ..i18n import _
from ..protocol import explain
from ..protocol import frames as fr
from . import _html

OPCODES = [(f"0x{v:X} {fr.Opcode(v).name}" if v in fr.Opcode._value2member_map_
            else f"0x{v:X} reserved", v) for v in range(16)]


def _compact(html: str) -> str:
    """HTML in a widget inherits the widgets' 28 px line height: set an ordinary one."""
    return f"<div style='line-height:1.4'>{html}</div>"


class FrameBuilder(W.VBox):
    """Toggles for FIN, RSV1-3, opcode, mask and payload -> bytes and bit diagram, live."""

    def __init__(self, *, payload: str = "Hello", masked: bool = True, **kwargs: object) -> None:
        self.fin = W.Checkbox(value=True, description="FIN", indent=False,
                              layout=W.Layout(width="5em"))
        self.rsv = [W.Checkbox(value=False, description=f"RSV{i}", indent=False,
                               layout=W.Layout(width="5.5em")) for i in (1, 2, 3)]
        self.opcode = W.Dropdown(options=OPCODES, value=1, description="opcode",
                                 layout=W.Layout(width="16em"), style={"description_width": "4em"})
        self.mask = W.Checkbox(value=masked, description="MASK (client → server)", indent=False,
                               layout=W.Layout(width="13em"))
        self.mask_key = W.Text(value="37fa213d", description=_("key (hex)"),
                               layout=W.Layout(width="14em"), style={"description_width": "5em"})
        self.new_key = W.Button(description=_("random key"), layout=W.Layout(width="auto"))
        # The payload and hex boxes take the row's free width (at most 34em), the controls
        # beside them keep theirs: nothing is pushed out of a narrow output.
        self.payload = W.Textarea(value=payload, description=_("payload"),
                                  layout=W.Layout(width="auto", flex="1 1 auto", max_width="34em",
                                                  height="4em"),
                                  style={"description_width": "4em"})
        self.payload_kind = W.Dropdown(options=["text (UTF-8)", "hex"], value="text (UTF-8)",
                                       layout=W.Layout(width="9em"))
        self.repeat = W.BoundedIntText(value=1, min=1, max=100_000, description=_("× repeat"),
                                       layout=W.Layout(width="9.5em"),
                                       style={"description_width": "4.8em"})
        self.hex_in = W.Text(placeholder="hex bytes to decode, e.g. 81 05 48 65 6c 6c 6f",
                             layout=W.Layout(width="auto", flex="1 1 auto", max_width="34em"))
        self.decode_button = W.Button(description=_("Decode"), icon="search",
                                      layout=W.Layout(width="auto"))
        self.bytes_view = W.HTML()
        self.diagram = W.HTML()
        for w in (self.fin, *self.rsv, self.opcode, self.mask, self.mask_key, self.payload,
                  self.payload_kind, self.repeat):
            w.observe(lambda _change: self._update(), names="value")
        self.new_key.on_click(lambda _: self._random_key())
        self.decode_button.on_click(lambda _: self.decode())
        self.data = b""
        super().__init__([
            W.HTML("<b>Build a frame</b> (RFC 6455 section 5.2)"),
            W.HBox([self.fin, *self.rsv, self.opcode]),
            W.HBox([self.mask, self.mask_key, self.new_key]),
            W.HBox([self.payload, W.VBox([self.payload_kind, self.repeat],
                                         layout=W.Layout(flex="0 0 auto"))],
                   layout=W.Layout(width="100%", max_width="44em")),
            self.bytes_view,
            W.HTML("<b>…or decode bytes</b>"),
            W.HBox([self.hex_in, self.decode_button],
                   layout=W.Layout(width="100%", max_width="44em")),
            self.diagram,
        ], **kwargs)
        self.add_class("wslab-frame-builder")
        self._update()

    # --- twins ------------------------------------------------------------------------
    def set(self, *, fin: bool | None = None, rsv1: bool | None = None, rsv2: bool | None = None,
            rsv3: bool | None = None, opcode: int | None = None, masked: bool | None = None,
            mask_key: str | None = None, payload: str | None = None, hex_payload: bool = False,
            repeat: int | None = None) -> bytes:
        """Set any toggle; returns the frame's bytes."""
        if opcode is not None and not (isinstance(opcode, int) and 0 <= opcode <= 15):
            raise ValueError(f"opcode is an int 0-15, got {opcode!r}")
        with self.hold_trait_notifications():
            for widget, value in ((self.fin, fin), (self.rsv[0], rsv1), (self.rsv[1], rsv2),
                                  (self.rsv[2], rsv3), (self.opcode, opcode), (self.mask, masked),
                                  (self.mask_key, mask_key), (self.payload, payload),
                                  (self.repeat, repeat)):
                if value is not None:
                    widget.value = value
            if payload is not None:
                self.payload_kind.value = "hex" if hex_payload else "text (UTF-8)"
        self._update()
        return self.data

    def decode(self, hex_text: str | None = None) -> object:
        """Explain hex bytes (partial and invalid frames too); returns the explanation."""
        text = self.hex_in.value if hex_text is None else hex_text
        if hex_text is not None:
            self.hex_in.value = hex_text
        try:
            data = bytes.fromhex(text.replace(":", " "))
        except ValueError:
            self.diagram.value = ("<span style='color:#c01c28'>not hex: use pairs of 0-9 a-f, "
                                  "spaces allowed</span>")
            return None
        ex = explain(data)
        self.diagram.value = _compact(ex._repr_html_())
        return ex

    # --- drawing --------------------------------------------------------------------------
    def _random_key(self) -> None:
        self.mask_key.value = os.urandom(4).hex()

    def _payload_bytes(self) -> bytes:
        if self.payload_kind.value == "hex":
            return bytes.fromhex(self.payload.value)
        return self.payload.value.encode("utf-8")

    def _update(self) -> None:
        try:
            payload = self._payload_bytes() * self.repeat.value
            key = bytes.fromhex(self.mask_key.value) if self.mask.value else None
            if key is not None and len(key) != 4:
                raise ValueError("the masking key is exactly 4 bytes (8 hex digits), RFC 6455 5.2")
            frame = fr.Frame(self.opcode.value, payload, fin=self.fin.value,
                             rsv1=self.rsv[0].value, rsv2=self.rsv[1].value,
                             rsv3=self.rsv[2].value, mask_key=key)
            self.data = fr.encode_frame(frame, strict=False)
        except ValueError as exc:
            self.bytes_view.value = f"<span style='color:#c01c28'>{_html.esc(exc)}</span>"
            return
        shown = self.data[:64].hex(" ") + (" …" if len(self.data) > 64 else "")
        self.bytes_view.value = (f"<div class='wslab-frame-bytes' style='font-family:monospace'>"
                                 f"{len(self.data)} bytes on the wire: {_html.esc(shown)}</div>")
        self.hex_in.value = self.data[:4096].hex(" ")
        self.diagram.value = _compact(explain(self.data)._repr_html_())
