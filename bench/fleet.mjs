#!/usr/bin/env node
// npm run bench:fleet [-- --devices 1000 --seconds 60 --interval 5 --commands 20]
//
// A fleet of simulated devices against a local Mosquitto (started here on a free 127.0.0.1 port,
// stopped by PID): each device is a client from the BUILT bundle (dist/mqtt-mcu.core.js, its default
// net transport and timers; built when missing) with its own TCP connection, a telemetry publish
// (QoS 1) every --interval seconds and a command subscription (QoS 1) that it answers on ack/<id>.
// A backend (the `mqtt` package) counts telemetry per device and sends --commands commands/s to
// random devices, timing the round trip. Reports connect time, messages/s, command round trip
// p50/p99 and what was lost. Runs outside CI; nothing here is asserted, the numbers are printed.
// Open files: devices + broker need about 2 per device; the script re-runs itself under
// `bash -c 'ulimit -n N'` when the limit is lower, and tells Mosquitto max_connections -1.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const arg = (name, def) => { const i = process.argv.indexOf("--" + name); return i > 0 ? Number(process.argv[i + 1]) : def; };
const DEVICES = arg("devices", 1000), SECONDS = arg("seconds", 60), INTERVAL = arg("interval", 5), COMMANDS = arg("commands", 20);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (xs, p) => { if (!xs.length) return NaN; const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p / 100 * s.length) - 1))]; };

// ---- open files ----
const need = DEVICES * 2 + 256;
const limit = Number(spawnSync("bash", ["-c", "ulimit -n"], { encoding: "utf8" }).stdout.trim()) || 0;
if (limit < need && !process.env.FLEET_ULIMIT_DONE) {
  console.log(`open-files limit ${limit} < ${need}: running again under ulimit -n ${need}`);
  const r = spawnSync("bash", ["-c", `ulimit -n ${need} && exec "$0" "$@"`, process.execPath, ...process.argv.slice(1)], { stdio: "inherit", env: { ...process.env, FLEET_ULIMIT_DONE: "1" } });
  process.exit(r.status ?? 1);
}

// ---- the broker ----
function freePort() {
  return new Promise((res, rej) => { const s = createServer(); s.on("error", rej); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => res(p)); }); });
}
const accepts = (port) => new Promise((res) => { const c = createConnection({ host: "127.0.0.1", port }); c.on("connect", () => { c.destroy(); res(true); }); c.on("error", () => res(false)); });

async function startBroker() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-fleet-"));
  writeFileSync(join(dir, "mosquitto.conf"), [
    `listener ${port} 127.0.0.1`, "allow_anonymous true", "persistence false", "max_connections -1", "set_tcp_nodelay true",
    "max_queued_messages 10000", "log_dest stderr", "log_type error", "log_type warning",
  ].join("\n") + "\n");
  const bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"].find(existsSync) || "mosquitto";
  const child = spawn("bash", ["-c", `ulimit -n ${need} 2>/dev/null; exec "${bin}" -c "${join(dir, "mosquitto.conf")}"`], { stdio: ["ignore", "inherit", "inherit"] });
  for (let i = 0; i < 400 && !(await accepts(port)); i++) await sleep(25);
  const stop = () => { try { process.kill(child.pid, "SIGTERM"); } catch {} rmSync(dir, { recursive: true, force: true }); };
  process.on("exit", () => { try { process.kill(child.pid, "SIGKILL"); } catch {} });
  return { port, pid: child.pid, stop };
}
function rssMB(pid) {
  try { const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8")); return m ? +(m[1] / 1024).toFixed(1) : null; } catch { return null; }
}

async function main() {
  const bundle = join(ROOT, "dist/mqtt-mcu.core.js");
  if (!existsSync(bundle)) spawnSync("node", ["build/build.mjs", "--quiet"], { cwd: ROOT, stdio: "inherit" });
  const lib = createRequire(import.meta.url)(bundle);
  const mqtt = (await import("mqtt")).default;
  const broker = await startBroker();
  console.log(`fleet: ${DEVICES} devices x ${SECONDS} s, telemetry every ${INTERVAL} s, ${COMMANDS} commands/s, Mosquitto pid ${broker.pid} on 127.0.0.1:${broker.port}`);

  // ---- the backend ----
  const backend = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 4, clientId: "fleet-backend", reconnectPeriod: 500 });
  // Nagle off on the backend too: the round trip measures the devices and the broker, not a 40 ms
  // delayed-ACK stall in the backend's socket
  if (backend.stream && backend.stream.setNoDelay) backend.stream.setNoDelay(true);
  backend.on("connect", () => { if (backend.stream && backend.stream.setNoDelay) backend.stream.setNoDelay(true); });
  const tele = new Map(); // device -> Set of sequence numbers
  let teleIn = 0, acksIn = 0;
  const rtts = [], pendingCmd = new Map();
  backend.on("message", (t, m) => {
    if (t.startsWith("tele/")) {
      teleIn++;
      const [dev, seq] = m.toString().split(":");
      let s = tele.get(dev); if (!s) tele.set(dev, s = new Set());
      s.add(+seq);
    } else if (t.startsWith("ack/")) {
      acksIn++;
      const sent = pendingCmd.get(m.toString());
      if (sent != null) { rtts.push(performance.now() - sent); pendingCmd.delete(m.toString()); }
    }
  });
  await backend.subscribeAsync({ "tele/+": { qos: 1 }, "ack/+": { qos: 1 } });

  // ---- the devices ----
  const devs = [];
  const connectMs = [];
  let errors = {}, teleSent = 0, teleAcked = 0, cmdsIn = 0, reconnects = 0;
  const t0 = performance.now();
  let next = 0;
  async function connectOne(i) {
    const id = "dev-" + i;
    const started = performance.now();
    const c = lib.createClient({ host: "127.0.0.1", port: broker.port, clientId: id, keepalive: 30, connectTimeout: 10000, reconnect: { min: 1000, max: 5000 } });
    const d = { id, c, seq: 0, timer: null, up: false };
    devs.push(d);
    c.on("error", (e) => { errors[e.code] = (errors[e.code] || 0) + 1; });
    c.on("reconnect", () => reconnects++);
    c.subscribe("cmd/" + id, { qos: 1, handler: (t, p) => { cmdsIn++; c.publish("ack/" + id, p, { qos: 1 }); } });
    await new Promise((res) => { c.on("connect", () => { if (!d.up) { d.up = true; connectMs.push(performance.now() - started); res(); } }); c.connect(); });
  }
  // 100 connects in flight at a time (a burst of 1,000 SYNs overflows the listen backlog)
  await Promise.all(Array.from({ length: 100 }, async () => { while (next < DEVICES) await connectOne(next++); }));
  const connectAll = performance.now() - t0;
  console.log(`connected ${devs.length} devices in ${(connectAll / 1000).toFixed(2)} s (per device p50 ${pct(connectMs, 50).toFixed(1)} ms, p99 ${pct(connectMs, 99).toFixed(1)} ms)`);

  // ---- the load ----
  const runStart = performance.now();
  for (const d of devs) {
    const tick = () => { const n = d.seq++; teleSent++; d.c.publish("tele/" + d.id, d.id + ":" + n + ":" + "x".repeat(40), { qos: 1 }, (e) => { if (!e) teleAcked++; }); };
    d.timer = setTimeout(function first() { tick(); d.timer = setInterval(tick, INTERVAL * 1000); }, Math.random() * INTERVAL * 1000);
  }
  let cmdSeq = 0, cmdSent = 0;
  const cmdTimer = setInterval(() => {
    for (let k = 0; k < COMMANDS / 10; k++) {
      const d = devs[Math.floor(Math.random() * devs.length)], key = d.id + "#" + cmdSeq++;
      pendingCmd.set(key, performance.now());
      cmdSent++;
      backend.publish("cmd/" + d.id, key, { qos: 1 });
    }
  }, 100);
  let lastReport = performance.now();
  while (performance.now() - runStart < SECONDS * 1000) {
    await sleep(1000);
    if (performance.now() - lastReport > 10000) {
      lastReport = performance.now();
      console.log(`  t=${((lastReport - runStart) / 1000).toFixed(0)} s: telemetry ${teleIn}/${teleSent}, commands ${acksIn}/${cmdSent}, node RSS ${rssMB(process.pid)} MB, mosquitto RSS ${rssMB(broker.pid)} MB`);
    }
  }
  for (const d of devs) { clearTimeout(d.timer); clearInterval(d.timer); }
  clearInterval(cmdTimer);
  const runMs = performance.now() - runStart;
  // drain: everything sent must arrive
  const drainDeadline = performance.now() + 10000;
  while ((teleIn < teleSent || pendingCmd.size || teleAcked < teleSent) && performance.now() < drainDeadline) await sleep(100);

  let teleLost = 0, teleDup = teleIn;
  for (const d of devs) { const s = tele.get(d.id) || new Set(); for (let n = 0; n < d.seq; n++) if (!s.has(n)) teleLost++; teleDup -= s.size; }
  const msgs = teleIn + teleSent + cmdSent + cmdsIn + acksIn * 2; // every hop through the broker, in and out
  const res = {
    devices: DEVICES, seconds: +(runMs / 1000).toFixed(1),
    connectAllS: +(connectAll / 1000).toFixed(2), connectP50Ms: +pct(connectMs, 50).toFixed(1), connectP99Ms: +pct(connectMs, 99).toFixed(1),
    telemetrySent: teleSent, telemetryAcked: teleAcked, telemetryReceived: teleIn, telemetryLost: teleLost, telemetryDuplicates: teleDup,
    commandsSent: cmdSent, commandsAnswered: cmdSent - pendingCmd.size, commandsLost: pendingCmd.size,
    rttP50Ms: +pct(rtts, 50).toFixed(1), rttP99Ms: +pct(rtts, 99).toFixed(1), rttMaxMs: +Math.max(...rtts).toFixed(1),
    brokerMessagesPerS: Math.round(msgs / (runMs / 1000)), telemetryPerS: Math.round(teleIn / (runMs / 1000)),
    lost: teleLost + pendingCmd.size, errors, reconnects,
    nodeRssMB: rssMB(process.pid), mosquittoRssMB: rssMB(broker.pid),
  };
  console.log("\n" + JSON.stringify(res, null, 1));
  console.log(`\nlost = ${res.lost} (telemetry ${teleLost}, commands ${pendingCmd.size}); ${res.brokerMessagesPerS} messages/s through the broker; command round trip p50 ${res.rttP50Ms} ms, p99 ${res.rttP99Ms} ms`);
  for (const d of devs) d.c.end(true);
  await backend.endAsync(true);
  broker.stop();
  process.exit(res.lost ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
