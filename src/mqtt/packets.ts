// MQTT 3.1.1 packet layouts: the one place that knows each packet's bytes, for encode and decode alike.
// A packet is a plain object { type, ...fields }; bytes are binary strings (one char per byte).
// PUBLISH comes first in both directions: on Espruino, which runs the source text, every branch before
// the taken one is read through on every packet.
import { chr, decodeUtf8, SPECIAL, toBytes } from "./utf8";
import { err, Code, MALFORMED, MqttError } from "./errors";
import { validTopic } from "./topic";

declare const __API__: boolean;

export const CONNECT = 1, CONNACK = 2, PUBLISH = 3, PUBACK = 4, PUBREC = 5, PUBREL = 6, PUBCOMP = 7,
  SUBSCRIBE = 8, SUBACK = 9, UNSUBSCRIBE = 10, UNSUBACK = 11, PINGREQ = 12, PINGRESP = 13, DISCONNECT = 14;


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
  /** (an object decode() reuses: the bytes of the last plain topic decoded into it) */
  tb?: string;
}

/** type number -> name; 0 and 15: reserved. (Tests and tools; the bundles name types only in errors.) */
export const NAMES = /* @__PURE__ */ "packet,CONNECT,CONNACK,PUBLISH,PUBACK,PUBREC,PUBREL,PUBCOMP,SUBSCRIBE,SUBACK,UNSUBSCRIBE,UNSUBACK,PINGREQ,PINGRESP,DISCONNECT,packet".split(",");

/** The EMALFORMED error for packet type `t` breaking spec rule `rule` ("3.3.1-4" -> "PUBLISH: [MQTT-3.3.1-4]";
 *  "2.2.3": the packet is shorter or longer than its fields); with a `code`, that error with `rule` as
 *  its text ("PUBLISH: 5000 > maxPacketSize 4096"). (err() itself, argument order of tests and tools.) */
export function malformed(t: number, rule: string, code?: Code): MqttError {
  return err(code || MALFORMED, rule, t);
}

// Layouts, by type: 0 and 15 reserved; 1 CONNECT; 2 CONNACK; 3 PUBLISH (its own flags); 4..7, 11 a
// packet id; 8 SUBSCRIBE id + (filter, QoS)...; 9 SUBACK id + return codes; 10 UNSUBSCRIBE id +
// filters; 12..14 nothing. Fixed-header flags are 0 but 2 for PUBREL, SUBSCRIBE, UNSUBSCRIBE
// [MQTT-2.2.2-1]: bits 6, 8, 10 of 1344, as `1344 >> t - 1 & 2`. MQTT 5 adds reason codes and properties.
// On the device every function is a few blocks of RAM for as long as the module lives, so the
// reading is written out in decode rather than split into small helpers.

// ---- encode ---------------------------------------------------------------------------------
// (n >> 8 needs no & 255: ids and field lengths are under 65,536)
/** A PUBLISH: its topic as UTF-8 bytes, the packet id (QoS 1/2) and payload as bytes, its flags
 *  (DUP 8, QoS << 1, RETAIN 1). The client sends a plain QoS 0 message through here directly. */
export function pub(topic: string, tail: string, flags: number): string {
  var i = topic.length, n = i + tail.length + 2, h: string;
  // the common small message: header and topic length in one string
  if (n < 128) return chr(48 | flags, n, i >> 8, i & 255) + topic + tail;
  // remaining length: 7 bits a byte, least significant first
  for (h = chr(48 | flags); h += chr(n > 127 ? n & 127 | 128 : n), n >>= 7;);
  return h + chr(i >> 8, i & 255) + topic + tail;
}

/** Packet object -> bytes. Assumes a valid packet: the client validates what applications give it. */
export function encode(p: Packet): string {
  var t = p.type, b: string, f = 1344 >> t - 1 & 2, w: any, i: number, n: any = 0;
  if (t == 3) // PUBLISH (type numbers as literals: the bundle then keeps fewer constants)
    // no packet id at QoS 0 [MQTT-2.3.1-5]
    return pub(toBytes(p.topic!), p.qos ? chr(p.id! >> 8, p.id! & 255) + (p.payload || "") : p.payload || "", (p.dup ? 8 : 0) | (p.qos as any) << 1 | (p.retain ? 1 : 0));
  b = "";
  if (t == 1) { // CONNECT: the flags, then client id, will topic and message, user name, password
    w = p.will;
    f = (p.clean ? 2 : 0) | (w ? 4 | w.qos << 3 | (w.retain ? 32 : 0) : 0) | (p.username != null ? 128 : 0) | (p.password != null ? 64 : 0);
    n = [toBytes(p.clientId || ""), w && toBytes(w.topic), w && (w.payload || ""), p.username != null && toBytes(p.username), p.password];
    b = "\0\x04MQTT\x04" + chr(f, p.keepalive! >> 8, p.keepalive! & 255);
    f = 0;
  } else if (t < 12) {
    b = __SERVER__ && t == 2 ? chr(p.sessionPresent ? 1 : 0, p.returnCode!) : chr(p.id! >> 8, p.id! & 255);
    // SUBSCRIBE: (filter, QoS)..., UNSUBSCRIBE: filter...
    n = t == 8 ? p.subs : t == 10 ? p.topics : [];
    if (__SERVER__ && t == 9) for (i = 0; i < p.granted!.length; i++) b += chr(p.granted![i]);
  }
  // the length-prefixed fields (a JS string is sent as UTF-8; a binary string as it is)
  for (i = 0; n && i < n.length; i++) if ((w = n[i]) != null && w !== false) {
    w = t == 1 ? w : toBytes(t == 8 ? w.topic : w);
    b += chr(w.length >> 8, w.length & 255) + w + (t == 8 ? chr(n[i].qos) : "");
  }
  // remaining length: 7 bits a byte, least significant first
  for (n = b.length, w = chr(t << 4 | f); w += chr(n > 127 ? n & 127 | 128 : n), n >>= 7;);
  return w + b;
}

// ---- decode ---------------------------------------------------------------------------------
// A broken rule is thrown as its id ("3.3.1-4"; "2.2.3": shorter or longer than its fields) and made an
// error value at the end. On the device decode works on locals only (a module-level name costs Espruino
// a scope walk at every use); the fields only clients send are read by the server-side helpers below,
// from the module state B, P, E.

/** Checks an MQTT string that is not plain ASCII (or has NUL, + or #, or is empty), after its bytes
 *  were read: well-formed UTF-8 without NUL, and a valid topic name (kind 0) or filter (1); any text (2,
 *  server side). Returns it as a JS string, or throws the rule it breaks. */
function text(s: string, kind: number): string;
function text(): string {
  var a = arguments, s: string = a[0], kind: number = a[1], r = decodeUtf8(s); // (no declared parameters: see topic.ts)
  if (r == null) throw "1.5.3-1"; // ill-formed UTF-8
  if (~r.indexOf("\0")) throw "1.5.3-2";
  // (the firmware builds, __API__ false, leave validTopic out, the check of what an application gives:
  // a topic from the broker is then only checked for being there)
  if (kind < 2 && (s = typeof __API__ == "undefined" || __API__ ? validTopic(r, kind)! : r ? "" : "4.7.3-1")) throw s;
  return r;
}

// Reading the fields of the packets only clients send, for tests and tools playing a broker.
var B = "", P = 0, E = 0;
function rd(n: number) {
  if (P + n > E) throw "2.2.3";
  return n > 1 ? B.charCodeAt(P++) << 8 | B.charCodeAt(P++) : B.charCodeAt(P++);
}
function rdBin() {
  var n = rd(2);
  if (P + n > E) throw "2.2.3";
  return B.substring(P, P += n);
}
function rdStr(kind: number) {
  var s = rdBin();
  return SPECIAL.test(s) || !s.length ? text(s, kind) : s;
}
function fromClient(t: number, p: Packet) {
  var f: number, x: number;
  if (t == CONNECT) {
    if (rdBin() != "MQTT") throw "3.1.2-1";
    if (rd(1) != 4) throw "3.1.2-2"; // protocol level
    f = rd(1);
    if (f & 1) throw "3.1.2-3"; // reserved flag
    x = f >> 3 & 3;
    if (x == 3) throw "3.1.2-14"; // will QoS 3
    if (!(f & 4) && (x || f & 32)) throw "3.1.2-11"; // will QoS or retain without a will
    if (f & 64 && !(f & 128)) throw "3.1.2-22"; // password without a user name
    p.clean = !!(f & 2);
    p.keepalive = rd(2);
    p.clientId = rdStr(2);
    p.will = f & 4 ? { topic: rdStr(0), payload: rdBin(), qos: x, retain: !!(f & 32) } : null;
    if (f & 128) p.username = rdStr(2);
    if (f & 64) p.password = rdBin();
  } else if (t == SUBSCRIBE) {
    p.subs = [];
    while (P < E) {
      p.subs.push({ topic: rdStr(1), qos: x = rd(1) });
      if (x > 2) throw "3-8.3-4"; // (sic: the spec prints this id so) requested QoS
    }
    if (!p.subs.length) throw "3.8.3-3"; // no filter
  } else if (t == UNSUBSCRIBE) {
    p.topics = [];
    while (P < E) p.topics.push(rdStr(1));
    if (!p.topics.length) throw "3.10.3-2";
  }
}

/**
 * Fixed-header byte + body -> packet, or an error value (never throws). The body is `b` from `i` to `e`
 * (default, or 0: all of it), so a stream decoder need not cut it out of its chunk; a PUBLISH is decoded
 * into `into` when given (a reused object: no allocation per message).
 */
export function decode(first: number, b: string, i?: number, e?: number, into?: Packet): Packet | MqttError {
  var t = first >> 4, p: any = t == 3 && into || { type: t }, x: number, y: any;
  i = i || 0;
  e = e || b.length;
  try {
    if (t == 3) { // PUBLISH
      x = first >> 1 & 3;
      if (x > 2) throw "3.3.1-4"; // QoS 3
      if (!x && first & 8) throw "3.3.1-2"; // DUP on QoS 0
      y = b.substring(i + 2, i += 2 + (b.charCodeAt(i) << 8 | b.charCodeAt(i + 1))); // the topic (NaN: short)
      if (!(i <= e)) throw "2.2.3";
      // the topic of the last message again (the reused object keeps the bytes of the last plain one: a
      // stream of messages to one topic is checked once), a plain ASCII one, or one to decode and check
      p.topic = y == p.tb ? y : SPECIAL.test(y) || !y.length ? text(y, 0) : into ? into.tb = y : y;
      p.qos = x;
      p.retain = !!(first & 1);
      p.dup = !!(first & 8);
      if (x) {
        if (i + 2 > e) throw "2.2.3";
        if (!(p.id = b.charCodeAt(i++) << 8 | b.charCodeAt(i++))) throw "2.3.1-1"; // packet id 0
      } else if (into) p.id = undefined; // a reused object keeps no stale id
      p.payload = b.substring(i, i = e);
    } else {
      if (!(t % 15)) throw "2.2.1"; // reserved type 0 or 15
      if ((first ^ 1344 >> t - 1 & 2) & 15) throw "2.2.2-1"; // reserved flag bits (the low 4 of first)
      if (t == 2) { // CONNACK
        if (i + 2 > e) throw "2.2.3";
        x = b.charCodeAt(i++);
        y = b.charCodeAt(i++); // the return code
        if (x & 254) throw "3.2.2.1"; // reserved acknowledge flags
        if (y > 5) throw "3.2.2.3"; // reserved return code
        if (y && x) throw "3.2.2-4"; // session present with a refusal
        p.sessionPresent = !!x;
        p.returnCode = y;
      } else if (t < 12) {
        // CONNECT, SUBSCRIBE, UNSUBSCRIBE: only clients send them
        if (!__SERVER__ && 1282 >> t & 1) throw "2.2.1";
        if (t > 1) {
          if (i + 2 > e) throw "2.2.3";
          if (!(p.id = b.charCodeAt(i++) << 8 | b.charCodeAt(i++))) throw "2.3.1-1"; // packet id 0
        }
        if (t == 9) { // SUBACK
          if (i == e) throw "3.9.3-1"; // no return code
          for (p.granted = []; i < e; p.granted.push(x)) if ((x = b.charCodeAt(i++)) > 2 && x != 128) throw "3.9.3-2"; // reserved return code
        }
        if (__SERVER__) { B = b; P = i; E = e; fromClient(t, p); i = P; B = ""; }
      }
    }
    if (i != e) throw "2.2.3"; // longer than its fields
  } catch (r) {
    p = err(MALFORMED, r as string, t);
  }
  return p;
}

export function isError(x: any): x is MqttError {
  return !!x.code;
}
