// Types of build/mangle.mjs (plain ESM, run by Node; the build and tests import it).
export declare const CORE: string[];
export declare const FIRMWARE: string[];
/** the listed names an engine's object also has */
export declare function checkNames(list: string[]): string[];
export declare function manglePattern(firmware: boolean): RegExp;
export declare function renameKeys(v: any, cache: Record<string, string | false>): any;
