// The MQTT 3.1.1 client state machine. It meets the world only through its port: a socket factory
// (options.transport) and a clock (options.clock). No globals, no I/O of its own.
//
// Shaped for the interpreter it runs on. Espruino keeps every value in fixed blocks of 12 bytes (1,600
// of them on an ESP8266) and runs the source text itself:
// - one constructor with its methods on the prototype, so the code exists once and an instance is its
//   state: short properties (a name of up to 4 characters costs no block of its own), small integers
//   rather than booleans, null or floats where a flag will do;
// - few functions: each function object costs about 5 blocks for as long as the module lives (and one
//   more per parameter), so the work is in a few methods that each do one whole job, not in many small
//   helpers; the methods that run rarely (not per message) declare no parameters and read `arguments`,
//   which exists only while the call runs (about 15 us more per call on Espruino);
// - nothing allocated per message but the message's own strings; error texts made when an error is;
// - the hot paths (a PUBLISH in, a PUBLISH out) first in their methods: Espruino reads through every
//   branch before the one it takes, and each call costs a few microseconds.
// Packet types are written as numbers (3 = PUBLISH...); the table is in packets.ts.
import { encode, pub, Packet, Will } from "./packets";
import { DecoderOwner, DecoderState, more, push } from "./decoder";
import { err, CONNECT_TIMEOUT, HANDLER, KEEPALIVE, MALFORMED, QUEUE_FULL, REFUSED, SUBSCRIBE, TOPIC, TRANSPORT, MqttError } from "./errors";
import { matches, validTopic } from "./topic";
import { SPECIAL, toBytes } from "./utf8";
import * as D from "./defaults";
import type { Clock, Link, LinkEvents, Transport } from "./port";

// Build flags, for device firmware builds (build/config.mjs firmwareDefines): __QOS2__ false leaves out QoS 2
// (the firmware publishes and subscribes at QoS 0 and 1 only: a QoS 2 message from the broker then breaks
// [MQTT-3.8.4-6] and drops the link), __HANDLERS__ false leaves out per-filter handlers (the firmware
// reads its commands from the message event). Undefined (tests, the core bundle): everything is there.
declare const __QOS2__: boolean, __HANDLERS__: boolean;
// __API__ false (firmware builds): the parts of the public API the firmware never uses are left out: the
// queued()/inflight() counters, the codes table (errors.ts), payloads given as bytes (utf8.ts toBytes),
// and the checks of the topics and filters an application gives (the firmware's are made from its
// config, which the build checks: build/config.mjs)
declare const __API__: boolean;
// __SERVERS__ false (firmware builds for one broker host): the broker cluster's rotation is left out
declare const __SERVERS__: boolean;

export interface ClientOptions {
  host?: string;
  port?: number;
  /** a broker cluster: tried in turn (a refused connect, a dead link or CONNACK refusal 3 moves to the
   *  next); a server's missing host/port is `host`/`port`'s. Read at every attempt. */
  servers?: { host?: string; port?: number }[];
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
  /** index in options.servers of the server in use, or of the next attempt (0 without a list); set it
   *  before connect() to start elsewhere */
  sv: number;
  /** messages waiting to be sent, and outgoing QoS>0 messages awaiting acknowledgement */
  queued(): number;
  inflight(): number;
}

// A queued or in-flight PUBLISH is the packet itself, plus its callback, size and flow state; a
// SUBSCRIBE/UNSUBSCRIBE awaiting its ack is the packet plus its callback.
interface Msg extends Packet { cb?: Callback; n?: number; rel?: number }

// The state, the most used first (Espruino finds a property by walking the object's list of them).
interface State extends Client, DecoderOwner {
  /** the link's events object, and the link (0 or undefined: none) */
  ev: Ev | 0; lk: Link | 0;
  /** ms of the last packet in and out; a PINGREQ awaits its answer */
  li: number; lo: number; pg: number;
  /** listeners by event (a function, or a list of them); handlers: filter, handler, filter, handler...
   *  (no for-in per message: it allocates) */
  L: { [ev: string]: Function | Function[] }; h: any[];
  k: Clock;
  /** outgoing QoS>0 awaiting PUBACK/PUBREC/PUBCOMP, in send order */
  f: Msg[];
  /** the offline queue and its bytes */
  q: Msg[]; qb: number;
  /** SUBSCRIBE/UNSUBSCRIBE awaiting SUBACK/UNSUBACK, in request order (ids wrap) */
  a: Msg[];
  /** acknowledged subscriptions (filter -> QoS), renewed when a session is lost */
  sb: { [filter: string]: number };
  /** incoming QoS 2 ids held until PUBREL, and their count `n` (none yet: undefined) */
  r: { [id: number]: number; n: number } | undefined;
  /** the one timer, and what it is for (1 CONNACK deadline, 2 keepalive, 3 retry) */
  tm: any; tw: number;
  o: ClientOptions; t: Transport;
  /** keepalive, s (a small integer: one block less than ms on the device) */
  ka: number;
  /** retry attempt, when the link came up, end() was called */
  ak: number; ua: number; e: number;
  /** a QoS 0 PUBLISH sent at once reuses one packet object; so do acks, PINGREQ and DISCONNECT */
  tp: Msg;
  /** the last topic publish() found valid (0: none yet): a stream of messages to one topic is checked once */
  vt: string | 0;

  post(topic: string, payload: any, op: any, cb?: Callback): Client;
  pkt(p: Packet | MqttError): void;
  ctl(p: Packet | MqttError): void;
  tell(ev: string | Function | null | undefined, a?: any, b?: any, x?: any): void;
  put(p: Packet | number | string, id?: number): void;
  flush(m?: Msg): void;
  connect(): State;
  lost(e?: MqttError): void;
  arm(w: number, ms?: number): void;
  subscribe(filter: string | string[], opts?: any, cb?: Callback, t?: number): Client;
}

interface Ev extends LinkEvents, DecoderState { c: State; op: number }

/** The client. The options object is kept, not copied: host, port, clientId, clean, username, password,
 *  will and connectTimeout are read at every (re)connect. (src/index.ts sets the default transport and
 *  clock after construction.) */
export function Client(this: State, o: ClientOptions) {
  // (a flag or time that starts undefined is not set here: a property not yet made costs nothing)
  var c = this;
  c.connected = false;
  c.dm = o.maxPacketSize || D.MAX_PACKET_SIZE;
  c.dk = { type: 3 }; // every incoming PUBLISH is decoded into it: `packet` in message events is valid during the call
  c.L = {};
  if (typeof __HANDLERS__ == "undefined" || __HANDLERS__) c.h = [];
  c.k = o.clock;
  c.f = [];
  c.q = [];
  c.a = [];
  c.sb = {};
  c.qb = c.ak = c.vt = c.sv = 0;
  c.o = o;
  c.t = o.transport;
  c.ka = o.keepalive == null ? D.KEEPALIVE : o.keepalive;
  c.tp = { type: 3 };
}

Client.prototype = {
  // ---- the application's calls ----
  // Sent at once when connected, nothing queued and (QoS 1/2) fewer than maxInflight in flight; else
  // queued. Every drop from the queue is reported.
  // The common case in few steps: connected, nothing waiting, QoS 0, no callback, the topic of the last
  // message (or an ASCII one without NUL or wildcards) and a text payload that needs no conversion: the
  // bytes go out at once. Everything else: post(). (Two methods: Espruino reads through the whole text
  // of a function at each call, also what follows a return.)
  publish: function (topic: string, payload: any, opts: any, cb?: Callback) {
    // (`opts` is read only when given: a property of a number is looked for along Number's prototype,
    // 2.5% of a round trip on Espruino)
    var c = this, op: any = opts || 0;
    if (!(c.connected && (!opts || !op.qos && !op.call) && !cb && !c.q.length && typeof payload == "string" &&
      (topic === c.vt || topic && topic.length < 21846 && !SPECIAL.test(topic) && (c.vt = topic)) && !SPECIAL.test(payload)))
      return c.post(topic, payload, op, cb);
    // put() written out: on Espruino a method call costs about as much as the whole message
    try { (c.lk as Link).write(pub(topic, payload, opts && op.retain ? 1 : 0)); c.lo = c.k.now(); }
    catch (e) { c.lost(err(TRANSPORT, "write: ", null, e)); }
    return c;
  },

  // post(topic, payload, opts, cb): publish's every other case
  post: function () {
    var a = arguments, c = this, q = c.q, topic: string = a[0], payload: any = a[1], op: any = a[2], cb: Callback | undefined = a[3],
      qos: number, m: Msg, on: any, why: any, i: number, d: Msg, x: number;
    if (op.call) { cb = op; op = 0; }
    qos = op.qos | 0;
    on = c.connected && !q.length;
    // an invalid topic or QoS: reported to the callback, else the error event
    // (the topic of the last message publish() sent is valid: checked once for a stream of messages)
    if ((why = (typeof __API__ == "undefined" || __API__) && topic !== c.vt && validTopic(topic, 0)) || qos > (typeof __QOS2__ == "undefined" || __QOS2__ ? 2 : 1) || qos < 0) {
      why = err(TOPIC, why ? "topic " + topic + " [MQTT-" + why + "]" : "QoS " + qos);
      c.tell(cb, why);
      return c;
    }
    payload = toBytes(payload); // text as UTF-8 (as it is when plain ASCII), or the bytes
    m = on && !qos ? c.tp : {} as Msg;
    m.type = 3; m.topic = topic; m.payload = payload; m.qos = qos; m.retain = op.retain; m.cb = cb;
    m.n = payload.length + topic.length + 4;
    if (m == c.tp || on && c.f.length < (c.o.maxInflight || D.MAX_INFLIGHT)) return c.flush(m), c;
    // bounded by the queue option (read now): room is made by dropping the oldest QoS 0 messages; a
    // queued QoS 1/2 message is never dropped for a new one (the new one is refused instead)
    op = c.o.queue || 0;
    for (x = op.maxBytes || D.QUEUE_BYTES; q.length >= (op.maxMessages || D.QUEUE_MESSAGES) || c.qb + m.n! > x; ) {
      for (i = 0; (d = q[i]) && d.qos; i++);
      if (d && m.n! <= x) { q.splice(i, 1); c.qb -= d.n!; }
      else d = m; // no QoS 0 to drop, or too big for any room: refuse it alone
      why = err(QUEUE_FULL, "queue full: dropped " + d.topic);
      why.dropped = d.topic;
      c.tell(null, why);
      if (d.cb) c.tell(d.cb, why);
      if (d == m) return c;
    }
    q.push(m);
    c.qb += m.n!;
    return c;
  },

  // SUBSCRIBE (t 8, the default) or UNSUBSCRIBE (t 10, from unsubscribe). Nothing is sent for an empty
  // list or a bad filter or QoS (reported): an empty or invalid request is a protocol violation, resent
  // after every reconnect. Offline, requests wait for the link: at most queue.maxMessages of them
  // (EQUEUEFULL).
  // subscribe(filter, opts, cb, t)
  subscribe: function () {
    var a = arguments, c = this, op: any = a[1] || 0, cb: Callback | undefined = a[2], t: number | undefined = a[3],
      fs: any[] = [].concat(a[0]), i = 0, j: number, f: string, why: any, h = c.h; // our own copy
    if (op.call) { cb = op; op = 0; }
    for (; !why && (!i || i < fs.length); i++) {
      why = (typeof __API__ == "undefined" || __API__) && validTopic(fs[i], 1);
      why = why ? "topic " + fs[i] + " [MQTT-" + why + "]" : op.qos > 2 || op.qos < 0 ? "QoS " + op.qos : 0;
    }
    if (!why && !c.connected && c.a.length >= ((c.o.queue || {} as any).maxMessages || D.QUEUE_MESSAGES)) why = 1;
    if (why) {
      why = why == 1 ? err(QUEUE_FULL, "queue full: " + fs[0]) : err(TOPIC, why);
      c.tell(cb, why);
      return c;
    }
    for (i = 0; i < fs.length; i++) {
      f = fs[i];
      if (typeof __HANDLERS__ == "undefined" || __HANDLERS__) for (j = 0; j < h.length && h[j] != f; j += 2); // its handler, if any
      if (t) {
        if (typeof __HANDLERS__ == "undefined" || __HANDLERS__) h.splice(j!, 2); // (j past the end: nothing removed)
        delete c.sb[f];
      } else {
        if ((typeof __HANDLERS__ == "undefined" || __HANDLERS__) && op.handler) { h[j!] = f; h[j! + 1] = op.handler; }
        fs[i] = { topic: f, qos: op.qos | 0 };
      }
    }
    // encode reads subs for 8, topics for 10
    c.flush({ type: t || 8, subs: fs, topics: fs, cb: cb });
    return c;
  },

  // unsubscribe(filter, cb)
  unsubscribe: function () { var a = arguments; return this.subscribe(a[0], 0, a[1], 10); },

  // end(force, cb)
  end: function () {
    var a = arguments, c = this, force: any = a[0] || 0, cb: Callback | undefined = a[1];
    if (force.call) { cb = force; force = 0; }
    c.e = 1;
    c.arm(0); // the retry, or the link's timer
    if (c.connected && !force) c.put(14); // DISCONNECT, a clean goodbye: no will
    if (c.lk) c.lost();
    c.tell("end");
    c.tell(cb);
    return c;
  },

  // an event's one listener is held as itself; a second makes it a list (as Espruino's own events do)
  // on(event, fn)
  on: function () {
    var a = arguments, L: any = this.L, ev: string = a[0], fn: Function = a[1], l = L[ev];
    L[ev] = !l ? fn : l.call ? [l, fn] : l.concat(fn);
    return this;
  },


  // ---- incoming: every packet and every decode error ----

  // A PUBLISH while connected: delivered (QoS 2: once, its id held until PUBREL) and acknowledged.
  // Everything else goes to ctl(). Short on purpose: Espruino reads through the whole text of a
  // function at each call, also what follows a return. Its fields are read before delivery: handlers
  // see the reused packet object.
  pkt: function (p: any) {
    var c = this, r = p.qos, id = p.id, t = p.topic, b = p.payload, i = 0, h = c.h, l: any;
    if (p.type != 3 || !c.connected || p.code || !c.lk) return c.ctl(p);
    c.li = c.k.now();
    c.pg = 0;
    if (r == 2) {
      if (!(typeof __QOS2__ == "undefined" || __QOS2__)) return c.lost(err(MALFORMED, "3.8.4-6", 3)); // more than granted
      l = c.r || (c.r = { n: 0 }); // (made at the first: most devices never get QoS 2)
      if (l[id]) return c.put(5, id); // sent again: PUBREC again, delivered once
      // bounded: a broker that never sends PUBREL must not eat the device's RAM
      if (l.n > 63) return c.lost(err(QUEUE_FULL, "over 64 QoS 2 awaiting PUBREL", 3));
      l.n++;
      l[id] = 1;
    }
    // one listener is called here, not through tell() (on Espruino a method call costs about as much as
    // the rest of the delivery)
    if (typeof (l = c.L.message) == "function") try { l(t, b, p); } catch (e) { c.tell(null, err(HANDLER, "handler threw: ", null, e)); }
    else c.tell("message", t, b, p);
    if (typeof __HANDLERS__ == "undefined" || __HANDLERS__) for (; i < h.length; i += 2) if (matches(h[i], t)) c.tell(h[i + 1], t, b, p);
    // PUBACK, PUBREC; then the reused packet keeps no id (the broker's ids pass 1,023, and on Espruino
    // an integer over 1,023 takes a block of its own)
    if (r) { c.put(r + 3, id); p.id = undefined; }
  },

  // every other packet, and decode errors
  ctl: function (p: any) {
    var c = this, t = p.type, id = p.id, r: number, m: any, i: any, e: MqttError | null = null, l: any;
    if (!c.lk) return; // what follows in a chunk after the link was dropped
    if (p.code) { // a decode error
      if (p.code != "ETOOBIG") return c.lost(p); // a protocol violation: close the link [MQTT-4.8.0-1]
      c.tell(null, p);
      if (p.id) c.put(p.qos + 3, p.id); // PUBACK / PUBREC: the broker must not resend it forever
      return;
    }
    c.li = c.k.now();
    c.pg = 0;
    if (!c.connected) {
      if (t != 2) return c.lost(err(MALFORMED, "3.2.0-1", t)); // the first packet must be CONNACK
      if ((r = p.returnCode) > 0) {
        e = err(REFUSED, "refused: " + ",unacceptable protocol version,identifier rejected,server unavailable,bad user name or password,not authorized".split(",")[r] + " (" + r + ")", t);
        e.returnCode = r;
        return c.lost(e);
      }
      // accepted: restore the session, then send what waited
      l = [];
      c.arm(c.ka && 2, c.ka * 1000); // the CONNACK deadline cleared; keepalive from now
      c.connected = true;
      c.ua = c.lo = c.li;
      for (i = 0; i < c.a.length; i++) c.put(c.a[i]); // SUBSCRIBE/UNSUBSCRIBE still unanswered, in request order
      if (!p.sessionPresent) {
        if (typeof __QOS2__ == "undefined" || __QOS2__) delete c.r;
        for (i in c.sb) l.push({ topic: i, qos: c.sb[i] });
        if (l.length) c.flush({ type: 8, subs: l });
      }
      for (i = 0; i < c.f.length; i++) {
        // resent with DUP [MQTT-4.4.0-1]; also to a new session (another server of a cluster may be
        // the same service: the message may have arrived) [MQTT-3.3.1-1]
        m = c.f[i];
        m.dup = true;
        (typeof __QOS2__ == "undefined" || __QOS2__) && m.rel ? c.put(6, m.id) : c.put(m);
      }
      if (!c.lk) return; // a write failed: lost() ran, no `connect`
      c.tell("connect", p);
      c.flush();
    } else if ((typeof __QOS2__ == "undefined" || __QOS2__) && t == 6) { // PUBREL
      if ((l = c.r) && l[id]) { l.n--; delete l[id]; }
      c.put(7, id); // PUBCOMP
    } else {
      // an answer, found by its id: PUBACK, PUBREC, PUBCOMP to a message in flight; SUBACK, UNSUBACK to
      // a request (a PINGRESP finds nothing, and nothing is done)
      for (l = t < 8 ? c.f : c.a, i = 0; i < l.length && l[i].id != id; i++);
      m = l[i];
      if (t < 8) { // PUBACK, PUBREC, PUBCOMP
        if ((typeof __QOS2__ == "undefined" || __QOS2__) && t == 5) {
          if (m && m.qos! > 1) m.rel = 1;
          c.put(6, id); // PUBREL, also for an id we no longer know: lets the broker finish
        } else if (m && (t == 4) == (m.qos == 1)) {
          l.splice(i, 1);
          if (m.cb) c.tell(m.cb, null); // (tell reads `arguments`: an array per call, so not called for nothing)
          c.flush();
        }
      } else if ((t | 2) == 11 && m && m.type == t - 1) { // SUBACK, UNSUBACK: answering its own request
        l.splice(i, 1);
        if (t < 10) {
          // the granted list is the request's list, each QoS replaced by the broker's answer
          for (i = 0; i < m.subs!.length; i++) {
            l = m.subs![i];
            r = p.granted[i];
            if (r < 3) c.sb[l.topic] = l.qos; // else 128 (or missing): refused, and its handler dropped
            else {
              if (typeof __HANDLERS__ == "undefined" || __HANDLERS__) {
                for (id = 0; id < c.h.length && c.h[id] != l.topic; id += 2);
                c.h.splice(id, 2);
              }
              e = err(SUBSCRIBE, "refused " + l.topic, t);
            }
            l.qos = r;
          }
          c.tell(m.cb, e, m.subs);
        } else {
          // the broker answers in order: a SUBACK that arrived after unsubscribe() must not renew these
          for (i = 0; i < m.topics!.length; i++) delete c.sb[m.topics![i]];
          c.tell(m.cb, null);
        }
      }
    }
  },

  // ---- events and callbacks: an exception in application code never breaks the state machine ----
  // tell(f, a, b, x): `f` is an event name (its listeners are called) or a callback; without either
  // (null, undefined), an error `a` goes to the `error` event and anything else nowhere: a callback
  // gets its outcome, and an error nobody asked for is still reported. What an `error` listener throws
  // is dropped rather than looping.
  tell: function () {
    var A = arguments, f = A[0], l = typeof f == "string" ? this.L[f] : f || A[1] && this.L.error, i = 0, g = l && (l.call ? l : l[0]);
    for (; g; g = l[++i]) {
      try { g(A[1], A[2], A[3]); } catch (e) { if (f) this.tell(null, err(HANDLER, "handler threw: ", null, e)); }
    }
  },

  // ---- outgoing ----
  // bytes; a packet; or, given a type number (and maybe an id), a packet of only that (acks, PINGREQ,
  // DISCONNECT) made in the reused packet object. A write that throws loses the link.
  put: function (p: any, id?: number) {
    var c = this, s = c.tp;
    if (c.lk) try {
      if (typeof p != "string") {
        if (!p.type) { s.type = p; s.id = id; p = encode(s); s.id = 0; } // (no id kept: one past 1,023 is a block)
        else p = encode(p);
      }
      c.lk.write(p);
      c.lo = c.k.now();
    } catch (e) { c.lost(err(TRANSPORT, "write: ", null, e)); }
  },

  // Send `m` now: a PUBLISH, or a SUBSCRIBE/UNSUBSCRIBE (kept until its ack, and sent only while
  // connected). Without `m`, send what waits while the link and maxInflight allow.
  flush: function (m?: Msg) {
    var c = this, q = c.q, cb: any, i: number, l: Msg[], busy = 1, x: number;
    if (m) {
      if (m.qos || m.type != 3) {
        // the smallest packet id not in use by an outgoing message or request [MQTT-2.3.1-2]: ids stay
        // small (on Espruino an integer over 1,023 takes a block of its own), and no counter is kept
        for (x = 1; busy; ) {
          busy = 0;
          for (l = c.f, i = 0; i < l.length; i++) if (l[i].id == x) busy = 1;
          for (l = c.a, i = 0; i < l.length; i++) if (l[i].id == x) busy = 1;
          if (busy) x++;
        }
        m.id = x;
        (m.type == 3 ? c.f : c.a).push(m);
        if (c.connected) c.put(m);
        return;
      }
      cb = m.cb;
      c.put(m);
      m.payload = m.cb = 0 as any; // keep no payload alive in the reused object
      if (cb) c.tell(cb, c.lk ? null : err(TRANSPORT, "not sent: link lost"));
    }
    else while (c.connected && q.length && (!q[0].qos || c.f.length < (c.o.maxInflight || D.MAX_INFLIGHT))) {
      c.qb -= q[0].n!;
      c.flush(q.shift());
    }
  },

  // ---- the link ----
  // connect(): open a link, unless one is open or coming, or end() was called. Also the link's open
  // event (EV.open, `this` the link's events object, whose `c` is its client): send CONNECT, once the
  // transport has returned the link (else connect() does it when it does).
  connect: function () {
    var c = this, ev: any = c, o: ClientOptions, l: Link, w: any, u: any, pw: any, s: any;
    if (ev.c) { // the open event
      c = ev.c;
      if (c.ev != ev) return; // of a link dropped since
      ev.op = 1;
      if (!c.lk) return;
      o = c.o; w = o.will; u = o.username; pw = o.password;
      // (li is set by the CONNACK, before keepalive starts)
      if (u == null && pw != null) u = ""; // a password needs a user name [MQTT-3.1.2-22]
      return c.put({ type: 1, clientId: o.clientId, clean: o.clean == null || o.clean, keepalive: c.ka,
        will: w && { topic: w.topic, payload: toBytes(w.payload), qos: w.qos, retain: w.retain }, username: u,
        password: pw == null ? pw : toBytes(pw) });
    }
    o = c.o; s = (typeof __SERVERS__ == "undefined" || __SERVERS__) && o.servers;
    if (c.e) c.e = 0; // (made by end(): a property not yet made costs nothing)
    if (c.lk || c.tm) return c;
    c.ev = ev = Object.create(EV);
    ev.c = c;
    ev.ds = 0; // (read at every chunk: a property missing from the object is looked for along its prototypes)
    c.arm(1, o.connectTimeout || D.CONNECT_TIMEOUT);
    try {
      s = s && s[c.sv] || o; // the server of this attempt
      l = c.t(s.host || o.host || "localhost", s.port || o.port || D.PORT, ev);
    } catch (e) {
      if (c.ev == ev) c.lost(err(TRANSPORT, "connect: ", null, e));
      return c;
    }
    if (c.ev == ev) { c.lk = l; if (ev.op) ev.open(); }
    return c;
  },

  // lost(e): the link is gone (or must go): tidy up, tell the application, plan the next attempt. Also
  // the link's close event (EV.close, `this` the link's events object, whose `c` is its client).
  lost: function () {
    var c = this, e: MqttError | undefined = arguments[0], was: boolean, rc: any, min: number, max: number, d: number, s: any, refused: any;
    if ((c as any).c) { // the close event
      if ((c as any).c.ev != c) return; // of a link dropped since
      c = (c as any).c;
      e = e || err(TRANSPORT, "connection closed");
    }
    was = c.connected; rc = c.o.reconnect; refused = e && e.returnCode; // (a CONNACK's)
    if (rc == null) rc = true; // true: the defaults; 0 or false: never reconnect
    min = rc.min || D.RECONNECT_MIN;
    max = rc.max || D.RECONNECT_MAX;
    c.ev = 0;
    c.arm(0);
    if (s = c.lk) try { (s.close || s.end)!.call(s); } catch (x) {} // (Link: close, or a socket's own end)
    c.lk = 0;
    c.connected = false;
    // the next attempt goes to the next server, unless refused for a reason every server shares (1, 2, 4, 5)
    if ((typeof __SERVERS__ == "undefined" || __SERVERS__) && !c.e && !(refused > 0 && refused != 3))
      c.sv = (c.sv + 1) % ((s = c.o.servers) && s.length || 1);
    // plan the retry before telling anyone: a listener's connect() then waits for it, its end() cancels it
    if (!c.e && rc) {
      if (was && c.k.now() - c.ua >= (rc.stable || D.RECONNECT_STABLE)) c.ak = 0;
      // exponential backoff per round of the servers, full jitter inside [min, min * 2^(n+1)] capped at
      // max, at every attempt (a fleet leaving a node does not land on the next at once); bad credentials
      // (refusals 4, 5) wait the max
      if (!c.sv || !c.ak) c.ak++;
      d = Math.min(max, min * Math.pow(2, c.ak));
      c.arm(3, refused > 3 ? max : min + (c.o.random || Math.random)() * (d - min));
    }
    c.tell(null, e);
    c.tell("close");
    if (was) c.tell("offline");
  },

  // The one timer: the CONNACK deadline, then keepalive; or the retry. Never two at once.
  // arm(w, ms) sets it for `w` (1 CONNACK deadline, 2 keepalive, 3 retry; 0 clears it). Its callback is
  // arm itself, one function for every client: the clock calls it with the client (as setTimeout passes
  // its extra argument), and it then does what the timer was for. A timer fires at most once, so `tm`
  // is zeroed first (Espruino reuses the id of a fired timer: a late clear could hit another timer).
  // Keepalive: a PINGREQ once nothing was sent, or nothing received, for keepalive ms (the client must
  // send within each keepalive period [MQTT-3.1.2-23]); the link is dead after 1.5 x keepalive with
  // nothing received. The timer wakes at the nearer of the next ping and the dead line (a ping awaiting
  // its answer is due again keepalive ms after it went: any packet in clears it); nothing is done per
  // packet.
  arm: function () {
    var a = arguments, c: State = this, w = a[0], t: number, ka: number, dead: number, due: number, k: Partial<Clock>;
    if (w && w.k) { // the timer fired: `w` is the client
      c = w;
      t = c.k.now(); ka = c.ka * 1000; dead = c.li + ka * 1.5;
      c.tm = 0;
      if (c.tw == 3) { c.tell("reconnect"); if (!c.e) c.connect(); } // unless a listener ended the client (or connected it already)
      else if (c.tw == 1) c.lost(err(CONNECT_TIMEOUT, "no CONNACK"));
      else if (t >= dead) c.lost(err(KEEPALIVE, "link dead"));
      else {
        // the next ping: keepalive after the older of the last packet in and out, or after the ping
        due = Math.min(c.li, c.lo) + ka;
        if (!c.pg && t >= due) { c.pg = 1; c.put(12); } // PINGREQ
        if (c.pg) due = c.lo + ka;
        if (c.lk) c.arm(2, Math.max((due > t && due < dead ? due : dead) - t, 1));
      }
      return;
    }
    // (a clock without setTimer, the default: the engine's timers; Espruino's clearTimeout throws
    // "Unknown Timeout" for a timer that fired)
    k = c.k;
    if (c.tm) try { k.setTimer ? k.clearTimer!(c.tm) : clearTimeout(c.tm); } catch (e) {}
    c.tw = w;
    c.tm = w && (k.setTimer ? k.setTimer(c.arm, a[1], c) : setTimeout(c.arm, a[1], c));
  },
} as ThisType<State> & Partial<State>;

// The events of one link: the transport calls them, and they act only while their link is the
// client's current one (`c.ev`), so a late event of a dropped link changes nothing. An object made per
// link from this one (Object.create: a few blocks, where three closures would be about 20). It is also
// the link's stream decoder (decoder.ts): the transport's data goes straight into push. Its open and
// close are the client's connect and lost, which know the events object by its `c` (one function
// fewer each: a function is about 5 blocks of the device's RAM).
var EV = {
  data: push,
  dd: 1, // data may be a socket's listener (port.ts)
  more: more,
  open: Client.prototype.connect,
  close: Client.prototype.lost,
} as Partial<Ev>;

if (typeof __API__ == "undefined" || __API__) {
  Client.prototype.queued = function (this: State) { return this.q.length; };
  Client.prototype.inflight = function (this: State) { return this.f.length; };
}

/** A new client (the constructor, for TypeScript callers that prefer a function). */
export function createClient(o: ClientOptions): Client {
  return new (Client as any)(o);
}
