// Part 2: codec throughput on Node, our codec against mqtt-packet, interleaved in one run.
//
// Each side works on its native representation: ours on binary strings (what Espruino sockets carry),
// mqtt-packet on Buffers. Encoding is packet object -> bytes (ours `encode`, mqtt-packet `generate`,
// which both return one whole packet). Decoding feeds whole packets, one chunk each as a socket would
// deliver them, through the streaming decoders (our createDecoder, mqtt-packet's parser), so framing
// counts on both sides. Extra rows price the Node edge: our bytes converted to/from Buffers with latin1.
import mqttPacket from "mqtt-packet";
import { encode, Packet } from "../src/mqtt/packets";
import { createDecoder } from "../src/mqtt/decoder";
import { args, emit, Pair, runPairs } from "./lib";

// ---- the packet mix, written once and given to both codecs ----------------------------------------
const TOPIC = "sensors/esp32-01/temperature";

function bytes(n: number, seed: number): number[] {
  const a: number[] = [];
  let x = seed;
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) & 0x7fffffff; a.push(x >> 16 & 255); }
  return a;
}
const bin = (a: number[]) => Buffer.from(a).toString("latin1");

interface Case { group: string; name: string; ours: Packet; peer: any }

function cases(): Case[] {
  const c: Case[] = [];
  const pw = bytes(8, 7);
  c.push({
    group: "control", name: "CONNECT",
    ours: { type: 1, clientId: "mqtt-mcu-bench-01", clean: true, keepalive: 60, username: "device", password: bin(pw),
      will: { topic: "devices/esp32-01/status", payload: "offline", qos: 1, retain: true } },
    peer: { cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clientId: "mqtt-mcu-bench-01", clean: true, keepalive: 60,
      username: "device", password: Buffer.from(pw), will: { topic: "devices/esp32-01/status", payload: Buffer.from("offline"), qos: 1, retain: false } },
  });
  c[0].peer.will.retain = true;
  c.push({ group: "control", name: "CONNACK", ours: { type: 2, sessionPresent: false, returnCode: 0 }, peer: { cmd: "connack", sessionPresent: false, returnCode: 0 } });
  let id = 1;
  for (const size of [16, 256, 4096]) for (const qos of [0, 1, 2]) {
    const pl = bytes(size, size + qos), mid = qos ? id++ : undefined;
    c.push({
      group: `PUBLISH ${size < 1024 ? size + " B" : size / 1024 + " KB"}`, name: `PUBLISH ${size} B QoS ${qos}`,
      ours: { type: 3, topic: TOPIC, payload: bin(pl), qos, retain: false, dup: false, id: mid },
      peer: { cmd: "publish", topic: TOPIC, payload: Buffer.from(pl), qos, retain: false, dup: false, messageId: mid },
    });
  }
  c.push({
    group: "control", name: "SUBSCRIBE",
    ours: { type: 8, id: 20, subs: [{ topic: "actuators/esp32-01/+/set", qos: 1 }, { topic: "config/#", qos: 0 }] },
    peer: { cmd: "subscribe", messageId: 20, subscriptions: [{ topic: "actuators/esp32-01/+/set", qos: 1 }, { topic: "config/#", qos: 0 }] },
  });
  c.push({ group: "control", name: "SUBACK", ours: { type: 9, id: 20, granted: [1, 0] }, peer: { cmd: "suback", messageId: 20, granted: [1, 0] } });
  const acks: [number, string][] = [[4, "puback"], [5, "pubrec"], [6, "pubrel"], [7, "pubcomp"]];
  for (const [t, cmd] of acks) c.push({ group: "control", name: cmd.toUpperCase(), ours: { type: t, id: 1 }, peer: { cmd, messageId: 1 } });
  return c;
}

// ---- sanity: both codecs must produce and read the same bytes, or the race means nothing ---------
function check(cs: Case[]) {
  for (const k of cs) {
    const a = encode(k.ours), b = mqttPacket.generate(k.peer).toString("latin1");
    if (a !== b) throw new Error(`${k.name}: our bytes differ from mqtt-packet's\n ours ${Buffer.from(a, "latin1").toString("hex")}\n peer ${Buffer.from(b, "latin1").toString("hex")}`);
  }
  let got: Packet[] = [], errs: any[] = [];
  const d = createDecoder(1 << 20, (p) => got.push(p), (e) => errs.push(e));
  for (const k of cs) d.push(encode(k.ours));
  if (errs.length || got.length !== cs.length) throw new Error(`our decoder: ${got.length}/${cs.length} packets, errors ${JSON.stringify(errs)}`);
  const p = mqttPacket.parser({ protocolVersion: 4 }), pgot: any[] = [];
  p.on("packet", (x: any) => pgot.push(x));
  p.on("error", (e: any) => { throw e; });
  for (const k of cs) p.parse(mqttPacket.generate(k.peer));
  if (pgot.length !== cs.length) throw new Error(`mqtt-packet parser: ${pgot.length}/${cs.length} packets`);
  for (let i = 0; i < cs.length; i++) if (got[i].type !== cs[i].ours.type || pgot[i].cmd !== cs[i].peer.cmd) throw new Error(`decode mismatch at ${cs[i].name}`);
}

// ---- tasks ----------------------------------------------------------------------------------------
// A sink the optimiser cannot drop.
let sink = 0;

// V8 builds `a + b` as a rope and copies the bytes only when someone reads them (the socket write, or
// a charCodeAt): without this the encode rows would time rope building and skip the copy that
// mqtt-packet does inside generate(). Reading one char flattens the rope; on Espruino there are no
// ropes and concatenation copies at once.
function flat(s: string) { return s.charCodeAt(s.length >> 1); }

/** iterations each do `reps` passes over a group so that one sample is tens of microseconds */
function pairsFor(label: string, cs: Case[]): Pair[] {
  const reps = Math.max(1, Math.ceil(64 / cs.length)), units = reps * cs.length;
  const ours = cs.map((k) => k.ours), peer = cs.map((k) => k.peer);
  const oursBytes = ours.map((p) => encode(p)), peerBytes = peer.map((p) => mqttPacket.generate(p));
  const dec = createDecoder(1 << 20, (p) => { sink += p.type; }, (e) => { throw new Error(e.message); });
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on("packet", (p: any) => { sink += p.length; });
  parser.on("error", (e: any) => { throw e; });
  return [
    {
      name: `encode ${label}`, units,
      a: () => { for (let r = 0; r < reps; r++) for (let i = 0; i < ours.length; i++) sink += flat(encode(ours[i])); },
      b: () => { for (let r = 0; r < reps; r++) for (let i = 0; i < peer.length; i++) sink += mqttPacket.generate(peer[i]).length; },
    },
    {
      name: `decode ${label}`, units,
      a: () => { for (let r = 0; r < reps; r++) for (let i = 0; i < oursBytes.length; i++) dec.push(oursBytes[i]); },
      b: () => { for (let r = 0; r < reps; r++) for (let i = 0; i < peerBytes.length; i++) parser.parse(peerBytes[i]); },
    },
  ];
}

/** ours with the Node edge conversion (what our socket transport pays on Node), against mqtt-packet */
function edgePairs(cs: Case[]): Pair[] {
  const reps = Math.max(1, Math.ceil(64 / cs.length)), units = reps * cs.length;
  const ours = cs.map((k) => k.ours), peer = cs.map((k) => k.peer);
  const peerBytes = peer.map((p) => mqttPacket.generate(p));
  const dec = createDecoder(1 << 20, (p) => { sink += p.type; }, (e) => { throw new Error(e.message); });
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on("packet", (p: any) => { sink += p.length; });
  return [
    {
      name: "encode mix + Buffer.from(s, latin1)", units,
      a: () => { for (let r = 0; r < reps; r++) for (let i = 0; i < ours.length; i++) sink += Buffer.from(encode(ours[i]), "latin1").length; },
      b: () => { for (let r = 0; r < reps; r++) for (let i = 0; i < peer.length; i++) sink += mqttPacket.generate(peer[i]).length; },
    },
    {
      name: "buf.toString(latin1) + decode mix", units,
      a: () => { for (let r = 0; r < reps; r++) for (let i = 0; i < peerBytes.length; i++) dec.push(peerBytes[i].toString("latin1")); },
      b: () => { for (let r = 0; r < reps; r++) for (let i = 0; i < peerBytes.length; i++) parser.parse(peerBytes[i]); },
    },
  ];
}

async function main() {
  const { out, quick } = args();
  const cs = cases();
  check(cs);
  const groups = new Map<string, Case[]>();
  for (const k of cs) { if (!groups.has(k.group)) groups.set(k.group, []); groups.get(k.group)!.push(k); }
  const pairs = [...pairsFor("mix", cs)];
  for (const [g, list] of groups) pairs.push(...pairsFor(g, list));
  pairs.push(...edgePairs(cs));
  const t0 = Date.now();
  const results = await runPairs(pairs, {
    rounds: quick ? 2 : 16, time: quick ? 100 : 60, warmupTime: quick ? 50 : 200,
    log: (s) => process.stderr.write("  codec " + s + "\n"),
  });
  emit(out, {
    part: "codec",
    node: process.version,
    mix: cs.map((k) => k.name),
    mixBytes: cs.reduce((n, k) => n + encode(k.ours).length, 0),
    unit: "packets/s",
    a: "mqtt-mcu (binary strings)", b: "mqtt-packet (Buffers)",
    results, seconds: (Date.now() - t0) / 1000, sink: sink & 1,
  });
}

main().catch((e) => { console.error(e); process.exit(1); });
