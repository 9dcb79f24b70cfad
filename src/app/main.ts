// Firmware entry: the config compiled in by build/config.mjs, the board chosen by the build (alias "board").
import { board } from "board";
import { start } from "./firmware";
import type { Config } from "./config";

declare const __CONFIG__: Config;
start(__CONFIG__, board);
