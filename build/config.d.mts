// Types of build/config.mjs (plain ESM, run by Node at build time; tests import it).
import type { Config } from "../src/app/config";

export declare const EXAMPLE: string;
export declare const EXAMPLE_SECRETS: string;
/** built-in and custom sensor types: keys (name -> type), pin kind, board need, Home Assistant defaults */
export declare const SENSOR_TYPES: Record<string, { keys: Record<string, any>; pin?: string; needs?: string; unit?: string; device_class?: string; binary?: boolean; shared?: boolean }>;
export declare class ConfigError extends Error {
  errors: string[];
  constructor(errors: string[], file?: string);
}
/** the board's entry of boards/pins.json, or null */
export declare function boardPins(board: string): any;
/** device.json (+ secrets.json) object -> the firmware's Config; throws ConfigError naming every bad key */
export declare function validateConfig(cfg: any, board?: string, secrets?: any, version?: string): Config & { ha: any; wifi: any; broker: any; readonly warnings: string[]; readonly otaInfo?: OtaInfo };
/** with "ota" (not enumerable: never compiled in): the boot selector's deadline (ms), the board's hashes */
export interface OtaInfo { deadline: number; hash: string; digest: string; key?: string }
/** updates: the default seconds a new image has to come online */
export declare const OTA_DEADLINE: number;
/** battery mode: readings kept in Storage while the broker cannot be reached */
export declare const SLEEP_KEEP: number;
/** read, merge and validate the files (defaults: examples/device.json, a secrets.json beside it) */
export declare function loadConfig(board: string, opts?: { file?: string | null; secrets?: string | null }): Config & { ha: any; wifi: any; broker: any; readonly otaInfo?: OtaInfo };
/** the secrets.json a config reads when none is named (null: none) */
export declare function secretsFor(cfgFile: string): string | null;
/** esbuild define values for a board bundle */
export declare function firmwareDefines(board: string, opts?: { file?: string | null; secrets?: string | null }): Record<string, any> & { __CONFIG__: Config & { ha: any; wifi: any; broker: any; readonly otaInfo?: OtaInfo } };
