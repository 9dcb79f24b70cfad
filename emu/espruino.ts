// An emulation of the Espruino API inside QuickJS, for running the BUILT bundles (dist/*.js) in a small,
// memory-capped, non-V8 engine with Espruino's traps in place. Used by test/bundle/*, and meant for the
// simulator (`npm start`), soak tests and benchmarks too.
//
//   import { createEspruino } from "../../emu/espruino";
//   const emu = await createEspruino({ board: "espruino-linux", memoryLimit: 20000 });
//   emu.load(readFileSync("dist/mqtt-mcu.core.js", "utf8"), "mqtt-mcu");    // Modules.addCached
//   emu.eval(`var c = require("mqtt-mcu").createClient({host: "127.0.0.1", port: ${port}}); c.connect();`);
//   await emu.runUntil(() => emu.eval("c.connected"), 5000, "CONNACK");
//   emu.pins.set("D5", 1); emu.pins.get("D12"); emu.memory(); emu.mallocCount();
//   emu.dispose();
//
// ---- What is emulated (and how faithfully) ----------------------------------------------------------
// Engine: QuickJS (quickjs-emscripten RELEASE_SYNC), its wasm patched to count allocations
//   (emu/wasm-alloc.ts). One wasm instance per emulation, so counters are per emulation.
// Language traps (option `strict`, default true):
//   - `Array.prototype.slice` / `.push` and every `String.prototype.*` read as undefined, while `[].slice`,
//     `"".charCodeAt` etc. work: `Array` and `String` are replaced by wrappers whose `.prototype` is a
//     stand-in object inserted into the real prototype chain (so `instanceof` still works).
//   - `e instanceof Error` is false and `new TypeError().name` is undefined (Error wrapper, names deleted).
//   - Map, Set, WeakMap, WeakSet, WeakRef, FinalizationRegistry, Symbol, Proxy, Reflect, BigInt,
//     Object.freeze, Array.from, Array.of, String.raw, String.fromCodePoint are removed.
//   - Strings hold bytes: `String.fromCharCode` keeps the low byte of each code (0x20AC -> 0xAC), as
//     Espruino 2v29 does (ESP builds and, for fromCharCode, the Linux builds too).
//   - espruino-linux (Espruino's Linux builds have ESPR_UNICODE_SUPPORT; the ESP builds do not):
//     `s.charAt(i)` of a byte 0x80..0xFF returns a UTF-8 string there, and `x += it` or concat() appends
//     its 2 UTF-8 bytes (0x82 -> C2 82), while `"a" + it` does not. Here charAt returns those 2 bytes (so
//     += behaves as there; its length is 2, not 1) and a warning is recorded. `s[i]` does the same on
//     Espruino and is NOT emulated; nor are "\u0080".."\u00ff" escapes in literals (UTF-8 strings there:
//     E.toUint8Array gives 2 bytes each; "\x80" escapes are bytes).
//   - typed arrays' subarray(begin, end) does not clamp `end` to the length (Espruino 2v29): the view is
//     end - begin long; past the data it reads 0 (writes there are dropped), and E.toString/E.toUint8Array
//     of it never return. Here: a warning, a real view while it stays inside the ArrayBuffer, else a copy
//     (reads 0 past the data; writes to it are not shared) that E.toString/E.toUint8Array throw on.
//   - NOT emulated: Espruino's lack of hoisting (QuickJS hoists). build/gate.mjs (the bundle gate) checks
//     that statically (test/bundle/gate.test.ts).
// Timers: setTimeout/setInterval/clearTimeout/clearInterval/changeInterval with Espruino's rules: ids are
//   "highest live id + 1" (so ids are REUSED once the timers above them are gone), a timer is removed after
//   its callback ran, `clearTimeout()` / `clearTimeout(undefined)` clears EVERY timer (recorded as a
//   warning), and clearing an unknown id THROWS "Unknown Timeout" / "Unknown Interval".
// Time and the event pump: nothing runs by itself. run(ms) / runUntil(pred, timeoutMs) deliver socket
//   events (FIFO, as Node reports them), fire due timers and run QuickJS's pending jobs, one at a time.
//   Real time (default): timers fire at real times. Fake time (`fakeTime`): the clock stands still while
//   anything happens and jumps to the next timer once no socket event arrived for `settleMs` real ms, so
//   a 60 s keepalive takes milliseconds; while runUntil() waits with no timer before its deadline, the
//   clock runs at real speed (the awaited thing is outside: a broker, a server). Sockets stay real in both
//   modes: use real time for tests that wait on slow outside events (a broker restart).
// Sockets: require("net").connect({host, port}, cb) over real Node sockets.
//   - data arrives as binary strings (one char per byte) on "data", at most 536 bytes an event (Espruino's
//     net->chunkSize, option `chunkSize`); "end" then "close"(false) when the
//     server closes; "close" only when the connection is reset or dropped.
//   - write(string) sends the bytes (a char code > 255 throws and is recorded as a warning: it is a bug);
//     write(Uint8Array | Array | ArrayBuffer | other) sends its TEXT ("65,0,255"), as Espruino does, and
//     records a warning. Writing after "close" throws "This socket is closed"; after end() it is dropped.
//   - A refused connection THROWS "Unable to create socket" from connect(). Node cannot connect
//     synchronously, so for loopback targets the emulation reads /proc/net/tcp{,6} for a LISTEN socket on
//     that port before connecting (so a stopped or restarting broker is refused exactly as on the device;
//     a paused/SIGSTOPped one still accepts, as a real kernel does). Non-loopback targets (and hosts
//     without /proc) cannot be checked: the connection is attempted and a failure shows as "close".
//   - Unknown host names throw "Unable to locate host" (names: "localhost" + option `hosts`).
//   - ESP boards with WiFi down: connect() prints "ERROR: Not connected to the internet" and returns a
//     socket that never opens (what Espruino's networkGetFromVarIfOnline does).
//   - require("tls") (esp32, espruino-linux): the same over Node TLS. {ca, cert, key} are taken as Espruino
//     takes them (libs/network/network.c, its mbedtls has no PEM parser): DER bytes (a binary string, a
//     Uint8Array/ArrayBuffer, or a function returning one); PEM or anything else that is not DER THROWS
//     "HTTPS init failed! mbedtls_x509_crt_parse of 'ca': Invalid format" ('cert'; for the key
//     "... mbedtls_pk_parse_key: Invalid format") from connect(), as there; a string of at most 100 chars
//     is a file name (fs `files`; missing: "WARNING: File ... not found", throws "Could not open file :
//     UNKNOWN"). The server is NEVER verified (Espruino runs mbedtls with MBEDTLS_SSL_VERIFY_NONE): a wrong
//     CA connects. A handshake failure emits "error" {code:-13} then "close". Not emulated: Espruino
//     calls the connect callback at the TCP connect, before the handshake, and sends SNI "mbed TLS Server 1".
// WiFi (esp32, esp8266 only; require("Wifi") throws "Module Wifi not found" on espruino-linux): connect,
//   disconnect, getIP, getDetails, getStatus, save, setHostname..., events associated/connected/
//   disconnected. The station keeps retrying once connect() was called, as the SDK does. Host control:
//   emu.wifi.drop() / emu.wifi.restore() / emu.wifi.state.
// Pins: D0..Dn globals (Pin objects with read/write/set/reset/mode/getMode), digitalWrite/digitalRead/
//   analogRead/analogWrite/pinMode/getPinMode/setWatch/clearWatch, backed by emu.pins (a host-visible
//   table: tests set input levels and analog values, observe outputs, modes, PWM and a log). As on
//   Espruino, digitalRead() of a pin whose mode was not set with pinMode() switches it to input, and
//   digitalWrite() of such a pin switches it to output. setWatch: edge, repeat, debounce (ms); watch ids
//   and clearWatch() follow the timer rules ("Unknown Watch").
// Storage: read/readJSON/readArrayBuffer/write(with offset+size)/writeJSON/erase/eraseAll/list/getFree/
//   getStats/compact over emu.storage (a Map of binary strings; pass `storage` to start with files, or the
//   old emulation's map to "reboot"). Names longer than 28 chars throw. require("fs") on espruino-linux:
//   readdirSync/readFileSync/writeFileSync/existsSync over option `files` (default: /sys/class/net/{lo,eth0}).
// Deep sleep (esp8266: require("ESP8266").deepSleep(us), esp32: ESP32.deepSleep(us)): recorded in
//   emu.sleeps and the emulation halts as for a reboot (see onSleep); the host plays the RTC and boots a
//   new emulation with the same `storage` (and fakeTime start) to wake it.
// Updates (build/ota-image.mjs): E.CRC32, require("crypto").SHA1 (every board) and .SHA256 (not esp8266,
//   whose build has SHA-1 only), each returning what Espruino returns; option onStorage cuts the power
//   in the middle of a Storage write (emu.powerCut).
// E: toString, toUint8Array, toArrayBuffer, getSizeOf (approximate blocks), reboot (recorded; the
//   emulation halts: timers, watches, sockets stop; see onReboot), getTemperature (emu.temperature), hwRand,
//   getErrorFlags, enableWatchdog/kickWatchdog (recorded), on("init"). Globals: getTime() (seconds, float),
//   setTime, getSerial, print, console.log, btoa/atob, process.{version, env, memory(), on("uncaughtException")},
//   Modules.{addCached, removeCached, removeAllCached, getCached}, require, Date/Date.now (emulated clock).
//   OneWire, I2C, SPI, Serial are not emulated (OneWire throws a clear error).
// Memory: QuickJS is not Espruino; its "blocks" are heap allocations of any size. With a memory limit
//   quickjs-emscripten counts 8 bytes per live allocation (malloc_usable_size is unavailable in the wasm)
//   plus the size of the allocation being attempted, so the limit is in effect a cap on live allocations.
//   `memoryLimit` is therefore given in BLOCKS available to the program above the emulation's own baseline
//   (runtime + context + this API), and process.memory() reports {total: memoryLimit, usage: live program
//   blocks, free, blocksize: 16}. The numbers are comparable run to run, not to a real device's JsVars.
//   A single allocation of S bytes also needs about S/8 blocks of headroom. memory() gives the raw QuickJS
//   figures; gc() forces a full QuickJS cycle collection (QuickJS frees acyclic garbage at once by
//   reference counting; cycles wait for its GC); mallocCount() counts allocations MADE (monotonic).
// Uncaught exceptions in callbacks are printed as "Uncaught ..." (emu.console) and collected in
// emu.uncaught, and the emulation carries on, as Espruino does; a callback running longer than
// `cpuLimitMs` is interrupted (an uncaught InternalError). Tests should assert that emu.uncaught and
// emu.warnings are empty.
//
// Use from plain Node (the simulator): this file is TypeScript without enums, namespaces or parameter
// properties, so `node --experimental-strip-types` (Node 22) runs it, or bundle it with esbuild
// (platform node, external quickjs-emscripten).
import { newQuickJSWASMModuleFromVariant, newVariant, RELEASE_SYNC } from "quickjs-emscripten";
import type { QuickJSContext, QuickJSHandle, QuickJSRuntime } from "quickjs-emscripten";
import * as net from "node:net";
import * as tls from "node:tls";
import { readFileSync } from "node:fs";
import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { ALLOC_EXPORTS, allocCountingWasm } from "./wasm-alloc";

export type BoardName = "espruino-linux" | "esp32" | "esp8266";

// CRC-32 as Espruino's E.CRC32 (unsigned)
const CRC_T = new Int32Array(256).map((_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c; });
function crc32(b: Buffer) { let c = -1; for (const x of b) c = CRC_T[(c ^ x) & 255] ^ (c >>> 8); return (c ^ -1) >>> 0; }

export interface EspruinoOptions {
  /** default "espruino-linux" */
  board?: BoardName;
  /** blocks (QuickJS live allocations) the program may hold above the emulation's baseline; default per
   *  board (espruino-linux 200000, esp32 60000, esp8266 20000); 0 = no limit */
  memoryLimit?: number;
  /** fake time: timers run in emulated time that jumps ahead whenever nothing happened for `settleMs`
   *  real ms (default 5); `start` is the emulated Date.now() at creation (default 1700000000000) */
  fakeTime?: boolean | { start?: number; settleMs?: number };
  /** host name -> IPv4 address, for connect(); "localhost" is 127.0.0.1 */
  hosts?: Record<string, string>;
  /** MAC address (WiFi MAC on ESP boards, eth0 on espruino-linux) */
  mac?: string;
  /** ESP boards: the access point. `connected: true` = the board booted with saved WiFi and is already on */
  wifi?: { ssid?: string; password?: string; connected?: boolean; ip?: string; rssi?: number; connectDelayMs?: number };
  /** initial Storage files (binary strings) */
  storage?: Record<string, string> | Map<string, string>;
  /** the size of Storage in bytes (default 1 MB; a 1 MB ESP8266 has 16 KB): files take their length +
   *  32 bytes of header each */
  storageBytes?: number;
  /** called before each Storage write or erase (op "w" / "e", the file, the write's offset or -1 for a
   *  whole file, its bytes): return a number to cut the power there, after that many of its bytes
   *  reached the flash (0: none); the emulation halts as for a reboot (onReboot is not called) */
  onStorage?: (op: string, name: string, off: number, data: string | null) => number | void;
  /** largest "data" event: Espruino reads a socket in chunks of 536 bytes (net->chunkSize) */
  chunkSize?: number;
  /** espruino-linux require("fs") files; directories are implied by the paths */
  files?: Record<string, string>;
  /** board temperature for E.getTemperature(); default 25 */
  temperature?: number;
  /** echo the VM's console to this function (or console.log when true); it is always kept in emu.console */
  console?: boolean | ((line: string) => void);
  /** Espruino's missing built-ins and prototype traps; default true */
  strict?: boolean;
  /** interrupt a callback that runs longer than this (real ms); default 5000 */
  cpuLimitMs?: number;
  /** process.memory() runs a full GC first (as Espruino's does); default true */
  gcOnProcessMemory?: boolean;
  /** called after E.reboot() halted the emulation */
  onReboot?: (emu: Espruino) => void;
  /** called after ESP8266.deepSleep / ESP32.deepSleep halted the emulation, with the sleep in ms */
  onSleep?: (emu: Espruino, ms: number) => void;
}

export interface PinState {
  name: string;
  /** Espruino pin mode ("input", "output", "input_pullup", "opendrain", "analog", "af_output"...) */
  mode: string;
  /** set with pinMode(pin, mode) without `automatic`: reads and writes no longer switch it */
  manual: boolean;
  /** level driven by the MCU (outputs) */
  out: 0 | 1;
  /** level applied from outside (inputs), set by tests */
  input: 0 | 1;
  /** analog input 0..1, set by tests */
  analog: number;
  /** analogWrite() state */
  pwm: { duty: number; freq?: number } | null;
}

export interface PinLogEntry { t: number; pin: string; op: "write" | "pwm" | "mode"; value: number | string }

export interface MemoryFigures {
  /** live QuickJS allocations (malloc_count) and those above the baseline */
  blocks: number; programBlocks: number;
  /** QuickJS memory_used_size (bytes, its estimate) and above the baseline */
  bytes: number; programBytes: number;
  objects: number; strings: number; functions: number; arrays: number;
  /** the cap on programBlocks (0 = none) */
  limitBlocks: number;
  /** what process.memory() reports inside */
  espruino: { free: number; usage: number; total: number; blocksize: number };
}

export interface EmuStats {
  vmCalls: number; timersFired: number; watchesFired: number;
  connects: number; refused: number;
  dataEvents: number; dataBytes: number; writes: number; writeBytes: number;
}

type Ev = { k: number; a?: number | string; b?: number | string | Uint8Array; c?: number | string; d?: number; e?: number };
type Timer = { id: number; due: number; interval: number; vm: boolean; fn?: () => void };
type Watch = { id: number; pin: string; edge: number; debounce: number; repeat: boolean; last: number; lastTime: number; pending: number };
type Sock = { id: number; s: net.Socket | null; open: boolean; ended: boolean; gone: boolean; tls: boolean };

const DEFAULT_LIMIT: Record<BoardName, number> = { "espruino-linux": 200000, esp32: 60000, esp8266: 20000 };
const DEFAULT_MAC: Record<BoardName, string> = { "espruino-linux": "b8:27:eb:00:00:01", esp32: "24:0a:c4:00:00:01", esp8266: "5c:cf:7f:00:00:01" };

function boardPins(b: BoardName): string[] {
  const n = b === "esp32" ? 40 : b === "esp8266" ? 17 : 32, l: string[] = [];
  for (let i = 0; i < n; i++) l.push("D" + i);
  if (b === "esp8266") l.push("A0");
  return l;
}
/** pins whose analogRead works */
function adcPins(b: BoardName): Set<string> {
  if (b === "esp8266") return new Set(["A0"]);
  if (b === "esp32") return new Set(["D32", "D33", "D34", "D35", "D36", "D39", "D0", "D2", "D4", "D12", "D13", "D14", "D15", "D25", "D26", "D27"]);
  return new Set();
}

// ---- is anything listening? (/proc/net/tcp, for the synchronous "Unable to create socket") ----------
function procListening(ip: string, port: number): boolean | null {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const v4 = ip.split(".").map((x) => Number(x).toString(16).toUpperCase().padStart(2, "0")).reverse().join("");
  let seen = false;
  for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try { text = readFileSync(f, "latin1"); } catch { continue; }
    seen = true;
    const lines = text.split("\n");
    for (let i = 1; i < lines.length; i++) {
      const c = lines[i].trim().split(/\s+/);
      if (c.length < 4 || c[3] !== "0A") continue; // LISTEN
      const [addr, p] = c[1].split(":");
      if (p !== hexPort) continue;
      if (addr.length === 8 && (addr === "00000000" || addr === v4)) return true;
      // IPv6: any (::), ::1 for 127.0.0.1, or the v4-mapped address
      if (addr.length === 32 && (/^0+$/.test(addr) || (ip === "127.0.0.1" && addr === "00000000000000000000000001000000") || addr === "0000000000000000FFFF0000" + v4)) return true;
    }
  }
  return seen ? false : null;
}
/** Espruino's ssl_load_cacert / ssl_load_owncert / ssl_load_key (libs/network/network.c): its mbedtls has no PEM
 *  parser, so ca/cert/key must be DER. Returns the error tls.connect() throws there, or the material as PEM
 *  for Node. A cert without a key is parsed but not presented (mbedtls_ssl_conf_own_cert needs the key). */
function tlsMaterial(o: { ca?: string; cert?: string; key?: string; servername?: string }): string | { ca?: string; cert?: string; key?: string; servername?: string } {
  const r: { ca?: string; cert?: string; key?: string; servername?: string } = { servername: o.servername };
  for (const k of ["ca", "cert"] as const) {
    if (o[k] == null) continue;
    const b = Buffer.from(o[k]!, "latin1");
    if (!b.length) return `HTTPS init failed! mbedtls_x509_crt_parse of '${k}': -0x1`;
    try { if (b[0] === 0x30) r[k] = new X509Certificate(b).toString(); } catch {}
    if (!r[k]) return `HTTPS init failed! mbedtls_x509_crt_parse of '${k}': Invalid format`;
  }
  if (o.key != null) {
    const b = Buffer.from(o.key, "latin1");
    if (!b.length) return "HTTPS init failed! mbedtls_pk_parse_key: -0x1";
    if (b[0] === 0x30) for (const type of ["pkcs8", "pkcs1", "sec1"] as const) {
      try { r.key = createPrivateKey({ key: b, format: "der", type }).export({ type: "pkcs8", format: "pem" }) as string; break; } catch {}
    }
    if (!r.key) return "HTTPS init failed! mbedtls_pk_parse_key: Invalid format";
  }
  return r;
}
const isLoopback = (ip: string) => /^127\./.test(ip);
const isIPv4 = (s: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(s);

// ================================================================================================
// The VM side: plain ES5, run once with the host functions object H; returns the dispatcher the host
// calls for every event. It captures the real built-ins before the strict mode hides them.
// ================================================================================================
const PRELUDE = `(function (H, G) {
var RArray = Array, AP = RArray.prototype, RString = String, SP = RString.prototype, OP = Object.prototype,
  fcc = RString.fromCharCode, U8 = Uint8Array, hasOwn = OP.hasOwnProperty, aslice = AP.slice, ajoin = AP.join,
  RDate = Date, REBOOT = { reboot: true }, board = H.board, isView = ArrayBuffer.isView;

function hide(o, k, v) { Object.defineProperty(o, k, { value: v, writable: true, configurable: true }); return v; }
function own(o, k) { return hasOwn.call(o, k); }

// ---- bytes: the host boundary is ArrayBuffers (quickjs-emscripten cuts strings at NUL) ----
function bytesToStr(ab) {
  var u = new U8(ab), n = u.length, s = "", i;
  if (n <= 1024) return fcc.apply(null, u);
  for (i = 0; i < n; i += 1024) s += fcc.apply(null, u.subarray(i, Math.min(i + 1024, n)));
  return s;
}
function strToBuf(s, what) {
  var n = s.length, u = new U8(n), i, c, m;
  for (i = 0; i < n; i++) {
    c = s.charCodeAt(i);
    if (c > 255) {
      m = what + ": character code " + c + " at index " + i + " is not a byte (Espruino strings are bytes: encode UTF-8 first)";
      H.warn(m);
      throw new Error(m);
    }
    u[i] = c;
  }
  return u.buffer;
}
var PAST = "subarray(begin, end) with end past the array's length: Espruino does not clamp end (the view is end - begin long, reads 0 past the data, and E.toString of it never returns): clamp it";
function kindOf(d) { return d instanceof ArrayBuffer ? "ArrayBuffer" : isView(d) ? "Uint8Array" : RArray.isArray(d) ? "Array" : typeof d; }
function asText(d) {
  if (d instanceof ArrayBuffer) return ajoin.call(new U8(d), ",");
  if (d && typeof d == "object" && typeof d.length == "number") return ajoin.call(d, ",");
  return "" + d;
}
// every byte of the arguments of E.toString / E.toUint8Array
function flatBytes(args, out) {
  var i, j, d, n;
  for (i = 0; i < args.length; i++) {
    d = args[i];
    if (typeof d == "string") for (j = 0; j < d.length; j++) out.push(d.charCodeAt(j) & 255);
    else if (typeof d == "number" || typeof d == "boolean") out.push(+d & 255);
    else if (d instanceof ArrayBuffer) flatBytes([new U8(d)], out);
    else if (d && d.__past) { H.warn(PAST); throw new Error("E.toString/E.toUint8Array of a subarray past its data: Espruino never returns from that"); }
    else if (d && typeof d.length == "number") { for (j = 0; j < d.length; j++) flatBytes([d[j]], out); }
    else if (d && typeof d == "object" && d.data !== undefined) { n = d.count === undefined ? 1 : d.count; for (j = 0; j < n; j++) flatBytes([d.data], out); }
  }
  return out;
}

// ---- events ----
function Emitter() {}
Emitter.prototype.on = function (e, f) {
  var m = this.__ev || hide(this, "__ev", {});
  (m[e] || (m[e] = [])).push(f);
  return this;
};
Emitter.prototype.addListener = Emitter.prototype.on;
Emitter.prototype.emit = function (e) {
  var m = this.__ev, l = m && m[e], a, i;
  if (!l || !l.length) return false;
  a = aslice.call(arguments, 1);
  l = l.slice();
  for (i = 0; i < l.length; i++) l[i].apply(this, a);
  return true;
};
Emitter.prototype.removeListener = function (e, f) {
  var l = this.__ev && this.__ev[e], i;
  if (l) for (i = 0; i < l.length; i++) if (l[i] === f) { l.splice(i, 1); break; }
  return this;
};
Emitter.prototype.removeAllListeners = function (e) {
  if (this.__ev) { if (e === undefined) hide(this, "__ev", {}); else delete this.__ev[e]; }
  return this;
};
// one-argument emit without a copy (the data path)
function emit1(o, e, x) {
  var l = o.__ev && o.__ev[e], i;
  if (!l) return false;
  for (i = 0; i < l.length; i++) l[i].call(o, x);
  return l.length > 0;
}

// ---- output and errors ----
function fmt(v) {
  if (typeof v == "string") return v;
  if (typeof v == "function" || v === undefined) return "" + v;
  try { return JSON.stringify(v); } catch (e) { return "" + v; }
}
function log() { var s = "", i; for (i = 0; i < arguments.length; i++) s += (i ? " " : "") + fmt(arguments[i]); H.log(s); }
function errText(e) {
  if (e && typeof e == "object" && e.message !== undefined) return (e.name || "Error") + ": " + e.message + (e.stack ? "\\n" + e.stack : "");
  return fmt(e);
}
var proc = new Emitter();
function uncaught(e) {
  var l = proc.__ev && proc.__ev.uncaughtException;
  if (l && l.length) { try { l[0](e); return; } catch (x) { e = x; } }
  H.uncaught(errText(e));
}

// ---- timers: ids and due times live on the host, callbacks here ----
var tfn = {};
function addTimer(f, ms, args, rep) {
  var id;
  if (typeof f != "function" && typeof f != "string") throw new Error("Function or String not supplied!");
  id = H.timer(+ms || 0, rep ? 1 : 0);
  tfn[id] = { f: f, a: args.length > 2 ? aslice.call(args, 2) : null };
  return id;
}
function clearTimer(id, what) {
  var k;
  if (id === undefined) {
    H.warn(what + "() without an id clears EVERY timer and interval (Espruino)");
    H.untimer(-1);
    for (k in tfn) delete tfn[k];
    return;
  }
  if (!H.untimer(typeof id == "number" || typeof id == "string" ? +id : -2)) throw new Error(what == "clearTimeout" ? "Unknown Timeout" : "Unknown Interval");
  delete tfn[id];
}
function fireTimer(id, repeat) {
  var t = tfn[id];
  if (!t) return;
  try {
    if (typeof t.f == "string") (0, eval)(t.f);
    else if (t.a) t.f.apply(undefined, t.a);
    else t.f();
  } finally {
    if (!repeat && tfn[id] === t) delete tfn[id];
  }
}
G.setTimeout = function (f, ms) { return addTimer(f, ms, arguments, false); };
G.setInterval = function (f, ms) { return addTimer(f, ms, arguments, true); };
G.clearTimeout = function (id) { clearTimer(id, "clearTimeout"); };
G.clearInterval = function (id) { clearTimer(id, "clearInterval"); };
G.changeInterval = function (id, ms) { if (!H.retimer(+id, +ms || 0)) throw new Error("Unknown Interval"); };

// ---- deferred callbacks (Wifi, getIP...): run from the event loop, never synchronously ----
var later = [], cbs = {}, ncb = 0;
function defer(f, a, b) { later.push([f, a, b]); H.kick(); }
function runLater() {
  var l = later, i;
  later = [];
  for (i = 0; i < l.length; i++) { try { l[i][0](l[i][1], l[i][2]); } catch (e) { if (e === REBOOT) return; uncaught(e); } }
}
function keep(f) { if (!f) return 0; cbs[++ncb] = f; return ncb; }
function take(id) { var f = cbs[id]; delete cbs[id]; return f; }

// ---- sockets ----
var socks = {}, nsock = 0;
function Socket(id) { hide(this, "__s", { id: id, closed: false, ended: false, dead: false, cb: null, buf: "" }); }
Socket.prototype = Object.create(Emitter.prototype);
Socket.prototype.constructor = Socket;
Socket.prototype.write = function (d) {
  var st = this.__s, t;
  if (st.closed) throw new Error("This socket is closed");
  if (typeof d != "string") {
    t = asText(d);
    H.warn("socket.write(" + kindOf(d) + ") sent it as the TEXT " + JSON.stringify(t.length > 40 ? t.substring(0, 40) + "..." : t) + ", as Espruino does: pass a binary string (E.toString(bytes))");
    d = t;
  }
  if (st.ended || st.dead) { H.warn("socket.write() after end() or on a socket that never connected: " + d.length + " bytes dropped"); return false; }
  H.write(st.id, strToBuf(d, "socket.write"));
  return true;
};
Socket.prototype.end = function (d) {
  var st = this.__s;
  if (d !== undefined && !st.closed) this.write(d);
  if (!st.closed && !st.ended && !st.dead) { st.ended = true; H.end(st.id); }
};
Socket.prototype.available = function () { return this.__s.buf.length; };
Socket.prototype.read = function (n) {
  var st = this.__s, r;
  n = n || st.buf.length;
  r = st.buf.substring(0, n);
  st.buf = st.buf.substring(n);
  return r;
};
function connect(kind, o, cb) {
  var id, s, r;
  if (!o || typeof o != "object") throw new Error("Expecting Options to be an Object but it was " + typeof o);
  if (cb !== undefined && typeof cb != "function") throw new Error("Expecting Callback Function but got " + typeof cb);
  id = ++nsock;
  s = new Socket(id);
  s.__s.cb = cb || null;
  r = H.connect(kind, id, "" + (o.host || "localhost"), +(o.port || (kind == "tls" ? 443 : 80)),
    kind == "tls" ? JSON.stringify({ ca: certVar(o.ca), cert: certVar(o.cert), key: certVar(o.key), servername: o.servername }) : "");
  if (r == "offline") { s.__s.dead = true; H.log("ERROR: Not connected to the internet"); return s; }
  if (r) throw new Error(r);
  socks[id] = s;
  return s;
}
// what Espruino's decode_certificate_var (libs/network/network.c) hands mbedtls for ca/cert/key: a function's
// result; a string of at most 100 chars is a FILE NAME (the file's PEM body, base64-decoded); else the bytes
function certVar(v) {
  var s, i, j;
  if (v === undefined) return undefined;
  if (typeof v == "function") v = v();
  else if (typeof v == "string" && v.length <= 100) {
    s = H.fs("r", v);
    if (s === undefined) { H.log("WARNING: File " + JSON.stringify(v) + " not found"); throw new Error("Could not open file : UNKNOWN"); }
    s = bytesToStr(s);
    i = s.indexOf("\\n");
    j = s.indexOf("-", i + 1);
    return b64dec(s.substring(i + 1, j < 0 ? s.length : j));
  }
  if (v instanceof ArrayBuffer) return bytesToStr(v);
  if (isView(v)) return bytesToStr(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
  return "" + v;
}
function sockOpen(id) {
  var s = socks[id], cb;
  if (!s) return;
  cb = s.__s.cb;
  s.__s.cb = null;
  if (cb) cb.call(s, s);
  emit1(s, "connect", s);
}
function sockData(id, ab) {
  var s = socks[id], d;
  if (!s) return;
  d = bytesToStr(ab);
  if (!emit1(s, "data", d)) s.__s.buf += d;
}
function sockClose(id, err) {
  var s = socks[id];
  if (!s) return;
  delete socks[id];
  s.__s.closed = true;
  emit1(s, "close", !!err);
}
function sockError(id, code, msg) {
  var s = socks[id];
  if (s) emit1(s, "error", { code: code, message: msg });
}

// ---- pins ----
function Pin(n) { hide(this, "__pin", n); }
Pin.prototype.toString = function () { return this.__pin; };
Pin.prototype.read = function () { return !!H.pin("r", this.__pin, 0, 0); };
Pin.prototype.write = function (v) { H.pin("w", this.__pin, v ? 1 : 0, 0); };
Pin.prototype.set = function () { H.pin("w", this.__pin, 1, 0); };
Pin.prototype.reset = function () { H.pin("w", this.__pin, 0, 0); };
Pin.prototype.toggle = function () { var v = H.pin("o", this.__pin, 0, 0) ? 0 : 1; H.pin("w", this.__pin, v, 0); return !!v; };
Pin.prototype.mode = function (m) { H.pinMode(this.__pin, "" + m, 0); };
Pin.prototype.getMode = function () { return H.pinModeGet(this.__pin); };
Pin.prototype.getInfo = function () { return { num: +this.__pin.substring(1), port: "D" }; };
var pinObjs = {};
function pinName(p) {
  var n = p instanceof Pin ? p.__pin : typeof p == "number" ? "D" + p : typeof p == "string" ? p : null;
  if (n === null || !H.pinOk(n)) throw new Error("Invalid pin: " + fmt(p));
  return n;
}
(function () { var l = JSON.parse(H.pinList()), i; for (i = 0; i < l.length; i++) G[l[i]] = pinObjs[l[i]] = new Pin(l[i]); })();
G.digitalWrite = function (p, v) {
  var i;
  if (RArray.isArray(p)) { for (i = 0; i < p.length; i++) G.digitalWrite(p[i], (v >> (p.length - 1 - i)) & 1); return; }
  H.pin("w", pinName(p), v ? 1 : 0, 0);
};
G.digitalRead = function (p) {
  var i, r = 0;
  if (RArray.isArray(p)) { for (i = 0; i < p.length; i++) r = r << 1 | G.digitalRead(p[i]); return r; }
  return H.pin("r", pinName(p), 0, 0);
};
G.analogRead = function (p) { return H.pin("a", pinName(p), 0, 0); };
G.analogWrite = function (p, v, o) { H.pin("p", pinName(p), +v, o && o.freq ? +o.freq : 0); };
G.digitalPulse = function (p, v, t) { H.pin("w", pinName(p), v ? 1 : 0, 0); H.pin("w", pinName(p), v ? 0 : 1, 0); };
G.pinMode = function (p, m, auto) {
  if (m === undefined) return H.pinModeGet(pinName(p));
  H.pinMode(pinName(p), "" + m, auto ? 1 : 0);
};
G.getPinMode = function (p) { return H.pinModeGet(pinName(p)); };
var wfn = {};
G.setWatch = function (f, p, o) {
  var n = pinName(p), edge = 0, deb = 0, rep = false, id;
  if (typeof f != "function" && typeof f != "string") throw new Error("Function or String not supplied!");
  if (typeof o == "boolean") rep = o;
  else if (o) {
    rep = !!o.repeat;
    edge = o.edge == "rising" || o.edge === 1 ? 1 : o.edge == "falling" || o.edge === -1 ? -1 : 0;
    deb = o.debounce > 0 ? +o.debounce : 0;
  }
  id = H.watch(n, edge, deb, rep ? 1 : 0);
  wfn[id] = { f: f, p: pinObjs[n] || new Pin(n) };
  return id;
};
G.clearWatch = function (id) {
  var k;
  if (id === undefined) { H.unwatch(-1); for (k in wfn) delete wfn[k]; return; }
  if (!H.unwatch(typeof id == "number" || typeof id == "string" ? +id : -2)) throw new Error("Unknown Watch");
  delete wfn[id];
};
function fireWatch(id, state, time, lastTime, repeat) {
  var w = wfn[id];
  if (!w) return;
  if (!repeat) delete wfn[id];
  if (typeof w.f == "string") (0, eval)(w.f);
  else w.f({ state: !!state, time: time, lastTime: lastTime, pin: w.p });
}

// ---- E, process, misc globals ----
var E = new Emitter();
E.toString = function () { var b = flatBytes(arguments, []), s = "", i; for (i = 0; i < b.length; i += 1024) s += fcc.apply(null, b.slice(i, i + 1024)); return s; };
E.toUint8Array = function () { return new U8(flatBytes(arguments, [])); };
E.toArrayBuffer = function (s) { return strToBuf("" + s, "E.toArrayBuffer"); };
E.toJS = function (v) { return JSON.stringify(v); };
function sizeOf(v, depth, seen) {
  var n = 1, k;
  if (typeof v == "string") return 1 + Math.ceil(Math.max(0, v.length - 4) / 12);
  if (typeof v == "function") return 1 + Math.ceil(("" + v).length / 12);
  if (!v || typeof v != "object") return 1;
  if (seen.indexOf(v) >= 0 || depth < 0) return 1;
  seen.push(v);
  if (isView(v)) return 1 + Math.ceil(v.byteLength / 12);
  if (v instanceof ArrayBuffer) return 1 + Math.ceil(v.byteLength / 12);
  for (k in v) if (own(v, k)) n += 1 + sizeOf(v[k], depth - 1, seen);
  return n;
}
E.getSizeOf = function (v, depth) { return sizeOf(v, depth === undefined ? 64 : depth, []); };
E.reboot = function () { H.reboot(); throw REBOOT; };
E.CRC32 = function (d) { return H.crc(strToBuf(typeof d == "string" ? d : E.toString(d), "E.CRC32")); };
E.getTemperature = function () { return H.temp(); };
E.hwRand = function () { return (Math.random() * 4294967296) | 0; };
E.getErrorFlags = function () { return []; };
E.enableWatchdog = function (t, auto) { H.log("[emu] E.enableWatchdog(" + t + ", " + auto + ")"); };
E.kickWatchdog = function () {};
E.setConsole = E.setTimeZone = E.setClock = E.setFlags = E.setUSBHID = function () {};
E.getClock = function () { return board == "esp8266" ? 80e6 : 160e6; };
E.getAnalogVRef = function () { return 3.3; };
E.getFlags = function () { return {}; };
G.E = E;

proc.version = "2v29";
proc.env = { VERSION: "2v29", BOARD: board == "esp32" ? "ESP32" : board == "esp8266" ? "ESP8266" : "LINUX", CONSOLE: "USB",
  // the built-in modules (the ESP8266 4 MB build's crypto has SHA1 only)
  MODULES: board == "espruino-linux" ? "timer,Flash,Storage,heatshrink,fs,net,dgram,tls,http,NetworkJS,TelnetServer,crypto"
    : board == "esp32" ? "Flash,Storage,heatshrink,net,dgram,tls,http,NetworkJS,Wifi,TelnetServer,crypto,neopixel,ESP32"
    : "Flash,Storage,heatshrink,net,dgram,http,NetworkJS,Wifi,ESP8266,TelnetServer,crypto,neopixel" };
proc.memory = function (gc) { return JSON.parse(H.mem(gc === false ? 0 : 1)); };
G.process = proc;
G.console = { log: log, info: log, warn: log, error: log, debug: log, trace: log };
G.print = log;
G.getTime = function () { return H.now() / 1000; };
G.setTime = function (t) { H.setTime(+t); };
G.getSerial = function () { return board == "espruino-linux" ? "ffffffff-ffffffff" : "5ccf7f00-0001"; };
G.reset = G.save = G.load = G.dump = function () { H.warn("reset()/save()/load()/dump() are not emulated"); };
G.trace = function () {};
G.OneWire = function () { throw new Error("OneWire is not emulated (emu/espruino.ts)"); };
var B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
G.btoa = function (s) {
  var o = "", i, n;
  s = "" + s;
  for (i = 0; i < s.length; i += 3) {
    n = s.charCodeAt(i) << 16 | (i + 1 < s.length ? s.charCodeAt(i + 1) << 8 : 0) | (i + 2 < s.length ? s.charCodeAt(i + 2) : 0);
    o += B64.charAt(n >> 18 & 63) + B64.charAt(n >> 12 & 63) + (i + 1 < s.length ? B64.charAt(n >> 6 & 63) : "=") + (i + 2 < s.length ? B64.charAt(n & 63) : "=");
  }
  return o;
};
G.atob = b64dec;
function b64dec(s) {
  var o = "", b = 0, bits = 0, i, v;
  s = ("" + s).replace(/=+$/, "");
  for (i = 0; i < s.length; i++) {
    v = B64.indexOf(s.charAt(i));
    if (v < 0) continue;
    b = b << 6 | v; bits += 6;
    if (bits >= 8) { bits -= 8; o += fcc(b >> bits & 255); }
  }
  return o;
};
var encURI = G.encodeURIComponent;
G.encodeURIComponent = function (s) {
  if (/[^\\u0000-\\u007f]/.test("" + s)) H.warn("encodeURIComponent() of characters >= 0x80 gives wrong results on Espruino");
  return encURI(s);
};
function EDate(a, b, c, d, e, f, g) {
  if (!(this instanceof EDate)) return new RDate(H.now()).toString();
  switch (arguments.length) {
    case 0: return new RDate(H.now());
    case 1: return new RDate(a);
    default: return new RDate(a, b, c === undefined ? 1 : c, d || 0, e || 0, f || 0, g || 0);
  }
}
EDate.prototype = RDate.prototype;
EDate.now = function () { return H.now(); };
EDate.parse = RDate.parse;
EDate.UTC = RDate.UTC;
G.Date = EDate;

// ---- modules ----
var mcache = {}, mfact = {};
var builtin = {
  net: function () { return { connect: function (o, cb) { return connect("net", o, cb); }, createServer: function () { throw new Error("net.createServer is not emulated"); } }; },
  Storage: function () { return Storage; },
  crypto: function () {
    var c = { SHA1: function (d) { return H.hash("sha1", strToBuf(typeof d == "string" ? d : E.toString(d), "crypto.SHA1")); } };
    if (board != "esp8266") c.SHA256 = function (d) { return H.hash("sha256", strToBuf(typeof d == "string" ? d : E.toString(d), "crypto.SHA256")); };
    return c;
  }
};
if (board != "esp8266") builtin.tls = function () { return { connect: function (o, cb) { return connect("tls", o, cb); } }; };
if (board != "espruino-linux") builtin.Wifi = function () { return Wifi; };
if (board == "espruino-linux") builtin.fs = function () { return fs; };
G.require = function (name) {
  var m;
  name = "" + name;
  if (own(mcache, name)) return mcache[name];
  if (own(mfact, name)) {
    m = { exports: {} };
    mcache[name] = m.exports;
    if (typeof mfact[name] == "string") (new Function("exports", "module", mfact[name]))(m.exports, m);
    else mfact[name].call(m.exports, m.exports, m);
    return mcache[name] = m.exports;
  }
  if (own(builtin, name)) return mcache[name] = builtin[name]();
  throw new Error("Module " + name + " not found");
};
G.Modules = {
  addCached: function (n, f) { mfact[n] = f; delete mcache[n]; },
  removeCached: function (n) { delete mfact[n]; delete mcache[n]; },
  removeAllCached: function () { var k; for (k in mfact) delete mfact[k]; for (k in mcache) delete mcache[k]; },
  getCached: function () { var r = [], k; for (k in mcache) r.push(k); return r; }
};

// ---- Storage ----
function fname(n) {
  n = "" + n;
  if (!n.length || n.length > 28) throw new Error("Invalid filename length " + n.length + " (1..28): " + n);
  return n;
}
var Storage = {
  read: function (n, off, len) {
    var ab = H.st("r", fname(n), undefined, off === undefined ? 0 : off | 0, len === undefined ? -1 : len | 0);
    return ab === undefined ? undefined : bytesToStr(ab);
  },
  readJSON: function (n, noExceptions) {
    var s = Storage.read(n);
    if (s === undefined) return undefined;
    try { return JSON.parse(s); } catch (e) { if (noExceptions) return undefined; throw e; }
  },
  readArrayBuffer: function (n) { return H.st("r", fname(n), undefined, 0, -1); },
  write: function (n, d, off, size) {
    var s = typeof d == "string" ? d : E.toString(d);
      var r = H.st("w", fname(n), strToBuf(s, "Storage.write"), off === undefined ? -1 : off | 0, size === undefined ? -1 : size | 0);
    if (r === 2) throw REBOOT;
    if (!r) throw new Error("Not enough free space in Storage for " + n);
    return true;
  },
  writeJSON: function (n, v) { return Storage.write(n, JSON.stringify(v)); },
  erase: function (n) { if (H.st("e", fname(n), undefined, 0, 0) === 2) throw REBOOT; },
  eraseAll: function () { H.st("x", "", undefined, 0, 0); },
  list: function (re) {
    var l = JSON.parse(H.st("l", "", undefined, 0, 0)), r = [], i;
    for (i = 0; i < l.length; i++) if (!re || (typeof re == "string" ? l[i].indexOf(re) >= 0 : re.test(l[i]))) r.push(l[i]);
    return r;
  },
  getFree: function () { return H.st("f", "", undefined, 0, 0); },
  getStats: function () { return JSON.parse(H.st("s", "", undefined, 0, 0)); },
  compact: function () {},
  open: function () { throw new Error("Storage.open (StorageFile) is not emulated"); }
};

// ---- fs (espruino-linux) ----
var fs = {
  readdirSync: function (p) { var r = H.fs("d", "" + p); return r === undefined ? undefined : JSON.parse(r); },
  readFileSync: function (p) { var r = H.fs("r", "" + p); if (r === undefined) throw new Error("Error opening file"); return bytesToStr(r); },
  readFile: function (p) { var r = H.fs("r", "" + p); return r === undefined ? undefined : bytesToStr(r); },
  existsSync: function (p) { return H.fs("e", "" + p) !== undefined; },
  writeFileSync: function (p, d) { H.fs("w", "" + p, strToBuf("" + d, "fs.writeFileSync")); return true; },
  writeFile: function (p, d) { return fs.writeFileSync(p, d); }
};

// ---- Wifi (ESP boards) ----
var Wifi = new Emitter();
function wifiJSON(op, a, cb) {
  var r = JSON.parse(H.wifi(op, a || ""));
  if (cb) defer(cb, r);
  return r;
}
Wifi.connect = function (ssid, o, cb) {
  if (typeof o == "function") { cb = o; o = {}; }
  H.wifi("connect", JSON.stringify({ ssid: "" + ssid, password: o && o.password !== undefined ? "" + o.password : undefined, cb: keep(cb) }));
};
Wifi.disconnect = function (cb) { H.wifi("disconnect", JSON.stringify({ cb: keep(cb) })); };
Wifi.getIP = function (cb) { return wifiJSON("ip", "", cb); };
Wifi.getDetails = function (cb) { return wifiJSON("details", "", cb); };
Wifi.getStatus = function (cb) { return wifiJSON("status", "", cb); };
Wifi.getAPIP = function (cb) { return wifiJSON("apip", "", cb); };
Wifi.getHostname = function (cb) { var h = H.wifi("hostname", ""); if (cb) defer(cb, h); return h; };
Wifi.setHostname = function (h, cb) { H.wifi("sethostname", "" + h); if (cb) defer(cb); };
Wifi.save = Wifi.restore = Wifi.setConfig = Wifi.setSNTP = Wifi.setIP = function () {};
Wifi.startAP = function (s, o, cb) { if (typeof o == "function") cb = o; if (cb) defer(cb, null); };
Wifi.stopAP = function (cb) { if (cb) defer(cb); };
Wifi.scan = function (cb) { if (cb) defer(cb, JSON.parse(H.wifi("scan", ""))); };
function wifiEvent(name, json) { Wifi.emit(name, JSON.parse(json)); }
function wifiCb(id, err) { var f = take(id); if (f) f(err === "" ? null : err); }
if (board == "esp8266") {
  G.NodeMCU = { A0: pinObjs.A0, D0: pinObjs.D16, D1: pinObjs.D5, D2: pinObjs.D4, D3: pinObjs.D0, D4: pinObjs.D2, D5: pinObjs.D14, D6: pinObjs.D12, D7: pinObjs.D13, D8: pinObjs.D15, D9: pinObjs.D3, D10: pinObjs.D1 };
  G.ESP8266 = { getState: function () { return { sdkVersion: "2.2.1", cpuFrequency: 160, freeHeap: 20000, maxCon: 10, flashMap: "4MB:1024/1024" }; }, getFreeFlash: function () { return []; },
    deepSleep: function (us) { deepSleep(us, 4294967295); } };
  builtin.ESP8266 = function () { return G.ESP8266; };
}
if (board == "esp32") G.ESP32 = { getState: function () { return { sdkVersion: "v4.4", freeHeap: 100000, BLE: false, Wifi: true, minHeap: 90000 }; }, setBLE_Debug: function () {}, enableBLE: function () {}, enableWifi: function () {},
  deepSleep: function (us) { deepSleep(us, 2147483647); } };
// deep sleep: the chip is off until its RTC resets it (a boot from scratch); here the emulation halts and
// the host boots a new one (option onSleep). The argument is an integer of microseconds: past what the
// port takes (ESP8266 uint32, ESP32 int) it would wrap, which is recorded as a warning.
function deepSleep(us, max) {
  us = +us;
  if (!(us >= 0) || us > max || us != Math.floor(us)) H.warn("deepSleep(" + us + "): not an integer 0.." + max + " of microseconds");
  H.sleep(us);
  throw REBOOT;
}

// ---- Espruino's missing built-ins and prototype traps ----
if (H.strict) {
  (function () {
    var k, names, i, dA, dS, RError = Error, EP = RError.prototype, kinds = ["Error", "TypeError", "RangeError", "SyntaxError", "ReferenceError", "EvalError", "URIError", "InternalError"];
    // Array.prototype: every method but slice and push; arrays keep them all (real prototype below)
    dA = {};
    names = Object.getOwnPropertyNames(AP);
    for (i = 0; i < names.length; i++) if (names[i] != "slice" && names[i] != "push" && names[i] != "constructor" && names[i] != "length")
      Object.defineProperty(dA, names[i], { value: AP[names[i]], writable: true, configurable: true });
    Object.setPrototypeOf(AP, dA);
    var FA = function Array() { return RArray.apply(null, arguments); };
    FA.prototype = dA;
    FA.isArray = RArray.isArray;
    Object.defineProperty(dA, "constructor", { value: FA, writable: true, configurable: true });
    G.Array = FA;
    // String.prototype: nothing; strings keep their methods
    dS = {};
    Object.setPrototypeOf(SP, dS);
    var FS = function String(v) { var s = arguments.length ? RString(v) : ""; return this instanceof FS ? new RString(s) : s; };
    FS.prototype = dS;
    // Espruino's strings hold bytes: String.fromCharCode keeps the low byte of each code (0x20AC -> 0xAC),
    // so text beyond Latin-1 cannot be made into a JS string there (src/mqtt/utf8.ts WIDE)
    FS.fromCharCode = function fromCharCode() {
      var a = aslice.call(arguments), i;
      for (i = 0; i < a.length; i++) a[i] &= 255;
      return fcc.apply(null, a);
    };
    Object.defineProperty(dS, "constructor", { value: FS, writable: true, configurable: true });
    G.String = FS;
    // errors: instanceof Error is false, .name is undefined
    for (i = 0; i < kinds.length; i++) if (G[kinds[i]]) delete G[kinds[i]].prototype.name;
    var FE = function Error(m) { return arguments.length ? new RError(m) : new RError(); };
    FE.prototype = {};
    G.Error = FE;
    // Linux builds have ESPR_UNICODE_SUPPORT: charAt of a byte 0x80..0xFF returns a UTF-8 string, and
    // appending it (s += c, concat) adds its 2 UTF-8 bytes: the result of charAt here is those bytes
    if (board == "espruino-linux") {
      var charAt = SP.charAt;
      hide(SP, "charAt", function charAt_(i) {
        var c = charAt.call(this, i), n = c.charCodeAt(0);
        if (!(n >= 128 && n < 256)) return c;
        H.warn("charAt() of a byte >= 0x80 gives a UTF-8 string on Espruino's Linux builds: s += it appends 2 bytes (0x82 -> 0xC2 0x82); use substr(i, 1) or charCodeAt(i)");
        return fcc(192 | n >> 6, 128 | n & 63);
      });
    }
    // typed arrays: subarray does not clamp (jswrap_arraybufferview_subarray): the view is end - begin long
    // even past the data. Within the ArrayBuffer it is a real view (it reads the bytes after this one's);
    // past the buffer Espruino reads 0 and drops writes: here a copy, marked, with a warning
    var TA = Object.getPrototypeOf(U8.prototype), tsub = TA.subarray;
    hide(TA, "subarray", function subarray(b, e) {
      var n = this.length, z = this.BYTES_PER_ELEMENT, C = this.constructor, r, k;
      b = +b || 0; b = b < 0 ? Math.ceil(b) : Math.floor(b);
      e = typeof e == "number" ? (e < 0 ? Math.ceil(e) : Math.floor(e)) : n;
      if (b < 0) b += n;
      if (e < 0) e += n;
      if (e < 0) e = 0;
      if (b > e) b = e = 0;
      if (e <= n) return tsub.call(this, b, e);
      H.warn(PAST);
      if (b >= 0 && this.byteOffset + e * z <= this.buffer.byteLength) return new C(this.buffer, this.byteOffset + b * z, e - b);
      r = new C(e - b);
      for (k = Math.max(b, 0); k < n; k++) r[k - b] = this[k];
      hide(r, "__past", true);
      return r;
    });
    names = ["Map", "Set", "WeakMap", "WeakSet", "WeakRef", "FinalizationRegistry", "Symbol", "Proxy", "Reflect", "BigInt", "BigInt64Array", "BigUint64Array", "AggregateError"];
    for (i = 0; i < names.length; i++) delete G[names[i]];
    delete Object.freeze;
    delete RArray.from; delete RArray.of;
  })();
}

return function (k, a, b, c, d, e) {
  try {
    switch (k) {
      case 1: fireTimer(a, b); break;
      case 2: sockOpen(a); break;
      case 3: sockData(a, b); break;
      case 4: var s = socks[a]; if (s) emit1(s, "end"); break;
      case 5: sockClose(a, b); break;
      case 6: sockError(a, b, c); break;
      case 7: fireWatch(a, b, c, d, e); break;
      case 8: wifiEvent(a, b); break;
      case 9: wifiCb(a, b); break;
      case 10: runLater(); break;
      case 11: E.emit("init"); if (typeof G.onInit == "function") G.onInit(); break;
    }
  } catch (x) {
    if (x === REBOOT) return;
    uncaught(x);
  }
};
})`;

// ================================================================================================
// The host side
// ================================================================================================

/** The host-visible pin table. Levels are 0/1. */
export class PinTable {
  readonly log: PinLogEntry[] = [];
  /** called after each output change (digitalWrite, analogWrite, pinMode) */
  onOutput: ((e: PinLogEntry) => void) | null = null;
  private m = new Map<string, PinState>();
  private emu: EspruinoEmu;
  constructor(emu: EspruinoEmu, names: string[]) {
    this.emu = emu;
    for (const n of names) this.m.set(n, { name: n, mode: "", manual: false, out: 0, input: 0, analog: 0, pwm: null });
  }
  private pin(p: string | number): PinState {
    const n = typeof p === "number" ? "D" + p : p, s = this.m.get(n);
    if (!s) throw new Error(`no pin ${p} on this board (${[...this.m.keys()].join(" ")})`);
    return s;
  }
  has(name: string) { return this.m.has(name); }
  names() { return [...this.m.keys()]; }
  /** apply a level from outside (a button, a sensor); watches fire on changes */
  set(p: string | number, level: boolean | number) {
    const s = this.pin(p), before = this.level(s);
    s.input = level ? 1 : 0;
    this.emu.pinChanged(s.name, before, this.level(s));
  }
  /** analog input 0..1 */
  setAnalog(p: string | number, v: number) { this.pin(p).analog = v; }
  /** the pin's level as the MCU would read it (does not change its mode) */
  get(p: string | number): 0 | 1 { return this.level(this.pin(p)); }
  /** the level the MCU drives (0 when it is not an output) */
  output(p: string | number): 0 | 1 { const s = this.pin(p); return isOutput(s.mode) ? s.out : 0; }
  mode(p: string | number) { return this.pin(p).mode; }
  pwm(p: string | number) { return this.pin(p).pwm; }
  state(p: string | number): PinState { return { ...this.pin(p) }; }

  level(s: PinState): 0 | 1 { return isOutput(s.mode) ? s.out : s.input; }
  /** VM side operations */
  vmWrite(n: string, v: number) {
    const s = this.pin(n), before = this.level(s);
    if (!s.manual && !isOutput(s.mode)) s.mode = "output";
    s.out = v ? 1 : 0;
    s.pwm = null;
    this.record(n, "write", s.out);
    this.emu.pinChanged(n, before, this.level(s));
  }
  vmRead(n: string): 0 | 1 {
    const s = this.pin(n), before = this.level(s);
    // Espruino: reading a pin whose mode was not forced makes it an input
    if (!s.manual && !/^input/.test(s.mode)) { s.mode = "input"; this.record(n, "mode", "input"); this.emu.pinChanged(n, before, this.level(s)); }
    return this.level(s);
  }
  vmPwm(n: string, duty: number, freq: number) {
    const s = this.pin(n);
    if (!s.manual) s.mode = "output";
    s.pwm = freq ? { duty, freq } : { duty };
    this.record(n, "pwm", duty);
  }
  vmMode(n: string, mode: string, auto: boolean) {
    const s = this.pin(n), before = this.level(s);
    if (mode === "auto") { s.manual = false; s.mode = ""; } else { s.mode = mode; s.manual = !auto; }
    this.record(n, "mode", mode);
    this.emu.pinChanged(n, before, this.level(s));
  }
  private record(pin: string, op: PinLogEntry["op"], value: number | string) {
    const e = { t: this.emu.now(), pin, op, value };
    this.log.push(e);
    if (this.log.length > 10000) this.log.splice(0, 5000);
    if (this.onOutput) this.onOutput(e);
  }
}
function isOutput(mode: string) { return mode === "output" || mode === "opendrain" || mode === "af_output" || mode === "af_opendrain"; }

export interface WifiState {
  /** the access point is reachable */
  available: boolean;
  /** the station has an IP */
  connected: boolean;
  /** connect() was called and disconnect() was not: the station keeps retrying */
  wanted: boolean;
  ssid: string; password: string | undefined; ip: string; rssi: number; hostname: string;
  /** the AP's credentials; a different password gives "Bad password", a different ssid never connects */
  ap: { ssid?: string; password?: string };
  connectDelayMs: number;
}

/** An Espruino board emulated in QuickJS. */
export interface Espruino {
  readonly board: BoardName;
  readonly vm: QuickJSContext;
  readonly runtime: QuickJSRuntime;
  readonly pins: PinTable;
  readonly storage: Map<string, string>;
  /** Storage's size in bytes (option storageBytes) */
  readonly storageTotal: number;
  /** the power was cut during a Storage write or erase (option onStorage): the emulation halted */
  readonly powerCut: boolean;
  readonly wifi: { state: WifiState; drop(reason?: string): void; restore(): void };
  /** every console line of the VM (console.log, print, "Uncaught ...") */
  readonly console: string[];
  /** uncaught exceptions (text with stack) */
  readonly uncaught: string[];
  /** Espruino traps the bundle ran into (typed arrays written as text, clearTimeout() without id...) */
  readonly warnings: string[];
  /** E.reboot() calls (emulated times, ms) */
  readonly reboots: number[];
  /** ESP8266.deepSleep / ESP32.deepSleep calls: when (emulated ms) and for how long (ms) */
  readonly sleeps: { at: number; ms: number }[];
  readonly stats: EmuStats;
  /** set to an array to have the size of every delivered data event appended (allocation benchmarks) */
  dataSizes: number[] | null;
  temperature: number;
  /** load code: as a module for require(name) (Modules.addCached), or as the program (global script) */
  load(code: string, asModule?: string): void;
  /** evaluate in the global scope and return the value (JSON-able values; functions as undefined) */
  eval<T = any>(code: string): T;
  /** run E.on("init") handlers and onInit(), as a board does at boot from flash */
  init(): void;
  /** the emulated clock, ms */
  now(): number;
  /** pump events and timers for `ms` (emulated ms with fakeTime) */
  run(ms: number): Promise<void>;
  /** pump until pred() is true; throws after timeoutMs (emulated ms with fakeTime) with `what` in the message */
  runUntil(pred: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** QuickJS memory figures (allocates inside the VM: read mallocCount() first) */
  memory(): MemoryFigures;
  /** allocations made so far (monotonic); mallocBytes() their requested bytes; frees() the frees */
  mallocCount(): number;
  mallocBytes(): number;
  frees(): number;
  /** a full QuickJS garbage collection (cycles); returns the live blocks freed */
  gc(): number;
  /** close every socket as a network failure would (the VM sees "close") */
  dropConnections(): void;
  /** sockets the VM has open on the host */
  openSockets(): number;
  halted: boolean;
  dispose(): void;
}

/** Create an emulated board. */
export async function createEspruino(o: EspruinoOptions = {}): Promise<Espruino> {
  const e = new EspruinoEmu(o);
  await e.init0();
  return e;
}

class EspruinoEmu implements Espruino {
  readonly board: BoardName;
  vm!: QuickJSContext;
  runtime!: QuickJSRuntime;
  readonly pins: PinTable;
  readonly storage: Map<string, string>;
  readonly storageTotal: number;
  powerCut = false;
  readonly console: string[] = [];
  readonly uncaught: string[] = [];
  readonly warnings: string[] = [];
  readonly reboots: number[] = [];
  readonly sleeps: { at: number; ms: number }[] = [];
  readonly stats: EmuStats = { vmCalls: 0, timersFired: 0, watchesFired: 0, connects: 0, refused: 0, dataEvents: 0, dataBytes: 0, writes: 0, writeBytes: 0 };
  dataSizes: number[] | null = null;
  temperature: number;
  halted = false;
  wifi: { state: WifiState; drop(reason?: string): void; restore(): void };

  private o: EspruinoOptions;
  private fake: boolean;
  private settleMs: number;
  private clock: number;
  private clockOffset = 0;
  private limitBlocks: number;
  private baseBlocks = 0;
  private baseBytes = 0;
  private counters: any = null;
  private dispatchFn: QuickJSHandle | null = null;
  private queue: Ev[] = [];
  private waiter: (() => void) | null = null;
  private timers = new Map<number, Timer>();
  private watches = new Map<number, Watch>();
  private socks = new Map<number, Sock>();
  private files: Map<string, string>;
  private adc: Set<string>;
  private deadline = 0;
  private chunkSize: number;
  private mac: string;
  private disposed = false;
  private echo: ((l: string) => void) | null;

  constructor(o: EspruinoOptions) {
    this.o = o;
    this.board = o.board || "espruino-linux";
    if (!DEFAULT_LIMIT[this.board]) throw new Error(`unknown board "${o.board}": espruino-linux, esp32 or esp8266`);
    const ft = o.fakeTime;
    this.fake = !!ft;
    this.settleMs = typeof ft === "object" && ft.settleMs != null ? ft.settleMs : 5;
    this.clock = typeof ft === "object" && ft.start != null ? ft.start : 1700000000000;
    this.limitBlocks = o.memoryLimit == null ? DEFAULT_LIMIT[this.board] : o.memoryLimit;
    this.chunkSize = o.chunkSize || 536;
    this.pins = new PinTable(this, boardPins(this.board));
    this.adc = adcPins(this.board);
    this.storage = o.storage instanceof Map ? o.storage : new Map(Object.entries(o.storage || {}));
    this.storageTotal = o.storageBytes || 1 << 20;
    this.temperature = o.temperature == null ? 25 : o.temperature;
    this.echo = typeof o.console === "function" ? o.console : o.console ? (l: string) => console.log("[espruino] " + l) : null;
    const mac = o.mac || DEFAULT_MAC[this.board];
    this.files = new Map(Object.entries(o.files || { "/sys/class/net/lo/address": "00:00:00:00:00:00\n", "/sys/class/net/eth0/address": mac + "\n" }));
    const w = o.wifi || {};
    const state: WifiState = {
      available: true, connected: false, wanted: false, ssid: "", password: undefined,
      ip: w.ip || "192.168.1.50", rssi: w.rssi == null ? -60 : w.rssi, hostname: "espruino",
      ap: { ssid: w.ssid, password: w.password }, connectDelayMs: w.connectDelayMs == null ? 200 : w.connectDelayMs,
    };
    if (w.connected) { state.connected = state.wanted = true; state.ssid = w.ssid || "emulated-ap"; state.password = w.password; }
    this.wifi = {
      state,
      drop: (reason = "beacon_timeout") => this.wifiDrop(reason),
      restore: () => { state.available = true; if (state.wanted && !state.connected) this.wifiTry(); },
    };
    this.mac = mac;
  }

  // ---- setup ----
  async init0() {
    const mod = allocCountingWasm();
    const Q = await newQuickJSWASMModuleFromVariant(newVariant(RELEASE_SYNC, {
      emscriptenModule: {
        instantiateWasm: (imports: WebAssembly.Imports, ok: (i: WebAssembly.Instance, m: WebAssembly.Module) => void) => {
          WebAssembly.instantiate(mod, imports).then((inst) => { this.counters = inst.exports; ok(inst, mod); });
          return {};
        },
      } as any,
    }));
    this.runtime = Q.newRuntime();
    this.vm = this.runtime.newContext();
    this.runtime.setInterruptHandler(() => this.deadline > 0 && Date.now() > this.deadline);
    this.usage(); // creates quickjs-emscripten's system context now, so it is part of the baseline
    const vm = this.vm, H = vm.newObject();
    const fn = (name: string, f: (...a: QuickJSHandle[]) => QuickJSHandle | void) => {
      const h = vm.newFunction(name, f as any);
      vm.setProp(H, name, h);
      h.dispose();
    };
    const str = (h: QuickJSHandle) => vm.getString(h);
    const num = (h: QuickJSHandle) => vm.getNumber(h);
    const bytes = (h: QuickJSHandle) => { const l = vm.getArrayBuffer(h); const b = Buffer.from(l.value); l.dispose(); return b; };
    const ab = (b: Buffer) => vm.newArrayBuffer(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
    vm.setProp(H, "board", vm.newString(this.board));
    vm.setProp(H, "strict", this.o.strict === false ? vm.false : vm.true);

    fn("now", () => vm.newNumber(this.now()));
    fn("setTime", (t) => { this.clockOffset += num(t) * 1000 - this.now(); });
    fn("timer", (ms, rep) => vm.newNumber(this.addTimer(Math.max(num(ms), 0.1), num(rep) ? Math.max(num(ms), 0.1) : 0, true)));
    fn("untimer", (id) => (this.removeTimer(num(id)) ? vm.true : vm.false));
    fn("retimer", (id, ms) => {
      const t = this.timers.get(num(id));
      if (!t || !t.vm || !t.interval) return vm.false;
      t.interval = Math.max(num(ms), 0.1);
      t.due = this.now() + t.interval;
      return vm.true;
    });
    fn("kick", () => { this.push({ k: 10 }); });
    fn("log", (s) => { this.print(str(s)); });
    fn("warn", (s) => { this.warn(str(s)); });
    fn("uncaught", (s) => { this.uncaught.push(str(s)); this.print("Uncaught " + str(s)); });
    fn("connect", (kind, id, host, port, opts) => vm.newString(this.connect(str(kind), num(id), str(host), num(port), str(opts))));
    fn("write", (id, data) => { this.write(num(id), bytes(data)); });
    fn("end", (id) => { this.end(num(id)); });
    fn("mem", (gc) => vm.newString(JSON.stringify(this.processMemory(!!num(gc)))));
    fn("pinList", () => vm.newString(JSON.stringify(this.pins.names())));
    fn("pinOk", (n) => (this.pins.has(str(n)) ? vm.true : vm.false));
    fn("pin", (op, n, v, x) => vm.newNumber(this.pinOp(str(op), str(n), num(v), num(x))));
    fn("pinMode", (n, m, auto) => { this.pins.vmMode(str(n), str(m), !!num(auto)); });
    fn("pinModeGet", (n) => vm.newString(this.pins.mode(str(n)) || "input"));
    fn("watch", (n, edge, deb, rep) => vm.newNumber(this.addWatch(str(n), num(edge), num(deb), !!num(rep))));
    fn("unwatch", (id) => (this.removeWatch(num(id)) ? vm.true : vm.false));
    fn("st", (op, n, data, off, size) => {
      const r = this.storageOp(str(op), str(n), vm.typeof(data) === "undefined" ? null : bytes(data), num(off), num(size));
      if (r === undefined) return vm.undefined;
      if (typeof r === "string") return vm.newString(r);
      if (typeof r === "number") return vm.newNumber(r);
      if (typeof r === "boolean") return r ? vm.true : vm.false;
      return ab(r);
    });
    fn("fs", (op, p, data) => {
      const o = str(op), path = str(p);
      if (o === "r") { const f = this.files.get(path); return f === undefined ? vm.undefined : ab(Buffer.from(f, "latin1")); }
      if (o === "e") return this.files.has(path) || this.dirList(path) ? vm.true : vm.undefined;
      if (o === "d") { const l = this.dirList(path); return l ? vm.newString(JSON.stringify(l)) : vm.undefined; }
      if (o === "w") { this.files.set(path, bytes(data).toString("latin1")); return vm.true; }
      return vm.undefined;
    });
    fn("wifi", (op, arg) => vm.newString(this.wifiOp(str(op), str(arg))));
    fn("reboot", () => { this.reboot(); });
    // (the data as bytes: a string would cross from QuickJS cut at its first NUL, and an update key XOR
    // HMAC's pads has one wherever the key has a "6" or a "\\")
    fn("hash", (alg, d) => ab(createHash(str(alg)).update(bytes(d)).digest()));
    fn("crc", (d) => vm.newNumber(crc32(bytes(d))));
    fn("sleep", (us) => { this.deepSleep(num(us) / 1000); });
    fn("temp", () => vm.newNumber(this.temperature));

    vm.setProp(vm.global, "__espruinoHost", H);
    H.dispose();
    const r = vm.evalCode(PRELUDE + "(__espruinoHost, this)", "espruino-emu-prelude.js");
    const d = vm.evalCode("delete this.__espruinoHost");
    (d.error || d.value).dispose();
    if (r.error) { const e = vm.dump(r.error); r.error.dispose(); throw new Error("espruino-emu prelude: " + JSON.stringify(e)); }
    this.dispatchFn = r.value;
    this.baseline();
  }

  private baseline() {
    this.gc();
    const u = this.usage();
    this.baseBlocks = u.malloc_count;
    this.baseBytes = u.memory_used_size;
    this.runtime.setMemoryLimit(this.limitBlocks ? (this.baseBlocks + this.limitBlocks) * 8 : -1);
  }

  // ---- public API ----
  load(code: string, asModule?: string) {
    const src = asModule
      ? `Modules.addCached(${JSON.stringify(asModule)}, function (exports, module) {${code}\n});`
      : code;
    // a module runs at its first require(), as on Espruino
    this.evalRaw(src, asModule ? asModule + ".js" : "program.js");
  }

  eval<T = any>(code: string): T { return this.evalRaw(code, "eval.js") as T; }

  private evalRaw(code: string, file: string): any {
    this.alive();
    this.deadline = Date.now() + (this.o.cpuLimitMs || 5000);
    let r;
    try { r = this.vm.evalCode(code, file); } finally { this.deadline = 0; }
    if (r.error) {
      const e = this.vm.dump(r.error);
      r.error.dispose();
      // E.reboot() or a power cut (onStorage) while the code loads (a boot selector's top level): the
      // emulation halted, as Espruino would; not an error of the code
      if (this.halted && e && e.reboot === true) return undefined;
      this.jobs();
      const msg = e && typeof e === "object" ? `${e.name || "Error"}: ${e.message}\n${e.stack || ""}` : String(e);
      throw new Error(`${file}: ${msg}`);
    }
    const v = this.vm.typeof(r.value) === "function" ? undefined : this.vm.dump(r.value);
    r.value.dispose();
    this.jobs();
    return v;
  }

  init() { this.call({ k: 11 }); }

  now() { return (this.fake ? this.clock : Date.now()) + this.clockOffset; }

  async run(ms: number) { await this.loop(this.now() + ms, null); }

  async runUntil(pred: () => boolean, timeoutMs = 10000, what = "condition") {
    if (!(await this.loop(this.now() + timeoutMs, pred))) {
      const tail = this.console.slice(-8).join("\n  ");
      throw new Error(`runUntil: ${what} not reached within ${timeoutMs} ms (${this.fake ? "emulated" : "real"} time)` +
        (this.uncaught.length ? `\nuncaught:\n  ${this.uncaught.join("\n  ")}` : "") + (tail ? `\nlast console lines:\n  ${tail}` : ""));
    }
  }

  memory(): MemoryFigures {
    const u = this.usage();
    return {
      blocks: u.malloc_count, programBlocks: u.malloc_count - this.baseBlocks,
      bytes: u.memory_used_size, programBytes: u.memory_used_size - this.baseBytes,
      objects: u.obj_count, strings: u.str_count, functions: u.js_func_count, arrays: u.array_count,
      limitBlocks: this.limitBlocks,
      espruino: this.processMemory(false),
    };
  }

  mallocCount() { return this.counters[ALLOC_EXPORTS.mallocs].value >>> 0; }
  mallocBytes() { return this.counters[ALLOC_EXPORTS.mallocBytes].value >>> 0; }
  frees() { return this.counters[ALLOC_EXPORTS.frees].value >>> 0; }

  /**
   * QuickJS exposes no GC call to the host. Its GC runs when, at an object allocation, the heap size
   * (here 8 bytes a block) is above a threshold (256 KiB at first, then 1.5x the heap after each GC).
   * So: make a garbage cycle that holds enough strings to pass any threshold, then allocate an object.
   * The GC frees the cycle and every other unreachable cycle, and resets the threshold to 1.5x the live
   * heap. Verified by the live block count; retried with more strings if the threshold was higher.
   */
  gc(): number {
    const before = this.usage().malloc_count;
    this.runtime.setMemoryLimit(-1);
    try {
      for (let n = 40000 + 2 * before, i = 0; i < 6; i++, n *= 2) {
        const r = this.vm.evalCode(`(function(){var s=[],i;s.s=s;for(i=0;i<${n};i++)s[i]="g"+i;})();({});`, "gc.js");
        if (r.error) { r.error.dispose(); break; }
        r.value.dispose();
        if (this.usage().malloc_count < before + n / 2) break; // the cycle (n strings) is gone
      }
    } finally {
      if (this.baseBlocks) this.runtime.setMemoryLimit(this.limitBlocks ? (this.baseBlocks + this.limitBlocks) * 8 : -1);
    }
    return before - this.usage().malloc_count;
  }

  dropConnections() {
    for (const s of this.socks.values()) if (!s.gone) this.kill(s, true);
  }

  openSockets() { let n = 0; for (const s of this.socks.values()) if (!s.gone) n++; return n; }

  dispose() {
    if (this.disposed) return;
    this.halt();
    this.disposed = true;
    if (this.waiter) { const w = this.waiter; this.waiter = null; w(); }
    try { this.dispatchFn?.dispose(); } catch {}
    try { this.vm.dispose(); } catch {}
    try { this.runtime.dispose(); } catch {}
  }

  // ---- internals: VM calls ----
  private alive() { if (this.disposed) throw new Error("espruino-emu: used after dispose()"); }

  private usage(): any {
    const h = this.runtime.computeMemoryUsage(), ctx = (this.runtime as any).getSystemContext() as QuickJSContext;
    const u = ctx.dump(h);
    h.dispose();
    return u;
  }

  private processMemory(gc: boolean) {
    if (gc && this.o.gcOnProcessMemory !== false) this.gc();
    const u = this.usage(), usage = Math.max(0, u.malloc_count - this.baseBlocks), total = this.limitBlocks || 1e9;
    return { free: Math.max(0, total - usage), usage, total, history: 0, gc: 0, gctime: 0, blocksize: 16 };
  }

  private jobs() {
    if (this.runtime.hasPendingJob()) {
      const r = this.runtime.executePendingJobs();
      if (r.error) { const e = this.vm.dump(r.error); r.error.dispose(); this.uncaught.push("(promise job) " + JSON.stringify(e)); }
    }
  }

  private call(ev: Ev) {
    if (this.halted || this.disposed) return;
    const vm = this.vm, args: QuickJSHandle[] = [vm.newNumber(ev.k)];
    for (const x of [ev.a, ev.b, ev.c, ev.d, ev.e]) {
      if (x === undefined) args.push(vm.undefined);
      else if (typeof x === "number") args.push(vm.newNumber(x));
      else if (typeof x === "string") args.push(vm.newString(x));
      else args.push(vm.newArrayBuffer(x.buffer.slice(x.byteOffset, x.byteOffset + x.length)));
    }
    this.stats.vmCalls++;
    this.deadline = Date.now() + (this.o.cpuLimitMs || 5000);
    let r;
    try { r = vm.callFunction(this.dispatchFn!, vm.undefined, ...args); } finally {
      this.deadline = 0;
      for (const h of args) if (h.alive && h !== vm.undefined) h.dispose();
    }
    if (r.error) {
      const e = vm.dump(r.error);
      r.error.dispose();
      const msg = e && typeof e === "object" ? `${e.name}: ${e.message}\n${e.stack || ""}` : String(e);
      this.uncaught.push(msg);
      this.print("Uncaught " + msg);
    } else r.value.dispose();
    this.jobs();
  }

  private print(l: string) {
    this.console.push(l);
    if (this.console.length > 20000) this.console.splice(0, 10000);
    if (this.echo) this.echo(l);
  }
  private warn(m: string) {
    if (!this.warnings.includes(m)) this.warnings.push(m);
    this.print("WARNING: " + m);
  }

  private push(ev: Ev) {
    this.queue.push(ev);
    if (this.waiter) { const w = this.waiter; this.waiter = null; w(); }
  }

  // ---- the event pump ----
  private step(): boolean {
    if (this.halted) { this.queue.length = 0; return false; }
    const ev = this.queue.shift();
    if (ev) { this.deliver(ev); return true; }
    let first: Timer | null = null;
    for (const t of this.timers.values()) if (!first || t.due < first.due || (t.due === first.due && t.id < first.id)) first = t;
    if (first && first.due <= this.now()) { this.fire(first); return true; }
    return false;
  }

  private nextDue(): number {
    let d = Infinity;
    for (const t of this.timers.values()) if (t.due < d) d = t.due;
    return d;
  }

  private async loop(end: number, pred: (() => boolean) | null): Promise<boolean> {
    let spins = 0;
    for (;;) {
      this.alive();
      if (pred && pred()) return true;
      if (this.step()) {
        if (++spins % 8 === 0) await new Promise<void>((r) => setImmediate(r));
        continue;
      }
      const now = this.now();
      if (now >= end) return pred ? !!pred() : true;
      const timer = this.nextDue(), next = Math.min(timer, end);
      // a predicate may watch the host (a broker, a server): look again every 10 ms
      if (!this.fake) {
        await this.waitIO(Math.max(0, Math.min(next - now, pred ? 10 : Infinity)));
      } else if (timer < end || !pred) {
        // nothing happened for settleMs: jump to the next timer (or the end)
        const io = await this.waitIO(this.settleMs);
        if (!io && !this.queue.length) this.clock = Math.max(this.clock, next - this.clockOffset);
      } else {
        // waiting for something with no timer before the deadline: the clock runs at real speed
        const t0 = Date.now();
        await this.waitIO(10);
        this.clock += Date.now() - t0;
      }
    }
  }

  /** resolves true when an event arrived, false after ms */
  private waitIO(ms: number): Promise<boolean> {
    if (this.queue.length) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.waiter = null; resolve(false); }, ms);
      this.waiter = () => { clearTimeout(t); resolve(true); };
    });
  }

  private deliver(ev: Ev) {
    if (ev.k === 3) {
      const n = (ev.b as Uint8Array).length;
      this.stats.dataEvents++;
      this.stats.dataBytes += n;
      if (this.dataSizes) this.dataSizes.push(n);
    }
    this.call(ev);
  }

  // ---- timers (VM timers and host ones, e.g. watch debounce, share Espruino's id space) ----
  private addTimer(ms: number, interval: number, vm: boolean, fn?: () => void): number {
    let id = 0;
    for (const k of this.timers.keys()) if (k > id) id = k;
    id = id ? id + 1 : 1;
    this.timers.set(id, { id, due: this.now() + ms, interval, vm, fn });
    return id;
  }
  private removeTimer(id: number): boolean {
    if (id === -1) { for (const [k, t] of this.timers) if (t.vm) this.timers.delete(k); return true; }
    const t = this.timers.get(id);
    if (!t || !t.vm) return false;
    this.timers.delete(id);
    return true;
  }
  private fire(t: Timer) {
    this.stats.timersFired++;
    if (t.fn) t.fn();
    else this.call({ k: 1, a: t.id, b: t.interval ? 1 : 0 });
    // removed after the callback ran (it may have cleared itself, or been replaced)
    if (this.timers.get(t.id) === t) {
      if (t.interval) t.due += t.interval;
      else this.timers.delete(t.id);
    }
  }

  // ---- pins and watches ----
  private pinOp(op: string, n: string, v: number, x: number): number {
    switch (op) {
      case "w": this.pins.vmWrite(n, v); return 0;
      case "r": return this.pins.vmRead(n);
      case "o": return this.pins.output(n);
      case "a":
        if (!this.adc.has(n)) { this.warn(`analogRead(${n}): not an ADC pin on ${this.board}`); return NaN; }
        return this.pins.state(n).analog;
      case "p": this.pins.vmPwm(n, v, x); return 0;
    }
    return 0;
  }
  private addWatch(pin: string, edge: number, debounce: number, repeat: boolean): number {
    let id = 0;
    for (const k of this.watches.keys()) if (k > id) id = k;
    id = id ? id + 1 : 1;
    this.watches.set(id, { id, pin, edge, debounce, repeat, last: this.pins.get(pin), lastTime: this.now() / 1000, pending: 0 });
    return id;
  }
  private removeWatch(id: number): boolean {
    if (id === -1) { for (const w of this.watches.values()) if (w.pending) this.timers.delete(w.pending); this.watches.clear(); return true; }
    const w = this.watches.get(id);
    if (!w) return false;
    if (w.pending) this.timers.delete(w.pending);
    this.watches.delete(id);
    return true;
  }
  /** a pin's level changed (from the host or the VM) */
  pinChanged(pin: string, before: number, after: number) {
    if (before === after) return;
    for (const w of this.watches.values()) {
      if (w.pin !== pin) continue;
      if (!w.debounce) { this.watchEdge(w, after); continue; }
      // Espruino: report once the level has been stable for `debounce` ms
      if (w.pending) this.timers.delete(w.pending);
      w.pending = this.addTimer(w.debounce, 0, false, () => {
        w.pending = 0;
        const l = this.pins.get(w.pin);
        if (l !== w.last && this.watches.get(w.id) === w) this.watchEdge(w, l);
      });
    }
  }
  private watchEdge(w: Watch, level: number) {
    const last = w.lastTime, t = this.now() / 1000;
    w.last = level;
    w.lastTime = t;
    if (w.edge === 1 && !level) return;
    if (w.edge === -1 && level) return;
    if (!w.repeat) this.watches.delete(w.id);
    this.stats.watchesFired++;
    this.push({ k: 7, a: w.id, b: level, c: t, d: last, e: w.repeat ? 1 : 0 });
  }

  // ---- sockets ----
  private resolve(host: string): string | null {
    if (host === "localhost") return "127.0.0.1";
    if (isIPv4(host)) return host;
    const h = this.o.hosts && this.o.hosts[host];
    return h || null;
  }

  private connect(kind: string, id: number, host: string, port: number, opts: string): string {
    if (this.board !== "espruino-linux" && !this.wifi.state.connected) return "offline";
    const ip = this.resolve(host);
    if (!ip) return "Unable to locate host";
    this.stats.connects++;
    if (isLoopback(ip) && procListening(ip, port) === false) { this.stats.refused++; return "Unable to create socket"; }
    const t = kind === "tls" ? tlsMaterial(opts ? JSON.parse(opts) : {}) : {};
    if (typeof t === "string") return t;
    const rec: Sock = { id, s: null, open: false, ended: false, gone: false, tls: kind === "tls" };
    let s: net.Socket;
    if (kind === "tls") {
      // Espruino never verifies the server (network.c: MBEDTLS_SSL_VERIFY_NONE, "FIXME no cert checking!")
      s = tls.connect({ host: ip, port, ca: t.ca, cert: t.key && t.cert, key: t.cert && t.key, servername: t.servername || (isIPv4(host) ? undefined : host), rejectUnauthorized: false });
      s.once("secureConnect", () => { rec.open = true; this.push({ k: 2, a: id }); });
    } else {
      s = net.connect({ host: ip, port });
      s.once("connect", () => { rec.open = true; this.push({ k: 2, a: id }); });
    }
    rec.s = s;
    s.setNoDelay(true);
    // Espruino reads at most chunkSize (536) bytes per socket per idle loop and emits each read
    s.on("data", (b: Buffer) => {
      if (rec.gone) return;
      for (let i = 0; i < b.length; i += this.chunkSize) this.push({ k: 3, a: id, b: b.subarray(i, i + this.chunkSize) });
    });
    s.on("end", () => { if (!rec.gone) this.push({ k: 4, a: id }); });
    s.on("error", (e: any) => {
      if (rec.gone) return;
      if (rec.tls && !rec.open) this.push({ k: 6, a: id, b: -13, c: "SSL handshake failed: " + e.message });
    });
    s.on("close", (hadError: boolean) => {
      if (rec.gone) return;
      rec.gone = true;
      this.push({ k: 5, a: id, b: hadError && rec.tls && !rec.open ? 1 : 0 });
    });
    this.socks.set(id, rec);
    return "";
  }

  private write(id: number, b: Buffer) {
    const r = this.socks.get(id);
    this.stats.writes++;
    this.stats.writeBytes += b.length;
    if (!r || r.gone || !r.s || r.s.destroyed) return; // the close event is on its way
    r.s.write(b);
  }

  private end(id: number) {
    const r = this.socks.get(id);
    if (r && r.s && !r.gone) { r.ended = true; r.s.end(); }
  }

  /** destroy a socket; `tell`: the VM gets "close" */
  private kill(r: Sock, tell: boolean) {
    if (r.gone) return;
    r.gone = true;
    if (r.s) r.s.destroy();
    if (tell) this.push({ k: 5, a: r.id, b: 0 });
  }

  // ---- Storage and fs ----
  private storageOp(op: string, n: string, data: Buffer | null, off: number, size: number): any {
    // a power cut in the middle of this write or erase: what reached the flash stays, then it halts
    if ((op === "w" || op === "e") && this.o.onStorage) {
      const cut = this.o.onStorage(op, n, op === "w" ? off : -1, data ? data.toString("latin1") : null);
      if (typeof cut === "number") {
        if (op === "w" && cut > 0) this.storageOp("w", n, data!.subarray(0, cut), off, off === 0 ? size : -1);
        this.powerCut = true;
        this.halt();
        return 2;
      }
    }
    switch (op) {
      case "r": {
        const f = this.storage.get(n);
        if (f === undefined) return undefined;
        const b = Buffer.from(f, "latin1");
        return b.subarray(off, size < 0 ? b.length : off + size);
      }
      case "w": {
        const d = data!.toString("latin1");
        if (this.storageBytes() - (this.storage.has(n) ? this.storage.get(n)!.length + 32 : 0) + 32 + n.length + Math.max(d.length, off < 0 ? 0 : off + d.length, size) > this.storageTotal) return false;
        if (off < 0) { this.storage.set(n, d); return true; }
        let f = this.storage.get(n);
        if (f === undefined || (size >= 0 && off === 0)) f = "\xff".repeat(Math.max(size, 0));
        if (f.length < off + d.length) f = f + "\xff".repeat(off + d.length - f.length);
        this.storage.set(n, f.substring(0, off) + d + f.substring(off + d.length));
        return true;
      }
      case "e": this.storage.delete(n); return undefined;
      case "x": this.storage.clear(); return undefined;
      case "l": return JSON.stringify([...this.storage.keys()]);
      case "f": return Math.max(0, this.storageTotal - this.storageBytes());
      case "s": return JSON.stringify({ totalBytes: this.storageTotal, freeBytes: Math.max(0, this.storageTotal - this.storageBytes()), fileBytes: this.storageBytes(), fileCount: this.storage.size, trashBytes: 0, trashCount: 0 });
    }
    return undefined;
  }
  private storageBytes() { let n = 0; for (const [k, v] of this.storage) n += k.length + v.length + 32; return n; }

  private dirList(path: string): string[] | null {
    const p = path.replace(/\/+$/, "") + "/", out = new Set<string>();
    for (const f of this.files.keys()) if (f.startsWith(p)) out.add(f.substring(p.length).split("/")[0]);
    return out.size ? [...out].sort() : null;
  }

  // ---- WiFi ----
  private wifiOp(op: string, arg: string): string {
    const w = this.wifi.state, mac = this.mac;
    switch (op) {
      case "connect": {
        const a = JSON.parse(arg);
        const same = w.connected && a.ssid === w.ssid && a.password === w.password;
        w.ssid = a.ssid; w.password = a.password; w.wanted = true;
        if (same) { if (a.cb) this.push({ k: 9, a: a.cb, b: "" }); return "{}"; }
        if (w.connected) this.wifiDown("assoc_leave");
        this.wifiTry(a.cb);
        return "{}";
      }
      case "disconnect": {
        const a = JSON.parse(arg);
        w.wanted = false;
        if (w.connected) this.wifiDown("assoc_leave");
        if (a.cb) this.push({ k: 9, a: a.cb, b: "" });
        return "{}";
      }
      case "ip": return JSON.stringify(w.connected ? { ip: w.ip, netmask: "255.255.255.0", gw: w.ip.replace(/\.\d+$/, ".1"), mac } : { mac });
      case "apip": return JSON.stringify({ ip: "0.0.0.0", netmask: "0.0.0.0", gw: "0.0.0.0", mac });
      case "details": return JSON.stringify({ status: w.connected ? "connected" : w.wanted ? "connecting" : "off", rssi: w.connected ? w.rssi : 0, ssid: w.ssid, password: w.password, authMode: "wpa2", savedSsid: null });
      case "status": return JSON.stringify({ station: w.connected ? "connected" : w.wanted ? "connecting" : "off", ap: "disabled", mode: w.wanted ? "sta" : "off", phy: "11n", powersave: "ps-poll", savedMode: "off" });
      case "hostname": return w.hostname;
      case "sethostname": w.hostname = arg; return "";
      case "scan": return JSON.stringify(w.available && w.ap.ssid ? [{ ssid: w.ap.ssid, mac: "00:11:22:33:44:55", authMode: "wpa2", channel: 6, hidden: false, rssi: w.rssi }] : []);
    }
    return "{}";
  }
  private wifiCbs: number[] = [];
  private wifiTimer = 0;
  private wifiTry(cb?: number) {
    const w = this.wifi.state;
    if (cb) this.wifiCbs.push(cb);
    if (this.wifiTimer) return;
    this.wifiTimer = this.addTimer(w.connectDelayMs, 0, false, () => {
      this.wifiTimer = 0;
      if (!w.wanted || w.connected) return;
      const apOk = w.available && (!w.ap.ssid || w.ap.ssid === w.ssid);
      if (apOk && w.ap.password !== undefined && w.ap.password !== (w.password || "")) {
        for (const c of this.wifiCbs.splice(0)) this.push({ k: 9, a: c, b: "Bad password" });
        w.wanted = false;
        return;
      }
      if (!apOk) { this.wifiTry(); return; } // no_ap_found: the SDK retries
      w.connected = true;
      this.push({ k: 8, a: "associated", b: JSON.stringify({ ssid: w.ssid, mac: "00:11:22:33:44:55", channel: 6 }) });
      this.push({ k: 8, a: "connected", b: JSON.stringify({ ip: w.ip, netmask: "255.255.255.0", gw: w.ip.replace(/\.\d+$/, ".1") }) });
      for (const c of this.wifiCbs.splice(0)) this.push({ k: 9, a: c, b: "" });
    });
  }
  private wifiDown(reason: string) {
    const w = this.wifi.state;
    w.connected = false;
    this.dropConnections();
    this.push({ k: 8, a: "disconnected", b: JSON.stringify({ ssid: w.ssid, mac: "00:11:22:33:44:55", reason }) });
  }
  private wifiDrop(reason: string) {
    const w = this.wifi.state;
    w.available = false;
    if (w.connected) this.wifiDown(reason);
    if (w.wanted) this.wifiTry();
  }

  // ---- reboot ----
  private reboot() {
    this.reboots.push(this.now());
    this.print("[emu] E.reboot(): the emulation halts");
    this.halt();
    if (this.o.onReboot) queueMicrotask(() => this.o.onReboot!(this));
  }
  private deepSleep(ms: number) {
    this.sleeps.push({ at: this.now(), ms });
    this.print(`[emu] deep sleep ${ms} ms: the emulation halts`);
    this.halt();
    if (this.o.onSleep) queueMicrotask(() => this.o.onSleep!(this, ms));
  }
  private halt() {
    this.halted = true;
    this.queue.length = 0;
    this.timers.clear();
    this.watches.clear();
    for (const s of this.socks.values()) this.kill(s, false);
  }
}
