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
import type { Reading } from "./sensors";

// build flags (build/config.mjs firmwareDefines; undefined in tests: everything is there)
declare const __WS__: boolean, __HA__: boolean, __STORE__: boolean, __TLS__: boolean, __RESTORE__: string, __FOREVER__: boolean;

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
  online(): void;
  next(): void;
  msg(t: string, p: string): void;
  echo(a: Actuator, q?: number): void;
  report(kind: string, name: string, why: string, p?: string | null): void;
  send(o: { [name: string]: Reading }): void;
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

// Storage: written 5 s after the last change, not per command (flash wear: a slider sends many). The
// timer's callback (the clock passes it the firmware).
function save(f: State) {
  f.tm = 0;
  for (var j = 0; j < f.actuators.length; j++) f.b.store.set("a." + f.actuators[j].c.name, "" + f.actuators[j].v);
}

/** The firmware (device builds make it with `new`: no start() of their own). */
export function Fw(this: State, c: Config, b: Board) {
  var f = this, r = typeof __RESTORE__ == "undefined" ? c.restore : __RESTORE__, m: any = c.broker, i: number, s: any, a: Actuator;
  f.c = c;
  f.b = b;
  f.id = c.id || b.id();
  f.base = c.base + "/" + f.id + "/";
  f.actuators = [];
  f.rs = r == "retained" ? 1 : 0;
  f.tc = {};
  f.n = 0;
  f.an = -1;
  f.fn = eventsFn(f);
  // the actuators, each driven to its safe state at once; then the value kept in Storage (restore
  // "storage"), or the retained state topic once connected (restore "retained", in msg())
  for (i = 0; i < c.actuators.length; i++) {
    f.actuators.push(a = { c: c.actuators[i], v: 0, on: 0 });
    drive(a, c.actuators[i].init || 0, b);
    if ((typeof __STORE__ == "undefined" || __STORE__) && r == "storage" && (s = b.store.get("a." + a.c.name)) != null && typeof (s = parse(s, a)) == "number") drive(a, s, b);
  }
  // the client's options: the broker section (host, port, username, password, keepalive, queue) and the rest
  m.transport = (typeof __TLS__ == "undefined" || __TLS__) && m.tls ? b.tls!(m.tls) : b.tcp;
  if ((typeof __WS__ == "undefined" || __WS__) && m.ws) m.transport = wsTransport(m.transport, { path: m.ws });
  m.clock = b.clock;
  m.clientId = f.id;
  m.will = { topic: f.base + "status", payload: "offline", qos: 1, retain: true };
  f.client = new (Client as any)(m);
  f.client.on("error", f.fn);
  f.client.on("message", f.fn);
  f.client.on("connect", f.fn);
  f.client.subscribe(f.base + "cmd/+");
  b.net.on("up", f.fn);
  b.net.start(c.wifi as any);
}

Fw.prototype = {
  online: function () {
    var f = this;
    f.n++;
    f.client.publish(f.base + "status", "online", { retain: true });
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
    if (!f.tl) f.tl = new (Telemetry as any)(f, f.c, f.b); // the sensor loop, its first telemetry at once
  },

  // commands (<base>cmd/<name>), and during the restore the retained states (<base>state/<name>)
  msg: function (t: string, p: any) {
    var f = this, n: string, a: Actuator | undefined, v: number | string, b = f.b, i = 0;
    if (t.indexOf(f.base)) return;
    t = t.substr(f.base.length);
    n = t.substr(t.indexOf("/") + 1); // the name
    for (; i < f.actuators.length && !a; i++) if (f.actuators[i].c.name == n) a = f.actuators[i];
    if (!t.indexOf("cmd/")) {
      p = decodeUtf8(p);
      if (n == "telemetry") return f.tl && f.tl.now(1);
      v = a ? parse(p, a) : "unknown actuator";
      if (typeof v == "string") return f.report("cmd", n, v, p);
      f.tc[n] = 1;
      drive(a!, v, b);
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
    f.client.publish(f.base + "state/" + a.c.name, a.c.type == "pwm" ? "" + a.v : a.v ? "ON" : "OFF", { qos: q, retain: true }, q ? f.fn : undefined);
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
  send: function (o: any) {
    var f = this, d = f.b.diag;
    o.uptime = Math.round(d.uptime());
    o.mem = d.mem();
    o.rssi = d.rssi ? d.rssi() : null;
    o.reconnects = f.n > 1 ? f.n - 1 : 0;
    f.client.publish(f.base + "telemetry", JSON.stringify(o));
  },

} as ThisType<State> & Partial<State>;

// (device builds have no stop: main.ts drops what start() returns)
if (typeof __FOREVER__ == "undefined" || !__FOREVER__) Fw.prototype.stop = function (this: State) {
  var f = this;
  f.st = 1;
  if (f.tl) f.tl.stop();
  // a fired timer's id may be reused: Espruino would clear another
  if (f.tm) f.b.clock.clearTimer(f.tm);
  f.tm = 0;
  f.client.end(true);
};

export function start(c: Config, b: Board): Firmware {
  return new (Fw as any)(c, b);
}
