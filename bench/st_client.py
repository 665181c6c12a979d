"""A minimal Streamlit protocol client: one simulated browser session over the app's websocket.

It speaks what the frontend speaks (protobuf BackMsg/ForwardMsg on ``/_stcore/stream``): open a page,
change widgets by key, press buttons, and follow ``run_every`` fragments the way the browser's timer
does.  Good enough to put thirty students' worth of sessions on a server; real Chromium pages check the
rendering separately.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.sync.client import connect

FINISHED = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}


@dataclass
class RunResult:
    seconds: float
    texts: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    status: int | None = None


class StreamlitSession:
    def __init__(self, base_url: str, timeout: float = 120.0):
        self.ws_url = base_url.replace("http://", "ws://") + "/_stcore/stream"
        self.timeout = timeout
        # connect() is a context manager in websockets 17; the session object owns its lifetime.
        self._connection = connect(self.ws_url, subprotocols=["streamlit"], open_timeout=timeout, max_size=None)
        self.ws = self._connection.__enter__()
        self.widgets: dict[str, Any] = {}      # key -> widget proto seen in the last full run
        self.sent: dict[str, Any] = {}         # widget id -> WidgetState we keep sending
        self.fragments: dict[str, float] = {}  # fragment id -> run_every interval
        self.page = ""
        self.page_hash = ""  # what the server says the current page is; fragment reruns need it
        self.query = ""

    def close(self) -> None:
        self._connection.__exit__(None, None, None)

    # --- runs --------------------------------------------------------------------------------------
    def _send(self, fragment_id: str = "", auto: bool = False) -> None:
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query
        cs.page_name = self.page
        cs.page_script_hash = self.page_hash
        cs.fragment_id = fragment_id
        cs.is_auto_rerun = auto
        for state in self.sent.values():
            cs.widget_states.widgets.append(state)
        self.ws.send(msg.SerializeToString())

    def _collect(self, full: bool) -> RunResult:
        t0 = time.perf_counter()
        result = RunResult(0.0)
        if full:
            # A full run re-declares its run_every fragments (the browser drops its timers too).
            self.widgets, self.fragments = {}, {}
        deadline = time.monotonic() + self.timeout
        while True:
            raw = self.ws.recv(timeout=max(0.1, deadline - time.monotonic()))
            fwd = ForwardMsg()
            fwd.ParseFromString(raw)
            kind = fwd.WhichOneof("type")
            if kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                self._element(fwd.delta.new_element, result)
            elif kind == "navigation" and fwd.navigation.page_script_hash:
                self.page_hash = fwd.navigation.page_script_hash
            elif kind == "auto_rerun":
                self.fragments[fwd.auto_rerun.fragment_id] = fwd.auto_rerun.interval
            elif kind == "stop_auto_rerun":
                for fragment_id in fwd.stop_auto_rerun.fragment_ids:
                    self.fragments.pop(fragment_id, None)
            elif kind == "script_finished":
                result.status = fwd.script_finished
                if fwd.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    break
        result.seconds = time.perf_counter() - t0
        # Trigger values (button presses) last one run, as in the browser.
        self.sent = {k: v for k, v in self.sent.items() if v.WhichOneof("value") != "trigger_value"}
        return result

    def _element(self, el, result: RunResult) -> None:
        kind = el.WhichOneof("type")
        if kind is None:
            return
        inner = getattr(el, kind)
        if kind == "exception":
            result.exceptions.append(f"{inner.type}: {inner.message}")
            return
        body = getattr(inner, "body", None)
        if isinstance(body, str) and body:
            result.texts.append(body)
        widget_id = getattr(inner, "id", "")
        if isinstance(widget_id, str) and widget_id.startswith("$$ID-"):
            key = widget_id.rsplit("-", 1)[-1]
            self.widgets[key] = inner
        label = getattr(inner, "label", None)
        if isinstance(label, str) and label:
            result.texts.append(label)

    def open(self, page: str, query: str = "") -> RunResult:
        """Load a page as a browser does on navigation (widget values start afresh)."""
        self.page, self.query, self.sent, self.fragments, self.page_hash = page, query, {}, {}, ""
        self._send()
        return self._collect(full=True)

    def rerun(self) -> RunResult:
        self._send()
        return self._collect(full=True)

    def poll_fragments(self) -> list[RunResult]:
        """One auto-rerun of every ``run_every`` fragment the page declared."""
        out = []
        for fragment_id in list(self.fragments):
            self._send(fragment_id=fragment_id, auto=True)
            out.append(self._collect(full=False))
        return out

    # --- widgets -----------------------------------------------------------------------------------
    def _state(self, key: str):
        if key not in self.widgets:
            raise KeyError(f"no widget with key {key!r} on {self.page!r}: {sorted(self.widgets)}")
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        state = WidgetState()
        state.id = self.widgets[key].id
        return state

    def set_slider(self, key: str, value: float) -> RunResult:
        state = self._state(key)
        state.double_array_value.data.append(float(value))
        self.sent[state.id] = state
        return self.rerun()

    def set_number(self, key: str, value: float, integer: bool = True) -> None:
        state = self._state(key)
        if integer:
            state.int_value = int(value)
        else:
            state.double_value = float(value)
        self.sent[state.id] = state

    def set_text(self, key: str, value: str) -> None:
        state = self._state(key)
        state.string_value = value
        self.sent[state.id] = state

    def click(self, key: str) -> RunResult:
        state = self._state(key)
        state.trigger_value = True
        self.sent[state.id] = state
        return self.rerun()
