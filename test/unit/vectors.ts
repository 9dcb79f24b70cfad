// Byte-exact MQTT 3.1.1 test vectors, written by hand from the specification (OASIS mqtt-v3.1.1-os,
// chapters 2 and 3), never produced by our encoder. Each vector is written once, as the packet object
// our codec uses and the bytes on the wire, and the tests check it both ways.
import type { Packet } from "../../src/mqtt/packets";

/** "10 0c 00 04" -> binary string (one char per byte). Spaces are ignored. */
export function hex(h: string): string {
  const s = h.replace(/\s+/g, "");
  if (s.length % 2 || /[^0-9a-f]/i.test(s)) throw new Error("bad hex: " + h);
  let out = "";
  for (let i = 0; i < s.length; i += 2) out += String.fromCharCode(parseInt(s.substr(i, 2), 16));
  return out;
}

/** binary string -> "10 0c 00 04" (readable diffs in failures) */
export function toHex(b: string, max = 64): string {
  const out: string[] = [];
  for (let i = 0; i < b.length && i < max; i++) out.push(b.charCodeAt(i).toString(16).padStart(2, "0"));
  return out.join(" ") + (b.length > max ? " ... (" + b.length + " bytes)" : "");
}

/** Split a whole packet into fixed-header byte, remaining length, header size and body — spec 2.2.3,
 *  written here independently of src/mqtt/decoder.ts. */
export function frame(b: string): { first: number; len: number; header: number; body: string } {
  let len = 0, mul = 1, k = 1, c: number;
  do {
    c = b.charCodeAt(k++);
    len += (c & 127) * mul;
    mul *= 128;
  } while (c & 128);
  return { first: b.charCodeAt(0), len, header: k, body: b.substring(k) };
}

/** `n` bytes of a repeating non-text pattern (0x00..0xff), as a binary string */
export function filler(n: number, seed = 0): string {
  let s = "";
  const chunk: number[] = [];
  for (let i = 0; i < 256; i++) chunk.push((i * 7 + seed) & 255);
  const block = String.fromCharCode.apply(null, chunk);
  while (s.length + 256 <= n) s += block;
  return s + block.substring(0, n - s.length);
}

export interface Vector {
  name: string;
  /** who sends it: c2s client to server, s2c server to client, both */
  dir: "c2s" | "s2c" | "both";
  packet: Packet;
  bytes: string;
}

const MQTT4 = "00 04 4d 51 54 54 04"; // protocol name "MQTT" and level 4 (3.1.2.1, 3.1.2.2)

// PUBLISH bodies sized to sit on the remaining-length boundaries of table 2.4: topic "t" (3 bytes).
const big = (n: number) => filler(n - 3);

export const VECTORS: Vector[] = [
  // ---- CONNECT (3.1) ----
  {
    name: "CONNECT clean, empty client id, keepalive 60", dir: "c2s",
    packet: { type: 1, clean: true, keepalive: 60, clientId: "", will: null },
    bytes: hex("10 0c" + MQTT4 + "02 00 3c 00 00"),
  },
  {
    name: "CONNECT persistent session, client id, keepalive 0", dir: "c2s",
    packet: { type: 1, clean: false, keepalive: 0, clientId: "dev1", will: null },
    bytes: hex("10 10" + MQTT4 + "00 00 00 00 04 64 65 76 31"),
  },
  {
    name: "CONNECT with will (QoS 1, retain), user name and binary password", dir: "c2s",
    packet: {
      type: 1, clean: true, keepalive: 10, clientId: "c",
      will: { topic: "w/t", payload: "bye", qos: 1, retain: true }, username: "u", password: "p\x00\xff",
    },
    // flags 1110 1110: user, password, will retain, will QoS 01, will, clean
    bytes: hex("10 1f" + MQTT4 + "ee 00 0a  00 01 63  00 03 77 2f 74  00 03 62 79 65  00 01 75  00 03 70 00 ff"),
  },
  {
    name: "CONNECT with will (QoS 2, empty message), no clean session, keepalive 65535", dir: "c2s",
    packet: { type: 1, clean: false, keepalive: 65535, clientId: "ab", will: { topic: "a", payload: "", qos: 2, retain: false } },
    bytes: hex("10 13" + MQTT4 + "14 ff ff  00 02 61 62  00 01 61  00 00"),
  },
  {
    name: "CONNECT with will QoS 0 and a binary will message", dir: "c2s",
    packet: { type: 1, clean: true, keepalive: 5, clientId: "id", will: { topic: "s/€", payload: "\x00\x80\xff", qos: 0, retain: false } },
    // "€" is U+20AC: e2 82 ac
    bytes: hex("10 1a" + MQTT4 + "06 00 05  00 02 69 64  00 05 73 2f e2 82 ac  00 03 00 80 ff"),
  },
  {
    name: "CONNECT with a UTF-8 user name and no password", dir: "c2s",
    packet: { type: 1, clean: true, keepalive: 300, clientId: "x", will: null, username: "ü" },
    bytes: hex("10 11" + MQTT4 + "82 01 2c  00 01 78  00 02 c3 bc"),
  },
  {
    name: "CONNECT with user name and empty password", dir: "c2s",
    packet: { type: 1, clean: true, keepalive: 60, clientId: "x", will: null, username: "u", password: "" },
    bytes: hex("10 12" + MQTT4 + "c2 00 3c  00 01 78  00 01 75  00 00"),
  },

  // ---- CONNACK (3.2): return codes 0..5 (table 3.1), session present ----
  { name: "CONNACK accepted", dir: "s2c", packet: { type: 2, sessionPresent: false, returnCode: 0 }, bytes: hex("20 02 00 00") },
  { name: "CONNACK accepted, session present", dir: "s2c", packet: { type: 2, sessionPresent: true, returnCode: 0 }, bytes: hex("20 02 01 00") },
  { name: "CONNACK 1 unacceptable protocol version", dir: "s2c", packet: { type: 2, sessionPresent: false, returnCode: 1 }, bytes: hex("20 02 00 01") },
  { name: "CONNACK 2 identifier rejected", dir: "s2c", packet: { type: 2, sessionPresent: false, returnCode: 2 }, bytes: hex("20 02 00 02") },
  { name: "CONNACK 3 server unavailable", dir: "s2c", packet: { type: 2, sessionPresent: false, returnCode: 3 }, bytes: hex("20 02 00 03") },
  { name: "CONNACK 4 bad user name or password", dir: "s2c", packet: { type: 2, sessionPresent: false, returnCode: 4 }, bytes: hex("20 02 00 04") },
  { name: "CONNACK 5 not authorized", dir: "s2c", packet: { type: 2, sessionPresent: false, returnCode: 5 }, bytes: hex("20 02 00 05") },

  // ---- PUBLISH (3.3) ----
  {
    name: "PUBLISH QoS 0", dir: "both",
    packet: { type: 3, topic: "a/b", qos: 0, retain: false, dup: false, payload: "hi" },
    bytes: hex("30 07 00 03 61 2f 62 68 69"),
  },
  {
    name: "PUBLISH QoS 0 retain, empty payload (clears a retained message)", dir: "both",
    packet: { type: 3, topic: "a/b", qos: 0, retain: true, dup: false, payload: "" },
    bytes: hex("31 05 00 03 61 2f 62"),
  },
  {
    name: "PUBLISH QoS 1 binary payload", dir: "both",
    packet: { type: 3, topic: "a/b", qos: 1, retain: false, dup: false, id: 10, payload: "\x00\xff\x80" },
    bytes: hex("32 0a 00 03 61 2f 62 00 0a 00 ff 80"),
  },
  {
    name: "PUBLISH QoS 1 DUP", dir: "both",
    packet: { type: 3, topic: "a/b", qos: 1, retain: false, dup: true, id: 1, payload: "x" },
    bytes: hex("3a 08 00 03 61 2f 62 00 01 78"),
  },
  {
    name: "PUBLISH QoS 2 DUP retain, UTF-8 payload bytes, id 65535", dir: "both",
    packet: { type: 3, topic: "t", qos: 2, retain: true, dup: true, id: 65535, payload: "\xe2\x82\xac" },
    bytes: hex("3d 08 00 01 74 ff ff e2 82 ac"),
  },
  {
    name: "PUBLISH QoS 2 empty payload", dir: "both",
    packet: { type: 3, topic: "t", qos: 2, retain: false, dup: false, id: 2, payload: "" },
    bytes: hex("34 05 00 01 74 00 02"),
  },
  {
    name: "PUBLISH to a UTF-8 topic (2- and 3-byte sequences)", dir: "both",
    packet: { type: 3, topic: "温度/°C", qos: 0, retain: false, dup: false, payload: "21.5" },
    bytes: hex("30 10 00 0a e6 b8 a9 e5 ba a6 2f c2 b0 43 32 31 2e 35"),
  },
  {
    name: "PUBLISH to a topic outside the BMP (a surrogate pair in JS)", dir: "both",
    packet: { type: 3, topic: "\ud83c\udf21", qos: 1, retain: false, dup: false, id: 1, payload: "" },
    bytes: hex("32 08 00 04 f0 9f 8c a1 00 01"),
  },
  {
    name: "PUBLISH to $SYS/ topic with spaces and empty levels", dir: "both",
    packet: { type: 3, topic: "$SYS/a b//", qos: 0, retain: false, dup: false, payload: "1" },
    bytes: hex("30 0d 00 0a 24 53 59 53 2f 61 20 62 2f 2f 31"),
  },
  // remaining length table 2.4: 127 = 7f; 128 = 80 01; 321 = c1 02 (the spec's example); 16383 = ff 7f;
  // 16384 = 80 80 01; 2097151 = ff ff 7f; 2097152 = 80 80 80 01
  { name: "PUBLISH remaining length 127", dir: "both", packet: { type: 3, topic: "t", qos: 0, retain: false, dup: false, payload: big(127) }, bytes: hex("30 7f 00 01 74") + big(127) },
  { name: "PUBLISH remaining length 128", dir: "both", packet: { type: 3, topic: "t", qos: 0, retain: false, dup: false, payload: big(128) }, bytes: hex("30 80 01 00 01 74") + big(128) },
  { name: "PUBLISH remaining length 321", dir: "both", packet: { type: 3, topic: "t", qos: 0, retain: false, dup: false, payload: big(321) }, bytes: hex("30 c1 02 00 01 74") + big(321) },
  { name: "PUBLISH remaining length 16383", dir: "both", packet: { type: 3, topic: "t", qos: 0, retain: false, dup: false, payload: big(16383) }, bytes: hex("30 ff 7f 00 01 74") + big(16383) },
  { name: "PUBLISH remaining length 16384", dir: "both", packet: { type: 3, topic: "t", qos: 0, retain: false, dup: false, payload: big(16384) }, bytes: hex("30 80 80 01 00 01 74") + big(16384) },

  // ---- acknowledgements (3.4 - 3.7): packet id only; PUBREL has flags 0010 (3.6.1) ----
  { name: "PUBACK", dir: "both", packet: { type: 4, id: 1 }, bytes: hex("40 02 00 01") },
  { name: "PUBREC", dir: "both", packet: { type: 5, id: 0x1234 }, bytes: hex("50 02 12 34") },
  { name: "PUBREL", dir: "both", packet: { type: 6, id: 65535 }, bytes: hex("62 02 ff ff") },
  { name: "PUBCOMP", dir: "both", packet: { type: 7, id: 256 }, bytes: hex("70 02 01 00") },

  // ---- SUBSCRIBE (3.8), flags 0010 ----
  {
    name: "SUBSCRIBE three filters, QoS 0/1/2", dir: "c2s",
    packet: { type: 8, id: 10, subs: [{ topic: "a/b", qos: 0 }, { topic: "c/+", qos: 1 }, { topic: "#", qos: 2 }] },
    bytes: hex("82 12 00 0a  00 03 61 2f 62 00  00 03 63 2f 2b 01  00 01 23 02"),
  },
  {
    name: "SUBSCRIBE one filter with both wildcards", dir: "c2s",
    packet: { type: 8, id: 1, subs: [{ topic: "+/x/#", qos: 1 }] },
    bytes: hex("82 0a 00 01  00 05 2b 2f 78 2f 23 01"),
  },
  {
    name: "SUBSCRIBE $SYS and a UTF-8 filter", dir: "c2s",
    packet: { type: 8, id: 2, subs: [{ topic: "$SYS/#", qos: 0 }, { topic: "ä/+", qos: 2 }] },
    bytes: hex("82 12 00 02  00 06 24 53 59 53 2f 23 00  00 04 c3 a4 2f 2b 02"),
  },

  // ---- SUBACK (3.9): 0x80 is failure ----
  { name: "SUBACK granted 0, 1, 2 and failure 0x80", dir: "s2c", packet: { type: 9, id: 10, granted: [0, 1, 2, 0x80] }, bytes: hex("90 06 00 0a 00 01 02 80") },
  { name: "SUBACK one failure", dir: "s2c", packet: { type: 9, id: 1, granted: [0x80] }, bytes: hex("90 03 00 01 80") },

  // ---- UNSUBSCRIBE (3.10), flags 0010; UNSUBACK (3.11) ----
  {
    name: "UNSUBSCRIBE two filters", dir: "c2s",
    packet: { type: 10, id: 11, topics: ["a/b", "c/+"] },
    bytes: hex("a2 0c 00 0b  00 03 61 2f 62  00 03 63 2f 2b"),
  },
  { name: "UNSUBSCRIBE one filter", dir: "c2s", packet: { type: 10, id: 3, topics: ["#"] }, bytes: hex("a2 05 00 03 00 01 23") },
  { name: "UNSUBACK", dir: "s2c", packet: { type: 11, id: 11 }, bytes: hex("b0 02 00 0b") },

  // ---- remaining length 0 ----
  { name: "PINGREQ", dir: "c2s", packet: { type: 12 }, bytes: hex("c0 00") },
  { name: "PINGRESP", dir: "s2c", packet: { type: 13 }, bytes: hex("d0 00") },
  { name: "DISCONNECT", dir: "c2s", packet: { type: 14 }, bytes: hex("e0 00") },
];

/** The vectors small enough to feed byte by byte many times over. */
export const SMALL = VECTORS.filter((v) => v.bytes.length < 1000);
