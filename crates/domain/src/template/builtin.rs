//! The templates Tidings ships: one per notification key and language, embedded from
//! `crates/domain/templates/{key}.{locale}.json`.

/// Every key the outbox writes: order updates, then replies to keywords.
pub const KEYS: [&str; 12] = [
    "confirmed",
    "shipped",
    "out_for_delivery",
    "ready_for_pickup",
    "delivered",
    "delayed",
    "delivery_exception",
    "cancelled",
    "refunded",
    "opt_out_ack",
    "opt_in_ack",
    "help",
];

/// The keys of order updates (see `status::template_for`), in timeline order.
pub const ORDER_KEYS: [&str; 9] = [
    "confirmed",
    "shipped",
    "out_for_delivery",
    "ready_for_pickup",
    "delivered",
    "delayed",
    "delivery_exception",
    "cancelled",
    "refunded",
];

/// The keys of replies to keywords (see `Keyword::reply_template`); they concern no
/// order, so their templates see none.
pub const REPLY_KEYS: [&str; 3] = ["opt_out_ack", "opt_in_ack", "help"];

/// Locales every key has a built-in template for.
pub const LOCALES: [&str; 2] = ["en", "es"];

macro_rules! builtin {
    ($($key:literal),* $(,)?) => {
        &[$(
            ($key, "en", include_str!(concat!("../../templates/", $key, ".en.json"))),
            ($key, "es", include_str!(concat!("../../templates/", $key, ".es.json"))),
        )*]
    };
}

/// Key, locale and body of every built-in template.
pub(super) const TEMPLATES: &[(&str, &str, &str)] = builtin!(
    "confirmed",
    "shipped",
    "out_for_delivery",
    "ready_for_pickup",
    "delivered",
    "delayed",
    "delivery_exception",
    "cancelled",
    "refunded",
    "opt_out_ack",
    "opt_in_ack",
    "help",
);
