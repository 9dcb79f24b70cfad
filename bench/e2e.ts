// Part 3: end to end through a local Mosquitto, ours (the built dist/mqtt-mcu.core.js on Node's net)
// against MQTT.js, both connected to the same broker in the same run.
//
// A round trip: a client subscribed to its own topic at QoS q publishes one 16-byte message at QoS q
// and waits until the broker has delivered it back (its `message` event). Rows:
//   - "round trip QoS q": one message at a time: round trips per second and p50/p99 latency;
//   - "burst of 10 QoS q": 10 messages published at once, the iteration ends when all 10 are back
//     (messages per second with a window of 10, the in-flight limit of our client).
// Ours sets TCP_NODELAY on its Node socket; MQTT.js does not, and with Nagle's algorithm its QoS 1/2
// round trips wait ~40 ms for delayed ACKs. The headline rows therefore give MQTT.js's socket
// TCP_NODELAY too (the same socket settings on both sides); the "MQTT.js defaults" rows run it as
// shipped. The broker runs with set_tcp_nodelay true for the same reason (its default would add
// Nagle waits on its side to both clients). MQTT.js delivers an incoming QoS 2 message on PUBREL,
// ours on PUBLISH: both are allowed by the spec, and the round trip is what the application sees.
import { createRequire } from "node:module";
import { join } from "node:path";
import mqtt from "mqtt";
import { hasMosquitto, startMosquitto } from "./mosquitto"; // bench/run.mjs swaps in test/helpers/mosquitto.ts when committed
import { args, emit, Pair, runPairs } from "./lib";

const ROOT = process.env.MQTT_MCU_ROOT || process.cwd();
const PAYLOAD = "t=23.45;h=48.20;"; // 16 bytes
const BURST = 10;

interface Side {
  publish(qos: number): void;
  /** resolves on the next `n` messages */
  wait(n: number): Promise<void>;
  close(): Promise<void>;
}

/** shared by both sides: a counter and one pending waiter, resolved from the message event */
function waiter() {
  let left = 0, done: (() => void) | null = null, stray = 0;
  return {
    wait(n: number) { return new Promise<void>((r) => { left = n; done = r; }); },
    hit() {
      if (!done) { stray++; return; }
      if (--left === 0) { const d = done; done = null; d(); }
    },
    stray: () => stray,
  };
}

async function ours(port: number, topic: string, qos: number): Promise<Side> {
  const lib = createRequire(join(ROOT, "package.json"))("./dist/mqtt-mcu.core.js");
  const w = waiter();
  const c = lib.createClient({ host: "127.0.0.1", port, clientId: "bench-ours-" + qos + "-" + process.pid, reconnect: false, keepalive: 60 });
  c.on("error", (e: any) => { console.error("ours:", e.code, e.message); });
  c.on("message", () => w.hit());
  await new Promise<void>((res, rej) => {
    c.on("connect", () => c.subscribe(topic, { qos }, (e: any) => (e ? rej(new Error(e.message)) : res())));
    c.connect();
  });
  const opts = { qos };
  return {
    publish: () => c.publish(topic, PAYLOAD, opts),
    wait: (n) => w.wait(n),
    close: () => new Promise<void>((r) => c.end(false, () => r())),
  };
}

async function mqttjs(port: number, topic: string, qos: number, noDelay: boolean): Promise<Side> {
  const w = waiter();
  const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: `bench-mqttjs-${noDelay ? "nd-" : ""}${qos}-${process.pid}`, reconnectPeriod: 0, keepalive: 60, protocolVersion: 4 });
  c.on("error", (e) => { console.error("mqtt.js:", e.message); });
  c.on("message", () => w.hit());
  await new Promise<void>((res, rej) => {
    c.on("connect", () => {
      // MQTT.js has no option for it; its net stream is `client.stream`
      if (noDelay) (c as any).stream.setNoDelay(true);
      c.subscribe(topic, { qos: qos as 0 | 1 | 2 }, (e) => (e ? rej(e) : res()));
    });
  });
  const opts = { qos: qos as 0 | 1 | 2 };
  return {
    publish: () => { c.publish(topic, PAYLOAD, opts); },
    wait: (n) => w.wait(n),
    close: () => new Promise<void>((r) => c.end(false, {}, () => r())),
  };
}

async function main() {
  const { out, quick } = args();
  if (!hasMosquitto) { emit(out, { part: "e2e", skipped: "mosquitto is not installed (apt-get install mosquitto)" }); return; }
  const broker = await startMosquitto({ extraConf: "set_tcp_nodelay true" });
  const t0 = Date.now();
  const sides: Side[] = [];
  try {
    const pairs: Pair[] = [], bursts: Pair[] = [], shipped: Pair[] = [];
    for (const qos of [0, 1, 2]) {
      const a = await ours(broker.port, `bench/ours/${qos}/${process.pid}`, qos);
      const b = await mqttjs(broker.port, `bench/mqttjs-nd/${qos}/${process.pid}`, qos, true);
      const d = await mqttjs(broker.port, `bench/mqttjs/${qos}/${process.pid}`, qos, false);
      sides.push(a, b, d);
      const one = (s: Side) => () => { const p = s.wait(1); s.publish(qos); return p; };
      const many = (s: Side) => () => { const p = s.wait(BURST); for (let i = 0; i < BURST; i++) s.publish(qos); return p; };
      pairs.push({ name: `round trip QoS ${qos}`, units: 1, a: one(a), b: one(b) });
      bursts.push({ name: `burst of ${BURST} QoS ${qos}`, units: BURST, a: many(a), b: many(b) });
      shipped.push({ name: `round trip QoS ${qos}, MQTT.js defaults`, units: 1, a: one(a), b: one(d) });
    }
    const o = { rounds: quick ? 2 : 20, time: quick ? 300 : 150, warmupTime: quick ? 100 : 300, log: (s: string) => process.stderr.write("  e2e " + s + "\n") };
    const rt = await runPairs(pairs, { ...o, samples: true });
    const bu = await runPairs(bursts, o);
    const sh = await runPairs(shipped, { ...o, rounds: quick ? 2 : 4, iterations: 8, samples: true });
    emit(out, {
      part: "e2e", node: process.version, payloadBytes: PAYLOAD.length, burst: BURST,
      a: "mqtt-mcu (dist/mqtt-mcu.core.js)", b: "MQTT.js (TCP_NODELAY set, as ours)",
      unit: "messages/s", latencyUnit: "ms", results: [...rt, ...bu, ...sh], seconds: (Date.now() - t0) / 1000,
    });
  } finally {
    for (const s of sides) await Promise.race([s.close(), new Promise((r) => setTimeout(r, 1000))]);
    await broker.stop();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
