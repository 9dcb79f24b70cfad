#!/usr/bin/env node
// A real RabbitMQ cluster on this machine, for bench:fleet --cluster rabbitmq (issue #17): N nodes of
// Debian's rabbitmq-server (3.10, with its rabbitmq_mqtt plugin) on free 127.0.0.1 ports, each with its
// own node name, ports and data dir under one temp dir, clustered at first boot (classic_config peer
// discovery), started and stopped by PID.
//
//   node bench/rabbitmq-cluster.mjs [--nodes 3]     start, print the nodes, stop on Ctrl-C
//   import { startCluster } from "./rabbitmq-cluster.mjs"
//     const c = await startCluster({ nodes: 3 });   c.nodes[i].mqttPort, c.kill(i), c.start(i), c.stop()
//
// Nothing listens beyond 127.0.0.1: AMQP and MQTT listeners are bound to it, the Erlang distribution
// with -kernel inet_dist_use_interface, and the cluster has its own epmd (started here on a free port,
// -address 127.0.0.1; ERL_EPMD_PORT points the nodes at it). Every process is ours by PID: the epmd and
// each node's beam (rabbitmq-server is run with RABBITMQ_ALLOW_INPUT so it execs erl, and -noinput).
// Nodes run as the current user with HOME in the temp dir (the Erlang cookie is written there).
//
// What the MQTT plugin of 3.10 does in a cluster (read from its code, rabbit_mqtt_processor):
// - a QoS 1 PUBLISH is acknowledged (PUBACK) only once RabbitMQ confirmed it (publisher confirms), i.e.
//   it is in every queue it was routed to;
// - a session (clean session = false) is its QoS 1 subscription queue "mqtt-subscription-<id>qos1";
//   "session present" means that queue exists in the cluster. With durable_queue_type = quorum (set in
//   advanced.config below) that queue is a quorum queue, replicated on the nodes: it survives the loss of
//   one node of three. Clean sessions (and QoS 0 subscriptions) use classic queues on the node the client
//   connected to: they go with that node;
// - client ids are tracked cluster-wide in a Raft group (mqtt_node): a client id connecting to another
//   node closes the old connection; a majority of nodes must be up for anyone to connect;
// - retained messages are stored per node (not replicated): a subscriber may get none, or an old one,
//   depending on the node it is on.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const RMQ_DIRS = ["/usr/lib/rabbitmq/lib"];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** the rabbitmq-server script of Debian's package (the unwrapped one: the /usr/sbin wrapper switches user) */
export function findRabbitmq() {
  for (const d of RMQ_DIRS) {
    let names = [];
    try { names = spawnSync("ls", [d], { encoding: "utf8" }).stdout.split("\n").filter((n) => n.startsWith("rabbitmq_server-")); } catch {}
    for (const n of names.sort().reverse()) {
      const s = join(d, n, "sbin", "rabbitmq-server");
      if (existsSync(s)) return { server: s, version: n.slice("rabbitmq_server-".length) };
    }
  }
  return null;
}

function freePort() {
  return new Promise((res, rej) => { const s = createServer(); s.on("error", rej); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => res(p)); }); });
}

/** CONNECT (MQTT 3.1.1, clean, client id `id`) and read the CONNACK's return code; -1: no answer */
export function mqttPing(port, id = "ping-" + process.pid, ms = 3000) {
  return new Promise((res) => {
    const c = createConnection({ host: "127.0.0.1", port });
    const t = setTimeout(() => { c.destroy(); res(-1); }, ms);
    const b = Buffer.from(id);
    c.on("connect", () => c.write(Buffer.concat([Buffer.from([0x10, 12 + b.length, 0, 4]), Buffer.from("MQTT"), Buffer.from([4, 2, 0, 10, 0, b.length]), b])));
    c.on("data", (d) => { clearTimeout(t); c.destroy(); res(d[0] == 0x20 ? d[3] : -1); });
    c.on("error", () => { clearTimeout(t); res(-1); });
  });
}

/**
 * Start `nodes` clustered nodes. `log` gets progress lines. Resolves when every node answers MQTT
 * CONNECT with CONNACK 0; rejects (having stopped what it started) with the node's log when one does not.
 */
export async function startCluster({ nodes = 3, log = () => {}, timeoutMs = 120000 } = {}) {
  const rmq = findRabbitmq();
  if (!rmq) throw new Error("rabbitmq-server is not installed (apt-get install rabbitmq-server)");
  const epmdBin = ["/usr/bin/epmd"].concat(spawnSync("bash", ["-c", "ls /usr/lib/erlang/erts-*/bin/epmd 2>/dev/null"], { encoding: "utf8" }).stdout.split("\n")).find((p) => p && existsSync(p));
  if (!epmdBin) throw new Error("epmd not found (erlang-base)");
  const dir = mkdtempSync(join(tmpdir(), "mqtt-mcu-rabbitmq-"));
  const cookie = "mqttmcu" + Math.random().toString(36).slice(2, 14).toUpperCase();
  writeFileSync(join(dir, ".erlang.cookie"), cookie);
  chmodSync(join(dir, ".erlang.cookie"), 0o400);
  writeFileSync(join(dir, "enabled_plugins"), "[rabbitmq_mqtt].\n");
  writeFileSync(join(dir, "rabbitmq-env.conf"), "");
  // durable_queue_type: a persistent session's QoS 1 subscription queue is a quorum queue (replicated)
  writeFileSync(join(dir, "advanced.config"), "[{rabbitmq_mqtt, [{durable_queue_type, quorum}]}].\n");
  const epmdPort = await freePort();
  const procs = new Set();
  const epmd = spawn(epmdBin, ["-port", String(epmdPort), "-address", "127.0.0.1"], { stdio: "ignore" });
  procs.add(epmd);
  const tag = "mcu" + process.pid;
  const list = [];
  for (let i = 0; i < nodes; i++) {
    list.push({ i, name: `${tag}n${i}@localhost`, mqttPort: await freePort(), amqpPort: await freePort(), distPort: await freePort(), dir: join(dir, "n" + i), pid: 0, child: null, out: "" });
  }
  const killAll = () => {
    for (const n of list) if (n.child && n.child.exitCode === null) try { process.kill(n.pid, "SIGKILL"); } catch {}
    try { process.kill(epmd.pid, "SIGKILL"); } catch {}
  };
  process.on("exit", killAll);

  function env(n) {
    return {
      PATH: process.env.PATH, LANG: "C.UTF-8", HOME: dir,
      RABBITMQ_NODENAME: n.name, RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1", RABBITMQ_NODE_PORT: String(n.amqpPort), RABBITMQ_DIST_PORT: String(n.distPort),
      RABBITMQ_CONFIG_FILE: join(n.dir, "rabbitmq.conf"), RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, "advanced.config"),
      RABBITMQ_CONF_ENV_FILE: join(dir, "rabbitmq-env.conf"), RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, "enabled_plugins"),
      RABBITMQ_MNESIA_BASE: join(n.dir, "mnesia"), RABBITMQ_LOG_BASE: join(n.dir, "log"), RABBITMQ_PID_FILE: join(n.dir, "pid"),
      RABBITMQ_ALLOW_INPUT: "1", // the script then execs erl: the PID we spawn is the node's
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-noinput -kernel inet_dist_use_interface {127,0,0,1}",
      ERL_EPMD_PORT: String(epmdPort), ERL_EPMD_ADDRESS: "127.0.0.1",
    };
  }
  function conf(n) {
    const l = [
      `listeners.tcp.default = 127.0.0.1:${n.amqpPort}`,
      `mqtt.listeners.tcp.default = 127.0.0.1:${n.mqttPort}`,
      `mqtt.allow_anonymous = true`,
      `log.console = false`, `log.file.level = info`,
      `cluster_formation.peer_discovery_backend = classic_config`,
    ];
    list.forEach((m, k) => l.push(`cluster_formation.classic_config.nodes.${k + 1} = ${m.name}`));
    return l.join("\n") + "\n";
  }
  async function start(i) {
    const n = list[i];
    mkdirSync(n.dir, { recursive: true });
    writeFileSync(join(n.dir, "rabbitmq.conf"), conf(n));
    const c = spawn("bash", [rmq.server], { env: env(n), stdio: ["ignore", "pipe", "pipe"] });
    // bash runs the script, which execs erl: c.pid becomes the node (beam.smp) itself
    n.child = c; n.pid = c.pid; n.out = "";
    procs.add(c);
    c.stdout.on("data", (d) => { n.out += d; });
    c.stderr.on("data", (d) => { n.out += d; });
    c.on("exit", (code, sig) => { n.out += `[node exited: ${code ?? sig}]\n`; });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (c.exitCode !== null || c.signalCode !== null) throw new Error(`node ${n.name} exited at start:\n${n.out}\n${nodeLog(n)}`);
      if (await mqttPing(n.mqttPort, `${tag}-ping${i}`, 2000) === 0) break;
      if (Date.now() > deadline) throw new Error(`node ${n.name} gave no CONNACK 0 on ${n.mqttPort} within ${timeoutMs} ms:\n${n.out}\n${nodeLog(n)}`);
      await sleep(250);
    }
    log(`node ${i} ${n.name} up: MQTT 127.0.0.1:${n.mqttPort}, pid ${n.pid}`);
  }
  function nodeLog(n) {
    try { return readFileSync(join(n.dir, "log", n.name + ".log"), "utf8").split("\n").slice(-40).join("\n"); } catch { return "(no log)"; }
  }
  /** SIGKILL a node (a crash: no goodbye to its clients) */
  function kill(i) {
    const n = list[i];
    if (!n.child || n.child.exitCode !== null || n.child.signalCode !== null) return Promise.resolve();
    const gone = new Promise((r) => n.child.once("exit", r));
    process.kill(n.pid, "SIGKILL");
    return gone;
  }
  /** SIGTERM a node (an orderly stop, as for an upgrade), SIGKILL after `ms` */
  async function term(i, ms = 30000) {
    const n = list[i];
    if (!n.child || n.child.exitCode !== null || n.child.signalCode !== null) return;
    const gone = new Promise((r) => n.child.once("exit", r));
    process.kill(n.pid, "SIGTERM");
    const t = setTimeout(() => { try { process.kill(n.pid, "SIGKILL"); } catch {} }, ms);
    await gone;
    clearTimeout(t);
  }
  async function stop() {
    // the last ones first, all but the first together: an orderly stop keeps the quorum groups happy
    await Promise.all(list.map((n, i) => term(i, 15000)));
    try { process.kill(epmd.pid, "SIGTERM"); } catch {}
    process.off("exit", killAll);
    rmSync(dir, { recursive: true, force: true });
  }
  try {
    log(`rabbitmq ${rmq.version}: ${nodes} nodes in ${dir}, epmd pid ${epmd.pid} on 127.0.0.1:${epmdPort}`);
    // one after the other: the first forms the cluster, the others join it at their first boot
    for (let i = 0; i < nodes; i++) await start(i);
    await provePublish(list);
  } catch (e) {
    killAll();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return { version: rmq.version, dir, epmdPid: epmd.pid, nodes: list, start, kill, term, stop, nodeLog: (i) => nodeLog(list[i]) };
}

/** The nodes are one cluster: a message published on the last node reaches a subscriber on the first. */
async function provePublish(list) {
  if (list.length < 2) return;
  const mqtt = (await import("mqtt")).default;
  const a = await mqtt.connectAsync(`mqtt://127.0.0.1:${list[0].mqttPort}`, { protocolVersion: 4, reconnectPeriod: 0 });
  const b = await mqtt.connectAsync(`mqtt://127.0.0.1:${list[list.length - 1].mqttPort}`, { protocolVersion: 4, reconnectPeriod: 0 });
  try {
    const got = new Promise((res) => a.on("message", (t, m) => res(m.toString())));
    await a.subscribeAsync("cluster/check", { qos: 1 });
    await b.publishAsync("cluster/check", "across", { qos: 1 });
    const m = await Promise.race([got, sleep(10000).then(() => null)]);
    if (m !== "across") throw new Error("the nodes are not one cluster: a message published on the last node did not reach the first");
  } finally {
    await a.endAsync(true); await b.endAsync(true);
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop())) {
  const i = process.argv.indexOf("--nodes");
  const c = await startCluster({ nodes: i > 0 ? Number(process.argv[i + 1]) : 3, log: console.log });
  console.log(`cluster up (rabbitmq ${c.version}): MQTT ports ${c.nodes.map((n) => n.mqttPort).join(", ")}; Ctrl-C stops it`);
  const bye = async () => { await c.stop(); console.log("stopped"); process.exit(0); };
  process.on("SIGINT", bye);
  process.on("SIGTERM", bye);
}
