// The device.json of the update tests (test/integration/ota*.test.ts).

/** The device.json of the update tests: one relay, no Home Assistant, a 10 s deadline, the broker at
 *  `port`; `extra` replaces top-level keys. */
export function otaConfig(id: string, port: number, extra: any = {}) {
  return JSON.stringify(Object.assign({
    id, broker: { host: "127.0.0.1", port, keepalive: 10 }, base: "mcu", interval: 60, homeassistant: false,
    ota: { deadline: 10 },
    actuators: [{ name: "relay", type: "digital", pin: "D5" }],
  }, extra));
}
