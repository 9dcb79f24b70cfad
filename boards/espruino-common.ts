// What the Espruino boards (esp32, esp8266, espruino-linux) share: pins, Storage, clock, diagnostics,
// sockets, and the WiFi network of the ESP boards. Each board file picks its parts and stays thin.
// Shaped for Espruino's RAM: a board is one per device, so its state is module-level and its functions
// are module-level (no closures); where an engine function already has the Board's signature it is used
// as it is (digitalWrite, digitalRead, analogRead, Date.now, setTimeout, clearTimeout, E.reboot,
// console.log): a function of ours would be RAM for nothing.
// Espruino does not hoist: every function below is declared before any statement that calls it runs.
import type { Board, Network, NetOptions, Pins } from "./board";
import { socketTransport, tcp } from "../src/net/socket";


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
declare var E: Esp<"E", {}> & { reboot(): void; getTemperature?(): number; defrag?(): void; toString(x: any): string; CRC32(s: string): number };
declare var OneWire: new (pin: any) => any;
declare var process: { memory(): { free: number; blocksize?: number }; env: { MODULES?: string } };
declare var console: { log(m: any): void };
// left by the boot selector of an updatable device (build/ota-image.mjs)
declare var MQS: number;

// Build flags (build/config.mjs firmwareDefines; undefined in tests: everything is there). A custom
// sensor driver (__CUSTOM__) may use any board part, so it keeps them all.
declare const __STORE__: boolean, __TEMPERATURE__: boolean, __DS18B20__: boolean, __CUSTOM__: boolean, __FOREVER__: boolean,
  __PULL__: boolean, __PWM__: boolean, __TLS__: boolean, __SLEEP__: boolean, __OTA__: boolean;

var t0 = getTime();

export var pins: Pins = {
  write: digitalWrite as any,
  read: digitalRead as any, // 0/1
  analog: analogRead as any,
  // Espruino calls `fn` once a level has been stable for `debounce` ms (with its event: the firmware only
  // needs to know there was an edge)
  watch: function (p, fn, ms) { return setWatch(fn as any, p as any, { repeat: true, edge: "both", debounce: ms }); },
} as Pins;
// (the parts only some configs use: left out of builds that do not, where the flags are literals)
// pin names ("D2", "A0") and numbers both work: Espruino looks strings up as pin names; its modes:
// input, input_pullup, input_pulldown, output
if (typeof __PULL__ == "undefined" || __PULL__ || __CUSTOM__) pins.mode = function (p, m) { pinMode(p as any, (m == "in" ? "input" : m == "out" ? "output" : "input_pull" + m) as any, false); };
if (typeof __PWM__ == "undefined" || __PWM__ || __CUSTOM__) pins.pwm = function (p, d, f) { analogWrite(p as any, d, f ? { freq: f } : {}); };
// clearWatch() with no id clears every watch: never pass it an empty handle. (Device builds never
// unwatch.)
if (typeof __FOREVER__ == "undefined" || !__FOREVER__ || __SLEEP__) pins.unwatch = function (h) { if (h) clearWatch(h); };

// ---- the network of Linux boards: the OS owns the link, so it is always up; start() says "up" once ----
var upFns: Array<() => void> = [];
function onUp(e: string, fn: () => void) { if (e == "up") upFns.push(fn); }
// (start() runs while the bundle loads, and the first connect() throws when the broker refuses it: the
// build calls the bundle's outer function with .call(this), so that exception's stack trace does not
// copy the whole bundle's text into RAM; see build/build.mjs)
export var alwaysUp = {
  start: function () { for (var i = 0; i < upFns.length; i++) upFns[i](); },
  on: onUp,
} as any as Network;

// ---- the WiFi of the ESP boards: connect with exponential backoff (1 s doubling to 60 s, plus up to 1 s
// of jitter), "connected"/"disconnected" events as "up"/"down", the MAC as the device id, RSSI ----
var W: any, wUp = false, wOpt: NetOptions = {}, wDelay = 0, wTimer: any = 0;
function wSet(u: boolean) {
  if (u == wUp) return;
  wUp = u;
  if (u) for (var i = 0; i < upFns.length; i++) upFns[i]();
}
function wGo() {
  wTimer = 0;
  if (wOpt.ssid) W.connect(wOpt.ssid, { password: wOpt.password }, wRetry);
}
// (from connect's callback: an error, or none; from "disconnected": 1)
function wRetry(e?: any) {
  if (!e || wTimer || wUp) return;
  wDelay = Math.min(wDelay ? wDelay * 2 : 1000, 60000);
  wTimer = setTimeout(wGo, wDelay + Math.random() * 1000);
}
// "connected" comes with an IP address on Espruino's ESP32 and ESP8266 ports
function wConnected() {
  if (wTimer) clearTimeout(wTimer);
  wTimer = wDelay = 0;
  wSet(true);
}
function wDisconnected() { wSet(false); wRetry(1); }
var wifiNet = {
  start: function (o) {
    var ip = W.getIP();
    wOpt = o || {};
    // after reset() or an upload the link may already be up: no "connected" event will come
    // (the first connect then runs while the bundle loads: see alwaysUp on a refused one)
    if (ip && ip.ip && ip.ip != "0.0.0.0") wSet(true); else wGo();
  },
  on: onUp,
} as Network;
// (the firmware never asks: device builds leave it out, see board.ts)
if (typeof __FOREVER__ == "undefined" || !__FOREVER__) wifiNet.up = function () { return wUp; };
// the firmware asks once, at start
function wId() { return (W.getIP().mac || "").split(":").join("").toLowerCase(); }
function wRssi(): number | null { var d = wUp && W.getDetails(); return d && d.rssi != null ? d.rssi : null; }
/** The ESP boards' WiFi, started once: the board's id (the MAC) and RSSI. */
export function wifi(): Link {
  W = __REQUIRE__("Wifi");
  W.on("connected", wConnected);
  W.on("disconnected", wDisconnected);
  return { net: wifiNet, id: wId, rssi: wRssi };
}

// ---- Storage: one small file per key ("mq." + key), values kept as JSON; unchanged values are not
// rewritten (flash wear) ----
function storeGet(k: string): string | undefined {
  var v = __REQUIRE__("Storage").readJSON("mq." + k, true);
  return v == null ? undefined : "" + v;
}
function storeSet(k: string, v: string) { if (storeGet(k) !== v) __REQUIRE__("Storage").writeJSON("mq." + k, v); }

function mem() { var m = process.memory(); return m.free * (m.blocksize || 16); }
// seconds since this firmware started; getTime() jumps if the app sets the time (setTime/SNTP)
function uptime() { return getTime() - t0; }
function temperature() {
  var c = E.getTemperature ? E.getTemperature() : NaN;
  return c == c ? c : null; // NaN where the chip has no sensor
}
function onewire(p: any) { return new OneWire(p); }
// ca/cert/key: what Espruino's TLS takes (DER bytes, build/config.mjs makes them); it does not verify
// the server (mbedtls runs with verification off in Espruino): see README
// Each TLS connection takes two contiguous ~16.7 KB buffers from the variable store (mbedTLS allocates
// flat strings): a store fragmented by hours of running may hold the room but not in one piece, and
// every reconnection then fails in mbedtls_ssl_setup. E.defrag() first compacts it (where the build has it).
var TLS_DEFRAG = { connect: function (o: any, cb: any) { if (E.defrag) E.defrag(); return __REQUIRE__("tls").connect(o, cb); } };
function tls(o: any) { return socketTransport(TLS_DEFRAG, o); }

// Updates: Espruino's Storage as it is, its crypto's SHA-256 (ESP32, Linux) or SHA-1 (the ESP8266 has no
// other) for the tag, and SHA-256 or E.CRC32 for the digest; each over a whole Storage file, read from
// flash in place (no copy in RAM)
// (some builds have no crypto module: the ESP8266 512 KB and ESP32 IDF4 builds; the update then refuses
// a signed image, it cannot check its tag)
function sha(s: string) { var c = __REQUIRE__("crypto"); return E.toString(c.SHA256 ? c.SHA256(s) : c.SHA1(s)); }

/** The parts that differ between Espruino boards: the network, the id, the RSSI (none: not known), the
 *  deep sleep (Board.sleep). */
export interface Link { net: Network; id(): string; rssi?(): number | null; sleep?(ms: number, wake: () => void): void }

// Battery mode on Linux: an emulated deep sleep (the firmware stopped everything; it boots again after ms)
export function linuxSleep(ms: number, wake: () => void) { setTimeout(wake, ms); }

/** An Espruino board. `withTls` adds TLS sockets from require("tls") (ESP32, Linux builds) when the
 *  config uses TLS. (It runs once: the board object is made at load.) */
export function espruinoBoard(name: string, w: Link, withTls?: boolean): Board {
  var b = {
    name: name,
    id: w.id,
    net: w.net,
    tcp: tcp, // (a closure made by socketTransport would be 12 blocks)
    clock: { now: Date.now, setTimer: setTimeout, clearTimer: clearTimeout }, // as createClient's default: no function of ours
    pins: pins,
    diag: { mem: mem, rssi: w.rssi, uptime: uptime },
    reboot: E.reboot,
    log: console.log,
  } as any as Board;
  if (typeof __STORE__ == "undefined" || __STORE__ || __CUSTOM__) b.store = { get: storeGet, set: storeSet };
  if (typeof __TEMPERATURE__ == "undefined" || __TEMPERATURE__ || __CUSTOM__) b.temperature = temperature;
  if (typeof __DS18B20__ == "undefined" || __DS18B20__ || __CUSTOM__) b.onewire = onewire;
  if (withTls && (typeof __TLS__ == "undefined" || __TLS__)) b.tls = tls;
  if (typeof __SLEEP__ == "undefined" || __SLEEP__) b.sleep = w.sleep;
  if (typeof __OTA__ == "undefined" || __OTA__) {
    // (asked of the list of built-in modules first: no exception at every boot of a build without it)
    var h: any;
    if (("" + (process.env.MODULES || "crypto")).indexOf("crypto") >= 0) try { h = __REQUIRE__("crypto"); } catch (e) { }
    b.ota = { fs: __REQUIRE__("Storage"), s: typeof MQS == "number" ? MQS : -1, hn: h ? (h.SHA256 ? "sha256" : "sha1") : "", hash: sha, dg: h && h.SHA256 ? sha : E.CRC32 };
  }
  return b;
}
