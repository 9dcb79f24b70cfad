#!/usr/bin/env node
// npm run bench [-- --quick] [--only sizes,codec,e2e,quickjs,espruino,sleep,ota] [--doc]
//
// Builds the bundles, then measures, each part in its own Node process, ours against a peer in the
// same run:
//   sizes   dist/*.js bytes and gzip against BUDGETS (build/build.mjs), and MQTT.js's minified bundle
//   codec   encode/decode packets/s, our codec vs mqtt-packet                 (bench/codec.ts)
//   e2e     publish->receive through a local Mosquitto, ours vs MQTT.js         (bench/e2e.ts)
//   quickjs allocations per message and memory of the bundle in QuickJS        (bench/quickjs.ts)
//   espruino the core and the firmware in the real Espruino, when MQTT_MCU_ESPRUINO[_1600] name one:
//           blocks and round trips/s, ours vs Espruino's MQTT module            (bench/espruino.ts)
//   sleep   battery mode: time awake per wake (emulation; the real Espruino when named) and an energy
//           estimate per day for an ESP8266 at a 5-minute period                 (bench/sleep.ts)
//   ota     updates over MQTT: time and bytes on the wire to update 1 and 20 emulated devices with the
//           update command's code through one Mosquitto                          (bench/ota.ts)
// Writes bench/results.json, prints the tables; --doc also rewrites the tables in docs/performance.md
// and README.md.
// Never part of `npm test`: nothing here asserts a time.
import * as esbuild from "esbuild";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { cpus, loadavg, totalmem, platform, release } from "node:os";
import { join } from "node:path";
import { ROOT, DIST, BUDGETS, buildAll, boardNames, bundle, sizeRow } from "../build/build.mjs";

const PARTS = ["sizes", "codec", "e2e", "quickjs", "espruino", "sleep", "ota"];
const RUN = ["codec", "e2e", "quickjs", "espruino", "sleep", "ota"];
const CACHE = join(ROOT, "node_modules/.cache/mqtt-mcu-bench");

function parseArgs(argv) {
  const a = { quick: false, only: PARTS, doc: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === "--quick") a.quick = true;
    else if (k === "--doc") a.doc = true;
    else if (k === "--only") {
      a.only = String(argv[++i] || "").split(",").filter(Boolean);
      const bad = a.only.filter((p) => !PARTS.includes(p));
      if (bad.length || !a.only.length) throw new Error(`--only takes a comma list of ${PARTS.join(", ")}`);
    } else throw new Error(`unknown argument ${k} (expected --quick, --only PARTS, --doc)`);
  }
  return a;
}

const version = (pkg) => {
  try { return JSON.parse(readFileSync(join(ROOT, "node_modules", pkg, "package.json"), "utf8")).version; } catch { return null; }
};

/** the Mosquitto helper of the tests when it is in the checkout, else bench's own */
function mosquittoModule() {
  const helper = "test/helpers/mosquitto.ts";
  const r = spawnSync("git", ["ls-files", "--error-unmatch", helper], { cwd: ROOT, stdio: "ignore" });
  const tracked = r.status === 0 || (r.error && existsSync(join(ROOT, helper)));
  return join(ROOT, tracked ? helper : "bench/mosquitto.ts");
}

async function compile(name) {
  const out = join(CACHE, name + ".mjs");
  await esbuild.build({
    entryPoints: [join(ROOT, "bench", name + ".ts")],
    outfile: out, bundle: true, platform: "node", format: "esm", target: "node20",
    packages: "external", define: { __SERVER__: "true" },
    plugins: [{
      name: "mosquitto-helper",
      setup(b) { b.onResolve({ filter: /^\.\/mosquitto$/ }, () => ({ path: mosquittoModule() })); },
    }],
    logLevel: "warning",
  });
  return out;
}

function runPart(file, extra, quick) {
  const out = join(CACHE, file.replace(/^.*\//, "").replace(/\.mjs$/, ".json"));
  const argv = [file, "--out", out, ...extra, ...(quick ? ["--quick"] : [])];
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, argv, { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, MQTT_MCU_ROOT: ROOT } });
    const timer = setTimeout(() => { try { process.kill(c.pid, "SIGKILL"); } catch {} }, /espruino/.test(file) ? 900000 : 240000);
    c.on("exit", (code, sig) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`${file} exited with ${code ?? sig}`));
      resolve(JSON.parse(readFileSync(out, "utf8")));
    });
  });
}

// ---- sizes --------------------------------------------------------------------------------------
async function sizes() {
  const hasApp = existsSync(join(ROOT, "src/app/main.ts"));
  let rows, error = null;
  try {
    rows = await buildAll({ boards: hasApp ? boardNames() : [], config: { file: null, secrets: null }, quiet: true });
  } catch (e) {
    // a board that does not build must not stop the other measurements: measure the core alone
    error = "board firmware did not build: " + (e && e.message || e);
    console.error("  sizes: " + error);
    rows = await buildAll({ boards: [], quiet: true });
  }
  const peers = [];
  const mq = join(ROOT, "node_modules/mqtt/dist/mqtt.min.js");
  if (existsSync(mq)) {
    const code = readFileSync(mq);
    peers.push({ name: `MQTT.js ${version("mqtt")} dist/mqtt.min.js`, bytes: code.length, gzip: gzipSync(code, { level: 9 }).length });
  }
  return { part: "sizes", budgets: BUDGETS, rows, peers, error };
}

// ---- formatting ---------------------------------------------------------------------------------
const n0 = (x) => x == null || isNaN(x) ? "-" : Math.round(x).toLocaleString("en-US");
const k = (x) => x >= 1e6 ? (x / 1e6).toFixed(2) + " M" : x >= 1e4 ? (x / 1e3).toFixed(1) + " k" : n0(x);
const ratio = (s) => `**${s.median.toFixed(2)}x** (${s.p25.toFixed(2)}–${s.p75.toFixed(2)})`;
const ms = (x) => x == null ? "-" : x < 1 ? (x * 1000).toFixed(0) + " µs" : x.toFixed(1) + " ms";
const spreadPct = (s) => s.median ? "±" + Math.round(50 * (s.p75 - s.p25) / s.median) + "%" : "";

function tables(r) {
  const L = [];
  const goal = (ok, text) => `${ok ? "met" : "**NOT met**"}: ${text}`;
  if (r.sizes) {
    L.push("#### Bundle size", "", "Stored: the bytes in Espruino's Storage, pretokenised as `npm run flash -- --save` saves them (build/pretokenise.mjs); the budgets (build/gate.mjs) are on it.", "",
      "| bundle | bytes | gzip -9 | stored | budget | |", "|---|---:|---:|---:|---:|---|");
    for (const x of r.sizes.rows) L.push(`| ${x.name} | ${n0(x.bytes)} | ${n0(x.gzip)} | ${n0(x.stored)} | ${x.budget ? n0(x.budget) : "-"} | ${x.budget ? (x.stored <= x.budget ? "within budget (stored)" : `**over by ${n0(x.stored - x.budget)} (stored)**`) : ""} |`);
    for (const x of r.sizes.peers) L.push(`| peer: ${x.name} | ${n0(x.bytes)} | ${n0(x.gzip)} | | | |`);
    if (r.sizes.error) L.push("", `Board firmware missing from this table: ${r.sizes.error}`);
    L.push("");
  }
  if (r.codec) {
    const c = r.codec;
    L.push(`#### Codec throughput on Node ${c.node}`, "",
      `Packets per second: median of ${c.results[0].ratio.n} alternating rounds ± half the interquartile range; ratios: median (p25–p75) of the per-round ratios. ` +
      `"mix" is ${c.mix.length} packets (${n0(c.mixBytes)} bytes): ${c.mix.join(", ")}.`, "",
      "| operation | mqtt-mcu | mqtt-packet | ours / mqtt-packet (p25–p75) |", "|---|---:|---:|---:|");
    for (const x of c.results) L.push(`| ${x.name} | ${k(x.aRate.median)} ${spreadPct(x.aRate)} | ${k(x.bRate.median)} ${spreadPct(x.bRate)} | ${ratio(x.ratio)} |`);
    const enc = c.results.find((x) => x.name === "encode mix"), dec = c.results.find((x) => x.name === "decode mix");
    L.push("", "Goal ours >= 1.5x mqtt-packet: " + goal(enc.ratio.median >= 1.5 && dec.ratio.median >= 1.5, `encode ${enc.ratio.median.toFixed(2)}x, decode ${dec.ratio.median.toFixed(2)}x (mix, native representations)`) + ".", "");
  }
  if (r.e2e) {
    const e = r.e2e;
    L.push(`#### End to end through a local Mosquitto${r.versions.mosquitto ? " (" + r.versions.mosquitto + ")" : ""}`, "");
    if (e.skipped) L.push(`Skipped: ${e.skipped}`, "");
    else {
      L.push(`Publish -> receive of a ${e.payloadBytes}-byte message by a client subscribed to its own topic; ` +
        `messages per second (median of ${e.results[0].ratio.n} alternating rounds, each from the mean time per iteration), latency percentiles of all round trips pooled, ratio: median (p25–p75) of the per-round ratios.`, "",
        "| run | mqtt-mcu msg/s | p50 | p99 | MQTT.js msg/s | p50 | p99 | ours / MQTT.js (p25–p75) |", "|---|---:|---:|---:|---:|---:|---:|---:|");
      for (const x of e.results) L.push(`| ${x.name} | ${n0(x.aRate.median)} | ${ms(x.aLatency && x.aLatency.p50)} | ${ms(x.aLatency && x.aLatency.p99)} | ${n0(x.bRate.median)} | ${ms(x.bLatency && x.bLatency.p50)} | ${ms(x.bLatency && x.bLatency.p99)} | ${ratio(x.ratio)} |`);
      const head = e.results.filter((x) => /^round trip QoS \d$/.test(x.name));
      L.push("", "Goal ahead of MQTT.js: " + goal(head.every((x) => x.ratio.median > 1), head.map((x) => `${x.name.replace("round trip ", "")} ${x.ratio.median.toFixed(2)}x`).join(", ") + " (round trips, both with TCP_NODELAY)") + ".", "");
    }
  }
  if (r.quickjs) {
    const q = r.quickjs, worst = Math.max(q.perMessage["publish QoS 0"].allocations, q.perMessage["receive QoS 0"].allocations);
    L.push("#### The bundle in QuickJS: allocations per message", "",
      `${q.engine}; steady state, ${q.messages} messages after ${q.warmup} warm-up, ${q.payloadBytes}-byte payloads. ` +
      `"retained" is the growth of live blocks per message (a leak if not 0).`, "",
      "| per message | allocations | bytes allocated | retained blocks |", "|---|---:|---:|---:|");
    for (const [name, x] of Object.entries(q.perMessage)) L.push(`| ${name} | ${x.allocations.toFixed(1)} | ${n0(x.bytes)} | ${x.retainedBlocks.toFixed(2)} |`);
    L.push("", "Goal <= 5 allocations per message: " + goal(worst <= 5, `publish QoS 0 ${q.perMessage["publish QoS 0"].allocations.toFixed(1)}, receive QoS 0 ${q.perMessage["receive QoS 0"].allocations.toFixed(1)}`) + ".", "");
    L.push("| memory (QuickJS heap) | bytes | blocks | objects |", "|---|---:|---:|---:|");
    for (const [name, x] of Object.entries(q.memory)) L.push(`| ${name} | ${n0(x.bytes)} | ${n0(x.blocks)} | ${x.objects == null ? "-" : n0(x.objects)} |`);
    L.push("");
    if (q.breakdown) {
      L.push("Where the allocations come from (one call each, same engine, codec functions bundled like the device bundle):", "",
        "| call | allocations | bytes |", "|---|---:|---:|");
      for (const [name, x] of Object.entries(q.breakdown)) L.push(`| ${name} | ${x.allocations.toFixed(1)} | ${n0(x.bytes)} |`);
      L.push("");
    }
  }
  if (r.espruino) espruinoTables(r.espruino, L);
  if (r.sleep) sleepTables(r.sleep, L);
  if (r.ota) otaTables(r.ota, L);
  return L.join("\n");
}

// Updates over MQTT (issue 15): time and bytes on the wire.
function otaTables(o, L) {
  const f = (x, d = 1) => x == null || isNaN(x) ? "-" : x.toFixed(d);
  L.push("#### Updates over MQTT: time and bytes on the wire", "",
    `The ${o.board} firmware (${o.config}) in the Espruino emulation, each device flashed with 1.0.0 as \`npm run flash -- --save\` leaves it, ` +
    `all updated to 2.0.0 by the update command's code (\`npm run ota -- --all\`: ${o.chunk}-byte chunks at QoS 1, each after the device acknowledged the one before, 8 devices side by side) ` +
    "through one local Mosquitto. Wire bytes: all MQTT bytes between the update command and the broker, both ways (counted by a TCP proxy between them; TCP/IP headers not counted, " +
    "the broker-to-device copies not counted). Seconds: the whole command, from its connect to the last verdict, including building the image once " +
    `(${f(o.buildSeconds)} s alone), 1.5 s listening for the devices' retained status, and each device's reboot into the new image and its confirmation.`, "",
    "| devices | image bytes | wire bytes (to broker / from broker) | wire / image | seconds | KB/s of image | per device, median s | |", "|---:|---:|---:|---:|---:|---:|---:|---|");
  for (const x of o.runs) {
    const img = x.image * x.devices;
    L.push(`| ${x.devices} | ${n0(x.image)} | ${n0(x.wire)} (${n0(x.up)} / ${n0(x.down)}) | ${f(x.wire / img, 2)} | ${f(x.seconds)} | ${f(img / 1024 / x.seconds)} | ${f(x.perDeviceMedianS)} | ` +
      `${x.updated == x.devices ? "all updated" : `**${x.updated} of ${x.devices} updated**: ${x.failed.join("; ")}`} |`);
  }
  L.push("");
}

// Battery mode: awake time per wake and the energy estimate (issue 16).
function sleepTables(s, L) {
  const e = s.energy, a = e.assumptions, f = (x, d = 0) => x == null || isNaN(x) ? "-" : x.toFixed(d);
  L.push("#### Battery mode: time awake per wake", "",
    `A sleeper (the firmware bench's config with \`"sleep": ${s.sleepS}\`) against a local Mosquitto, from boot to the sleep call: ` +
    "reading, connect (persistent session), telemetry at QoS 1 until its PUBACK, the 200 ms command window, DISCONNECT. WiFi association is " +
    "left aside (instant in the emulation; the Linux build has none). The first wake of a build also announces (Home Assistant discovery).", "",
    "| where | wakes | first wake (announce) ms | awake ms, median | max | |", "|---|---:|---:|---:|---:|---|");
  const m = s.emulation;
  if (m) L.push(`| emulation, esp8266 bundle (${n0(m.bytes)} B) | ${m.wakes} | ${f(m.first)} | ${f(m.median)} | ${f(m.max)} | ${m.failed ? `**${m.failed} failed**` : ""} |`);
  const r = s.real;
  if (r) L.push(`| real Espruino ${r.version} (growable), espruino-linux bundle, from Storage | ${r.wakes} | ${f(r.first)} | ${f(r.median)} | ${f(r.max)} | ${r.problems && r.problems.length ? "problems: " + r.problems.join("; ") : ""} |`);
  if (r && r.blocks1600 != null) L.push("", `On the 1,600-variable build (an ESP8266's store) the sleeper had ${r.blocks1600} blocks in use at its telemetry (awake ${f(r.awake1600)} ms there).`);
  if (s.missing.length) L.push("", "Not measured here, missing: " + s.missing.join("; ") + ".");
  const ours = e.oursMs;
  L.push("", "Goal <= 1 s of our own work per wake (WiFi association aside): " + (ours <= 1000 ? "met" : "**NOT met**") + ` (${f(ours)} ms, ${e.from}, including the 200 ms window).`, "",
    `Energy per day, **an estimate**, for a typical ESP8266 module waking every ${a.periodS} s: ${f(a.awakeMA)} mA awake for ${f(a.wifiS, 1)} s of WiFi association + ${f(a.bootS, 1)} s of boot (assumed) + ${f(ours)} ms of ours (measured above), ` +
    `${f(a.sleepUA)} µA in deep sleep. Sources: ${a.sources}.`, "",
    "| wakes / day | awake / wake | mAh / day awake | mAh / day asleep | mAh / day | our share of the awake time | days on 2,000 mAh |", "|---:|---:|---:|---:|---:|---:|---:|",
    `| ${n0(e.wakesPerDay)} | ${f(e.awakeS, 2)} s | ${f(e.mAhAwake, 2)} | ${f(e.mAhSleep, 2)} | **${f(e.mAhPerDay, 2)}** | ${f(100 * e.ourShare)} % | ${f(e.days2000mAh)} |`,
    "", "Development boards (NodeMCU, Wemos D1 mini) draw far more than the bare module asleep (their regulator and USB-serial chip: often 0.1-1 mA): there the sleep column dominates. Battery self-discharge and regulator losses are not counted.", "");
}

// The real interpreter's figures: blocks (12 bytes each on the 1,600-variable build, as an ESP8266).
function espruinoTables(e, L) {
  const v = e.core && (e.core.interpreters.espruino1600 || e.core.interpreters.espruino);
  L.push(`#### On the real Espruino${v ? " " + v : ""} (Linux builds of its public source)`, "");
  if (e.missing.length) L.push("Not measured here, missing: " + e.missing.join("; ") + ".", "");
  if (!e.core) return;
  const m = e.core.memory, th = !!m.theirs, bad = (x) => !x || x.error;
  if (m.ours) {
    L.push("Blocks in use above the interpreter's own, on the 32-bit 1,600-variable build (the ESP8266's store), code run from Storage " +
      "(as a saved board runs it); each figure read from a timer, when nothing is under way. Warm: after 50 QoS 0 and 50 QoS 1 round trips; growth: over " +
      `${n0(e.core.n)} more of each.`, "",
      `| blocks | mqtt-mcu core | ${th ? "Espruino's MQTT module | ours / theirs |" : ""}`, `|---|---:|${th ? "---:|---:|" : ""}`);
    for (const [key, label] of [["require", "after require()"], ["created", "client created"], ["connected", "connected"], ["warm", "connected, subscribed, warm"], ["growth", "growth"]]) {
      const a = bad(m.ours) ? null : m.ours[key], b = th && !bad(m.theirs) ? m.theirs[key] : null;
      L.push(`| ${label} | ${n0(a)} | ${th ? `${n0(b)} | ${a != null && b ? (a / b).toFixed(2) + "x" : "-"} |` : ""}`);
    }
    if (bad(m.ours)) L.push("", "ours failed: " + m.ours.error);
    if (th && bad(m.theirs)) L.push("", "theirs failed: " + m.theirs.error);
    L.push("", "Budgets (issue 14): after require <= 250, connected <= 450: " +
      (bad(m.ours) ? "not measured" : `${m.ours.require <= 250 && m.ours.connected <= 450 ? "met" : "**NOT met**"} (${m.ours.require}, ${m.ours.connected})`) + ".", "");
  }
  const s = e.core.speed, rate = (x) => !x || x.error ? "-" : n0(x.best);
  L.push("QoS 0 publish -> receive of its own 16-byte message through a local Mosquitto, round trips per second, best of the rounds " +
    "(the interpreter runs the source text: this is the per-message cost of our code and the interpreter, not of the network).", "",
    "| build, code in | mqtt-mcu core | Espruino's MQTT module | ours / theirs |", "|---|---:|---:|---:|");
  for (const [key, label] of [["Flash1600", "1,600 variables, Storage (file reads on Linux)"], ["RamGrowable", "growable, RAM"]]) {
    const a = s["ours" + key], b = s["theirs" + key];
    if (!a && !b) continue;
    L.push(`| ${label} | ${rate(a)} | ${rate(b)} | ${a && b && a.best && b.best ? (a.best / b.best).toFixed(2) + "x" : "-"} |`);
  }
  L.push("");
  const ins = e.core.instructions;
  if (ins && (ins.ours || ins.error)) {
    L.push("The same round trip counted in instructions of the interpreter process (`valgrind --tool=cachegrind`: deterministic, where the " +
      "rates above swing with the machine's load), growable build, the module loaded into RAM, driven through a stand-in `net` in the same " +
      "process that hands each PUBLISH straight back (bench/espruino.ts LOOPBACK_NET); per message, fewer is faster.", "",
      "| | mqtt-mcu core | Espruino's MQTT module | speed, ours / theirs |", "|---|---:|---:|---:|",
      `| instructions per round trip | ${k(ins.ours)} | ${k(ins.theirs)} | ${ins.ours && ins.theirs ? `**${(ins.theirs / ins.ours).toFixed(2)}x**` : "-"} |`);
    if (ins.error) L.push("", "instructions not counted: " + ins.error);
    L.push("");
  }
  const f = e.firmware;
  if (f) {
    L.push(`The firmware on the 1,600-variable build, from Storage (pretokenised, as \`npm run flash -- --save\` saves it): ${f.config}. Blocks in use as the device reports them in its telemetry ` +
      "(`mem`, taken while it builds the message, so transients included): steady = highest of 5 after the announce and 10 commands.", "",
      "| bundle | bytes stored | announced (status, states, discovery) | steady | after cycles / commands | growth | outage: peak | after outage |", "|---|---:|---|---:|---:|---:|---:|---:|");
    for (const b of ["espruino-linux", "esp8266"]) {
      const x = f[b];
      if (!x) continue;
      const an = x.announced ? `${x.announced.status}, ${x.announced.states}, ${x.announced.discovery}` : "-";
      L.push(`| ${b}${b == "esp8266" ? " (Wifi stand-in)" : ""} | ${n0(x.bytes)} | ${an} | ${n0(x.steady)} | ${x.cycles ? `${n0(x.after)} (${x.cycles} / ${x.commands})` : "-"} | ${x.cycles ? n0(x.growth) : "-"} | ${x.outagePeak ? `${n0(x.outagePeak)} (${x.outage} s down)` : "-"} | ${x.afterOutage ? n0(x.afterOutage) : "-"} |`);
      if (x.error) L.push("", `${b} failed: ${x.error}`);
    }
    L.push("");
  }
}

// The tables go between the markers of docs/performance.md and of README.md's Performance section.
function updateDoc(md, r) {
  for (const f of ["docs/performance.md", "README.md"]) updateFile(join(ROOT, f), md, r);
}

function updateFile(file, md, r) {
  const B = "<!-- bench:begin -->", E = "<!-- bench:end -->";
  if (!existsSync(file)) throw new Error(`${file} is missing`);
  const doc = readFileSync(file, "utf8"), i = doc.indexOf(B), j = doc.indexOf(E);
  if (i < 0 || j < i) throw new Error(`${file} has no ${B} ... ${E} block`);
  const m = r.machine;
  const head = `Measured ${r.date.slice(0, 10)} by \`${r.command}\` in ${Math.round(r.seconds)} s on ${m.cpus} x ${m.cpu}, ` +
    `${Math.round(m.memoryGB)} GB, Node ${m.node}, ${m.os}, load average ${m.loadavgAtStart.toFixed(1)} at start and ${m.loadavgAtEnd.toFixed(1)} at end; mqtt ${r.versions.mqtt}, mqtt-packet ${r.versions["mqtt-packet"]}, ` +
    `tinybench ${r.versions.tinybench}, quickjs-emscripten ${r.versions["quickjs-emscripten"]}, ${r.versions.mosquitto || "no mosquitto"}.`;
  writeFileSync(file, doc.slice(0, i + B.length) + "\n" + head + "\n\n" + md + "\n" + doc.slice(j));
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  mkdirSync(CACHE, { recursive: true });
  const mosq = spawnSync("mosquitto", ["-h"], { encoding: "utf8", env: { ...process.env, PATH: process.env.PATH + ":/usr/sbin:/usr/local/sbin" } });
  const r = {
    date: new Date().toISOString(),
    command: "npm run bench" + (process.argv.length > 2 ? " -- " + process.argv.slice(2).join(" ") : ""),
    machine: { cpus: cpus().length, cpu: (cpus()[0] || {}).model, memoryGB: totalmem() / 2 ** 30, node: process.version, os: `${platform()} ${release()}`, loadavgAtStart: loadavg()[0] },
    versions: {
      mqtt: version("mqtt"), "mqtt-packet": version("mqtt-packet"), tinybench: version("tinybench"),
      "quickjs-emscripten": version("quickjs-emscripten"), esbuild: version("esbuild"),
      mosquitto: ((mosq.stdout || "") + (mosq.stderr || "")).split("\n")[0].trim() || null,
    },
  };

  // the bundles are measured as built now (sizes also builds the boards; the other parts need the core)
  console.error("bench: building");
  if (a.only.includes("sizes")) r.sizes = await sizes();
  else await buildAll({ boards: [], quiet: true });

  const files = {};
  for (const p of RUN) if (a.only.includes(p)) files[p] = await compile(p);
  if (files.quickjs) await bundle({ entry: "bench/qjs-parts.ts", out: join(CACHE, "parts.js") });

  const failed = [];
  for (const p of RUN) {
    if (!files[p]) continue;
    console.error(`bench: ${p}`);
    const t = Date.now();
    try {
      r[p] = await runPart(files[p], p === "quickjs" ? ["--parts", join(CACHE, "parts.js")] : [], a.quick);
    } catch (e) {
      failed.push(p);
      console.error(`bench: ${p} failed: ${e.message}`);
    }
    console.error(`bench: ${p} took ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
  r.seconds = (Date.now() - t0) / 1000;
  r.machine.loadavgAtEnd = loadavg()[0];
  writeFileSync(join(ROOT, "bench/results.json"), JSON.stringify(r, null, 2) + "\n");
  const md = tables(r);
  console.log("\n" + md);
  console.log(`bench: ${r.seconds.toFixed(0)} s; results in bench/results.json`);
  if (a.doc) { updateDoc(md, r); console.log("bench: docs/performance.md and README.md updated"); }
  if (failed.length) { console.error("bench: failed parts: " + failed.join(", ")); process.exit(1); }
}

main().catch((e) => { console.error("bench failed: " + (e && e.stack || e)); process.exit(1); });
