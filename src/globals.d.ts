// Compile-time flags (esbuild/vitest `define`).
/** true in tests and tools: the codec also decodes client->server and encodes server->client packets
 *  (to play a scripted broker); false in device bundles, where those paths are dead code. */
declare const __SERVER__: boolean;

/** The engine's `require` (Espruino, IoT.js, Node), out of esbuild's sight: build/build.mjs turns it
 *  into `require` after bundling. */
declare function __REQUIRE__(m: string): any;

/** The Home Assistant entities of the device build's config, as code (build/build.mjs makes this module):
 *  entity i as [component, object id, fields], or null past the last. */
declare module "device-ha" {
  export function entity(i: number): [string, string, { [k: string]: any }] | null;
}
