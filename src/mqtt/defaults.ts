// Option defaults, in one place (README's option table mirrors this file). Each is a constant that the
// build writes into the code where it is used (esbuild inlines exported constants): none is held in the
// device's RAM.
/** broker TCP port */
export const PORT = 1883;
/** seconds; 0 disables keepalive */
export const KEEPALIVE = 60;
/** ms to wait for CONNACK */
export const CONNECT_TIMEOUT = 30000;
/** reconnect, ms: first retry within [min, 2*min], doubling up to max; a connection up for `stable` ms resets it */
export const RECONNECT_MIN = 1000, RECONNECT_MAX = 60000, RECONNECT_STABLE = 30000;
/** bytes, whole packet; larger incoming packets are skipped with an ETOOBIG error */
export const MAX_PACKET_SIZE = 4096;
/** offline/overflow queue bounds */
export const QUEUE_MESSAGES = 100, QUEUE_BYTES = 16384;
/** outgoing QoS 1/2 messages awaiting their ack at once */
export const MAX_INFLIGHT = 10;

/** the same as one object (tests, docs) */
export const DEFAULTS = {
  port: PORT,
  keepalive: KEEPALIVE,
  clean: true,
  connectTimeout: CONNECT_TIMEOUT,
  reconnect: { min: RECONNECT_MIN, max: RECONNECT_MAX, stable: RECONNECT_STABLE },
  maxPacketSize: MAX_PACKET_SIZE,
  queue: { maxMessages: QUEUE_MESSAGES, maxBytes: QUEUE_BYTES },
  maxInflight: MAX_INFLIGHT,
};
