// The MQTT 3.1.1 client state machine. It meets the world only through its port: a socket factory
// (options.transport) and a clock (options.clock). No globals, no I/O of its own.
import { CONNACK, CONNECT, DISCONNECT, encode, NAMES, Packet, PINGREQ, PINGRESP, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK, SUBSCRIBE, UNSUBACK, UNSUBSCRIBE, Will } from "./packets";
import { createDecoder, Decoder } from "./decoder";
import { E, err, MqttError } from "./errors";
import { matches, validTopic } from "./topic";
import { toBytes } from "./utf8";
import { DEFAULTS } from "./defaults";
import type { Clock, Link, Transport } from "./port";

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

// A queued or in-flight PUBLISH is the packet itself, plus its callback, size and flow state.
interface Msg extends Packet { cb?: Callback; n: number; rel?: boolean }
interface Ack { p: Packet; cb?: Callback }

const REFUSALS = ",unacceptable protocol version,identifier rejected,server unavailable,bad user name or password,not authorized".split(",");

export function createClient(o: ClientOptions): Client {
  var clock = o.clock, rnd = o.random || Math.random,
    ka = (o.keepalive == null ? DEFAULTS.keepalive : o.keepalive) * 1000,
    rc: any = o.reconnect === 0 || o.reconnect === false ? 0 : o.reconnect || {},
    rmin = rc ? rc.min || DEFAULTS.reconnect.min : 0,
    rmax = rc ? rc.max || DEFAULTS.reconnect.max : 0,
    qmax = o.queue && o.queue.maxMessages || DEFAULTS.queue.maxMessages,
    qbytes = o.queue && o.queue.maxBytes || DEFAULTS.queue.maxBytes,
    imax = o.maxInflight || DEFAULTS.maxInflight,
    clean = o.clean == null ? DEFAULTS.clean : o.clean,
    listeners: { [ev: string]: Function[] } = {},
    handlers: { [filter: string]: Handler } = {},
    subs: { [filter: string]: number } = {}, // acknowledged subscriptions, renewed when a session is lost
    acks: { [id: number]: Ack } = {}, // SUBSCRIBE/UNSUBSCRIBE awaiting SUBACK/UNSUBACK
    rcvd: { [id: number]: number } = {}, // incoming QoS 2 ids held until PUBREL
    infl: Msg[] = [], // outgoing QoS>0 awaiting PUBACK/PUBREC/PUBCOMP, in send order
    outq: Msg[] = [], queuedBytes = 0,
    link: Link | null = null, opened = false, gen = 0, ended = false, authFail = false,
    attempt = 0, upAt = 0, lastIn = 0, lastOut = 0, pingOut = false, nid = 0,
    tConn: any, tKa: any, tRe: any,
    dec: Decoder, // made at the end: Espruino does not hoist onPacket/onDecodeError
    tmp: Msg = { type: PUBLISH, n: 0 }; // QoS 0 sends reuse one packet object

  var c: Client = {
    connected: false,
    connect: function () {
      ended = false;
      start();
      return c;
    },
    publish: function (topic, payload, opts, cb) {
      if (typeof opts == "function") { cb = opts; opts = 0 as any; }
      var op: any = opts || {}, qos = op.qos | 0, m: Msg;
      if (bad(topic, false, qos, cb)) return c;
      m = { type: PUBLISH, topic: topic, payload: toBytes(payload), qos: qos, retain: !!op.retain, cb: cb, n: 0 };
      m.n = m.payload!.length + topic.length + 4;
      if (c.connected && !outq.length && (!qos || infl.length < imax)) send1(m);
      else enqueue(m);
      return c;
    },
    subscribe: function (filter, opts, cb) {
      if (typeof opts == "function") { cb = opts; opts = 0 as any; }
      var op: any = opts || {}, fs = filters(filter, op.qos, cb), list = [], i: number;
      if (fs) {
        for (i = 0; i < fs.length; i++) {
          list.push({ topic: fs[i], qos: op.qos | 0 });
          if (op.handler) handlers[fs[i]] = op.handler;
        }
        request({ type: SUBSCRIBE, subs: list }, cb);
      }
      return c;
    },
    unsubscribe: function (filter, cb) {
      var fs = filters(filter, 0, cb), i: number;
      if (fs) {
        for (i = 0; i < fs.length; i++) { delete handlers[fs[i]]; delete subs[fs[i]]; }
        request({ type: UNSUBSCRIBE, topics: fs }, cb);
      }
      return c;
    },
    end: function (force, cb) {
      if (typeof force == "function") { cb = force; force = false; }
      ended = true;
      clock.clearTimer(tRe);
      tRe = 0;
      if (link && c.connected && !force) write({ type: DISCONNECT }); // a clean goodbye: no will
      if (link) lost(null);
      emit("end");
      if (cb) safe(cb);
      return c;
    },
    on: function (ev, fn) {
      (listeners[ev] || (listeners[ev] = [])).push(fn);
      return c;
    },
    queued: function () { return outq.length; },
    inflight: function () { return infl.length; },
  };

  // ---- events and callbacks: an exception in application code never breaks the state machine ----
  // (what an `error` listener throws is dropped rather than looping)
  function safe(fn: Function, a?: any, b?: any, x?: any, ev?: string) {
    try { fn(a, b, x); } catch (e) { if (ev != "error") emit("error", err(E.HANDLER, "handler threw: " + ((e as any).message || e))); }
  }
  function emit(ev: string, a?: any, b?: any, x?: any) {
    var l = listeners[ev], i = 0;
    for (; l && i < l.length; i++) safe(l[i], a, b, x, ev);
  }
  function fail(cb: Callback | undefined, e: MqttError, r?: any) {
    if (cb) safe(cb, e); else emit("error", e);
    return r;
  }
  // An invalid topic, filter or QoS from the application: reported, true.
  function bad(t: string, filter: boolean, qos: any, cb?: Callback) {
    var why = validTopic(t || "", filter);
    if (why || qos > 2 || qos < 0) return fail(cb, err(E.TOPIC, "topic " + t + ": " + (why ? why[1] + " [" + why[0] + "]" : "QoS " + qos)), 1);
  }
  // A filter list to (un)subscribe, or null when it is empty or has a bad filter or QoS (reported):
  // an empty or invalid SUBSCRIBE/UNSUBSCRIBE is a protocol violation, resent after every reconnect.
  function filters(filter: string | string[], qos: any, cb?: Callback) {
    var fs = typeof filter == "string" ? [filter] : filter || [], i = 0;
    for (; !i || i < fs.length; i++) if (bad(fs[i], true, qos, cb)) return null;
    return fs;
  }

  // ---- connection lifecycle ----
  function start() {
    if (!link && !tRe && !ended) open();
  }
  function open() {
    var my = ++gen, l: Link;
    opened = false;
    dec.reset();
    tConn = clock.setTimer(function () { lost(err(E.CONNECT_TIMEOUT, "no CONNACK within " + (o.connectTimeout || DEFAULTS.connectTimeout) + " ms")); }, o.connectTimeout || DEFAULTS.connectTimeout);
    try {
      l = o.transport(o.host || "localhost", o.port || DEFAULTS.port, {
        open: function () { if (my == gen) { opened = true; if (link) hello(); } },
        data: function (d) { if (my == gen) dec.push(d); },
        close: function (e) { if (my == gen) lost(e || err(E.TRANSPORT, "connection closed")); },
      });
    } catch (e) {
      return lost(err(E.TRANSPORT, "cannot connect to " + o.host + ":" + o.port + ": " + ((e as any).message || e)));
    }
    if (my == gen) { link = l; if (opened) hello(); }
  }

  function hello() {
    lastIn = clock.now();
    write({ type: CONNECT, clientId: o.clientId || "", clean: clean, keepalive: ka / 1000, will: o.will && { topic: o.will.topic, payload: toBytes(o.will.payload), qos: o.will.qos, retain: o.will.retain }, username: o.username, password: o.password == null ? o.password : toBytes(o.password) });
  }

  // The link is gone (or must go): tidy up, tell the application, plan the next attempt.
  function lost(e: MqttError | null) {
    var was = c.connected, delay: number;
    gen++;
    clock.clearTimer(tConn); clock.clearTimer(tKa);
    tConn = tKa = 0;
    if (link) try { link.close(); } catch (x) {}
    link = null;
    c.connected = false;
    // plan the retry before telling anyone: a listener's connect() then waits for it, its end() cancels it
    if (!ended && rc) {
      if (was && clock.now() - upAt >= (rc.stable || DEFAULTS.reconnect.stable)) attempt = 0;
      // exponential backoff, full jitter inside [min, min * 2^(n+1)] capped at max; bad credentials wait the max
      delay = Math.min(rmax, rmin * Math.pow(2, attempt + 1));
      delay = authFail ? rmax : rmin + rnd() * (delay - rmin);
      attempt++;
      authFail = false;
      tRe = clock.setTimer(reopen, delay);
    }
    if (e) emit("error", e);
    emit("close");
    if (was) emit("offline");
  }
  function reopen() {
    tRe = 0;
    emit("reconnect");
    start(); // unless a listener ended the client or connected it already
  }

  function write(p: Packet) {
    if (!link) return;
    try { link.write(encode(p)); } catch (e) { return lost(err(E.TRANSPORT, "write failed: " + ((e as any).message || e))); }
    lastOut = clock.now();
  }

  // ---- keepalive: one timer, re-armed to the next deadline, nothing done per packet ----
  function keepalive() {
    var t = clock.now(), next: number;
    if (t - lastIn >= ka * 1.5) return lost(err(E.KEEPALIVE, "no packet from the broker for " + (t - lastIn) + " ms: link dead"));
    if (!pingOut && (t - lastOut >= ka || t - lastIn >= ka)) { pingOut = true; write({ type: PINGREQ }); }
    next = lastIn + ka * 1.5;
    if (!pingOut) next = Math.min(next, Math.min(lastIn, lastOut) + ka);
    if (link) tKa = clock.setTimer(keepalive, Math.max(next - t, 1));
  }

  // ---- incoming ----
  // Both ignore what follows in a chunk after the link was dropped (a second lost() would plan a
  // second retry).
  function onDecodeError(e: MqttError) {
    if (!link) return;
    if (e.code == E.TOO_BIG) emit("error", e);
    else lost(e); // a protocol violation: close the link [MQTT-4.8.0-1]
  }

  function onPacket(p: Packet) {
    var t = p.type, m: Msg | undefined, i: number, a: Ack, e: MqttError | null = null, g: any[], f: string;
    if (!link) return;
    lastIn = clock.now();
    pingOut = false;
    if (!c.connected) {
      if (t != CONNACK) return lost(err(E.MALFORMED, NAMES[t] + " before CONNACK [MQTT-3.2.0-1]", t));
      clock.clearTimer(tConn);
      if (p.returnCode) {
        authFail = p.returnCode > 3;
        e = err(E.REFUSED, "connection refused: " + REFUSALS[p.returnCode!] + " (" + p.returnCode + ")", t);
        e.returnCode = p.returnCode;
        return lost(e);
      }
      return up(p);
    }
    if (t == PUBLISH) {
      if (p.qos == 2) {
        if (!rcvd[p.id!]) deliver(p); // held until PUBREL: a resent QoS 2 message is delivered once
        rcvd[p.id!] = 1;
        write({ type: PUBREC, id: p.id });
      } else {
        deliver(p);
        if (p.qos) write({ type: PUBACK, id: p.id });
      }
    } else if (t == PUBREL) {
      delete rcvd[p.id!];
      write({ type: PUBCOMP, id: p.id });
    } else if (t == PUBACK || t == PUBREC || t == PUBCOMP) {
      for (i = 0; i < infl.length; i++) if (infl[i].id == p.id) m = infl[i];
      if (t == PUBREC) {
        if (m && m.qos == 2) m.rel = true;
        write({ type: PUBREL, id: p.id }); // also for an id we no longer know: lets the broker finish
      } else if (m && (t == PUBACK) == (m.qos == 1)) {
        infl.splice(infl.indexOf(m), 1);
        if (m.cb) safe(m.cb, null);
        flush();
      }
    } else if (t == SUBACK || t == UNSUBACK) {
      a = acks[p.id!];
      if (!a) return;
      delete acks[p.id!];
      if (t == SUBACK) {
        g = [];
        for (i = 0; i < a.p.subs!.length; i++) {
          f = a.p.subs![i].topic;
          if (p.granted![i] == 128 || p.granted![i] == null) {
            delete handlers[f];
            e = err(E.SUBSCRIBE, "subscription to " + f + " refused by the broker", t);
          } else subs[f] = a.p.subs![i].qos;
          g.push({ topic: f, qos: p.granted![i] });
        }
        if (a.cb) safe(a.cb, e, g); else if (e) emit("error", e);
      } else if (a.cb) safe(a.cb, null);
    }
  }

  function deliver(p: Packet) {
    emit("message", p.topic, p.payload, p);
    for (var f in handlers) if (matches(f, p.topic!)) safe(handlers[f], p.topic, p.payload, p);
  }

  // CONNACK accepted: restore the session, then send what waited.
  function up(p: Packet) {
    var i: number, f: string, list = [];
    c.connected = true;
    upAt = lastOut = clock.now();
    for (f in acks) write(acks[f as any].p); // SUBSCRIBE/UNSUBSCRIBE still unanswered
    if (!p.sessionPresent) {
      rcvd = {};
      for (f in subs) list.push({ topic: f, qos: subs[f] });
      if (list.length) request({ type: SUBSCRIBE, subs: list });
    }
    for (i = 0; i < infl.length; i++) {
      // same session: resend with DUP [MQTT-4.4.0-1]; a new session: send again as new
      infl[i].dup = !!p.sessionPresent;
      write(infl[i].rel ? { type: PUBREL, id: infl[i].id } : infl[i]);
    }
    if (!link) return; // a write failed: lost() ran, no keepalive timer, no `connect`
    if (ka) tKa = clock.setTimer(keepalive, ka);
    emit("connect", p);
    flush();
  }

  // ---- outgoing ----
  function newId() {
    for (;;) {
      nid = nid % 65535 + 1;
      if (acks[nid]) continue;
      for (var i = 0; i < infl.length && infl[i].id != nid; i++);
      if (i == infl.length) return nid;
    }
  }

  function request(p: Packet, cb?: Callback) {
    p.id = newId();
    acks[p.id] = { p: p, cb: cb };
    if (c.connected) write(p);
  }

  function send1(m: Msg) {
    if (m.qos) {
      m.id = newId();
      infl.push(m);
      write(m);
    } else {
      tmp.topic = m.topic; tmp.payload = m.payload; tmp.retain = m.retain;
      write(tmp);
      if (m.cb) safe(m.cb, null);
    }
  }

  function flush() {
    var m: Msg;
    while (c.connected && outq.length && (!outq[0].qos || infl.length < imax)) {
      m = outq.shift()!;
      queuedBytes -= m.n;
      send1(m);
    }
  }

  // Bounded queue: make room by dropping the oldest QoS 0 messages; never drop a queued QoS 1/2
  // message for a new one (the new one is refused instead). Every drop is reported.
  function enqueue(m: Msg) {
    var i: number, d: Msg, e: MqttError;
    while (outq.length >= qmax || queuedBytes + m.n > qbytes) {
      for (i = 0; i < outq.length && outq[i].qos; i++);
      d = i < outq.length && m.n <= qbytes ? outq.splice(i, 1)[0] : m; // too big for any room: refuse it alone
      if (d != m) queuedBytes -= d.n;
      e = err(E.QUEUE_FULL, "queue full: dropped QoS " + d.qos + " message to " + d.topic);
      e.dropped = d.topic;
      emit("error", e);
      if (d.cb) safe(d.cb, e);
      if (d == m) return;
    }
    outq.push(m);
    queuedBytes += m.n;
  }

  dec = createDecoder(o.maxPacketSize || DEFAULTS.maxPacketSize, onPacket, onDecodeError);
  return c;
}
