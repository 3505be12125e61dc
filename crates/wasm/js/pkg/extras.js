// Package-level speed-ups over the generated bindings, shared by the web and node builds.
// Answers made of many small records are decoded here from packed arrays: building objects in JS
// is far cheaper than building them across the WebAssembly boundary.
export function install(Engine) {
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
