//! What a template can read: one order, its customer, its shipment and the shop.
//! Replies to keywords (STOP, START, HELP) concern no order; their context has none.
//!
//! The context is plain data, filled by the caller from what it stored. Every key is
//! always present (unknown values are `none`), so templates test optional values with
//! `{% if shipment.eta %}` while a misspelt name is still an error under strict
//! undefined behaviour.

use chrono::{DateTime, TimeZone as _, Utc};
use serde::{Deserialize, Serialize};

use crate::money::{Currency, Money};
use crate::status::Status;

/// Everything a message template may mention, as templates see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateContext {
    /// The customer's language tag (`es-MX`); the shop's default locale applies
    /// without one.
    pub locale: Option<String>,
    /// The customer's IANA time zone; dates are written in UTC without one.
    pub time_zone: Option<String>,
    pub shop: ShopContext,
    pub customer: CustomerContext,
    /// The order the message is about; `none` for replies to keywords.
    pub order: Option<OrderContext>,
    /// The shipment the message is about; every field is `none` when there is none.
    pub shipment: ShipmentContext,
    /// Where to collect the parcel, for `ready_for_pickup`.
    pub pickup: PickupContext,
}

/// The shop that sends the message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopContext {
    pub name: String,
    /// A help page, opened by "Contact us" when no phone is set.
    pub support_url: Option<String>,
    /// A number customers may call: digits and `+ * #`.
    pub support_phone: Option<String>,
    pub support_email: Option<String>,
}

/// The customer, as far as a message greets them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerContext {
    pub first_name: Option<String>,
}

/// The order a message is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderContext {
    /// Tidings' id; postback data carries it, so a reply finds its order.
    pub id: i64,
    /// The number the shop shows the customer (`#1001`).
    pub number: String,
    /// The total in minor units with its currency; `{{ order.total | money }}`.
    pub total: Money,
    pub placed_at: DateTime<Utc>,
    pub status: Status,
    /// `partly_shipped` or `partly_delivered` when shipments disagree.
    pub status_detail: Option<String>,
    /// The order's tracking page on Tidings: an absolute http(s) URL.
    pub tracking_url: String,
}

/// The shipment a message is about.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentContext {
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    /// The carrier's own tracking link, as the carrier gave it (not checked).
    pub tracking_url: Option<String>,
    /// When the carrier expects to deliver.
    pub eta: Option<DateTime<Utc>>,
}

/// A pickup point.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickupContext {
    pub name: Option<String>,
    /// One line a map app can search for.
    pub address: Option<String>,
}

impl TemplateContext {
    /// A representative order with every optional value set: templates are checked
    /// against it when saved.
    pub fn sample() -> TemplateContext {
        let at = |day, hour| Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap();
        TemplateContext {
            locale: Some("en".into()),
            time_zone: Some("Europe/Madrid".into()),
            shop: ShopContext {
                name: "Tidings Shop".into(),
                support_url: Some("https://shop.example/help".into()),
                support_phone: Some("+34910000000".into()),
                support_email: Some("help@shop.example".into()),
            },
            customer: CustomerContext {
                first_name: Some("Ana".into()),
            },
            order: Some(OrderContext {
                id: 1042,
                number: "#1042".into(),
                total: Money {
                    minor: 5990,
                    currency: Currency::parse("EUR").expect("EUR is a currency code"),
                },
                placed_at: at(20, 10),
                status: Status::InTransit,
                status_detail: Some("partly_shipped".into()),
                tracking_url: "https://track.example/t/2f6c1a9e0b7d4c3a".into(),
            }),
            shipment: ShipmentContext {
                carrier: Some("Correos Express".into()),
                tracking_number: Some("ES1234567890".into()),
                tracking_url: Some("https://carrier.example/track/ES1234567890".into()),
                eta: Some(at(27, 18)),
            },
            pickup: PickupContext {
                name: Some("Kiosko Sol".into()),
                address: Some("Puerta del Sol 1, 28013 Madrid".into()),
            },
        }
    }

    /// The same order with every optional value unknown: a template that prints one
    /// without testing it first fails against this sample.
    pub fn sparse_sample() -> TemplateContext {
        let full = TemplateContext::sample();
        TemplateContext {
            locale: None,
            time_zone: None,
            shop: ShopContext {
                name: full.shop.name,
                ..ShopContext::default()
            },
            customer: CustomerContext::default(),
            order: full.order.map(|order| OrderContext {
                status_detail: None,
                ..order
            }),
            shipment: ShipmentContext::default(),
            pickup: PickupContext::default(),
        }
    }

    /// The same context about no order, as a reply to a keyword sees it.
    pub fn without_order(self) -> TemplateContext {
        TemplateContext {
            order: None,
            shipment: ShipmentContext::default(),
            pickup: PickupContext::default(),
            ..self
        }
    }

    /// The context as templates read it: text trimmed, and blank text made `none`, so
    /// `{% if customer.first_name %}` is false for a name of spaces.
    pub(crate) fn normalised(&self) -> TemplateContext {
        let mut context = self.clone();
        for field in context.optional_text_mut() {
            *field = field.take().and_then(|text| non_blank(&text));
        }
        context.shop.name = context.shop.name.trim().to_string();
        if let Some(order) = &mut context.order {
            order.number = order.number.trim().to_string();
            order.status_detail = order.status_detail.take().and_then(|t| non_blank(&t));
        }
        context
    }

    fn optional_text_mut(&mut self) -> [&mut Option<String>; 11] {
        [
            &mut self.locale,
            &mut self.time_zone,
            &mut self.shop.support_url,
            &mut self.shop.support_phone,
            &mut self.shop.support_email,
            &mut self.customer.first_name,
            &mut self.shipment.carrier,
            &mut self.shipment.tracking_number,
            &mut self.shipment.tracking_url,
            &mut self.pickup.name,
            &mut self.pickup.address,
        ]
    }
}

fn non_blank(text: &str) -> Option<String> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_text_reads_as_unknown_and_text_is_trimmed() {
        let mut context = TemplateContext::sample();
        context.customer.first_name = Some("   ".into());
        context.shipment.carrier = Some("  UPS ".into());
        let seen = context.normalised();
        assert_eq!(seen.customer.first_name, None);
        assert_eq!(seen.shipment.carrier.as_deref(), Some("UPS"));
    }

    #[test]
    fn the_sparse_sample_knows_only_what_every_order_has() {
        let sparse = TemplateContext::sparse_sample();
        assert_eq!(sparse.shipment, ShipmentContext::default());
        assert_eq!(sparse.pickup, PickupContext::default());
        assert!(sparse.customer.first_name.is_none());
        assert!(!sparse.order.unwrap().tracking_url.is_empty());
    }
}
