// MQTT over WebSocket (RFC 6455) on top of any raw Transport (a board's tcp or tls): the HTTP
// upgrade, masked binary frames out, a streaming frame parser in. It is itself a Transport, so the
// MQTT client does not know. Payload bytes are handed to the client as they arrive (MQTT is a byte
// stream: frame boundaries do not matter), so fragmented messages and 1-byte chunks cost nothing extra.
import { err, TRANSPORT, MqttError } from "../mqtt/errors";
import type { Link, LinkEvents, Transport } from "../mqtt/port";

export interface WsOptions {
  /** request path; default "/mqtt" */
  path?: string;
  /** Sec-WebSocket-Protocol; default "mqtt" (MQTT 3.1.1 section 6) */
  protocol?: string;
  /** source of the key and the masks, in [0, 1); default Math.random */
  random?: () => number;
  /** pass `wsAccept` to check Sec-WebSocket-Accept. Off by default: it adds SHA-1 (~0.6 KB) to the
   *  bundle and guards against a confused proxy, not an attacker (TLS does that). */
  accept?: (key: string) => string;
}

var B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** base64 of a binary string */
export function base64(s: string): string {
  var r = "", i = 0, n: number, l = s.length;
  for (; i < l; i += 3) {
    // past the end charCodeAt gives NaN, and NaN & 255 is 0
    n = (s.charCodeAt(i) & 255) << 16 | (s.charCodeAt(i + 1) & 255) << 8 | s.charCodeAt(i + 2) & 255;
    r += B64.charAt(n >> 18 & 63) + B64.charAt(n >> 12 & 63) + (i + 1 < l ? B64.charAt(n >> 6 & 63) : "=") + (i + 2 < l ? B64.charAt(n & 63) : "=");
  }
  return r;
}

function rol(x: number, n: number) { return x << n | x >>> 32 - n; }

/** SHA-1 of a binary string, as a 20-byte binary string */
export function sha1(s: string): string {
  var n = s.length, blocks = (n + 8 >> 6) + 1, m: number[] = [], w: number[] = [],
    h = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0], i: number, j: number, t: number,
    a: number, b: number, c: number, d: number, e: number, r = "";
  for (i = 0; i < blocks * 16; i++) m[i] = 0;
  for (i = 0; i < n; i++) m[i >> 2] |= (s.charCodeAt(i) & 255) << 24 - (i & 3) * 8;
  m[n >> 2] |= 0x80 << 24 - (n & 3) * 8;
  m[blocks * 16 - 1] = n * 8;
  for (i = 0; i < m.length; i += 16) {
    a = h[0]; b = h[1]; c = h[2]; d = h[3]; e = h[4];
    for (j = 0; j < 80; j++) {
      w[j] = j < 16 ? m[i + j] : rol(w[j - 3] ^ w[j - 8] ^ w[j - 14] ^ w[j - 16], 1);
      t = (rol(a, 5) + e + w[j] + (j < 20 ? (b & c | ~b & d) + 0x5a827999 : j < 40 ? (b ^ c ^ d) + 0x6ed9eba1 :
        j < 60 ? (b & c | b & d | c & d) + 0x8f1bbcdc : (b ^ c ^ d) + 0xca62c1d6)) | 0;
      e = d; d = c; c = rol(b, 30); b = a; a = t;
    }
    h[0] = h[0] + a | 0; h[1] = h[1] + b | 0; h[2] = h[2] + c | 0; h[3] = h[3] + d | 0; h[4] = h[4] + e | 0;
  }
  for (i = 0; i < 20; i++) r += String.fromCharCode(h[i >> 2] >>> 24 - (i & 3) * 8 & 255);
  return r;
}

/** the Sec-WebSocket-Accept a server must answer to `key` (RFC 6455 section 4.2.2) */
export function wsAccept(key: string): string {
  return base64(sha1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"));
}

function rbyte(rnd: () => number) { return rnd() * 256 & 255; }

// One link: an object per connection, its state in short properties and its code on WS, shared by every
// link. Inner functions per link cost RAM on Espruino (a closure-built link was ~190 blocks more than a
// TCP link, enough to run an ESP8266 out of memory when it re-announced after a reconnect), and so does
// each method (~8 blocks): five do it all. The link is the inner link's events; the client gets a small
// LINK object that points to it (`close` means a different thing each way).
interface Ws extends LinkEvents {
  /** the client's events; the inner link; the options; "host:port"; the Sec-WebSocket-Key */
  ev: LinkEvents; l: Link | 0; o: WsOptions; hp: string; k: string;
  /** the upgrade response so far (null once upgraded) */
  hs: string | null;
  /** done; the upgrade was asked; closing (no more frames go out) */
  dn: number; as: number; cl: number;
  /** frame header bytes so far, its length; payload bytes left (-1: a header next); opcode; in a
   *  fragmented message; a control frame's payload; the mask of the frame going out */
  h: string; hn: number; lf: number; oc: number; fg: number; ct: string; K: number[];
  /** end the link, telling the client why; with `cf`, a close frame (its payload) goes out first */
  end(e?: MqttError, cf?: string): void;
  send(c: number, d: string): void;
}

// a frame goes out in writes of this many bytes: no second copy of a whole packet in RAM
var CHUNK = 64;

var WS = {
  // the inner link is open (called once more by wsTransport, when the link exists): ask for the upgrade
  open: function () {
    var w = this;
    if (!w.l) return void (w.as = -1); // (opened while being made: wsTransport calls again)
    if (w.as > 0 || w.dn) return;
    w.as = 1;
    w.l.write("GET " + (w.o.path || "/mqtt") + " HTTP/1.1\r\nHost: " + w.hp +
      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + w.k +
      "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: " + (w.o.protocol || "mqtt") + "\r\n\r\n");
  },
  close: function (e?: MqttError) { this.end(e || (this.hs != null ? err(TRANSPORT, "websocket: connection closed before the upgrade") : undefined)); },
  end: function (e?: MqttError, cf?: string) {
    var w = this;
    if (w.dn) return;
    if (cf != null) try { w.send(8, cf); } catch (x) {}
    w.cl = w.dn = 1;
    if (w.l) try { (w.l.close || w.l.end)!.call(w.l); } catch (x) {} // (Link: close, or a socket's own end)
    w.ev.close(e);
  },
  // one frame, FIN set, masked with a fresh key (RFC 6455 section 5.3), written CHUNK bytes at a time
  send: function (c: number, d: string) {
    var w = this, n = d.length, f = String.fromCharCode, j = 0, r: string, K = w.K, l = w.l, rnd = w.o.random || Math.random;
    if (!l || w.cl) return;
    for (; j < 4; j++) K[j] = rbyte(rnd);
    r = f(128 | c) + (n < 126 ? f(128 | n) : n < 65536 ? f(254, n >> 8, n & 255) :
      f(255, 0, 0, 0, 0, n >>> 24, n >> 16 & 255, n >> 8 & 255, n & 255)) + f(K[0], K[1], K[2], K[3]);
    for (j = 0; j < n; j++) {
      r += f(d.charCodeAt(j) ^ K[j & 3]);
      if (r.length >= CHUNK) { l.write(r); r = ""; }
    }
    if (r) l.write(r);
  },
  // bytes from the inner link: the upgrade response, then frames
  data: function (d: string) {
    var w = this, j = 0, n: number, p: string, b0: number, b1: number, h: string, hs = w.hs, c: number, ct: string;
    if (w.dn) return;
    if (hs != null) {
      hs += d;
      j = hs.indexOf("\r\n\r\n");
      if (j < 0) {
        w.hs = hs;
        if (hs.length > 4096) w.end(err(TRANSPORT, "websocket: upgrade response too long"), "\x03\xea");
        return;
      }
      h = hs.substr(0, j);
      d = hs.substr(j + 4);
      w.hs = null;
      j = 0;
      p = h.split("\r\n")[0];
      if (p.substr(9, 3) != "101") return w.end(err(TRANSPORT, "websocket upgrade refused: " + p));
      if (w.o.accept) {
        n = h.toLowerCase().indexOf("\r\nsec-websocket-accept:");
        p = n < 0 ? "" : h.substr(n + 23).split("\r\n")[0].split(" ").join("");
        if (p != w.o.accept(w.k)) return w.end(err(TRANSPORT, "websocket upgrade: bad Sec-WebSocket-Accept"));
      }
      w.ev.open();
    }
    while (j < d.length && !w.dn) {
      if (w.lf < 0) {
        // header bytes, one at a time: at most 10 of them (a server never masks)
        h = w.h += d.substr(j++, 1); // not charAt: on Espruino for Linux it gives a UTF-8 string for a byte >= 0x80, and += appends 2 bytes
        b1 = h.charCodeAt(1) & 127;
        if (h.length == 2) w.hn = b1 == 126 ? 4 : b1 == 127 ? 10 : 2;
        if (h.length < w.hn) continue;
        b0 = h.charCodeAt(0);
        b1 = h.charCodeAt(1);
        c = w.oc = b0 & 15;
        n = b1 & 127;
        if (n > 125) for (n = 0, p = h.substr(2); p; p = p.substr(1)) n = n * 256 + p.charCodeAt(0);
        w.h = "";
        w.hn = 2;
        p = b0 & 112 ? "reserved bits set" : b1 & 128 ? "masked frame from the server" : n > 0x7fffffff ? "frame too big" :
          c & 8 ? (b0 & 128 && n < 126 ? (c > 10 ? "unknown opcode " + c : "") : "bad control frame") :
          c == 1 ? "text frame (MQTT needs binary) [MQTT-6.0.0-1]" :
          (c == 2 ? w.fg : c || !w.fg) ? (c > 2 ? "unknown opcode " + c : "bad fragmentation") : "";
        // a protocol violation: say why with a close frame (1002; 1003 for text), then drop the link
        if (p) return w.end(err(TRANSPORT, "websocket: " + p), c == 1 ? "\x03\xeb" : "\x03\xea");
        if (!(c & 8)) w.fg = b0 & 128 ? 0 : 1;
        w.lf = n;
      } else {
        n = Math.min(w.lf, d.length - j);
        p = j || n < d.length ? d.substr(j, n) : d;
        j += n;
        w.lf -= n;
        if (w.oc & 8) w.ct += p; else w.ev.data(p);
      }
      if (w.lf) continue;
      // the end of a frame
      ct = w.ct;
      w.lf = -1;
      w.ct = "";
      // the pong: a write that throws (socket closed) ends the link here, not inside the socket's data callback
      if (w.oc == 9) try { w.send(10, ct); } catch (x) { w.end(err(TRANSPORT, "websocket: pong not sent")); }
      // a close: echo it (RFC 6455 section 5.5.1), then drop the link
      else if (w.oc == 8) w.end(err(TRANSPORT, "websocket closed by the server (" + (ct.length > 1 ? ct.charCodeAt(0) << 8 | ct.charCodeAt(1) : 1005) +
        (ct.length > 2 ? " " + ct.substr(2) : "") + ")"), ct.substr(0, 2));
    }
  },
} as ThisType<Ws> & Partial<Ws>;

// What the client holds: write a binary frame; close with a close frame (1000: normal closure).
var LINK = {
  write: function (d: string) { this.w.send(2, d); },
  close: function () {
    var w = this.w;
    try { w.send(8, "\x03\xe8"); } catch (x) {}
    w.cl = w.dn = 1;
    if (w.l) (w.l.close || w.l.end)!.call(w.l);
  },
} as ThisType<{ w: Ws }>;

/** WebSocket transport over `inner` (host and port are the broker's websocket listener). */
export function wsTransport(inner: Transport, o?: WsOptions): Transport {
  var op = o || {};
  return function (host, port, ev) {
    var w: Ws = Object.create(WS), lk = Object.create(LINK), k = "", i = 0;
    for (; i < 16; i++) k += String.fromCharCode(rbyte(op.random || Math.random));
    w.k = base64(k);
    w.ev = ev;
    w.o = op;
    w.hp = host + ":" + port;
    w.hs = w.h = w.ct = "";
    w.l = w.dn = w.as = w.cl = w.oc = w.fg = 0;
    w.hn = 2;
    w.lf = -1;
    w.K = [0, 0, 0, 0];
    w.l = inner(host, port, w);
    if (w.dn) { try { (w.l.close || w.l.end)!.call(w.l); } catch (x) {} }
    // the inner link opened while it was being made (as = -1): ask for the upgrade now
    else if (w.as < 0) { w.as = 0; w.open(); }
    lk.w = w;
    return lk;
  };
}
