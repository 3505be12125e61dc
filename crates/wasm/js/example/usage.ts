// A typed usage example, checked with `tsc --strict` in the tests: if the package's types are
// wrong or loose (`any`), this file stops compiling.
import type {
  Engine as EngineType,
  Explanation,
  EffectivePermission,
  Snapshot,
  ValidationIssue,
  VisibleItem,
  EditOp,
  ImportReport,
  ResetSource,
  RolePart,
} from "../../../../target/npm/node/index.js";
import { CapstanError } from "../../../../target/npm/node/index.js";

declare const Engine: typeof EngineType;

const snapshot: Snapshot = {
  format: "capstan/1",
  capabilities: [{ name: "moodle/course:view", captype: "read", contextlevel: "course" }],
  contexts: [{ id: 1, level: "system" }, { id: 2, level: "coursecat", parent: 1 }, { id: 3, level: "course", parent: 2 }],
  roles: [{ id: 5, shortname: "student", contextlevels: ["course"] }],
  permissions: [{ role: 5, context: 1, capability: "moodle/course:view", permission: "allow" }],
  users: [{ id: 10, username: "alice" }],
  assignments: [{ user: 10, role: 5, context: 3 }],
};

export function demo(): void {
  const issues: ValidationIssue[] = Engine.validate(JSON.stringify(snapshot));
  const engine = Engine.fromObject(snapshot);
  const yes: boolean = engine.hasCapability(10, "moodle/course:view", 3, { at: new Date(), doAnything: false });
  const why: Explanation = engine.explain(10, "moodle/course:view", 3);
  const decisive = why.roles.flatMap((r) => r.rows).find((row) => row.decisive);
  const perms: EffectivePermission[] = engine.effectivePermissions(10, 3);
  const items: VisibleItem[] = engine.visibleItems(10, { at: "2026-01-01T00:00:00Z" });
  const users: number[] = engine.usersWithCapability("moodle/course:view", 3);
  const op: EditOp = { op: "set_permission", role: 5, context: 3, capability: "moodle/course:view", permission: "prohibit" };
  engine.apply(op);
  const id: number = engine.capabilityId("moodle/course:view");
  const many: Uint8Array = engine.checkMany(new Uint32Array([10, id, 3]));
  const report: ImportReport = engine.importPreset(engine.exportPreset(5));
  const moodle: EngineType = Engine.fromTemplate("moodle-4.5");
  const old: string = moodle.exportPreset(4, { allowView: false });
  const parts: RolePart[] = ["permissions", "allow_view"];
  const from: ResetSource = { archetype: "teacher" };
  const reset: ImportReport = moodle.resetRole(5, from, parts);
  const viewable: number[] = moodle.viewableRoles(2, 1);
  console.log(old.length, reset.changed, viewable);
  try {
    engine.hasCapability(10, "moodle/nope:x", 3);
  } catch (e) {
    if (e instanceof CapstanError) {
      const code: string = e.code;
      console.log(code, e.path ?? "");
    }
  }
  console.log(issues.length, yes, why.rule, decisive?.permission, perms.length, items.length, users, many, report.unknownCapabilities);
}

// The live client: a learner's page follows its own bundle. `subscribe` and `getSnapshot` are
// what React's `useSyncExternalStore(subscribe, getSnapshot)` takes.
async function livePage(baseUrl: string, token: string): Promise<boolean> {
  const { connect } = await import("../../../../target/npm/node/index.js");
  const perms = await connect({ baseUrl, token, contexts: [42] });
  const stop: () => void = perms.subscribe(() => {
    const s = perms.getSnapshot();
    const revision: number | null = s.revision;
    void revision;
  });
  const allowed: boolean = perms.can("mod/quiz:attempt", 57);
  const why: string = perms.explain("mod/quiz:attempt", 57).reason;
  void why;
  stop();
  perms.close();
  return allowed;
}
void livePage;
