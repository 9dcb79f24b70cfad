// The client state machine (src/mqtt/client.ts) against a scripted broker and a fake clock: exact bytes
// on the wire, exact timer deadlines, every event. No sockets, no real time.
import { describe, expect, it } from "vitest";
import { createClient, type Client, type ClientOptions } from "../../src/mqtt/client";
import { encode, type Packet } from "../../src/mqtt/packets";
import { E, type MqttError } from "../../src/mqtt/errors";
import { fakeClock, type FakeClock } from "../helpers/fake-clock";
import { hex, pair, scriptedBroker, toHex, type Pair, type Peer, type Step } from "../helpers/scripted-broker";

// ---- bytes, written by hand from the spec (not by our encoder) ----
const CONNECT = hex("10 0e 00 04 'MQTT' 04 02 00 0a 00 02 'c1'"); // clean, keepalive 10 s, id "c1"
const CONNECT_PERSIST = hex("10 0e 00 04 'MQTT' 04 00 00 0a 00 02 'c1'"); // clean = false
const CONNACK = hex("20 02 00 00");
const CONNACK_SP = hex("20 02 01 00"); // session present
const PINGREQ = hex("c0 00"), PINGRESP = hex("d0 00"), DISCONNECT = hex("e0 00");
const pub = (flags: number, id: number | null, topic = "a/b", payload = "hi") =>
  String.fromCharCode(flags, 2 + topic.length + (id ? 2 : 0) + payload.length) + "\0" + String.fromCharCode(topic.length) + topic +
  (id ? String.fromCharCode(id >> 8, id & 255) : "") + payload;
const ack = (first: number, id: number) => String.fromCharCode(first, 2, id >> 8, id & 255);
const PUBACK = (id: number) => ack(0x40, id), PUBREC = (id: number) => ack(0x50, id);
const PUBREL = (id: number) => ack(0x62, id), PUBCOMP = (id: number) => ack(0x70, id);

const BASE = { clientId: "c1", keepalive: 10, reconnect: { min: 1000, max: 8000, stable: 5000 } };

type Ev = [string, ...any[]];
function record(c: Client): Ev[] {
  const log: Ev[] = [];
  // (a message's packet is the client's reused object, valid during the call: a copy is kept)
  for (const ev of ["connect", "message", "reconnect", "offline", "close", "error", "end"])
    c.on(ev, (...a: any[]) => log.push([ev, ...(ev == "message" ? [a[0], a[1], { ...a[2] }] : a)]));
  return log;
}
const errors = (log: Ev[]) => log.filter((e) => e[0] == "error").map((e) => e[1] as MqttError);
const names = (log: Ev[]) => log.map((e) => e[0]);

/** a client on a hand-driven pair, connected (CONNECT read, CONNACK given) unless `connect: false` */
function setup(opts: Partial<ClientOptions> = {}, connect = true) {
  const clock = fakeClock(1000);
  const p = pair();
  const c = createClient({ ...BASE, transport: p.transport, clock, random: () => 0.5, ...opts } as ClientOptions);
  const log = record(c);
  if (connect) {
    c.connect();
    p.last().take();
    p.last().send(CONNACK);
    expect(c.connected).toBe(true);
  }
  return { clock, p, c, log, peer: () => p.last() };
}

/** a client on a scripted broker whose replies arrive on the next clock.advance() */
function scripted(script: Step[][], opts: Partial<ClientOptions> = {}, latency = 0) {
  const clock = fakeClock(1000);
  const b = scriptedBroker(script, { clock, latency });
  const c = createClient({ ...BASE, transport: b.transport, clock, random: () => 0.5, ...opts } as ClientOptions);
  const log = record(c);
  return { clock, b, c, log };
}

describe("connect", () => {
  it("sends CONNECT and goes up on CONNACK", () => {
    const { clock, b, c, log } = scripted([[{ expect: CONNECT }, { send: CONNACK }]]);
    c.connect();
    expect(c.connected).toBe(false);
    clock.advance(0);
    b.check();
    expect(c.connected).toBe(true);
    expect(names(log)).toEqual(["connect"]);
    expect(log[0][1]).toMatchObject({ type: 2, returnCode: 0, sessionPresent: false });
    expect(b.links[0].host).toBe("localhost");
    expect(b.links[0].port).toBe(1883);
  });

  it("puts user name, password and will into CONNECT, bytes exact", () => {
    const connect = hex("10 26 00 04 'MQTT' 04 ee 00 0a 00 02 'c1' 00 03 'w/t' 00 03 'bye' 00 04 'user' 00 06 'secret'");
    const { clock, b, c } = scripted([[{ expect: connect }, { send: CONNACK }]],
      { username: "user", password: "secret", will: { topic: "w/t", payload: "bye", qos: 1, retain: true } });
    c.connect();
    clock.advance(0);
    b.check();
  });

  it("waits for the socket's open before writing CONNECT", () => {
    const clock = fakeClock();
    const p = pair({ autoOpen: false });
    const c = createClient({ ...BASE, transport: p.transport, clock });
    c.connect();
    expect(p.last().written).toBe("");
    p.last().open();
    expect(p.last().written).toBe(CONNECT);
  });

  for (const [code, text] of [[1, "unacceptable protocol version"], [2, "identifier rejected"], [3, "server unavailable"],
    [4, "bad user name or password"], [5, "not authorized"]] as const) {
    it(`refusal ${code} is an EREFUSED error with returnCode ${code}, then a retry`, () => {
      const { clock, p, c, log, peer } = setup({}, false);
      c.connect();
      peer().send(hex("20 02 00 0" + code));
      expect(c.connected).toBe(false);
      const e = errors(log);
      expect(e).toHaveLength(1);
      expect(e[0]).toMatchObject({ code: E.REFUSED, returnCode: code });
      expect(e[0].message).toContain(text);
      expect(names(log)).toEqual(["error", "close"]); // never up: no offline
      expect(peer().closedByClient).toBe(true);
      // 1-3: jittered first delay in [min, 2 min] (random 0.5: 1.5 min); 4/5: the maximum
      expect(clock.next()).toBe(code >= 4 ? 8000 : 1500);
      clock.advance(clock.next());
      expect(p.links).toHaveLength(2);
      expect(names(log).slice(2)).toEqual(["reconnect"]);
    });
  }

  it("connect timeout: no CONNACK within connectTimeout is ETIMEOUT, the link is closed, a retry follows", () => {
    const { clock, p, c, log, peer } = setup({ connectTimeout: 5000 }, false);
    c.connect();
    clock.advance(4999);
    expect(log).toEqual([]);
    clock.advance(1);
    expect(errors(log).map((e) => e.code)).toEqual([E.CONNECT_TIMEOUT]);
    expect(peer().closedByClient).toBe(true);
    expect(clock.next()).toBe(1500);
    clock.advance(1500);
    expect(p.links).toHaveLength(2);
  });

  it("connect timeout also covers a socket that never opens", () => {
    const clock = fakeClock();
    const p = pair({ autoOpen: false });
    const c = createClient({ ...BASE, transport: p.transport, clock, connectTimeout: 3000 });
    const log = record(c);
    c.connect();
    clock.advance(3000);
    expect(errors(log).map((e) => e.code)).toEqual([E.CONNECT_TIMEOUT]);
  });

  it("a socket factory that throws is handled like a close: ETRANSPORT, close, retry", () => {
    const { clock, p, c, log } = setup({}, false);
    p.refuse(1, "Unable to create socket");
    expect(() => c.connect()).not.toThrow();
    expect(errors(log)[0].code).toBe(E.TRANSPORT);
    expect(errors(log)[0].message).toContain("Unable to create socket");
    expect(names(log)).toEqual(["error", "close"]);
    expect(clock.pending()).toBe(1); // only the retry: the connect timeout was cleared
    clock.advance(clock.next());
    expect(p.calls).toBe(2);
    expect(p.last().written).toBe(CONNECT);
  });

  it("a packet other than CONNACK first is a protocol error", () => {
    const { c, log, peer } = setup({}, false);
    c.connect();
    peer().send(PINGRESP);
    expect(errors(log)[0].code).toBe(E.MALFORMED);
    expect(errors(log)[0].message).toContain("MQTT-3.2.0-1");
    expect(peer().closedByClient).toBe(true);
  });

  it("the broker closing the link makes offline + close and a retry", () => {
    const { clock, p, c, log, peer } = setup();
    peer().end();
    expect(c.connected).toBe(false);
    expect(names(log)).toEqual(["connect", "error", "close", "offline"]);
    expect(errors(log)[0].code).toBe(E.TRANSPORT);
    clock.advance(clock.next());
    expect(p.links).toHaveLength(2);
  });

  it("reconnect: 0 disables retries", () => {
    const { clock, p, c, peer } = setup({ reconnect: 0 });
    peer().end();
    expect(clock.pending()).toBe(0);
    clock.advance(100000);
    expect(p.links).toHaveLength(1);
    c.connect(); // by hand it still works
    expect(p.links).toHaveLength(2);
  });

  it("reads host, port, password and will from the caller's options at every reconnect (documented)", () => {
    const clock = fakeClock(1000), p = pair();
    const o: ClientOptions = { ...BASE, transport: p.transport, clock, random: () => 0.5, username: "u", password: "old" } as ClientOptions;
    const c = createClient(o);
    c.connect();
    expect(p.last().take()).toBe(hex("10 16 00 04 'MQTT' 04 c2 00 0a 00 02 'c1' 00 01 'u' 00 03 'old'"));
    p.last().send(CONNACK);
    o.host = "broker2"; o.port = 8883; o.password = "new"; o.will = { topic: "w", payload: "x" };
    p.last().end();
    clock.advance(clock.next());
    expect(p.links).toHaveLength(2);
    expect([p.last().host, p.last().port]).toEqual(["broker2", 8883]);
    expect(p.last().take()).toBe(hex("10 1c 00 04 'MQTT' 04 c6 00 0a 00 02 'c1' 00 01 'w' 00 01 'x' 00 01 'u' 00 03 'new'"));
  });

  it("a listener that calls connect() while the link is being lost opens exactly one new link", () => {
    const { clock, p, c, peer } = setup();
    c.on("close", () => c.connect());
    peer().end();
    expect(p.links).toHaveLength(1); // the retry waits for its timer
    clock.advance(60000);
    expect(p.links.filter((l) => !l.closed)).toHaveLength(1);
  });
});

describe("keepalive", () => {
  it("PINGREQ after keepalive s of silence; PINGRESP keeps the link; next ping keepalive after the last send", () => {
    const { clock, c, log, peer } = setup(); // keepalive 10 s
    clock.advance(9999);
    expect(peer().take()).toBe("");
    clock.advance(1);
    expect(peer().take()).toBe(PINGREQ);
    clock.advance(500);
    peer().send(PINGRESP);
    clock.advance(9499); // 9999 ms after the PINGREQ
    expect(peer().take()).toBe("");
    clock.advance(1);
    expect(peer().take()).toBe(PINGREQ);
    expect(c.connected).toBe(true);
    expect(errors(log)).toEqual([]);
  });

  it("no packet within 1.5 x keepalive: the link is dead (EKEEPALIVE), closed, and retried", () => {
    const { clock, p, c, log, peer } = setup();
    clock.advance(14999);
    expect(c.connected).toBe(true);
    clock.advance(1); // 15 s after CONNACK, the last packet in
    expect(c.connected).toBe(false);
    expect(errors(log).map((e) => e.code)).toEqual([E.KEEPALIVE]);
    expect(names(log).slice(1)).toEqual(["error", "close", "offline"]);
    expect(peer().closedByClient).toBe(true);
    expect(peer().take()).toBe(PINGREQ);
    expect(clock.pending()).toBe(1); // only the retry
    clock.advance(clock.next());
    expect(p.links).toHaveLength(2);
  });

  it("only outgoing traffic: still pings (nothing received), and detects a dead link at 1.5 x keepalive", () => {
    const { clock, c, peer } = setup();
    for (let t = 0; t < 3; t++) { clock.advance(3000); c.publish("a/b", "x"); }
    peer().take();
    clock.advance(999); // 9999 after CONNACK
    expect(peer().take()).toBe("");
    clock.advance(1);
    expect(peer().take()).toBe(PINGREQ);
    clock.advance(4999);
    expect(c.connected).toBe(true);
    clock.advance(1);
    expect(c.connected).toBe(false);
  });

  it("only incoming traffic: pings since nothing was sent", () => {
    const { clock, c, peer } = setup();
    for (let t = 0; t < 3; t++) { clock.advance(3000); peer().send(pub(0x30, null)); }
    clock.advance(999);
    expect(peer().take()).toBe("");
    clock.advance(1);
    expect(peer().take()).toBe(PINGREQ);
    peer().send(PINGRESP);
    clock.advance(30000 - 1);
    expect(c.connected).toBe(false); // no PINGRESP to the later pings
  });

  // [MQTT-3.1.2-23]: the client sends a packet within each keepalive period. A client that only
  // receives (a message every second) must ping every keepalive (10 s), not every 1.5 x (seen against
  // Paho's test broker: a ping every ~1.5 x keepalive, after a PINGRESP the timer was not re-armed)
  it("a receive-only client sends something within every keepalive period, for a minute", () => {
    const { clock, c, peer } = setup(); // keepalive 10 s, connected at 1000
    let lastOut = 1000, worst = 0, pings = 0;
    for (let t = 0; t < 60000; t += 100) {
      clock.advance(100);
      if (t % 1000 == 0) peer().send(pub(0x30, null)); // a QoS 0 message each second: nothing to answer
      const out = peer().take();
      if (out) {
        expect(out).toBe(PINGREQ);
        pings++;
        worst = Math.max(worst, clock.now() - lastOut);
        lastOut = clock.now();
        peer().send(PINGRESP);
      }
    }
    worst = Math.max(worst, clock.now() - lastOut);
    expect(worst).toBeLessThanOrEqual(10000);
    expect(pings).toBeGreaterThanOrEqual(6);
    expect(c.connected).toBe(true);
  });

  it("keepalive 0: no ping, no dead-link timer", () => {
    const { clock, c, peer } = setup({ keepalive: 0 });
    expect(clock.pending()).toBe(0);
    clock.advance(1e7);
    expect(peer().take()).toBe("");
    expect(c.connected).toBe(true);
  });
});

describe("reconnect backoff", () => {
  // every attempt is refused by the factory, so each delay is read straight off the fake clock
  function delays(r: number, n: number, rc = { min: 100, max: 1000, stable: 5000 }) {
    const clock = fakeClock();
    const p = pair();
    p.refuse(1e9);
    const c = createClient({ ...BASE, transport: p.transport, clock, random: () => r, reconnect: rc });
    c.on("error", () => {});
    c.connect();
    const out: number[] = [];
    for (let i = 0; i < n; i++) { out.push(clock.next()); clock.advance(clock.next()); }
    expect(p.calls).toBe(n + 1);
    return out;
  }

  it("full jitter within [min, 2^n min], capped at max", () => {
    for (const r of [0, 0.25, 0.5, 0.999]) {
      const d = delays(r, 8);
      d.forEach((x, i) => {
        const cap = Math.min(1000, 100 * 2 ** (i + 1));
        expect(x).toBeGreaterThanOrEqual(100);
        expect(x).toBeLessThanOrEqual(cap);
        expect(x).toBeCloseTo(100 + r * (cap - 100), 6); // the random source is used, linearly
      });
    }
    expect(delays(0.999, 5).map(Math.ceil)).toEqual([200, 400, 800, 1000, 1000]);
    expect(delays(0, 3)).toEqual([100, 100, 100]);
  });

  it("bad credentials (4, 5) wait the maximum every time", () => {
    const clock = fakeClock();
    const p = pair();
    const c = createClient({ ...BASE, transport: p.transport, clock, random: () => 0, reconnect: { min: 100, max: 1000 } });
    c.on("error", () => {});
    c.connect();
    for (let i = 0; i < 4; i++) {
      p.last().send(hex("20 02 00 0" + (4 + (i & 1))));
      expect(clock.next()).toBe(1000);
      clock.advance(1000);
    }
    p.last().send(hex("20 02 00 03")); // server unavailable: back to jitter
    expect(clock.next()).toBeLessThan(1000);
  });

  it("resets after a connection that stayed up `stable` ms, not after a shorter one", () => {
    function after(upFor: number) {
      const clock = fakeClock();
      const p = pair();
      const c = createClient({ ...BASE, keepalive: 0, transport: p.transport, clock, random: () => 0.999, reconnect: { min: 100, max: 100000, stable: 5000 } });
      c.on("error", () => {});
      p.refuse(4);
      c.connect();
      for (let i = 0; i < 4; i++) clock.advance(clock.next());
      p.last().send(CONNACK);
      clock.advance(upFor);
      p.last().end();
      return clock.next();
    }
    expect(after(5000)).toBeLessThanOrEqual(200); // first step again: [100, 200]
    expect(after(4999)).toBeGreaterThan(3000); // sixth failure in a row: [100, 6400]
  });
});

describe("servers: failover across a cluster", () => {
  const SERVERS = [{ host: "a", port: 1 }, { host: "b" }, { port: 3 }];
  /** a client on a pair whose factory calls are recorded as "host:port" */
  function cluster(opts: Partial<ClientOptions> = {}) {
    const clock = fakeClock(1000);
    const p = pair();
    const tried: string[] = [];
    const transport = (h: string, port: number, ev: any) => { tried.push(h + ":" + port); return p.transport(h, port, ev); };
    const c = createClient({ ...BASE, host: "d", port: 4, servers: SERVERS, transport, clock, random: () => 0.5, ...opts } as ClientOptions);
    const log = record(c);
    return { clock, p, c, log, tried };
  }

  it("each refused connect goes to the next server; a server's missing host or port is host/port's", () => {
    const { clock, p, c, tried } = cluster();
    p.refuse(4);
    c.connect();
    const sv: number[] = [c.sv];
    for (let i = 0; i < 4; i++) { clock.advance(clock.next()); sv.push(c.sv); }
    expect(tried).toEqual(["a:1", "b:4", "d:3", "a:1", "b:4"]);
    expect(sv).toEqual([1, 2, 0, 1, 1]); // the index of the next attempt, then of the server in use
    p.last().send(CONNACK);
    expect(c.connected).toBe(true);
    expect(p.last()).toMatchObject({ host: "b", port: 4 });
  });

  it("the backoff grows once per round of the list, with jitter at every attempt", () => {
    const { clock, p, c } = cluster({ reconnect: { min: 100, max: 1000, stable: 5000 } });
    p.refuse(1e9);
    c.connect();
    const out: number[] = [];
    for (let i = 0; i < 9; i++) { out.push(clock.next()); clock.advance(clock.next()); }
    // rounds of 3 attempts: [100, 200], [100, 400], [100, 800] at random 0.5
    expect(out).toEqual([150, 150, 250, 250, 250, 450, 450, 450, 550]);
  });

  it("CONNACK refusal 3 moves on; bad credentials (5) stay on the same server", () => {
    const { clock, p, c, tried } = cluster();
    c.connect();
    p.last().send(hex("20 02 00 03"));
    clock.advance(clock.next());
    p.last().send(hex("20 02 00 05"));
    clock.advance(clock.next());
    p.last().send(CONNACK);
    expect(tried).toEqual(["a:1", "b:4", "b:4"]);
    expect(c.sv).toBe(1);
  });

  it("a link lost mid-session: the next server; in-flight QoS 1 resent there with DUP, queued ones after it", () => {
    const { clock, p, c, log, tried } = cluster({ maxInflight: 1 });
    c.connect();
    p.last().take();
    p.last().send(CONNACK);
    c.publish("a/b", "hi", { qos: 1 });
    c.publish("a/b", "hi", { qos: 1 }); // waits for the first's PUBACK
    expect(p.last().take()).toBe(pub(0x32, 1));
    p.last().end(); // the node dies
    expect(names(log).slice(-3)).toEqual(["error", "close", "offline"]);
    clock.advance(clock.next());
    expect(tried).toEqual(["a:1", "b:4"]);
    p.last().take(); // CONNECT
    p.last().send(CONNACK); // a new session there
    expect(p.last().take()).toBe(pub(0x3a, 1)); // again, DUP set
    p.last().send(PUBACK(1));
    expect(p.last().take()).toBe(pub(0x32, 1)); // the queued one, with id 1 again (free since its PUBACK)
  });

  it("an empty or shrunk list falls back to host/port; no list: host/port every time", () => {
    const { clock, p, c, tried } = cluster({ servers: [] });
    p.refuse(2);
    c.connect();
    clock.advance(clock.next());
    (c as any).o.servers = [{ host: "x" }];
    c.sv = 5; // out of the list
    clock.advance(clock.next()); // d:4 opens; no CONNACK
    clock.advance(clock.next()); // the CONNACK deadline: the next server, index 0 of the new list
    clock.advance(clock.next());
    expect(tried).toEqual(["d:4", "d:4", "d:4", "x:4"]);
  });
});

describe("QoS flows, exact bytes", () => {
  it("QoS 1 out: PUBLISH, then the callback on PUBACK", () => {
    const { clock, b, c } = scripted([[{ expect: CONNECT }, { send: CONNACK }, { expect: pub(0x32, 1) }, { send: PUBACK(1) }]]);
    const done: any[] = [];
    c.connect();
    clock.advance(0);
    c.publish("a/b", "hi", { qos: 1 }, (e) => done.push(e));
    expect(c.inflight()).toBe(1);
    expect(done).toEqual([]);
    clock.advance(0);
    expect(done).toEqual([null]);
    expect(c.inflight()).toBe(0);
    b.check();
  });

  it("QoS 2 out: PUBLISH, PUBREC, PUBREL, PUBCOMP, then the callback", () => {
    const { clock, b, c } = scripted([[{ expect: CONNECT }, { send: CONNACK }, { expect: pub(0x34, 1) }, { send: PUBREC(1) },
      { expect: PUBREL(1) }, { send: PUBCOMP(1) }]], {}, 1); // replies 1 ms later
    const done: any[] = [];
    c.connect();
    clock.advance(1);
    c.publish("a/b", "hi", { qos: 2 }, (e) => done.push(e));
    clock.advance(1);
    expect(done).toEqual([]); // PUBREC is not the end
    expect(c.inflight()).toBe(1);
    clock.advance(1);
    expect(done).toEqual([null]);
    expect(c.inflight()).toBe(0);
    b.check();
  });

  it("QoS 0 out with retain, bytes exact; the callback at once", () => {
    const { clock, b, c } = scripted([[{ expect: CONNECT }, { send: CONNACK }, { expect: pub(0x31, null, "a/b", "\x00\xff") }]]);
    const done: any[] = [];
    c.connect();
    clock.advance(0);
    c.publish("a/b", new Uint8Array([0, 255]), { retain: true }, (e) => done.push(e));
    expect(done).toEqual([null]);
    b.check();
  });

  it("QoS 1 in: delivered, then PUBACK", () => {
    const { clock, b, c, log } = scripted([[{ expect: CONNECT }, { send: CONNACK }, { send: pub(0x32, 7) }, { expect: PUBACK(7) }]]);
    c.connect();
    clock.advance(0);
    b.check();
    const m = log.filter((e) => e[0] == "message");
    expect(m).toHaveLength(1);
    expect(m[0].slice(1, 3)).toEqual(["a/b", "hi"]);
    expect(m[0][3]).toMatchObject({ qos: 1, id: 7, retain: false });
  });

  it("QoS 2 in: delivered once on PUBLISH, a DUP resend is not delivered again, PUBREL frees the id", () => {
    const { clock, b, c, log } = scripted([[{ expect: CONNECT }, { send: CONNACK },
      { send: pub(0x34, 9) }, { expect: PUBREC(9) },
      { send: pub(0x3c, 9) }, { expect: PUBREC(9), note: "PUBREC again for the duplicate" },
      { send: PUBREL(9) }, { expect: PUBCOMP(9) },
      { send: pub(0x34, 9, "a/b", "new") }, { expect: PUBREC(9), note: "the id is free again: a new message" }]]);
    c.connect();
    for (let i = 0; i < 5; i++) clock.advance(0);
    b.check();
    expect(log.filter((e) => e[0] == "message").map((e) => e[2])).toEqual(["hi", "new"]);
  });

  it("SUBSCRIBE / SUBACK and UNSUBSCRIBE / UNSUBACK, bytes exact, callbacks with granted QoS", () => {
    const { clock, b, c } = scripted([[{ expect: CONNECT }, { send: CONNACK },
      { expect: hex("82 0e 00 01 00 03 'a/+' 01 00 03 'b/#' 01") }, { send: hex("90 04 00 01 01 80") },
      // (the SUBACK freed id 1: the UNSUBSCRIBE takes it again)
      { expect: hex("a2 07 00 01 00 03 'a/+'") }, { send: hex("b0 02 00 01") }]]);
    const got: any[] = [];
    c.connect();
    clock.advance(0);
    c.subscribe(["a/+", "b/#"], { qos: 1 }, (e, g) => got.push([e && e.code, g]));
    clock.advance(0);
    expect(got).toEqual([[E.SUBSCRIBE, [{ topic: "a/+", qos: 1 }, { topic: "b/#", qos: 128 }]]]);
    c.unsubscribe("a/+", (e) => got.push(e));
    clock.advance(0);
    expect(got[1]).toBe(null);
    b.check();
  });

  it("PINGREQ/PINGRESP and DISCONNECT in a script", () => {
    const { clock, b, c } = scripted([[{ expect: CONNECT }, { send: CONNACK }, { expect: PINGREQ }, { send: PINGRESP }, { expect: DISCONNECT }]]);
    c.connect();
    clock.advance(10000);
    clock.advance(0);
    c.end();
    b.check();
  });

  it("the scripted broker catches a wrong byte (the helper can fail)", () => {
    const { clock, b, c } = scripted([[{ expect: CONNECT }, { send: CONNACK }, { expect: pub(0x32, 2) }]]);
    c.connect();
    clock.advance(0);
    c.publish("a/b", "hi", { qos: 1 });
    expect(() => b.check()).toThrow(/expected 32 09 00 03 61 2f 62 00 02/);
  });
});

describe("packet ids and maxInflight", () => {
  it("ids: the smallest not in use by a message in flight or a request, free again once acknowledged", () => {
    const { c, peer } = setup({ maxInflight: 5 });
    c.publish("a/b", "x", { qos: 1 }); // 1, never acknowledged
    c.subscribe("s/#"); // 2, never answered
    c.publish("a/b", "y", { qos: 1 }); // 3
    c.publish("a/b", "z", { qos: 2 }); // 4
    expect(peer().packets().map((p) => p.id)).toEqual([1, 2, 3, 4]);
    peer().send(PUBACK(3));
    // 3 again each time: the ids stay small (on Espruino an integer over 1,023 takes a block of its own)
    for (let i = 0; i < 2000; i++) {
      c.publish("a/b", "", { qos: 1 });
      expect(peer().packets()).toMatchObject([{ type: 3, id: 3 }]);
      peer().send(PUBACK(3));
    }
    c.publish("a/b", "w", { qos: 1 }); // 3
    c.publish("a/b", "v", { qos: 1 }); // 5: 4 awaits its PUBREC
    expect(peer().packets().map((p) => p.id)).toEqual([3, 5]);
    expect(c.inflight()).toBe(4);
  });

  it("maxInflight bounds QoS 1/2 in flight; the rest waits in order (QoS 0 too)", () => {
    const { c, peer } = setup({ maxInflight: 2 });
    c.publish("t/1", "1", { qos: 1 });
    c.publish("t/2", "2", { qos: 2 });
    c.publish("t/3", "3", { qos: 1 });
    c.publish("t/4", "4"); // QoS 0 behind a waiting QoS 1 keeps its place
    expect(peer().packets().map((p) => p.topic)).toEqual(["t/1", "t/2"]);
    expect([c.inflight(), c.queued()]).toEqual([2, 2]);
    peer().send(PUBREC(2));
    expect(peer().packets()).toMatchObject([{ type: 6, id: 2 }]); // PUBREL; still in flight
    expect(c.queued()).toBe(2);
    peer().send(PUBACK(1));
    expect(peer().packets().map((p) => [p.topic, p.id])).toEqual([["t/3", 1], ["t/4", undefined]]); // id 1: free again
    expect([c.inflight(), c.queued()]).toEqual([2, 0]);
  });
});

describe("sessions", () => {
  it("session present: unacknowledged PUBLISH resent with DUP, pending PUBREL resent, nothing resubscribed", () => {
    const { clock, b, c } = scripted([
      [{ expect: CONNECT_PERSIST }, { send: CONNACK }, { expect: hex("82 08 00 01 00 03 'a/+' 01") }, { send: hex("90 03 00 01 01") },
        { expect: pub(0x32, 1) }, { expect: pub(0x34, 2) }, { send: PUBREC(2) }, { expect: PUBREL(2) }, { close: true }],
      [{ expect: CONNECT_PERSIST }, { send: CONNACK_SP }, { expect: pub(0x3a, 1), note: "QoS 1 again, DUP set" },
        { expect: PUBREL(2), note: "PUBREL again" }, { send: PUBACK(1) }, { send: PUBCOMP(2) }],
    ], { clean: false });
    const done: any[] = [];
    c.connect();
    clock.advance(0);
    c.subscribe("a/+", { qos: 1 });
    clock.advance(0);
    c.publish("a/b", "hi", { qos: 1 }, (e) => done.push(["q1", e]));
    c.publish("a/b", "hi", { qos: 2 }, (e) => done.push(["q2", e]));
    clock.advance(0); // PUBREC; PUBREL; then the broker closes
    expect(c.connected).toBe(false);
    clock.advance(clock.next()); // retry
    clock.advance(0);
    clock.advance(0);
    b.check();
    expect(done).toEqual([["q1", null], ["q2", null]]);
    expect(c.inflight()).toBe(0);
  });

  it("no session present: subscriptions renewed, unacknowledged messages sent again with DUP", () => {
    const { clock, b, c } = scripted([
      [{ expect: CONNECT_PERSIST }, { send: CONNACK }, { expect: hex("82 08 00 01 00 03 'a/+' 01") }, { send: hex("90 03 00 01 01") },
        { expect: pub(0x32, 1) }, { expect: pub(0x34, 2) }, { send: PUBREC(2) }, { expect: PUBREL(2) }, { close: true }],
      [{ expect: CONNECT_PERSIST }, { send: CONNACK },
        { expect: hex("82 08 00 03 00 03 'a/+' 01"), note: "subscription renewed (ids 1 and 2 are in flight)" },
        { expect: pub(0x3a, 1), note: "QoS 1 again with DUP: the old session may have taken it [MQTT-3.3.1-1]" },
        { expect: PUBREL(2), note: "the QoS 2 message the old broker already took" },
        { send: hex("90 03 00 03 01") }, { send: PUBACK(1) }, { send: PUBCOMP(2) }],
    ], { clean: false });
    c.connect();
    clock.advance(0);
    c.subscribe("a/+", { qos: 1 });
    clock.advance(0);
    c.publish("a/b", "hi", { qos: 1 });
    c.publish("a/b", "hi", { qos: 2 });
    clock.advance(0);
    clock.advance(clock.next());
    clock.advance(0);
    clock.advance(0);
    b.check();
    expect(c.inflight()).toBe(0);
  });

  it("SUBSCRIBE made offline is sent on connect", () => {
    const { clock, b, c } = scripted([[{ expect: CONNECT }, { send: CONNACK }, { expect: hex("82 08 00 01 00 03 'a/+' 00") }]]);
    c.subscribe("a/+");
    c.connect();
    clock.advance(0);
    b.check();
  });

  it("incoming QoS 2 id held across a reconnect with the session: the resent PUBLISH is not delivered twice", () => {
    const { clock, c, log, peer } = setup({ clean: false });
    peer().send(pub(0x34, 5));
    expect(peer().packets()).toMatchObject([{ type: 5, id: 5 }]);
    peer().end();
    clock.advance(clock.next());
    peer().take();
    peer().send(CONNACK_SP);
    peer().send(pub(0x3c, 5));
    peer().send(PUBREL(5));
    expect(peer().packets()).toMatchObject([{ type: 5, id: 5 }, { type: 7, id: 5 }]);
    expect(log.filter((e) => e[0] == "message")).toHaveLength(1);
  });

  it("without the session the held ids are forgotten: the broker's new message with the same id is delivered", () => {
    const { clock, log, peer } = setup({ clean: false });
    peer().send(pub(0x34, 5));
    peer().end();
    clock.advance(clock.next());
    peer().send(CONNACK);
    peer().send(pub(0x34, 5));
    expect(log.filter((e) => e[0] == "message")).toHaveLength(2);
  });
});

describe("offline queue", () => {
  it("bounded by count: QoS 0 dropped first (oldest), then the new message; every drop reported", () => {
    const { c, log } = setup({ queue: { maxMessages: 3, maxBytes: 10000 } }, false);
    const cbs: any[] = [];
    const p = (t: string, qos: number) => c.publish(t, "x", { qos }, (e) => cbs.push([t, e && e.code]));
    p("A", 0); p("B", 1); p("C", 0);
    expect(errors(log)).toEqual([]);
    p("D", 1); // drops A
    p("E", 2); // drops C
    p("F", 1); // all QoS>0: F itself is refused
    p("G", 0); // a QoS 0 into a full queue of QoS>0: refused
    expect(c.queued()).toBe(3);
    const e = errors(log);
    expect(e.map((x) => [x.code, x.dropped])).toEqual([[E.QUEUE_FULL, "A"], [E.QUEUE_FULL, "C"], [E.QUEUE_FULL, "F"], [E.QUEUE_FULL, "G"]]);
    expect(cbs).toEqual([["A", E.QUEUE_FULL], ["C", E.QUEUE_FULL], ["F", E.QUEUE_FULL], ["G", E.QUEUE_FULL]]);
  });

  it("bounded by bytes; a message larger than the whole queue is refused without dropping others", () => {
    const { c, log, peer } = setup({ queue: { maxMessages: 100, maxBytes: 100 } }, false);
    c.publish("a", "x".repeat(30)); // 35 bytes as counted (topic + payload + 4)
    c.publish("b", "x".repeat(30), { qos: 1 });
    expect(errors(log)).toEqual([]);
    c.publish("c", "x".repeat(30)); // 105 > 100: drops a
    expect(errors(log).map((x) => x.dropped)).toEqual(["a"]);
    c.publish("big", "x".repeat(200));
    expect(errors(log).map((x) => x.dropped)).toEqual(["a", "big"]);
    expect(c.queued()).toBe(2);
    c.connect();
    peer().take();
    peer().send(CONNACK);
    expect(peer().packets().map((p) => p.topic)).toEqual(["b", "c"]); // in order
    expect(c.queued()).toBe(0);
  });

  it("never grows without bound, never throws", () => {
    const { c, log } = setup({ queue: { maxMessages: 50, maxBytes: 1000 } }, false);
    for (let i = 0; i < 5000; i++) c.publish("t", "payload " + i, { qos: i % 3 });
    expect(c.queued()).toBeLessThanOrEqual(50);
    expect(errors(log).length).toBe(5000 - c.queued());
  });

  it("QoS 0 published while connected goes out at once, not through the queue", () => {
    const { c, peer } = setup();
    c.publish("a/b", "hi");
    expect(c.queued()).toBe(0);
    expect(peer().take()).toBe(pub(0x30, null));
  });

  it("invalid topic or QoS: ETOPIC, nothing sent", () => {
    const { c, log, peer } = setup();
    const got: any[] = [];
    c.publish("a/+", "x", (e) => got.push(e!.code));
    c.publish("", "x");
    c.publish("a", "x", { qos: 3 });
    c.subscribe("a/#/b", (e) => got.push(e!.code));
    c.subscribe("a", { qos: 3 });
    c.subscribe([]);
    c.unsubscribe("a/#/b");
    c.unsubscribe([]);
    expect(got).toEqual([E.TOPIC, E.TOPIC]);
    expect(errors(log).map((e) => e.code)).toEqual([E.TOPIC, E.TOPIC, E.TOPIC, E.TOPIC, E.TOPIC, E.TOPIC]);
    expect(peer().take()).toBe("");
  });

  it("a refused filter in a list registers no handler for the others", () => {
    const { c, log, peer } = setup();
    const h: string[] = [];
    c.subscribe(["ok/#", "bad/#/x"], { handler: (t) => h.push(t) });
    peer().send(pub(0x30, null, "ok/1"));
    expect(h).toEqual([]);
    expect(errors(log)[0].code).toBe(E.TOPIC);
  });
});

describe("delivery", () => {
  it("every message on `message`; handlers get only their matches; $ topics skip top-level wildcards", () => {
    const { c, log, peer } = setup();
    const got: string[] = [];
    const h = (name: string) => (t: string, payload: string, p: Packet) => { expect(p.topic).toBe(t); got.push(name + ":" + t + "=" + payload); };
    c.subscribe("a/+", { handler: h("a/+") });
    c.subscribe("#", { handler: h("#") });
    c.subscribe("+/b", { handler: h("+/b") });
    c.subscribe("$SYS/#", { handler: h("$SYS/#") });
    c.subscribe("a/b/c", { handler: h("a/b/c") });
    for (const t of ["a/b", "$SYS/load", "a/b/c", "x"]) peer().send(pub(0x30, null, t, "1"));
    expect(got.sort()).toEqual(["#:a/b/c=1", "#:a/b=1", "#:x=1", "$SYS/#:$SYS/load=1", "+/b:a/b=1", "a/+:a/b=1", "a/b/c:a/b/c=1"].sort());
    expect(log.filter((e) => e[0] == "message").map((e) => e[1])).toEqual(["a/b", "$SYS/load", "a/b/c", "x"]);
  });

  it("unsubscribe removes the handler; a SUBACK refusal removes it too", () => {
    const { c, peer } = setup();
    const got: string[] = [];
    c.subscribe("a/#", { handler: (t) => got.push("a " + t) });
    c.subscribe("b/#", { handler: (t) => got.push("b " + t) });
    peer().send(hex("90 03 00 01 00"));
    peer().send(hex("90 03 00 02 80"));
    c.unsubscribe("a/#");
    peer().send(pub(0x30, null, "a/1"));
    peer().send(pub(0x30, null, "b/1"));
    expect(got).toEqual([]);
  });

  it("a handler or listener that throws is reported (EHANDLER) and the client carries on", () => {
    const { c, log, peer } = setup();
    c.on("message", () => { throw new Error("app bug"); });
    c.subscribe("#", { handler: () => { throw new Error("handler bug"); } });
    c.on("error", () => { throw new Error("error listener bug"); });
    peer().take();
    peer().send(pub(0x32, 1));
    peer().send(pub(0x32, 2));
    expect(peer().packets()).toMatchObject([{ type: 4, id: 1 }, { type: 4, id: 2 }]);
    expect(errors(log).map((e) => e.code)).toEqual([E.HANDLER, E.HANDLER, E.HANDLER, E.HANDLER]);
    expect(errors(log)[0].message).toContain("app bug");
    expect(log.filter((e) => e[0] == "message")).toHaveLength(2);
    expect(c.connected).toBe(true);
    c.publish("x", "y", { qos: 1 }, () => { throw new Error("callback bug"); });
    expect(peer().packets()).toMatchObject([{ type: 3, qos: 1, id: 2 }]); // SUBSCRIBE took id 1
    peer().send(PUBACK(2));
    expect(errors(log).map((e) => e.message).pop()).toContain("callback bug");
    expect([c.connected, c.inflight()]).toEqual([true, 0]);
  });

  it("a lone message listener (called without emit()) that throws is reported and the message acknowledged", () => {
    const clock = fakeClock(1000), p = pair(), errs: MqttError[] = [], got: string[] = [];
    const c = createClient({ ...BASE, transport: p.transport, clock } as ClientOptions);
    let n = 0;
    c.on("message", (t: string, m: string) => { got.push(t + " " + m); if (++n == 1) throw new Error("app bug"); });
    c.on("error", (e: MqttError) => errs.push(e));
    c.connect();
    p.last().take();
    p.last().send(CONNACK);
    p.last().send(pub(0x32, 1));
    p.last().send(pub(0x32, 2));
    expect(got).toHaveLength(2);
    expect(errs.map((e) => [e.code, e.message])).toEqual([[E.HANDLER, "handler threw: app bug"]]);
    expect(p.last().packets()).toMatchObject([{ type: 4, id: 1 }, { type: 4, id: 2 }]);
    expect(c.connected).toBe(true);
  });
});

describe("end", () => {
  it("end(): DISCONNECT, link closed, `end` emitted, no timer left, no retry", () => {
    const { clock, p, c, log, peer } = setup();
    const cb: any[] = [];
    c.end(() => cb.push("done"));
    expect(peer().take()).toBe(DISCONNECT);
    expect(peer().closedByClient).toBe(true);
    expect(names(log)).toEqual(["connect", "close", "offline", "end"]);
    expect(cb).toEqual(["done"]);
    expect(clock.pending()).toBe(0);
    clock.advance(1e6);
    expect(p.links).toHaveLength(1);
  });

  it("a link without close() (an Espruino or Node socket as it is) is ended with its own end(), once", () => {
    const clock = fakeClock(1000), ends: number[] = [];
    let ev: any = null, written = "";
    const c = createClient({ ...BASE, clock, random: () => 0.5,
      transport: (h: string, port: number, e: any) => { ev = e; return { write(b: string) { written += b; }, end() { ends.push(clock.now()); } }; } } as ClientOptions);
    c.connect();
    ev.open();
    expect(written).toBe(CONNECT);
    ev.data(CONNACK);
    expect(c.connected).toBe(true);
    c.end();
    expect(written).toBe(CONNECT + DISCONNECT);
    expect(ends).toEqual([1000]);
    expect(c.connected).toBe(false);
  });

  it("end(true): closes at once with no DISCONNECT (the broker publishes the will)", () => {
    const { clock, c, peer } = setup();
    c.end(true);
    expect(peer().take()).toBe("");
    expect(peer().closedByClient).toBe(true);
    expect(clock.pending()).toBe(0);
  });

  it("end() while connecting or waiting to retry cancels every timer", () => {
    const a = setup({}, false);
    a.c.connect();
    a.c.end();
    expect(a.peer().take()).toBe(CONNECT); // not up: no DISCONNECT
    expect(a.clock.pending()).toBe(0);

    const b = setup();
    b.peer().end();
    expect(b.clock.pending()).toBe(1);
    b.c.end();
    expect(b.clock.pending()).toBe(0);
    b.clock.advance(1e6);
    expect(b.p.links).toHaveLength(1);
  });

  it("end() from a reconnect listener stops that attempt", () => {
    const { clock, p, c, peer } = setup();
    c.on("reconnect", () => c.end());
    peer().end();
    clock.advance(clock.next());
    expect(p.links).toHaveLength(1);
    expect(clock.pending()).toBe(0);
  });

  it("connect() after end() works, and the session state is kept", () => {
    const { c, p, peer } = setup({ clean: false });
    c.publish("a/b", "hi", { qos: 1 });
    c.end();
    c.connect();
    expect(p.links).toHaveLength(2);
    peer().take();
    peer().send(CONNACK_SP);
    expect(peer().take()).toBe(pub(0x3a, 1));
  });
});

describe("bad input", () => {
  it("a malformed packet: EMALFORMED, the link closed, one retry, and the client works after it", () => {
    const { clock, p, c, log, peer } = setup();
    peer().send(hex("40 02 00 00") + pub(0x30, null) + hex("f0 00")); // PUBACK id 0, then more in the same chunk
    expect(errors(log).map((e) => e.code)).toEqual([E.MALFORMED]);
    expect(errors(log)[0].message).toContain("MQTT-2.3.1-1");
    expect(names(log).filter((n) => n == "close")).toHaveLength(1);
    expect(log.filter((e) => e[0] == "message")).toHaveLength(0);
    expect(peer().closedByClient).toBe(true);
    expect(clock.pending()).toBe(1); // exactly one retry planned
    clock.advance(clock.next());
    expect(p.links).toHaveLength(2);
    peer().send(CONNACK);
    expect(c.connected).toBe(true);
    peer().take();
    peer().send(pub(0x30, null));
    expect(log.filter((e) => e[0] == "message")).toHaveLength(1);
  });

  it("a refusal followed by more bytes in the same chunk makes one retry, not two", () => {
    const { clock, p, c, peer } = setup({}, false);
    c.on("error", () => {});
    c.connect();
    peer().send(hex("20 02 00 03") + PINGRESP);
    expect(clock.pending()).toBe(1);
    clock.advance(clock.next());
    expect(p.links).toHaveLength(2);
    expect(p.links.filter((l) => !l.closed)).toHaveLength(1);
  });

  it("reserved packet type and bad flags are protocol errors", () => {
    for (const bad of ["00 00", "f0 00", "62 02 00 01".replace("62", "60"), "36 04 00 01 'a' 00"]) {
      const { log, peer } = setup();
      peer().send(hex(bad));
      expect(errors(log).map((e) => e.code), bad).toEqual([E.MALFORMED]);
      expect(peer().closedByClient).toBe(true);
    }
  });

  it("a packet over maxPacketSize: ETOOBIG, skipped, and the next packet in the same chunk still arrives", () => {
    const { c, log, peer } = setup({ maxPacketSize: 64 });
    const ids: number[] = [];
    c.on("message", (_t: string, _p: string, pk: any) => ids.push(pk.id)); // the packet object is reused: read it during the call
    const big = encode({ type: 3, topic: "big", payload: "x".repeat(200), qos: 1, id: 4 });
    // fed in 1-byte pieces too
    for (const chunk of [big + pub(0x32, 5), ...Array.from(big + pub(0x32, 6))]) peer().send(chunk);
    expect(errors(log).map((e) => e.code)).toEqual([E.TOO_BIG, E.TOO_BIG]);
    expect(c.connected).toBe(true);
    expect(ids).toEqual([5, 6]);
    // the skipped QoS 1 message is acknowledged too: else the broker resends it on every reconnect
    expect(errors(log).map((e) => [e.id, e.qos])).toEqual([[4, 1], [4, 1]]);
    expect(peer().packets()).toMatchObject([{ type: 4, id: 4 }, { type: 4, id: 5 }, { type: 4, id: 4 }, { type: 4, id: 6 }]);
  });

  it("an oversize QoS 2 PUBLISH is skipped, answered with PUBREC, and its PUBREL completed", () => {
    const { c, log, peer } = setup({ maxPacketSize: 64 });
    const big = encode({ type: 3, topic: "t/" + "z".repeat(70), payload: "x".repeat(100), qos: 2, id: 9 });
    for (const ch of Array.from(big)) peer().send(ch);
    expect(errors(log)).toMatchObject([{ code: E.TOO_BIG, id: 9, qos: 2 }]);
    peer().send(PUBREL(9));
    expect(peer().packets()).toMatchObject([{ type: 5, id: 9 }, { type: 7, id: 9 }]);
    expect(log.filter((e) => e[0] == "message")).toEqual([]);
    expect(c.connected).toBe(true);
  });

  it("a write that throws is a transport error: the link is dropped and retried", () => {
    const { clock, p, c, log, peer } = setup();
    peer().failWrites = true;
    c.publish("a/b", "hi", { qos: 1 });
    expect(errors(log).map((e) => e.code)).toEqual([E.TRANSPORT]);
    expect(c.connected).toBe(false);
    expect(c.inflight()).toBe(1); // kept for the next link
    clock.advance(clock.next());
    peer().take();
    peer().send(CONNACK);
    expect(peer().take()).toBe(pub(0x3a, 1)); // again, with DUP
    expect(p.links).toHaveLength(2);
  });

  it("a QoS 0 message written at once (no write() call) whose write throws: a transport error, link retried", () => {
    const { clock, p, c, log, peer } = setup();
    peer().failWrites = true;
    c.publish("a/b", "hi");
    expect(errors(log).map((e) => [e.code, e.message])).toEqual([[E.TRANSPORT, "write: write EPIPE"]]);
    expect(c.connected).toBe(false);
    clock.advance(clock.next());
    peer().take();
    peer().send(CONNACK);
    c.publish("a/b", "hi");
    expect(peer().take()).toBe("\x30\x07\x00\x03a/bhi");
    expect(p.links).toHaveLength(2);
  });

  it("a write failing while the session is restored: no `connect` after the loss, no stray timer", () => {
    const { clock, c, log, peer } = setup();
    c.publish("a/b", "hi", { qos: 1 });
    peer().end();
    clock.advance(clock.next());
    peer().take();
    peer().failWrites = true; // the resend of the PUBLISH fails
    log.length = 0;
    peer().send(CONNACK);
    expect(names(log)).toEqual(["error", "close", "offline"]);
    expect(clock.pending()).toBe(1); // the retry only: no keepalive timer
  });

  it("many decoder errors in a row never crash and never leave more than one retry", () => {
    const { clock, c, peer } = setup();
    c.on("error", () => {});
    let x = 12345;
    const rnd = () => ((x = (x * 1103515245 + 12345) & 0x7fffffff) >> 8) & 255;
    for (let round = 0; round < 50; round++) {
      let junk = "";
      for (let i = 0; i < 64; i++) junk += String.fromCharCode(rnd());
      expect(() => peer().send(junk)).not.toThrow();
      expect(clock.pending()).toBeLessThanOrEqual(1);
      clock.advance(60000);
      peer().send(CONNACK);
    }
    void toHex;
  });
});

describe("review findings", () => {
  const SUBACK = (id: number, q = 0) => String.fromCharCode(0x90, 3, id >> 8, id & 255, q);
  const UNSUBACK = (id: number) => ack(0xb0, id);

  it("a SUBACK carrying the id of a pending UNSUBSCRIBE (or the reverse) is ignored, nothing thrown", () => {
    const { c, log, peer } = setup();
    const done: any[] = [];
    c.unsubscribe("x/y", (e) => done.push(["unsub", e]));
    const [u] = peer().packets();
    expect(u).toMatchObject({ type: 10, topics: ["x/y"] });
    expect(() => peer().send(SUBACK(u.id!))).not.toThrow();
    c.subscribe("a/b", (e, g) => done.push(["sub", e, g]));
    const [s] = peer().packets();
    expect(() => peer().send(UNSUBACK(s.id!))).not.toThrow();
    expect(done).toEqual([]); // neither callback fired on the wrong kind of ack
    peer().send(UNSUBACK(u.id!) + SUBACK(s.id!));
    expect(done).toEqual([["unsub", null], ["sub", null, [{ topic: "a/b", qos: 0 }]]]);
    expect(c.connected).toBe(true);
    expect(errors(log)).toEqual([]);
  });

  it("a filter unsubscribed before its SUBACK came back is not renewed on the next session", () => {
    const { clock, p, c, peer } = setup();
    c.subscribe("a/+");
    const [s] = peer().packets();
    c.unsubscribe("a/+");
    const [u] = peer().packets();
    peer().send(SUBACK(s.id!) + UNSUBACK(u.id!)); // the broker answers in order
    peer().end();
    clock.advance(clock.next());
    peer().take();
    peer().send(CONNACK); // a new session: renew what is subscribed
    expect(peer().packets().filter((x) => x.type == 8)).toEqual([]);
    expect(p.links).toHaveLength(2);
  });

  it("connect() from a message handler starts the new link clean: the rest of the old chunk is not fed to it", () => {
    const { c, log, p } = setup({ reconnect: 0 });
    let once = true;
    c.on("message", () => { if (once) { once = false; c.end(true); c.connect(); } });
    p.last().send(pub(0x30, null) + pub(0x30, null, "a/c"));
    expect(p.links).toHaveLength(2);
    p.last().take();
    p.last().send(CONNACK);
    expect(c.connected).toBe(true);
    expect(errors(log)).toEqual([]);
    expect(log.filter((e) => e[0] == "message")).toHaveLength(1);
  });

  it("a QoS 0 publish whose write fails reports the failure to its callback", () => {
    const { c, peer } = setup();
    const res: any[] = [];
    peer().failWrites = true;
    c.publish("a/b", "hi", (e) => res.push(e && e.code));
    expect(res).toEqual([E.TRANSPORT]);
  });
});

describe("offline (un)subscribe requests", () => {
  it("are bounded by queue.maxMessages: the next one gets EQUEUEFULL; all that waited go out on connect", () => {
    const { c, p } = setup({ queue: { maxMessages: 3 } }, false);
    const res: any[] = [];
    for (let i = 0; i < 4; i++) c.subscribe("s/" + i, (e) => res.push(e && e.code));
    expect(res).toEqual([E.QUEUE_FULL]);
    c.unsubscribe("s/0", (e) => res.push(e && e.code));
    expect(res).toEqual([E.QUEUE_FULL, E.QUEUE_FULL]);
    c.connect();
    p.last().take();
    p.last().send(CONNACK);
    expect(p.last().packets().map((x) => x.subs && x.subs[0].topic)).toEqual(["s/0", "s/1", "s/2"]);
    c.subscribe("s/9"); // online: sent at once, whatever is pending
    expect(p.last().packets()).toMatchObject([{ type: 8, subs: [{ topic: "s/9" }] }]);
  });
});

describe("(un)subscribe requests resent after a reconnect", () => {
  it("go out again in request order, also when a later one has the smaller packet id", () => {
    // ids are the smallest free: the PUBLISH takes 1, the SUBSCRIBE 2, and once 1 is acknowledged the
    // UNSUBSCRIBE takes 1 again
    const SUB = hex("82 08 00 02 00 03 'f/#' 01"), UNSUB = hex("a2 07 00 01 00 03 'f/#'");
    const script: Step[][] = [
      [{ expect: CONNECT }, { send: CONNACK }, { expect: pub(0x32, 1, "a", "") }, { expect: SUB }, { send: PUBACK(1) },
        { expect: UNSUB, note: "id 1 again: free since its PUBACK" }, { close: true }],
      [{ expect: CONNECT }, { send: CONNACK }, { expect: SUB, note: "the SUBSCRIBE first, as it was asked" }, { expect: UNSUB },
        { send: hex("90 03 00 02 01") }, { send: hex("b0 02 00 01") }],
    ];
    const { clock, b, c } = scripted(script);
    const done: any[] = [];
    c.connect();
    clock.advance(0);
    c.publish("a", "", { qos: 1 });
    c.subscribe("f/#", { qos: 1 }, (e, g) => done.push(["sub", e, g]));
    clock.advance(0);
    expect(c.inflight()).toBe(0);
    c.unsubscribe("f/#", (e) => done.push(["unsub", e]));
    clock.advance(0); // the broker closes before answering
    expect(c.connected).toBe(false);
    clock.advance(clock.next());
    clock.advance(0);
    b.check();
    expect(done).toEqual([["sub", null, [{ topic: "f/#", qos: 1 }]], ["unsub", null]]);
  });
});
