// Globals every Espruino build has that @types/espruino 1.95 does not declare, for
// tsconfig.espruino.json (which has no DOM or Node types). In the Node program these add harmless
// overloads next to Node's own declarations.
declare function setTimeout(fn: (...a: any[]) => void, ms?: number, ...args: any[]): any;
declare function clearTimeout(id?: any): void;
declare function setInterval(fn: (...a: any[]) => void, ms?: number, ...args: any[]): any;
declare function clearInterval(id?: any): void;
