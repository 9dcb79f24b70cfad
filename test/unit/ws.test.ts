// The WebSocket transports: src/net/ws.ts (our own RFC 6455 framing over a raw byte transport) and
// src/net/wsobject.ts (over a WHATWG WebSocket, here mock-socket's). The server side of these tests is
// written independently with Node Buffers and crypto, and the RFC 6455 examples (section 5.7, 1.3)
// are checked byte for byte.
import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { random, randomBytes } from "../helpers/seed";
import { Server, WebSocket as MockWebSocket } from "mock-socket";
import { base64, sha1, wsAccept, wsTransport, WsOptions } from "../../src/net/ws";
import { wsObjectTransport } from "../../src/net/wsobject";
import { createClient } from "../../src/mqtt/client";
import type { LinkEvents, Link, Transport } from "../../src/mqtt/port";
import type { MqttError } from "../../src/mqtt/errors";

const bin = (b: Buffer | number[]) => Buffer.from(b).toString("latin1");
const buf = (s: string) => Buffer.from(s, "latin1");
const hexs = (s: string) => buf(s).toString("hex");

// ---- the server side, written without the code under test ----

interface Frame { fin: boolean; rsv: number; opcode: number; masked: boolean; mask?: Buffer; payload: string }

/** parse the client's frames (after the HTTP request), unmasking */
function parseFrames(s: string): Frame[] {
  const b = buf(s), out: Frame[] = [];
  let i = 0;
  while (i < b.length) {
    const b0 = b[i], b1 = b[i + 1];
    let n = b1 & 127, j = i + 2;
    if (n === 126) { n = b.readUInt16BE(j); j += 2; } else if (n === 127) { n = Number(b.readBigUInt64BE(j)); j += 8; }
    const masked = !!(b1 & 128);
    const mask = masked ? b.subarray(j, j + 4) : undefined;
    if (masked) j += 4;
    const p = Buffer.from(b.subarray(j, j + n));
    if (mask) for (let k = 0; k < p.length; k++) p[k] ^= mask[k & 3];
    out.push({ fin: !!(b0 & 128), rsv: b0 & 112, opcode: b0 & 15, masked, mask, payload: bin(p) });
    i = j + n;
  }
  return out;
}

/** an unmasked server frame */
function frame(opcode: number, payload: string, fin = true, extra = 0): string {
  const n = payload.length;
  const h = [(fin ? 128 : 0) | extra | opcode];
  if (n < 126) h.push(n);
  else if (n < 65536) h.push(126, n >> 8, n & 255);
  else h.push(127, 0, 0, 0, 0, (n >>> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255);
  return bin(h) + payload;
}

const accept = (key: string) => createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
const response101 = (key: string, extra = "") =>
  `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept(key)}\r\nSec-WebSocket-Protocol: mqtt\r\n${extra}\r\n`;

/** a raw byte transport the test plays the server on */
function fakeInner(opts: { syncOpen?: boolean } = {}) {
  const s = {
    written: "", closed: false, host: "", port: 0, ev: null as unknown as LinkEvents,
    /** the HTTP request the client wrote, and the frames after it */
    request(): string { const i = s.written.indexOf("\r\n\r\n"); return i < 0 ? "" : s.written.slice(0, i + 4); },
    frames(): Frame[] { return parseFrames(s.written.slice(s.request().length)); },
    key(): string { return /Sec-WebSocket-Key: (\S+)/.exec(s.request())![1]; },
    /** answer the upgrade (and anything after it) in one chunk */
    upgrade(after = "") { s.ev.data(response101(s.key()) + after); },
  };
  const transport: Transport = (host, port, ev) => {
    s.host = host; s.port = port; s.ev = ev;
    if (opts.syncOpen) ev.open();
    const l: Link = {
      write(b) { if (s.closed) throw new Error("This socket is closed"); s.written += b; },
      close() { s.closed = true; },
    };
    return l;
  };
  return { s, transport };
}

function events() {
  const e = { opened: 0, data: "", closes: [] as (MqttError | undefined)[] };
  const ev: LinkEvents = {
    open() { e.opened++; },
    data(d) { expect(typeof d).toBe("string"); e.data += d; },
    close(x) { e.closes.push(x); },
  };
  return { e, ev };
}

function open(o?: WsOptions, inner = fakeInner()) {
  const { e, ev } = events();
  const link = wsTransport(inner.transport, o)("broker.local", 8080, ev);
  inner.s.ev.open();
  return { s: inner.s, e, link };
}

/** a random source that plays `bytes` (each as byte/256), then random ones */
function playing(bytes: number[]) {
  let i = 0;
  return () => (i < bytes.length ? bytes[i++] / 256 : random());
}

describe("base64 and SHA-1 (for the key and Sec-WebSocket-Accept)", () => {
  it("match Node's for every length 0..130 and random bytes", () => {
    for (let n = 0; n <= 130; n++) {
      const b = randomBytes(n), s = bin(b);
      expect(base64(s)).toBe(b.toString("base64"));
      expect(hexs(sha1(s))).toBe(createHash("sha1").update(b).digest("hex"));
    }
  });
  it("gives RFC 6455's example accept value (section 1.3)", () => {
    expect(wsAccept("dGhlIHNhbXBsZSBub25jZQ==")).toBe("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  });
  it("hashes a 1 MB input like Node", () => {
    const b = randomBytes(1 << 20);
    expect(hexs(sha1(bin(b)))).toBe(createHash("sha1").update(b).digest("hex"));
  });
});

describe("wsTransport: the opening handshake", () => {
  it("sends an RFC 6455 upgrade request with a 16-byte key and the mqtt subprotocol", () => {
    const { s, e } = open();
    const req = s.request();
    expect(req.startsWith("GET /mqtt HTTP/1.1\r\n")).toBe(true);
    expect(req).toContain("\r\nHost: broker.local:8080\r\n");
    expect(req).toMatch(/\r\nUpgrade: websocket\r\n/);
    expect(req).toMatch(/\r\nConnection: Upgrade\r\n/);
    expect(req).toContain("\r\nSec-WebSocket-Version: 13\r\n");
    expect(req).toContain("\r\nSec-WebSocket-Protocol: mqtt\r\n");
    expect(Buffer.from(s.key(), "base64").length).toBe(16);
    expect(s.host).toBe("broker.local");
    expect(s.port).toBe(8080);
    expect(e.opened).toBe(0); // not before the 101
  });

  it("makes the key from the random source (RFC 6455 example nonce)", () => {
    const { s } = open({ random: playing([...Buffer.from("the sample nonce")]) });
    expect(s.key()).toBe("dGhlIHNhbXBsZSBub25jZQ==");
  });

  it("uses a fresh key per connection", () => {
    const a = open(), b = open();
    expect(a.s.key()).not.toBe(b.s.key());
  });

  it("takes path and protocol options", () => {
    const { s } = open({ path: "/ws?x=1", protocol: "mqttv3.1" });
    expect(s.request().startsWith("GET /ws?x=1 HTTP/1.1\r\n")).toBe(true);
    expect(s.request()).toContain("Sec-WebSocket-Protocol: mqttv3.1\r\n");
  });

  it("works when the inner transport opens from inside the factory", () => {
    const inner = fakeInner({ syncOpen: true });
    const { ev } = events();
    wsTransport(inner.transport)("h", 1, ev);
    expect(inner.s.request()).toMatch(/^GET \/mqtt HTTP\/1.1\r\n/);
  });

  it("opens on 101, also when the response arrives one byte at a time, and passes bytes after it on", () => {
    const { s, e } = open();
    const all = response101(s.key()) + frame(2, "\x20\x02\x00\x00");
    for (const c of all) s.ev.data(c);
    expect(e.opened).toBe(1);
    expect(hexs(e.data)).toBe("20020000");
  });

  it("opens when the 101 and the first frames come in one chunk", () => {
    const { s, e } = open();
    s.upgrade(frame(2, "ab") + frame(2, "cd"));
    expect(e.opened).toBe(1);
    expect(e.data).toBe("abcd");
  });

  it("refuses a non-101 answer with ETRANSPORT naming the status", () => {
    const { s, e } = open();
    s.ev.data("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    expect(e.opened).toBe(0);
    expect(e.closes).toHaveLength(1);
    expect(e.closes[0]!.code).toBe("ETRANSPORT");
    expect(e.closes[0]!.message).toContain("HTTP/1.1 404 Not Found");
    expect(s.closed).toBe(true);
  });

  it("refuses an endless response header", () => {
    const { s, e } = open();
    s.ev.data("HTTP/1.1 101 Switching Protocols\r\n" + "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(80));
    expect(e.closes[0]!.message).toMatch(/upgrade response too long/);
  });

  it("reports a link closed during the upgrade", () => {
    const { s, e } = open();
    s.ev.close();
    expect(e.closes[0]!.code).toBe("ETRANSPORT");
    expect(e.closes[0]!.message).toMatch(/before the upgrade/);
  });

  it("with accept: wsAccept, checks Sec-WebSocket-Accept", () => {
    const good = open({ accept: wsAccept });
    good.s.upgrade();
    expect(good.e.opened).toBe(1);

    const bad = open({ accept: wsAccept });
    bad.s.ev.data("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nsec-websocket-accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n");
    expect(bad.e.opened).toBe(0);
    expect(bad.e.closes[0]!.message).toMatch(/Sec-WebSocket-Accept/);

    const missing = open({ accept: wsAccept });
    missing.s.ev.data("HTTP/1.1 101 Switching Protocols\r\n\r\n");
    expect(missing.e.opened).toBe(0);
  });
});

describe("wsTransport: client frames", () => {
  it("masks like RFC 6455's example (section 5.7), as a binary frame", () => {
    const { s, link } = open({ random: playing([...Buffer.alloc(16), 0x37, 0xfa, 0x21, 0x3d]) });
    s.upgrade();
    s.written = s.request();
    link.write("Hello");
    expect(hexs(s.written.slice(s.request().length))).toBe("828537fa213d7f9f4d5158");
  });

  it("encodes 7-bit, 16-bit and 64-bit lengths, each frame masked with a fresh key", () => {
    const { s, link } = open();
    s.upgrade();
    const sizes = [0, 1, 125, 126, 127, 65535, 65536, 70000];
    const payloads = sizes.map((n) => bin(randomBytes(n)));
    for (const p of payloads) link.write(p);
    const f = s.frames();
    expect(f.map((x) => x.payload.length)).toEqual(sizes);
    for (let i = 0; i < f.length; i++) {
      expect(f[i]).toMatchObject({ fin: true, rsv: 0, opcode: 2, masked: true });
      expect(f[i].payload === payloads[i]).toBe(true);
    }
    const masks = new Set(f.map((x) => x.mask!.toString("hex")));
    expect(masks.size).toBeGreaterThan(5);
    // the length field uses the shortest form
    const raw = buf(s.written.slice(s.request().length));
    expect(raw[1] & 127).toBe(0);
  });

  it("close() sends a masked close frame with 1000, closes the link, and reports nothing after", () => {
    const { s, e, link } = open();
    s.upgrade();
    link.close!();
    const f = s.frames();
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ opcode: 8, masked: true, fin: true });
    expect(hexs(f[0].payload)).toBe("03e8");
    expect(s.closed).toBe(true);
    s.ev.close();
    expect(e.closes).toHaveLength(0);
  });
});

describe("wsTransport: server frames", () => {
  it("delivers binary frames split into 1-byte chunks and coalesced with others", () => {
    const { s, e } = open();
    s.upgrade();
    const data = [bin(randomBytes(10)), bin(randomBytes(300)), bin(randomBytes(70000)), "", bin(randomBytes(1))];
    const stream = data.map((d) => frame(2, d)).join("");
    for (let i = 0; i < 400; i++) s.ev.data(stream[i]);
    s.ev.data(stream.slice(400, 1000));
    s.ev.data(stream.slice(1000));
    expect(e.data === data.join("")).toBe(true);
    expect(e.closes).toHaveLength(0);
  });

  it("joins fragmented messages (binary + continuations)", () => {
    const { s, e } = open();
    s.upgrade();
    s.ev.data(frame(2, "Hel", false) + frame(0, "lo", false) + frame(0, " world", true) + frame(2, "!"));
    expect(e.data).toBe("Hello world!");
  });

  it("answers a ping with a masked pong carrying the same payload, also inside a fragmented message", () => {
    const { s, e } = open();
    s.upgrade();
    s.ev.data(frame(2, "ab", false) + frame(9, "Hello") + frame(0, "cd", true));
    const f = s.frames();
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ opcode: 10, masked: true, fin: true, payload: "Hello" });
    expect(e.data).toBe("abcd");
    // an empty ping, a byte at a time
    for (const c of frame(9, "")) s.ev.data(c);
    expect(s.frames()[1]).toMatchObject({ opcode: 10, payload: "" });
  });

  it("a pong that cannot be written ends the link with ETRANSPORT, not a throw into the socket's data callback", () => {
    const { s, e } = open();
    s.upgrade();
    s.closed = true; // the socket is closed under us: write throws "This socket is closed"
    expect(() => s.ev.data(frame(9, "hi") + frame(2, "after"))).not.toThrow();
    expect(e.closes).toHaveLength(1);
    expect(e.closes[0]!.code).toBe("ETRANSPORT");
    expect(e.closes[0]!.message).toMatch(/^websocket: /);
    expect(e.data).toBe("");
  });

  it("ignores an unsolicited pong", () => {
    const { s, e } = open();
    s.upgrade();
    s.ev.data(frame(10, "x") + frame(2, "y"));
    expect(e.data).toBe("y");
    expect(s.frames()).toHaveLength(0);
  });

  it("on a close frame: echoes the code, drops the link, reports code and reason", () => {
    const { s, e } = open();
    s.upgrade();
    s.ev.data(frame(8, "\x03\xe9going away"));
    const f = s.frames();
    expect(f[0]).toMatchObject({ opcode: 8, masked: true });
    expect(hexs(f[0].payload)).toBe("03e9");
    expect(s.closed).toBe(true);
    expect(e.closes).toHaveLength(1);
    expect(e.closes[0]!.code).toBe("ETRANSPORT");
    expect(e.closes[0]!.message).toBe("websocket closed by the server (1001 going away)");
    s.ev.close(); // the socket's own close event after ours: reported once only
    expect(e.closes).toHaveLength(1);
  });

  it("on an empty close frame reports 1005", () => {
    const { s, e } = open();
    s.upgrade();
    s.ev.data(frame(8, ""));
    expect(e.closes[0]!.message).toMatch(/\(1005\)/);
  });

  const violations: [string, string, RegExp, number][] = [
    ["a text frame [MQTT-6.0.0-1]", frame(1, "hi"), /text frame/, 1003],
    ["a masked server frame", bin([0x82, 0x81, 1, 2, 3, 4, 5]), /masked frame/, 1002],
    ["reserved bits", frame(2, "x", true, 0x40), /reserved bits/, 1002],
    ["a continuation with nothing to continue", frame(0, "x"), /fragmentation/, 1002],
    ["a new message inside a fragmented one", frame(2, "a", false) + frame(2, "b"), /fragmentation/, 1002],
    ["a fragmented control frame", frame(9, "x", false), /control frame/, 1002],
    ["a control frame over 125 bytes", frame(9, "x".repeat(126)), /control frame/, 1002],
    ["an unknown data opcode", frame(3, "x"), /unknown opcode 3/, 1002],
    ["an unknown control opcode", frame(11, "x"), /unknown opcode 11/, 1002],
  ];
  for (const [what, bytes, msg, code] of violations) {
    it(`fails the connection on ${what}: close frame ${code}, ETRANSPORT`, () => {
      const { s, e } = open();
      s.upgrade();
      s.ev.data(bytes + frame(2, "after"));
      expect(e.closes).toHaveLength(1);
      expect(e.closes[0]!.code).toBe("ETRANSPORT");
      expect(e.closes[0]!.message).toMatch(msg);
      expect(e.data).not.toContain("after");
      const f = s.frames();
      expect(f[f.length - 1].opcode).toBe(8);
      expect(buf(f[f.length - 1].payload).readUInt16BE(0)).toBe(code);
      expect(s.closed).toBe(true);
    });
  }

  it("passes on a socket error from the inner transport", () => {
    const { s, e } = open();
    s.upgrade();
    s.ev.close({ code: "ETRANSPORT", message: "socket error: ECONNRESET" });
    expect(e.closes).toEqual([{ code: "ETRANSPORT", message: "socket error: ECONNRESET" }]);
  });
});

describe("wsTransport under the MQTT client", () => {
  it("carries CONNECT out and CONNACK in, byte by byte", async () => {
    const inner = fakeInner();
    const c = createClient({
      host: "127.0.0.1", port: 9001, transport: wsTransport(inner.transport), clientId: "ws-unit", reconnect: false,
      clock: { now: () => Date.now(), setTimer: (fn, ms, a) => setTimeout(fn, ms, a), clearTimer: (t) => clearTimeout(t) },
    });
    const connected = new Promise<void>((r) => c.on("connect", () => r()));
    c.connect();
    inner.s.ev.open();
    inner.s.upgrade();
    const f = inner.s.frames();
    expect(f).toHaveLength(1);
    expect(f[0].opcode).toBe(2);
    expect(f[0].payload.charCodeAt(0)).toBe(0x10); // CONNECT
    expect(f[0].payload).toContain("ws-unit");
    for (const ch of frame(2, "\x20\x02\x00\x00")) inner.s.ev.data(ch);
    await connected;
    expect(c.connected).toBe(true);
    c.end();
    expect(inner.s.closed).toBe(true);
  });
});

// ---- the WHATWG variant, over mock-socket ----

let nextPort = 19000;
function mockServer(path = "/mqtt") {
  const port = nextPort++;
  const server = new Server(`ws://127.0.0.1:${port}${path}`, { selectProtocol: (p: string[]) => (p.includes("mqtt") ? "mqtt" : "") });
  const got: { data: any[]; protocol: string; socket: any; closed: boolean } = { data: [], protocol: "", socket: null, closed: false };
  server.on("connection", (socket: any) => {
    got.socket = socket;
    got.protocol = socket.protocol;
    socket.on("message", (d: any) => got.data.push(d));
    socket.on("close", () => { got.closed = true; });
  });
  return { port, server, got };
}

const tick = () => new Promise((r) => setTimeout(r, 20));

describe("wsObjectTransport (WHATWG WebSocket, mock-socket)", () => {
  it("connects to ws://host:port/mqtt with the mqtt subprotocol and sends binary", async () => {
    const { port, server, got } = mockServer();
    const { e, ev } = events();
    const link = wsObjectTransport(MockWebSocket)("127.0.0.1", port, ev);
    await tick();
    expect(e.opened).toBe(1);
    expect(got.protocol).toBe("mqtt");
    const bytes = bin([...Array(256).keys()]);
    link.write(bytes);
    await tick();
    expect(got.data).toHaveLength(1);
    expect(got.data[0]).toBeInstanceOf(ArrayBuffer);
    expect(bin([...new Uint8Array(got.data[0])]) === bytes).toBe(true);
    link.close!();
    server.stop();
  });

  it("turns ArrayBuffers from the server into binary strings, NUL and high bytes included, large ones too", async () => {
    const { port, server, got } = mockServer();
    const { e, ev } = events();
    wsObjectTransport(MockWebSocket)("127.0.0.1", port, ev);
    await tick();
    const a = randomBytes(5000), b = Buffer.from([0, 255, 128, 0]);
    got.socket.send(new Uint8Array(a).buffer);
    got.socket.send(new Uint8Array(b).buffer);
    await tick();
    expect(e.data === bin(a) + bin(b)).toBe(true);
    server.stop();
  });

  it("fails on a text message [MQTT-6.0.0-1]", async () => {
    const { port, server, got } = mockServer();
    const { e, ev } = events();
    wsObjectTransport(MockWebSocket)("127.0.0.1", port, ev);
    await tick();
    got.socket.send("hello");
    await tick();
    expect(e.closes).toHaveLength(1);
    expect(e.closes[0]!.code).toBe("ETRANSPORT");
    expect(e.closes[0]!.message).toMatch(/text frame/);
    server.stop();
  });

  it("reports the server's close with its code, once", async () => {
    const { port, server, got } = mockServer();
    const { e, ev } = events();
    wsObjectTransport(MockWebSocket)("127.0.0.1", port, ev);
    await tick();
    got.socket.close({ code: 1011, reason: "broker restart" });
    await tick();
    expect(e.closes).toHaveLength(1);
    expect(e.closes[0]!.message).toMatch(/1011/);
    server.stop();
  });

  it("reports a connection nobody answers as ETRANSPORT", async () => {
    const { e, ev } = events();
    wsObjectTransport(MockWebSocket, { path: "/nothing" })("127.0.0.1", 1, ev);
    await tick();
    expect(e.opened).toBe(0);
    expect(e.closes).toHaveLength(1);
    expect(e.closes[0]!.code).toBe("ETRANSPORT");
  });

  it("uses wss:// and the path when asked", async () => {
    const port = nextPort++;
    const server = new Server(`wss://127.0.0.1:${port}/p`);
    const { e, ev } = events();
    wsObjectTransport(MockWebSocket, { secure: true, path: "/p" })("127.0.0.1", port, ev);
    await tick();
    expect(e.opened).toBe(1);
    server.stop();
  });
});
