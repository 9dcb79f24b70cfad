// MQTT over WebSocket against a real Mosquitto websockets listener: our RFC 6455 framing
// (src/net/ws.ts over the host board's TCP sockets) and the WHATWG variant (src/net/wsobject.ts over
// the `ws` package's WebSocket), with our client. Messages cross between the websocket and the plain
// TCP listener, so the broker really parsed what we framed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "../helpers/seed";
import WebSocket from "ws";
import { hasMosquitto, startMosquitto, Mosquitto } from "../helpers/mosquitto";
import { board } from "../../boards/host";
import { wsAccept, wsTransport } from "../../src/net/ws";
import { wsObjectTransport } from "../../src/net/wsobject";
import { createClient, Client, ClientOptions } from "../../src/mqtt/client";
import type { Transport } from "../../src/mqtt/port";

const bin = (b: Buffer) => b.toString("latin1");

function client(transport: Transport, port: number, o: Partial<ClientOptions> = {}): Client {
  return createClient({ host: "127.0.0.1", port, transport, clock: board.clock, reconnect: { min: 100, max: 500 }, ...o });
}

function once(c: Client, ev: string, ms = 5000): Promise<any[]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no "${ev}" within ${ms} ms`)), ms);
    c.on(ev, (...a: any[]) => { clearTimeout(t); resolve(a); });
  });
}

function messages(c: Client) {
  const got: { topic: string; payload: string; qos?: number }[] = [];
  const waiters: (() => void)[] = [];
  c.on("message", (topic: string, payload: string, p: any) => { got.push({ topic, payload, qos: p.qos }); waiters.splice(0).forEach((w) => w()); });
  return {
    got,
    async until(n: number, ms = 5000) {
      const end = Date.now() + ms;
      while (got.length < n) {
        if (Date.now() > end) throw new Error(`got ${got.length} of ${n} messages: ${got.map((m) => m.topic + " " + m.payload.length).join(", ")}`);
        await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 50); });
      }
    },
  };
}

const subscribe = (c: Client, f: string, qos = 0) =>
  new Promise<void>((resolve, reject) => c.subscribe(f, { qos }, (e) => (e ? reject(e) : resolve())));

describe.skipIf(!hasMosquitto)("MQTT over WebSocket with Mosquitto", () => {
  let b: Mosquitto;
  const open: Client[] = [];
  const track = (c: Client) => (open.push(c), c);

  beforeAll(async () => { b = await startMosquitto({ websockets: true }); });
  afterAll(async () => {
    for (const c of open) c.end(true);
    if (b) await b.stop();
  });

  it("connects, subscribes, publishes and receives at QoS 0, 1 and 2 over our framing", async () => {
    const c = track(client(wsTransport(board.tcp), b.wsPort!, { clientId: "ws-raw-1" }));
    const m = messages(c);
    c.connect();
    await once(c, "connect");
    expect(c.connected).toBe(true);
    await subscribe(c, "mcu/ws/#", 2);
    // a Buffer payload goes out as its bytes (a string payload would be UTF-8 encoded)
    const raw = Buffer.from([...Array(256).keys()]), all = bin(raw);
    const done: Promise<void>[] = [0, 1, 2].map((qos) => new Promise((r, j) => c.publish(`mcu/ws/q${qos}`, raw, { qos }, (e) => (e ? j(e) : r()))));
    await Promise.all(done);
    await m.until(3);
    expect(m.got.map((x) => x.topic).sort()).toEqual(["mcu/ws/q0", "mcu/ws/q1", "mcu/ws/q2"]);
    for (const x of m.got) expect(x.payload === all).toBe(true);
  });

  it("crosses between the websocket and the plain TCP listener both ways, with 16- and 64-bit frame lengths", async () => {
    const w = track(client(wsTransport(board.tcp, { accept: wsAccept }), b.wsPort!, { clientId: "ws-raw-2", maxPacketSize: 1 << 20 }));
    const t = track(client(board.tcp, b.port, { clientId: "tcp-2", maxPacketSize: 1 << 20 }));
    const mw = messages(w), mt = messages(t);
    w.connect(); t.connect();
    await Promise.all([once(w, "connect"), once(t, "connect")]);
    await subscribe(w, "mcu/to-ws", 1);
    await subscribe(t, "mcu/to-tcp", 1);
    const sb = randomBytes(300), bb = randomBytes(100000), small = bin(sb), big = bin(bb);
    t.publish("mcu/to-ws", sb, { qos: 1 });
    t.publish("mcu/to-ws", bb, { qos: 1 });
    w.publish("mcu/to-tcp", bb, { qos: 1 });
    w.publish("mcu/to-tcp", sb, { qos: 1 });
    // the small one after the big one also flushes Mosquitto's websocket output (see the last test)
    await mw.until(2);
    await mt.until(2);
    expect(mw.got[0].payload === small && mw.got[1].payload === big).toBe(true);
    expect(mt.got[0].payload === big && mt.got[1].payload === small).toBe(true);
  });

  it("reconnects over websocket after the broker restarts", async () => {
    const c = track(client(wsTransport(board.tcp), b.wsPort!, { clientId: "ws-raw-3", clean: false }));
    const m = messages(c);
    c.connect();
    await once(c, "connect");
    await subscribe(c, "mcu/restart", 1);
    const offline = once(c, "offline");
    await b.restart();
    await offline;
    await once(c, "connect", 10000);
    await subscribe(c, "mcu/restart", 1); // no persistence: the broker forgot the session
    c.publish("mcu/restart", "back", { qos: 1 });
    await m.until(1);
    expect(m.got[0].payload).toBe("back");
  });

  it("sees a frozen broker as a dead link (keepalive), then recovers", async () => {
    const c = track(client(wsTransport(board.tcp), b.wsPort!, { clientId: "ws-raw-4", keepalive: 1 }));
    const errors: any[] = [];
    c.on("error", (e: any) => errors.push(e));
    c.connect();
    await once(c, "connect");
    b.pause();
    try {
      await once(c, "offline", 5000);
    } finally {
      b.resume();
    }
    expect(errors.map((e) => e.code)).toContain("EKEEPALIVE");
    await once(c, "connect", 10000);
  });

  it("reports a refused upgrade (plain MQTT port is no websocket) as ETRANSPORT", async () => {
    const c = track(client(wsTransport(board.tcp), b.port, { clientId: "ws-raw-5", reconnect: false, connectTimeout: 3000 }));
    const e = once(c, "error");
    c.connect();
    const [err] = await e;
    expect(err.code).toBe("ETRANSPORT");
  });

  it("works over a WHATWG WebSocket object too (the ws package)", async () => {
    const c = track(client(wsObjectTransport(WebSocket), b.wsPort!, { clientId: "ws-obj-1", maxPacketSize: 1 << 20 }));
    const m = messages(c);
    c.connect();
    await once(c, "connect");
    await subscribe(c, "mcu/obj", 1);
    const pb = randomBytes(70000), p = bin(pb);
    c.publish("mcu/obj", pb, { qos: 1 });
    // Mosquitto 2.0.11 (libwebsockets) may hold the tail of a large outgoing websocket message until
    // something else is sent on that connection: a small message after it flushes it
    c.publish("mcu/obj", "end", { qos: 1 });
    await m.until(2);
    expect(m.got[0].payload === p).toBe(true);
    expect(m.got[1].payload).toBe("end");
  });
});
