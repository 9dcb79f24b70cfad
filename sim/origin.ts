// Browsers let any web page open a WebSocket to 127.0.0.1 (no same-origin rule, and Host is ours), so
// the simulator's WebSocket servers check Origin themselves: only the simulator's own page may connect.
// A request without Origin comes from a non-browser client (mqtt.js in Node, MQTT Explorer): allowed.

/** Origin absent, or the page's own: http://127.0.0.1:<webPort> or http://localhost:<webPort>. No
 *  webPort: no browser page may connect. */
export function originAllowed(origin: string | undefined, webPort: number | undefined): boolean {
  if (origin === undefined) return true;
  if (webPort === undefined) return false;
  return [`http://127.0.0.1:${webPort}`, `http://localhost:${webPort}`].includes(origin.toLowerCase());
}
