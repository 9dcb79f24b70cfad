/** ES5 source -> Espruino's pretokenised form, a binary string (one char per byte). */
export function pretokenise(code: string): string;
