// The sensor loop: every `poll` ms read every sensor (sync or async), and hand one object of readings to
// the owner's send() when the interval is due, when a value moved beyond its deadband, when an input edge
// asked for it, or when now() was called. A failing sensor reads null and its error goes to the owner's
// report() (once per new error, not every poll); the loop never stops for it, not even for a driver that
// never calls back (it reads null with "no answer" after 10 s).
// Sensors are data: the built-in analog, digital and temperature sensors are read here from their config,
// with no object or function of their own; drivers (DRIVERS: DS18B20, DHT22, custom ones) are made once
// per sensor. One constructor and its prototype, two callbacks per loop: on Espruino every function and
// closure is RAM.
import type { Board } from "../../boards/board";
import type { Config } from "./config";
import { DRIVERS, Reading } from "./sensors";

export interface Telemetry {
  /** read and send now; `net` (1): asked over the network, ignored within 1 s of the last send */
  now(net?: 1): void;
  stop(): void;
}

/** Where readings and errors go (report: the firmware's error topic, kind "sensor"). */
export interface TelemetryOwner {
  send(o: { [name: string]: Reading }): void;
  report(kind: string, sensor: string, why: string): void;
}

// __FOREVER__ (device builds, build/config.mjs): main.ts drops the firmware it makes, so nothing can stop
// the loop; stop() and the watch handles it needs are left out. Undefined in tests: stop() is there.
declare const __FOREVER__: boolean;
// battery mode (build/config.mjs): one reading per wake, no poll timer; stop() before the sleep
declare const __SLEEP__: boolean;
// which kinds of sensor the build's config has (build/config.mjs; undefined in tests: all of them):
// __DRIVERS__ any that needs a driver (DS18B20, DHT22, a custom one)
declare const __ANALOG__: boolean, __DIGITAL__: boolean, __TEMPERATURE__: boolean, __DRIVERS__: boolean;

interface State extends Telemetry {
  o: TelemetryOwner; c: Config; b: Board;
  /** per sensor: its driver (0: a built-in read here; a string: why its driver could not be made) */
  d: any[];
  /** per sensor: this round's reading, the last error reported ("": none), the pending done() */
  v: Reading[]; e: string[]; dn: any[];
  /** watch handles (unwatched by stop) */
  w: any[];
  /** per sensor, the reading last sent (the object handed to send is the owner's: it may add to it), and when */
  p: Reading[]; s: number;
  /** reads still pending in this round (+1 while it is started), when it started, send whatever the deadbands say */
  n: number; t0: number; f: number;
  /** the poll timer, and the callback for input edges */
  tm: any; ch: () => void;
  round(poll?: number): void;
  read(j: number): void;
  got(j: number, x: Reading, e?: string): void;
  settle(): void;
}

// The poll timer's callback, one for every loop (the clock passes it the loop): its id is forgotten
// first (Espruino reuses fired ids)
function onPoll(t: State) { t.tm = 0; t.round(1); }
// "publish now" for input edges: a closure per loop (a pin watch passes no argument of ours)
function edgeFn(t: State) { return function () { t.now(); }; }
// a driver's done(): once per read (a later call, after "no answer" or a second one, finds another
// callback pending, or none)
function doneFn(t: State, j: number) {
  return function done(x: Reading, e?: string) { if (t.dn[j] == done) { t.dn[j] = 0; t.got(j, x, e); } };
}

export function Telemetry(this: State, o: TelemetryOwner, c: Config, b: Board) {
  var t = this, list = c.sensors, i: number, s: any, h: any;
  t.o = o; t.c = c; t.b = b;
  t.d = []; t.v = []; t.e = []; t.dn = []; t.w = [];
  t.p = []; t.s = -1e15; t.n = t.f = 0;
  t.ch = edgeFn(t);
  for (i = 0; i < list.length; i++) {
    s = list[i];
    h = 0;
    t.d[i] = 0;
    try {
      if ((typeof __DIGITAL__ == "undefined" || __DIGITAL__) && s.type == "digital") { // published at once on each (debounced) edge
        if (s.pull) b.pins.mode(s.pin, s.pull);
        h = b.pins.watch(s.pin, t.ch, s.debounce || 0);
      } else if ((typeof __DRIVERS__ == "undefined" || __DRIVERS__) && s.type != "analog" && s.type != "temperature") {
        t.d[i] = DRIVERS[s.type](s, b);
        h = t.d[i].watch && t.d[i].watch(t.ch);
      }
    } catch (e) {
      // a driver that could not be made: every read fails with why
      t.d[i] = "driver " + s.type + ": " + ((e as any).message || e);
    }
    if (typeof __FOREVER__ == "undefined" || !__FOREVER__ || __SLEEP__) t.w.push(h);
  }
  t.round((typeof __SLEEP__ == "undefined" || __SLEEP__) && c.sleep ? 0 : 1);
}

Telemetry.prototype = {
  now: function (net?: any) {
    if (net === 1 && this.b.clock.now() - this.s < 1000) return;
    this.f = 1;
    this.round();
  },

  // every sensor read; the readings are looked at (settle) once the last one is in. `poll` 1: a round
  // of the poll timer, which is armed again first
  round: function (poll?: number) {
    var t = this, j = 0, n = t.c.sensors.length, now = t.b.clock.now();
    if (poll) t.tm = t.b.clock.setTimer(onPoll, t.c.poll, t);
    if (t.n) {
      if (now - t.t0 < 10000) return; // a slow sensor is still reading: this round folds into that one
      if (typeof __DRIVERS__ == "undefined" || __DRIVERS__) for (; j < n; j++) if (t.dn[j]) t.dn[j](null, "no answer"); // a driver that never called back
      j = 0;
    }
    t.t0 = now;
    t.n = n + 1;
    for (; j < n; j++) t.read(j);
    t.settle();
  },

  read: function (j: number) {
    var t = this, s: any = t.c.sensors[j], d = t.d[j], b = t.b, v: any;
    try {
      if (typeof d == "string") throw d;
      if ((typeof __DRIVERS__ == "undefined" || __DRIVERS__) && d) { // a driver: the value now, or undefined and done() later
        v = d.read(t.dn[j] = doneFn(t, j));
        if (v === undefined) return;
        t.dn[j] = 0;
      } else if ((typeof __ANALOG__ == "undefined" || __ANALOG__) && s.type == "analog") v = b.pins.analog(s.pin) * s.scale + s.offset;
      else if (typeof __DIGITAL__ == "undefined" || __DIGITAL__) v = s.type == "digital" ? !!b.pins.read(s.pin) != !!s.invert : b.temperature!();
      else v = b.temperature!();
    } catch (e) {
      t.dn[j] = 0;
      return t.got(j, null, "" + ((e as any).message || e));
    }
    t.got(j, v);
  },

  got: function (j: number, x: Reading, e?: string) {
    var t = this, s = t.c.sensors[j], r = s.round || 100;
    if (typeof x == "number") x = isFinite(x) ? Math.round(x * r) / r : null;
    if (x == null) e = e || "no reading";
    t.v[j] = x;
    if (e && t.e[j] != e) t.o.report("sensor", s.name, e);
    t.e[j] = e || "";
    t.settle();
  },

  // Send when due: asked to, the interval, or a value beyond its deadband (the object is made only then)
  settle: function () {
    var t = this, c = t.c, list = c.sensors, now = t.b.clock.now(), due = t.f || now - t.s >= c.interval - c.poll / 2, o: any, j: number, s: any, v: any, p: any;
    if (--t.n) return;
    for (j = 0; !due && j < list.length; j++) {
      s = list[j]; v = t.v[j]; p = t.p[j];
      if (s.deadband != null && (typeof v == "number" && typeof p == "number" ? Math.abs(v - p) > s.deadband : v !== p)) due = true;
    }
    if (!due) return;
    for (o = {}, j = 0; j < list.length; j++) o[list[j].name] = t.v[j];
    t.p = t.v.slice();
    t.f = 0;
    t.s = now;
    t.o.send(o);
  },
} as ThisType<State> & Partial<State>;

// (device builds have no stop: left out, with the watch handles)
if (typeof __FOREVER__ == "undefined" || !__FOREVER__ || __SLEEP__) Telemetry.prototype.stop = function (this: State) {
  var t = this, i = 0;
  if (t.tm) t.b.clock.clearTimer(t.tm);
  t.tm = 0;
  for (; i < t.w.length; i++) if (t.w[i]) t.b.pins.unwatch(t.w[i]);
};

/** A loop that sends to `send` and reports errors to `fail` (tests and tools). */
export function telemetry(c: Config, b: Board, send: (o: { [name: string]: Reading }) => void, fail: (sensor: string, why: string) => void): Telemetry {
  return new (Telemetry as any)({ send: send, report: function (k: string, name: string, why: string) { fail(name, why); } }, c, b);
}
