// In-memory transports for the client's port (src/mqtt/port.ts), no sockets:
//  - pair(): each connection the client opens gets a peer side that the test drives by hand
//    (send bytes, read what the client wrote, close it, make writes fail);
//  - scriptedBroker(): a broker script per connection, like Mosquitto's own client tests: expect the
//    exact bytes the client writes, reply with bytes, close. A mismatch is recorded, never thrown into
//    the client, and `check()` fails the test with both byte strings in hex.
import { decode, isError, Packet } from "../../src/mqtt/packets";
import type { LinkEvents, Transport } from "../../src/mqtt/port";
import type { FakeClock } from "./fake-clock";

/** "10 0c 00 04 'MQTT'" -> binary string. Quoted parts are ASCII text. */
export function hex(s: string): string {
  let out = "";
  for (const part of s.match(/'[^']*'|[0-9a-fA-F]{2}/g) || []) {
    out += part[0] === "'" ? part.slice(1, -1) : String.fromCharCode(parseInt(part, 16));
  }
  return out;
}

/** binary string -> "10 0c 00 04 ..." */
export function toHex(b: string): string {
  return Array.from(b, (c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join(" ");
}

/** Split a byte stream into whole MQTT packets (decoded with the codec's broker side). */
export function parsePackets(b: string): { packets: Packet[]; rest: string } {
  const packets: Packet[] = [];
  let i = 0;
  for (;;) {
    if (i + 2 > b.length) break;
    let len = 0, mul = 1, j = i + 1, c: number;
    do { c = b.charCodeAt(j++); len += (c & 127) * mul; mul *= 128; } while (c & 128 && j < b.length);
    if (c & 128 || j + len > b.length) break;
    const p = decode(b.charCodeAt(i), b.substring(j, j + len));
    if (isError(p)) throw new Error("client wrote a malformed packet: " + p.message + " in " + toHex(b.substring(i, j + len)));
    packets.push(p);
    i = j + len;
  }
  return { packets, rest: b.substring(i) };
}

export interface Peer {
  /** which call of the socket factory made this link: 0 for the first (refused calls count too) */
  n: number;
  host: string;
  port: number;
  /** every byte the client wrote on this link */
  written: string;
  /** true once the client closed the link (or the peer did) */
  closed: boolean;
  /** the client closed it (as opposed to the peer) */
  closedByClient: boolean;
  /** make the client's next writes throw, as a socket that broke */
  failWrites: boolean;
  /** tell the client the stream is ready (done at once unless pair({ autoOpen: false })) */
  open(): void;
  /** bytes from the broker to the client */
  send(bytes: string): void;
  /** the broker closes the link */
  end(): void;
  /** bytes the client wrote that no take()/packets() has read yet, now marked read */
  take(): string;
  /** the unread bytes as decoded packets (whole packets only) */
  packets(): Packet[];
}

export interface PairOptions {
  /** call the client's open() inside the factory (default true); false: the test calls peer.open() */
  autoOpen?: boolean;
  /** runs first in each factory call `n`; throwing from it makes the factory throw */
  onConnect?(n: number): void;
  /** runs after each write of the client */
  onWrite?(peer: Peer): void;
}

export interface Pair {
  transport: Transport;
  /** the links made so far (refused factory calls make none) */
  links: Peer[];
  /** the most recent link */
  last(): Peer;
  /** make the next `n` factory calls throw `message`, as Espruino's connect() does on a refusal */
  refuse(n: number, message?: string): void;
  /** factory calls so far, refused ones included */
  calls: number;
}

export function pair(opts: PairOptions = {}): Pair {
  let refusals = 0, refusal = "Unable to create socket";
  const links: Peer[] = [];
  const P: Pair = {
    links,
    calls: 0,
    last: () => links[links.length - 1],
    refuse(n, message) { refusals = n; if (message) refusal = message; },
    transport(host: string, port: number, ev: LinkEvents) {
      const n = P.calls++;
      if (opts.onConnect) opts.onConnect(n);
      if (refusals > 0) { refusals--; throw new Error(refusal); }
      let read = 0;
      const peer: Peer = {
        n, host, port, written: "", closed: false, closedByClient: false, failWrites: false,
        open() { if (!peer.closed) ev.open(); },
        send(bytes) { if (!peer.closed) ev.data(bytes); },
        end() { if (!peer.closed) { peer.closed = true; ev.close(); } },
        take() { const s = peer.written.substring(read); read = peer.written.length; return s; },
        packets() {
          const { packets, rest } = parsePackets(peer.written.substring(read));
          read = peer.written.length - rest.length;
          return packets;
        },
      };
      links.push(peer);
      if (opts.autoOpen !== false) ev.open();
      return {
        write(bytes: string) {
          if (peer.closed) throw new Error("This socket is closed");
          if (peer.failWrites) throw new Error("write EPIPE");
          peer.written += bytes;
          if (opts.onWrite) opts.onWrite(peer);
        },
        close() { if (!peer.closed) peer.closed = peer.closedByClient = true; },
      };
    },
  };
  return P;
}

/** One step of a connection's script. */
export type Step =
  | { expect: string; note?: string } // the exact bytes the client must write next
  | { send: string } // bytes to the client
  | { close: true } // the broker closes the link
  | { refuse: string }; // (a connection's only step) the socket factory throws this

export interface ScriptedBroker extends Pair {
  /** mismatches and unexpected bytes so far */
  errors: string[];
  /** throw (failing the test) unless every connection's script ran to its end with no mismatch */
  check(): void;
}

/**
 * A broker that plays `script[i]` on the client's i-th call of the socket factory. Replies go out
 * through `clock` timers after `latency` ms (0: on the next clock.advance()), as a real socket answers
 * later; without a clock they are delivered at once, inside the client's write.
 */
export function scriptedBroker(script: Step[][], opts: { clock?: FakeClock; latency?: number } = {}): ScriptedBroker {
  const errors: string[] = [];
  const pos: number[] = [];
  const buf: string[] = [];
  const deliver = (fn: () => void) => (opts.clock ? opts.clock.setTimer(fn, opts.latency || 0) : fn());

  // run the sends and closes that follow, up to the next expect
  function play(peer: Peer) {
    const steps = script[peer.n] || [];
    while (pos[peer.n] < steps.length) {
      const s = steps[pos[peer.n]];
      if ("expect" in s) break;
      pos[peer.n]++;
      if ("send" in s) { const b = s.send; deliver(() => peer.send(b)); }
      else if ("close" in s) deliver(() => peer.end());
    }
  }

  const P = pair({
    onConnect(n) {
      const steps = script[n];
      pos[n] = 0;
      buf[n] = "";
      if (!steps) { errors.push(`connection ${n}: not in the script`); return; }
      const s = steps[0];
      if (s && "refuse" in s) { pos[n] = 1; throw new Error(s.refuse); }
      // steps before the first expect run once the link exists: queue them behind the factory
      if (s && !("expect" in s)) deliver(() => play(P.last()));
    },
    onWrite(peer) {
      const steps = script[peer.n] || [];
      buf[peer.n] += peer.take();
      while (buf[peer.n].length) {
        const s = steps[pos[peer.n]];
        if (!s || !("expect" in s)) {
          errors.push(`connection ${peer.n}: unexpected bytes from the client after step ${pos[peer.n]}: ${toHex(buf[peer.n])}`);
          buf[peer.n] = "";
          return;
        }
        const want = s.expect, have = buf[peer.n];
        const got = have.substring(0, want.length);
        if (got !== want.substring(0, got.length)) {
          errors.push(`connection ${peer.n} step ${pos[peer.n]}${s.note ? " (" + s.note + ")" : ""}: expected ${toHex(want)}\n  got ${toHex(have)}`);
          buf[peer.n] = "";
          pos[peer.n] = steps.length; // this script stops here
          return;
        }
        if (got.length < want.length) return; // the rest comes in a later write
        buf[peer.n] = have.substring(want.length);
        pos[peer.n]++;
        play(peer);
      }
    },
  });

  return Object.assign(P, {
    errors,
    check() {
      const left: string[] = [];
      script.forEach((steps, i) => {
        const at = pos[i] || 0;
        if (at < steps.length) {
          const s = steps[at];
          left.push(`connection ${i}: stopped before step ${at} of ${steps.length}` + ("expect" in s ? " (waiting for " + toHex(s.expect) + ")" : ""));
        }
      });
      if (errors.length || left.length) throw new Error("scripted broker:\n" + errors.concat(left).join("\n"));
    },
  });
}
