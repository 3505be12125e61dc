//! Who is asking: the bearer token resolved to a site user, a support staff member (acting as
//! its temporary support user while a grant is active) or a service key, with the site as
//! published when the request came in and the caller's reach in it.

use crate::audit::Record;
use crate::error::ApiError;
use crate::reach::{View, holds, may_sign_in, reach_of};
use crate::state::{AppState, Author, Published};
use crate::store::{self, Holder};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use capstan_api::{Me, PrincipalKind, Reach, StaffAccount, SupportGrant, SupportIdentity, codes};
use capstan_core::{Timestamp, UserId};
use serde_json::json;
use std::sync::Arc;

/// The caller of a request.
pub struct Caller {
    /// Whose token.
    pub holder: Holder,
    /// The site user it acts as (none for a service key, and for support staff without an
    /// active grant).
    pub user: Option<UserId>,
    /// For support staff: the account.
    pub staff: Option<StaffAccount>,
    /// For support staff: the grant in force.
    pub grant: Option<SupportGrant>,
    /// The site when the request came in.
    pub site: Arc<Published>,
    /// The instant of the request.
    pub now: Timestamp,
    /// How much of the site the caller may see.
    pub reach: Reach,
    /// The stored form of the caller's token.
    pub token_hash: String,
}

/// The bearer token of a request (the scheme is case-insensitive, RFC 9110 §11.1).
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl Caller {
    /// What the caller may see.
    pub fn view(&self) -> View<'_> {
        View {
            engine: &self.site.engine,
            reach: &self.reach,
            me: self.user,
        }
    }

    /// The site user the caller acts as, or 403 (service keys and staff without a grant).
    pub fn site_user(&self) -> Result<UserId, ApiError> {
        self.user.ok_or_else(|| {
            ApiError::forbidden(match self.holder {
                Holder::Key(_) => "service keys ask questions; they never edit",
                _ => "support staff act on the site only while a grant is active",
            })
        })
    }

    /// Whether the caller's site user holds `cap` at the system context.
    pub fn holds(&self, cap: &str) -> bool {
        self.user
            .is_some_and(|u| holds(&self.site.engine, u, cap, self.now))
    }

    /// The caller as the author of a batch.
    pub fn author(&self) -> Author {
        Author {
            user: self.user,
            staff: self.staff.as_ref().map(|s| s.username.clone()),
            support_identifier: self.grant.as_ref().map(|g| g.identifier.clone()),
            batch_id: None,
        }
    }

    /// An audit entry by this caller.
    pub fn record(&self, action: &'static str, detail: serde_json::Value) -> Record {
        let author = self.author();
        let mut tenants: Vec<u32> = self
            .user
            .and_then(|u| self.site.engine.user(u))
            .and_then(|u| u.tenant)
            .map(|t| t.0)
            .into_iter()
            .collect();
        match &self.reach {
            Reach::Tenant { tenant } => tenants.push(*tenant),
            Reach::Scope { tenants: scope, .. } => tenants.extend(scope.iter().copied()),
            _ => {}
        }
        Record {
            at: self.now,
            actor: author.user,
            staff: author.staff,
            support_identifier: author.support_identifier,
            action,
            detail,
            tenants,
        }
    }

    /// Who the caller is, as the API says it.
    pub fn me(&self) -> Me {
        let e = &self.site.engine;
        let u = self.user.and_then(|u| e.user(u));
        let kind = match self.holder {
            Holder::User(_) => PrincipalKind::User,
            Holder::Staff(_) => PrincipalKind::SupportStaff,
            Holder::Key(_) => PrincipalKind::ApiKey,
        };
        let username = match (&self.staff, u) {
            (Some(s), _) => s.username.clone(),
            (None, Some(u)) => u.username.clone(),
            (None, None) => String::from("service key"),
        };
        Me {
            kind,
            user: self.user.map(|u| u.0),
            username,
            fullname: u
                .and_then(|u| u.fullname.clone())
                .or_else(|| self.staff.as_ref().and_then(|s| s.fullname.clone())),
            site_admin: self.user.is_some_and(|u| e.is_site_admin(u)),
            tenant: u.and_then(|u| u.tenant).map(|t| t.0),
            reach: self.reach.clone(),
            support: self.staff.as_ref().map(|s| SupportIdentity {
                staff: s.id,
                staff_username: s.username.clone(),
                grant: self.grant.as_ref().map(|g| g.id),
                identifier: self.grant.as_ref().map(|g| g.identifier.clone()),
                expires_at: self.grant.as_ref().map(|g| g.expires_at),
            }),
        }
    }
}

/// Whether a site user may make (and keep working) service keys: it can sign in, holds
/// `moodle/site:config` at the system context and is not a support identity.
pub fn may_make_keys(e: &capstan_core::Engine, user: UserId, now: Timestamp) -> bool {
    may_sign_in(e, user)
        && !e.is_support_user(user)
        && holds(e, user, crate::reach::SITE_CONFIG, now)
}

fn unauthenticated() -> ApiError {
    ApiError::unauthorized(codes::UNAUTHENTICATED, "sign in first")
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let token_hash = crate::auth::token_hash(bearer(parts).ok_or_else(unauthenticated)?);
        let token = st.token(&token_hash).ok_or_else(unauthenticated)?;
        let now = st.now();
        if token
            .expires_at
            .is_some_and(|exp| exp <= now.unix_seconds())
        {
            return Err(ApiError::unauthorized(
                codes::SESSION_EXPIRED,
                "the session has expired: sign in again",
            ));
        }
        let site = st.site();
        let e = &site.engine;
        let mut caller = Caller {
            holder: token.holder,
            user: None,
            staff: None,
            grant: None,
            site: site.clone(),
            now,
            reach: Reach::Own,
            token_hash,
        };
        match token.holder {
            Holder::User(u) => {
                let u = UserId(u);
                if !may_sign_in(e, u) {
                    return Err(unauthenticated());
                }
                caller.user = Some(u);
                caller.reach = reach_of(e, u, now);
            }
            Holder::Staff(s) => {
                if !e.settings().support_access {
                    return Err(
                        ApiError::forbidden("support access is turned off on this site")
                            .with_code(codes::SUPPORT_DISABLED),
                    );
                }
                let (staff, grant) = {
                    let db = st.db()?;
                    let staff = store::staff_by_id(&db, s)?
                        .filter(|x| !x.account.disabled)
                        .ok_or_else(unauthenticated)?;
                    (staff.account, store::active_grant(&db, s, now)?)
                };
                let grant = grant.filter(|g| e.user(UserId(g.user)).is_some());
                if let Some(g) = &grant {
                    caller.user = Some(UserId(g.user));
                    caller.reach = reach_of(e, UserId(g.user), now);
                }
                caller.staff = Some(staff);
                caller.grant = grant;
                if caller.grant.is_some() {
                    // Every request made under a support identity is logged with it.
                    let detail = json!({"method": parts.method.as_str(), "path": parts.uri.path()});
                    st.audit(&caller.record("request", detail))?;
                }
            }
            Holder::Key(_) => {
                // A key works only while the user who made it may still make keys.
                if token
                    .creator
                    .is_some_and(|u| !may_make_keys(e, UserId(u), now))
                {
                    return Err(ApiError::unauthorized(
                        codes::UNAUTHENTICATED,
                        "this service key's creator may no longer make keys",
                    ));
                }
                caller.reach = Reach::Site;
            }
        }
        Ok(caller)
    }
}
