// Streaming decoder: feed it chunks of any size (1 byte, or many packets at once). It frames packets by
// their remaining length, copies only the bytes of a packet that spans chunks, and skips (never buffers)
// a packet over the size limit. It never throws: packets and error values go to the owner's pkt().
//
// It is a method and a few state properties that the client takes into its own prototype and instance
// (on Espruino a separate decoder object would cost its own functions and properties, for nothing):
// `push` runs with `this` being the owner.
import { decode, malformed, Packet } from "./packets";
import { TOO_BIG, MqttError } from "./errors";

/** The decoder's state on its owner, and the owner's pkt(), which takes every packet and every error. */
export interface DecoderState {
  /** 0: want the first byte; 1: reading remaining length; 2: skipping a QoS 1/2 PUBLISH while reading
   *  its topic length and packet id (the last two bytes shifted into di), so it can be acked;
   *  3: collecting the body; 4: skipping */
  ds: number;
  /** the first byte, the remaining length and its bytes read so far, the bytes still to come */
  df: number; dl: number; dc: number; dn: number;
  /** the body collected so far (a packet split across chunks) */
  db: string;
  /** bumped by reset: a push whose callback reset the decoder (a new link) stops at once */
  dg: number;
  /** a skipped packet: its size, and where its packet id ends (until its topic length is read, the
   *  last one: >= 4) and the id so far */
  dz: number; dp: number; de: number; di: number;
  /** the size limit, and the object every PUBLISH is decoded into (none: a new object each) */
  dm: number; dk: Packet | undefined;
  pkt(p: Packet | MqttError): void;
  more(chunk: string, i: number): number;
}

/** Set up (or, on a new link, reset) the decoder state of `d`. */
export function resetDecoder(d: DecoderState) {
  d.ds = 0;
  d.db = "";
  d.dg = (d.dg || 0) + 1;
}

/** Feed bytes (a binary string); `this` is the owner. Short on purpose: Espruino reads the whole text of
 *  a function at every call, and this one runs for every chunk. The common case, a whole packet with a
 *  one-byte length, is decoded in place here; anything else goes through more(). */
export function push(this: DecoderState, chunk: string) {
  for (var i = 0, n = chunk.length, b: number, g = this.dg; i < n && g == this.dg;) {
    // (past the end charCodeAt is NaN: not < 128)
    if (!this.ds && (b = chunk.charCodeAt(i + 1)) < 128 && (b += 2) + i <= n && b <= this.dm) this.pkt(decode(chunk.charCodeAt(i), chunk, i + 2, i += b, this.dk));
    else i = this.more(chunk, i);
  }
}

/** One step of the byte-wise decoder from chunk[i]; returns where the next step starts. */
export function more(this: DecoderState, chunk: string, i: number): number {
  // x, from y to z: the bytes of a whole packet to decode; k: an oversize packet to report (-1: none, 0:
  // without an id, else the id of the QoS 1/2 PUBLISH, so the client can acknowledge it; else the broker
  // resends it on every reconnect and it fills the broker's in-flight window)
  var n = chunk.length, s = this.ds, b: number, x: any = 0, y = 0, z = 0, k = -1;
  if (s > 2) { // collect or skip what this chunk holds of the body
    b = this.dn < n - i ? this.dn : n - i;
    if (s < 4) this.db += chunk.substring(i, i + b);
    i += b;
    if (!(this.dn -= b)) {
      if (s < 4) { x = this.db; z = x.length; }
      this.ds = 0;
    }
  } else {
    b = chunk.charCodeAt(i++);
    if (!s) { this.df = b; this.dl = this.dc = 0; this.ds = 1; }
    else if (s < 2) {
      this.dl += (b & 127) << 7 * this.dc++;
      if (b & 128) {
        if (this.dc > 3) { this.ds = 0; this.pkt(malformed(this.df >> 4, "2.2.3")); } // a fifth length byte: framing is lost
      } else if (this.dn = this.dl, (this.dz = 1 + this.dc + this.dl) > this.dm) { // whole packet: fixed header + body
        this.dp = this.di = 0;
        this.de = 4;
        if (this.dl && this.df >> 4 == 3 && this.df & 6) this.ds = 2; // QoS 1/2 PUBLISH: report once its id is read
        else { this.ds = this.dl ? 4 : 0; k = 0; }
      } else if (n - i >= this.dl) { x = chunk; y = i; z = i += this.dl; } // whole body in this chunk: decoded in place
      else this.ds = 3;
    } else {
      this.di = this.di << 8 | b;
      if (++this.dp == 2) this.de = this.di + 4; // topic length + its 2 bytes + 2 of packet id
      if (!--this.dn || this.dp == this.de) { // the id is read (or the packet was too short to hold one)
        this.ds = this.dn ? 4 : 0;
        k = this.dp < this.de ? 0 : this.di & 65535;
      }
    }
  }
  if (k >= 0) { // one ETOOBIG per packet
    x = malformed(this.df >> 4, this.dz + " > maxPacketSize " + this.dm, TOO_BIG);
    if (k) { x.id = k; x.qos = this.df >> 1 & 3; }
    this.pkt(x);
  } else if (x) {
    this.ds = 0;
    this.db = "";
    this.pkt(decode(this.df, x, y, z, this.dk));
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
  var d: DecoderState = { dm: maxSize, dk: pub, more: more, pkt: function (p: any) { p.code ? onError(p) : onPacket(p); } } as any;
  resetDecoder(d);
  return { push: function (s) { push.call(d, s); }, reset: function () { resetDecoder(d); } };
}
