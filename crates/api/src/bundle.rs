//! Bundles and `contexts_with_capability` over REST.

use capstan_core::Timestamp;
use serde::{Deserialize, Serialize};

/// A level of the context tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Level {
    System,
    Tenant,
    User,
    Coursecat,
    Program,
    Course,
    Module,
    Block,
}

impl From<Level> for capstan_core::ContextLevel {
    fn from(l: Level) -> Self {
        use capstan_core::ContextLevel as L;
        match l {
            Level::System => L::System,
            Level::Tenant => L::Tenant,
            Level::User => L::User,
            Level::Coursecat => L::Coursecat,
            Level::Program => L::Program,
            Level::Course => L::Course,
            Level::Module => L::Module,
            Level::Block => L::Block,
        }
    }
}

/// The query of `GET /bundle`: `?context=42&context=43[&user=17]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct BundleQuery {
    /// A root context of the bundle; repeat for several; none: the whole tree.
    #[serde(default)]
    pub context: Vec<u32>,
    /// Whose bundle (service keys and whole-site administrators only; default: the caller).
    #[serde(default)]
    pub user: Option<u32>,
}

/// `contexts_with_capability(user, capability, level, doanything, at)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"user": 12, "capability": "moodle/course:view", "level": "course"})))]
#[serde(deny_unknown_fields)]
pub struct ContextsRequest {
    /// The user (0: not logged in).
    pub user: u32,
    /// The capability, by name.
    pub capability: String,
    /// The level of the contexts wanted.
    pub level: Level,
    /// Let site admins through (default true).
    #[serde(default)]
    pub doanything: Option<bool>,
    /// The instant (default: now).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub at: Option<Timestamp>,
    /// Also answer as a plan of context paths (whole-site readers only).
    #[serde(default)]
    pub plan: Option<bool>,
}

/// The answer as a filter on Moodle's `context.path`: a context is in it when its path is in
/// `include`, or it lies strictly under an `include_under` path, not strictly under an
/// `exclude_under` path, and is not in `exclude`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContextPlan {
    /// Paths whose strict descendants are in the answer (but for the exclusions).
    pub include_under: Vec<String>,
    /// Paths whose strict descendants are not.
    pub exclude_under: Vec<String>,
    /// Contexts in the answer one by one.
    pub include: Vec<String>,
    /// Contexts left out one by one.
    pub exclude: Vec<String>,
}

impl From<capstan_core::ContextPlan> for ContextPlan {
    fn from(p: capstan_core::ContextPlan) -> Self {
        ContextPlan {
            include_under: p.include_under,
            exclude_under: p.exclude_under,
            include: p.include,
            exclude: p.exclude,
        }
    }
}

/// The contexts of the level where the user has the capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContextsAnswer {
    /// Their ids, ascending.
    pub contexts: Vec<u32>,
    /// The same answer as a plan of paths, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<ContextPlan>,
}
