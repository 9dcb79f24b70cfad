// Streaming decoder: feed it chunks of any size (1 byte, or many packets at once). It frames packets by
// their remaining length, copies only the bytes of a packet that spans chunks, and skips (never buffers)
// a packet over the size limit. It never throws: packets and error values go to its owner's pkt().
//
// A decoder is two methods and a few short properties on an object of the owner's choosing: the client
// puts them on its per-link events object, so the transport's data goes straight into push, and a new
// link starts a new decoder (on Espruino a separate decoder object and its calls would cost blocks and
// time for nothing).
import { decode, Packet } from "./packets";
import { err, MALFORMED, TOO_BIG, MqttError } from "./errors";

/** Where a decoder delivers, and what it reads there: the size limit, the object every PUBLISH is
 *  decoded into (none: a new object each), and the current decoder (`ev`: a decoder whose owner has
 *  moved on to another one, a new link, stops at once and delivers nothing more). */
export interface DecoderOwner {
  dm: number;
  dk: Packet | undefined;
  ev: any;
  pkt(p: Packet | MqttError): void;
}

/** The decoder's state (properties set later are made when first needed). */
export interface DecoderState {
  c: DecoderOwner;
  /** 0: want the first byte; 1: reading remaining length; 2: skipping a QoS 1/2 PUBLISH while reading
   *  its topic length and packet id (the last two bytes shifted into di), so it can be acked;
   *  3: collecting the body; 4: skipping */
  ds: number;
  /** the first byte, the remaining length and its bytes read so far, the bytes still to come (these and
   *  the rest below exist only while a packet is read through more()) */
  df: number; dl: number; dc: number; dn: number;
  /** the body collected so far (a packet split across chunks) */
  db: string;
  /** a skipped packet: its size, and where its packet id ends (until its topic length is read, the
   *  last one: >= 4) and the id so far */
  dz: number; dp: number; de: number; di: number;
  more(chunk: string, i: number): number;
}

/** `d` starts decoding for `owner`. */
export function newDecoder(d: DecoderState, owner: DecoderOwner) {
  d.c = owner;
  d.ds = 0;
  d.db = "";
}

/** Feed bytes (a binary string), called on the decoder; or installed as it is as a socket's data listener
 *  (LinkEvents.dd: `this` the socket, whose `ev` is the decoder, or 0 once its link is gone): on
 *  Espruino a function call in between would cost about as much as decoding the packet. Short on
 *  purpose: Espruino reads the whole text of a function at every call, and this one runs for every
 *  chunk. The common case, a whole packet with a one-byte length, is decoded in place here; anything
 *  else goes through more(). */
export function push(this: any, chunk: string) {
  // (a socket's `ev` first: a property missing from a socket is looked for along its class, 1% of a
  // round trip; a dropped link's socket has `ev` 0, and no `c`)
  var d: DecoderState = this.ev || this, i = 0, n = chunk.length, b: number, c = d.c;
  for (; c && i < n && c.ev == d;) {
    // (past the end charCodeAt is NaN: not < 128)
    if (!d.ds && (b = chunk.charCodeAt(i + 1)) < 128 && (b += 2) + i <= n && b <= c.dm) c.pkt(decode(chunk.charCodeAt(i), chunk, i + 2, i += b, c.dk));
    else i = d.more(chunk, i);
  }
}

/** One step of the byte-wise decoder from chunk[i]; returns where the next step starts. */
export function more(this: DecoderState, chunk: string, i: number): number {
  // x, from y to z: the bytes of a whole packet to decode; k: an oversize packet to report (-1: none, 0:
  // without an id, else the id of the QoS 1/2 PUBLISH, so the client can acknowledge it; else the broker
  // resends it on every reconnect and it fills the broker's in-flight window)
  var d = this, n = chunk.length, s = d.ds, b: number, x: any = 0, y = 0, z = 0, k = -1, c = d.c;
  if (s > 2) { // collect or skip what this chunk holds of the body
    b = d.dn < n - i ? d.dn : n - i;
    if (s < 4) d.db += chunk.substring(i, i + b);
    i += b;
    if (!(d.dn -= b)) {
      if (s < 4) { x = d.db; z = x.length; }
      d.ds = 0;
    }
  } else {
    b = chunk.charCodeAt(i++);
    if (!s) { d.df = b; d.dl = d.dc = 0; d.ds = 1; }
    else if (s < 2) {
      d.dl += (b & 127) << 7 * d.dc++;
      if (b & 128) {
        if (d.dc > 3) { d.ds = 0; c.pkt(err(MALFORMED, "2.2.3", d.df >> 4)); } // a fifth length byte: framing is lost
      } else if (d.dn = d.dl, (d.dz = 1 + d.dc + d.dl) > c.dm) { // whole packet: fixed header + body
        d.dp = d.di = 0;
        d.de = 4;
        if (d.dl && d.df >> 4 == 3 && d.df & 6) d.ds = 2; // QoS 1/2 PUBLISH: report once its id is read
        else { d.ds = d.dl ? 4 : 0; k = 0; }
      } else if (n - i >= d.dl) { x = chunk; y = i; z = i += d.dl; } // whole body in this chunk: decoded in place
      else { d.ds = 3; d.db = ""; } // (the body is made only for a packet that spans chunks)
    } else {
      d.di = d.di << 8 | b;
      if (++d.dp == 2) d.de = d.di + 4; // topic length + its 2 bytes + 2 of packet id
      if (!--d.dn || d.dp == d.de) { // the id is read (or the packet was too short to hold one)
        d.ds = d.dn ? 4 : 0;
        k = d.dp < d.de ? 0 : d.di & 65535;
      }
    }
  }
  if (k >= 0) { // one ETOOBIG per packet
    x = err(TOO_BIG, d.dz + " > maxPacketSize " + c.dm, d.df >> 4);
    if (k) { x.id = k; x.qos = d.df >> 1 & 3; }
    c.pkt(x);
  } else if (x) {
    d.ds = 0;
    d.db = "";
    // (x becomes the packet: a body gathered from several chunks is freed before the packet is
    // delivered, not held beside its payload's copy while the application handles it)
    x = decode(d.df, x, y, z, c.dk);
    c.pkt(x);
  }
  // between packets the link keeps no state of one: what a packet read here (in pieces, skipped, or
  // with a longer length) needed goes with it (7 blocks on Espruino that would otherwise stay with the
  // link from its first such packet). The skip's fields exist only after a packet over the limit.
  if (!d.ds) {
    x = d; // (the same object, untyped: its optional fields go)
    delete x.df; delete x.dl; delete x.dc; delete x.dn; delete x.dz; delete x.db;
    if (x.de) { delete x.dp; delete x.de; delete x.di; }
  }
  return i;
}

export interface Decoder {
  /** feed bytes (a binary string) */
  push(chunk: string): void;
  /** forget any partial packet (a new connection starts clean) */
  reset(): void;
}

/** A decoder on its own, delivering to two functions (tests and tools); `pub`: an object to decode every
 *  PUBLISH into. */
export function createDecoder(maxSize: number, onPacket: (p: Packet) => void, onError: (e: MqttError) => void, pub?: Packet): Decoder {
  var o: DecoderOwner = { dm: maxSize, dk: pub, ev: 0, pkt: function (p: any) { p.code ? onError(p) : onPacket(p); } };
  function reset() { newDecoder(o.ev = { more: more, dd: 1 } as any, o); }
  reset();
  return { push: function (s) { push.call(o.ev, s); }, reset: reset };
}
