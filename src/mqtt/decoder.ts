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
  // state 0: want the first byte; 1: reading remaining length; 2: collecting the body; 3: skipping;
  // 4: skipping a QoS 1/2 PUBLISH while reading its topic length (tl) and packet id, so it can be acked
  // gen: bumped by reset(), so a push() whose callback reset the decoder (a new link) stops at once
  var state = 0, first = 0, len = 0, lb = 0, need = 0, body = "", gen = 0, pos = 0, tl = 0, id = 0, big = 0;

  // one ETOOBIG per packet; for a QoS 1/2 PUBLISH with its id, so the client can acknowledge it (else
  // the broker resends it on every reconnect and it fills the broker's in-flight window)
  function tooBig(size: number) {
    var e = err(TOO_BIG, NAMES[first >> 4] + ": " + size + " > maxPacketSize " + maxSize, first >> 4);
    if (id) { e.id = id; e.qos = first >> 1 & 3; }
    onError(e);
  }

  function done(bytes: string, start?: number, end?: number) {
    state = 0;
    body = "";
    var p: any = decode(first, bytes, start, end, pub);
    if (p.code) onError(p); else onPacket(p);
  }

  return {
    reset: function () { state = 0; body = ""; gen++; },
    push: function (chunk: string) {
      for (var i = 0, n = chunk.length, b: number, g = gen; i < n && g == gen;) {
        if (!state) {
          first = chunk.charCodeAt(i++); len = lb = 0; state = 1;
        } else if (state < 2) {
          b = chunk.charCodeAt(i++);
          len += (b & 127) << 7 * lb++;
          if (b & 128) {
            if (lb > 3) { state = 0; onError(malformed(first >> 4, "2.2.3")); } // a fifth length byte: framing is lost
          } else if ((need = 1 + lb + len) > maxSize) { // whole packet: fixed header + body
            pos = tl = id = 0;
            if (len && first >> 4 == 3 && first & 6) { state = 4; big = need; } // QoS 1/2 PUBLISH: report once its id is read
            else { state = len ? 3 : 0; tooBig(need); }
            need = len;
          } else if (n - i >= len) done(chunk, i, i += len); // whole body in this chunk: decoded in place
          else { need = len; state = 2; }
        } else if (state > 3) {
          b = chunk.charCodeAt(i++);
          need--;
          if (pos < 2) tl = tl << 8 | b;
          else if (pos >= tl + 2) id = id << 8 | b;
          if (++pos == tl + 4 || !need) { // the id is read (or the packet was too short to hold one)
            if (pos < tl + 4) id = 0;
            state = need ? 3 : 0;
            tooBig(big);
          }
        } else {
          b = need < n - i ? need : n - i;
          if (state < 3) body += chunk.substring(i, i + b);
          i += b;
          if (!(need -= b)) { if (state < 3) done(body); else state = 0; }
        }
      }
    },
  };
}
