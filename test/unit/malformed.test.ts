// Malformed packets: each one gives an EMALFORMED error value naming its packet type and the rule it
// breaks, decode never throws, and the stream decoder goes on to decode the next packet.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { decode, encode, isError, NAMES } from "../../src/mqtt/packets";
import { createDecoder } from "../../src/mqtt/decoder";
import { E, err, MALFORMED, TOO_BIG, REFUSED, CONNECT_TIMEOUT, KEEPALIVE, TRANSPORT, QUEUE_FULL, SUBSCRIBE, TOPIC, HANDLER, type MqttError } from "../../src/mqtt/errors";
import { SMALL, frame, hex } from "./vectors";
import { fcParams } from "../helpers/seed";

interface Bad { name: string; hex: string; type: number; rule: string }
const MQTT4 = "00 04 4d 51 54 54 04";

const CORPUS: Bad[] = [
  // fixed header: reserved types and flag bits (2.2.1, table 2.2)
  { name: "reserved type 0", hex: "00 00", type: 0, rule: "MQTT-2.2.1" },
  { name: "reserved type 15", hex: "f0 00", type: 15, rule: "MQTT-2.2.1" },
  { name: "reserved type 15 with a body", hex: "f0 02 00 01", type: 15, rule: "MQTT-2.2.1" },
  { name: "CONNECT flags 0001", hex: "11 0c" + MQTT4 + "02 00 3c 00 00", type: 1, rule: "MQTT-2.2.2-1" },
  { name: "CONNACK flags 1000", hex: "28 02 00 00", type: 2, rule: "MQTT-2.2.2-1" },
  { name: "PUBACK flags 0010", hex: "42 02 00 01", type: 4, rule: "MQTT-2.2.2-1" },
  { name: "PUBREC flags 0001", hex: "51 02 00 01", type: 5, rule: "MQTT-2.2.2-1" },
  { name: "PUBREL flags 0000", hex: "60 02 00 01", type: 6, rule: "MQTT-2.2.2-1" },
  { name: "PUBREL flags 1010 (DUP)", hex: "6a 02 00 01", type: 6, rule: "MQTT-2.2.2-1" },
  { name: "PUBCOMP flags 0010", hex: "72 02 00 01", type: 7, rule: "MQTT-2.2.2-1" },
  { name: "SUBSCRIBE flags 0000", hex: "80 06 00 01 00 01 61 00", type: 8, rule: "MQTT-2.2.2-1" },
  { name: "SUBACK flags 0010", hex: "92 03 00 01 00", type: 9, rule: "MQTT-2.2.2-1" },
  { name: "UNSUBSCRIBE flags 0000", hex: "a0 05 00 01 00 01 61", type: 10, rule: "MQTT-2.2.2-1" },
  { name: "UNSUBACK flags 1111", hex: "bf 02 00 01", type: 11, rule: "MQTT-2.2.2-1" },
  { name: "PINGREQ flags 0010", hex: "c2 00", type: 12, rule: "MQTT-2.2.2-1" },
  { name: "PINGRESP flags 0001", hex: "d1 00", type: 13, rule: "MQTT-2.2.2-1" },
  { name: "DISCONNECT flags 1000", hex: "e8 00", type: 14, rule: "MQTT-2.2.2-1" },

  // PUBLISH (3.3)
  { name: "PUBLISH QoS 3", hex: "36 05 00 01 74 00 01", type: 3, rule: "MQTT-3.3.1-4" },
  { name: "PUBLISH QoS 3 with DUP and retain", hex: "3f 05 00 01 74 00 01", type: 3, rule: "MQTT-3.3.1-4" },
  { name: "PUBLISH DUP on QoS 0", hex: "38 04 00 01 74 78", type: 3, rule: "MQTT-3.3.1-2" },
  { name: "PUBLISH topic with ill-formed UTF-8", hex: "30 05 00 02 c3 28 78", type: 3, rule: "MQTT-1.5.3-1" },
  { name: "PUBLISH topic with an encoded surrogate", hex: "30 06 00 03 ed a0 80 78", type: 3, rule: "MQTT-1.5.3-1" },
  { name: "PUBLISH topic with an overlong /", hex: "30 05 00 03 61 c0 af", type: 3, rule: "MQTT-1.5.3-1" },
  { name: "PUBLISH topic over U+10FFFF", hex: "30 06 00 04 f4 90 80 80", type: 3, rule: "MQTT-1.5.3-1" },
  { name: "PUBLISH topic with U+0000", hex: "30 05 00 03 61 00 62", type: 3, rule: "MQTT-1.5.3-2" },
  { name: "PUBLISH topic with +", hex: "30 05 00 03 61 2f 2b", type: 3, rule: "MQTT-3.3.2-2" },
  { name: "PUBLISH topic #", hex: "32 05 00 01 23 00 01", type: 3, rule: "MQTT-3.3.2-2" },
  { name: "PUBLISH zero-length topic", hex: "30 03 00 00 78", type: 3, rule: "MQTT-4.7.3-1" },
  { name: "PUBLISH QoS 1 packet id 0", hex: "32 05 00 01 74 00 00", type: 3, rule: "MQTT-2.3.1-1" },
  { name: "PUBLISH QoS 2 packet id 0", hex: "34 05 00 01 74 00 00", type: 3, rule: "MQTT-2.3.1-1" },
  { name: "PUBLISH QoS 1 cut before its packet id", hex: "32 05 00 03 61 2f 62", type: 3, rule: "MQTT-2.2.3" },
  { name: "PUBLISH QoS 1 with half a packet id", hex: "32 04 00 01 74 00", type: 3, rule: "MQTT-2.2.3" },
  { name: "PUBLISH topic length beyond the packet", hex: "30 04 00 05 61 62", type: 3, rule: "MQTT-2.2.3" },
  { name: "PUBLISH one byte of topic length", hex: "30 01 00", type: 3, rule: "MQTT-2.2.3" },
  { name: "PUBLISH with no variable header", hex: "30 00", type: 3, rule: "MQTT-2.2.3" },

  // acknowledgements: packet id 0, truncated, longer than their fields
  { name: "PUBACK packet id 0", hex: "40 02 00 00", type: 4, rule: "MQTT-2.3.1-1" },
  { name: "PUBREC packet id 0", hex: "50 02 00 00", type: 5, rule: "MQTT-2.3.1-1" },
  { name: "PUBREL packet id 0", hex: "62 02 00 00", type: 6, rule: "MQTT-2.3.1-1" },
  { name: "PUBCOMP packet id 0", hex: "70 02 00 00", type: 7, rule: "MQTT-2.3.1-1" },
  { name: "UNSUBACK packet id 0", hex: "b0 02 00 00", type: 11, rule: "MQTT-2.3.1-1" },
  { name: "SUBACK packet id 0", hex: "90 03 00 00 00", type: 9, rule: "MQTT-2.3.1-1" },
  { name: "PUBACK with no packet id", hex: "40 00", type: 4, rule: "MQTT-2.2.3" },
  { name: "PUBACK with one byte", hex: "40 01 00", type: 4, rule: "MQTT-2.2.3" },
  { name: "PUBACK remaining length 3", hex: "40 03 00 01 00", type: 4, rule: "MQTT-2.2.3" },
  { name: "PUBREC remaining length 4", hex: "50 04 00 01 00 00", type: 5, rule: "MQTT-2.2.3" },
  { name: "PUBREL remaining length 3", hex: "62 03 00 01 ff", type: 6, rule: "MQTT-2.2.3" },
  { name: "PUBCOMP remaining length 3", hex: "70 03 00 01 00", type: 7, rule: "MQTT-2.2.3" },
  { name: "UNSUBACK remaining length 3", hex: "b0 03 00 01 00", type: 11, rule: "MQTT-2.2.3" },
  { name: "PINGREQ remaining length 1", hex: "c0 01 00", type: 12, rule: "MQTT-2.2.3" },
  { name: "PINGRESP remaining length 1", hex: "d0 01 00", type: 13, rule: "MQTT-2.2.3" },
  { name: "DISCONNECT remaining length 2", hex: "e0 02 00 00", type: 14, rule: "MQTT-2.2.3" },

  // CONNACK (3.2)
  { name: "CONNACK remaining length 3", hex: "20 03 00 00 00", type: 2, rule: "MQTT-2.2.3" },
  { name: "CONNACK with one byte", hex: "20 01 00", type: 2, rule: "MQTT-2.2.3" },
  { name: "CONNACK reserved acknowledge flag bit 1", hex: "20 02 02 00", type: 2, rule: "MQTT-3.2.2.1" },
  { name: "CONNACK reserved acknowledge flag bit 7", hex: "20 02 80 00", type: 2, rule: "MQTT-3.2.2.1" },
  { name: "CONNACK return code 6", hex: "20 02 00 06", type: 2, rule: "MQTT-3.2.2.3" },
  { name: "CONNACK return code 255", hex: "20 02 00 ff", type: 2, rule: "MQTT-3.2.2.3" },
  { name: "CONNACK session present with a refusal", hex: "20 02 01 05", type: 2, rule: "MQTT-3.2.2-4" },

  // SUBSCRIBE (3.8), SUBACK (3.9), UNSUBSCRIBE (3.10)
  { name: "SUBSCRIBE with no filter", hex: "82 02 00 01", type: 8, rule: "MQTT-3.8.3-3" },
  { name: "SUBSCRIBE packet id 0", hex: "82 06 00 00 00 01 61 00", type: 8, rule: "MQTT-2.3.1-1" },
  { name: "SUBSCRIBE requested QoS 3", hex: "82 06 00 01 00 01 61 03", type: 8, rule: "MQTT-3-8.3-4" },
  { name: "SUBSCRIBE reserved bits in the QoS byte", hex: "82 06 00 01 00 01 61 41", type: 8, rule: "MQTT-3-8.3-4" },
  { name: "SUBSCRIBE filter without its QoS byte", hex: "82 05 00 01 00 01 61", type: 8, rule: "MQTT-2.2.3" },
  { name: "SUBSCRIBE second filter cut short", hex: "82 09 00 01 00 01 61 00 00 05 62", type: 8, rule: "MQTT-2.2.3" },
  { name: "SUBSCRIBE zero-length filter", hex: "82 05 00 01 00 00 00", type: 8, rule: "MQTT-4.7.3-1" },
  { name: "SUBSCRIBE filter a+", hex: "82 07 00 01 00 02 61 2b 00", type: 8, rule: "MQTT-4.7.1-3" },
  { name: "SUBSCRIBE filter #/a", hex: "82 08 00 01 00 03 23 2f 61 00", type: 8, rule: "MQTT-4.7.1-2" },
  { name: "SUBSCRIBE filter with U+0000", hex: "82 06 00 01 00 01 00 00", type: 8, rule: "MQTT-1.5.3-2" },
  { name: "SUBSCRIBE filter with ill-formed UTF-8", hex: "82 06 00 01 00 01 ff 00", type: 8, rule: "MQTT-1.5.3-1" },
  { name: "SUBACK return code 3", hex: "90 03 00 01 03", type: 9, rule: "MQTT-3.9.3-2" },
  { name: "SUBACK return code 0x81", hex: "90 04 00 01 00 81", type: 9, rule: "MQTT-3.9.3-2" },
  { name: "SUBACK with no return code", hex: "90 02 00 01", type: 9, rule: "MQTT-3.9.3-1" },
  { name: "UNSUBSCRIBE with no filter", hex: "a2 02 00 01", type: 10, rule: "MQTT-3.10.3-2" },
  { name: "UNSUBSCRIBE packet id 0", hex: "a2 05 00 00 00 01 61", type: 10, rule: "MQTT-2.3.1-1" },
  { name: "UNSUBSCRIBE filter +a", hex: "a2 06 00 01 00 02 2b 61", type: 10, rule: "MQTT-4.7.1-3" },
  { name: "UNSUBSCRIBE zero-length filter", hex: "a2 04 00 01 00 00", type: 10, rule: "MQTT-4.7.3-1" },
  { name: "UNSUBSCRIBE filter length beyond the packet", hex: "a2 05 00 01 00 09 61", type: 10, rule: "MQTT-2.2.3" },

  // CONNECT (3.1)
  { name: "CONNECT protocol name MQIsdp (3.1)", hex: "10 0e 00 06 4d 51 49 73 64 70 03 02 00 3c 00 00", type: 1, rule: "MQTT-3.1.2-1" },
  { name: "CONNECT protocol name mqtt", hex: "10 0c 00 04 6d 71 74 74 04 02 00 3c 00 00", type: 1, rule: "MQTT-3.1.2-1" },
  { name: "CONNECT protocol level 5", hex: "10 0c 00 04 4d 51 54 54 05 02 00 3c 00 00", type: 1, rule: "MQTT-3.1.2-2" },
  { name: "CONNECT protocol level 3", hex: "10 0c 00 04 4d 51 54 54 03 02 00 3c 00 00", type: 1, rule: "MQTT-3.1.2-2" },
  { name: "CONNECT reserved flag", hex: "10 0c" + MQTT4 + "03 00 3c 00 00", type: 1, rule: "MQTT-3.1.2-3" },
  { name: "CONNECT will QoS 3", hex: "10 11" + MQTT4 + "1e 00 3c 00 00 00 01 74 00 00", type: 1, rule: "MQTT-3.1.2-14" },
  { name: "CONNECT will QoS without a will", hex: "10 0c" + MQTT4 + "0a 00 3c 00 00", type: 1, rule: "MQTT-3.1.2-11" },
  { name: "CONNECT will retain without a will", hex: "10 0c" + MQTT4 + "22 00 3c 00 00", type: 1, rule: "MQTT-3.1.2-11" },
  { name: "CONNECT password without a user name", hex: "10 0e" + MQTT4 + "42 00 3c 00 00 00 00", type: 1, rule: "MQTT-3.1.2-22" },
  { name: "CONNECT user name flag but no user name", hex: "10 0c" + MQTT4 + "82 00 3c 00 00", type: 1, rule: "MQTT-2.2.3" },
  { name: "CONNECT will flag but no will", hex: "10 0c" + MQTT4 + "06 00 3c 00 00", type: 1, rule: "MQTT-2.2.3" },
  { name: "CONNECT cut in the protocol name", hex: "10 04 00 04 4d 51", type: 1, rule: "MQTT-2.2.3" },
  { name: "CONNECT cut before keepalive", hex: "10 08" + MQTT4 + "02", type: 1, rule: "MQTT-2.2.3" },
  { name: "CONNECT with no client id", hex: "10 0a" + MQTT4 + "02 00 3c", type: 1, rule: "MQTT-2.2.3" },
  { name: "CONNECT with a trailing byte", hex: "10 0d" + MQTT4 + "02 00 3c 00 00 00", type: 1, rule: "MQTT-2.2.3" },
  { name: "CONNECT client id with ill-formed UTF-8", hex: "10 0d" + MQTT4 + "02 00 3c 00 01 80", type: 1, rule: "MQTT-1.5.3-1" },
  { name: "CONNECT user name with U+0000", hex: "10 0f" + MQTT4 + "82 00 3c 00 00 00 01 00", type: 1, rule: "MQTT-1.5.3-2" },
  { name: "CONNECT will topic with a wildcard", hex: "10 11" + MQTT4 + "06 00 3c 00 00 00 01 23 00 00", type: 1, rule: "MQTT-3.3.2-2" },
  { name: "CONNECT zero-length will topic", hex: "10 10" + MQTT4 + "06 00 3c 00 00 00 00 00 00", type: 1, rule: "MQTT-4.7.3-1" },
];

/** the rule cited in brackets in the message, e.g. "MQTT-3.3.1-4" */
function ruleOf(e: MqttError) {
  const m = /\[(MQTT-[0-9.-]+)\]/.exec(e.message);
  return m && m[1];
}

const PINGRESP = hex("d0 00");

describe("malformed corpus", () => {
  it("every entry is well framed (its remaining length covers exactly its bytes)", () => {
    for (const b of CORPUS) {
      const f = frame(hex(b.hex));
      expect(f.header + f.len, b.name).toBe(hex(b.hex).length);
    }
  });

  for (const b of CORPUS) {
    it(`${b.name}: EMALFORMED, type ${b.type}, [${b.rule}]; the next packet decodes`, () => {
      const bytes = hex(b.hex), f = frame(bytes);
      const e = decode(f.first, f.body) as MqttError;
      expect(isError(e)).toBe(true);
      expect(e.code).toBe(E.MALFORMED);
      expect(e.type).toBe(b.type);
      expect(ruleOf(e)).toBe(b.rule);
      expect(e.message).toContain("[" + b.rule + "]");
      expect(e.message.startsWith(NAMES[b.type] + ": ")).toBe(true);
      expect(e.message).not.toMatch(/undefined/);

      // the stream decoder: one chunk, then byte by byte; the error, then the valid packet
      for (const step of [bytes.length + 2, 1]) {
        const out: any[] = [];
        const d = createDecoder(4096, (p) => out.push(p), (x) => out.push(x));
        const all = bytes + PINGRESP;
        for (let i = 0; i < all.length; i += step) d.push(all.substring(i, i + step));
        expect(out).toStrictEqual([e, { type: 13 }]);
      }
    });
  }
});

describe("in the device build (__SERVER__ false)", () => {
  it("packets only clients send are refused with an error value, not decoded", async () => {
    // packets.ts compiled the way the bundle compiles it: the client->server layouts are dead code
    const esbuild = await import("esbuild");
    const r = await esbuild.build({
      entryPoints: [new URL("../../src/mqtt/packets.ts", import.meta.url).pathname],
      bundle: true, format: "esm", platform: "neutral", write: false, define: { __SERVER__: "false" },
    });
    const m = await import("data:text/javascript;base64," + Buffer.from(r.outputFiles[0].text).toString("base64"));
    expect(r.outputFiles[0].text).not.toContain("3.1.2-1"); // the rule ids of CONNECT decoding
    for (const h of ["10 0c" + MQTT4 + "02 00 3c 00 00", "82 06 00 01 00 01 61 00", "a2 05 00 01 00 01 61"]) {
      const f = frame(hex(h));
      const e = m.decode(f.first, f.body) as MqttError;
      expect(e.code).toBe(E.MALFORMED);
      expect(e.type).toBe(f.first >> 4);
      expect(ruleOf(e)).toBe("MQTT-2.2.1");
    }
    expect(m.decode(0x40, "\x00\x01")).toStrictEqual({ type: 4, id: 1 });
    expect(m.decode(0x90, "\x00\x01\x80")).toStrictEqual({ type: 9, id: 1, granted: [0x80] });
  });
});

describe("fuzzing the vectors", () => {
  // the small vectors, as (first byte, body)
  const frames = SMALL.map((v) => frame(v.bytes));

  it("decode never throws; what it accepts re-encodes to the same bytes; what it refuses cites a rule", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: frames.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.option(fc.integer({ min: 0, max: 255 })),
        fc.option(fc.nat()),
        (k, edits, first, cut) => {
          const f = frames[k];
          const body = f.body.split("");
          for (const [at, v] of edits) if (body.length) body[at % body.length] = String.fromCharCode(v);
          let b = body.join("");
          if (cut != null) b = b.substring(0, cut % (b.length + 1));
          const fb = first == null ? f.first : first;
          const r = decode(fb, b);
          if (isError(r)) {
            expect(r.code).toBe(E.MALFORMED);
            expect(r.type).toBe(fb >> 4);
            expect(ruleOf(r)).not.toBeNull();
          } else {
            // one canonical encoding: decoding is lossless, and nothing malformed slipped through
            const again = frame(encode(r));
            expect(again.first).toBe(fb);
            expect(again.body).toBe(b);
          }
        },
      ),
      fcParams({ numRuns: 20000 }),
    );
  });

  // The SMALL vectors back to back, a few bytes corrupted, pushed in chunks of step + 1 bytes. Only packets
  // and error values with a known code come out, and nothing throws. A corrupted length may announce a
  // packet longer than the rest of the stream: then the decoder rightly waits and may report nothing yet,
  // but it is not stuck. Zero bytes finish any packet within 65,540 bytes (the longest wait: an oversize
  // QoS 1/2 PUBLISH read up to its packet id after a 65,535-byte topic; any other packet is < 4,096 B),
  // and then it reports.
  const stream = SMALL.map((v) => v.bytes).join("");
  function corrupted(edits: [number, number][], step: number) {
    const s = stream.split("");
    for (const [at, v] of edits) s[at] = String.fromCharCode(v);
    const all = s.join(""), got: any[] = [];
    const d = createDecoder(4096, (p) => got.push(p), (e) => { expect(Object.values(E)).toContain(e.code); got.push(e); });
    for (let i = 0; i < all.length; i += step + 1) d.push(all.substring(i, i + step + 1));
    const reported = got.length;
    for (let pad = 0; !got.length && pad < 65540; pad += 4096) d.push("\0".repeat(4096));
    expect(got.length, "reports once the stream is padded").toBeGreaterThan(0);
    return { reported, got };
  }

  it("the stream decoder, fed corrupted streams, reports only values and never throws", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(stream.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.nat(64), (edits, step) => {
        corrupted(edits, step);
      }),
      fcParams({ numRuns: 1000 }),
    );
  });

  it("regression (seed 948320669): a corrupted length longer than the stream: nothing reported until the packet ends", () => {
    // byte 0 -> 0 (reserved type 0), bytes 1-2 -> 80 08: a remaining length of 1,024, past the 975-byte stream
    const { reported, got } = corrupted([[1, 128], [2, 8], [0, 0]], 0);
    expect(stream.length).toBeLessThan(3 + 1024);
    expect(reported).toBe(0);
    expect(got[0]).toMatchObject({ code: E.MALFORMED, type: 0 });
    expect(ruleOf(got[0])).toBe("MQTT-2.2.1");
  });
});

describe("error values (errors.ts)", () => {
  it("err(number) gives the code's text; err() the table by name, the same as E; a packet type names the packet", () => {
    expect(err()).toEqual(E);
    expect(Object.keys(E).map((k, i) => err(i as any, "m").code)).toEqual(Object.values(E));
    expect([MALFORMED, TOO_BIG, REFUSED, CONNECT_TIMEOUT, KEEPALIVE, TRANSPORT, QUEUE_FULL, SUBSCRIBE, TOPIC, HANDLER].map((n) => err(n as any, "").code)).toEqual(Object.values(E));
    expect(err(MALFORMED, "3.3.1-4", 3)).toEqual({ code: "EMALFORMED", message: "PUBLISH: [MQTT-3.3.1-4]", type: 3 });
    expect(err(TOO_BIG, "5000 > maxPacketSize 4096", 0).message).toBe("packet: 5000 > maxPacketSize 4096");
    expect(err(TRANSPORT, "write: ", null, new Error("EPIPE"))).toEqual({ code: "ETRANSPORT", message: "write: EPIPE", type: null });
    expect(err(HANDLER, "handler threw: ", null, "boom").message).toBe("handler threw: boom");
  });
});
