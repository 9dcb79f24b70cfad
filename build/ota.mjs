#!/usr/bin/env node
// npm run ota -- --config device.json --broker mqtt://192.168.1.10 [--device ID | --all] [--dry-run]
//                [--secrets secrets.json] [--version X]
// Updates devices over MQTT (README "Updates over MQTT"; the device's side: src/app/ota.ts). For each
// device: ask what it runs (its board, version, digest), build the firmware for that board from the
// config, and if it differs send it: begin (version, board, length, digest, HMAC tag with the key of
// secrets.json), then 512-byte chunks at QoS 1, each after the device acknowledged the one before (it
// writes each into Storage as it comes), then finish. The device checks the image, switches, reboots,
// and the new image must come online and confirm, else it is rolled back. One progress line per device
// and a verdict each: updated to version X, already up to date, rolled back, refused: why, unreachable.
// --all finds the devices by their retained status topics under the config's base (an offline one is
// asked too, briefly, and reported unreachable).
import mqtt from "mqtt";
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bundle, ROOT, DIST } from "./build.mjs";
import { firmwareDefines, OTA_DEADLINE } from "./config.mjs";
import { CHUNK, digest, tag } from "./ota-image.mjs";

export function parseOtaArgs(argv) {
  const a = { config: null, secrets: null, broker: null, device: null, all: false, dryRun: false, version: null };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i], v = () => { if (i + 1 >= argv.length) throw new Error(`${k} needs a value`); return argv[++i]; };
    if (k === "--config") a.config = v();
    else if (k === "--secrets") a.secrets = v();
    else if (k === "--broker") a.broker = v();
    else if (k === "--device") a.device = v();
    else if (k === "--all") a.all = true;
    else if (k === "--dry-run") a.dryRun = true;
    else if (k === "--version") a.version = v();
    else throw new Error(`unknown argument ${k} (expected --config, --secrets, --broker, --device, --all, --dry-run, --version)`);
  }
  if (!a.config) throw new Error("--config is required (the device.json the devices were built from)");
  if (!a.broker) throw new Error("--broker is required (mqtt://host[:port], mqtts://..., ws://...; user:password@ for credentials)");
  if (!!a.device === a.all) throw new Error("give --device ID or --all");
  return a;
}

/** The image for a board: the firmware built from the config as `npm run build` does (dist/ota/). */
export async function buildImage(board, o) {
  const defines = firmwareDefines(board, { file: o.config, secrets: o.secrets || undefined });
  if (!defines.__CONFIG__.ota) throw new Error(`the config has no "ota": its firmware could not be updated again`);
  if (o.version) defines.__CONFIG__.sw = o.version;
  mkdirSync(join(DIST, "ota"), { recursive: true });
  const code = await bundle({ entry: "src/app/main.ts", out: join(DIST, "ota", board + ".js"), alias: { board: join(ROOT, "boards", board + ".ts") }, define: defines });
  return { code, version: defines.__CONFIG__.sw, key: defines.__CONFIG__.otaInfo.key };
}

const wait = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Update devices. o: { config, secrets, broker (URL), device | all, dryRun, version, log(line), image,
 * timeouts: { answer, chunk, boot } (ms) }. Returns [{ id, verdict, ok, version, bytes, ms, ... }].
 */
export async function runOta(o) {
  const log = o.log || ((l) => console.log(l));
  // (the config is checked for each device's board when its image is built)
  let raw;
  try { raw = JSON.parse(readFileSync(o.config, "utf8")); } catch (e) { throw new Error(`${o.config}: ${e.message}`); }
  if (!raw.ota) throw new Error(`${o.config}: the config has no "ota"`);
  const base = raw.base || "mcu", deadline = ((raw.ota && raw.ota.deadline) || OTA_DEADLINE) * 1000;
  const T = Object.assign({ answer: 10000, chunk: 5000, boot: deadline + 30000, find: 1500 }, o.timeouts || {});
  const c = await mqtt.connectAsync(o.broker, { clientId: "mqtt-mcu-ota-" + Math.random().toString(16).slice(2, 10), reconnectPeriod: 500, connectTimeout: 10000 });
  // every device's answers, by id: each waiter gets the next answer of its device
  const waiters = new Map(), online = new Set(), known = new Set();
  c.on("message", (t, p, pkt) => {
    const l = t.split("/"), id = l[l.length - 2];
    if (t.endsWith("/status")) { if (p.length) known.add(id); if (p.toString() === "online") online.add(id); else online.delete(id); return; }
    let m; try { m = JSON.parse(p.toString()); } catch { return; }
    const w = waiters.get(id);
    if (w) { waiters.delete(id); w(m); }
  });
  await c.subscribeAsync([`${base}/+/ota`, `${base}/+/status`], { qos: 1 });
  function answer(id, ms) {
    return new Promise((res) => {
      const t = setTimeout(() => { if (waiters.get(id) === f) waiters.delete(id); res(null); }, ms);
      const f = (m) => { clearTimeout(t); res(m); };
      waiters.set(id, f);
    });
  }
  /** send and wait for the device's answer (null: none within ms) */
  async function ask(id, topic, payload, ms, qos = 1) {
    const a = answer(id, ms);
    await c.publishAsync(`${base}/${id}/${topic}`, payload, { qos });
    return a;
  }

  let ids;
  if (o.all) {
    await wait(T.find); // the retained status topics arrive after the SUBACK
    // every device with a retained status: those offline get their verdict too (unreachable)
    ids = [...known].sort();
    if (!ids.length) log(`no device under ${base}/ (no retained ${base}/+/status)`);
    else log(`${ids.length} device(s) under ${base}/, ${ids.filter((i) => online.has(i)).length} online`);
  } else ids = [o.device];

  const images = new Map(); // board -> built image (once per board)
  async function image(board) {
    // (o.image: an image given as it is, the tests' bad images; signed with the config's key)
    if (!images.has(board)) images.set(board, buildImage(board, o).then((i) => (o.image ? { ...i, code: o.image } : i)));
    return images.get(board);
  }

  async function one(id) {
    const r = { id, ok: false, verdict: "", version: null, bytes: 0, ms: 0 }, t0 = Date.now();
    const line = (state) => {
      const s = (Date.now() - t0) / 1000, rate = r.bytes && s ? ` ${(r.bytes / 1024 / s).toFixed(1)} KB/s` : "";
      log(`${id}: ${r.sent || 0}/${r.total || "?"} B${rate} ${state}`);
    };
    const done = (ok, verdict) => { r.ok = ok; r.verdict = verdict; r.ms = Date.now() - t0; log(`${id}: ${verdict}`); return r; };
    // (an offline device: a short wait, the broker does not keep its messages for it)
    let a = await ask(id, "cmd/ota", '{"q":1}', o.all && !online.has(id) ? Math.min(T.answer, 3000) : T.answer);
    if (!a) return done(false, "unreachable: no answer on " + `${base}/${id}/ota` + (online.has(id) ? ` within ${T.answer / 1000} s (is "ota" in its config?)` : " (it is offline)"));
    if (a.s === "refused") return done(false, "refused: " + a.e);
    let img;
    try { img = await image(a.b); } catch (e) { return done(false, "refused: cannot build for board " + a.b + ": " + e.message); }
    const bytes = Buffer.from(img.code, "latin1"), alg = a.d === "crc32" ? "crc32" : "sha256";
    const h = digest(img.code, alg);
    r.version = img.version; r.total = bytes.length;
    if (a.h === h) return done(true, `already up to date (version ${a.v}, ${alg} ${h.slice(0, 8)})`);
    const begin = { v: img.version, b: a.b, l: bytes.length, h };
    if (a.k) begin.t = tag(img.code, img.key, a.k);
    if (o.dryRun) return done(true, `would update from ${a.v} to ${img.version}: ${bytes.length} B for ${a.b} in ${Math.ceil(bytes.length / CHUNK)} chunks (dry run: nothing sent)`);
    line(`updating ${a.v} -> ${img.version}`);
    // begin, then the chunks; a lost answer: begin again (the same image resumes where the device is)
    let off = -1, tries = 0, lastPct = -1;
    for (;;) {
      if (off < 0) {
        a = await ask(id, "cmd/ota", JSON.stringify(begin), T.answer);
        if (!a) { if (++tries > 5) return done(false, "unreachable: no answer to the begin"); continue; }
        if (a.s !== "ready") return done(false, "refused: " + (a.e || a.s));
        off = a.o;
      }
      if (off >= bytes.length) break;
      const n = Math.min(CHUNK, bytes.length - off);
      a = await ask(id, "ota/" + off, bytes.subarray(off, off + n), T.chunk);
      if (!a) { if (++tries > 20) return done(false, `unreachable: no acknowledgement at ${off} of ${bytes.length} B`); off = -1; continue; }
      if (a.s === "ack" || a.s === "dup") { off = a.o; r.sent = off; r.bytes += n; tries = 0; }
      else if (a.s === "refused" && typeof a.o === "number") off = a.o; // out of place: where it is
      else if (a.s === "refused") return done(false, "refused: " + a.e);
      else off = -1;
      const pct = Math.floor(off * 4 / bytes.length);
      if (pct !== lastPct) { lastPct = pct; line("sending"); }
    }
    for (tries = 0; ; ) {
      a = await ask(id, "cmd/ota", '{"f":1}', T.answer);
      if (a && a.s === "rebooting") break;
      if (a && a.s === "refused") return done(false, "refused: " + a.e);
      if (++tries > 5) return done(false, "unreachable: no answer to the finish");
    }
    line("verified, rebooting");
    // the new image comes online and confirms, or the board falls back to the old one
    a = await answer(id, T.boot);
    for (tries = 0; (!a || a.s === "idle" || a.s === "refused") && tries < 3; tries++) a = await ask(id, "cmd/ota", '{"q":1}', T.answer);
    if (!a) return done(false, "unreachable after the reboot");
    if (a.s === "rolled back" || (a.h && a.h !== h)) return done(false, `rolled back to version ${a.v}: the new image did not come online within ${deadline / 1000} s`);
    return done(true, `updated to version ${a.v} (${alg} ${h.slice(0, 8)})`);
  }

  try {
    // the devices side by side (the broker keeps them apart), a few at a time
    const out = [], queue = ids.slice();
    await Promise.all(Array.from({ length: Math.min(8, queue.length) }, async () => {
      while (queue.length) out.push(await one(queue.shift()));
    }));
    return out.sort((x, y) => (x.id < y.id ? -1 : 1));
  } finally {
    await c.endAsync();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const r = await runOta(parseOtaArgs(process.argv.slice(2)));
    process.exit(r.length && r.every((x) => x.ok) ? 0 : 1);
  } catch (e) {
    console.error("ota failed: " + (e && e.message || e));
    process.exit(1);
  }
}
