// What the client's integration suites share: our client on a real TCP socket (Node's net through
// src/net/socket.ts, the same transport the board uses), the `mqtt` package as the peer on the other
// side of a real broker, polling with deadlines, and the behaviours every broker must show.
import * as net from "node:net";
import { expect, it } from "vitest";
import mqtt, { type MqttClient } from "mqtt";
import { createClient } from "../../src/index";
import { socketTransport } from "../../src/net/socket";
import type { Client, ClientOptions } from "../../src/mqtt/client";
import type { Packet } from "../../src/mqtt/packets";
import type { MqttError } from "../../src/mqtt/errors";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `cond` every 10 ms until it holds; fail with `what` after `ms`. */
export async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

let seq = 0;
/** a topic prefix and client id unique to this run and test */
export const uniq = (what: string) => `${what}-${process.pid}-${Date.now() % 1e6}-${++seq}`;

export interface Ours {
  c: Client;
  id: string;
  /** every message: [topic, payload (binary string), packet] */
  got: [string, string, Packet][];
  errs: MqttError[];
  /** CONNACKs, in order */
  connacks: Packet[];
  events: string[];
  /** the Node sockets under the client, newest last: a test can cut one */
  sockets: net.Socket[];
  /** the port of every connect attempt, in order (refused ones too) */
  tried: number[];
  /** resolves on the next `connect` */
  up(ms?: number): Promise<Packet>;
  /** publish and wait for the callback (QoS 1/2: the broker's ack) */
  pub(topic: string, payload: any, o?: { qos?: number; retain?: boolean }): Promise<void>;
  /** subscribe and wait for SUBACK; returns the granted list */
  sub(filter: string | string[], o?: { qos?: number; handler?: any }): Promise<any>;
  end(force?: boolean): void;
}

const live: Ours[] = [];
const peers: MqttClient[] = [];

/** Our client, connecting at once; short keepalive and retries so the suites stay fast. */
export function ours(port: number, o: Partial<ClientOptions> = {}): Ours {
  const sockets: net.Socket[] = [], tried: number[] = [];
  // the module socketTransport uses, with every socket kept for the test
  const mod = { connect(opts: any, cb: () => void) { tried.push(opts.port); const s = net.connect(opts, cb); sockets.push(s); return s; } };
  const id = o.clientId || uniq("ours");
  const c = createClient({
    host: "127.0.0.1", port, transport: socketTransport(mod), clientId: id, keepalive: 2, connectTimeout: 1000,
    reconnect: { min: 100, max: 400, stable: 1000 }, ...o,
  });
  const me: Ours = {
    c, id, got: [], errs: [], connacks: [], events: [], sockets, tried,
    up(ms = 5000) {
      const n = me.connacks.length;
      return until(() => me.connacks.length > n, "a CONNACK for " + id, ms).then(() => me.connacks[me.connacks.length - 1]);
    },
    pub(topic, payload, po = {}) {
      return new Promise((resolve, reject) => c.publish(topic, payload, po, (e) => (e ? reject(new Error(e.code + " " + e.message)) : resolve())));
    },
    sub(filter, so = {}) {
      return new Promise((resolve, reject) => c.subscribe(filter, so, (e, g) => (e ? reject(new Error(e.code + " " + e.message)) : resolve(g))));
    },
    end(force) { c.end(force); },
  };
  c.on("message", (t: string, p: string, pk: Packet) => me.got.push([t, p, { ...pk }])); // the packet object is reused after the call
  c.on("error", (e: MqttError) => me.errs.push(e));
  c.on("connect", (p: Packet) => me.connacks.push(p));
  for (const ev of ["connect", "reconnect", "offline", "close", "end"]) c.on(ev, () => me.events.push(ev));
  live.push(me);
  c.connect();
  return me;
}

/** The peer: the `mqtt` package, MQTT 3.1.1. Messages are collected as [topic, payload Buffer, packet]. */
export async function peer(port: number, o: mqtt.IClientOptions = {}) {
  const p = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, reconnectPeriod: 100, connectTimeout: 2000, ...o });
  const got: [string, Buffer, any][] = [];
  p.on("message", (t, m, pk) => got.push([t, m, pk]));
  peers.push(p);
  return { p, got };
}

/** end every client and peer the test made (afterEach) */
export async function closeAll(): Promise<void> {
  for (const m of live.splice(0)) m.c.end(true);
  await Promise.all(peers.splice(0).map((p) => p.endAsync(true).catch(() => {})));
}

const bin = (s: string) => Buffer.from(s, "latin1");
const BYTES = new Uint8Array([0, 1, 127, 128, 255, 0x41]);

/** The behaviours every broker must show with our client. `port()` is read when each test runs. */
export function sharedTests(port: () => number) {
  it("QoS 0, 1 and 2 from our client reach the peer, binary payload intact; QoS 1/2 callbacks on the ack", async () => {
    const t = uniq("out");
    const { p, got } = await peer(port());
    await p.subscribeAsync(t + "/#", { qos: 2 });
    const me = ours(port());
    await me.up();
    await Promise.all([me.pub(t + "/0", BYTES), me.pub(t + "/1", "é1", { qos: 1 }), me.pub(t + "/2", "two", { qos: 2 })]);
    expect(me.c.inflight()).toBe(0);
    await until(() => got.length >= 3, "3 messages at the peer");
    await sleep(50); // nothing more may come
    const byTopic = Object.fromEntries(got.map(([tp, m, pk]) => [tp, [m, pk.qos]]));
    expect(got).toHaveLength(3);
    expect(byTopic[t + "/0"]).toEqual([Buffer.from(BYTES), 0]);
    expect(byTopic[t + "/1"]).toEqual([Buffer.from("é1", "utf8"), 1]);
    expect(byTopic[t + "/2"]).toEqual([Buffer.from("two"), 2]);
    expect(me.errs).toEqual([]);
  });

  it("QoS 0, 1 and 2 from the peer reach our client once each, through `message` and the filter's handler", async () => {
    const t = uniq("in");
    const me = ours(port());
    await me.up();
    const handled: string[] = [];
    expect(await me.sub(t + "/+", { qos: 2, handler: (tp: string) => handled.push(tp) })).toEqual([{ topic: t + "/+", qos: 2 }]);
    const { p } = await peer(port());
    for (const q of [0, 1, 2] as const) await p.publishAsync(`${t}/${q}`, Buffer.from([q, 0, 255]), { qos: q });
    await until(() => me.got.length >= 3, "3 messages at our client");
    await sleep(100);
    expect(me.got.map(([tp, m, pk]) => [tp, m, pk.qos]).sort()).toEqual([0, 1, 2].map((q) => [`${t}/${q}`, String.fromCharCode(q, 0, 255), q]));
    expect(handled.sort()).toEqual([`${t}/0`, `${t}/1`, `${t}/2`]);
    expect(me.errs).toEqual([]);
  });

  it("retained messages both ways", async () => {
    const t = uniq("ret");
    const { p } = await peer(port());
    await p.publishAsync(t + "/from-peer", "kept", { qos: 1, retain: true });
    const me = ours(port());
    await me.up();
    await me.pub(t + "/from-ours", "mine", { qos: 1, retain: true });
    await me.sub(t + "/#", { qos: 1 });
    await until(() => me.got.some(([tp]) => tp == t + "/from-peer"), "the retained message at our client");
    const r = me.got.find(([tp]) => tp == t + "/from-peer")!;
    expect([r[1], r[2].retain]).toEqual(["kept", true]);
    const late = await peer(port());
    await late.p.subscribeAsync(t + "/from-ours", { qos: 1 });
    await until(() => late.got.length > 0, "our retained message at a later subscriber");
    expect([late.got[0][1].toString(), late.got[0][2].retain]).toEqual(["mine", true]);
    // clear them
    await me.pub(t + "/from-ours", "", { qos: 1, retain: true });
    await p.publishAsync(t + "/from-peer", "", { qos: 1, retain: true });
  });

  it("the will is published when our socket is cut; the client comes back; end() sends no will", async () => {
    const t = uniq("will");
    const { p, got } = await peer(port());
    await p.subscribeAsync(t + "/#", { qos: 1 });
    const me = ours(port(), { will: { topic: t + "/status", payload: "gone", qos: 1, retain: false } });
    await me.up();
    me.sockets[me.sockets.length - 1].destroy(); // under the client: no DISCONNECT
    await until(() => got.length > 0, "the will at the peer");
    expect([got[0][0], got[0][1].toString(), got[0][2].qos]).toEqual([t + "/status", "gone", 1]);
    await me.up(); // reconnected by itself
    expect(me.events).toContain("reconnect");
    me.end(); // DISCONNECT: the broker drops the will
    await sleep(200);
    await p.publishAsync(t + "/marker", "m", { qos: 1 }); // after the will would have come
    await until(() => got.some(([tp]) => tp == t + "/marker"), "the marker");
    expect(got.filter(([tp]) => tp == t + "/status")).toHaveLength(1);
  });

  it("a persistent session receives the QoS 1 messages published while it was away", async () => {
    const t = uniq("sess");
    const id = uniq("persist");
    const a = ours(port(), { clientId: id, clean: false });
    await a.up();
    await a.sub(t, { qos: 1 });
    a.end();
    const { p } = await peer(port());
    for (let i = 0; i < 5; i++) await p.publishAsync(t, "m" + i, { qos: 1 });
    const b = ours(port(), { clientId: id, clean: false });
    const ack = await b.up();
    expect(ack.sessionPresent).toBe(true);
    await until(() => b.got.length >= 5, "5 stored messages");
    await sleep(100);
    expect(b.got.map(([tp, m, pk]) => [tp, m, pk.qos])).toEqual([0, 1, 2, 3, 4].map((i) => [t, "m" + i, 1]));
  });

  it("a clean session after a persistent one starts without the stored messages", async () => {
    const t = uniq("clean");
    const id = uniq("c");
    const a = ours(port(), { clientId: id, clean: false });
    await a.up();
    await a.sub(t, { qos: 1 });
    a.end();
    const { p } = await peer(port());
    await p.publishAsync(t, "stored", { qos: 1 });
    const b = ours(port(), { clientId: id, clean: true });
    expect((await b.up()).sessionPresent).toBe(false);
    await sleep(200);
    expect(b.got).toEqual([]);
  });
}

/** A broker that refuses a password: our client reports EREFUSED with the code and waits the
 *  maximum between attempts; the right password then connects. */
export async function wrongPassword(port: number, codes: number[]) {
  const max = 600;
  const me = ours(port, { username: "u", password: "wrong", reconnect: { min: 50, max, stable: 1000 } });
  const attempts: number[] = [];
  me.c.on("reconnect", () => attempts.push(Date.now()));
  await until(() => me.errs.filter((e) => e.code == "EREFUSED").length >= 3, "three refusals", 5000);
  me.end();
  const refused = me.errs.filter((e) => e.code == "EREFUSED");
  for (const e of refused) {
    expect(codes).toContain(e.returnCode);
    expect(e.message).toMatch(/bad user name or password|not authorized/);
  }
  expect(me.connacks).toEqual([]);
  expect(attempts.length).toBeGreaterThanOrEqual(2);
  for (let i = 1; i < attempts.length; i++) {
    const gap = attempts[i] - attempts[i - 1];
    expect(gap).toBeGreaterThanOrEqual(max - 20); // the maximum, not the 50-100 ms a first retry takes
    expect(gap).toBeLessThan(max + 500);
  }
  const ok = ours(port, { username: "u", password: "right" });
  expect((await ok.up()).returnCode).toBe(0);
}
