//! Who may open what: the one table of routes and the permission each needs, and the
//! permissions of each role and API key scope.
//!
//! The `authorize` middleware in `http::auth` looks every request up here by method
//! and matched route. A route missing from [`RULES`] is refused for everyone, so a new
//! route stays closed until it is given an entry here.

use axum::http::Method;

/// One thing a caller may be allowed to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read orders, customers, messages, the queue: what everyone may see.
    ReadData,
    /// Write orders, shipments and events: integrations.
    WriteOrders,
    /// Read templates and preview them.
    ReadTemplates,
    /// Save templates: marketing.
    EditTemplates,
    /// Send dead letters again: IT, who watch delivery health.
    RedriveMessages,
    /// Record a customer's consent decision: support.
    EditConsent,
    /// Create and revoke API keys: IT.
    ManageKeys,
    /// Add users, change their roles, disable them: the owner.
    ManageUsers,
    /// Read the audit log: the owner and IT.
    ReadAudit,
    /// One's own session: the home page, logging out, changing one's password.
    OwnAccount,
}

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone: probes, webhooks (which check their own signatures), tracking and
    /// unsubscribe pages (whose tokens are the secret), the login page.
    Public,
    /// A user or key with this permission.
    Requires(Permission),
}

/// One entry of the table: a method on a route pattern as axum matches it.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

const fn rule(method: &'static str, path: &'static str, access: Access) -> Rule {
    Rule {
        method,
        path,
        access,
    }
}

use Access::{Public, Requires};
use Permission::*;

/// Every route Tidings serves, with what it needs.
pub const RULES: &[Rule] = &[
    rule("GET", "/healthz", Public),
    rule("GET", "/readyz", Public),
    // The API.
    rule("GET", "/api/v1/orders", Requires(ReadData)),
    rule("POST", "/api/v1/orders", Requires(WriteOrders)),
    rule("GET", "/api/v1/orders/{id}", Requires(ReadData)),
    rule(
        "POST",
        "/api/v1/orders/{id}/shipments",
        Requires(WriteOrders),
    ),
    rule("POST", "/api/v1/orders/{id}/events", Requires(WriteOrders)),
    rule("GET", "/api/v1/orders/{id}/messages", Requires(ReadData)),
    rule("GET", "/api/v1/messages/dead-letters", Requires(ReadData)),
    rule("GET", "/api/v1/messages/{id}", Requires(ReadData)),
    rule(
        "POST",
        "/api/v1/messages/{id}/redrive",
        Requires(RedriveMessages),
    ),
    rule("GET", "/api/v1/customers/{id}", Requires(ReadData)),
    rule(
        "POST",
        "/api/v1/customers/{id}/consents",
        Requires(EditConsent),
    ),
    rule("GET", "/api/v1/queue", Requires(ReadData)),
    // A segment's count and sample read customers, as their own pages do.
    rule("POST", "/api/v1/segments/preview", Requires(ReadData)),
    rule("GET", "/api/v1/templates", Requires(ReadTemplates)),
    rule(
        "GET",
        "/api/v1/templates/{key}/{locale}",
        Requires(ReadTemplates),
    ),
    rule(
        "PUT",
        "/api/v1/templates/{key}/{locale}",
        Requires(EditTemplates),
    ),
    rule(
        "POST",
        "/api/v1/templates/{key}/preview",
        Requires(ReadTemplates),
    ),
    rule("GET", "/api/v1/audit", Requires(ReadAudit)),
    // Webhooks: each checks its provider's signature or credentials.
    rule("POST", "/webhooks/shopify", Public),
    rule("POST", "/webhooks/woocommerce", Public),
    rule("POST", "/webhooks/easypost", Public),
    rule("POST", "/webhooks/rbm", Public),
    rule("POST", "/webhooks/maap", Public),
    rule("POST", crate::config::sms::WEBHOOK_PATH, Public),
    rule("GET", crate::config::sms::KANNEL_WEBHOOK_PATH, Public),
    rule("POST", crate::config::sms::KANNEL_WEBHOOK_PATH, Public),
    rule("GET", crate::config::sms::KANNEL_INBOUND_PATH, Public),
    rule("POST", crate::config::sms::KANNEL_INBOUND_PATH, Public),
    // Customers' pages: the token in the path is the secret.
    rule("GET", "/t/{token}", Public),
    rule("GET", "/unsubscribe/{token}", Public),
    rule("POST", "/unsubscribe/{token}", Public),
    // The workspace.
    rule("GET", "/app/login", Public),
    rule("POST", "/app/login", Public),
    rule("GET", "/app", Requires(OwnAccount)),
    rule("POST", "/app/logout", Requires(OwnAccount)),
    rule("GET", "/app/password", Requires(OwnAccount)),
    rule("POST", "/app/password", Requires(OwnAccount)),
    rule("GET", "/app/keys", Requires(ManageKeys)),
    rule("POST", "/app/keys", Requires(ManageKeys)),
    rule("POST", "/app/keys/{id}/revoke", Requires(ManageKeys)),
    rule("GET", "/app/users", Requires(ManageUsers)),
    rule("POST", "/app/users", Requires(ManageUsers)),
    rule("POST", "/app/users/{id}", Requires(ManageUsers)),
    rule("GET", "/app/audit", Requires(ReadAudit)),
];

/// What `method` on the matched route `path` needs; `None` when the table has no entry,
/// which callers must treat as refused. HEAD is answered like GET.
pub fn access_for(method: &Method, path: &str) -> Option<Access> {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    RULES
        .iter()
        .find(|r| r.method == method && r.path == path)
        .map(|r| r.access)
}

/// A person's role in the workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Everything, including users.
    Owner,
    /// Templates (and later segments, campaigns, journeys).
    Marketing,
    /// Integrations, API keys, delivery health, the audit log.
    It,
    /// Customers' conversations and consent.
    Support,
    /// Reads, changes nothing.
    Analyst,
}

const EVERYONE: &[Permission] = &[ReadData, ReadTemplates, OwnAccount];

impl Role {
    /// Every role, in the order pages list them.
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Marketing,
        Role::It,
        Role::Support,
        Role::Analyst,
    ];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Marketing => "marketing",
            Role::It => "it",
            Role::Support => "support",
            Role::Analyst => "analyst",
        }
    }

    /// A role by its stored name.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// What the role may do beyond what everyone may.
    fn own(self) -> &'static [Permission] {
        match self {
            Role::Owner => &[
                WriteOrders,
                EditTemplates,
                RedriveMessages,
                EditConsent,
                ManageKeys,
                ManageUsers,
                ReadAudit,
            ],
            Role::Marketing => &[EditTemplates],
            Role::It => &[WriteOrders, RedriveMessages, ManageKeys, ReadAudit],
            Role::Support => &[EditConsent],
            Role::Analyst => &[],
        }
    }

    /// Whether someone with this role may do `permission`.
    pub fn permits(self, permission: Permission) -> bool {
        EVERYONE.contains(&permission) || self.own().contains(&permission)
    }
}

/// What an API key may do: a role's permissions, or one of the narrow integration
/// scopes. Keys have no account of their own, so never `OwnAccount`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scope {
    /// Read orders, customers, messages and templates.
    Read,
    /// Read, write orders, shipments and events, and send dead letters again (which
    /// ingest keys could before roles existed, so integrations keep working).
    Ingest,
    /// Everything an owner may do through the API (kept for keys made before roles).
    Admin,
    Owner,
    Marketing,
    It,
    Support,
    Analyst,
}

impl Scope {
    /// Every scope, in the order pages list them.
    pub const ALL: [Scope; 8] = [
        Scope::Read,
        Scope::Ingest,
        Scope::Admin,
        Scope::Owner,
        Scope::Marketing,
        Scope::It,
        Scope::Support,
        Scope::Analyst,
    ];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Ingest => "ingest",
            Scope::Admin => "admin",
            Scope::Owner => "owner",
            Scope::Marketing => "marketing",
            Scope::It => "it",
            Scope::Support => "support",
            Scope::Analyst => "analyst",
        }
    }

    /// A scope by its stored name.
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether a key with this scope may do `permission`.
    pub fn permits(self, permission: Permission) -> bool {
        if permission == OwnAccount {
            return false;
        }
        match self {
            Scope::Read => matches!(permission, ReadData | ReadTemplates),
            Scope::Ingest => matches!(
                permission,
                ReadData | ReadTemplates | WriteOrders | RedriveMessages
            ),
            Scope::Admin | Scope::Owner => Role::Owner.permits(permission),
            Scope::Marketing => Role::Marketing.permits(permission),
            Scope::It => Role::It.permits(permission),
            Scope::Support => Role::Support.permits(permission),
            Scope::Analyst => Role::Analyst.permits(permission),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_unique() {
        for (i, a) in RULES.iter().enumerate() {
            for b in &RULES[i + 1..] {
                assert!(
                    a.method != b.method || a.path != b.path,
                    "{} {} twice",
                    a.method,
                    a.path
                );
            }
        }
    }

    #[test]
    fn the_analyst_changes_nothing() {
        let writes = [
            WriteOrders,
            EditTemplates,
            RedriveMessages,
            EditConsent,
            ManageKeys,
            ManageUsers,
        ];
        for permission in writes {
            assert!(!Role::Analyst.permits(permission), "{permission:?}");
            assert!(!Scope::Analyst.permits(permission), "{permission:?}");
            assert!(!Scope::Read.permits(permission), "{permission:?}");
        }
    }

    #[test]
    fn only_the_owner_manages_users() {
        for role in Role::ALL {
            assert_eq!(role.permits(ManageUsers), role == Role::Owner, "{role:?}");
        }
    }

    #[test]
    fn head_is_answered_like_get_and_unknown_routes_are_refused() {
        assert_eq!(
            access_for(&Method::HEAD, "/api/v1/queue"),
            Some(Requires(ReadData))
        );
        assert_eq!(access_for(&Method::DELETE, "/api/v1/queue"), None);
        assert_eq!(access_for(&Method::GET, "/api/v1/nothing"), None);
    }
}
