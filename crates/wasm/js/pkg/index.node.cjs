// capstan for Node (CommonJS); the WebAssembly module loads synchronously on require.
"use strict";
const wasm = require("./capstan_wasm.js");
require("./extras.cjs").install(wasm.Engine);

/**
 * The error every Capstan call throws: an `Error` with a stable `code`.
 * `instanceof CapstanError` recognises errors thrown from WebAssembly.
 */
class CapstanError extends Error {
  static [Symbol.hasInstance](e) {
    return e instanceof Error && e.name === "CapstanError" && typeof e.code === "string";
  }
}

/** Connects to a Capstan server: the caller's bundle, kept current (see `Connection`). */
const connect = (options) => wasm.Engine.connect(options);

module.exports = { ...wasm, CapstanError, connect };
