// Entry of dist/mqtt-mcu.core.js: an Espruino-style CommonJS module (also require()-able by Node),
// bundled as top-level code (no wrapper function: Espruino gives a module its own scope).
import { createClient, decodeUtf8 } from "./index";
import { err } from "./mqtt/errors";

declare var EXPORTS: any; // the CommonJS `exports` of Espruino and Node (esbuild define)
EXPORTS.createClient = createClient;
EXPORTS.decodeUtf8 = decodeUtf8;
// the error-code table, made when it is read (by err(): a getter is called with no arguments)
Object.defineProperty(EXPORTS, "codes", { get: err, enumerable: true });
