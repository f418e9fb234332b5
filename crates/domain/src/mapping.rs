//! Platform and carrier status vocabularies mapped onto the canonical [`Status`].
//!
//! Each function takes the platform's raw string and returns `None` for a value that
//! carries no tracking information (`unknown`, `pending`, ...): such an event is kept on
//! the timeline with its raw status but does not move the order.

use crate::status::Status;

/// Shopify fulfillment event `status`, including the unstable API's additions.
pub fn shopify_fulfillment_event(raw: &str) -> Option<Status> {
    Some(match raw {
        "label_printed" | "label_purchased" | "confirmed" => Status::Fulfilled,
        "carrier_picked_up" | "in_transit" => Status::InTransit,
        "out_for_delivery" => Status::OutForDelivery,
        "ready_for_pickup" | "ready_for_recipient_pickup" => Status::ReadyForPickup,
        // Shopify's `picked_up` means the customer collected the parcel at a pickup point.
        "picked_up" | "delivered" => Status::Delivered,
        "delayed" => Status::Delayed,
        "attempted_delivery" | "failure" | "buyer_action_required" => Status::DeliveryException,
        "returning_to_sender" => Status::Returned,
        _ => return None,
    })
}

/// Shopify fulfillment `shipment_status` (the same vocabulary as fulfillment events).
pub fn shopify_shipment_status(raw: &str) -> Option<Status> {
    shopify_fulfillment_event(raw)
}

/// Shopify fulfillment `status`: only the end states say something about the parcel.
pub fn shopify_fulfillment(raw: &str) -> Option<Status> {
    match raw {
        "success" | "open" | "pending" => Some(Status::Fulfilled),
        "cancelled" | "error" | "failure" => Some(Status::Cancelled),
        _ => None,
    }
}

/// Shopify order `financial_status`: whether the order counts as confirmed.
pub fn shopify_financial(raw: &str) -> Status {
    match raw {
        "authorized" | "paid" | "partially_paid" | "partially_refunded" | "refunded" => {
            Status::Confirmed
        }
        _ => Status::Placed,
    }
}

/// EasyPost tracker and tracking detail `status`.
pub fn easypost(raw: &str) -> Option<Status> {
    Some(match raw {
        "pre_transit" => Status::Fulfilled,
        "in_transit" => Status::InTransit,
        "out_for_delivery" => Status::OutForDelivery,
        "available_for_pickup" => Status::ReadyForPickup,
        "delivered" => Status::Delivered,
        "return_to_sender" => Status::Returned,
        "failure" | "error" => Status::DeliveryException,
        "cancelled" => Status::Cancelled,
        _ => return None,
    })
}

/// WooCommerce order `status`. Core WooCommerce knows no shipments, so `completed`
/// (the merchant shipped the order) is the furthest it can say.
pub fn woocommerce(raw: &str) -> Option<Status> {
    Some(match raw {
        "pending" | "on-hold" | "checkout-draft" => Status::Placed,
        "processing" => Status::Confirmed,
        "completed" => Status::Fulfilled,
        "cancelled" | "failed" => Status::Cancelled,
        "refunded" => Status::Refunded,
        _ => return None,
    })
}

/// AfterShip tracking `tag`.
pub fn aftership(raw: &str) -> Option<Status> {
    Some(match raw {
        "InfoReceived" => Status::Fulfilled,
        "InTransit" => Status::InTransit,
        "OutForDelivery" => Status::OutForDelivery,
        "AvailableForPickup" => Status::ReadyForPickup,
        "Delivered" => Status::Delivered,
        "AttemptFail" | "Exception" => Status::DeliveryException,
        // An expired tracker has had no scan for a long time: the parcel is late.
        "Expired" => Status::Delayed,
        _ => return None,
    })
}

/// Shippo `tracking_status.status`.
pub fn shippo(raw: &str) -> Option<Status> {
    Some(match raw {
        "PRE_TRANSIT" => Status::Fulfilled,
        "TRANSIT" => Status::InTransit,
        "DELIVERED" => Status::Delivered,
        "RETURNED" => Status::Returned,
        "FAILURE" => Status::DeliveryException,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_shopify_event_status_is_mapped() {
        let documented = [
            "label_printed",
            "label_purchased",
            "attempted_delivery",
            "ready_for_pickup",
            "picked_up",
            "carrier_picked_up",
            "confirmed",
            "in_transit",
            "out_for_delivery",
            "delivered",
            "delayed",
            "failure",
            "buyer_action_required",
            "ready_for_recipient_pickup",
            "returning_to_sender",
        ];
        for raw in documented {
            assert!(
                shopify_fulfillment_event(raw).is_some(),
                "{raw} is not mapped"
            );
        }
    }

    #[test]
    fn every_easypost_status_but_unknown_is_mapped() {
        let documented = [
            "pre_transit",
            "in_transit",
            "out_for_delivery",
            "delivered",
            "available_for_pickup",
            "return_to_sender",
            "failure",
            "cancelled",
            "error",
        ];
        for raw in documented {
            assert!(easypost(raw).is_some(), "{raw} is not mapped");
        }
        assert_eq!(easypost("unknown"), None);
    }

    #[test]
    fn every_woocommerce_status_is_mapped() {
        for raw in [
            "pending",
            "processing",
            "on-hold",
            "completed",
            "cancelled",
            "refunded",
            "failed",
        ] {
            assert!(woocommerce(raw).is_some(), "{raw} is not mapped");
        }
    }

    #[test]
    fn every_aftership_tag_but_pending_is_mapped() {
        let tags = [
            "InfoReceived",
            "InTransit",
            "OutForDelivery",
            "AttemptFail",
            "Delivered",
            "AvailableForPickup",
            "Exception",
            "Expired",
        ];
        for raw in tags {
            assert!(aftership(raw).is_some(), "{raw} is not mapped");
        }
        assert_eq!(aftership("Pending"), None);
    }

    #[test]
    fn unknown_values_move_nothing() {
        assert_eq!(shopify_fulfillment_event("teleported"), None);
        assert_eq!(shippo("UNKNOWN"), None);
    }
}
