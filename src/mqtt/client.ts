// The MQTT 3.1.1 client state machine. It meets the world only through its port: a socket factory
// (options.transport) and a clock (options.clock). No globals, no I/O of its own.
//
// Shaped for the interpreter it runs on. Espruino keeps every value in fixed blocks of 12 bytes (1,600
// of them on an ESP8266) and runs the source text itself:
// - one constructor with its methods on the prototype, so the code exists once and an instance is its
//   state: short properties (a name of up to 4 characters costs no block of its own), small integers
//   rather than booleans, null or floats where a flag will do;
// - few functions: each function object costs about 6 blocks for as long as the module lives (and one
//   more per parameter), so the work is in a few methods that each do one whole job, not in many small
//   helpers;
// - nothing allocated per message but the message's own strings; error texts made when an error is;
// - the hot paths (a PUBLISH in, a PUBLISH out) first in their methods: Espruino reads through every
//   branch before the one it takes, and each call costs a few microseconds.
// Packet types are written as numbers (3 = PUBLISH...); the table is in packets.ts.
import { encode, malformed, pub, Packet, Will } from "./packets";
import { DecoderOwner, DecoderState, more, newDecoder, push } from "./decoder";
import { CONNECT_TIMEOUT, HANDLER, KEEPALIVE, QUEUE_FULL, REFUSED, SUBSCRIBE as SUBACK_REFUSED, TOO_BIG, TOPIC, TRANSPORT, err, MqttError } from "./errors";
import { matches, validTopic } from "./topic";
import { SPECIAL, toBytes } from "./utf8";
import * as D from "./defaults";
import type { Clock, Link, LinkEvents, Transport } from "./port";

export interface ClientOptions {
  host?: string;
  port?: number;
  transport: Transport;
  clock: Clock;
  /** jitter source in [0, 1); default Math.random */
  random?: () => number;
  clientId?: string;
  username?: string;
  password?: any;
  keepalive?: number;
  clean?: boolean;
  will?: Will;
  connectTimeout?: number;
  reconnect?: { min?: number; max?: number; stable?: number } | 0 | false;
  maxPacketSize?: number;
  queue?: { maxMessages?: number; maxBytes?: number };
  maxInflight?: number;
}

export type Callback = (e: MqttError | null, x?: any) => void;
export type Handler = (topic: string, payload: string, packet: Packet) => void;

export interface Client {
  connect(): Client;
  publish(topic: string, payload: any, opts?: { qos?: number; retain?: boolean } | Callback, cb?: Callback): Client;
  subscribe(filter: string | string[], opts?: { qos?: number; handler?: Handler } | Callback, cb?: Callback): Client;
  unsubscribe(filter: string | string[], cb?: Callback): Client;
  end(force?: boolean | Callback, cb?: Callback): Client;
  on(event: string, fn: (...a: any[]) => void): Client;
  /** true between CONNACK and the loss of the link */
  connected: boolean;
  /** messages waiting to be sent, and outgoing QoS>0 messages awaiting acknowledgement */
  queued(): number;
  inflight(): number;
}

// A queued or in-flight PUBLISH is the packet itself, plus its callback, size and flow state; a
// SUBSCRIBE/UNSUBSCRIBE awaiting its ack is the packet plus its callback.
interface Msg extends Packet { cb?: Callback; n?: number; rel?: number }

// The state, the most used first (Espruino finds a property by walking the object's list of them).
interface State extends Client, DecoderOwner {
  /** the link's events object (0: none), and the link (0: none) */
  ev: Ev | 0; lk: Link | 0;
  /** ms of the last packet in and out; a PINGREQ awaits its answer */
  li: number; lo: number; pg: number;
  /** listeners by event; handlers: filter, handler, filter, handler... (no for-in per message: it allocates) */
  L: { [ev: string]: Function[] }; h: any[];
  k: Clock;
  /** outgoing QoS>0 awaiting PUBACK/PUBREC/PUBCOMP, in send order */
  f: Msg[];
  /** the offline queue and its bytes */
  q: Msg[]; qb: number;
  /** SUBSCRIBE/UNSUBSCRIBE awaiting SUBACK/UNSUBACK, in request order (ids wrap) */
  a: Msg[];
  /** acknowledged subscriptions (filter -> QoS), renewed when a session is lost */
  sb: { [filter: string]: number };
  /** incoming QoS 2 ids held until PUBREL, and their count */
  r: { [id: number]: number }; hd: number;
  /** the one timer, what it is for (1 CONNACK deadline, 2 keepalive, 3 retry) and its callback */
  tm: any; tw: number; fi: () => void;
  o: ClientOptions; t: Transport;
  /** keepalive ms, reconnect options (true: the defaults; 0/false: never), queue bounds, max in flight */
  ka: number; rc: any; qm: number; qx: number; im: number;
  /** next packet id, retry attempt, when the link came up, end() was called */
  n: number; at: number; ua: number; e: number;
  /** a QoS 0 PUBLISH sent at once reuses one packet object; so do acks, PINGREQ and DISCONNECT */
  tp: Msg; sc: Packet;

  pkt(p: Packet | MqttError): void;
  ctl(p: Packet | MqttError): void;
  emit(ev: string, a?: any, b?: any, x?: any): void;
  call(fn: Function | undefined, a?: any, b?: any, x?: any): void;
  write(p: Packet | number, id?: number): void;
  flush(m?: Msg): void;
  nid(): number;
  start(open?: number): void;
  lost(e?: MqttError): void;
  arm(w: number, ms?: number): void;
  subscribe(filter: string | string[], opts?: any, cb?: Callback, t?: number): Client;
}

// The events of one link: the transport calls them, and they act only while their link is the
// client's current one (`c.ev`), so a late event of a dropped link changes nothing. An object made per
// link from this one (Object.create: a few blocks, where three closures would be about 20). It is also
// the link's stream decoder (decoder.ts): the transport's data goes straight into push.
interface Ev extends LinkEvents, DecoderState { c: State; op: number }
var EV = {
  data: push,
  more: more,
  open: function () { var c = this.c; if (c.ev == this) { this.op = 1; if (c.lk) c.start(1); } },
  close: function (e?: MqttError) { if (this.c.ev == this) this.c.lost(e || err(TRANSPORT, "connection closed")); },
} as ThisType<Ev> & Partial<Ev>;

// The one timer's callback, made once per client (the Clock port calls a function with no argument):
// the CONNACK deadline, keepalive, or the retry. A timer fires at most once, so `tm` is zeroed first
// (Espruino reuses the id of a fired timer: a late clear could hit another timer).
// Keepalive: a PINGREQ once nothing was sent, or nothing received, for keepalive ms (the client must
// send within each keepalive period [MQTT-3.1.2-23]); the link is dead after 1.5 x keepalive with
// nothing received. The timer wakes at the nearer of the next ping and the dead line (a ping awaiting
// its answer is due again keepalive ms after it went: any packet in clears it); nothing is done per packet.
function timerFn(c: State) {
  return function () {
    var t = c.k.now(), ka = c.ka, dead = c.li + ka * 1.5, due: number;
    c.tm = 0;
    if (c.tw == 3) { c.emit("reconnect"); c.start(); } // unless a listener ended the client or connected it already
    else if (c.tw == 1) c.lost(err(CONNECT_TIMEOUT, "no CONNACK"));
    else if (t >= dead) c.lost(err(KEEPALIVE, "link dead"));
    else {
      if (!c.pg && t - Math.min(c.li, c.lo) >= ka) { c.pg = 1; c.write(12); } // PINGREQ
      due = (c.pg ? c.lo : Math.min(c.li, c.lo)) + ka;
      if (c.lk) c.arm(2, Math.max((due > t && due < dead ? due : dead) - t, 1));
    }
  };
}

/** The client. `transport` and `clock`, when given, are used instead of those in `o` (src/index.ts
 *  passes the engine's). The options object is kept, not copied: host, port, clientId, clean, username,
 *  password, will and connectTimeout are read at every (re)connect. */
export function Client(this: State, o: ClientOptions, transport?: Transport, clock?: Clock) {
  var q: any = o.queue || {};
  // the decoder's state first (the most used), then the link's: see DecoderState
  this.ev = this.lk = 0;
  this.dm = o.maxPacketSize || D.MAX_PACKET_SIZE;
  this.dk = { type: 3 }; // every incoming PUBLISH is decoded into it: `packet` in message events is valid during the call
  this.li = this.lo = this.pg = 0;
  this.connected = false;
  this.L = {};
  this.h = [];
  this.k = clock || o.clock;
  this.f = [];
  this.q = [];
  this.qb = 0;
  this.a = [];
  this.sb = {};
  this.r = {};
  this.hd = this.tm = this.tw = 0;
  this.fi = timerFn(this);
  this.o = o;
  this.t = transport || o.transport;
  this.ka = (o.keepalive == null ? D.KEEPALIVE : o.keepalive) * 1000;
  this.rc = o.reconnect == null || o.reconnect;
  this.qm = q.maxMessages || D.QUEUE_MESSAGES;
  this.qx = q.maxBytes || D.QUEUE_BYTES;
  this.im = o.maxInflight || D.MAX_INFLIGHT;
  this.n = this.at = this.ua = this.e = 0;
  this.tp = { type: 3 };
  this.sc = { type: 0 };
}

Client.prototype = {
  // ---- the application's calls ----
  connect: function () {
    this.e = 0;
    this.start();
    return this;
  },

  // Sent at once when connected, nothing queued and (QoS 1/2) fewer than maxInflight in flight; else
  // queued. Bounded queue: room is made by dropping the oldest QoS 0 messages; a queued QoS 1/2 message
  // is never dropped for a new one (the new one is refused instead). Every drop is reported.
  publish: function (topic: string, payload: any, opts: any, cb?: Callback) {
    var op: any, qos: number, m: Msg, q = this.q, on = this.connected && !q.length, why: any, i: number, d: Msg;
    if (opts && opts.call) { cb = opts; opts = 0; }
    op = opts || 0;
    qos = op.qos | 0;
    // the common case in a few steps: connected, nothing waiting, QoS 0, an ASCII topic without NUL
    // or wildcards and a text payload that needs no conversion: the bytes go out at once
    if (on && !qos && typeof payload == "string" && topic && topic.length < 21846 && !SPECIAL.test(topic) && !SPECIAL.test(payload)) {
      try { (this.lk as Link).write(pub(topic, payload, op.retain ? 1 : 0)); this.lo = this.k.now(); } catch (e) { this.lost(err(TRANSPORT, "write: " + ((e as any) && (e as any).message || e))); }
      if (cb) this.call(cb, this.lk ? null : err(TRANSPORT, "not sent: link lost"));
      return this;
    }
    // an invalid topic or QoS: reported to the callback, else the error event
    if ((why = validTopic(topic || "", 0)) || qos > 2 || qos < 0) {
      why = err(TOPIC, why ? "topic " + topic + " [MQTT-" + why + "]" : "QoS " + qos);
      cb ? this.call(cb, why) : this.emit("error", why);
      return this;
    }
    // a text payload that needs no conversion, in one built-in test; else UTF-8, or the bytes
    payload = typeof payload == "string" && !SPECIAL.test(payload) ? payload : toBytes(payload);
    m = on && !qos ? this.tp : { type: 3 };
    m.topic = topic; m.payload = payload; m.qos = qos; m.retain = op.retain; m.cb = cb;
    m.n = payload.length + topic.length + 4;
    if (m == this.tp || on && this.f.length < this.im) return this.flush(m), this;
    while (q.length >= this.qm || this.qb + m.n! > this.qx) {
      for (i = 0; (d = q[i]) && d.qos; i++);
      if (d && m.n! <= this.qx) { q.splice(i, 1); this.qb -= d.n!; }
      else d = m; // no QoS 0 to drop, or too big for any room: refuse it alone
      why = err(QUEUE_FULL, "queue full: dropped " + d.topic);
      why.dropped = d.topic;
      this.emit("error", why);
      this.call(d.cb, why);
      if (d == m) return this;
    }
    q.push(m);
    this.qb += m.n!;
    return this;
  },

  // SUBSCRIBE (t 8, the default) or UNSUBSCRIBE (t 10, from unsubscribe). Nothing is sent for an empty
  // list or a bad filter or QoS (reported): an empty or invalid request is a protocol violation, resent
  // after every reconnect. Offline, requests wait for the link: at most queue.maxMessages of them
  // (EQUEUEFULL).
  subscribe: function (filter: any, opts: any, cb?: Callback, t?: number) {
    var op: any, fs: any[] = [].concat(filter), i = 0, j: number, f: string, why: any, h = this.h; // our own copy
    if (opts && opts.call) { cb = opts; opts = 0; }
    op = opts || 0;
    for (; !why && (!i || i < fs.length); i++) {
      why = validTopic(fs[i] || "", 1);
      why = why ? "topic " + fs[i] + " [MQTT-" + why + "]" : op.qos > 2 || op.qos < 0 ? "QoS " + op.qos : 0;
    }
    if (!why && !this.connected && this.a.length >= this.qm) why = 1;
    if (why) {
      why = why == 1 ? err(QUEUE_FULL, "queue full: " + fs[0]) : err(TOPIC, why);
      cb ? this.call(cb, why) : this.emit("error", why);
      return this;
    }
    for (i = 0; i < fs.length; i++) {
      f = fs[i];
      for (j = 0; j < h.length && h[j] != f; j += 2); // its handler, if any
      if (t) { h.splice(j, 2); delete this.sb[f]; } // (j past the end: nothing removed)
      else {
        if (op.handler) { h[j] = f; h[j + 1] = op.handler; }
        fs[i] = { topic: f, qos: op.qos | 0 };
      }
    }
    // encode reads subs for 8, topics for 10
    this.a.push(why = { type: t || 8, subs: fs, topics: fs, cb: cb, id: this.nid() });
    if (this.connected) this.write(why);
    return this;
  },

  unsubscribe: function (filter: any, cb?: Callback) { return this.subscribe(filter, 0, cb, 10); },

  end: function (force: any, cb?: Callback) {
    if (force && force.call) { cb = force; force = 0; }
    this.e = 1;
    this.arm(0); // the retry, or the link's timer
    if (this.connected && !force) this.write(14); // DISCONNECT, a clean goodbye: no will
    if (this.lk) this.lost();
    this.emit("end");
    this.call(cb);
    return this;
  },

  on: function (ev: string, fn: Function) {
    (this.L[ev] || (this.L[ev] = [])).push(fn);
    return this;
  },

  queued: function () { return this.q.length; },
  inflight: function () { return this.f.length; },

  // ---- incoming: every packet and every decode error ----

  // A PUBLISH while connected: delivered (QoS 2: once, its id held until PUBREL) and acknowledged.
  // Everything else goes to ctl(). Short on purpose: Espruino reads a function's whole text at each call.
  pkt: function (p: any) {
    var r = p.qos, t = p.topic, b = p.payload, i = 0, h = this.h; // read before delivery: handlers see the reused packet object
    if (p.type != 3 || !this.connected || p.code || !this.lk) return this.ctl(p);
    this.li = this.k.now();
    this.pg = 0;
    if (r == 2) {
      if (this.r[p.id]) return this.write(5, p.id); // sent again: PUBREC again, delivered once
      // bounded: a broker that never sends PUBREL must not eat the device's RAM
      if (this.hd > 63) return this.lost(err(QUEUE_FULL, "over 64 QoS 2 awaiting PUBREL", 3));
      this.hd++;
      this.r[p.id] = 1;
    }
    this.emit("message", t, b, p);
    for (; i < h.length; i += 2) if (matches(h[i], t)) this.call(h[i + 1], t, b, p);
    if (r) this.write(r + 3, p.id); // PUBACK, PUBREC
  },

  // every other packet, and decode errors
  ctl: function (p: any) {
    var t = p.type, id = p.id, r: number, m: any, i: any, e: MqttError | null = null, l: any;
    if (!this.lk) return; // what follows in a chunk after the link was dropped
    if (p.code) { // a decode error
      if (p.code != TOO_BIG) return this.lost(p); // a protocol violation: close the link [MQTT-4.8.0-1]
      this.emit("error", p);
      if (p.id) this.write(p.qos + 3, p.id); // PUBACK / PUBREC: the broker must not resend it forever
      return;
    }
    this.li = this.k.now();
    this.pg = 0;
    if (!this.connected) {
      if (t != 2) return this.lost(malformed(t, "3.2.0-1")); // the first packet must be CONNACK
      if ((r = p.returnCode) > 0) {
        e = err(REFUSED, "refused: " + ",unacceptable protocol version,identifier rejected,server unavailable,bad user name or password,not authorized".split(",")[r] + " (" + r + ")", t);
        e.returnCode = r;
        return this.lost(e);
      }
      // accepted: restore the session, then send what waited
      l = [];
      this.arm(this.ka && 2, this.ka); // the CONNACK deadline cleared; keepalive from now
      this.connected = true;
      this.ua = this.lo = this.li;
      for (i = 0; i < this.a.length; i++) this.write(this.a[i]); // SUBSCRIBE/UNSUBSCRIBE still unanswered, in request order
      if (!p.sessionPresent) {
        this.r = {};
        this.hd = 0;
        for (i in this.sb) l.push({ topic: i, qos: this.sb[i] });
        if (l.length) {
          this.a.push(m = { type: 8, subs: l, id: this.nid() });
          this.write(m);
        }
      }
      for (i = 0; i < this.f.length; i++) {
        // same session: resend with DUP [MQTT-4.4.0-1]; a new session: send again as new
        m = this.f[i];
        m.dup = p.sessionPresent;
        m.rel ? this.write(6, m.id) : this.write(m);
      }
      if (!this.lk) return; // a write failed: lost() ran, no `connect`
      this.emit("connect", p);
      this.flush();
    } else if (t == 6) { // PUBREL
      if (this.r[id]) this.hd--;
      delete this.r[id];
      this.write(7, id); // PUBCOMP
    } else if (t < 8) { // PUBACK, PUBREC, PUBCOMP
      for (l = this.f, i = 0; i < l.length && l[i].id != id; i++);
      m = l[i];
      if (t == 5) {
        if (m && m.qos! > 1) m.rel = 1;
        this.write(6, id); // PUBREL, also for an id we no longer know: lets the broker finish
      } else if (m && (t == 4) == (m.qos == 1)) {
        l.splice(i, 1);
        this.call(m.cb, null);
        this.flush();
      }
    } else if ((t | 2) == 11) { // SUBACK, UNSUBACK: answering its own request
      for (l = this.a, i = 0; i < l.length && l[i].id != id; i++);
      if (!(m = l[i]) || m.type != t - 1) return;
      l.splice(i, 1);
      if (t < 10) {
        // the granted list is the request's list, each QoS replaced by the broker's answer
        for (i = 0; i < m.subs!.length; i++) {
          l = m.subs![i];
          r = p.granted[i];
          if (r < 3) this.sb[l.topic] = l.qos; // else 128 (or missing): refused, and its handler dropped
          else {
            for (id = 0; id < this.h.length && this.h[id] != l.topic; id += 2);
            this.h.splice(id, 2);
            e = err(SUBACK_REFUSED, "SUBACK refused " + l.topic, t);
          }
          l.qos = r;
        }
        m.cb ? this.call(m.cb, e, m.subs) : e && this.emit("error", e);
      } else {
        // the broker answers in order: a SUBACK that arrived after unsubscribe() must not renew these
        for (i = 0; i < m.topics!.length; i++) delete this.sb[m.topics![i]];
        this.call(m.cb, null);
      }
    }
  },

  // ---- events and callbacks: an exception in application code never breaks the state machine ----
  // (what an `error` listener throws is dropped rather than looping)
  emit: function (ev: string, a?: any, b?: any, x?: any) {
    for (var l = this.L[ev], i = 0; l && i < l.length; i++) {
      try { l[i](a, b, x); } catch (e) { if (ev != "error") this.emit("error", err(HANDLER, "handler threw: " + ((e as any) && (e as any).message || e))); }
    }
  },
  call: function (fn?: Function, a?: any, b?: any, x?: any) {
    if (fn) try { fn(a, b, x); } catch (e) { this.emit("error", err(HANDLER, "handler threw: " + ((e as any) && (e as any).message || e))); }
  },

  // ---- outgoing ----
  // a packet; or, given a type number (and maybe an id), a packet of only that (acks, PINGREQ,
  // DISCONNECT) from the scratch object
  write: function (p: any, id?: number) {
    if (!p.type) { this.sc.type = p; this.sc.id = id; p = this.sc; }
    if (this.lk) try { this.lk.write(encode(p)); this.lo = this.k.now(); } catch (e) { this.lost(err(TRANSPORT, "write: " + ((e as any) && (e as any).message || e))); }
  },

  // Send `m` now; without `m`, send what waits while the link and maxInflight allow.
  flush: function (m?: Msg) {
    var q = this.q, cb: any;
    if (m) {
      if (m.qos) { m.id = this.nid(); this.f.push(m); this.write(m); return; }
      cb = m.cb;
      this.write(m);
      m.payload = m.cb = 0 as any; // keep no payload alive in the reused object
      this.call(cb, this.lk ? null : err(TRANSPORT, "not sent: link lost"));
    }
    else while (this.connected && q.length && (!q[0].qos || this.f.length < this.im)) {
      this.qb -= q[0].n!;
      this.flush(q.shift());
    }
  },

  // the next packet id not in use by an outgoing message or request
  nid: function () {
    for (var busy = 1, i: number, l: Msg[]; busy; ) {
      this.n = this.n % 65535 + 1;
      busy = 0;
      for (l = this.f, i = 0; i < l.length; i++) if (l[i].id == this.n) busy = 1;
      for (l = this.a, i = 0; i < l.length; i++) if (l[i].id == this.n) busy = 1;
    }
    return this.n;
  },

  // ---- the link ----
  // Open a link (unless one is open or coming, or end() was called); `open` 1: the link is open, say CONNECT.
  start: function (open?: number) {
    var o = this.o, ev: Ev, l: Link, w = o.will, u = o.username, pw = o.password;
    if (open) {
      // (li is set by the CONNACK, before keepalive starts)
      if (u == null && pw != null) u = ""; // a password needs a user name [MQTT-3.1.2-22]
      return this.write({ type: 1, clientId: o.clientId, clean: o.clean == null || o.clean, keepalive: this.ka / 1000,
        will: w && { topic: w.topic, payload: toBytes(w.payload), qos: w.qos, retain: w.retain }, username: u,
        password: pw == null ? pw : toBytes(pw) });
    }
    if (this.lk || this.tm || this.e) return;
    this.ev = ev = Object.create(EV);
    newDecoder(ev, this);
    ev.op = 0;
    this.arm(1, o.connectTimeout || D.CONNECT_TIMEOUT);
    try {
      l = this.t(o.host || "localhost", o.port || D.PORT, ev);
    } catch (e) {
      if (this.ev == ev) this.lost(err(TRANSPORT, "connect: " + ((e as any) && (e as any).message || e)));
      return;
    }
    if (this.ev == ev) { this.lk = l; if (ev.op) this.start(1); }
  },

  // The link is gone (or must go): tidy up, tell the application, plan the next attempt.
  lost: function (e?: MqttError) {
    var was = this.connected, rc = this.rc, min = rc.min || D.RECONNECT_MIN, max = rc.max || D.RECONNECT_MAX, d: number;
    this.ev = 0;
    this.arm(0);
    if (this.lk) try { this.lk.close(); } catch (x) {}
    this.lk = 0;
    this.connected = false;
    // plan the retry before telling anyone: a listener's connect() then waits for it, its end() cancels it
    if (!this.e && rc) {
      if (was && this.k.now() - this.ua >= (rc.stable || D.RECONNECT_STABLE)) this.at = 0;
      // exponential backoff, full jitter inside [min, min * 2^(n+1)] capped at max; bad credentials
      // (refusals 4, 5) wait the max
      d = Math.min(max, min * Math.pow(2, ++this.at));
      this.arm(3, e && e.returnCode! > 3 ? max : min + (this.o.random || Math.random)() * (d - min));
    }
    if (e) this.emit("error", e);
    this.emit("close");
    if (was) this.emit("offline");
  },

  // The one timer: the CONNACK deadline, then keepalive; or the retry. Never two at once.
  arm: function (w: number, ms?: number) {
    this.k.clearTimer(this.tm);
    this.tw = w;
    this.tm = w && this.k.setTimer(this.fi, ms!);
  },
} as ThisType<State> & Partial<State>;

/** A new client (the constructor, for TypeScript callers that prefer a function). */
export function createClient(o: ClientOptions, transport?: Transport, clock?: Clock): Client {
  return new (Client as any)(o, transport, clock);
}
