// Availability: <base>/<id>/status is "online" (retained) from each connect, and "offline" (retained)
// when the link dies without a DISCONNECT: the broker publishes the will for us.
import type { Will } from "../mqtt/packets";

export var STATUS = "status";

/** the will for a device whose topics start with `base` ("mcu/<id>/") */
export function will(base: string): Will {
  return { topic: base + STATUS, payload: "offline", qos: 1, retain: true };
}
