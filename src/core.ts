// Entry of dist/mqtt-mcu.core.js: an Espruino-style CommonJS module (also require()-able by Node).
import { createClient, codes, decodeUtf8 } from "./index";

declare var EXPORTS: any; // the CommonJS `exports` of Espruino and Node (esbuild define)
EXPORTS.createClient = createClient;
EXPORTS.codes = codes;
EXPORTS.decodeUtf8 = decodeUtf8;
