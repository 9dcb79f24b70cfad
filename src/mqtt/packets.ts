// MQTT 3.1.1 packet layouts: the one place that knows each packet's bytes, for encode and decode alike.
// A packet is a plain object { type, ...fields }; bytes are binary strings (one char per byte).
import { decodeUtf8, encodeUtf8 } from "./utf8";
import { E, err, MqttError } from "./errors";
import { validTopic } from "./topic";

export const CONNECT = 1, CONNACK = 2, PUBLISH = 3, PUBACK = 4, PUBREC = 5, PUBREL = 6, PUBCOMP = 7,
  SUBSCRIBE = 8, SUBACK = 9, UNSUBSCRIBE = 10, UNSUBACK = 11, PINGREQ = 12, PINGRESP = 13, DISCONNECT = 14;

export const NAMES = "packet,CONNECT,CONNACK,PUBLISH,PUBACK,PUBREC,PUBREL,PUBCOMP,SUBSCRIBE,SUBACK,UNSUBSCRIBE,UNSUBACK,PINGREQ,PINGRESP,DISCONNECT,packet".split(","); // 0 and 15: reserved

export interface Will { topic: string; payload?: any; qos?: number; retain?: boolean }
export interface Packet {
  type: number;
  /** packet identifier (PUBLISH QoS>0, acks, SUBSCRIBE/SUBACK, UNSUBSCRIBE/UNSUBACK) */
  id?: number;
  topic?: string; payload?: string; qos?: number; retain?: boolean; dup?: boolean;
  clientId?: string; clean?: boolean; keepalive?: number; will?: Will | null;
  username?: string; password?: any;
  sessionPresent?: boolean; returnCode?: number;
  subs?: { topic: string; qos: number }[]; granted?: number[]; topics?: string[];
}

// Layout table, indexed by type. Fixed-header flags that the type requires ([MQTT-2.2.2-1]; PUBLISH
// carries its own), then the body as ops: i = packet id, C = connect, A = connack, P = publish,
// S = subscription list, G = granted QoS list, U = filter list. MQTT 5 adds ops here (reason, props).
const FLAGS = [-1, 0, 0, -1, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0];
const OPS = ["", "C", "A", "P", "i", "i", "i", "i", "iS", "iG", "iU", "i", "", "", ""];

// ---- encode ---------------------------------------------------------------------------------
const chr = String.fromCharCode;
function u16(n: number) { return chr(n >> 8 & 255, n & 255); }
function str(bytes: string) { return u16(bytes.length) + bytes; }
function utf(s: string) { return str(encodeUtf8(s)); }

/** Packet object -> bytes. Assumes a valid packet: the client validates what applications give it. */
export function encode(p: Packet): string {
  var t = p.type, ops = OPS[t], body = "", flags = FLAGS[t], i: number, k: number, w: Will | null | undefined, f: number;
  for (k = 0; k < ops.length; k++) switch (ops.charAt(k)) {
    case "i": body += u16(p.id!); break;
    case "C":
      w = p.will;
      f = (p.clean ? 2 : 0) | (w ? 4 | (w.qos || 0) << 3 | (w.retain ? 32 : 0) : 0) |
        (p.password != null ? 64 : 0) | (p.username != null ? 128 : 0);
      body += "\0\x04MQTT\x04" + chr(f) + u16(p.keepalive || 0) + utf(p.clientId || "");
      if (w) body += utf(w.topic) + str(w.payload || "");
      if (p.username != null) body += utf(p.username);
      if (p.password != null) body += str(p.password);
      break;
    case "A": if (__SERVER__) body += chr(p.sessionPresent ? 1 : 0, p.returnCode || 0); break;
    case "P":
      flags = (p.dup ? 8 : 0) | (p.qos || 0) << 1 | (p.retain ? 1 : 0);
      body += utf(p.topic!) + (p.qos ? u16(p.id!) : "") + (p.payload || "");
      break;
    case "S": for (i = 0; i < p.subs!.length; i++) body += utf(p.subs![i].topic) + chr(p.subs![i].qos); break;
    case "G": if (__SERVER__) for (i = 0; i < p.granted!.length; i++) body += chr(p.granted![i]); break;
    case "U": for (i = 0; i < p.topics!.length; i++) body += utf(p.topics![i]); break;
  }
  // remaining length: 7 bits a byte, least significant first
  var n = body.length, len = "";
  do { i = n % 128; n = (n - i) / 128; len += chr(n ? i | 128 : i); } while (n);
  return chr(t << 4 | flags) + len + body;
}

// ---- decode ---------------------------------------------------------------------------------
// Scratch state of the decode in progress: decode is synchronous and calls out to nobody, so one set
// serves every decoder without a per-packet reader object.
var B = "", P = 0, T = 0;
function fail(rule: string, what: string): never {
  throw err(E.MALFORMED, NAMES[T] + ": " + what + " [" + rule + "]", T);
}
function byte() {
  if (P >= B.length) fail("MQTT-2.2.3", "shorter than its fields");
  return B.charCodeAt(P++);
}
function rd16() { return byte() << 8 | byte(); }
function rdBin() {
  var n = rd16();
  if (P + n > B.length) fail("MQTT-2.2.3", "shorter than its fields");
  P += n;
  return B.substring(P - n, P);
}
function rdUtf(): string {
  var s = decodeUtf8(rdBin());
  if (s == null) fail("MQTT-1.5.3-1", "ill-formed UTF-8");
  if (s!.indexOf("\0") >= 0) fail("MQTT-1.5.3-2", "U+0000 in a string");
  return s!;
}
function rdTopic(filter: boolean) {
  var s = rdUtf(), why = validTopic(s, filter);
  if (why) fail(why[0], why[1]);
  return s;
}

// Layouts of the packets only clients send, decoded by tests and tools playing a broker.
function fromClient(op: string, p: Packet) {
  var f: number, x: number;
  switch (op) {
    case "C":
      if (rdBin() != "MQTT") fail("MQTT-3.1.2-1", "protocol name is not MQTT");
      if (byte() != 4) fail("MQTT-3.1.2-2", "protocol level is not 4");
      f = byte();
      if (f & 1) fail("MQTT-3.1.2-3", "reserved connect flag set");
      x = f >> 3 & 3;
      if (x == 3) fail("MQTT-3.1.2-14", "will QoS 3");
      if (!(f & 4) && (x || f & 32)) fail("MQTT-3.1.2-11", "will QoS or retain without a will");
      if (f & 64 && !(f & 128)) fail("MQTT-3.1.2-22", "password without a user name");
      p.clean = !!(f & 2);
      p.keepalive = rd16();
      p.clientId = rdUtf();
      p.will = f & 4 ? { topic: rdTopic(false), payload: rdBin(), qos: x, retain: !!(f & 32) } : null;
      if (f & 128) p.username = rdUtf();
      if (f & 64) p.password = rdBin();
      break;
    case "S":
      p.subs = [];
      while (P < B.length) {
        p.subs.push({ topic: rdTopic(true), qos: x = byte() });
        if (x > 2) fail("MQTT-3-8.3-4", "requested QoS byte " + x);
      }
      if (!p.subs.length) fail("MQTT-3.8.3-3", "no topic filter");
      break;
    case "U":
      p.topics = [];
      while (P < B.length) p.topics.push(rdTopic(true));
      if (!p.topics.length) fail("MQTT-3.10.3-2", "no topic filter");
      break;
  }
}

/** Fixed-header byte + body -> packet, or an error value (never throws). */
export function decode(first: number, body: string): Packet | MqttError {
  var t = first >> 4, flags = first & 15, ops = OPS[t] || "", p: Packet = { type: t }, k: number, f: number, x: number;
  B = body; P = 0; T = t;
  try {
    if (!t || t > 14) fail("MQTT-2.2.1", "reserved packet type " + t);
    if (FLAGS[t] >= 0 && flags != FLAGS[t]) fail("MQTT-2.2.2-1", "reserved flag bits " + flags);
    for (k = 0; k < ops.length; k++) switch (ops.charAt(k)) {
      case "i":
        if (!(p.id = rd16())) fail("MQTT-2.3.1-1", "packet id 0");
        break;
      case "A":
        f = byte();
        x = byte();
        if (f & 254) fail("MQTT-3.2.2.1", "reserved acknowledge flags " + f);
        if (x > 5) fail("MQTT-3.2.2.3", "reserved return code " + x);
        if (x && f) fail("MQTT-3.2.2-4", "session present with a refusal");
        p.sessionPresent = !!f;
        p.returnCode = x;
        break;
      case "P":
        x = flags >> 1 & 3;
        if (x == 3) fail("MQTT-3.3.1-4", "QoS 3");
        if (!x && flags & 8) fail("MQTT-3.3.1-2", "DUP set on QoS 0");
        p.topic = rdTopic(false);
        p.qos = x;
        p.retain = !!(flags & 1);
        p.dup = !!(flags & 8);
        if (x && !(p.id = rd16())) fail("MQTT-2.3.1-1", "packet id 0");
        p.payload = B.substring(P);
        P = B.length;
        break;
      case "G":
        p.granted = [];
        while (P < B.length) {
          x = byte();
          if (x > 2 && x != 128) fail("MQTT-3.9.3-2", "reserved return code " + x);
          p.granted.push(x);
        }
        if (!p.granted.length) fail("MQTT-3.9.3-1", "no return code");
        break;
      default: // C, S, U: packets only clients send
        if (__SERVER__) fromClient(ops.charAt(k), p);
        else fail("MQTT-2.2.1", "not sent by a server");
    }
    if (P != B.length) fail("MQTT-2.2.3", "remaining length " + B.length + " is longer than its fields");
    B = "";
    return p;
  } catch (e) {
    B = "";
    return e as MqttError;
  }
}

export function isError(x: any): x is MqttError {
  return !!x.code;
}
