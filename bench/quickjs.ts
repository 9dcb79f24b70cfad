// Part 4: the built bundle (dist/mqtt-mcu.core.js) in QuickJS, a small engine that stands in for the
// device: allocations and bytes per message at steady state, and memory after connect.
//
// Allocations are counted in the QuickJS wasm itself (emu/wasm-alloc.ts patches malloc/free to
// count): QuickJS's `malloc_count` is the number of live blocks, which says whether memory grows
// (it is reported too, as "retained") but not how much garbage each message makes.
//
// Harness, all inside the VM: a fake transport whose write() only counts bytes, a clock that never
// fires, and incoming packets prepared before measuring (as string literals: binary strings with NUL
// bytes pass through the source text as \u0000 escapes). A loop function runs n messages; a message
// costs (count(loop(N)) - count(loop(0))) / N after a warm-up, so the call into the VM is not counted.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { newQuickJSWASMModuleFromVariant, newVariant, RELEASE_SYNC } from "quickjs-emscripten";
import type { QuickJSContext } from "quickjs-emscripten";
import { args, emit } from "./lib";
import { ALLOC_EXPORTS as COUNTERS, patchAllocCounters } from "../emu/wasm-alloc";

const ROOT = process.env.MQTT_MCU_ROOT || process.cwd();
const N = 1000, WARM = 200;

function wasmFiles() {
  const req = createRequire(join(ROOT, "package.json"));
  const fromQjs = createRequire(req.resolve("quickjs-emscripten"));
  const dir = join(dirname(fromQjs.resolve("@jitl/quickjs-wasmfile-release-sync/package.json")), "dist");
  const glue = readFileSync(join(dir, "emscripten-module.mjs"), "utf8");
  const name = (sym: string) => {
    const m = new RegExp("\\b" + sym + "=[\\w$]+\\.([\\w$]+)").exec(glue);
    if (!m) throw new Error(`cannot find the wasm export behind ${sym} in ${dir}/emscripten-module.mjs`);
    return m[1];
  };
  return { wasm: readFileSync(join(dir, "emscripten-module.wasm")), malloc: name("_malloc"), free: name("_free") };
}

// packets the broker sends, as binary strings
const chr = String.fromCharCode;
const u16 = (n: number) => chr(n >> 8, n & 255);
function publish(topic: string, payload: string, qos: number, id: number) {
  const body = u16(topic.length) + topic + (qos ? u16(id) : "") + payload;
  return chr(0x30 | qos << 1) + chr(body.length) + body; // bodies here are < 128 bytes
}

const OUT_TOPIC = "sensors/esp32-01/temperature", IN_TOPIC = "actuators/esp32-01/relay/set", PAYLOAD = "t=23.45;h=48.20;";

function harness(ids: number) {
  const L = JSON.stringify;
  return `
var ev = null, out = 0, outBytes = 0, last = "", got = 0, now = 1000, k = 0;
var link = { write: function (d) { out++; outBytes += d.length; last = d; }, close: function () {} };
var client = null;
var T = ${L(OUT_TOPIC)}, P = ${L(PAYLOAD)}, Q1 = { qos: 1 };
var IN0 = ${L(publish(IN_TOPIC, PAYLOAD, 0, 0))};
var PUBACK = [], IN1 = [];
for (var i = 1; i <= ${ids}; i++) {
  PUBACK[i] = "\\x40\\x02" + String.fromCharCode(i >> 8, i & 255);
  IN1[i] = "\\x32" + String.fromCharCode(${2 + IN_TOPIC.length + 2 + PAYLOAD.length}) + ${L(u16(IN_TOPIC.length) + IN_TOPIC)} + String.fromCharCode(i >> 8, i & 255) + P;
}
function connect() {
  client = exports.createClient({
    clientId: "qjs-bench", keepalive: 60, reconnect: false,
    transport: function (h, p, e) { ev = e; return link; },
    clock: { now: function () { return now; }, setTimer: function () { return 1; }, clearTimer: function () {} }
  });
  client.on("message", function (t, p) { got++; });
  client.connect(); ev.open(); ev.data("\\x20\\x02\\x00\\x00");
  client.subscribe(${L(IN_TOPIC)}, { qos: 1 });
  ev.data("\\x90\\x03" + last.substring(2, 4) + "\\x01");
  return client.connected ? out : -1;
}
// the loops measured; each message is one call, as an application or socket would make it
function pub0(n) { for (var i = 0; i < n; i++) client.publish(T, P); }
// (each message takes packet id 1: the smallest not in use, free again at its PUBACK)
function pub1(n) { for (var i = 0; i < n; i++) { client.publish(T, P, Q1); ev.data(PUBACK[1]); } }
function rx0(n) { for (var i = 0; i < n; i++) ev.data(IN0); }
var rid = 0;
function rx1(n) { for (var i = 0; i < n; i++) ev.data(IN1[++rid]); }
function harnessOnly(n) { for (var i = 0; i < n; i++) link.write(IN0); }
`;
}

// bench/qjs-parts.ts bundled like the device bundle: the codec functions one at a time
const PARTS: [string, string][] = [
  ["validTopic(28-char topic)", "vt"],
  ["encode(PUBLISH QoS 0, 16 B)", "enc"],
  ["decode(PUBLISH QoS 0, 16 B)", "dcd"],
  ["decoder.push(whole PUBLISH)", "push"],
  ["matches(filter with +, topic)", "mt"],
  ["toBytes(16-char ASCII string)", "tb"],
  ["engine: s.charAt(i)", "ca"],
  ["engine: s.charCodeAt(i)", "cca"],
  ["engine: a + b (two strings)", "cat"],
  ["engine: String.fromCharCode(x, y)", "fcc"],
  ["engine: s.substring(i, j)", "sub"],
  ["engine: {} with 6 properties", "obj"],
  ["engine: for (k in {}) on an empty object", "forin"],
];
function partsHarness() {
  const L = JSON.stringify, inPkt = publish(IN_TOPIC, PAYLOAD, 0, 0);
  return `
var C = exports, T = ${L(OUT_TOPIC)}, P = ${L(PAYLOAD)}, IT = ${L(IN_TOPIC)}, IN0 = ${L(inPkt)}, BODY = ${L(inPkt.substring(2))};
var PUB = { type: 3, topic: T, payload: P, qos: 0, retain: false }, sink, E = {};
var dec = C.createDecoder(4096, function (p) { sink = p; }, function (e) { throw new Error(e.message); });
function vt(n) { for (var i = 0; i < n; i++) sink = C.validTopic(T, false); }
function enc(n) { for (var i = 0; i < n; i++) sink = C.encode(PUB); }
function dcd(n) { for (var i = 0; i < n; i++) sink = C.decode(0x30, BODY); }
function push(n) { for (var i = 0; i < n; i++) dec.push(IN0); }
function mt(n) { for (var i = 0; i < n; i++) sink = C.matches("actuators/+/relay/set", IT); }
function tb(n) { for (var i = 0; i < n; i++) sink = C.toBytes(P); }
function ca(n) { for (var i = 0; i < n; i++) sink = T.charAt(5); }
function cca(n) { for (var i = 0; i < n; i++) sink = T.charCodeAt(5); }
function cat(n) { for (var i = 0; i < n; i++) sink = T + P; }
function fcc(n) { for (var i = 0; i < n; i++) sink = String.fromCharCode(n >> 8, i & 255); }
function sub(n) { for (var i = 0; i < n; i++) sink = T.substring(2, 20); }
function obj(n) { for (var i = 0; i < n; i++) sink = { type: 3, topic: T, payload: P, qos: 0, retain: false, dup: false }; }
function forin(n) { for (var i = 0; i < n; i++) for (var k in E) sink = k; }
`;
}

async function main() {
  const { out } = args();
  const pi = process.argv.indexOf("--parts"), partsFile = pi >= 0 ? process.argv[pi + 1] : null;
  const t0 = Date.now();
  const files = wasmFiles();
  const patched = patchAllocCounters(files.wasm, files.malloc, files.free) as Uint8Array<ArrayBuffer>;
  const mod = await WebAssembly.compile(patched);
  let wx: any = null;
  const QuickJS = await newQuickJSWASMModuleFromVariant(newVariant(RELEASE_SYNC, {
    emscriptenModule: {
      instantiateWasm(imports: WebAssembly.Imports, ok: (i: WebAssembly.Instance) => void) {
        return WebAssembly.instantiate(mod, imports).then((inst) => { wx = inst.exports; ok(inst); return inst.exports; });
      },
    } as any,
  }));
  const counts = () => ({ mallocs: wx[COUNTERS.mallocs].value >>> 0, bytes: wx[COUNTERS.mallocBytes].value >>> 0, frees: wx[COUNTERS.frees].value >>> 0 });

  const rt = QuickJS.newRuntime();
  const vm = rt.newContext();
  const usage = () => { const h = rt.computeMemoryUsage(); const u = vm.dump(h); h.dispose(); return u as Record<string, number>; };
  const run = (ctx: QuickJSContext, code: string, file: string) => {
    const r = ctx.evalCode(code, file);
    if (r.error) { const e = ctx.dump(r.error); r.error.dispose(); throw new Error(`${file}: ${JSON.stringify(e)}`); }
    const v = ctx.dump(r.value); r.value.dispose(); return v;
  };

  /** allocations per call of ctx's global `fn(n)` (which does n calls), at steady state */
  function measure(ctx: QuickJSContext, fn: string) {
    const f = ctx.getProp(ctx.global, fn), call = (n: number) => {
      const h = ctx.newNumber(n), c0 = counts(), r = ctx.callFunction(f, ctx.undefined, h), c1 = counts();
      h.dispose();
      if (r.error) { const e = ctx.dump(r.error); r.error.dispose(); throw new Error(`${fn}: ${JSON.stringify(e)}`); }
      r.value.dispose();
      return { mallocs: c1.mallocs - c0.mallocs, bytes: c1.bytes - c0.bytes, frees: c1.frees - c0.frees };
    };
    call(WARM);
    const u0 = usage(), zero = call(0), many = call(N), u1 = usage();
    f.dispose();
    return {
      allocations: (many.mallocs - zero.mallocs) / N,
      bytes: (many.bytes - zero.bytes) / N,
      frees: (many.frees - zero.frees) / N,
      retainedBlocks: (u1.malloc_count - u0.malloc_count) / N,
      retainedBytes: (u1.memory_used_size - u0.memory_used_size) / N,
    };
  }

  const empty = usage();
  const bundle = readFileSync(join(ROOT, "dist/mqtt-mcu.core.js"), "utf8");
  run(vm, "var exports = {};", "prelude.js");
  // in a scope of its own, as Espruino and Node load a module: its minified names (e, t, i...) are not
  // globals the harness could overwrite
  run(vm, "(function (exports) {\n" + bundle + "\n})(exports);", "mqtt-mcu.core.js");
  const loaded = usage();
  run(vm, harness(N + WARM + 10), "harness.js");
  const beforeConnect = usage();
  if (run(vm, "connect()", "connect.js") < 0) throw new Error("the client did not connect in the harness");
  const connected = usage();

  const rows = {
    "publish QoS 0": measure(vm, "pub0"),
    "publish QoS 1 (+ its PUBACK)": measure(vm, "pub1"),
    "receive QoS 0": measure(vm, "rx0"),
    "receive QoS 1 (+ our PUBACK)": measure(vm, "rx1"),
    "harness alone (a link.write)": measure(vm, "harnessOnly"),
  };
  const check = run(vm, "[got, out, client.connected, client.queued(), client.inflight()]", "check.js") as any[];
  if (check[0] !== 2 * (N + WARM) || !check[2] || check[3] || check[4]) throw new Error("harness check failed: " + JSON.stringify(check));
  const pick = (a: Record<string, number>, b: Record<string, number>) => ({
    bytes: b.memory_used_size - a.memory_used_size, blocks: b.malloc_count - a.malloc_count,
    objects: b.obj_count - a.obj_count, functionBytecode: b.js_func_code_size - a.js_func_code_size,
  });
  const memory = {
    "bundle loaded": pick(empty, loaded),
    "client created, connected, 1 subscription": pick(beforeConnect, connected),
    "empty context (for scale)": { bytes: empty.memory_used_size, blocks: empty.malloc_count },
  };

  // where the allocations come from: the codec's functions one by one, and two engine facts
  let parts: Record<string, unknown> | undefined;
  if (partsFile) {
    const pc = rt.newContext();
    run(pc, "var exports = {};", "prelude.js");
    run(pc, readFileSync(partsFile, "utf8"), "parts.js");
    run(pc, partsHarness(), "parts-harness.js");
    parts = {};
    for (const [name, fn] of PARTS) parts[name] = measure(pc, fn);
    pc.dispose();
  }
  vm.dispose();
  rt.dispose();
  emit(out, {
    part: "quickjs",
    engine: "QuickJS (quickjs-emscripten RELEASE_SYNC), malloc/free counted in the wasm",
    messages: N, warmup: WARM, payloadBytes: PAYLOAD.length, outTopic: OUT_TOPIC, inTopic: IN_TOPIC,
    perMessage: rows, memory, breakdown: parts,
    seconds: (Date.now() - t0) / 1000,
  });
}

main().catch((e) => { console.error(e); process.exit(1); });
