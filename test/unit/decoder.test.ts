// The streaming decoder: any fragmentation, any coalescing, remaining-length limits and the size cap.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { fcParams } from "../helpers/seed";
import { createDecoder } from "../../src/mqtt/decoder";
import { encode, type Packet } from "../../src/mqtt/packets";
import { E, type MqttError } from "../../src/mqtt/errors";
import { DEFAULTS } from "../../src/mqtt/defaults";
import { SMALL, VECTORS, filler, hex } from "./vectors";

/** A decoder that records everything it reports, in order. */
function recorder(maxSize = 1 << 24) {
  const out: (Packet | MqttError)[] = [], packets: Packet[] = [], errors: MqttError[] = [];
  const d = createDecoder(maxSize, (p) => { out.push(p); packets.push(p); }, (e) => { out.push(e); errors.push(e); });
  return { d, out, packets, errors };
}

/** feed `b` cut at the given offsets */
function feedCut(push: (s: string) => void, b: string, cuts: number[]) {
  const at = [...new Set(cuts.filter((c) => c > 0 && c < b.length))].sort((x, y) => x - y);
  let from = 0;
  for (const c of at) { push(b.substring(from, c)); from = c; }
  push(b.substring(from));
}

const ALL = VECTORS.map((v) => v.bytes).join("");
const ALL_PACKETS = VECTORS.map((v) => v.packet);
const SMALL_BYTES = SMALL.map((v) => v.bytes).join("");

describe("framing", () => {
  for (const v of VECTORS) {
    it(`${v.name}: whole, and in 1-byte chunks`, () => {
      const a = recorder();
      a.d.push(v.bytes);
      expect(a.out).toStrictEqual([v.packet]);
      const b = recorder();
      for (let i = 0; i < v.bytes.length; i++) b.d.push(v.bytes.charAt(i));
      expect(b.out).toStrictEqual([v.packet]);
    });
  }

  it("all vectors coalesced into one chunk give every packet, in order", () => {
    const r = recorder();
    r.d.push(ALL);
    expect(r.errors).toStrictEqual([]);
    expect(r.packets).toStrictEqual(ALL_PACKETS);
  });

  it("all vectors in one stream fed byte by byte", () => {
    const r = recorder();
    for (let i = 0; i < SMALL_BYTES.length; i++) r.d.push(SMALL_BYTES.charAt(i));
    expect(r.out).toStrictEqual(SMALL.map((v) => v.packet));
  });

  it("empty chunks change nothing", () => {
    const r = recorder();
    r.d.push("");
    r.d.push("\x40");
    r.d.push("");
    r.d.push("\x02\x00");
    r.d.push("");
    r.d.push("\x05");
    expect(r.out).toStrictEqual([{ type: 4, id: 5 }]);
  });

  it("all vectors at random split points give the same packets", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: ALL.length - 1 }), { maxLength: 40 }), fc.array(fc.nat(SMALL_BYTES.length), { maxLength: 200 }), (cuts, fine) => {
        const r = recorder();
        feedCut(r.d.push, ALL, cuts);
        expect(r.out).toStrictEqual(ALL_PACKETS);
        // and many small pieces over the small vectors
        const s = recorder();
        feedCut(s.d.push, SMALL_BYTES, fine);
        expect(s.out).toStrictEqual(SMALL.map((v) => v.packet));
      }),
      fcParams({ numRuns: 200 }),
    );
  });

  it("reset() drops a partial packet", () => {
    const r = recorder();
    r.d.push(hex("30 07 00 03 61"));
    r.d.reset();
    r.d.push(hex("d0 00"));
    expect(r.out).toStrictEqual([{ type: 13 }]);
    r.d.push(hex("30 80")); // mid remaining length
    r.d.reset();
    r.d.push(hex("40 02 00 09"));
    expect(r.out).toStrictEqual([{ type: 13 }, { type: 4, id: 9 }]);
  });
});

describe("remaining length boundaries (2.2.3)", () => {
  // PUBLISH QoS 0 to "t" with a body of exactly n bytes
  const pub = (n: number): Packet => ({ type: 3, topic: "t", qos: 0, retain: false, dup: false, payload: filler(n - 3, 3) });

  it("0: PINGREQ/PINGRESP/DISCONNECT are two bytes", () => {
    const r = recorder();
    r.d.push(hex("c0 00 d0 00 e0 00"));
    expect(r.out).toStrictEqual([{ type: 12 }, { type: 13 }, { type: 14 }]);
  });

  for (const n of [127, 128, 16383, 16384, 2097151, 2097152]) {
    it(`${n}: decoded whole and in 4093-byte chunks with a large enough limit`, () => {
      const p = pub(n), b = encode(p);
      const a = recorder(b.length);
      a.d.push(b);
      expect(a.out).toStrictEqual([p]);
      const c = recorder(b.length);
      for (let i = 0; i < b.length; i += 4093) c.d.push(b.substring(i, i + 4093));
      expect(c.out).toStrictEqual([p]);
    });
  }

  const huge: [number, string][] = [[2097151, "ff ff 7f"], [2097152, "80 80 80 01"], [268435455, "ff ff ff 7f"]];
  for (const [n, h] of huge) {
    it(`${n} (${h}): only the header is fed; the default limit reports ETOOBIG for the announced size`, () => {
      const r = recorder(DEFAULTS.maxPacketSize);
      r.d.push(hex("30 " + h));
      expect(r.packets).toStrictEqual([]);
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0].code).toBe(E.TOO_BIG);
      expect(r.errors[0].type).toBe(3);
      expect(r.errors[0].message).toContain("PUBLISH");
      // the whole packet size: fixed header byte + length bytes + announced remaining length
      expect(r.errors[0].message).toContain(String(1 + h.split(" ").length + n));
      expect(r.errors[0].message).toContain(String(DEFAULTS.maxPacketSize));
    });
  }

  it("a fifth remaining-length byte is malformed, whatever follows", () => {
    for (const h of ["30 ff ff ff ff 7f", "30 80 80 80 80 01", "c0 80 80 80 80"]) {
      const r = recorder();
      r.d.push(hex(h));
      expect(r.packets).toStrictEqual([]);
      expect(r.errors.length).toBeGreaterThanOrEqual(1);
      expect(r.errors[0].code).toBe(E.MALFORMED);
      expect(r.errors[0].type).toBe(parseInt(h.substring(0, 1), 16));
      expect(r.errors[0].message).toMatch(/\[MQTT-2\.2\.3\]/);
    }
  });

  it("the fifth-byte error is reported once, as the 4th length byte arrives, also byte by byte", () => {
    const r = recorder();
    const b = hex("30 80 80 80");
    for (const c of b) r.d.push(c);
    expect(r.errors).toStrictEqual([]);
    r.d.push("\x80");
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0].code).toBe(E.MALFORMED);
  });
});

describe("maxPacketSize (default 4096, whole packet)", () => {
  const limit = DEFAULTS.maxPacketSize;
  it("is 4096 by default", () => expect(limit).toBe(4096));

  // PUBLISH QoS 0 "t" whose whole packet (1 + 2 length bytes + body) is `total` bytes
  const sized = (total: number) => encode({ type: 3, topic: "t", qos: 0, payload: filler(total - 3 - 3, 1) });
  const next = hex("40 02 00 2a"), nextP = { type: 4, id: 42 };

  it("a packet of exactly the limit is accepted", () => {
    const b = sized(limit);
    expect(b.length).toBe(limit);
    const r = recorder(limit);
    r.d.push(b);
    expect(r.errors).toStrictEqual([]);
    expect(r.packets).toHaveLength(1);
    expect(r.packets[0].payload!.length).toBe(limit - 6);
  });

  for (const chunking of ["one chunk", "1-byte chunks", "random chunks"]) {
    it(`one byte over: exactly one ETOOBIG naming type and size, the bytes are skipped, the next packet decodes (${chunking})`, () => {
      const b = sized(limit + 1) + next;
      const r = recorder(limit);
      if (chunking == "one chunk") r.d.push(b);
      else if (chunking == "1-byte chunks") for (const c of b) r.d.push(c);
      else feedCut(r.d.push, b, [2, 3, 4, 100, 2000, 4096, 4097, 4098]);
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0]).toMatchObject({ code: E.TOO_BIG, type: 3 });
      expect(r.errors[0].message).toContain("PUBLISH");
      expect(r.errors[0].message).toContain(String(limit + 1));
      expect(r.out).toStrictEqual([r.errors[0], nextP]);
    });
  }

  it("the error comes as soon as the header is known, before the body arrives", () => {
    const r = recorder(limit);
    r.d.push(hex("30 80 40")); // remaining length 8192
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0].message).toContain("8195");
    r.d.push(filler(8192));
    r.d.push(next);
    expect(r.out).toStrictEqual([r.errors[0], nextP]);
  });

  it("a skipped packet never reaches decode: malformed content inside it is not reported", () => {
    const r = recorder(16);
    r.d.push("\x32\x20" + "\xff".repeat(0x20) + next); // would be malformed UTF-8, but is too big first
    expect(r.errors.map((e) => e.code)).toStrictEqual([E.TOO_BIG]);
    expect(r.packets).toStrictEqual([nextP]);
  });

  it("several oversize packets in a row each give one error", () => {
    const r = recorder(limit);
    const b = sized(5000) + sized(limit + 1) + next + sized(6000);
    feedCut(r.d.push, b, [1, 5000, 5001, 9098]);
    expect(r.out.map((x: any) => x.code || x.type)).toStrictEqual([E.TOO_BIG, E.TOO_BIG, 4, E.TOO_BIG]);
  });
});

describe("never throws", () => {
  it("random bytes in random chunks: only packets and error values come out", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(300)), (bytes, cuts) => {
        const r = recorder(256);
        const b = Buffer.from(bytes).toString("latin1");
        feedCut(r.d.push, b, cuts);
        for (const e of r.errors) expect(Object.values(E)).toContain(e.code);
        for (const p of r.packets) expect(p.type >= 1 && p.type <= 14).toBe(true);
      }),
      fcParams({ numRuns: 2000 }),
    );
  });
});
