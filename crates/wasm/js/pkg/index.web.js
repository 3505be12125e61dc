// capstan for browsers and bundlers (ES module). Call `await init()` once before `Engine`.
import { Engine } from "./capstan_wasm.js";
import { install } from "./extras.js";

export * from "./capstan_wasm.js";
export { default as init, initSync } from "./capstan_wasm.js";

install(Engine);

/** Connects to a Capstan server: the caller's bundle, kept current (see `Connection`). */
export const connect = (options) => Engine.connect(options);

/**
 * The error every Capstan call throws: an `Error` with a stable `code`.
 * Errors are created inside WebAssembly as plain `Error`s named "CapstanError";
 * `instanceof CapstanError` recognises them.
 */
export class CapstanError extends Error {
  static [Symbol.hasInstance](e) {
    return e instanceof Error && e.name === "CapstanError" && typeof e.code === "string";
  }
}
