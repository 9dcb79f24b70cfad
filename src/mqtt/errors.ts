// The error codes. Every error the library reports is a value { code, message, ... } with one of these
// codes: callers switch on `code`, people read `message`. Never thrown across the public API.
// Inside, a code is written as its number (the constants below, which the bundler puts in as literals):
// err() makes the code's text only when an error happens, and a number is one byte of the stored bundle
// where "ETRANSPORT" is twelve. The texts, in the order of the numbers, are in err() and in E.
/** a packet broke a rule of MQTT 3.1.1; message cites the [MQTT-x.x.x-y] id */
export const MALFORMED = 0;
/** an incoming packet announced more than maxPacketSize bytes; it was skipped */
export const TOO_BIG = 1;
/** CONNACK refused the connection; `returnCode` holds 1..5 */
export const REFUSED = 2;
/** no CONNACK within connectTimeout */
export const CONNECT_TIMEOUT = 3;
/** no packet within 1.5 x keepalive after a PINGREQ: the link is dead */
export const KEEPALIVE = 4;
/** the socket failed, refused, or closed under us */
export const TRANSPORT = 5;
/** the offline queue was full; `dropped` tells which message was lost */
export const QUEUE_FULL = 6;
/** SUBACK returned 0x80 for a filter */
export const SUBSCRIBE = 7;
/** a topic or filter given by the application is invalid */
export const TOPIC = 8;
/** an application callback or listener threw; the client carried on */
export const HANDLER = 9;
export type Code = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

/** The codes' texts by name (the core's `codes`; tests). */
export const E = { MALFORMED: "EMALFORMED", TOO_BIG: "ETOOBIG", REFUSED: "EREFUSED", CONNECT_TIMEOUT: "ETIMEOUT", KEEPALIVE: "EKEEPALIVE", TRANSPORT: "ETRANSPORT", QUEUE_FULL: "EQUEUEFULL", SUBSCRIBE: "ESUBACK", TOPIC: "ETOPIC", HANDLER: "EHANDLER" } as const;

export interface MqttError {
  code: string;
  message: string;
  /** packet type number (1..14) when the error is about a packet */
  type?: number;
  [k: string]: any;
}

/** An error value: code number `n`, its text `message` (and then the text of `thrown`, something an
 *  engine or application threw, when given). With a packet type number `type`, the message
 *  names the packet ("PUBLISH: ..."). Code 0 (EMALFORMED): `message` is the id of the spec rule the packet
 *  broke ("3.3.1-4" -> "PUBLISH: [MQTT-3.3.1-4]"; "2.2.3": shorter or longer than its fields). With no
 *  arguments at all, the table of codes by name (the core's `codes` getter). One function for all, its
 *  parameters read from `arguments` (each function and each declared parameter is RAM on the device,
 *  and an error is rare); the texts are made only when an error is. */
// (__API__ false, the firmware builds: no `codes` table to give, see client.ts)
declare const __API__: boolean;
export function err(n: Code, message: string, type?: number | null, thrown?: any): MqttError;
export function err(): typeof E;
export function err(): any {
  var a = arguments, message = a[1], type = a[2], codes = "EMALFORMED,ETOOBIG,EREFUSED,ETIMEOUT,EKEEPALIVE,ETRANSPORT,EQUEUEFULL,ESUBACK,ETOPIC,EHANDLER".split(","), t: any, i: number, names: string[];
  if ((typeof __API__ == "undefined" || __API__) && !a.length) {
    names = "MALFORMED,TOO_BIG,REFUSED,CONNECT_TIMEOUT,KEEPALIVE,TRANSPORT,QUEUE_FULL,SUBSCRIBE,TOPIC,HANDLER".split(",");
    for (t = {}, i = 0; i < 10; i++) t[names[i]] = codes[i];
    return t;
  }
  if (!a[0]) message = "[MQTT-" + message + "]";
  if (a.length > 3) message += (t = a[3]) && t.message || t; // what was thrown, after the message
  if (type != null) message = (",CONNECT,CONNACK,PUBLISH,PUBACK,PUBREC,PUBREL,PUBCOMP,SUBSCRIBE,SUBACK,UNSUBSCRIBE,UNSUBACK,PINGREQ,PINGRESP,DISCONNECT".split(",")[type] || "packet") + ": " + message;
  return { code: codes[a[0]], message: message, type: type };
}

/** the text of something thrown (an Error, or whatever an engine or application threw) */
export function text(e: any): string {
  return e && e.message || e;
}
