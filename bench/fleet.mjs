#!/usr/bin/env node
// npm run bench:fleet [-- --devices 1000 --seconds 60 --interval 5 --commands 20]
// npm run bench:fleet -- --cluster rabbitmq --devices 300 --seconds 60 --kill-node 20 [--restart-node 40]
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
//
// --cluster rabbitmq (issue #17): a real 3-node RabbitMQ cluster instead (bench/rabbitmq-cluster.mjs,
// Debian's rabbitmq-server with its MQTT plugin, on 127.0.0.1, stopped by PID). Each device gets
// `servers` = the three nodes, starting at node i % 3 (the fleet spread over the nodes; the other two
// forwards for half of them, backwards for the others, so a dead node's devices split), and a
// persistent session (clean false: on RabbitMQ a clean session's QoS 1 subscription queue lives on one
// node and cannot be declared again while that node is down; a persistent one is a quorum queue, see
// rabbitmq-cluster.mjs); the backend too, with the `mqtt` package's own `servers`. --kill-node S:
// SIGKILL the last node at S seconds, start it again at --restart-node (default halfway to the end).
// The table reports, per phase (before the kill, node down, after the restart): devices connected (and
// on which node), telemetry sent / acknowledged / delivered / lost (acknowledged, never delivered) /
// duplicated, and how long each device of the killed node took to be connected to another node.
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
const CLUSTER = process.argv.includes("--cluster") ? process.argv[process.argv.indexOf("--cluster") + 1] : null;
if (CLUSTER && CLUSTER !== "rabbitmq") { console.error(`--cluster ${CLUSTER}: only rabbitmq is known`); process.exit(2); }
const NODES = 3, KILL_AT = CLUSTER ? arg("kill-node", 0) : 0, RESTART_AT = arg("restart-node", KILL_AT + (SECONDS - KILL_AT) / 2), KILLED = NODES - 1;
const RECONNECT = { min: 1000, max: 5000 };
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

/** The brokers: one Mosquitto, or a RabbitMQ cluster. ports: the MQTT ports; pids: for RSS. */
async function startBrokers() {
  if (!CLUSTER) {
    const b = await startBroker();
    return { name: "Mosquitto", ports: [b.port], pids: () => [b.pid], stop: async () => b.stop(), desc: `Mosquitto pid ${b.pid} on 127.0.0.1:${b.port}` };
  }
  const { startCluster } = await import("./rabbitmq-cluster.mjs");
  const t = performance.now();
  const c = await startCluster({ nodes: NODES, log: (l) => console.log("  " + l) });
  console.log(`  cluster up in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  return { name: "RabbitMQ", cluster: c, ports: c.nodes.map((n) => n.mqttPort), pids: () => c.nodes.filter((n) => n.child && n.child.exitCode === null && n.child.signalCode === null).map((n) => n.pid),
    stop: () => c.stop(), desc: `RabbitMQ ${c.version}, ${NODES} nodes on 127.0.0.1:${c.nodes.map((n) => n.mqttPort).join(", ")}` };
}

async function main() {
  const bundle = join(ROOT, "dist/mqtt-mcu.core.js");
  if (!existsSync(bundle)) spawnSync("node", ["build/build.mjs", "--quiet"], { cwd: ROOT, stdio: "inherit" });
  const lib = createRequire(import.meta.url)(bundle);
  const mqtt = (await import("mqtt")).default;
  const broker = await startBrokers();
  const ports = broker.ports;
  const brokerRss = () => +broker.pids().reduce((a, p) => a + (rssMB(p) || 0), 0).toFixed(1);
  console.log(`fleet: ${DEVICES} devices x ${SECONDS} s, telemetry every ${INTERVAL} s, ${COMMANDS} commands/s, ${broker.desc}` +
    (KILL_AT ? `; node ${KILLED} killed at ${KILL_AT} s, started again at ${RESTART_AT} s` : ""));

  // ---- the backend ----
  const servers = ports.map((port) => ({ host: "127.0.0.1", port }));
  const backend = await mqtt.connectAsync(`mqtt://127.0.0.1:${ports[0]}`, { protocolVersion: 4, clientId: "fleet-backend", reconnectPeriod: 500,
    ...(CLUSTER ? { servers, clean: false } : {}) });
  // Nagle off on the backend too: the round trip measures the devices and the broker, not a 40 ms
  // delayed-ACK stall in the backend's socket
  if (backend.stream && backend.stream.setNoDelay) backend.stream.setNoDelay(true);
  backend.on("connect", () => { if (backend.stream && backend.stream.setNoDelay) backend.stream.setNoDelay(true); });
  const tele = new Map(); // device -> Map of sequence number -> deliveries
  let teleIn = 0, acksIn = 0;
  const rtts = [], pendingCmd = new Map();
  backend.on("message", (t, m) => {
    if (t.startsWith("tele/")) {
      teleIn++;
      const [dev, seq] = m.toString().split(":");
      let s = tele.get(dev); if (!s) tele.set(dev, s = new Map());
      s.set(+seq, (s.get(+seq) || 0) + 1);
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
  // phases (cluster runs): 0 before the kill, 1 node down, 2 after the restart
  let phase = 0, killT = 0;
  const backMs = [];
  const t0 = performance.now();
  let next = 0;
  async function connectOne(i) {
    const id = "dev-" + i;
    const started = performance.now();
    // the cluster: every node, starting at node i % NODES, then the others forwards or backwards (every
    // other device): the devices of a node that goes down split over the others
    const order = servers.map((_, k) => (i + (Math.floor(i / NODES) % 2 ? NODES - k : k)) % NODES);
    const where = CLUSTER ? { servers: order.map((k) => servers[k]), clean: false } : { host: "127.0.0.1", port: ports[0] };
    const c = lib.createClient({ ...where, clientId: id, keepalive: 30, connectTimeout: 10000, reconnect: RECONNECT });
    const d = { id, c, seq: 0, timer: null, up: false, node: -1, lost: 0, ph: [], ack: [] };
    devs.push(d);
    c.on("error", (e) => { errors[e.code] = (errors[e.code] || 0) + 1; });
    c.on("reconnect", () => reconnects++);
    c.on("offline", () => { d.node = -1; });
    // ready once connected and subscribed (SUBACK): a command sent before that has no queue to go to
    const subscribed = new Promise((res) => c.subscribe("cmd/" + id, { qos: 1, handler: (t, p) => { cmdsIn++; c.publish("ack/" + id, p, { qos: 1 }); } }, res));
    await new Promise((res) => {
      c.on("connect", () => {
        d.node = CLUSTER ? order[c.sv] : 0;
        if (d.lost && d.node != KILLED) { backMs.push(performance.now() - d.lost); d.lost = 0; }
        if (!d.up) { d.up = true; connectMs.push(performance.now() - started); res(); }
      });
      c.connect();
    });
    await subscribed;
  }
  // 100 connects in flight at a time (a burst of 1,000 SYNs overflows the listen backlog)
  await Promise.all(Array.from({ length: 100 }, async () => { while (next < DEVICES) await connectOne(next++); }));
  const connectAll = performance.now() - t0;
  console.log(`connected and subscribed ${devs.length} devices in ${(connectAll / 1000).toFixed(2)} s (per device p50 ${pct(connectMs, 50).toFixed(1)} ms, p99 ${pct(connectMs, 99).toFixed(1)} ms)`);
  const byNode = () => { const n = Array(ports.length).fill(0); for (const d of devs) if (d.c.connected && d.node >= 0) n[d.node]++; return n; };
  const snaps = [];
  const snap = (name) => snaps.push({ phase: name, connected: devs.filter((d) => d.c.connected).length, byNode: byNode(), at: +((performance.now() - runStart) / 1000).toFixed(1) });

  // ---- the load ----
  const runStart = performance.now();
  for (const d of devs) {
    const tick = () => {
      const n = d.seq++;
      teleSent++;
      d.ph[n] = phase;
      d.c.publish("tele/" + d.id, d.id + ":" + n + ":" + "x".repeat(40), { qos: 1 }, (e) => { if (!e) { teleAcked++; d.ack[n] = 1; } });
    };
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
  // the kill and the restart
  let restarted = null, killedDevs = 0;
  if (KILL_AT) {
    setTimeout(() => {
      snap("before the kill");
      phase = 1;
      killT = performance.now();
      for (const d of devs) if (d.c.connected && d.node == KILLED) { d.lost = killT; killedDevs++; }
      console.log(`  t=${KILL_AT} s: SIGKILL node ${KILLED} (pid ${broker.cluster.nodes[KILLED].pid}), ${killedDevs} devices on it`);
      broker.cluster.kill(KILLED);
    }, KILL_AT * 1000);
    setTimeout(() => {
      snap("node down");
      phase = 2;
      const t = performance.now();
      restarted = broker.cluster.start(KILLED).then(() => console.log(`  node ${KILLED} up again (pid ${broker.cluster.nodes[KILLED].pid}) in ${((performance.now() - t) / 1000).toFixed(1)} s`),
        (e) => console.log(`  node ${KILLED} did not come back: ${String(e.message).split("\n")[0]}`));
    }, RESTART_AT * 1000);
  }
  let lastReport = performance.now();
  while (performance.now() - runStart < SECONDS * 1000) {
    await sleep(1000);
    if (performance.now() - lastReport > 10000) {
      lastReport = performance.now();
      console.log(`  t=${((lastReport - runStart) / 1000).toFixed(0)} s: telemetry ${teleIn}/${teleSent}, commands ${acksIn}/${cmdSent}, connected ${byNode().join("/")}, node RSS ${rssMB(process.pid)} MB, ${broker.name} RSS ${brokerRss()} MB`);
    }
  }
  for (const d of devs) { clearTimeout(d.timer); clearInterval(d.timer); }
  clearInterval(cmdTimer);
  const runMs = performance.now() - runStart;
  if (KILL_AT) snap(restarted ? "after the restart" : "node down");
  if (restarted) await restarted;
  // drain: everything sent must arrive
  const drainDeadline = performance.now() + (CLUSTER ? 30000 : 10000);
  const delivered = () => { let n = 0; for (const s of tele.values()) n += s.size; return n; };
  while ((delivered() < teleSent || pendingCmd.size || teleAcked < teleSent) && performance.now() < drainDeadline) await sleep(100);

  // per message: acknowledged (callback without error), delivered (to the backend, how often), by phase
  const P = KILL_AT ? ["before the kill", "node down", "after the restart"] : ["run"];
  const per = P.map(() => ({ sent: 0, acked: 0, delivered: 0, lostAcked: 0, lostUnacked: 0, duplicates: 0 }));
  let teleLost = 0, teleDup = 0;
  for (const d of devs) {
    const s = tele.get(d.id) || new Map();
    for (let n = 0; n < d.seq; n++) {
      const r = per[d.ph[n]], k = s.get(n) || 0;
      r.sent++;
      if (d.ack[n]) r.acked++;
      if (k) { r.delivered++; r.duplicates += k - 1; teleDup += k - 1; }
      else { teleLost++; if (d.ack[n]) r.lostAcked++; else r.lostUnacked++; }
    }
  }
  const msgs = teleIn + teleSent + cmdSent + cmdsIn + acksIn * 2; // every hop through the broker, in and out
  const res = {
    broker: broker.name, devices: DEVICES, seconds: +(runMs / 1000).toFixed(1),
    connectAllS: +(connectAll / 1000).toFixed(2), connectP50Ms: +pct(connectMs, 50).toFixed(1), connectP99Ms: +pct(connectMs, 99).toFixed(1),
    telemetrySent: teleSent, telemetryAcked: teleAcked, telemetryReceived: teleIn, telemetryLost: teleLost, telemetryDuplicates: teleDup,
    commandsSent: cmdSent, commandsAnswered: cmdSent - pendingCmd.size, commandsLost: pendingCmd.size,
    rttP50Ms: +pct(rtts, 50).toFixed(1), rttP99Ms: +pct(rtts, 99).toFixed(1), rttMaxMs: +Math.max(...rtts).toFixed(1),
    brokerMessagesPerS: Math.round(msgs / (runMs / 1000)), telemetryPerS: Math.round(teleIn / (runMs / 1000)),
    lost: teleLost + pendingCmd.size, errors, reconnects,
    nodeRssMB: rssMB(process.pid), brokerRssMB: brokerRss(),
  };
  if (KILL_AT) {
    const notBack = devs.filter((d) => d.lost).length;
    res.failover = { killedAtS: KILL_AT, restartedAtS: RESTART_AT, devicesOnKilledNode: killedDevs, back: backMs.length, notBack,
      backP50Ms: Math.round(pct(backMs, 50)), backP99Ms: Math.round(pct(backMs, 99)), backMaxMs: Math.round(Math.max(...backMs)), goalMs: 2 * RECONNECT.max };
    res.phases = P.map((name, i) => ({ phase: name, ...snaps[i], ...per[i] }));
  }
  console.log("\n" + JSON.stringify(res, null, 1));
  if (KILL_AT) {
    const f = res.failover;
    console.log(`\n| phase | devices connected (by node) | sent | acknowledged | delivered | lost (acked) | lost (not acked) | duplicated |\n|---|---|---:|---:|---:|---:|---:|---:|`);
    for (const r of res.phases) console.log(`| ${r.phase} (to ${r.at} s) | ${r.connected} (${r.byNode.join(" / ")}) | ${r.sent} | ${r.acked} | ${r.delivered} | ${r.lostAcked} | ${r.lostUnacked} | ${r.duplicates} |`);
    console.log(`\nnode ${KILLED} killed at ${KILL_AT} s with ${f.devicesOnKilledNode} devices on it: ${f.back} back on another node (p50 ${f.backP50Ms} ms, p99 ${f.backP99Ms} ms, max ${f.backMaxMs} ms; goal <= 2 x backoff cap = ${f.goalMs} ms), ${f.notBack} not back`);
  }
  console.log(`\nlost = ${res.lost} (telemetry ${teleLost}, commands ${pendingCmd.size}); ${res.brokerMessagesPerS} messages/s through the broker; command round trip p50 ${res.rttP50Ms} ms, p99 ${res.rttP99Ms} ms`);
  for (const d of devs) d.c.end(true);
  await backend.endAsync(true);
  await broker.stop();
  process.exit(res.lost ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
