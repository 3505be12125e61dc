
/** A context level of the Moodle/Totara context tree. */
export type ContextLevel = "system" | "tenant" | "user" | "coursecat" | "program" | "course" | "module" | "block";
/** A permission value; "not set" (inherit) is the absence of a row. */
export type PermissionValue = "allow" | "prevent" | "prohibit";
/** A capability risk (Moodle's RISK_* bits). */
export type Risk = "managetrust" | "config" | "xss" | "personal" | "spam" | "dataloss";
/** A role archetype. */
export type Archetype = "manager" | "coursecreator" | "editingteacher" | "teacher" | "student" | "guest" | "user" | "frontpage" | "tenantusermanager" | "tenantdomainmanager";
/** Where an assignment came from. */
export type AssignmentSource = "manual" | "audience" | "support";
/** An instant: an RFC 3339 string (UTC) or a Date. */
export type Instant = string | Date;

/** Options of a permission question. */
export interface CheckOptions {
  /** Let site admins through (Moodle's `$doanything`); default true. */
  doAnything?: boolean;
  /** The instant of the question; default: the engine's default time, else now. */
  at?: Instant;
}

/** Options of a question that only depends on time. */
export interface AtOptions {
  /** The instant of the question; default: the engine's default time, else now. */
  at?: Instant;
}

/** Site settings of a snapshot (`capstan/1`). */
export interface SnapshotSettings {
  default_user_role?: number | null;
  guest_role?: number | null;
  not_logged_in_role?: number | null;
  default_frontpage_role?: number | null;
  frontpage_context?: number | null;
  guest_user?: number | null;
  site_admins?: number[] | null;
  force_login?: boolean | null;
  context_locking?: boolean | null;
  context_lock_applies_to_admin?: boolean | null;
  multitenancy?: boolean | null;
  tenant_isolation?: boolean | null;
  support_access?: boolean | null;
}

/** A capability definition. */
export interface SnapshotCapability { name: string; captype: "read" | "write"; contextlevel: ContextLevel; risks?: Risk[] | null; }
/** A context. */
export interface SnapshotContext { id: number; level: ContextLevel; parent?: number | null; tenant?: number | null; instance?: number | null; locked?: boolean | null; visible?: boolean | null; name?: string | null; }
/** A tenant. */
export interface SnapshotTenant { id: number; name?: string | null; context: number; category: number; suspended?: boolean | null; }
/** A role. */
export interface SnapshotRole { id: number; shortname: string; name?: string | null; description?: string | null; archetype?: Archetype | null; contextlevels?: ContextLevel[] | null; sortorder?: number | null; allow_assign?: number[] | null; allow_override?: number[] | null; allow_switch?: number[] | null; allow_view?: number[] | null; }
/** A permission row: a definition at system, an override elsewhere. */
export interface SnapshotPermission { role: number; context: number; capability: string; permission: PermissionValue; }
/** A user. */
export interface SnapshotUser { id: number; username: string; tenant?: number | null; participant_of?: number[] | null; deleted?: boolean | null; suspended?: boolean | null; fullname?: string | null; email?: string | null; support_identifier?: string | null; }
/** A role assignment; active when `from <= at < until`. */
export interface SnapshotAssignment { user: number; role: number; context: number; from?: string | null; until?: string | null; source?: AssignmentSource | null; }
/** A role switch. */
export interface SnapshotSwitch { user: number; context: number; role: number; }
/** A course in a program. */
export interface SnapshotProgramCourse { program: number; course: number; }

/** A `capstan/1` snapshot (shared/conformance/FORMAT.md). Unknown fields are an error. */
export interface Snapshot {
  format: "capstan/1";
  name?: string;
  description?: string;
  settings?: SnapshotSettings | null;
  capabilities?: SnapshotCapability[] | null;
  contexts?: SnapshotContext[] | null;
  tenants?: SnapshotTenant[] | null;
  roles?: SnapshotRole[] | null;
  permissions?: SnapshotPermission[] | null;
  users?: SnapshotUser[] | null;
  assignments?: SnapshotAssignment[] | null;
  switches?: SnapshotSwitch[] | null;
  program_courses?: SnapshotProgramCourse[] | null;
  /** Set when the snapshot is a bundle: a cut of the site for one user. */
  bundle?: SnapshotBundle | null;
}

/** What marks a snapshot as a bundle (FORMAT.md "Bundles"). */
export interface SnapshotBundle {
  /** The user it answers for (0: not logged in). */
  user: number;
  /** The roots of the covered subtrees (absent or empty: the whole tree). */
  contexts?: number[] | null;
}

/** Options of `Engine.bundle`. */
export interface BundleOptions {
  /** The roots of the covered subtrees: each with its ancestors and descendants (default: the whole tree). */
  contexts?: number[];
}

/**
 * `contextsWithCapability` as a filter on Moodle's `context.path` column: a context is in the
 * answer when its path is in `include`, or it lies strictly under an `includeUnder` path, not
 * strictly under an `excludeUnder` path, and is not in `exclude`.
 */
export interface ContextPlan {
  includeUnder: string[];
  excludeUnder: string[];
  include: string[];
  exclude: string[];
}

/** Stable error codes thrown as `CapstanError.code`. */
export type ErrorCode =
  | "malformed_json" | "too_large" | "unsupported_format" | "invalid_snapshot"
  | "no_system_context" | "multiple_system_contexts" | "duplicate_id" | "unknown_reference" | "context_cycle"
  | "bad_parent_level" | "bad_shortname" | "bad_capability_name" | "tenant_mismatch" | "bad_time_range"
  | "program_foreign_course" | "site_program_tenant_course" | "bad_id" | "shared_tenant_context"
  | "unknown_capability" | "unknown_context" | "unknown_role" | "unknown_user" | "unknown_tenant"
  | "not_found" | "has_children" | "malformed_op" | "bad_argument" | "bad_instant" | "out_of_bundle"
  | "malformed_xml" | "hostile_xml" | "invalid_preset" | "wrong_root" | "missing_shortname" | "unknown_permission"
  | "unknown_template" | "unknown_archetype" | "bad_part" | "internal" | (string & {});

/** One validation problem of a snapshot. */
export interface ValidationIssue {
  code: ErrorCode;
  message: string;
  /** Where it is, as a JSON path (`contexts[41].parent`). */
  path: string;
}

/** The rule of SEMANTICS.md §2 that decided. */
export type RuleName = "force_login" | "guest_risk" | "context_locked" | "unknown_user" | "deleted_user" | "support_disabled" | "tenant" | "site_admin" | "prohibited" | "allowed" | "not_allowed";
/** Which tenant rule kept the user out (when `rule` is `tenant`). */
export type TenantDenial = "guest_in_tenant" | "other_tenant" | "isolated" | "tenant_suspended" | "support_out_of_scope";

/** Where an active role came from. */
export interface RoleOrigin {
  kind: "assignment" | "default_user_role" | "frontpage_role" | "guest_role" | "not_logged_in_role" | "switch";
  context?: number;
  source?: AssignmentSource;
  from?: string;
  until?: string;
}

/** A permission row met on the path. */
export interface RowTrace { context: number; permission: PermissionValue; decisive: boolean; }

/** One active role of an explanation. */
export interface RoleTrace {
  role: number;
  shortname: string;
  origins: RoleOrigin[];
  /** Every row of the role for the capability on the path, most specific first. */
  rows: RowTrace[];
  value: PermissionValue | null;
}

/** Why a decision is what it is. `allowed` always equals `hasCapability`. */
export interface Explanation {
  allowed: boolean;
  rule: RuleName;
  tenantDenial?: TenantDenial;
  step: number;
  reason: string;
  user: number;
  capability: string;
  context: number;
  /** The context's path, root first. */
  path: number[];
  roles: RoleTrace[];
}

/** One line of "Check permissions". */
export interface EffectivePermission {
  capability: string;
  capabilityId: number;
  allowed: boolean;
  rule: RuleName;
  tenantDenial?: TenantDenial;
  reason: string;
}

/** One role's line of the capability overview. */
export interface OverviewRow {
  role: number;
  definition: PermissionValue | null;
  overrides: { context: number; permission: PermissionValue }[];
}

/** Why an item is visible or not. */
export type VisibilityReason = "visible" | "hidden_with_capability" | "site_admin" | "unknown_user" | "deleted_user" | "user_tenant_suspended" | "item_tenant_suspended" | "hidden" | "guest_tenant_item" | "other_tenant" | "isolated" | "support_out_of_scope" | "support_disabled";

/** A course or program with its visibility for one user. */
export interface VisibleItem {
  context: number;
  level: ContextLevel;
  name: string | null;
  tenant: number | null;
  visible: boolean;
  reason: VisibilityReason;
}

/** An assignment named by (user, role, context). */
export interface AssignmentKey { user: number; role: number; context: number; }

/** Who holds a capability. */
export interface UsersWithCapability {
  users: number[];
  /** The default user role alone allows it: every authenticated user, except those listed out by a prohibit or a tenant rule. */
  allAuthenticated: boolean;
}

/** A part of a role that a reset or a preset import changes. */
export type RolePart = "shortname" | "name" | "description" | "archetype" | "contextlevels" | "allow_assign" | "allow_override" | "allow_switch" | "allow_view" | "permissions";

/** The result of importing a role preset or resetting a role. */
export interface ImportReport {
  role: number;
  shortname: string;
  /** A new role was added (else an existing one was updated). */
  created: boolean;
  /** Definition rows whose value changed. */
  permissionsSet: number;
  /** The parts of the role that changed. */
  changed: RolePart[];
  /** Capabilities the site does not have (skipped, as Moodle drops them). */
  unknownCapabilities: string[];
  /** Role short names the site does not have (skipped). */
  unknownRoles: string[];
  /** Level names or numbers that are not context levels (skipped). */
  unknownLevels: string[];
  /** An archetype Capstan does not know (read as none, as Moodle's form does). */
  unknownArchetype?: string;
}

/** Options of `exportPreset`. */
export interface ExportPresetOptions {
  /** Write `allowview` (default true; false for Moodle sites older than it, which refuse it). */
  allowView?: boolean;
}

/** Where `resetRole` takes a role's parts from (Moodle's "Reset role" page). */
export type ResetSource =
  | { archetype: Archetype }
  | { role: number }
  | { preset: string }
  | { nothing: true };

/** An edit of a site (snake_case, as in the snapshot format). */
export type EditOp =
  | { op: "set_permission"; role: number; context: number; capability: string; permission: PermissionValue | null }
  | { op: "assign"; user: number; role: number; context: number; from?: string | null; until?: string | null; source?: AssignmentSource | null }
  | { op: "unassign"; user: number; role: number; context: number; source?: AssignmentSource | null }
  | { op: "add_switch"; user: number; context: number; role: number }
  | { op: "remove_switch"; user: number; context: number }
  | { op: "put_role"; role: SnapshotRole }
  | { op: "delete_role"; role: number }
  | { op: "put_context"; context: SnapshotContext }
  | { op: "delete_context"; context: number }
  | { op: "put_user"; user: SnapshotUser }
  | { op: "delete_user"; user: number }
  | { op: "put_tenant"; tenant: SnapshotTenant }
  | { op: "delete_tenant"; tenant: number }
  | { op: "put_capability"; capability: SnapshotCapability }
  | { op: "set_settings"; settings: SnapshotSettings }
  | { op: "add_program_course"; item: SnapshotProgramCourse }
  | { op: "remove_program_course"; item: SnapshotProgramCourse };
