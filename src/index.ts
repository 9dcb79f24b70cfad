// mqtt-mcu core: the public surface. `require("mqtt-mcu").createClient({host, port})` on Espruino or
// Node; the default transport is TCP over require("net") and the default clock the engine's timers.
import { Client as C } from "./mqtt/client";
import type { ClientOptions, Client } from "./mqtt/client";
import { tcp } from "./net/socket";
import { E } from "./mqtt/errors";
import { decodeUtf8 } from "./mqtt/utf8";
import type { Clock } from "./mqtt/port";

/** require() of an engine module (net, tls, Wifi, Storage...), out of esbuild's sight. */
export function need(m: string): any { return __REQUIRE__(m); }

/** The engine's own timers and clock as functions of ours, for the host and IoT.js boards and the
 *  simulator (the globals are looked up at each call, so a test's fake timers apply). The Espruino boards
 *  give the engine's functions themselves instead (each function is RAM there), and the core's default
 *  is only Date.now with the engine's timers (port.ts). */
export var timers: Clock = {
  now: function () { return Date.now(); },
  setTimer: function (fn, ms, a) { return setTimeout(fn, ms, a); },
  // Espruino throws "Unknown Timeout" when the timer already fired
  clearTimer: function (t) { if (t) try { clearTimeout(t); } catch (e) {} },
};

/** The default port: TCP over the engine's `net` (the module's tcp: no closure per client), and the
 *  engine's own clock and timers (no function of ours: on Espruino each costs RAM; the client tolerates
 *  clearTimeout's throw). */
export function createClient(o: Partial<ClientOptions>): Client {
  var c = new (C as any)(o);
  if (!o.transport) c.t = tcp;
  // the engine's clock: its Date.now, and a clock without setTimer is the engine's setTimeout and
  // clearTimeout (port.ts; an object of the three functions is 13 blocks on Espruino, this one 4; Date
  // itself would be 2, but now() is called twice per message and finding `now` on Date costs about 1%)
  if (!o.clock) c.k = { now: Date.now } as any;
  return c;
}

export { E as codes, decodeUtf8 };
