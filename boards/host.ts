// The Node.js board, for tests, the simulator and benchmarks: real TCP/TLS sockets from Node, pins
// in memory (`hostPins`: tests and the simulator drive inputs and watch outputs), a network that is
// up unless `hostCtl.setNet(false)`, the store in memory or in the JSON file named by MQTT_MCU_STORE,
// the id from MQTT_MCU_ID or the first real MAC address.
// Node modules come from process.getBuiltinModule (Node >= 20.16), else the bundle's require, so this
// file runs under vitest and bundles for Node alike.
import type { Board, Pin, Pins } from "./board";
import { need, timers } from "../src/index";
import { socketTransport } from "../src/net/socket";

function node(m: string): any {
  var p: any = typeof process != "undefined" ? process : null;
  return p && p.getBuiltinModule ? p.getBuiltinModule(m) : need(m);
}

interface Watch { pin: string; fn: (level: boolean) => void; ms: number; last: boolean; t: any }

export interface HostPins {
  /** digital levels: outputs written by the firmware, inputs set with input() */
  level: { [pin: string]: boolean };
  /** modes set by the firmware with pins.mode() */
  mode: { [pin: string]: string };
  /** analog inputs, 0..1 (set by tests / the simulator; read as 0 when unset) */
  analog: { [pin: string]: number };
  /** PWM outputs as written by the firmware */
  pwm: { [pin: string]: { duty: number; freq?: number } };
  /** called after each firmware write: kind "digital" (value boolean) or "pwm" (value = duty) */
  onOutput: ((pin: string, value: boolean | number, kind: string) => void) | null;
  /** drive an input: watchers are called once the level has been stable for their debounce time
   *  (at once with debounce 0), like Espruino's setWatch */
  input(pin: Pin, level: boolean): void;
  /** number of active watches on a pin */
  watching(pin: Pin): number;
  /** forget levels, modes, values, watches and the hook */
  reset(): void;
}

var watches: Watch[] = [];

export const hostPins: HostPins = {
  level: {}, mode: {}, analog: {}, pwm: {}, onOutput: null,
  input: function (pin, v) {
    var p = "" + pin, i: number;
    hostPins.level[p] = v;
    for (i = 0; i < watches.length; i++) if (watches[i].pin == p) settle(watches[i]);
  },
  watching: function (pin) {
    for (var n = 0, i = 0; i < watches.length; i++) if (watches[i].pin == "" + pin) n++;
    return n;
  },
  reset: function () {
    for (var i = 0; i < watches.length; i++) board.clock.clearTimer(watches[i].t);
    watches = [];
    hostPins.level = {}; hostPins.mode = {}; hostPins.analog = {}; hostPins.pwm = {};
    hostPins.onOutput = null;
  },
};

function settle(w: Watch) {
  function fire() {
    var v = !!hostPins.level[w.pin];
    w.t = 0;
    if (v != w.last) { w.last = v; w.fn(v); }
  }
  board.clock.clearTimer(w.t);
  w.t = 0;
  if (w.ms) w.t = board.clock.setTimer(fire, w.ms); else fire();
}

function out(p: string, v: boolean | number, kind: string) {
  if (hostPins.onOutput) hostPins.onOutput(p, v, kind);
}

var pins: Pins = {
  mode: function (p, m) { hostPins.mode[p] = m; },
  write: function (p, v) { hostPins.level[p] = !!v; out("" + p, !!v, "digital"); },
  read: function (p) { return !!hostPins.level[p]; },
  analog: function (p) { return hostPins.analog[p] || 0; },
  pwm: function (p, d, f) { hostPins.pwm[p] = { duty: d, freq: f }; out("" + p, d, "pwm"); },
  watch: function (p, fn, ms) {
    var w: Watch = { pin: "" + p, fn: fn, ms: ms || 0, last: !!hostPins.level[p], t: 0 };
    watches.push(w);
    return w;
  },
  unwatch: function (h) {
    var i = watches.indexOf(h);
    if (i < 0) return;
    board.clock.clearTimer(h.t);
    watches.splice(i, 1);
  },
};

var listeners: { [e: string]: Array<() => void> } = {}, netUp = true;
function emit(e: string) {
  var l = listeners[e] || [];
  for (var i = 0; i < l.length; i++) l[i]();
}

/** Simulation controls: the network, RSSI, temperature, reboots and the log. */
export const hostCtl = {
  /** take the network down (emits "down") or up (emits "up") */
  setNet: function (up: boolean) {
    if (up == netUp) return;
    netUp = up;
    emit(up ? "up" : "down");
  },
  /** what diag.rssi() and temperature() report */
  rssi: null as number | null,
  temperature: null as number | null,
  /** reboot() counts here and calls onReboot (the simulator restarts the firmware there) */
  reboots: 0,
  onReboot: null as (() => void) | null,
  /** battery mode: each sleep's ms; onSleep(ms) is called at each (the emulated sleep then wakes the
   *  firmware after ms) */
  sleeps: [] as number[],
  onSleep: null as ((ms: number) => void) | null,
  /** where board.log goes; default console.log */
  log: function (m: string) { console.log(m); },
};

// ---- store: in memory, or a JSON file named by MQTT_MCU_STORE ----
var data: { [k: string]: string } | null = null;
function storeFile(): string | undefined { return process.env.MQTT_MCU_STORE; }
function load() {
  var f = storeFile();
  if (!data) {
    data = {};
    if (f) try { data = JSON.parse(node("fs").readFileSync(f, "utf8")); } catch (e) {}
  }
  return data!;
}

var madeId = "";
function hostId(): string {
  var nets: any, ks: string[], j: number, i: number, mac: string;
  if (process.env.MQTT_MCU_ID) return process.env.MQTT_MCU_ID;
  if (madeId) return madeId;
  nets = node("os").networkInterfaces();
  ks = Object.keys(nets).sort();
  for (j = 0; j < ks.length; j++) for (i = 0; i < nets[ks[j]].length; i++) {
    mac = nets[ks[j]][i].mac.split(":").join("");
    if (!madeId && !nets[ks[j]][i].internal && mac != "000000000000") madeId = mac;
  }
  if (!madeId) madeId = ("00000000" + Math.floor(Math.random() * 0xffffffff).toString(16)).slice(-8) + "0000";
  return madeId;
}

// TLS errors say what went wrong with the certificate in e.code (UNABLE_TO_VERIFY_LEAF_SIGNATURE,
// ERR_TLS_CERT_ALTNAME_INVALID, ...): put it into the message the client reports
var tlsWithCodes = {
  connect: function (o: any, cb: () => void) {
    var s = node("tls").connect(o, cb);
    s.on("error", function (e: any) {
      if (e && e.code && ("" + e.message).indexOf(e.code) < 0) e.message = "TLS " + e.code + ": " + e.message;
    });
    return s;
  },
};

export const board: Board = {
  name: "host",
  id: hostId,
  net: {
    start: function () { if (netUp) emit("up"); },
    up: function () { return netUp; },
    on: function (e, fn) { (listeners[e] || (listeners[e] = [])).push(fn); },
  },
  tcp: socketTransport({ connect: function (o: any, cb: () => void) { return node("net").connect(o, cb); } }),
  tls: function (o) { return socketTransport(tlsWithCodes, o); },
  clock: timers,
  pins: pins,
  store: {
    get: function (k) { var v = load()[k]; return v == null ? undefined : v; },
    set: function (k, v) {
      var d = load(), f = storeFile();
      d[k] = v;
      if (f) node("fs").writeFileSync(f, JSON.stringify(d, null, 1));
    },
  },
  diag: {
    mem: function () { return node("os").freemem(); },
    rssi: function () { return hostCtl.rssi; },
    uptime: function () { return process.uptime(); },
  },
  temperature: function () { return hostCtl.temperature; },
  reboot: function () {
    hostCtl.reboots++;
    if (hostCtl.onReboot) hostCtl.onReboot();
  },
  log: function (m) { hostCtl.log(m); },
  // an emulated deep sleep: the firmware has stopped everything; it boots again after ms
  sleep: function (ms, wake) {
    hostCtl.sleeps.push(ms);
    if (hostCtl.onSleep) hostCtl.onSleep(ms);
    timers.setTimer(wake, ms);
  },
};
