// What the Espruino boards (esp32, esp8266, espruino-linux) share: pins, Storage, clock, diagnostics,
// sockets, and the WiFi network of the ESP boards. Each board file picks its parts and stays thin.
// Espruino does not hoist: every function below is declared before any statement that calls it runs.
import type { Board, Network, NetOptions, Pins } from "./board";
import { need, timers } from "../src/index";
import { socketTransport } from "../src/net/socket";

// Espruino's globals. Under tsconfig.espruino.json these take the @types/espruino declarations
// (`typeof globalThis` has them); under the Node program (tsconfig.json also reads boards/) a loose
// fallback, so the Node program does not get Espruino's globals everywhere.
type G = typeof globalThis;
type Esp<K extends string, Loose> = K extends keyof G ? G[K] : Loose;
declare var digitalWrite: Esp<"digitalWrite", (pin: any, v: boolean) => void>;
declare var digitalRead: Esp<"digitalRead", (pin: any) => number>;
declare var analogRead: Esp<"analogRead", (pin: any) => number>;
declare var analogWrite: Esp<"analogWrite", (pin: any, v: number, o: any) => void>;
declare var pinMode: Esp<"pinMode", (pin: any, mode: any, automatic: boolean) => void>;
declare var setWatch: Esp<"setWatch", (f: (e: any) => any, pin: any, o: any) => any>;
declare var clearWatch: Esp<"clearWatch", (id: any) => void>;
declare var getTime: Esp<"getTime", () => number>;
// not in @types/espruino 1.95
declare var E: Esp<"E", {}> & { reboot(): void; getTemperature?(): number };
declare var OneWire: new (pin: any) => any;
declare var process: { memory(): { free: number; blocksize?: number } };
declare var console: { log(m: any): void };

// Build flags (build/config.mjs firmwareDefines; undefined in tests: everything is there). A custom
// sensor driver (__CUSTOM__) may use any board part, so it keeps them all.
declare const __STORE__: boolean, __TEMPERATURE__: boolean, __DS18B20__: boolean, __CUSTOM__: boolean;

var t0 = getTime();

export var pins: Pins = {
  // pin names ("D2", "A0") and numbers both work: Espruino looks strings up as pin names
  // Espruino's modes: input, input_pullup, input_pulldown, output
  mode: function (p, m) { pinMode(p as any, (m == "in" ? "input" : m == "out" ? "output" : "input_pull" + m) as any, false); },
  write: function (p, v) { digitalWrite(p as any, v); },
  read: function (p) { return !!digitalRead(p as any); },
  analog: function (p) { return analogRead(p as any); },
  pwm: function (p, d, f) { analogWrite(p as any, d, f ? { freq: f } : {}); },
  // Espruino reports a level once it has been stable for `debounce` ms
  watch: function (p, fn, ms) { return setWatch(function (e: any) { fn(!!e.state); }, p as any, { repeat: true, edge: "both", debounce: ms }); },
  // clearWatch() with no id clears every watch: never pass it an empty handle
  unwatch: function (h) { if (h) clearWatch(h); },
};

/** An always-up network (Linux: the OS owns the link). start() emits "up" once. */
export function alwaysUp(): Network {
  var ls: Array<() => void> = [];
  return {
    start: function () { for (var i = 0; i < ls.length; i++) ls[i](); },
    up: function () { return true; },
    on: function (e, fn) { if (e == "up") ls.push(fn); },
  };
}

/** The ESP boards' WiFi: connect with exponential backoff (1 s doubling to 60 s, plus up to 1 s of
 *  jitter), "connected"/"disconnected" events as "up"/"down", the MAC as the device id, RSSI. */
export function wifi(): Link {
  var W = need("Wifi"), isUp = false, ls: { [e: string]: Array<() => void> } = {}, o: NetOptions = {},
    delay = 0, t: any = 0;
  function state(u: boolean) {
    var l = ls[u ? "up" : "down"] || [], i = 0;
    if (u == isUp) return;
    isUp = u;
    for (; i < l.length; i++) l[i]();
  }
  function go() {
    t = 0;
    if (o.ssid) W.connect(o.ssid, { password: o.password }, function (e: any) { if (e) later(); });
  }
  function later() {
    if (t || isUp) return;
    delay = Math.min(delay ? delay * 2 : 1000, 60000);
    t = setTimeout(go, delay + Math.random() * 1000);
  }
  // "connected" comes with an IP address on Espruino's ESP32 and ESP8266 ports
  W.on("connected", function () {
    if (t) clearTimeout(t);
    t = delay = 0;
    state(true);
  });
  W.on("disconnected", function () { state(false); later(); });
  var net: Network = {
    start: function (x) {
      var ip = W.getIP();
      o = x || {};
      // after reset() or an upload the link may already be up: no "connected" event will come
      if (ip && ip.ip && ip.ip != "0.0.0.0") state(true); else go();
    },
    up: function () { return isUp; },
    on: function (e, fn) { (ls[e] || (ls[e] = [])).push(fn); },
  };
  return {
    net: net,
    // the firmware asks once, at start
    id: function () { return (W.getIP().mac || "").split(":").join("").toLowerCase(); },
    rssi: function (): number | null { var d = isUp && W.getDetails(); return d && d.rssi != null ? d.rssi : null; },
  };
}

/** Storage: one small file per key ("mq." + key), values kept as JSON; unchanged values are not
 *  rewritten (flash wear). */
function storage() {
  var S = need("Storage");
  function get(k: string): string | undefined {
    var v = S.readJSON("mq." + k, true);
    return v == null ? undefined : "" + v;
  }
  return {
    get: get,
    set: function (k: string, v: string) { if (get(k) !== v) S.writeJSON("mq." + k, v); },
  };
}

/** The parts that differ between Espruino boards: the network, the id, the RSSI. */
export interface Link { net: Network; id(): string; rssi(): number | null }

/** Assemble an Espruino board. `tls` adds TLS sockets from require("tls") (ESP32, Linux builds). */
export function espruinoBoard(name: string, w: Link, tls?: boolean): Board {
  var b = {
    name: name,
    id: w.id,
    net: w.net,
    tcp: socketTransport(need("net")),
    clock: timers,
    pins: pins,
    diag: {
      mem: function () { var m = process.memory(); return m.free * (m.blocksize || 16); },
      rssi: w.rssi,
      // seconds since this firmware started; getTime() jumps if the app sets the time (setTime/SNTP)
      uptime: function () { return getTime() - t0; },
    },
    reboot: function () { E.reboot(); },
    log: function (m: string) { console.log(m); },
  } as Board;
  // the parts only some configs use: left out of builds that do not (the flags are literals there)
  if (typeof __STORE__ == "undefined" || __STORE__ || __CUSTOM__) b.store = storage();
  if (typeof __TEMPERATURE__ == "undefined" || __TEMPERATURE__ || __CUSTOM__) b.temperature = function () {
    var c = E.getTemperature ? E.getTemperature() : NaN;
    return c == c ? c : null; // NaN where the chip has no sensor
  };
  if (typeof __DS18B20__ == "undefined" || __DS18B20__ || __CUSTOM__) b.onewire = function (p) { return new OneWire(p); };
  // ca/cert/key are DER binary strings (Espruino's mbedtls refuses PEM). Espruino 2v29 parses `ca` but does
  // not verify the server with it (libs/network/network.c: MBEDTLS_SSL_VERIFY_NONE)
  if (tls) b.tls = function (o) { return socketTransport(need("tls"), o); };
  return b;
}
