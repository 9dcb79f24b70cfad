// MQTT over a WHATWG WebSocket (browsers, Deno, Node >= 22, the simulator's page): the runtime does
// the framing; this file only converts ArrayBuffers to and from the core's binary strings.
import { err, TRANSPORT, MqttError } from "../mqtt/errors";
import type { Transport } from "../mqtt/port";

export interface WsObjectOptions {
  /** request path; default "/mqtt" */
  path?: string;
  /** subprotocol; default "mqtt" */
  protocol?: string;
  /** wss:// instead of ws:// */
  secure?: boolean;
}

/** `WS` is the WebSocket constructor (e.g. globalThis.WebSocket, or mock-socket's in tests). */
export function wsObjectTransport(WS: any, o?: WsObjectOptions): Transport {
  var op = o || {};
  return function (host, port, ev) {
    var url = (op.secure ? "wss://" : "ws://") + host + ":" + port + (op.path || "/mqtt"),
      s = new WS(url, op.protocol || "mqtt"), done = false;
    function end(e?: MqttError) {
      if (!done) { done = true; ev.close(e); }
    }
    s.binaryType = "arraybuffer";
    s.onopen = function () { ev.open(); };
    s.onmessage = function (m: any) {
      var u: Uint8Array, r = "", i = 0;
      if (done) return;
      if (typeof m.data == "string") {
        end(err(TRANSPORT, "websocket: text frame (MQTT needs binary) [MQTT-6.0.0-1]"));
        return s.close(); // WHATWG close() takes only 1000 or 3000-4999: no 1003 here
      }
      u = new Uint8Array(m.data);
      // chunks keep fromCharCode.apply under every engine's argument limit; the end clamped (Espruino's
      // subarray does not clamp it)
      for (; i < u.length; i += 1024) r += String.fromCharCode.apply(null, u.subarray(i, Math.min(i + 1024, u.length)) as any);
      ev.data(r);
    };
    // the error event carries no detail; the close event that follows has the code
    s.onerror = function () { end(err(TRANSPORT, "websocket error on " + url)); };
    s.onclose = function (e: any) { end(err(TRANSPORT, "websocket closed (" + e.code + (e.reason ? " " + e.reason : "") + ")")); };
    return {
      write: function (d: string) {
        var u = new Uint8Array(d.length), i = 0;
        for (; i < d.length; i++) u[i] = d.charCodeAt(i);
        s.send(u.buffer);
      },
      close: function () { done = true; s.close(1000); },
    };
  };
}
