// MQTT 3.1.1 packet layouts: the one place that knows each packet's bytes, for encode and decode alike.
// A packet is a plain object { type, ...fields }; bytes are binary strings (one char per byte).
import { chr, decodeUtf8, encodeUtf8 } from "./utf8";
import { MALFORMED, err, MqttError } from "./errors";
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

/** The EMALFORMED error for packet type `t` breaking spec rule `rule` ("3.3.1-4" -> "PUBLISH: [MQTT-3.3.1-4]");
 *  without a rule, "2.2.3": the packet is shorter or longer than its fields. */
export function malformed(t: number, rule?: string): MqttError {
  return err(MALFORMED, NAMES[t] + ": [MQTT-" + (rule || "2.2.3") + "]", t);
}

// Layouts, by type: 0 and 15 reserved; 1 CONNECT; 2 CONNACK; 3 PUBLISH (its own flags); 4..7, 11 a
// packet id; 8 SUBSCRIBE id + (filter, QoS)...; 9 SUBACK id + return codes; 10 UNSUBSCRIBE id +
// filters; 12..14 nothing. Fixed-header flags are 0 but 2 for PUBREL, SUBSCRIBE, UNSUBSCRIBE
// [MQTT-2.2.2-1]: bits 6, 8, 10 of 1344, as `1344 >> t - 1 & 2`. MQTT 5 adds reason codes and properties.

// ---- encode ---------------------------------------------------------------------------------
// (n >> 8 needs no & 255: ids and field lengths are under 65,536)
function u16(n: number) { return chr(n >> 8, n & 255); }
/** a length-prefixed field: binary as it is (`bytes` true), else a JS string as UTF-8 */
function str(s: string, bytes?: any) {
  if (!bytes) s = encodeUtf8(s);
  return u16(s.length) + s;
}

/** Packet object -> bytes. Assumes a valid packet: the client validates what applications give it. */
export function encode(p: Packet): string {
  var t = p.type, b = "", f = 1344 >> t - 1 & 2, w: any = p.will, i: number, n: any;
  if (t == 1) { // CONNECT (type numbers as literals: the bundle then keeps fewer constants)
    b = str(p.clientId || "");
    n = p.clean ? 2 : 0; // the connect flags
    if (w) { n |= 4 | w.qos << 3 | (w.retain ? 32 : 0); b += str(w.topic) + str(w.payload || "", 1); }
    if (p.username != null) { n |= 128; b += str(p.username); }
    if (p.password != null) { n |= 64; b += str(p.password, 1); }
    b = "\0\x04MQTT\x04" + chr(n) + u16(p.keepalive!) + b;
  } else if (t == 3) { // PUBLISH
    f = (p.dup ? 8 : 0) | (p.qos as any) << 1 | (p.retain ? 1 : 0);
    b = encodeUtf8(p.topic!);
    i = b.length;
    n = p.payload || "";
    if (p.qos) n = u16(p.id!) + n; // no packet id at QoS 0 [MQTT-2.3.1-5]; nothing joined at QoS 0
    // the common small message: header and topic length in one string
    if (i + n.length < 126) return chr(48 | f, i + n.length + 2, i >> 8, i & 255) + b + n;
    b = u16(i) + b + n;
  } else if (t < 12) {
    b = __SERVER__ && t == 2 ? chr(p.sessionPresent ? 1 : 0, p.returnCode!) : u16(p.id!);
    // SUBSCRIBE: (filter, QoS)..., UNSUBSCRIBE: filter...
    for (i = 0, n = t == 8 ? p.subs : t == 10 ? p.topics : ""; i < n.length; i++) b += t == 8 ? str(n[i].topic) + chr(n[i].qos) : str(n[i]);
    if (__SERVER__ && t == 9) for (i = 0; i < p.granted!.length; i++) b += chr(p.granted![i]);
  }
  // remaining length: 7 bits a byte, least significant first
  for (n = b.length, w = chr(t << 4 | f); w += chr(n > 127 ? n & 127 | 128 : n), n >>= 7;);
  return w + b;
}

// ---- decode ---------------------------------------------------------------------------------
// Scratch state of the decode in progress: decode is synchronous and calls out to nobody, so one set
// serves every decoder without a per-packet reader object.
var B = "", P = 0, E = 0, T = 0; // bytes, position, end, type
/** throws the EMALFORMED error of the packet being decoded; without a rule, "2.2.3" (a bad length) */
function fail(rule?: string): never {
  throw malformed(T, rule);
}
function byte() {
  if (P >= E) fail(); // shorter than its fields
  return B.charCodeAt(P++);
}
function rd16() { return byte() << 8 | byte(); }
function rdBin() {
  var n = rd16();
  if (P + n > E) fail();
  return B.substring(P, P += n);
}
/** a UTF-8 string: a topic name (kind 0), a filter (1), or (server side) any text (2) */
function rdStr(kind: number) {
  var s = decodeUtf8(rdBin()), why: string | null;
  if (s == null) fail("1.5.3-1"); // ill-formed UTF-8
  if (~s!.indexOf("\0")) fail("1.5.3-2");
  if (!(__SERVER__ && kind > 1) && (why = validTopic(s!, kind))) fail(why);
  return s!;
}

// Layouts of the packets only clients send (after the packet id of SUBSCRIBE/UNSUBSCRIBE), decoded by
// tests and tools playing a broker.
function fromClient(t: number, p: Packet) {
  var f: number, x: number;
  if (t == CONNECT) {
    if (rdBin() != "MQTT") fail("3.1.2-1");
    if (byte() != 4) fail("3.1.2-2"); // protocol level
    f = byte();
    if (f & 1) fail("3.1.2-3"); // reserved flag
    x = f >> 3 & 3;
    if (x == 3) fail("3.1.2-14"); // will QoS 3
    if (!(f & 4) && (x || f & 32)) fail("3.1.2-11"); // will QoS or retain without a will
    if (f & 64 && !(f & 128)) fail("3.1.2-22"); // password without a user name
    p.clean = !!(f & 2);
    p.keepalive = rd16();
    p.clientId = rdStr(2);
    p.will = f & 4 ? { topic: rdStr(0), payload: rdBin(), qos: x, retain: !!(f & 32) } : null;
    if (f & 128) p.username = rdStr(2);
    if (f & 64) p.password = rdBin();
  } else if (t == SUBSCRIBE) {
    p.subs = [];
    while (P < E) {
      p.subs.push({ topic: rdStr(1), qos: x = byte() });
      if (x > 2) fail("3-8.3-4"); // (sic: the spec prints this id so) requested QoS
    }
    if (!p.subs.length) fail("3.8.3-3"); // no filter
  } else if (t == UNSUBSCRIBE) {
    p.topics = [];
    while (P < E) p.topics.push(rdStr(1));
    if (!p.topics.length) fail("3.10.3-2");
  }
}

/**
 * Fixed-header byte + body -> packet, or an error value (never throws). The body is `body` from `start`
 * to `end` (default, or 0: all of it), so a stream decoder need not cut it out of its chunk; a PUBLISH is
 * decoded into `into` when given (a reused object: no allocation per message).
 */
export function decode(first: number, body: string, start?: number, end?: number, into?: Packet): Packet | MqttError {
  var t = T = first >> 4, p: any = t == 3 && into || { type: t }, x: number, y: number;
  B = body; P = start || 0; E = end || body.length;
  try {
    if (!(t % 15)) fail("2.2.1"); // reserved type 0 or 15
    if (t != 3 && (first ^ 1344 >> t - 1 & 2) & 15) fail("2.2.2-1"); // reserved flag bits (the low 4 of first)
    if (t == 2) { // CONNACK
      x = byte();
      y = byte();
      if (x & 254) fail("3.2.2.1"); // reserved acknowledge flags
      if (y > 5) fail("3.2.2.3"); // reserved return code
      if (y && x) fail("3.2.2-4"); // session present with a refusal
      p.sessionPresent = !!x;
      p.returnCode = y;
    } else if (t == 3) { // PUBLISH
      x = first >> 1 & 3;
      if (x > 2) fail("3.3.1-4"); // QoS 3
      if (!x && first & 8) fail("3.3.1-2"); // DUP on QoS 0
      p.topic = rdStr(0);
      p.qos = x;
      p.retain = !!(first & 1);
      p.dup = !!(first & 8);
      if (x) p.id = rd16() || fail("2.3.1-1"); // packet id 0
      else if (into) p.id = undefined; // a reused object keeps no stale id
      p.payload = B.substring(P, P = E);
    } else if (t < 12) {
      // CONNECT, SUBSCRIBE, UNSUBSCRIBE: only clients send them
      if (!__SERVER__ && 1282 >> t & 1) fail("2.2.1");
      if (t > 1) p.id = rd16() || fail("2.3.1-1");
      if (t == 9) { // SUBACK
        if (P == E) fail("3.9.3-1"); // no return code
        for (p.granted = []; P < E; p.granted.push(x)) if ((x = byte()) > 2 && x != 128) fail("3.9.3-2"); // reserved return code
      }
      if (__SERVER__) fromClient(t, p);
    }
    if (P != E) fail(); // longer than its fields
  } catch (e) {
    p = e;
  }
  B = "";
  return p;
}

export function isError(x: any): x is MqttError {
  return !!x.code;
}
