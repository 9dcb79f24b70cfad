// The error-code table. Every error the library reports is a value { code, message, ... } with one of
// these codes: callers switch on `code`, people read `message`. Never thrown across the public API.
// One constant per code, and the table of them. The device code writes the codes as literals (typed by
// `Code`): a string held by the module would sit in the device's RAM for ever, while a literal in a
// function body stays in flash until the error happens.
/** a packet broke a rule of MQTT 3.1.1; message cites the [MQTT-x.x.x-y] id */
export const MALFORMED = "EMALFORMED";
/** an incoming packet announced more than maxPacketSize bytes; it was skipped */
export const TOO_BIG = "ETOOBIG";
/** CONNACK refused the connection; `returnCode` holds 1..5 */
export const REFUSED = "EREFUSED";
/** no CONNACK within connectTimeout */
export const CONNECT_TIMEOUT = "ETIMEOUT";
/** no packet within 1.5 x keepalive after a PINGREQ: the link is dead */
export const KEEPALIVE = "EKEEPALIVE";
/** the socket failed, refused, or closed under us */
export const TRANSPORT = "ETRANSPORT";
/** the offline queue was full; `dropped` tells which message was lost */
export const QUEUE_FULL = "EQUEUEFULL";
/** SUBACK returned 0x80 for a filter */
export const SUBSCRIBE = "ESUBACK";
/** a topic or filter given by the application is invalid */
export const TOPIC = "ETOPIC";
/** an application callback or listener threw; the client carried on */
export const HANDLER = "EHANDLER";

export const E = { MALFORMED: MALFORMED, TOO_BIG: TOO_BIG, REFUSED: REFUSED, CONNECT_TIMEOUT: CONNECT_TIMEOUT, KEEPALIVE: KEEPALIVE, TRANSPORT: TRANSPORT, QUEUE_FULL: QUEUE_FULL, SUBSCRIBE: SUBSCRIBE, TOPIC: TOPIC, HANDLER: HANDLER } as const;

export type Code = typeof E[keyof typeof E];

export interface MqttError {
  code: string;
  message: string;
  /** packet type number (1..14) when the error is about a packet */
  type?: number;
  [k: string]: any;
}

/** An error value. With a packet type number `type`, the message names the packet ("PUBLISH: ...").
 *  Without a `code` it is an EMALFORMED error and `message` is the id of the spec rule the packet broke
 *  ("3.3.1-4" -> "PUBLISH: [MQTT-3.3.1-4]"; "2.2.3": shorter or longer than its fields). With no
 *  arguments at all, the table of codes (the core's `codes` getter). One function for all three, its
 *  parameters read from `arguments` (each function and each declared parameter is RAM on the device,
 *  and an error is rare); the names are made only when an error is. */
// (__API__ false, the firmware builds: no `codes` table to give, see client.ts)
declare const __API__: boolean;
export function err(code: Code | 0, message: string, type?: number): MqttError;
export function err(): typeof E;
export function err(): any {
  var a = arguments, code = a[0], message = a[1], type = a[2];
  if ((typeof __API__ == "undefined" || __API__) && !a.length) return { MALFORMED: MALFORMED, TOO_BIG: TOO_BIG, REFUSED: REFUSED, CONNECT_TIMEOUT: CONNECT_TIMEOUT, KEEPALIVE: KEEPALIVE, TRANSPORT: TRANSPORT, QUEUE_FULL: QUEUE_FULL, SUBSCRIBE: SUBSCRIBE, TOPIC: TOPIC, HANDLER: HANDLER };
  if (!code) { code = "EMALFORMED"; message = "[MQTT-" + message + "]"; }
  if (type != null) message = "packet,CONNECT,CONNACK,PUBLISH,PUBACK,PUBREC,PUBREL,PUBCOMP,SUBSCRIBE,SUBACK,UNSUBSCRIBE,UNSUBACK,PINGREQ,PINGRESP,DISCONNECT,packet".split(",")[type] + ": " + message;
  return { code: code, message: message, type: type };
}

/** the text of something thrown (an Error, or whatever an engine or application threw) */
export function text(e: any): string {
  return e && e.message || e;
}
