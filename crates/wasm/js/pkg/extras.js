// Package-level speed-ups over the generated bindings, shared by the web and node builds.
// Answers made of many small records are decoded here from packed arrays: building objects in JS
// is far cheaper than building them across the WebAssembly boundary.
export function install(Engine) {
  Engine.connect = liveClient(Engine);
  // Read lazily: in the web build the module is not instantiated until `init()` resolves.
  let table;
  const names = new WeakMap();
  const namesOf = (engine) => {
    let n = names.get(engine);
    if (n === undefined) {
      n = engine.capabilityNames();
      names.set(engine, n);
    }
    return n;
  };
  // Edits may add or renumber capabilities: forget the names an engine had.
  for (const method of ["apply", "applyAll", "importPreset"]) {
    const original = Engine.prototype[method];
    Engine.prototype[method] = function (...args) {
      names.delete(this);
      return original.apply(this, args);
    };
  }
  Engine.prototype.effectivePermissions = function (user, context, opts) {
    const packed = this.effectivePermissionsPacked(user, context, opts);
    const n = namesOf(this);
    table ??= Engine.ruleTable();
    const out = new Array(packed.length / 2);
    for (let i = 0, j = 0; i < packed.length; i += 2, j++) {
      const id = packed[i];
      const [rule, denial, reason, allowed] = table[packed[i + 1]];
      out[j] = denial === null
        ? { capability: n[id], capabilityId: id, allowed, rule, reason }
        : { capability: n[id], capabilityId: id, allowed, rule, tenantDenial: denial, reason };
    }
    return out;
  };
}

// The live client: the caller's own bundle from a Capstan server, kept current by `/events`.
// Installed as `Engine.connect`; the package exports it as `connect`.
function liveClient(Engine) {
  return async function connect({ baseUrl, token, contexts = [], fetch: get = globalThis.fetch, retryMs = 2000 } = {}) {
    if (typeof baseUrl !== "string" || typeof token !== "string") {
      throw Object.assign(new Error("connect needs { baseUrl, token }"), { name: "CapstanError", code: "bad_argument" });
    }
    const base = baseUrl.replace(/\/+$/, "");
    const headers = { authorization: `Bearer ${token}` };
    const query = contexts.map((c) => `context=${encodeURIComponent(c)}`).join("&");
    const bundleUrl = `${base}/api/v1/bundle${query ? `?${query}` : ""}`;
    const listeners = new Set();
    const abort = new AbortController();
    let engine = null;
    let etag = null;
    let snapshot = { revision: null, online: false, error: null };
    const publish = (changes) => {
      snapshot = { ...snapshot, ...changes };
      for (const l of [...listeners]) l();
    };
    const load = async () => {
      const r = await get(bundleUrl, { headers: etag ? { ...headers, "if-none-match": etag } : headers, signal: abort.signal });
      if (r.status === 304) return false;
      if (!r.ok) {
        const body = await r.json().catch(() => ({}));
        throw Object.assign(new Error(body.message ?? `the server answered ${r.status}`), { name: "CapstanError", code: body.code ?? "internal" });
      }
      const next = Engine.fromJson(await r.text());
      engine?.free();
      engine = next;
      etag = r.headers.get("etag");
      publish({ revision: Number(r.headers.get("x-capstan-revision")), online: true, error: null });
      return true;
    };
    await load();
    // Follow the events: each names a revision; a newer one than ours means our bundle may have
    // changed, and `If-None-Match` tells us whether it did.
    const follow = async () => {
      while (!abort.signal.aborted) {
        try {
          const r = await get(`${base}/api/v1/events`, { headers: { ...headers, accept: "text/event-stream" }, signal: abort.signal });
          if (r.status === 401) {
            publish({ online: false, error: "unauthenticated" });
            return;
          }
          if (!r.ok || !r.body) throw new Error(`events: ${r.status}`);
          if (!snapshot.online) publish({ online: true, error: null });
          const reader = r.body.getReader();
          const text = new TextDecoder();
          let buffer = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += text.decode(value, { stream: true });
            let end;
            while ((end = buffer.indexOf("\n\n")) >= 0) {
              const block = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              const data = block.split("\n").find((l) => l.startsWith("data: "));
              const revision = data ? JSON.parse(data.slice(6)).revision : null;
              if (typeof revision === "number" && revision !== snapshot.revision) await load();
            }
          }
        } catch (e) {
          if (abort.signal.aborted) return;
          // Offline or the server away: answers go on from the last bundle, and we say so.
          publish({ online: false, error: String(e?.message ?? e) });
        }
        await new Promise((resolve) => setTimeout(resolve, retryMs));
      }
    };
    follow();
    const user = () => engine.bundleUser;
    return {
      /** Whether the connected user has the capability in the context (`hasCapability`). */
      can: (capability, context, opts) => engine.hasCapability(user(), capability, context, opts),
      /** The explanation of that answer. */
      explain: (capability, context, opts) => engine.explain(user(), capability, context, opts),
      /** The engine holding the current bundle (replaced when the bundle changes). */
      get engine() {
        return engine;
      },
      /** Calls `listener` whenever the bundle or the connection state changes; returns the
       * function that stops it (React's `useSyncExternalStore` takes this as `subscribe`). */
      subscribe(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      /** `{revision, online, error}`: a new object after every change, the same one otherwise. */
      getSnapshot: () => snapshot,
      /** Stops following the server. */
      close() {
        abort.abort();
        listeners.clear();
      },
    };
  };
}
