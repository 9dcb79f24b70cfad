// UTF-8 <-> JS strings over binary strings (MQTT 1.5.3, RFC 3629), checked against Node's own codec.
import { describe, expect, it, vi } from "vitest";
import fc from "fast-check";
import { fcParams } from "../helpers/seed";
import { decodeUtf8, encodeUtf8, toBytes } from "../../src/mqtt/utf8";
import { hex, toHex } from "./vectors";

const nodeEncode = (s: string) => Buffer.from(s, "utf8").toString("latin1");
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
/** the WHATWG decoder in fatal mode: null where the bytes are not well-formed UTF-8 */
function nodeDecode(b: string): string | null {
  try { return strict.decode(Buffer.from(b, "latin1")); } catch { return null; }
}

describe("encodeUtf8", () => {
  const cases: [string, string][] = [
    ["", ""],
    ["abc", "61 62 63"],
    ["\0", "00"],
    ["\x7f", "7f"],
    ["\x80", "c2 80"],
    ["ÿ", "c3 bf"],
    ["\u07ff", "df bf"],
    ["\u0800", "e0 a0 80"],
    ["€", "e2 82 ac"],
    ["\ufeff", "ef bb bf"],
    ["\uffff", "ef bf bf"],
    ["\ud800\udc00", "f0 90 80 80"], // U+10000, the first surrogate pair
    ["\ud83c\udf21", "f0 9f 8c a1"], // U+1F321
    ["\udbff\udfff", "f4 8f bf bf"], // U+10FFFF, the last code point
    ["a€\ud83c\udf21b", "61 e2 82 ac f0 9f 8c a1 62"],
  ];
  for (const [s, h] of cases) it(`${JSON.stringify(s)} -> ${h || "(empty)"}`, () => {
    expect(toHex(encodeUtf8(s))).toBe(toHex(hex(h)));
  });

  const lone: [string, string][] = [
    ["\ud800", "ef bf bd"], // high surrogate at the end
    ["\udc00", "ef bf bd"], // low surrogate alone
    ["\ud800a", "ef bf bd 61"], // high surrogate followed by a non-surrogate
    ["\udc00\ud800", "ef bf bd ef bf bd"], // reversed pair
    ["\ud800\ud800\udc00", "ef bf bd f0 90 80 80"], // a lone high, then a real pair
    ["a\udfffb", "61 ef bf bd 62"],
  ];
  for (const [s, h] of lone) it(`lone surrogates become U+FFFD: ${JSON.stringify(s)} -> ${h}`, () => {
    expect(toHex(encodeUtf8(s))).toBe(toHex(hex(h)));
  });

  it("agrees with Node on any UTF-16 string, lone surrogates included", () => {
    const unit = fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0xd800, max: 0xdfff })).map((c) => String.fromCharCode(c));
    fc.assert(fc.property(fc.string({ unit, maxLength: 30 }), (s) => {
      expect(encodeUtf8(s)).toBe(nodeEncode(s));
    }), fcParams({ numRuns: 5000 }));
  });
});

describe("decodeUtf8", () => {
  it("decodes well-formed sequences of every length", () => {
    expect(decodeUtf8(hex("61 c3 bf e2 82 ac f0 9f 8c a1 f4 8f bf bf"))).toBe("aÿ€\ud83c\udf21\udbff\udfff");
    expect(decodeUtf8("")).toBe("");
    expect(decodeUtf8("\0")).toBe("\0"); // U+0000 is well-formed; MQTT forbids it one level up (packets.ts)
  });

  it("keeps a BOM as U+FEFF [MQTT-1.5.3-3]", () => {
    expect(decodeUtf8(hex("ef bb bf 61"))).toBe("\ufeffa");
  });

  const bad: [string, string][] = [
    ["c0 80", "overlong U+0000"],
    ["c1 bf", "overlong 2-byte"],
    ["e0 80 80", "overlong 3-byte"],
    ["e0 9f bf", "overlong U+07FF in 3 bytes"],
    ["f0 80 80 80", "overlong 4-byte"],
    ["f0 8f bf bf", "overlong U+FFFF in 4 bytes"],
    ["ed a0 80", "U+D800, a surrogate"],
    ["ed bf bf", "U+DFFF, a surrogate"],
    ["ed a0 bd ed b8 80", "a surrogate pair encoded as two 3-byte sequences (CESU-8)"],
    ["f4 90 80 80", "U+110000, over U+10FFFF"],
    ["f7 bf bf bf", "U+1FFFFF"],
    ["f5 80 80 80", "lead byte f5"],
    ["f8 88 80 80 80", "5-byte form"],
    ["f8 90 80 80", "lead byte f8 (bit 3 set)"],
    ["f9 80 80 80", "lead byte f9"],
    ["fc 84 80 80 80 80", "6-byte form"],
    ["fe", "byte fe"],
    ["ff", "byte ff"],
    ["80", "lone continuation byte"],
    ["bf", "lone continuation byte bf"],
    ["61 80 62", "continuation byte between ASCII"],
    ["c3", "truncated 2-byte"],
    ["e2 82", "truncated 3-byte"],
    ["f0 9f 8c", "truncated 4-byte"],
    ["e2 28 a1", "bad second byte"],
    ["e2 82 28", "bad third byte"],
    ["c3 c3 bf", "lead byte where a continuation is due"],
    ["61 62 e2", "truncated at the end after ASCII"],
  ];
  for (const [h, why] of bad) it(`rejects ${h} (${why})`, () => {
    expect(decodeUtf8(hex(h))).toBeNull();
    expect(nodeDecode(hex(h))).toBeNull(); // the case really is ill-formed
  });

  it("agrees with a strict WHATWG decoder on random bytes", () => {
    // bytes weighted towards the interesting ranges
    const byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0x80, max: 0xbf }), fc.integer({ min: 0xc0, max: 0xff }));
    fc.assert(fc.property(fc.array(byte, { maxLength: 12 }), (a) => {
      const b = String.fromCharCode(...a);
      expect(decodeUtf8(b)).toBe(nodeDecode(b));
    }), fcParams({ numRuns: 20000 }));
  });

  it("round-trips every code point range", () => {
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 30 }), (s) => {
      const b = encodeUtf8(s);
      expect(b).toBe(nodeEncode(s));
      expect(decodeUtf8(b)).toBe(s);
    }), fcParams({ numRuns: 5000 }));
  });
});

describe("toBytes", () => {
  it("turns strings into UTF-8 and other scalars into their text", () => {
    expect(toBytes("é")).toBe("\xc3\xa9");
    expect(toBytes(21.5)).toBe("21.5");
    expect(toBytes(true)).toBe("true");
    expect(toBytes(null)).toBe("");
    expect(toBytes(undefined)).toBe("");
    expect(toBytes("")).toBe("");
  });

  it("copies Uint8Array, Buffer and Array bytes as they are, past the 200-argument chunks", () => {
    const a: number[] = [];
    for (let i = 0; i < 1000; i++) a.push((i * 31) & 255);
    const want = Buffer.from(a).toString("latin1");
    expect(toBytes(new Uint8Array(a))).toBe(want);
    expect(toBytes(Buffer.from(a))).toBe(want);
    expect(toBytes(a)).toBe(want);
    expect(toBytes(new Uint8Array(a).subarray(10, 610))).toBe(want.substring(10, 610));
    expect(toBytes(new Uint8Array(0))).toBe("");
    expect(toBytes([0, 255])).toBe("\x00\xff");
  });
});

// Espruino's strings hold bytes (String.fromCharCode keeps the low byte): there text stays UTF-8, and
// decodeUtf8 only checks it. Seen on Espruino 2v29: a topic with "€" made the old decode fail and drop
// the link (EMALFORMED [MQTT-1.5.3-1]).
describe("on an engine whose strings hold bytes (Espruino)", () => {
  it("well-formed UTF-8 beyond Latin-1 comes back as its bytes, Latin-1 as characters; ill-formed is null", async () => {
    const real = String.fromCharCode;
    String.fromCharCode = ((...a: number[]) => real(...a.map((x) => x & 255))) as any;
    try {
      vi.resetModules();
      const u = await import("../../src/mqtt/utf8");
      expect(String.fromCharCode(256).charCodeAt(0)).toBe(0); // (the stand-in holds)
      for (const t of ["a/€", "😀", "温度/°C"]) {
        const bytes = Buffer.from(t, "utf8").toString("latin1");
        expect(u.decodeUtf8(bytes)).toBe(bytes); // (Espruino's Unicode builds: E.asUTF8 of them)
      }
      expect(u.decodeUtf8("a\xc3\xbc/\xc2\xb0C")).toBe("aü/°C"); // only Latin-1: characters, as its literals give
      for (const bad of ["\xe2\x82", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80", "a\xff"]) expect(u.decodeUtf8(bad)).toBeNull();
    } finally {
      String.fromCharCode = real;
      vi.resetModules();
    }
  });
});
