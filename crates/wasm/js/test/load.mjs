// Loads the built Node package (`cargo xtask wasm` writes it to target/npm/node).
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, "../../../..");
const require = createRequire(import.meta.url);
export const capstan = require(path.join(root, "target/npm/node"));
export const corpus = process.env.CAPSTAN_CORPUS ?? path.resolve(root, "../shared/conformance/public");
