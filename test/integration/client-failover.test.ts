// Our client with `servers` (issue #17) against two real Mosquitto brokers on free loopback ports: a
// stand-in for a cluster whose nodes do not share sessions (each Mosquitto is on its own). What it shows:
// the order of the attempts (a refused first server, a node killed mid-session, a CONNACK refusal 3),
// which server is in use (client.sv), and in-flight QoS 1 messages resent to the next node with DUP set,
// as the second broker's own log records them. Real sockets, no timed assertions.
import * as net from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { freePort, hasMosquitto, startMosquitto, type Mosquitto } from "../helpers/mosquitto";
import { closeAll, ours, peer, sleep, uniq, until } from "../helpers/client-integration";

describe.skipIf(!hasMosquitto)("client failover across two mosquitto brokers", () => {
  let b1: Mosquitto, b2: Mosquitto;
  const servers: net.Server[] = [];
  beforeAll(async () => {
    b1 = await startMosquitto();
    b2 = await startMosquitto({ extraConf: "log_type debug" }); // it logs each PUBLISH it receives, with its DUP flag
  });
  afterEach(async () => {
    await closeAll();
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  });
  afterAll(async () => {
    await b1?.stop();
    await b2?.stop();
  });

  it("a refused first server: the next one, and client.sv says which", async () => {
    const dead = await freePort(); // nothing listens there: ECONNREFUSED
    const t = uniq("refused");
    const { p, got } = await peer(b1.port);
    await p.subscribeAsync(t, { qos: 1 });
    const me = ours(dead, { servers: [{ port: dead }, { port: b1.port }, { port: b2.port }] });
    await me.up();
    expect(me.tried).toEqual([dead, b1.port]);
    expect(me.c.sv).toBe(1);
    expect(me.errs.map((e) => e.code)).toEqual(["ETRANSPORT"]);
    await me.pub(t, "via b1", { qos: 1 });
    await until(() => got.length == 1, "the message at b1's peer");
  });

  it("a server killed mid-session: the next one; in-flight QoS 1 resent there with DUP, then the queue; subscriptions renewed", async () => {
    const t = uniq("killed");
    const N = 6, INFLIGHT = 3;
    const { p, got } = await peer(b2.port);
    await p.subscribeAsync(t + "/out", { qos: 1 });
    const me = ours(b1.port, { clientId: uniq("me"), clean: false, maxInflight: INFLIGHT, servers: [{ port: b1.port }, { port: b2.port }] });
    await me.up();
    await me.sub(t + "/in", { qos: 1 });
    b1.pause(); // frozen: what we send now is never acknowledged
    const done: Promise<void>[] = [];
    for (let i = 0; i < N; i++) done.push(me.pub(t + "/out", "m" + i, { qos: 1 }));
    expect([me.c.inflight(), me.c.queued()]).toEqual([INFLIGHT, N - INFLIGHT]);
    await sleep(50); // the PUBLISHes are in b1's socket buffer
    process.kill(b1.pid, "SIGKILL"); // the node dies without a word (SIGKILL works on a stopped process)
    try {
      await Promise.all(done); // every callback: acknowledged, by b2
      await until(() => got.length >= N, `${N} messages at b2's peer`);
      expect(me.tried).toEqual([b1.port, b2.port]);
      expect(me.c.sv).toBe(1);
      expect(me.connacks.map((c) => c.sessionPresent)).toEqual([false, false]); // b2 has no session of ours
      expect(got.map(([, m]) => m.toString()).sort()).toEqual(Array.from({ length: N }, (_, i) => "m" + i));
      // b2's log: the in-flight ones came with DUP, the queued ones without
      const rx = new RegExp(`Received PUBLISH from ${me.id} \\(d(\\d), q1, r0, m(\\d+), '${t}/out'`, "g");
      const seen = [...b2.log().matchAll(rx)].map((x) => [Number(x[1]), Number(x[2])]);
      expect(seen.map((x) => x[0])).toEqual([1, 1, 1, 0, 0, 0]);
      expect(seen.slice(0, INFLIGHT).map((x) => x[1])).toEqual([1, 2, 3]); // their first ids (the smallest free: the SUBSCRIBE's 1 was answered)
      // the subscription made on b1 is renewed on b2
      await until(() => me.c.inflight() == 0 && (me.c as any).a.length == 0, "the renewed SUBSCRIBE answered");
      await p.publishAsync(t + "/in", "to me", { qos: 1 });
      await until(() => me.got.some(([, m]) => m == "to me"), "a message through b2");
    } finally {
      await b1.up(); // for the other tests (a new process on the same port)
    }
  });

  it("a server that refuses with CONNACK 3 (server unavailable): the next one", async () => {
    // Mosquitto does not answer 3 on demand: a socket server that answers every CONNECT with CONNACK 3
    let conns = 0;
    const s = net.createServer((sock) => { conns++; sock.once("data", () => sock.write(Buffer.from([0x20, 2, 0, 3]))); sock.on("error", () => {}); });
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
    const three = (s.address() as net.AddressInfo).port;
    const me = ours(three, { servers: [{ port: three }, { port: b2.port }] });
    await me.up();
    expect(me.tried).toEqual([three, b2.port]);
    expect(conns).toBe(1);
    expect(me.errs.map((e) => [e.code, e.returnCode])).toEqual([["EREFUSED", 3]]);
    expect(me.c.sv).toBe(1);
  });

  it("around the list: every server down, the attempts go round it in order until one is back", async () => {
    const d1 = await freePort(), d2 = await freePort();
    const me = ours(d1, { servers: [{ port: d1 }, { port: d2 }, { port: b2.port }], connectTimeout: 1000 });
    await me.up();
    expect(me.tried).toEqual([d1, d2, b2.port]);
    me.sockets[me.sockets.length - 1].destroy(); // the link dies: back to the start of the list
    await me.up();
    expect(me.tried).toEqual([d1, d2, b2.port, d1, d2, b2.port]);
  });
});
