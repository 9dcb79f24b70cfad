// The sensor loop: every `poll` ms read every sensor (sync or async), and hand one object of readings to
// `send` when the interval is due, when a value moved beyond its deadband, when an input edge asked for
// it, or when now() was called. A failing sensor reads null and its error goes to `fail` (once per new
// error, not every poll); the loop never stops for it, not even for a driver that never calls back
// (it reads null with "no answer" after 10 s).
import type { Board } from "../../boards/board";
import type { Config } from "./config";
import { DRIVERS, Reading } from "./sensors";

export interface Telemetry {
  /** read and send now; `net` (1): asked over the network, ignored within 1 s of the last send */
  now(net?: 1): void;
  stop(): void;
}

// __FOREVER__ (device builds, build/config.mjs): main.ts drops what start() returns, so nothing can stop
// the loop; stop() and the watch handles it needs are left out. Undefined in tests: stop() is there.
declare const __FOREVER__: boolean;

export function telemetry(c: Config, b: Board, send: (o: { [name: string]: Reading }) => void, fail: (sensor: string, why: string) => void): Telemetry {
  // last: the readings last sent (the object handed to send), vals: this round's, dones: the pending callbacks
  var clk = b.clock, list = c.sensors, drv: any[] = [], last: any = {}, vals: Reading[] = [], errs: string[] = [],
    watches: any[] = [], dones: any[] = [], sent = -1e15, busy = 0, started = 0, force = false, timer: any = 0, i: number, s: any;

  function settle() {
    var now = clk.now(), due = force || now - sent >= c.interval - c.poll / 2, o: any, j: number, s, v, p;
    if (--busy) return;
    o = {};
    for (j = 0; j < list.length; j++) {
      s = list[j]; v = vals[j]; p = last[s.name];
      if (s.deadband != null && (typeof v == "number" && typeof p == "number" ? Math.abs(v - p) > s.deadband : v !== p)) due = true;
      o[s.name] = v;
    }
    if (!due) return;
    force = false;
    sent = now;
    send(last = o);
  }

  function readOne(j: number) {
    var r = list[j].round || 100, v: any;
    // once: a later call (after "no answer", or a second one) finds another callback, or none, pending
    function done(x: Reading, e?: string) {
      if (dones[j] != done) return;
      dones[j] = 0;
      if (typeof x == "number") x = isFinite(x) ? Math.round(x * r) / r : null;
      if (x == null) e = e || "no reading";
      vals[j] = x;
      if (e && errs[j] != e) fail(list[j].name, e);
      errs[j] = e || "";
      settle();
    }
    dones[j] = done;
    try { v = drv[j].read(done); } catch (e) { return done(null, "" + ((e as any).message || e)); }
    if (v !== undefined) done(v);
  }

  function round() {
    var j = 0, t = clk.now();
    if (busy) {
      if (t - started < 10000) return; // a slow sensor is still reading: this round folds into that one
      for (; j < list.length; j++) if (dones[j]) dones[j](null, "no answer"); // a driver that never called back
      j = 0;
    }
    started = t;
    busy = list.length + 1;
    for (; j < list.length; j++) readOne(j);
    settle();
  }

  function tick() {
    timer = clk.setTimer(tick, c.poll);
    round();
  }

  function now(net?: any) {
    if (net === 1 && clk.now() - sent < 1000) return;
    force = true;
    round();
  }

  for (i = 0; i < list.length; i++) {
    try {
      drv[i] = DRIVERS[list[i].type](list[i], b);
      s = drv[i].watch && drv[i].watch!(now);
      if (typeof __FOREVER__ == "undefined" || !__FOREVER__) watches.push(s);
    } catch (e) {
      // a driver that could not be made: every read fails with why
      drv[i] = { e: "driver " + list[i].type + ": " + ((e as any).message || e), read: function () { throw this.e; } };
    }
  }
  tick();

  s = { now: now };
  if (typeof __FOREVER__ == "undefined" || !__FOREVER__) s.stop = function () {
    clk.clearTimer(timer);
    timer = 0;
    for (i = 0; i < watches.length; i++) if (watches[i]) b.pins.unwatch(watches[i]);
  };
  return s;
}
