// The port: all the client needs from the world. Boards and tests supply it; the core has no globals.
import type { MqttError } from "./errors";

/** What the client hands a transport: called once each, `close` at most once per link. */
export interface LinkEvents {
  /** the byte stream is ready for CONNECT */
  open(): void;
  /** bytes arrived (binary string) */
  data(bytes: string): void;
  /** 1 (the client's): `data` may also be installed as it is as a listener of an object whose `ev` is
   *  these events (or 0 once the link is gone), e.g. a socket's data listener, `this` then that object:
   *  one function call less per chunk on Espruino */
  dd?: number;
  /** the link is gone; `e` says why when it failed */
  close(e?: MqttError): void;
}

/** One connection. `write` takes a binary string; it may throw when the socket is closed. `close`
 *  ends it; without one, its `end` does (an Espruino or Node socket as it is). */
export interface Link {
  write(bytes: string): void;
  close?(): void;
  end?(): void;
}

/** Socket factory. May throw (Espruino does on a refused connect or a DNS failure). */
export type Transport = (host: string, port: number, ev: LinkEvents) => Link;

/** Time. `now()` in milliseconds; timers are one-shot. The client's default (createClient without a
 *  clock) is the engine's own: Date.now, and a clock without setTimer stands for the engine's setTimeout
 *  and clearTimeout (on Espruino an object of three functions is 13 blocks, of one 4). */
export interface Clock {
  now(): number;
  /** calls fn(arg) once after ms, as setTimeout(fn, ms, arg) does (the client passes itself: one
   *  function serves every client, where a closure per client would cost RAM on the device) */
  setTimer(fn: (arg?: any) => void, ms: number, arg?: any): any;
  clearTimer(t: any): void;
}
