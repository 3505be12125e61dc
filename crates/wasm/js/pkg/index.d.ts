export * from "./capstan_wasm.js";
import type { CheckOptions, Engine, ErrorCode, Explanation, ValidationIssue } from "./capstan_wasm.js";

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

/** Options of `connect`. */
export interface ConnectOptions {
  /** The server, e.g. `https://lms.example/` (its API is under `/api/v1`). */
  baseUrl: string;
  /** A bearer token: the signed-in user's session. */
  token: string;
  /** The roots of the bundle (the page's course, …); default: the whole tree. */
  contexts?: number[];
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
  /** How long to wait before following the events again after a failure, in ms (default 2000). */
  retryMs?: number;
}

/** What a connection says of itself; a new object after every change. */
export interface ConnectionSnapshot {
  /** The server revision of the bundle held. */
  revision: number | null;
  /** Whether the server is reachable; answers go on from the last bundle while it is not. */
  online: boolean;
  /** Why it is not, when it is not. */
  error: string | null;
}

/** The caller's own permissions from a Capstan server, kept current by `/events`. */
export interface Connection {
  /** Whether the connected user has the capability in the context. */
  can(capability: string, context: number, opts?: CheckOptions): boolean;
  /** Why. */
  explain(capability: string, context: number, opts?: CheckOptions): Explanation;
  /** The engine holding the current bundle (replaced when the bundle changes). */
  readonly engine: Engine;
  /** Called on every change; returns the function that stops it (for `useSyncExternalStore`). */
  subscribe(listener: () => void): () => void;
  /** The current state; the same object until something changes. */
  getSnapshot(): ConnectionSnapshot;
  /** Stops following the server. */
  close(): void;
}

/** Loads the caller's bundle from a Capstan server and keeps it current. */
export declare function connect(options: ConnectOptions): Promise<Connection>;
