// Every hand-written vector, both ways: encode(packet) gives its bytes exactly, and decoding its bytes
// gives back exactly its packet object (no missing, extra or undefined fields).
import { describe, expect, it } from "vitest";
import { decode, encode, isError, NAMES, type Packet } from "../../src/mqtt/packets";
import { E } from "../../src/mqtt/errors";
import { VECTORS, filler, frame, hex, toHex } from "./vectors";

describe("hand-written vectors", () => {
  for (const v of VECTORS) {
    describe(v.name, () => {
      it("encodes to the spec bytes", () => {
        const got = encode(v.packet);
        expect(toHex(got, 100000)).toBe(toHex(v.bytes, 100000));
      });
      it("decodes to the packet object", () => {
        const f = frame(v.bytes);
        expect(f.header + f.len).toBe(v.bytes.length); // the vector itself is well framed
        expect(decode(f.first, f.body)).toStrictEqual(v.packet);
      });
    });
  }

  it("cover every packet type, both directions, and the cases issue 2 lists", () => {
    const types = new Set(VECTORS.map((v) => v.packet.type));
    for (let t = 1; t <= 14; t++) expect(types.has(t), NAMES[t]).toBe(true);
    const connack = VECTORS.filter((v) => v.packet.type == 2).map((v) => v.packet);
    for (let rc = 0; rc <= 5; rc++) expect(connack.some((p) => p.returnCode == rc)).toBe(true);
    expect(connack.some((p) => p.sessionPresent)).toBe(true);
    const pub = VECTORS.filter((v) => v.packet.type == 3).map((v) => v.packet);
    for (let q = 0; q <= 2; q++) expect(pub.some((p) => p.qos == q)).toBe(true);
    expect(pub.some((p) => p.retain) && pub.some((p) => p.dup) && pub.some((p) => p.payload === "")).toBe(true);
    const lens = VECTORS.map((v) => frame(v.bytes).header - 1);
    expect(lens).toContain(2);
    expect(lens).toContain(3);
    const connect = VECTORS.filter((v) => v.packet.type == 1).map((v) => v.packet);
    expect(connect.some((p) => p.will) && connect.some((p) => !p.will)).toBe(true);
    expect(connect.some((p) => p.clean) && connect.some((p) => !p.clean)).toBe(true);
    expect(connect.some((p) => p.username != null && p.password != null)).toBe(true);
    expect(connect.some((p) => p.username != null && p.password == null)).toBe(true);
    expect(VECTORS.some((v) => v.packet.granted && v.packet.granted.indexOf(0x80) >= 0)).toBe(true);
  });
});

describe("remaining length (2.2.3, table 2.4)", () => {
  // a PUBLISH QoS 0 to topic "t" whose body is exactly n bytes
  const pub = (n: number): Packet => ({ type: 3, topic: "t", qos: 0, retain: false, dup: false, payload: filler(n - 3, 5) });
  const cases: [number, string][] = [
    [127, "7f"], [128, "80 01"], [16383, "ff 7f"], [16384, "80 80 01"], [2097151, "ff ff 7f"], [2097152, "80 80 80 01"],
  ];
  for (const [n, h] of cases) {
    it(`${n} is encoded as ${h} and decodes back`, () => {
      const p = pub(n), b = encode(p);
      expect(toHex(b.substring(0, 1 + h.split(" ").length + 3))).toBe(toHex(hex("30 " + h + " 00 01 74")));
      expect(b.length).toBe(1 + h.split(" ").length + n);
      const f = frame(b);
      expect(f.len).toBe(n);
      expect(decode(f.first, f.body)).toStrictEqual(p);
    });
  }
  it("0 is a single 00 byte", () => {
    expect(toHex(encode({ type: 12 }))).toBe("c0 00");
  });
});

describe("decode", () => {
  it("returns error values with a code, never packets with a code", () => {
    const e = decode(0x40, "\x00");
    expect(isError(e)).toBe(true);
    const p = decode(0x40, "\x00\x07");
    expect(isError(p)).toBe(false);
    expect(p).toStrictEqual({ type: 4, id: 7 });
  });

  it("keeps no state between calls: an error does not spoil the next decode", () => {
    const bad = decode(0x32, hex("00 03 61 2f 62")); // QoS 1 PUBLISH cut before its packet id
    expect((bad as any).code).toBe(E.MALFORMED);
    const ok = decode(0x32, hex("00 03 61 2f 62 00 0a 00 ff 80"));
    expect(ok).toStrictEqual({ type: 3, topic: "a/b", qos: 1, retain: false, dup: false, id: 10, payload: "\x00\xff\x80" });
  });

  it("returns a fresh object each time (callers may keep packets)", () => {
    const a = decode(0x40, "\x00\x01"), b = decode(0x40, "\x00\x01");
    expect(a).not.toBe(b);
  });

  it("does not strip a UTF-8 BOM from a topic [MQTT-1.5.3-3]", () => {
    expect(decode(0x30, hex("00 04 ef bb bf 61"))).toStrictEqual({ type: 3, topic: "\ufeffa", qos: 0, retain: false, dup: false, payload: "" });
  });

  it("accepts a topic name of 65,535 bytes, the most a UTF-8 string can hold (1.5.3)", () => {
    const t = "a".repeat(65535);
    const p = decode(0x30, "\xff\xff" + t + "x") as Packet;
    expect(p.topic!.length).toBe(65535);
    expect(p.payload).toBe("x");
  });
});

describe("encode", () => {
  it("writes a lone surrogate in a topic as U+FFFD (ef bf bd)", () => {
    expect(toHex(encode({ type: 3, topic: "a\ud800", qos: 0, payload: "" }))).toBe("30 06 00 04 61 ef bf bd");
  });
  it("leaves out the packet id of a QoS 0 PUBLISH even when the object has one [MQTT-2.3.1-5]", () => {
    expect(toHex(encode({ type: 3, topic: "t", qos: 0, id: 9, payload: "p" }))).toBe("30 04 00 01 74 70");
  });
  it("treats missing optional fields as their defaults", () => {
    expect(toHex(encode({ type: 3, topic: "t" }))).toBe("30 03 00 01 74");
    expect(toHex(encode({ type: 1 }))).toBe("10 0c 00 04 4d 51 54 54 04 00 00 00 00 00");
    expect(toHex(encode({ type: 2 }))).toBe("20 02 00 00");
  });
  it("sends the payload bytes as they are (binary strings are not re-encoded)", () => {
    const all = filler(256);
    const b = encode({ type: 3, topic: "t", qos: 0, payload: all });
    expect(b.substring(b.length - 256)).toBe(all);
  });
});
