// Streaming decoder: feed it chunks of any size (1 byte, or many packets at once). It frames packets by
// their remaining length, copies only the bytes of a packet that spans chunks, and skips (never buffers)
// a packet over the size limit. It never throws: packets and error values go to the two callbacks.
import { decode, malformed, NAMES, Packet } from "./packets";
import { TOO_BIG, err, MqttError } from "./errors";

export interface Decoder {
  /** feed bytes (a binary string) */
  push(chunk: string): void;
  /** forget any partial packet (a new connection starts clean) */
  reset(): void;
}

/** `pub`: an object to decode every PUBLISH into (the client's: no allocation per message); without it
 *  each packet is a new object. */
export function createDecoder(maxSize: number, onPacket: (p: Packet) => void, onError: (e: MqttError) => void, pub?: Packet): Decoder {
  // state 0: want the first byte; 1: reading remaining length; 2: skipping a QoS 1/2 PUBLISH while
  // reading its topic length and packet id (the last two bytes shifted into id), so it can be acked;
  // 3: collecting the body; 4: skipping. need: bytes still to come; big: the size of a skipped packet;
  // end: where the packet id of a skipped PUBLISH ends (until its topic length is read, the last one: >= 4).
  // gen: bumped by reset(), so a push() whose callback reset the decoder (a new link) stops at once
  var state = 0, first: number, len: number, lb: number, need: number, body = "", gen = 0, pos: number, end = 4, id: number, big: number;

  // one ETOOBIG per packet; for a QoS 1/2 PUBLISH with its id `x`, so the client can acknowledge it (else
  // the broker resends it on every reconnect and it fills the broker's in-flight window)
  function tooBig(x: number) {
    var e = err(TOO_BIG, NAMES[first >> 4] + ": " + big + " > maxPacketSize " + maxSize, first >> 4);
    if (x) { e.id = x; e.qos = first >> 1 & 3; }
    onError(e);
  }

  function done(bytes: string, start?: number, end?: number) {
    state = 0;
    body = "";
    var p: any = decode(first, bytes, start, end, pub);
    p.code ? onError(p) : onPacket(p);
  }

  return {
    reset: function () { state = 0; body = ""; gen++; },
    push: function (chunk: string) {
      for (var i = 0, n = chunk.length, b: number, g = gen; i < n && g == gen;) {
        if (state > 2) { // collect or skip what this chunk holds of the body
          b = need < n - i ? need : n - i;
          if (state < 4) body += chunk.substring(i, i + b);
          i += b;
          if (!(need -= b)) state < 4 ? done(body) : state = 0;
        } else {
          b = chunk.charCodeAt(i++);
          if (!state) { first = b; len = lb = 0; state = 1; }
          else if (state < 2) {
            len += (b & 127) << 7 * lb++;
            if (b & 128) {
              if (lb > 3) { state = 0; onError(malformed(first >> 4)); } // a fifth length byte: framing is lost
            } else if (need = len, (big = 1 + lb + len) > maxSize) { // whole packet: fixed header + body
              pos = id = 0;
              if (len && first >> 4 == 3 && first & 6) state = 2; // QoS 1/2 PUBLISH: report once its id is read
              else { state = len ? 4 : 0; tooBig(0); }
            } else if (n - i >= len) done(chunk, i, i += len); // whole body in this chunk: decoded in place
            else state = 3;
          } else {
            id = id << 8 | b;
            if (++pos == 2) end = id + 4; // topic length + its 2 bytes + 2 of packet id
            if (!--need || pos == end) { // the id is read (or the packet was too short to hold one)
              state = need ? 4 : 0;
              tooBig(pos < end ? 0 : id & 65535);
            }
          }
        }
      }
    },
  };
}
