export * from "./capstan_wasm.js";
import type { ErrorCode, ValidationIssue } from "./capstan_wasm.js";

/** The error every Capstan call throws. */
export declare class CapstanError extends Error {
  readonly name: "CapstanError";
  /** A stable machine code (`unknown_capability`, `malformed_json`, …). */
  readonly code: ErrorCode;
  /** Where a validation problem is (`contexts[41].parent`), when it is one. */
  readonly path?: string;
  /** Every validation problem, when a snapshot or an edit was refused as invalid. */
  readonly issues?: ValidationIssue[];
  /** The position of the refused operation in `applyAll`. */
  readonly index?: number;
}
