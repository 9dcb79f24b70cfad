// Streaming decoder: feed it chunks of any size (1 byte, or many packets at once). It frames packets by
// their remaining length, copies only the bytes of a packet that spans chunks, and skips (never buffers)
// a packet over the size limit. It never throws: packets and error values go to the two callbacks.
import { decode, isError, NAMES, Packet } from "./packets";
import { E, err, MqttError } from "./errors";

export interface Decoder {
  /** feed bytes (a binary string) */
  push(chunk: string): void;
  /** forget any partial packet (a new connection starts clean) */
  reset(): void;
}

export function createDecoder(maxSize: number, onPacket: (p: Packet) => void, onError: (e: MqttError) => void): Decoder {
  // state 0: want the first byte; 1: reading remaining length; 2: collecting the body; 3: skipping
  var state = 0, first = 0, len = 0, mul = 1, lb = 0, need = 0, body = "";

  function done(bytes: string) {
    state = 0;
    body = "";
    var p = decode(first, bytes);
    if (isError(p)) onError(p); else onPacket(p);
  }

  return {
    reset: function () { state = 0; body = ""; },
    push: function (chunk: string) {
      var i = 0, n = chunk.length, b: number, take: number;
      while (i < n) {
        if (state == 0) {
          first = chunk.charCodeAt(i++); len = 0; mul = 1; lb = 0; state = 1;
        } else if (state == 1) {
          b = chunk.charCodeAt(i++);
          len += (b & 127) * mul;
          mul *= 128;
          lb++;
          if (b & 128) {
            if (lb == 4) { // a fifth length byte: framing is lost
              state = 0;
              onError(err(E.MALFORMED, NAMES[first >> 4] + ": remaining length over 4 bytes [MQTT-2.2.3]", first >> 4));
            }
            continue;
          }
          if ((need = 1 + lb + len) > maxSize) { // whole packet: fixed header + body
            state = 3;
            onError(err(E.TOO_BIG, NAMES[first >> 4] + " of " + need + " bytes over maxPacketSize " + maxSize + ": skipped", first >> 4));
            if (!(need = len)) state = 0;
          } else if (!len) done("");
          else if (n - i >= len) { done(chunk.substring(i, i + len)); i += len; } // whole body here: no copy
          else { need = len; state = 2; }
        } else {
          take = need < n - i ? need : n - i;
          if (state == 2) body += chunk.substring(i, i + take);
          i += take;
          if (!(need -= take)) { if (state == 2) done(body); else state = 0; }
        }
      }
    },
  };
}
