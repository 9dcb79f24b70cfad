// Compile-time flags (esbuild/vitest `define`).
/** true in tests and tools: the codec also decodes client->server and encodes server->client packets
 *  (to play a scripted broker); false in device bundles, where those paths are dead code. */
declare const __SERVER__: boolean;
