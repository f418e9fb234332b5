//! Tidings' domain: the types that cannot hold invalid values and the rules that are
//! pure functions of them. No IO, HTTP or SQL here.

pub mod customer;
pub mod keyword;
pub mod mapping;
pub mod message;
pub mod money;
pub mod order;
pub mod phone;
pub mod rcs;
pub mod sms;
pub mod status;
pub mod template;

pub use customer::{Channel, ConsentRecord, CustomerInput, Email, Locale, Purpose, TimeZone};
pub use keyword::Keyword;
pub use message::{
    InboundContent, InboundInput, MessageState, Receipt, ReceiptInput, SubscriptionInput,
};
pub use money::{Currency, Money};
pub use order::{
    Address, Command, EventInput, EventTarget, LineItemInput, OrderInput, OrderRef, ShipmentInput,
    Source,
};
pub use phone::PhoneNumber;
pub use status::{
    derive_order_status, template_for, OrderFacts, OrderStatus, Partial, Status, Track,
};
