// The MQTT 3.1.1 client state machine. It meets the world only through its port: a socket factory
// (options.transport) and a clock (options.clock). No globals, no I/O of its own.
import { CONNACK, CONNECT, DISCONNECT, encode, malformed, Packet, PINGREQ, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK, SUBSCRIBE, UNSUBSCRIBE, Will } from "./packets";
import { createDecoder, Decoder } from "./decoder";
import { CONNECT_TIMEOUT, HANDLER, KEEPALIVE, QUEUE_FULL, REFUSED, SUBSCRIBE as SUBACK_REFUSED, TOO_BIG, TOPIC, TRANSPORT, err, MqttError, text } from "./errors";
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

// A queued or in-flight PUBLISH is the packet itself, plus its callback, size and flow state; a
// SUBSCRIBE/UNSUBSCRIBE awaiting its ack is the packet plus its callback.
interface Msg extends Packet { cb?: Callback; n?: number; rel?: boolean }

/** incoming QoS 2 messages held until their PUBREL, at most (brokers send 20-32 at once by default) */
const RCVD_MAX = 64;
const REFUSALS = ",unacceptable protocol version,identifier rejected,server unavailable,bad user name or password,not authorized".split(",");

export function createClient(o: ClientOptions): Client {
  var clock = o.clock, rnd = o.random || Math.random,
    ka = (o.keepalive == null ? DEFAULTS.keepalive : o.keepalive) * 1000,
    rc: any = o.reconnect == null ? {} : o.reconnect, // 0 or false: never reconnect
    rmin = rc.min || DEFAULTS.reconnect.min,
    rmax = rc.max || DEFAULTS.reconnect.max,
    q: any = o.queue || {},
    qmax = q.maxMessages || DEFAULTS.queue.maxMessages,
    qbytes = q.maxBytes || DEFAULTS.queue.maxBytes,
    imax = o.maxInflight || DEFAULTS.maxInflight,
    listeners: { [ev: string]: Function[] } = {},
    handlers: any[] = [], // filter, handler, filter, handler...: no for-in (it allocates) per message
    subs: { [filter: string]: number } = {}, // acknowledged subscriptions, renewed when a session is lost
    acks: Msg[] = [], // SUBSCRIBE/UNSUBSCRIBE awaiting SUBACK/UNSUBACK, in request order (ids wrap)
    rcvd: { [id: number]: number } = {}, // incoming QoS 2 ids held until PUBREL
    infl: Msg[] = [], // outgoing QoS>0 awaiting PUBACK/PUBREC/PUBCOMP, in send order
    outq: Msg[] = [], queuedBytes = 0,
    link: Link | null = null, on = false, opened = false, gen = 0, ended = false, authFail = false,
    attempt = 0, upAt = 0, lastIn = 0, lastOut = 0, pingOut = false, nid = 0,
    tConn: any, tKa: any, tRe: any, held = 0,
    dec: Decoder, // made at the end: Espruino does not hoist onPacket/onDecodeError
    tmp: Msg = { type: PUBLISH }, // a QoS 0 PUBLISH sent at once reuses one packet object
    scratch: Packet = { type: 0 }; // and so do acks, PINGREQ and DISCONNECT

  var c: Client = {
    connected: false,
    connect: function () {
      ended = false;
      start();
      return c;
    },
    publish: function (topic, payload, opts, cb) {
      if (typeof opts == "function") { cb = opts; opts = 0 as any; }
      var op: any = opts, qos = op ? op.qos | 0 : 0, m: Msg;
      if (bad(topic, false, qos, cb)) return c;
      payload = toBytes(payload);
      m = on && !outq.length && !qos ? tmp : { type: PUBLISH };
      m.topic = topic; m.payload = payload; m.qos = qos; m.retain = !!(op && op.retain); m.cb = cb;
      m.n = payload.length + topic.length + 4;
      if (m == tmp || on && !outq.length && infl.length < imax) send1(m);
      else enqueue(m);
      return c;
    },
    subscribe: function (filter, opts, cb) {
      if (typeof opts == "function") { cb = opts; opts = 0 as any; }
      var op: any = opts || 0, fs = filters(filter, op.qos, cb), list = [], i: number;
      if (fs) {
        for (i = 0; i < fs.length; i++) {
          list.push({ topic: fs[i], qos: op.qos | 0 });
          if (op.handler) handler(fs[i], op.handler);
        }
        request({ type: SUBSCRIBE, subs: list, cb: cb });
      }
      return c;
    },
    unsubscribe: function (filter, cb) {
      var fs = filters(filter, 0, cb), i: number;
      if (fs) {
        for (i = 0; i < fs.length; i++) { handler(fs[i]); delete subs[fs[i]]; }
        request({ type: UNSUBSCRIBE, topics: fs, cb: cb });
      }
      return c;
    },
    end: function (force, cb) {
      if (typeof force == "function") { cb = force; force = false; }
      ended = true;
      clock.clearTimer(tRe);
      tRe = 0;
      if (on && !force) send(DISCONNECT); // a clean goodbye: no will
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
    try { fn(a, b, x); } catch (e) { if (ev != "error") emit("error", err(HANDLER, "handler threw: " + text(e))); }
  }
  function emit(ev: string, a?: any, b?: any, x?: any) {
    for (var l = listeners[ev], i = 0; l && i < l.length; i++) safe(l[i], a, b, x, ev);
  }
  // An invalid topic, filter or QoS from the application: reported, true.
  function bad(t: string, filter: boolean, qos: any, cb?: Callback) {
    var why = validTopic(t || "", filter);
    if (why || qos > 2 || qos < 0) {
      report(cb, err(TOPIC, why ? "topic " + t + " [MQTT-" + why + "]" : "QoS " + qos));
      return 1;
    }
  }
  // an error for the caller: its callback, else the error event
  function report(cb: Callback | undefined, e: MqttError) {
    if (cb) safe(cb, e); else emit("error", e);
  }
  // A filter list to (un)subscribe, or null when it is empty or has a bad filter or QoS (reported):
  // an empty or invalid SUBSCRIBE/UNSUBSCRIBE is a protocol violation, resent after every reconnect.
  // Offline, (un)subscribe requests wait for the link: at most queue.maxMessages of them (EQUEUEFULL).
  function filters(filter: string | string[], qos: any, cb?: Callback) {
    var fs = typeof filter == "string" ? [filter] : filter || [], i = 0;
    for (; !i || i < fs.length; i++) if (bad(fs[i], true, qos, cb)) return null;
    if (!on && acks.length >= qmax) return report(cb, err(QUEUE_FULL, "queue full: " + fs[0])), null;
    return fs;
  }
  // Set (or with no `h`, remove) the handler of filter `f`.
  function handler(f: string, h?: Handler) {
    for (var i = 0; i < handlers.length && handlers[i] != f; i += 2);
    if (h) { handlers[i] = f; handlers[i + 1] = h; } else if (i < handlers.length) handlers.splice(i, 2);
  }

  // ---- connection lifecycle ----
  function start() {
    if (link || tRe || ended) return;
    var my = ++gen, l: Link;
    opened = false;
    dec.reset();
    // a fired timer's id is forgotten at once: Espruino reuses ids, so a late clear could hit another timer
    tConn = clock.setTimer(function () { tConn = 0; lost(err(CONNECT_TIMEOUT, "no CONNACK")); }, o.connectTimeout || DEFAULTS.connectTimeout);
    try {
      l = o.transport(o.host || "localhost", o.port || DEFAULTS.port, {
        open: function () { if (my == gen) { opened = true; if (link) hello(); } },
        data: function (d) { if (my == gen) dec.push(d); },
        close: function (e) { if (my == gen) lost(e || err(TRANSPORT, "connection closed")); },
      });
    } catch (e) {
      if (my == gen) lost(err(TRANSPORT, "connect: " + text(e)));
      return;
    }
    if (my == gen) { link = l; if (opened) hello(); }
  }

  function hello() {
    var w = o.will, u = o.username;
    lastIn = clock.now();
    if (u == null && o.password != null) u = ""; // a password needs a user name [MQTT-3.1.2-22]
    write({ type: CONNECT, clientId: o.clientId, clean: o.clean == null ? DEFAULTS.clean : o.clean, keepalive: ka / 1000,
      will: w && { topic: w.topic, payload: toBytes(w.payload), qos: w.qos, retain: w.retain }, username: u,
      password: o.password == null ? o.password : toBytes(o.password) });
  }

  // The link is gone (or must go): tidy up, tell the application, plan the next attempt.
  function lost(e: MqttError | null) {
    var was = on, d: number;
    gen++;
    clock.clearTimer(tConn); clock.clearTimer(tKa);
    tConn = tKa = 0;
    if (link) try { link.close(); } catch (x) {}
    link = null;
    c.connected = on = false;
    // plan the retry before telling anyone: a listener's connect() then waits for it, its end() cancels it
    if (!ended && rc && !tRe) {
      if (was && clock.now() - upAt >= (rc.stable || DEFAULTS.reconnect.stable)) attempt = 0;
      // exponential backoff, full jitter inside [min, min * 2^(n+1)] capped at max; bad credentials wait the max
      d = Math.min(rmax, rmin * Math.pow(2, ++attempt));
      tRe = clock.setTimer(reopen, authFail ? rmax : rmin + rnd() * (d - rmin));
      authFail = false;
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
    if (link) try { link.write(encode(p)); lastOut = clock.now(); } catch (e) { lost(err(TRANSPORT, "write: " + text(e))); }
  }
  // a packet of only a type and maybe an id (acks, PINGREQ, DISCONNECT), from the scratch object
  function send(t: number, id?: number) {
    scratch.type = t;
    scratch.id = id;
    write(scratch);
  }

  // ---- keepalive: one timer, re-armed to the next deadline, nothing done per packet ----
  function keepalive() {
    var t = clock.now(), m = Math.min(lastIn, lastOut);
    tKa = 0;
    if (t - lastIn >= ka * 1.5) return lost(err(KEEPALIVE, "link dead"));
    if (!pingOut && t - m >= ka) { pingOut = true; send(PINGREQ); }
    if (link) tKa = clock.setTimer(keepalive, Math.max((pingOut ? lastIn + ka / 2 : m) + ka - t, 1));
  }

  // ---- incoming ----
  // Both ignore what follows in a chunk after the link was dropped (a second lost() would plan a
  // second retry).
  function onDecodeError(e: MqttError) {
    if (!link) return;
    if (e.code == TOO_BIG) {
      emit("error", e);
      if (e.id) send(e.qos + 3, e.id); // PUBACK / PUBREC: the broker must not resend it forever
    }
    else lost(e); // a protocol violation: close the link [MQTT-4.8.0-1]
  }

  function onPacket(p: Packet) {
    var t = p.type, id = p.id!, r = p.returnCode!, m: Msg | undefined, i: number, a: Msg, e: MqttError | null = null, g: any[], f: string;
    if (!link) return;
    lastIn = clock.now();
    pingOut = false;
    if (!on) {
      if (t != CONNACK) return lost(malformed(t, "3.2.0-1")); // the first packet must be CONNACK
      clock.clearTimer(tConn);
      tConn = 0;
      if (r) {
        authFail = r > 3;
        e = err(REFUSED, "refused: " + REFUSALS[r] + " (" + r + ")", t);
        e.returnCode = r;
        return lost(e);
      }
      return up(p);
    }
    if (t == PUBLISH) {
      r = p.qos!; // read before delivery: handlers see the reused packet object
      // QoS 2: the id is held until PUBREL, so a resent message is delivered once
      if (r < 2) deliver(p);
      else if (!rcvd[id]) {
        // bounded: a broker that never sends PUBREL must not eat the device's RAM
        if (held >= RCVD_MAX) return lost(err(QUEUE_FULL, "over " + RCVD_MAX + " QoS 2 awaiting PUBREL", t));
        held++;
        rcvd[id] = 1;
        deliver(p);
      }
      if (r) send(r + 3, id); // PUBACK, PUBREC
    } else if (t == PUBREL) {
      if (rcvd[id]) held--;
      delete rcvd[id];
      send(PUBCOMP, id);
    } else if (t < 8) { // PUBACK, PUBREC, PUBCOMP
      m = infl[i = find(infl, id)];
      if (t == PUBREC) {
        if (m && m.qos! > 1) m.rel = true;
        send(PUBREL, id); // also for an id we no longer know: lets the broker finish
      } else if (m && (t == PUBACK) == (m.qos == 1)) {
        infl.splice(i, 1);
        if (m.cb) safe(m.cb, null);
        flush();
      }
    } else if ((t | 2) == 11 && (a = acks[i = find(acks, id)]) && a.type == t - 1) { // SUBACK, UNSUBACK answering its own request
      acks.splice(i, 1);
      if (t == SUBACK) {
        g = [];
        for (i = 0; i < a.subs!.length; i++) {
          f = a.subs![i].topic;
          r = p.granted![i];
          if (r == 128 || r == null) {
            handler(f);
            e = err(SUBACK_REFUSED, "SUBACK refused " + f, t);
          } else subs[f] = a.subs![i].qos;
          g.push({ topic: f, qos: r });
        }
        if (a.cb) safe(a.cb, e, g); else if (e) emit("error", e);
      } else {
        // the broker answers in order: a SUBACK that arrived after unsubscribe() must not renew these
        for (i = 0; i < a.topics!.length; i++) delete subs[a.topics![i]];
        if (a.cb) safe(a.cb, null);
      }
    }
  }

  function deliver(p: Packet) {
    emit("message", p.topic, p.payload, p);
    for (var i = 0; i < handlers.length; i += 2) if (matches(handlers[i], p.topic!)) safe(handlers[i + 1], p.topic, p.payload, p);
  }

  // CONNACK accepted: restore the session, then send what waited.
  function up(p: Packet) {
    var i: number, f: string, list = [], m: Msg;
    c.connected = on = true;
    upAt = lastOut = clock.now();
    for (i = 0; i < acks.length; i++) write(acks[i]); // SUBSCRIBE/UNSUBSCRIBE still unanswered, in request order
    if (!p.sessionPresent) {
      rcvd = {};
      held = 0;
      for (f in subs) list.push({ topic: f, qos: subs[f] });
      if (list.length) request({ type: SUBSCRIBE, subs: list });
    }
    for (i = 0; i < infl.length; i++) {
      // same session: resend with DUP [MQTT-4.4.0-1]; a new session: send again as new
      m = infl[i];
      m.dup = !!p.sessionPresent;
      if (m.rel) send(PUBREL, m.id); else write(m);
    }
    if (!link) return; // a write failed: lost() ran, no keepalive timer, no `connect`
    if (ka) tKa = clock.setTimer(keepalive, ka);
    emit("connect", p);
    flush();
  }

  // ---- outgoing ----
  // the index of the packet with id `id` in `list`, or list.length
  function find(list: Msg[], id: number) {
    for (var i = 0; i < list.length && list[i].id != id; i++);
    return i;
  }
  function newId() {
    do nid = nid % 65535 + 1; while (infl[find(infl, nid)] || acks[find(acks, nid)]);
    return nid;
  }

  function request(p: Msg) {
    p.id = newId();
    acks.push(p);
    if (on) write(p);
  }

  function send1(m: Msg) {
    var cb = m.cb;
    if (m.qos) { m.id = newId(); infl.push(m); }
    write(m);
    if (!m.qos) {
      if (m == tmp) tmp.payload = tmp.cb = undefined; // keep no payload alive in the scratch object
      if (cb) safe(cb, link ? null : err(TRANSPORT, "not sent: link lost"));
    }
  }

  function flush() {
    while (on && outq.length && (!outq[0].qos || infl.length < imax)) {
      queuedBytes -= outq[0].n!;
      send1(outq.shift()!);
    }
  }

  // Bounded queue: make room by dropping the oldest QoS 0 messages; never drop a queued QoS 1/2
  // message for a new one (the new one is refused instead). Every drop is reported.
  function enqueue(m: Msg) {
    var i: number, d: Msg, e: MqttError;
    while (outq.length >= qmax || queuedBytes + m.n! > qbytes) {
      for (i = 0; i < outq.length && outq[i].qos; i++);
      d = i < outq.length && m.n! <= qbytes ? outq.splice(i, 1)[0] : m; // too big for any room: refuse it alone
      if (d != m) queuedBytes -= d.n!;
      e = err(QUEUE_FULL, "queue full: dropped " + d.topic);
      e.dropped = d.topic;
      emit("error", e);
      if (d.cb) safe(d.cb, e);
      if (d == m) return;
    }
    outq.push(m);
    queuedBytes += m.n!;
  }

  // every incoming PUBLISH is decoded into one object: `packet` in message events is valid during the call
  dec = createDecoder(o.maxPacketSize || DEFAULTS.maxPacketSize, onPacket, onDecodeError, { type: PUBLISH });
  return c;
}
