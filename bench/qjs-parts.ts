// Entry bundled (ES5, like the device bundle) for the per-function allocation breakdown in QuickJS.
import { encode, decode } from "../src/mqtt/packets";
import { createDecoder } from "../src/mqtt/decoder";
import { matches, validTopic } from "../src/mqtt/topic";
import { encodeUtf8, toBytes } from "../src/mqtt/utf8";

declare var EXPORTS: any;
EXPORTS.encode = encode;
EXPORTS.decode = decode;
EXPORTS.createDecoder = createDecoder;
EXPORTS.matches = matches;
EXPORTS.validTopic = validTopic;
EXPORTS.encodeUtf8 = encodeUtf8;
EXPORTS.toBytes = toBytes;
