// Option defaults, in one place (README's option table mirrors this file).
export const DEFAULTS = {
  /** broker TCP port */
  port: 1883,
  /** seconds; 0 disables keepalive */
  keepalive: 60,
  /** clean session */
  clean: true,
  /** ms to wait for CONNACK */
  connectTimeout: 30000,
  /** ms: first retry within [min, 2*min], doubling up to max; a connection up for `stable` ms resets it */
  reconnect: { min: 1000, max: 60000, stable: 30000 },
  /** bytes, whole packet; larger incoming packets are skipped with an ETOOBIG error */
  maxPacketSize: 4096,
  /** offline/overflow queue bounds */
  queue: { maxMessages: 100, maxBytes: 16384 },
  /** outgoing QoS 1/2 messages awaiting their ack at once */
  maxInflight: 10,
};
