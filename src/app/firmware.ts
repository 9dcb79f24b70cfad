// The firmware: config + board -> a device on MQTT. Actuators go to their safe state at once, and every
// connect announces the device: status online, actuator states (after the last ones were restored),
// then Home Assistant discovery one entity at a time (each made just before it goes, at QoS 1, the next
// one when the broker acknowledged it: one in RAM at a time). The sensor loop starts once the first
// announce is done, so a newly added device's entities exist before its first telemetry. Nothing from
// secrets (WiFi/MQTT passwords, TLS keys) is ever logged or published.
// Availability: <base>/<id>/status is "online" (retained) from each connect, and "offline" (retained)
// when the link dies without a DISCONNECT: the broker publishes the will for us.
// Commands: <base>/<id>/cmd/<actuator> sets an actuator, cmd/telemetry publishes telemetry now.
// Anything else (an unknown name, a payload that is not a value, a value out of range) is rejected
// with the reason on the error topic and changes nothing.
// Battery mode ("sleep" in device.json, __SLEEP__; README "Battery mode"): one wake cycle per boot.
// Outputs driven to their stored state, every sensor read once, then WiFi + MQTT on a persistent session
// (clean false, a stable client id; commands sent while it slept wait at the broker, subscribed at QoS 1);
// the readings kept while offline, oldest first, then this wake's telemetry, each at QoS 1 and the next
// one after its PUBACK; the commands that come within a short window (each state at QoS 1, acknowledged);
// then deep sleep. Whatever happens, it sleeps at awake_max: then this wake failed, the reading is kept
// in Storage (at most __KEEP__ of them), and the next sleeps are longer (x1, x2, x4 ... x16, reset by a
// success). No will and no status: a sleeping device is not broken (Home Assistant expires its sensors).
// Shaped for Espruino's RAM: one constructor and its prototype, state as short properties, actuators
// and sensors as data, and one callback for everything the client and the network report.
import type { Board } from "../../boards/board";
import type { Config } from "./config";
import { Client } from "../mqtt/client";
import { decodeUtf8 } from "../mqtt/utf8";
import { wsTransport } from "../net/ws";
import { Actuator, drive, parse } from "./actuators";
import { entity } from "./discovery";
import { Telemetry } from "./telemetry";
import { ota } from "./ota";
import type { Reading } from "./sensors";

// build flags (build/config.mjs firmwareDefines; undefined in tests: everything is there)
declare const __PWM__: boolean; // (no PWM actuator: its state and value paths fold away)
declare const __WS__: boolean, __HA__: boolean, __STORE__: boolean, __TLS__: boolean, __RESTORE__: string, __FOREVER__: boolean;
// battery mode: compiled in with "sleep"; the board's longest sleep (ms); readings kept while offline; the
// announce's tag (the discovery is sent again when it changes)
declare const __SLEEP__: boolean, __SLEEPMAX__: number, __KEEP__: number, __TAG__: string;
// updates over MQTT (src/app/ota.ts): compiled in with "ota"
declare const __OTA__: boolean;

export interface Firmware {
  /** the device id in use (config id, or the board's) */
  id: string;
  client: Client;
  actuators: Actuator[];
  /** stop the loop and drop the link without DISCONNECT (as a power cut: the broker sends the will) */
  stop(): void;
}

interface State extends Firmware {
  c: Config; b: Board;
  /** "<base>/<id>/" */
  base: string;
  /** restore from the retained states: 1 until the first connect, 2 while it runs, 0 done */
  rs: number;
  /** actuators a command set before the restore was done: their retained state is stale */
  tc: { [name: string]: number };
  /** connects so far; the next entity of the announce (-1: none under way) */
  n: number; an: number;
  /** the sensor loop, from the first announce on */
  tl: Telemetry | undefined;
  /** the Storage write timer; stop() was called */
  tm: any; st: number;
  /** the one callback for the client's events, the network's "up", and acknowledgements */
  fn: (a?: any, b?: any) => void;
  // battery mode: boot time; the state kept in Storage across sleeps [failures in a row, device clock
  // ms at this boot, first kept reading, kept readings]; publications awaiting PUBACK; the reading to
  // send (and when it was taken), the one in flight; a kept reading in flight; this wake's telemetry was
  // acknowledged; the awake_max and window timers; their callback (also the PUBACK callback); the wake
  /** the update under way (src/app/ota.ts), 0: none */
  u: any;
  t0: number; ss: any[]; pk: number; pd: any; pt: number; pf: any; sr: number; ok: number; hz: any; wt: any;
  zf: (e?: any) => void; wk: () => void;
  go(): void;
  zz(): void;
  keep(o: any): void;
  pw(): void;
  online(): void;
  next(): void;
  msg(t: string, p: string): void;
  echo(a: Actuator, q?: number): void;
  report(kind: string, name: string, why: string, p?: string | null): void;
  send(o: { [name: string]: Reading }): void;
  dg(o: any): void;
}

// What calls the firmware back, told apart by what it passes (one function, not one per event: each is
// RAM on Espruino): a message (topic, payload); the network up (nothing); an acknowledgement the firmware
// waits for (null: the next announce step); an error (the error event, or a failed acknowledgement);
// the connect event (the CONNACK).
function eventsFn(f: State) {
  return function (a?: any, p?: any) {
    if (typeof a == "string") f.msg(a, p);
    // network (back) up: connect now, dropping an attempt that was made while it was down (on Espruino
    // such a socket never opens: it would hold the next try until the CONNACK timeout)
    else if (a === undefined) { if (!f.st && !f.client.connected) f.client.end(true).connect(); }
    else if (a === null) f.next();
    else if (a.code) f.b.log("mqtt " + a.code + ": " + a.message);
    else f.online();
  };
}

// battery mode: the timers (awake_max, the command window: nothing passed, sleep now) and the PUBACKs of
// its publications (null: the next step); the emulated sleep's wake (Linux, host): boot again in place
function sleepFn(f: State) {
  return function (e?: any) {
    if (e === undefined) f.zz();
    else { f.pk--; if (e === null) f.go(); }
  };
}
function wakeFn(f: State) { return function () { (Fw as any).call(f, f.c, f.b); }; }

// Storage: written 5 s after the last change, not per command (flash wear: a slider sends many). The
// timer's callback (the clock passes it the firmware).
function save(f: State) {
  f.tm = 0;
  for (var j = 0; j < f.actuators.length; j++) f.b.store.set("a." + f.actuators[j].c.name, "" + f.actuators[j].v);
}

/** The firmware (device builds make it with `new`: no start() of their own). */
export function Fw(this: State, c: Config, b: Board) {
  var f = this, r = typeof __RESTORE__ == "undefined" ? c.restore : __RESTORE__, m: any = c.broker, i: number, s: any, a: Actuator, v: number;
  f.c = c;
  f.b = b;
  f.id = c.id || b.id();
  f.base = c.base + "/" + f.id + "/";
  f.actuators = [];
  f.rs = r == "retained" ? 1 : 0;
  f.tc = {};
  f.n = 0;
  f.an = -1;
  // (once: an emulated sleep boots again in this object)
  if (!((typeof __SLEEP__ == "undefined" || __SLEEP__) && f.fn)) { f.fn = eventsFn(f); b.net.on("up", f.fn); }
  // the actuators, each driven at once to the value kept in Storage (restore "storage"), else to its safe
  // state; restore "retained": the retained state topic once connected (in msg())
  for (i = 0; i < c.actuators.length; i++) {
    f.actuators.push(a = { c: c.actuators[i], v: 0, on: 0 });
    v = c.actuators[i].init || 0;
    if ((typeof __STORE__ == "undefined" || __STORE__) && r == "storage" && (s = b.store.get("a." + a.c.name)) != null && typeof (s = parse(s, a)) == "number") v = s;
    drive(a, v, b);
  }
  if ((typeof __SLEEP__ == "undefined" || __SLEEP__) && c.sleep) {
    // battery mode: the hard limit on this wake from now on, whatever happens
    f.t0 = b.clock.now();
    f.st = 0;
    f.ss = (b.store.get("s") || "0,0,0,0").split(",");
    f.pk = f.sr = f.ok = f.wt = 0;
    f.pd = f.pf = 0;
    f.zf = sleepFn(f);
    f.hz = b.clock.setTimer(f.zf, c.awake!);
  }
  // the client's options: the broker section (host, port, username, password, keepalive, queue) and the rest
  m.transport = (typeof __TLS__ == "undefined" || __TLS__) && m.tls ? b.tls!(m.tls) : b.tcp;
  if ((typeof __WS__ == "undefined" || __WS__) && m.ws) m.transport = wsTransport(m.transport, { path: m.ws });
  m.clock = b.clock;
  m.clientId = f.id;
  // a sleeper: a persistent session (its commands wait at the broker) and no will (asleep is not broken)
  if ((typeof __SLEEP__ == "undefined" || __SLEEP__) && c.sleep) m.clean = false;
  else m.will = { topic: f.base + "status", payload: "offline", qos: 1, retain: true };
  f.client = new (Client as any)(m);
  f.client.on("error", f.fn);
  f.client.on("message", f.fn);
  f.client.on("connect", f.fn);
  // (a sleeper at QoS 1: the broker keeps its commands while it sleeps)
  if ((typeof __SLEEP__ == "undefined" || __SLEEP__) && c.sleep) f.client.subscribe(f.base + "cmd/+", { qos: 1 });
  else f.client.subscribe(f.base + "cmd/+");
  // a sleeper reads every sensor once, now, before the network
  if ((typeof __SLEEP__ == "undefined" || __SLEEP__) && c.sleep) f.tl = new (Telemetry as any)(f, c, b);
  b.net.start(c.wifi as any);
}

Fw.prototype = {
  online: function () {
    var f = this;
    f.n++;
    // a sleeper: the announce only when this build's was not made yet (an announce cut by a lost link
    // goes on by itself), then its publications
    if ((typeof __SLEEP__ == "undefined" || __SLEEP__) && f.c.sleep) {
      if (f.an < 0) {
        if (f.b.store.get("an") != (typeof __TAG__ == "undefined" ? "t" : __TAG__)) { f.an = 0; f.next(); } else f.go();
      }
      return;
    }
    f.client.publish(f.base + "status", "online", { retain: true });
    if ((typeof __OTA__ == "undefined" || __OTA__) && f.c.ota && f.b.ota) ota(f, -2);
    // restore: the broker answers SUBSCRIBE with the retained states, then the UNSUBSCRIBE: done, announce
    if (f.rs == 1) {
      f.rs = 2;
      f.client.subscribe(f.base + "state/+");
      f.client.unsubscribe(f.base + "state/+", f.fn);
    }
    // (an announce cut by the lost link goes on: its message in flight is sent again, and acknowledged)
    else if (!f.rs && f.an < 0) { f.an = 0; f.next(); }
  },

  // The next step of the announce: the states, then the entities, each at QoS 1, the next one when the
  // broker acknowledged it (one message in RAM at a time); then the sensor loop, the first time.
  next: function () {
    var f = this, i = f.an, n = f.actuators.length, e: [string, string] | null = null;
    if (f.rs) { f.rs = f.an = 0; i = 0; } // the restore is done: announce
    if (i < 0) return;
    f.an++;
    if (i < n) return f.echo(f.actuators[i], 1);
    if ((typeof __HA__ == "undefined" || __HA__) && f.c.ha) e = entity(f.c, f.id, f.b.name, i - n);
    if (e) return void f.client.publish(e[0], e[1], { qos: 1, retain: true }, f.fn);
    f.an = -1;
    if ((typeof __SLEEP__ == "undefined" || __SLEEP__) && f.c.sleep) { f.b.store.set("an", typeof __TAG__ == "undefined" ? "t" : __TAG__); return f.go(); }
    if (!f.tl) f.tl = new (Telemetry as any)(f, f.c, f.b); // the sensor loop, its first telemetry at once
  },

  // commands (<base>cmd/<name>), and during the restore the retained states (<base>state/<name>)
  msg: function (t: string, p: any) {
    var f = this, n: string, a: Actuator | undefined, v: number | string, b = f.b, i = 0;
    if (t.indexOf(f.base)) return;
    t = t.substr(f.base.length);
    n = t.substr(t.indexOf("/") + 1); // the name
    for (; i < f.actuators.length && !a; i++) if (f.actuators[i].c.name == n) a = f.actuators[i];
    // an update: its control, and its chunks (bytes: not UTF-8)
    if ((typeof __OTA__ == "undefined" || __OTA__) && f.c.ota && b.ota) {
      if (t == "cmd/ota") return ota(f, -1, p);
      if (!t.indexOf("ota/")) return ota(f, +n, p);
    }
    if (!t.indexOf("cmd/")) {
      p = decodeUtf8(p);
      if (n == "telemetry") return f.tl && f.tl.now(1);
      v = a ? parse(p, a) : "unknown actuator";
      if (typeof v == "string") return f.report("cmd", n, v, p);
      f.tc[n] = 1;
      drive(a!, v, b);
      // a sleeper: the state at QoS 1 (it sleeps once acknowledged), and kept in Storage at once
      if ((typeof __SLEEP__ == "undefined" || __SLEEP__) && f.c.sleep) {
        f.pw();
        f.client.publish(f.base + "state/" + n, v ? "ON" : "OFF", { qos: 1, retain: true }, f.zf); // (no PWM on a sleeper)
        return b.store.set("a." + n, "" + v);
      }
      f.echo(a!);
      if ((typeof __STORE__ == "undefined" || __STORE__) && (typeof __RESTORE__ == "undefined" ? f.c.restore : __RESTORE__) == "storage") {
        if (f.tm) b.clock.clearTimer(f.tm);
        f.tm = b.clock.setTimer(save, 5000, f);
      }
    } else if (f.rs && !t.indexOf("state/") && a && !f.tc[n] && typeof (v = parse(decodeUtf8(p), a)) == "number") drive(a, v, b);
  },

  // state/<name>, retained: ON/OFF, or the number; at QoS 1 (`q`) in the announce, whose next step
  // follows the acknowledgement
  echo: function (a: Actuator, q?: number) {
    var f = this;
    f.client.publish(f.base + "state/" + a.c.name, (typeof __PWM__ == "undefined" || __PWM__) && a.c.type == "pwm" ? "" + a.v : a.v ? "ON" : "OFF", { qos: q, retain: true }, q ? f.fn : undefined);
  },

  // error topic: what was rejected and why (with the payload, cut short, for a command; null: not UTF-8)
  report: function (kind: string, name: string, why: string, p?: string | null) {
    var o: any = {};
    o[kind] = name;
    if (p !== undefined) o.payload = p && p.substr(0, 64);
    o.error = why;
    this.client.publish(this.base + "error", JSON.stringify(o));
  },

  // the sensor loop's readings, with the diagnostics: uptime s, free memory bytes, RSSI dBm (null while
  // unknown: Home Assistant shows "unknown"), reconnects since boot
  // (a sleeper: the reading waits for go())
  send: function (o: any) {
    var f = this, d = f.b.diag;
    if ((typeof __SLEEP__ == "undefined" || __SLEEP__) && f.c.sleep) { f.pd = o; f.pt = f.b.clock.now(); return f.go(); }
    o.uptime = Math.round(d.uptime());
    o.mem = d.mem();
    o.rssi = d.rssi ? d.rssi() : null;
    o.reconnects = f.n > 1 ? f.n - 1 : 0;
    f.client.publish(f.base + "telemetry", JSON.stringify(o));
  },

} as ThisType<State> & Partial<State>;

// (device builds have no stop: main.ts drops the firmware it makes)
if (typeof __FOREVER__ == "undefined" || !__FOREVER__) Fw.prototype.stop = function (this: State) {
  var f = this;
  f.st = 1;
  if (f.tl) f.tl.stop();
  // a fired timer's id may be reused: Espruino would clear another
  if (f.tm) f.b.clock.clearTimer(f.tm);
  f.tm = 0;
  f.client.end(true);
};

// battery mode (left out without "sleep")
if (typeof __SLEEP__ == "undefined" || __SLEEP__) {
  // battery mode, the next step once connected and nothing awaits its PUBACK: a kept reading (oldest
  // first, with its age in s), this wake's telemetry, then the command window (sleep when it passes
  // quietly)
  Fw.prototype.go = function (this: State) {
    var f = this, s = f.ss, b = f.b, k = typeof __KEEP__ == "undefined" ? 16 : __KEEP__, o: any;
    if (!f.client.connected || f.an >= 0 || f.pk || f.st) return;
    if (f.sr) { f.sr = 0; s[2] = (+s[2] + 1) % k; s[3]--; } // a kept reading acknowledged
    if (f.pf) { f.pf = 0; f.ok = 1; } // this wake's telemetry acknowledged
    // (a kept reading that is missing or does not parse is skipped: it must not fail every wake)
    for (; +s[3] > 0 && !o; ) {
      try { o = JSON.parse(b.store.get("r" + s[2]) || "0"); } catch (e) { o = 0; }
      if (!o) { s[2] = (+s[2] + 1) % k; s[3]--; }
    }
    if (o) {
      o.age = Math.round((+s[1] + b.clock.now() - f.t0 - o.t) / 1000);
      delete o.t;
      f.sr = 1;
    } else if ((o = f.pd)) {
      f.dg(o);
      f.pf = o;
      f.pd = 0;
    } else {
      if (f.ok && !f.wt) f.wt = b.clock.setTimer(f.zf, 200);
      return;
    }
    f.pw();
    f.client.publish(f.base + "telemetry", JSON.stringify(o), { qos: 1 }, f.zf);
  };

  // a sleeper's diagnostics (as send() adds them; its uptime: the seconds awake in this wake, to 10 ms)
  Fw.prototype.dg = function (this: State, o: any) {
    var f = this, d = f.b.diag;
    o.uptime = Math.round((f.b.clock.now() - f.t0) / 10) / 100;
    o.mem = d.mem();
    o.rssi = d.rssi ? d.rssi() : null;
    o.reconnects = f.n > 1 ? f.n - 1 : 0;
  };

  // a publication that waits for its PUBACK: the window closes until it is acknowledged
  Fw.prototype.pw = function (this: State) {
    var f = this;
    f.pk++;
    if (f.wt) f.b.clock.clearTimer(f.wt);
    f.wt = 0;
  };

  // a reading not acknowledged: kept in Storage for the next wakes (the oldest overwritten when full)
  Fw.prototype.keep = function (this: State, o: any) {
    var f = this, s = f.ss, k = typeof __KEEP__ == "undefined" ? 16 : __KEEP__;
    if (!o) return;
    if (o.uptime === undefined) f.dg(o);
    o.t = +s[1] + f.pt - f.t0;
    f.b.store.set("r" + (+s[2] + +s[3]) % k, JSON.stringify(o));
    if (+s[3] < k) s[3]++; else s[2] = (+s[2] + 1) % k;
  };

  // Sleep: at the end of the window, or at awake_max. This wake failed unless its telemetry was
  // acknowledged: then the readings not acknowledged are kept and the sleep is longer (x2 per failure
  // in a row after the first, up to x16 and the board's longest). The link ends with DISCONNECT.
  Fw.prototype.zz = function (this: State) {
    var f = this, c = f.c, b = f.b, s = f.ss, k = b.clock, now = k.now(), ms = c.sleep!, n = f.ok ? 0 : +s[0] + 1;
    if (f.st) return;
    f.st = 1;
    if (f.wt) k.clearTimer(f.wt);
    k.clearTimer(f.hz);
    if (n) ms = Math.min(ms * (1 << Math.min(n - 1, 4)), typeof __SLEEPMAX__ == "undefined" ? 86400000 : __SLEEPMAX__);
    // (Storage full or failing must not keep it awake: it sleeps whatever happens)
    try {
      f.keep(f.pf);
      f.keep(f.pd);
      // the device clock at the next boot (the kept readings' age counts on it)
      b.store.set("s", n + "," + (+s[3] ? +s[1] + now - f.t0 + ms : 0) + "," + s[2] + "," + s[3]);
    } catch (e) { b.log("sleep: Storage: " + ((e as any).message || e)); }
    if (f.tl) f.tl.stop();
    f.client.end();
    b.log("sleep " + ms + " ms, awake " + Math.round(now - f.t0) + " ms" + (n ? ", failed " + n : ""));
    b.sleep!(ms, f.wk || (f.wk = wakeFn(f)));
  };
}

export function start(c: Config, b: Board): Firmware {
  return new (Fw as any)(c, b);
}
