//! From Moodle's tables to a Capstan [`Site`]: what each table gives, what is skipped and why.

use crate::{DbSource, ErrorCode, ImportError};
use capstan_core::moodle::{standard_role_description, standard_role_name, support_capability};
use capstan_core::validate::is_valid_shortname;
use capstan_core::{
    Archetype, Assignment, CapType, Capability, Context, ContextId, ContextLevel, Issue,
    Permission, PermissionRow, RiskSet, Role, RoleId, Settings, Site, SnapshotDoc, Source, Tenant,
    TenantId, User, UserId, validate,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// How to read the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// Moodle's table prefix (`$CFG->prefix`), `mdl_` by default.
    pub prefix: String,
    /// Read a Moodle version this importer does not know instead of refusing it.
    pub allow_unknown_version: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            prefix: "mdl_".into(),
            allow_unknown_version: false,
        }
    }
}

/// The oldest Moodle version read: 3.7 (2019052000), which added context locking; the role
/// tables it reads have not changed since.
pub const OLDEST_VERSION: u64 = 2019052000;
/// The newest Moodle version known: 5.1 (2025100600 and its point releases).
pub const NEWEST_VERSION: u64 = 2025100699;

/// A site read from Moodle, with its name and what the import did.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The site.
    pub site: Site,
    /// The site's full name (`mdl_course` id 1).
    pub name: Option<String>,
    /// What was read, skipped and noted.
    pub report: ImportReport,
}

impl Imported {
    /// The site as a `capstan/1` document, named after the Moodle site.
    pub fn snapshot(&self) -> SnapshotDoc {
        let mut doc = SnapshotDoc::from(&self.site);
        doc.name = self.name.clone();
        doc.description = Some(format!(
            "Imported from {} {}",
            self.report.product,
            self.report
                .release
                .as_deref()
                .unwrap_or("(release unknown)")
        ));
        doc
    }
}

/// What an import read, what it could not map and where Moodle and Capstan differ.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportReport {
    /// `Moodle` or `Totara`.
    pub product: String,
    /// `$CFG->release` (e.g. `4.5.6 (Build: 20250811)`).
    pub release: Option<String>,
    /// `$CFG->version` (e.g. `2024100706.00`).
    pub version: Option<String>,
    /// What the site holds.
    pub counts: Counts,
    /// Rows that were not imported, each with why.
    pub skipped: Vec<Skipped>,
    /// What was mapped with a change, and where Moodle's answers differ from Capstan's.
    pub notes: Vec<Note>,
    /// Validation problems of the imported site (none when the import is sound).
    pub problems: Vec<Issue>,
}

/// What the imported site holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Contexts by level name.
    pub contexts: BTreeMap<String, usize>,
    /// Roles.
    pub roles: usize,
    /// Capabilities (Moodle's and `capstan/support:grant`).
    pub capabilities: usize,
    /// Permission rows (role definitions and overrides).
    pub permissions: usize,
    /// Permission rows below the system context.
    pub overrides: usize,
    /// Role assignments.
    pub assignments: usize,
    /// Users.
    pub users: usize,
    /// Deleted users.
    pub deleted_users: usize,
    /// Suspended users.
    pub suspended_users: usize,
    /// Contexts locked by themselves (not counting what they lock below).
    pub locked_contexts: usize,
    /// Totara tenants.
    pub tenants: usize,
}

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The table, without its prefix.
    pub table: String,
    /// The row's id, when it has one.
    pub id: Option<String>,
    /// Why.
    pub code: SkipCode,
    /// Why, for people.
    pub message: String,
}

/// Why a row was not imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipCode {
    /// A context level Capstan does not have (a plugin's own level).
    UnknownContextLevel,
    /// Below a context that was skipped.
    UnderSkippedContext,
    /// A context path that does not end in the context or names a missing parent.
    BadPath,
    /// A parent of a level Capstan does not allow for that level.
    BadParentLevel,
    /// A capability name outside `component/area:action`.
    BadCapabilityName,
    /// A role short name Capstan does not accept.
    BadShortname,
    /// A row naming a user, role, context or capability that is not there (or was skipped).
    UnknownReference,
    /// A `role_capabilities` row with permission 0 (`CAP_INHERIT`): the same as no row.
    InheritRow,
    /// A value that cannot be read.
    BadValue,
    /// The same assignment twice (several enrolment instances of one component).
    DuplicateAssignment,
}

/// Something mapped with a change, or a difference between Moodle's answers and Capstan's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// What kind.
    pub code: NoteCode,
    /// The details.
    pub message: String,
}

/// The kinds of [`Note`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteCode {
    /// A captype other than `read`/`write` (Moodle treats anything but `write` as reading).
    OddCaptype,
    /// A capability whose home level is a plugin's: kept, with the system as its home level.
    UnknownCapabilityLevel,
    /// A role archetype Capstan does not know: read as none.
    UnknownArchetype,
    /// Role context levels that Capstan does not have: left out of the role.
    UnknownRoleContextLevel,
    /// Assignments made by a component other than manual enrolment and cohort sync: read as
    /// manual.
    OtherAssignmentComponent,
    /// A setting naming a role or user that is not there: left unset.
    BadSetting,
    /// `capstan/support:grant` was added (site admins only, as Capstan defines it).
    SupportCapabilityAdded,
    /// Deleted users: Moodle answers differently (see the message).
    DeletedUsers,
    /// What the import does not read (enrolments, course role names, …).
    NotRead,
    /// Totara's tables were read.
    Totara,
}

/// One table's rows, with its columns by name.
struct Rows {
    table: String,
    rows: Vec<Vec<Option<String>>>,
}

impl Rows {
    fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|r| Row(r))
    }
}

#[derive(Clone, Copy)]
struct Row<'a>(&'a [Option<String>]);

impl Row<'_> {
    fn text(&self, i: usize) -> &str {
        self.0.get(i).and_then(|v| v.as_deref()).unwrap_or("")
    }
    fn num(&self, i: usize) -> Option<i64> {
        self.text(i).trim().parse().ok()
    }
    fn id(&self, i: usize) -> Option<u32> {
        self.num(i)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n > 0)
    }
    fn flag(&self, i: usize) -> bool {
        matches!(self.text(i).trim(), "1" | "t" | "true")
    }
}

struct Importer<'s> {
    source: &'s mut dyn DbSource,
    prefix: String,
    tables: BTreeSet<String>,
    skipped: Vec<Skipped>,
    notes: Vec<Note>,
}

impl Importer<'_> {
    fn has(&self, base: &str) -> bool {
        self.tables.contains(&format!("{}{base}", self.prefix))
    }

    fn columns(&mut self, base: &str) -> Result<Vec<String>, ImportError> {
        let table = format!("{}{base}", self.prefix);
        self.source.columns(&table)
    }

    /// Reads the columns of a table the import needs.
    fn read(&mut self, base: &str, columns: &[&str]) -> Result<Rows, ImportError> {
        let table = format!("{}{base}", self.prefix);
        if !self.tables.contains(&table) {
            return Err(ImportError::new(
                ErrorCode::MissingTable,
                format!("the Moodle table `{table}` is missing"),
            ));
        }
        let rows = self.source.rows(&table, columns)?;
        Ok(Rows {
            table: base.to_string(),
            rows,
        })
    }

    /// Reads a table when it is there, with its optional columns when they are there (those
    /// missing read as NULL).
    fn read_optional(&mut self, base: &str, columns: &[&str]) -> Result<Rows, ImportError> {
        if !self.has(base) {
            return Ok(Rows {
                table: base.to_string(),
                rows: Vec::new(),
            });
        }
        let have = self.columns(base)?;
        let present: Vec<&str> = columns
            .iter()
            .copied()
            .filter(|c| have.iter().any(|h| h == c))
            .collect();
        let rows = self.read(base, &present)?;
        let rows = rows
            .rows
            .into_iter()
            .map(|r| {
                columns
                    .iter()
                    .map(|c| {
                        present
                            .iter()
                            .position(|p| p == c)
                            .and_then(|i| r.get(i).cloned().flatten())
                    })
                    .collect()
            })
            .collect();
        Ok(Rows {
            table: base.to_string(),
            rows,
        })
    }

    fn prepare(&mut self, bases: &[&str]) -> Result<(), ImportError> {
        let tables: Vec<String> = bases
            .iter()
            .map(|b| format!("{}{b}", self.prefix))
            .filter(|t| self.tables.contains(t))
            .collect();
        self.source.prepare(&tables)
    }

    fn skip(&mut self, table: &str, id: Option<&str>, code: SkipCode, message: String) {
        self.skipped.push(Skipped {
            table: table.to_string(),
            id: id.map(str::to_string),
            code,
            message,
        });
    }

    /// The row's id (its first column), or `None` with the row skipped as a bad value.
    fn id_or_skip(&mut self, table: &str, r: Row<'_>, what: &str) -> Option<u32> {
        let id = r.id(0);
        if id.is_none() {
            self.skip(
                table,
                Some(r.text(0)),
                SkipCode::BadValue,
                format!("{what} id `{}` is not a positive number", r.text(0)),
            );
        }
        id
    }

    fn note(&mut self, code: NoteCode, message: String) {
        self.notes.push(Note { code, message });
    }
}

const REQUIRED: [&str; 13] = [
    "config",
    "context",
    "capabilities",
    "role",
    "role_capabilities",
    "role_assignments",
    "role_context_levels",
    "role_allow_assign",
    "role_allow_override",
    "role_allow_switch",
    "user",
    "course",
    "course_categories",
];

/// Tables read when they are there.
const OPTIONAL: [&str; 7] = [
    "role_allow_view",
    "course_modules",
    "modules",
    "block_instances",
    "prog",
    "tenant",
    "cohort_members",
];

/// Assignments made by these components are audience (cohort) synchronisations.
const AUDIENCE_COMPONENTS: [&str; 3] = ["enrol_cohort", "tool_cohortroles", "totara_cohort"];

/// English names of the blocks of a standard install (their `pluginname` strings).
fn block_name(blockname: &str) -> String {
    let known = match blockname {
        "admin_bookmarks" => "Admin bookmarks",
        "recentlyaccesseditems" => "Recently accessed items",
        "recentlyaccessedcourses" => "Recently accessed courses",
        "timeline" => "Timeline",
        "calendar_month" => "Calendar",
        "calendar_upcoming" => "Upcoming events",
        "myoverview" => "Course overview",
        "starredcourses" => "Starred courses",
        "html" => "Text",
        "online_users" => "Online users",
        "activity_modules" => "Activities",
        "news_items" => "Latest announcements",
        "search_forums" => "Search forums",
        "recent_activity" => "Recent activity",
        "course_list" => "Courses",
        "navigation" => "Navigation",
        "settings" => "Administration",
        "private_files" => "Private files",
        "badges" => "Latest badges",
        "comments" => "Comments",
        "completionstatus" => "Course completion status",
        "activity_results" => "Activity results",
        "tag_flickr" => "Flickr",
        "mentees" => "Mentees",
        "blog_menu" => "Blog menu",
        "login" => "Login",
        "feedback" => "Feedback",
        "glossary_random" => "Random glossary entry",
        "rss_client" => "Remote news feed",
        "section_links" => "Section links",
        "selfcompletion" => "Self completion",
        "social_activities" => "Social activities",
        "tags" => "Tags",
        "lp" => "Learning plans",
        "logged_in_user" => "Logged in user",
        "accessreview" => "Accessibility review",
        "globalsearch" => "Global search",
        "mnet_hosts" => "Network servers",
        "site_main_menu" => "Main menu",
        "course_summary" => "Course/site summary",
        "blog_recent" => "Recent blog entries",
        "blog_tags" => "Blog tags",
        _ => return format!("{blockname} block"),
    };
    known.to_string()
}

/// The version's integer part (`2024100706.00` → 2024100706).
fn version_number(v: &str) -> Option<u64> {
    v.trim().split('.').next()?.parse().ok()
}

fn prefix_is_valid(p: &str) -> bool {
    p.len() <= 30
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Reads a Moodle site from `source`. Stops with an [`ImportError`] when the tables are not a
/// Moodle site it can read; goes on past rows it cannot map and lists them in the report.
pub fn import(source: &mut dyn DbSource, options: &ImportOptions) -> Result<Imported, ImportError> {
    if !prefix_is_valid(&options.prefix) {
        return Err(ImportError::new(
            ErrorCode::BadPrefix,
            format!(
                "`{}` is not a table prefix (lowercase letters, digits and `_`)",
                options.prefix
            ),
        ));
    }
    let tables: BTreeSet<String> = source.tables()?.into_iter().collect();
    let mut im = Importer {
        source,
        prefix: options.prefix.clone(),
        tables,
        skipped: Vec::new(),
        notes: Vec::new(),
    };
    if !im.has("config") || !im.has("context") {
        let found: Vec<String> = im
            .tables
            .iter()
            .filter_map(|t| t.strip_suffix("role_capabilities"))
            .map(|p| format!("`{p}`"))
            .collect();
        let hint = if found.is_empty() {
            "no Moodle tables at all".to_string()
        } else {
            format!("Moodle tables with prefix {}", found.join(", "))
        };
        return Err(ImportError::new(
            ErrorCode::NoMoodleTables,
            format!(
                "no Moodle tables with prefix `{}` (found {hint})",
                options.prefix
            ),
        ));
    }
    for base in REQUIRED {
        if !im.has(base) {
            return Err(ImportError::new(
                ErrorCode::MissingTable,
                format!(
                    "the Moodle table `{}{base}` is missing: this is not a complete Moodle database",
                    im.prefix
                ),
            ));
        }
    }

    // Every table read below but the activities' own, in one pass where that matters.
    let mut wanted: Vec<&str> = REQUIRED.to_vec();
    wanted.extend(OPTIONAL);
    im.prepare(&wanted)?;

    // Configuration, version.
    let config: HashMap<String, String> = im
        .read("config", &["name", "value"])?
        .iter()
        .map(|r| (r.text(0).to_string(), r.text(1).to_string()))
        .collect();
    let totara = config.contains_key("totara_release") || config.contains_key("totara_version");
    let product = if totara { "Totara" } else { "Moodle" };
    let version = config.get("version").cloned();
    let release = config
        .get(if totara { "totara_release" } else { "release" })
        .or_else(|| config.get("release"))
        .cloned();
    let known = match version.as_deref().and_then(version_number) {
        None => {
            return Err(ImportError::new(
                ErrorCode::UnknownMoodleVersion,
                "the site's configuration has no readable `version`: not an installed Moodle",
            ));
        }
        // Totara's versions follow its own line; its role tables are Moodle's.
        Some(_) if totara => true,
        Some(v) => (OLDEST_VERSION..=NEWEST_VERSION).contains(&v),
    };
    if !known {
        let v = version.as_deref().unwrap_or_default();
        if !options.allow_unknown_version {
            return Err(ImportError::new(
                ErrorCode::UnknownMoodleVersion,
                format!(
                    "Moodle version {v} ({}) is not one this importer knows (3.7 to 5.1, \
                     {OLDEST_VERSION} to {NEWEST_VERSION}); --allow-unknown-version reads it anyway",
                    release.as_deref().unwrap_or("release unknown")
                ),
            ));
        }
        im.note(
            NoteCode::NotRead,
            format!("Moodle version {v} is not known; read as 4.5 is read"),
        );
    }
    if totara {
        im.note(
            NoteCode::Totara,
            "a Totara site: its tenant table, tenant columns and audiences are read as well".into(),
        );
    }

    let users = read_users(&mut im)?;
    let user_ids: HashSet<UserId> = users.iter().map(|u| u.id).collect();
    let ContextsRead {
        contexts,
        site_course,
        site_name: name,
        by_instance,
    } = read_contexts(&mut im, &user_ids)?;
    let context_ids: HashSet<ContextId> = contexts.iter().map(|c| c.id).collect();
    let capabilities = read_capabilities(&mut im)?;
    let mut roles = read_roles(&mut im)?;
    let role_ids: HashSet<RoleId> = roles.iter().map(|r| r.id).collect();
    read_role_levels_and_allows(&mut im, &mut roles, &role_ids)?;
    let cap_names: HashSet<&str> = capabilities.iter().map(|c| c.name.as_str()).collect();
    let permissions = read_permissions(&mut im, &role_ids, &context_ids, &cap_names)?;
    let assignments = read_assignments(&mut im, &role_ids, &context_ids, &user_ids)?;
    let frontpage = site_course.and_then(|c| by_instance.get(&(ContextLevel::Course, c)).copied());
    let settings = read_settings(&mut im, &config, &role_ids, &user_ids, frontpage, totara);
    let mut site = Site {
        settings,
        capabilities,
        contexts,
        roles,
        permissions,
        users,
        assignments,
        ..Site::default()
    };
    // Totara's tenant table (no Moodle table has that name); without it, tenant ids are cleared.
    read_tenants(&mut im, &mut site, &by_instance)?;

    let deleted: Vec<&User> = site.users.iter().filter(|u| u.deleted).collect();
    if !deleted.is_empty() {
        let with_context = deleted
            .iter()
            .filter(|u| {
                site.contexts
                    .iter()
                    .any(|c| c.level == ContextLevel::User && c.instance == Some(u.id))
            })
            .count();
        im.note(
            NoteCode::DeletedUsers,
            format!(
                "{} deleted user(s), {with_context} of them with their user context kept (Moodle 4.5 \
                 keeps it): Moodle's has_capability answers questions about a deleted user from the \
                 default user role (e.g. moodle/course:request true); Capstan answers false for a \
                 deleted user by design (SEMANTICS.md §2 step 5)",
                deleted.len()
            ),
        );
    }
    im.note(
        NoteCode::NotRead,
        "not read: enrolments (Moodle's has_capability does not read them either), course role \
         renames (role_names), groups, and role assignment times (Moodle has none)"
            .into(),
    );

    let problems = validate(&site);
    let counts = count(&site);
    Ok(Imported {
        site,
        name,
        report: ImportReport {
            product: product.into(),
            release,
            version,
            counts,
            skipped: im.skipped,
            notes: im.notes,
            problems,
        },
    })
}

fn count(site: &Site) -> Counts {
    let mut contexts = BTreeMap::new();
    for c in &site.contexts {
        *contexts.entry(c.level.name().to_string()).or_insert(0) += 1;
    }
    let system: HashSet<ContextId> = site
        .contexts
        .iter()
        .filter(|c| c.level == ContextLevel::System)
        .map(|c| c.id)
        .collect();
    Counts {
        contexts,
        roles: site.roles.len(),
        capabilities: site.capabilities.len(),
        permissions: site.permissions.len(),
        overrides: site
            .permissions
            .iter()
            .filter(|p| !system.contains(&p.context))
            .count(),
        assignments: site.assignments.len(),
        users: site.users.len(),
        deleted_users: site.users.iter().filter(|u| u.deleted).count(),
        suspended_users: site.users.iter().filter(|u| u.suspended).count(),
        locked_contexts: site.contexts.iter().filter(|c| c.locked).count(),
        tenants: site.tenants.len(),
    }
}

fn read_users(im: &mut Importer<'_>) -> Result<Vec<User>, ImportError> {
    let rows = im.read_optional(
        "user",
        &[
            "id",
            "username",
            "deleted",
            "suspended",
            "firstname",
            "lastname",
            "email",
            "tenantid",
        ],
    )?;
    let mut users = Vec::new();
    for r in rows.iter() {
        let Some(id) = im.id_or_skip(&rows.table, r, "user") else {
            continue;
        };
        let fullname = format!("{} {}", r.text(4).trim(), r.text(5).trim())
            .trim()
            .to_string();
        let email = r.text(6).trim().to_string();
        users.push(User {
            id: UserId(id),
            username: r.text(1).to_string(),
            tenant: r.id(7).map(TenantId),
            participant_of: Vec::new(),
            deleted: r.flag(2),
            suspended: r.flag(3),
            fullname: (!fullname.is_empty()).then_some(fullname),
            email: (!email.is_empty()).then_some(email),
            support_identifier: None,
        });
    }
    users.sort_by_key(|u| u.id);
    Ok(users)
}

/// What [`read_contexts`] gives.
struct ContextsRead {
    contexts: Vec<Context>,
    /// The site course's id (`mdl_course` with category 0).
    site_course: Option<u32>,
    /// The site course's full name: the site's name.
    site_name: Option<String>,
    /// Each kept context by its level and Moodle instance id.
    by_instance: HashMap<(ContextLevel, u32), ContextId>,
}

/// Contexts, with their names and visibility; and the site course's id.
fn read_contexts(
    im: &mut Importer<'_>,
    users: &HashSet<UserId>,
) -> Result<ContextsRead, ImportError> {
    // Names and visibility by instance.
    let courses = im.read("course", &["id", "category", "fullname", "visible"])?;
    let mut course_info: HashMap<u32, (String, bool)> = HashMap::new();
    let mut site_course = None;
    let mut site_name = None;
    for r in courses.iter() {
        if let Some(id) = r.id(0) {
            if r.num(1) == Some(0) {
                site_course = Some(id);
                site_name = Some(r.text(2).trim().to_string()).filter(|n| !n.is_empty());
                // Moodle's name for the site course's context (`frontpage` string of admin).
                course_info.insert(id, ("Site home".into(), true));
            } else {
                course_info.insert(id, (r.text(2).trim().to_string(), r.text(3) != "0"));
            }
        }
    }
    let categories = im.read("course_categories", &["id", "name", "visible"])?;
    let category_info: HashMap<u32, (String, bool)> = categories
        .iter()
        .filter_map(|r| Some((r.id(0)?, (r.text(1).trim().to_string(), r.text(2) != "0"))))
        .collect();
    let module_info = read_module_names(im)?;
    let blocks = im.read_optional("block_instances", &["id", "blockname"])?;
    let block_info: HashMap<u32, String> = blocks
        .iter()
        .filter_map(|r| Some((r.id(0)?, block_name(r.text(1)))))
        .collect();
    let programs = im.read_optional("prog", &["id", "fullname", "visible"])?;
    let program_info: HashMap<u32, (String, bool)> = programs
        .iter()
        .filter_map(|r| Some((r.id(0)?, (r.text(1).trim().to_string(), r.text(2) != "0"))))
        .collect();

    let rows = im.read_optional(
        "context",
        &[
            "id",
            "contextlevel",
            "instanceid",
            "path",
            "locked",
            "tenantid",
        ],
    )?;
    struct Raw {
        id: u32,
        level: ContextLevel,
        instance: Option<u32>,
        path: Vec<u32>,
        locked: bool,
        tenant: Option<u32>,
    }
    let mut raws = Vec::new();
    let mut skipped_ids: HashSet<u32> = HashSet::new();
    for r in rows.iter() {
        let Some(id) = im.id_or_skip(&rows.table, r, "context") else {
            continue;
        };
        let level_number = r.num(1).and_then(|n| u16::try_from(n).ok());
        let Some(level) = level_number.and_then(ContextLevel::from_number) else {
            skipped_ids.insert(id);
            im.skip(
                &rows.table,
                Some(r.text(0)),
                SkipCode::UnknownContextLevel,
                format!(
                    "context {id} has level {}, a plugin's level Capstan does not have; it and \
                     everything below it are left out",
                    r.text(1)
                ),
            );
            continue;
        };
        let path: Option<Vec<u32>> = r
            .text(3)
            .strip_prefix('/')
            .map(|p| p.split('/').map(|x| x.parse::<u32>().ok()).collect())
            .and_then(|v: Option<Vec<u32>>| v);
        let Some(path) = path.filter(|p| p.last() == Some(&id)) else {
            skipped_ids.insert(id);
            im.skip(
                &rows.table,
                Some(r.text(0)),
                SkipCode::BadPath,
                format!(
                    "context {id} has path `{}`, which does not end in it",
                    r.text(3)
                ),
            );
            continue;
        };
        raws.push(Raw {
            id,
            level,
            instance: r.id(2),
            path,
            locked: r.flag(4),
            tenant: r.id(5),
        });
    }
    // Parents first, so a skipped parent is known before its children.
    raws.sort_by_key(|c| (c.path.len(), c.id));
    let levels: HashMap<u32, ContextLevel> = raws.iter().map(|c| (c.id, c.level)).collect();
    let mut kept: HashSet<u32> = HashSet::new();
    let mut by_instance = HashMap::new();
    let mut contexts = Vec::new();
    for c in raws {
        let parent = c
            .path
            .len()
            .checked_sub(2)
            .and_then(|i| c.path.get(i))
            .copied();
        let table = rows.table.as_str();
        let id_text = c.id.to_string();
        if let Some(a) = c.path.iter().find(|a| skipped_ids.contains(a)) {
            skipped_ids.insert(c.id);
            im.skip(
                table,
                Some(&id_text),
                SkipCode::UnderSkippedContext,
                format!("context {} is below context {a}, which was left out", c.id),
            );
            continue;
        }
        match (c.level, parent) {
            (ContextLevel::System, None) => {}
            (_, Some(p)) if kept.contains(&p) => {
                let pl = levels.get(&p).copied().unwrap_or(ContextLevel::System);
                if !c.level.allows_parent(pl) {
                    skipped_ids.insert(c.id);
                    im.skip(
                        table,
                        Some(&id_text),
                        SkipCode::BadParentLevel,
                        format!(
                            "context {} ({}) sits under context {p} ({pl}), which Capstan does \
                             not allow",
                            c.id, c.level
                        ),
                    );
                    continue;
                }
            }
            _ => {
                skipped_ids.insert(c.id);
                im.skip(
                    table,
                    Some(&id_text),
                    SkipCode::BadPath,
                    format!(
                        "context {} has a path whose parent is missing or out of order",
                        c.id
                    ),
                );
                continue;
            }
        }
        let instance = c.instance.unwrap_or(0);
        let (name, visible) = match c.level {
            ContextLevel::Course => course_info.get(&instance).cloned().unzip(),
            ContextLevel::Coursecat => category_info.get(&instance).cloned().unzip(),
            ContextLevel::Module => module_info.get(&instance).cloned().unzip(),
            ContextLevel::Program => program_info.get(&instance).cloned().unzip(),
            ContextLevel::Block => (block_info.get(&instance).cloned(), None),
            _ => (None, None),
        };
        let user = (c.level == ContextLevel::User).then_some(UserId(instance));
        if let Some(u) = user
            && !users.contains(&u)
        {
            skipped_ids.insert(c.id);
            im.skip(
                table,
                Some(&id_text),
                SkipCode::UnknownReference,
                format!(
                    "user context {} is of user {u}, who is not in the user table",
                    c.id
                ),
            );
            continue;
        }
        kept.insert(c.id);
        if let Some(i) = c.instance {
            by_instance.insert((c.level, i), ContextId(c.id));
        }
        contexts.push(Context {
            id: ContextId(c.id),
            level: c.level,
            parent: parent.map(ContextId),
            tenant: c.tenant.map(TenantId),
            instance: user,
            locked: c.locked,
            visible: visible.unwrap_or(true),
            name: name.filter(|n| !n.is_empty()),
        });
    }
    contexts.sort_by_key(|c| c.id);
    Ok(ContextsRead {
        contexts,
        site_course,
        site_name,
        by_instance,
    })
}

/// Activity names by course module id: one query per module type in use, on the module's
/// own table (`mdl_assign`, `mdl_forum`, …) when it has a `name`.
fn read_module_names(im: &mut Importer<'_>) -> Result<HashMap<u32, (String, bool)>, ImportError> {
    let cms = im.read_optional("course_modules", &["id", "module", "instance", "visible"])?;
    let modules = im.read_optional("modules", &["id", "name"])?;
    let module_names: HashMap<u32, String> = modules
        .iter()
        .filter_map(|r| Some((r.id(0)?, r.text(1).to_string())))
        .collect();
    let mut names: HashMap<(u32, u32), String> = HashMap::new();
    let used: BTreeSet<u32> = cms.iter().filter_map(|r| r.id(1)).collect();
    let tables: Vec<&str> = used
        .iter()
        .filter_map(|m| module_names.get(m).map(String::as_str))
        .collect();
    im.prepare(&tables)?;
    for m in used {
        let Some(modname) = module_names.get(&m) else {
            continue;
        };
        if !modname
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            || !im.has(modname)
        {
            continue;
        }
        let cols = im.columns(modname)?;
        if !(cols.iter().any(|c| c == "id") && cols.iter().any(|c| c == "name")) {
            continue;
        }
        for r in im.read(modname, &["id", "name"])?.iter() {
            if let Some(id) = r.id(0) {
                names.insert((m, id), r.text(1).trim().to_string());
            }
        }
    }
    Ok(cms
        .iter()
        .filter_map(|r| {
            let cm = r.id(0)?;
            let name = r
                .id(1)
                .zip(r.id(2))
                .and_then(|k| names.get(&k).cloned())
                .or_else(|| {
                    r.id(1)
                        .and_then(|m| module_names.get(&m))
                        .map(|m| format!("{m} {cm}"))
                })
                .unwrap_or_default();
            Some((cm, (name, r.text(3) != "0")))
        })
        .collect())
}

fn read_capabilities(im: &mut Importer<'_>) -> Result<Vec<Capability>, ImportError> {
    let rows = im.read(
        "capabilities",
        &["id", "name", "captype", "contextlevel", "riskbitmask"],
    )?;
    let mut caps = Vec::new();
    let mut odd: BTreeMap<String, usize> = BTreeMap::new();
    let mut plugin_levels: Vec<String> = Vec::new();
    for r in rows.iter() {
        let name = r.text(1).to_string();
        if !capstan_core::validate::is_valid_capability_name(&name) {
            im.skip(
                &rows.table,
                Some(r.text(0)),
                SkipCode::BadCapabilityName,
                format!(
                    "capability `{name}` is not of the form component/area:action; it and its \
                     permission rows are left out"
                ),
            );
            continue;
        }
        let captype = match r.text(2) {
            "write" => CapType::Write,
            "read" => CapType::Read,
            other => {
                *odd.entry(other.to_string()).or_insert(0) += 1;
                // Moodle tests `captype == 'write'`: anything else reads.
                CapType::Read
            }
        };
        let level = r
            .num(3)
            .and_then(|n| u16::try_from(n).ok())
            .and_then(ContextLevel::from_number);
        let contextlevel = level.unwrap_or_else(|| {
            plugin_levels.push(format!("{name} ({})", r.text(3)));
            ContextLevel::System
        });
        let risks = RiskSet((r.num(4).unwrap_or(0) & 0x3f) as u8);
        caps.push(Capability {
            name,
            captype,
            contextlevel,
            risks,
        });
    }
    for (captype, n) in odd {
        im.note(
            NoteCode::OddCaptype,
            format!(
                "{n} capabilit{} with captype `{captype}`: read as `read`, as Moodle does (only \
                 `write` is writing)",
                if n == 1 { "y" } else { "ies" }
            ),
        );
    }
    if !plugin_levels.is_empty() {
        im.note(
            NoteCode::UnknownCapabilityLevel,
            format!(
                "capabilities whose home level is not one of Capstan's, given the system as their \
                 home: {}",
                plugin_levels.join(", ")
            ),
        );
    }
    let support = support_capability();
    if !caps.iter().any(|c| c.name == support.name) {
        im.note(
            NoteCode::SupportCapabilityAdded,
            format!(
                "`{}` added: who may grant support access (site admins only until a role is \
                 given it)",
                support.name
            ),
        );
        caps.push(support);
    }
    caps.sort_by(|a, b| a.name.cmp(&b.name));
    caps.dedup_by(|a, b| a.name == b.name);
    Ok(caps)
}

fn read_roles(im: &mut Importer<'_>) -> Result<Vec<Role>, ImportError> {
    let rows = im.read(
        "role",
        &[
            "id",
            "name",
            "shortname",
            "description",
            "sortorder",
            "archetype",
        ],
    )?;
    let mut roles = Vec::new();
    for r in rows.iter() {
        let Some(id) = im.id_or_skip(&rows.table, r, "role") else {
            continue;
        };
        let shortname = r.text(2).to_string();
        if !is_valid_shortname(&shortname) {
            im.skip(
                &rows.table,
                Some(r.text(0)),
                SkipCode::BadShortname,
                format!(
                    "role {id} has short name `{shortname}`, which Capstan does not accept; its \
                     rows and assignments are left out"
                ),
            );
            continue;
        }
        let archetype = match r.text(5).trim() {
            "" => None,
            a => {
                let found = Archetype::from_name(a);
                if found.is_none() {
                    im.note(
                        NoteCode::UnknownArchetype,
                        format!("role `{shortname}` has archetype `{a}`, not one Capstan knows: read as none"),
                    );
                }
                found
            }
        };
        // Moodle stores empty names and descriptions for its standard roles and shows its
        // English strings (role_get_name, role_get_description).
        let mut name = r.text(1).trim().to_string();
        if name.is_empty() {
            name = standard_role_name(&shortname)
                .unwrap_or_default()
                .to_string();
        }
        let mut description = r.text(3).to_string();
        if description.trim().is_empty() {
            description = standard_role_description(&shortname)
                .unwrap_or_default()
                .to_string();
        }
        roles.push(Role {
            id: RoleId(id),
            shortname,
            name,
            description,
            archetype,
            contextlevels: Vec::new(),
            sortorder: r.num(4),
            allow_assign: Vec::new(),
            allow_override: Vec::new(),
            allow_switch: Vec::new(),
            allow_view: Vec::new(),
        });
    }
    roles.sort_by_key(|r| r.id);
    Ok(roles)
}

fn read_role_levels_and_allows(
    im: &mut Importer<'_>,
    roles: &mut [Role],
    role_ids: &HashSet<RoleId>,
) -> Result<(), ImportError> {
    let position: HashMap<RoleId, usize> =
        roles.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
    let levels = im.read("role_context_levels", &["id", "roleid", "contextlevel"])?;
    let mut unknown_levels = Vec::new();
    for r in levels.iter() {
        let Some(role) = r.id(1).map(RoleId).filter(|x| role_ids.contains(x)) else {
            im.skip(
                &levels.table,
                Some(r.text(0)),
                SkipCode::UnknownReference,
                format!("role `{}` is not there", r.text(1)),
            );
            continue;
        };
        match r
            .num(2)
            .and_then(|n| u16::try_from(n).ok())
            .and_then(ContextLevel::from_number)
        {
            Some(l) => {
                if let Some(role) = position.get(&role).and_then(|&i| roles.get_mut(i)) {
                    role.contextlevels.push(l);
                }
            }
            None => unknown_levels.push(format!("role {role} level {}", r.text(2))),
        }
    }
    if !unknown_levels.is_empty() {
        im.note(
            NoteCode::UnknownRoleContextLevel,
            format!(
                "context levels Capstan does not have, left out of the roles: {}",
                unknown_levels.join(", ")
            ),
        );
    }
    for role in roles.iter_mut() {
        role.contextlevels.sort();
        role.contextlevels.dedup();
    }
    type Pick = fn(&mut Role) -> &mut Vec<RoleId>;
    let allows: [(&str, &str, Pick); 4] = [
        ("role_allow_assign", "allowassign", |r| &mut r.allow_assign),
        ("role_allow_override", "allowoverride", |r| {
            &mut r.allow_override
        }),
        ("role_allow_switch", "allowswitch", |r| &mut r.allow_switch),
        ("role_allow_view", "allowview", |r| &mut r.allow_view),
    ];
    for (table, column, pick) in allows {
        // role_allow_view came with Moodle 3.6; it is optional for that reason only.
        let rows = im.read_optional(table, &["id", "roleid", column])?;
        for r in rows.iter() {
            let from = r.id(1).map(RoleId).filter(|x| role_ids.contains(x));
            let to = r.id(2).map(RoleId).filter(|x| role_ids.contains(x));
            match (from.and_then(|f| position.get(&f)), to) {
                (Some(&i), Some(to)) => {
                    if let Some(role) = roles.get_mut(i) {
                        pick(role).push(to);
                    }
                }
                _ => im.skip(
                    table,
                    Some(r.text(0)),
                    SkipCode::UnknownReference,
                    format!("role `{}` or `{}` is not there", r.text(1), r.text(2)),
                ),
            }
        }
    }
    for role in roles.iter_mut() {
        for list in [
            &mut role.allow_assign,
            &mut role.allow_override,
            &mut role.allow_switch,
            &mut role.allow_view,
        ] {
            list.sort_unstable();
            list.dedup();
        }
    }
    Ok(())
}

fn read_permissions(
    im: &mut Importer<'_>,
    roles: &HashSet<RoleId>,
    contexts: &HashSet<ContextId>,
    caps: &HashSet<&str>,
) -> Result<Vec<PermissionRow>, ImportError> {
    let rows = im.read(
        "role_capabilities",
        &["id", "contextid", "roleid", "capability", "permission"],
    )?;
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for r in rows.iter() {
        let id = Some(r.text(0));
        let permission = match r.num(4) {
            Some(1) => Permission::Allow,
            Some(-1) => Permission::Prevent,
            Some(-1000) => Permission::Prohibit,
            Some(0) => {
                im.skip(
                    &rows.table,
                    id,
                    SkipCode::InheritRow,
                    "permission 0 (inherit) is the same as no row".into(),
                );
                continue;
            }
            _ => {
                im.skip(
                    &rows.table,
                    id,
                    SkipCode::BadValue,
                    format!("permission `{}` is not 1, -1, -1000 or 0", r.text(4)),
                );
                continue;
            }
        };
        let role = r.id(2).map(RoleId).filter(|x| roles.contains(x));
        let context = r.id(1).map(ContextId).filter(|x| contexts.contains(x));
        let cap = r.text(3);
        let (Some(role), Some(context), true) = (role, context, caps.contains(cap)) else {
            im.skip(
                &rows.table,
                id,
                SkipCode::UnknownReference,
                format!(
                    "role `{}`, context `{}` or capability `{cap}` is not there (or was left out)",
                    r.text(2),
                    r.text(1)
                ),
            );
            continue;
        };
        if seen.insert((role, context, cap.to_string())) {
            out.push(PermissionRow {
                role,
                context,
                capability: cap.to_string(),
                permission,
            });
        }
    }
    Ok(out)
}

fn read_assignments(
    im: &mut Importer<'_>,
    roles: &HashSet<RoleId>,
    contexts: &HashSet<ContextId>,
    users: &HashSet<UserId>,
) -> Result<Vec<Assignment>, ImportError> {
    let rows = im.read(
        "role_assignments",
        &["id", "roleid", "contextid", "userid", "component"],
    )?;
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut other: BTreeMap<String, usize> = BTreeMap::new();
    for r in rows.iter() {
        let id = Some(r.text(0));
        let role = r.id(1).map(RoleId).filter(|x| roles.contains(x));
        let context = r.id(2).map(ContextId).filter(|x| contexts.contains(x));
        let user = r.id(3).map(UserId).filter(|x| users.contains(x));
        let (Some(role), Some(context), Some(user)) = (role, context, user) else {
            im.skip(
                &rows.table,
                id,
                SkipCode::UnknownReference,
                format!(
                    "role `{}`, context `{}` or user `{}` is not there (or was left out)",
                    r.text(1),
                    r.text(2),
                    r.text(3)
                ),
            );
            continue;
        };
        let component = r.text(4).trim();
        let source = if component.is_empty() {
            Source::Manual
        } else if AUDIENCE_COMPONENTS.contains(&component) {
            Source::Audience
        } else {
            *other.entry(component.to_string()).or_insert(0) += 1;
            Source::Manual
        };
        if !seen.insert((user, role, context, source)) {
            im.skip(
                &rows.table,
                id,
                SkipCode::DuplicateAssignment,
                format!(
                    "user {user} already holds role {role} in context {context} ({})",
                    source.name()
                ),
            );
            continue;
        }
        out.push(Assignment {
            user,
            role,
            context,
            from: None,
            until: None,
            source,
        });
    }
    if !other.is_empty() {
        let list: Vec<String> = other.iter().map(|(c, n)| format!("{c} ({n})")).collect();
        im.note(
            NoteCode::OtherAssignmentComponent,
            format!(
                "assignments made by other components, read as manual: {}",
                list.join(", ")
            ),
        );
    }
    Ok(out)
}

fn read_settings(
    im: &mut Importer<'_>,
    config: &HashMap<String, String>,
    roles: &HashSet<RoleId>,
    users: &HashSet<UserId>,
    frontpage_context: Option<ContextId>,
    totara: bool,
) -> Settings {
    let role = |key: &str, im: &mut Importer<'_>| -> Option<RoleId> {
        let v = config.get(key)?.trim();
        if v.is_empty() || v == "0" {
            return None;
        }
        match v
            .parse::<u32>()
            .ok()
            .map(RoleId)
            .filter(|r| roles.contains(r))
        {
            Some(r) => Some(r),
            None => {
                im.note(
                    NoteCode::BadSetting,
                    format!("setting `{key}` = `{v}` names no role: left unset"),
                );
                None
            }
        }
    };
    let default_user_role = role("defaultuserroleid", im);
    let guest_role = role("guestroleid", im);
    let not_logged_in_role = role("notloggedinroleid", im);
    let default_frontpage_role = role("defaultfrontpageroleid", im);
    let flag = |key: &str, default: bool| {
        config
            .get(key)
            .map_or(default, |v| !matches!(v.trim(), "" | "0"))
    };
    let mut site_admins = Vec::new();
    for part in config
        .get("siteadmins")
        .map_or("", |s| s.as_str())
        .split(',')
    {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        match part
            .parse::<u32>()
            .ok()
            .map(UserId)
            .filter(|u| users.contains(u))
        {
            Some(u) => site_admins.push(u),
            None => im.note(
                NoteCode::BadSetting,
                format!("`siteadmins` names `{part}`, who is not a user: left out"),
            ),
        }
    }
    let guest_user = config
        .get("siteguest")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .map(UserId)
        .filter(|u| users.contains(u));
    Settings {
        default_user_role,
        guest_role,
        not_logged_in_role,
        default_frontpage_role,
        frontpage_context,
        guest_user,
        site_admins,
        force_login: flag("forcelogin", false),
        context_locking: flag("contextlocking", false),
        context_lock_applies_to_admin: flag("contextlockappliestoadmin", true),
        multitenancy: totara && flag("tenantsenabled", false),
        tenant_isolation: totara && flag("tenantsisolated", false),
        support_access: false,
    }
}

/// Totara's tenants: `ttr_tenant` rows, each with its tenant context (level 15, instance the
/// tenant id), its category, and its participants (members of its audience who belong to no
/// or another tenant).
fn read_tenants(
    im: &mut Importer<'_>,
    site: &mut Site,
    by_instance: &HashMap<(ContextLevel, u32), ContextId>,
) -> Result<(), ImportError> {
    let rows = im.read_optional(
        "tenant",
        &["id", "name", "suspended", "categoryid", "cohortid"],
    )?;
    let members = im.read_optional("cohort_members", &["cohortid", "userid"])?;
    let mut cohort_of: HashMap<u32, TenantId> = HashMap::new();
    for r in rows.iter() {
        let Some(id) = r.id(0) else {
            continue;
        };
        let context = by_instance.get(&(ContextLevel::Tenant, id)).copied();
        let category = r
            .id(3)
            .and_then(|c| by_instance.get(&(ContextLevel::Coursecat, c)).copied());
        let (Some(context), Some(category)) = (context, category) else {
            im.skip(
                &rows.table,
                Some(r.text(0)),
                SkipCode::UnknownReference,
                format!(
                    "tenant {id} has no tenant context or its category `{}` is not there",
                    r.text(3)
                ),
            );
            continue;
        };
        if let Some(c) = r.id(4) {
            cohort_of.insert(c, TenantId(id));
        }
        let name = r.text(1).trim().to_string();
        site.tenants.push(Tenant {
            id: TenantId(id),
            name: (!name.is_empty()).then_some(name),
            context,
            category,
            suspended: r.flag(2),
        });
    }
    let tenants: HashSet<TenantId> = site.tenants.iter().map(|t| t.id).collect();
    let position: HashMap<UserId, usize> = site
        .users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.id, i))
        .collect();
    for r in members.iter() {
        let (Some(tenant), Some(user)) = (
            r.id(0).and_then(|c| cohort_of.get(&c)).copied(),
            r.id(1).map(UserId),
        ) else {
            continue;
        };
        if let Some(u) = position.get(&user).and_then(|&i| site.users.get_mut(i))
            && u.tenant != Some(tenant)
            && !u.participant_of.contains(&tenant)
        {
            u.participant_of.push(tenant);
        }
    }
    // A tenant id on a user or context whose tenant was not read would not validate.
    for u in &mut site.users {
        if u.tenant.is_some_and(|t| !tenants.contains(&t)) {
            u.tenant = None;
        }
        u.participant_of.sort_unstable();
    }
    for c in &mut site.contexts {
        if c.tenant.is_some_and(|t| !tenants.contains(&t)) {
            c.tenant = None;
        }
    }
    Ok(())
}
