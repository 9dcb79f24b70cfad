// The MQTT 3.1.1 client state machine. It meets the world only through its port: a socket factory
// (options.transport) and a clock (options.clock). No globals, no I/O of its own.
// Packet types are written as numbers (3 = PUBLISH...): an imported constant would hold a short name in
// this scope of the minified bundle, and the digit is as short. The table is in packets.ts.
import { encode, malformed, Packet, Will } from "./packets";
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

/** `transport` and `clock`, when given, are used instead of those in `o` (src/index.ts passes the engine's). */
export function createClient(o: ClientOptions, transport?: Transport, clock?: Clock): Client;
export function createClient(o: ClientOptions, transport: any, clock: any): Client {
  // Size notes (every byte of the minified bundle is RAM on an ESP8266): one timer for the link (the
  // CONNACK deadline, then keepalive) or the retry, never both; state that starts undefined is not
  // initialised; callbacks may be missing (safe() skips them). The minifier names this scope's
  // bindings in the order they are declared and only about the first 37 get one letter: the most
  // used helpers come first, then the client object and the state, the rest after, the least used
  // variables last. (Espruino does not hoist, but nothing here runs before the end of this function.)
  // `transport` and `clock` are typed `any` above: TypeScript does not narrow a reassigned parameter
  // inside the functions below.
  clock = clock || o.clock;
  transport = transport || o.transport;

  // ---- the most used helpers ----
  // The link is gone (or must go): tidy up, tell the application, plan the next attempt.
  function lost(e?: MqttError) {
    var was = on, min = rc.min || DEFAULTS.reconnect.min, max = rc.max || DEFAULTS.reconnect.max, d: number;
    gen++;
    arm();
    if (link) try { link.close(); } catch (x) {}
    link = 0;
    c.connected = on = false;
    // plan the retry before telling anyone: a listener's connect() then waits for it, its end() cancels it
    if (!ended && rc) {
      if (was && clock.now() - upAt >= (rc.stable || DEFAULTS.reconnect.stable)) attempt = 0;
      // exponential backoff, full jitter inside [min, min * 2^(n+1)] capped at max; bad credentials
      // (refusals 4, 5) wait the max
      d = Math.min(max, min * Math.pow(2, ++attempt));
      arm(reopen, e && e.returnCode! > 3 ? max : min + (o.random || Math.random)() * (d - min));
    }
    if (e) fail(e);
    emit("close");
    if (was) emit("offline");
  }
  // Events and callbacks: an exception in application code never breaks the state machine (what an
  // `error` listener throws is dropped rather than looping).
  function safe(fn?: Function, a?: any, b?: any, x?: any, ev?: string) {
    if (fn) try { fn(a, b, x); } catch (e) { if (ev != "error") fail(err(HANDLER, "handler threw: " + text(e))); }
  }
  function emit(ev: string, a?: any, b?: any, x?: any) {
    for (var l = listeners[ev], i = 0; l && i < l.length; i++) safe(l[i], a, b, x, ev);
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
  // The one timer: cleared, then set to `fn` unless it is 0. A timer's callback zeroes `timer` first:
  // Espruino reuses the id of a fired timer, so a late clear could hit another timer.
  function arm(fn?: any, ms?: number) {
    clock.clearTimer(timer);
    timer = fn && clock.setTimer(fn, ms);
  }
  function fail(e: MqttError) { emit("error", e); }
  // the index of the packet with id `id` in `list`, or list.length
  function find(list: Msg[], id: number) {
    for (var i = 0; i < list.length && list[i].id != id; i++);
    return i;
  }
  // ---- the client ----
  var c: Client = {
    connected: false,
    connect: function () {
      ended = 0;
      start();
      return c;
    },
    publish: function (topic, payload, opts, cb) {
      if (opts && (opts as any).call) { cb = opts as Callback; opts = 0 as any; }
      var op: any = opts || 0, qos = op.qos | 0, m: Msg;
      if (!bad(topic, 0, qos, cb)) {
        payload = toBytes(payload);
        m = on && !outq.length && !qos ? tmp : { type: 3 };
        m.topic = topic; m.payload = payload; m.qos = qos; m.retain = op.retain; m.cb = cb;
        m.n = payload.length + topic.length + 4;
        if (m == tmp || on && !outq.length && infl.length < imax) send1(m); else enqueue(m);
      }
      return c;
    },
    subscribe: function (filter, opts, cb) { return sub(8, filter, opts, cb); },
    unsubscribe: function (filter, cb) { return sub(10, filter, 0, cb); },
    end: function (force, cb) {
      if (force && (force as any).call) { cb = force as Callback; force = 0 as any; }
      ended = 1;
      arm(); // the retry, or the link's timer
      if (on && !force) send(14); // DISCONNECT, a clean goodbye: no will
      if (link) lost();
      emit("end");
      safe(cb);
      return c;
    },
    on: function (ev, fn) {
      (listeners[ev] || (listeners[ev] = [])).push(fn);
      return c;
    },
    queued: function () { return outq.length; },
    inflight: function () { return infl.length; },
  };
  // ---- state ----
  var ka = (o.keepalive == null ? DEFAULTS.keepalive : o.keepalive) * 1000,
    rc: any = o.reconnect == null || o.reconnect, // true: the defaults; 0 or false: never reconnect
    q: any = o.queue || {},
    qmax = q.maxMessages || DEFAULTS.queue.maxMessages,
    qbytes = q.maxBytes || DEFAULTS.queue.maxBytes,
    imax = o.maxInflight || DEFAULTS.maxInflight,
    listeners: { [ev: string]: Function[] } = {},
    handlers: any[] = [], // filter, handler, filter, handler...: no for-in (it allocates) per message
    subs: { [filter: string]: number } = {}, // acknowledged subscriptions, renewed when a session is lost
    acks: Msg[] = [], // SUBSCRIBE/UNSUBSCRIBE awaiting SUBACK/UNSUBACK, in request order (ids wrap)
    rcvd: { [id: number]: number } = {}, held = 0, // incoming QoS 2 ids held until PUBREL, and their count
    infl: Msg[] = [], // outgoing QoS>0 awaiting PUBACK/PUBREC/PUBCOMP, in send order
    outq: Msg[] = [], queuedBytes = 0,
    link: Link | 0, on: any, ended: any, gen = 0, attempt = 0, nid = 0,
    timer: any, lastIn: number, pingOut: any,
    tmp: Msg = { type: 3 }, // a QoS 0 PUBLISH sent at once reuses one packet object
    scratch: Packet = { type: 0 }; // and so do acks, PINGREQ and DISCONNECT

  // ---- calls from the application ----
  // an error for the caller: its callback, else the error event (none for a null `e`)
  function report(cb: Callback | undefined, e: MqttError | null, x?: any) {
    if (cb) safe(cb, e, x); else if (e) fail(e);
  }
  // An invalid topic, filter or QoS from the application: reported, true.
  function bad(t: string, filter: any, qos: any, cb?: Callback) {
    var why = validTopic(t || "", filter);
    if (why || qos > 2 || qos < 0) return report(cb, err(TOPIC, why ? "topic " + t + " [MQTT-" + why + "]" : "QoS " + qos)), 1;
  }
  // Set (or with no `h`, remove) the handler of filter `f`.
  function handler(f: string, h?: Handler) {
    for (var i = 0; i < handlers.length && handlers[i] != f; i += 2);
    if (h) { handlers[i] = f; handlers[i + 1] = h; } else handlers.splice(i, 2);
  }
  // SUBSCRIBE (8) or UNSUBSCRIBE (10). Nothing is sent for an empty list or a bad filter or QoS (reported):
  // an empty or invalid request is a protocol violation, resent after every reconnect. Offline,
  // requests wait for the link: at most queue.maxMessages of them (EQUEUEFULL).
  function sub(t: number, filter: string | string[], opts: any, cb?: Callback) {
    if (opts && opts.call) { cb = opts; opts = 0; }
    var op = opts || 0, fs: any[] = [].concat(filter as any), i = 0, f: string; // our own copy
    for (; !i || i < fs.length; i++) if (bad(fs[i], 1, op.qos, cb)) return c;
    if (!on && acks.length >= qmax) report(cb, err(QUEUE_FULL, "queue full: " + fs[0]));
    else {
      for (i = 0; i < fs.length; i++) {
        f = fs[i];
        if (t > 8) { handler(f); delete subs[f]; }
        else { if (op.handler) handler(f, op.handler); fs[i] = { topic: f, qos: op.qos | 0 }; }
      }
      request({ type: t, subs: fs, topics: fs, cb: cb }); // encode reads subs for 8, topics for 10
    }
    return c;
  }

  // ---- connection lifecycle ----
  function start() {
    if (link || timer || ended) return;
    var my = ++gen, l: Link;
    opened = 0;
    dec.reset();
    arm(function () { timer = 0; lost(err(CONNECT_TIMEOUT, "no CONNACK")); }, o.connectTimeout || DEFAULTS.connectTimeout);
    try {
      l = transport(o.host || "localhost", o.port || DEFAULTS.port, {
        open: function () { if (my == gen) { opened = 1; if (link) hello(); } },
        data: function (d: string) { if (my == gen) dec.push(d); },
        close: function (e?: MqttError) { if (my == gen) lost(e || err(TRANSPORT, "connection closed")); },
      });
    } catch (e) {
      if (my == gen) lost(err(TRANSPORT, "connect: " + text(e)));
      return;
    }
    if (my == gen) { link = l; if (opened) hello(); }
  }

  function hello() {
    var w = o.will, u = o.username, pw = o.password; // (lastIn is set by the CONNACK, before keepalive starts)
    if (u == null && pw != null) u = ""; // a password needs a user name [MQTT-3.1.2-22]
    write({ type: 1, clientId: o.clientId, clean: o.clean == null || o.clean, keepalive: ka / 1000,
      will: w && { topic: w.topic, payload: toBytes(w.payload), qos: w.qos, retain: w.retain }, username: u,
      password: pw == null ? pw : toBytes(pw) });
  }

  function reopen() {
    timer = 0;
    emit("reconnect");
    start(); // unless a listener ended the client or connected it already
  }


  // ---- keepalive: one timer, re-armed to the next deadline, nothing done per packet ----
  function keepalive() {
    var t = clock.now(), m = Math.min(lastIn, lastOut);
    timer = 0;
    if (t - lastIn >= ka * 1.5) return lost(err(KEEPALIVE, "link dead"));
    if (!pingOut && t - m >= ka) { pingOut = 1; send(12); } // PINGREQ
    if (link) arm(keepalive, Math.max((pingOut ? lastIn + ka / 2 : m) + ka - t, 1));
  }

  // ---- incoming ----
  // Both ignore what follows in a chunk after the link was dropped (a second lost() would plan a
  // second retry).
  function onDecodeError(e: MqttError) {
    if (!link) return;
    if (e.code == TOO_BIG) {
      fail(e);
      if (e.id) send(e.qos + 3, e.id); // PUBACK / PUBREC: the broker must not resend it forever
    }
    else lost(e); // a protocol violation: close the link [MQTT-4.8.0-1]
  }

  function onPacket(p: Packet) {
    var t = p.type, id = p.id!, r = p.returnCode!, m: Msg, i: number, e: MqttError | null = null, s: any;
    if (!link) return;
    lastIn = clock.now();
    pingOut = 0;
    if (!on) {
      if (t != 2) return lost(malformed(t, "3.2.0-1")); // the first packet must be CONNACK
      if (!r) return up(p);
      e = err(REFUSED, "refused: " + ",unacceptable protocol version,identifier rejected,server unavailable,bad user name or password,not authorized".split(",")[r] + " (" + r + ")", t);
      e.returnCode = r;
      return lost(e);
    }
    if (t == 3) { // PUBLISH
      r = p.qos!; // read before delivery: handlers see the reused packet object
      // QoS 2: the id is held until PUBREL, so a resent message is delivered once
      if (r < 2) deliver(p);
      else if (!rcvd[id]) {
        // bounded: a broker that never sends PUBREL must not eat the device's RAM
        if (held > 63) return lost(err(QUEUE_FULL, "over 64 QoS 2 awaiting PUBREL", t));
        held++;
        rcvd[id] = 1;
        deliver(p);
      }
      if (r) send(r + 3, id); // PUBACK, PUBREC
    } else if (t == 6) { // PUBREL
      if (rcvd[id]) held--;
      delete rcvd[id];
      send(7, id); // PUBCOMP
    } else if (t < 8) { // PUBACK, PUBREC, PUBCOMP
      m = infl[i = find(infl, id)];
      if (t == 5) {
        if (m && m.qos! > 1) m.rel = true;
        send(6, id); // PUBREL, also for an id we no longer know: lets the broker finish
      } else if (m && (t == 4) == (m.qos == 1)) {
        infl.splice(i, 1);
        safe(m.cb, null);
        flush();
      }
    } else if ((t | 2) == 11 && (m = acks[i = find(acks, id)]) && m.type == t - 1) { // SUBACK, UNSUBACK answering its own request
      acks.splice(i, 1);
      if (t < 10) {
        // the granted list is the request's list, each QoS replaced by the broker's answer
        for (i = 0; i < m.subs!.length; i++) {
          s = m.subs![i];
          r = p.granted![i];
          if (r < 3) subs[s.topic] = s.qos; // else 128 (or missing): refused
          else { handler(s.topic); e = err(SUBACK_REFUSED, "SUBACK refused " + s.topic, t); }
          s.qos = r;
        }
        report(m.cb, e, m.subs);
      } else {
        // the broker answers in order: a SUBACK that arrived after unsubscribe() must not renew these
        for (i = 0; i < m.topics!.length; i++) delete subs[m.topics![i]];
        safe(m.cb, null);
      }
    }
  }

  function deliver(p: Packet) {
    var t = p.topic!, b = p.payload, i = 0;
    emit("message", t, b, p);
    for (; i < handlers.length; i += 2) if (matches(handlers[i], t)) safe(handlers[i + 1], t, b, p);
  }

  // CONNACK accepted: restore the session, then send what waited.
  function up(p: Packet) {
    var i: any, f: any = [], m: Msg, sp = p.sessionPresent;
    arm(ka && keepalive, ka); // the CONNACK deadline cleared; keepalive from now
    c.connected = on = true;
    upAt = lastOut = clock.now();
    for (i = 0; i < acks.length; i++) write(acks[i]); // SUBSCRIBE/UNSUBSCRIBE still unanswered, in request order
    if (!sp) {
      rcvd = {};
      held = 0;
      for (i in subs) f.push({ topic: i, qos: subs[i] });
      if (f.length) request({ type: 8, subs: f });
    }
    for (i = 0; i < infl.length; i++) {
      // same session: resend with DUP [MQTT-4.4.0-1]; a new session: send again as new
      m = infl[i];
      m.dup = sp;
      if (m.rel) send(6, m.id); else write(m);
    }
    if (!link) return; // a write failed: lost() ran, no `connect`
    emit("connect", p);
    flush();
  }

  // ---- outgoing ----
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
    if (m.qos) { m.id = newId(); infl.push(m); write(m); }
    else {
      write(m);
      m.payload = m.cb = 0 as any; // keep no payload alive in the reused object
      safe(cb, link ? null : err(TRANSPORT, "not sent: link lost"));
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
    for (var i: number, d: Msg, e: MqttError; outq.length >= qmax || queuedBytes + m.n! > qbytes; ) {
      for (i = 0; (d = outq[i]) && d.qos; i++);
      if (d && m.n! <= qbytes) { outq.splice(i, 1); queuedBytes -= d.n!; }
      else d = m; // no QoS 0 to drop, or too big for any room: refuse it alone
      e = err(QUEUE_FULL, "queue full: dropped " + d.topic);
      e.dropped = d.topic;
      fail(e);
      safe(d.cb, e);
      if (d == m) return;
    }
    outq.push(m);
    queuedBytes += m.n!;
  }

  var upAt: number, lastOut: number, opened: any,
    // every incoming PUBLISH is decoded into one object: `packet` in message events is valid during the call
    dec = createDecoder(o.maxPacketSize || DEFAULTS.maxPacketSize, onPacket, onDecodeError, { type: 3 });
  return c;
}
