// The Storage layout of an updatable Espruino device (README "Updates over MQTT"), in one place for the
// flash command, the update command (build/ota.mjs), the simulator and the tests:
//
//   .bootcde   the boot selector (below): picks a slot, runs its image
//   mq.f0/1    a slot: 64 bytes of header, then the image (the firmware bundle). With an update key the
//              header is the key XOR the HMAC inner pad, so that SHA-256 of the whole file is HMAC's inner
//              hash (Espruino hashes a Storage file in one call, it cannot hash two pieces); else spaces
//   mq.m0/1    the slot's record {g: generation, v: version, l: length, h: digest}, written only once
//              the image was verified: the switch. The newest valid record wins at boot
//   mq.t0/1    the trial marker: the selector wrote it before it first ran that slot's new image
//   mq.k0/1    the confirmation: the new image came online (written by the firmware)
//
// Every step of an update creates or erases one file, so a power cut anywhere leaves either the old
// image selected or the new one verified; a trial that never confirmed is dropped at the next boot.
import { createHash, createHmac } from "node:crypto";

export const HEADER = 64;
export const CHUNK = 512;

/** The boot selector, saved as .bootcde: the newest slot whose record is valid; a new image not yet
 *  confirmed runs once (trial marker first) and must confirm within `deadlineMs`, else the board
 *  reboots and the previous image runs (the failed record is erased). It leaves MQS = the slot, +2 when
 *  it rolled back, +4 on a trial, for the firmware. A new image that throws while loading is a failed
 *  trial too. */
export function selectorCode(deadlineMs = 60000) {
  // (the image is evaluated at the top level, as .bootcde itself would be: evaluated inside a function,
  // each of its functions would keep a scope more, about 180 blocks on Espruino)
  // (a=b=m=o=0: the deadline's timer keeps this function's scope until it fires; without it the two
  // parsed records stayed in RAM for the whole trial, about 65 blocks on the real 2v29)
  return `var MQS=(function(){var S=require("Storage"),a=S.readJSON("mq.m0",1),b=S.readJSON("mq.m1",1),i=a&&b?(b.g>a.g?1:0):b?1:0,m=i?b:a,o=i?a:b;
if(!m&&!o){print("mq: no firmware image in Storage");return -1;}
if(m&&o&&!S.read("mq.k"+i)){if(S.read("mq.t"+i)){S.erase("mq.m"+i);return 3-i;}S.write("mq.t"+i,"1");a=b=m=o=0;setTimeout(function(){if(!S.read("mq.k"+i)){print("mq: the new image did not confirm: rollback");E.reboot();}},${deadlineMs});return i+4;}
return i;})();
if(MQS>=0)try{eval(require("Storage").read("mq.f"+(MQS&1),${HEADER}));}catch(e){print("mq: image "+(MQS&1)+" threw: "+e);if(MQS&4)E.reboot();}
`;
}

/** The key's bytes (UTF-8), at most 64 (one SHA-256 block: the device does not hash longer keys). */
export function keyBytes(key) {
  const k = Buffer.from(key, "utf8");
  if (k.length > HEADER) throw new Error(`the update key is ${k.length} bytes: at most ${HEADER}`);
  return k;
}

/** A slot's 64-byte header: the key XOR HMAC's inner pad (0x36), or spaces without a key. */
export function header(key) {
  const h = Buffer.alloc(HEADER, key ? 0x36 : 0x20);
  if (key) keyBytes(key).forEach((b, i) => { h[i] = b ^ 0x36; });
  return h.toString("latin1");
}

const CRC = new Int32Array(256).map((_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c; });
/** CRC-32 (as zlib and Espruino's E.CRC32), 8 hex digits */
export function crc32(buf) {
  let c = -1;
  for (const b of buf) c = CRC[(c ^ b) & 255] ^ (c >>> 8);
  return ((c ^ -1) >>> 0).toString(16).padStart(8, "0");
}

/** The digest a device announces and checks: SHA-256 (hex) where it hashes natively, else CRC-32. */
export function digest(image, alg) {
  const b = Buffer.from(image, "latin1");
  return alg === "sha256" ? createHash("sha256").update(b).digest("hex") : crc32(b);
}

/** The tag: HMAC of the image with the update key (hex), with SHA-256, or SHA-1 (ESP8266). */
export function tag(image, key, hash = "sha256") {
  return createHmac(hash, keyBytes(key)).update(Buffer.from(image, "latin1")).digest("hex");
}

/** The files of a device flashed with the firmware `image` built from `config` (build/config.mjs
 *  loadConfig or firmwareDefines' __CONFIG__, whose otaInfo has the key, the digest and the deadline). */
export function configFiles(image, config) {
  const i = config.otaInfo;
  return flashFiles(image, { key: i.key, version: config.sw, alg: i.digest, deadlineMs: i.deadline });
}

/** The files of a device flashed with `image` (a built bundle) in slot 0: what `npm run flash -- --save`
 *  writes for a config with "ota" (binary strings, name -> content). */
export function flashFiles(image, { key, version, alg = "sha256", deadlineMs } = {}) {
  return {
    ".bootcde": selectorCode(deadlineMs),
    "mq.f0": header(key) + image,
    "mq.m0": JSON.stringify({ g: 0, v: version, l: Buffer.byteLength(image, "latin1"), h: digest(image, alg) }),
    "mq.k0": "1",
  };
}
