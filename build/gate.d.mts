// Types of build/gate.mjs (plain ESM, run by Node; tests import it).
export interface Problem { rule: "es5" | "builtin" | "order" | "size"; line: number; col: number; message: string }
/** bytes: of text; stored: pretokenised, as the board's Storage holds it (null without a budget) */
export interface Result { bytes: number; stored: number | null; gzip: number; budget?: number; problems: Problem[] }
export declare const BUDGETS: Record<string, number>;
export declare const STORAGE: { board: string; bytes: number; bundles: string[] }[];
/** the bytes a file of `bytes` takes in Storage, with the room kept for other files */
export declare function storageNeed(bytes: number): number;
export declare function storageFit(name: string, bytes: number): { board: string; storage: number; fits: boolean }[];
/** `name` picks the budget from BUDGETS; `budget: 0` skips the size check */
export declare function checkCode(code: string, name?: string, opts?: { budget?: number }): Result;
export declare function checkFile(file: string, opts?: { budget?: number }): Result;
/** one line per problem, `file:line:col: rule: message` */
export declare function format(file: string, r: Result): string[];
