//! What a template sees of a message: its order, customer and shipment, and the shop.
//! Replies to keywords concern no order, so theirs is `none`.

use domain::money::{Currency, Money};
use domain::rcs::AgentMessage;
use domain::template::{
    CustomerContext, OrderContext, PickupContext, ShipmentContext, ShopContext, TemplateContext,
};
use store::{DueMessage, MessageOrder};

use crate::config::Config;

/// The shop as messages show it, from the settings.
pub fn shop_context(config: &Config) -> ShopContext {
    ShopContext {
        name: config.shop.name.clone(),
        support_url: config.shop.support_url.clone(),
        support_phone: config.shop.support_phone.clone(),
        support_email: config.shop.support_email.clone(),
    }
}

/// The text an SMS carries for a message whose template rendered `rendered`: its
/// words, the tracking link, in the customer's language.
pub fn sms_text(message: &DueMessage, rendered: &AgentMessage, config: &Config) -> String {
    // A reply to a keyword has no order, so no tracking page to link to.
    let tracking = message
        .order
        .as_ref()
        .map(|o| config.tracking_url(&o.tracking_token));
    let language = message
        .customer
        .as_ref()
        .and_then(|c| c.locale.as_deref())
        .map_or("en", |l| l.get(..2).unwrap_or("en"));
    domain::sms::sms_text_in(rendered, tracking.as_deref(), language)
}

/// The context one message's template renders against.
///
/// # Errors
/// When the stored order's currency is not an ISO 4217 code (it was checked when the
/// order came in, so this means the row was edited by hand).
pub fn message_context(
    message: &DueMessage,
    shop: &ShopContext,
    config: &Config,
) -> Result<TemplateContext, String> {
    let order = message
        .order
        .as_ref()
        .map(|order| order_context(order, config))
        .transpose()?;
    let customer = message.customer.as_ref();
    let shipment = message.shipment.as_ref();
    Ok(TemplateContext {
        locale: customer.and_then(|c| c.locale.clone()),
        time_zone: customer.and_then(|c| c.time_zone.clone()),
        shop: shop.clone(),
        customer: CustomerContext {
            first_name: customer.and_then(|c| c.first_name.clone()),
        },
        order,
        shipment: ShipmentContext {
            carrier: shipment.and_then(|s| s.carrier.clone()),
            tracking_number: shipment.and_then(|s| s.tracking_number.clone()),
            tracking_url: shipment.and_then(|s| s.tracking_url.clone()),
            eta: shipment.and_then(|s| s.estimated_delivery),
        },
        pickup: pickup(message),
    })
}

fn order_context(order: &MessageOrder, config: &Config) -> Result<OrderContext, String> {
    let currency = Currency::parse(&order.currency)
        .map_err(|e| format!("order {} has an unusable currency: {e}", order.id))?;
    Ok(OrderContext {
        id: order.id,
        number: order.number.clone(),
        total: Money {
            minor: order.total_minor,
            currency,
        },
        placed_at: order.placed_at,
        status: order.status,
        status_detail: order.status_detail.clone(),
        tracking_url: config.tracking_url(&order.tracking_token),
    })
}

/// Where to collect a parcel: the shipping address, which a store sets to the pickup
/// point for "collect in store" and locker deliveries.
fn pickup(message: &DueMessage) -> PickupContext {
    let Some(address) = message
        .order
        .as_ref()
        .and_then(|o| o.shipping_address.as_ref())
    else {
        return PickupContext::default();
    };
    let town = [&address.postal_code, &address.city]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    let parts: Vec<&str> = [&address.line1, &address.line2]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .chain([town.as_str()])
        .chain(address.country.as_deref())
        .filter(|p| !p.trim().is_empty())
        .collect();
    PickupContext {
        name: None,
        address: (!parts.is_empty()).then(|| parts.join(", ")),
    }
}

/// An email's subject for a message: the shop, the order number and what happened, in
/// the customer's language (English or Spanish; English for others). A reply to a
/// keyword names no order.
pub fn email_subject(message: &DueMessage, shop: &ShopContext) -> String {
    let spanish = message
        .customer
        .as_ref()
        .and_then(|c| c.locale.as_deref())
        .is_some_and(|l| l.to_ascii_lowercase().starts_with("es"));
    let Some(order) = &message.order else {
        return format!(
            "{}: {}",
            shop.name,
            reply_subject(&message.template_key, spanish)
        );
    };
    let what = match (message.template_key.as_str(), spanish) {
        ("confirmed", false) => "order confirmed",
        ("confirmed", true) => "pedido confirmado",
        ("shipped", false) => "your order is on its way",
        ("shipped", true) => "tu pedido está en camino",
        ("out_for_delivery", false) => "out for delivery today",
        ("out_for_delivery", true) => "en reparto hoy",
        ("ready_for_pickup", false) => "ready for pickup",
        ("ready_for_pickup", true) => "listo para recoger",
        ("delivered", false) => "delivered",
        ("delivered", true) => "entregado",
        ("delayed", false) => "running late",
        ("delayed", true) => "con retraso",
        ("delivery_exception", false) => "a problem with your delivery",
        ("delivery_exception", true) => "un problema con tu entrega",
        ("cancelled", false) => "order cancelled",
        ("cancelled", true) => "pedido cancelado",
        ("refunded", false) => "refund issued",
        ("refunded", true) => "reembolso emitido",
        (_, false) => "an update on your order",
        (_, true) => "novedades de tu pedido",
    };
    format!("{}: {} {what}", shop.name, order.number)
}

/// What a reply to a keyword says, as a subject.
fn reply_subject(template_key: &str, spanish: bool) -> &'static str {
    match (template_key, spanish) {
        ("opt_out_ack", false) => "you're unsubscribed from offers",
        ("opt_out_ack", true) => "te has dado de baja de las ofertas",
        ("opt_in_ack", false) => "you're subscribed again",
        ("opt_in_ack", true) => "te has vuelto a suscribir",
        ("help", false) => "how to reach us",
        ("help", true) => "cómo contactar con nosotros",
        (_, false) => "a message for you",
        (_, true) => "un mensaje para ti",
    }
}

#[cfg(test)]
mod tests {
    use store::MessageCustomer;
    use uuid::Uuid;

    use super::*;

    fn reply(template_key: &str, locale: &str) -> DueMessage {
        DueMessage {
            id: Uuid::nil(),
            template_key: template_key.into(),
            status: None,
            purpose: "transactional".into(),
            attempts: 0,
            order: None,
            customer: Some(MessageCustomer {
                id: 1,
                first_name: None,
                last_name: None,
                phone: None,
                email: Some("ana@example.com".into()),
                locale: Some(locale.into()),
                time_zone: None,
                unsubscribe_token: None,
            }),
            shipment: None,
            exhausted: Vec::new(),
            only_channel: Some("email".into()),
            consents: Vec::new(),
            recent_promotional: Vec::new(),
            escalated: false,
        }
    }

    #[test]
    fn a_reply_to_a_keyword_is_rendered_and_titled_without_an_order() {
        let config = Config::default();
        let shop = shop_context(&config);
        let message = reply("opt_out_ack", "en");

        let context = message_context(&message, &shop, &config).unwrap();

        assert_eq!(context.order, None);
        assert_eq!(
            email_subject(&message, &shop),
            format!("{}: you're unsubscribed from offers", shop.name)
        );
        let spanish = reply("help", "es-MX");
        assert_eq!(
            email_subject(&spanish, &shop),
            format!("{}: cómo contactar con nosotros", shop.name)
        );
    }
}
