//! Segment filters as SQL: one condition over a customer (`c`) and their metrics (`m`),
//! with every value bound as a parameter.
//!
//! Each condition is made two-valued: a customer with no value for an attribute (no
//! order yet, no score yet) fails a comparison instead of making it NULL, so `not`
//! always selects exactly the customers the condition does not.

use insight::segment::{Comparison, Filter, Op, Value};

use super::*;

/// A value bound into a segment's SQL.
#[derive(Clone, Debug)]
pub(super) enum Param {
    Number(f64),
    Text(String),
    Time(DateTime<Utc>),
}

/// The SQL of a filter and the parameters it binds, numbered from `$1`.
pub(super) struct Compiled {
    pub(super) condition: String,
    pub(super) params: Vec<Param>,
}

/// What a filter is evaluated against.
pub(super) struct Context {
    pub(super) now: DateTime<Utc>,
    /// Minor units in one major unit of the shop's currency (100 for EUR, 1 for JPY).
    pub(super) minor_per_major: f64,
}

/// The customers and metrics rows a compiled condition reads.
pub(super) const SEGMENT_FROM: &str = "customers c
    LEFT JOIN customer_metrics m ON m.customer_id = c.id
    LEFT JOIN consent_state s ON s.customer_id = c.id";

pub(super) fn compile(filter: &Filter, ctx: &Context) -> Compiled {
    let mut params = Vec::new();
    let condition = condition(filter, ctx, &mut params);
    Compiled { condition, params }
}

fn condition(filter: &Filter, ctx: &Context, params: &mut Vec<Param>) -> String {
    match filter {
        Filter::And(all) => join(all, " AND ", ctx, params),
        Filter::Or(all) => join(all, " OR ", ctx, params),
        Filter::Not(inner) => format!("(NOT {})", condition(inner, ctx, params)),
        Filter::Compare(c) => comparison(c, ctx, params),
        Filter::Is(name) => flag(name),
    }
}

fn join(all: &[Filter], separator: &str, ctx: &Context, params: &mut Vec<Param>) -> String {
    let parts: Vec<String> = all.iter().map(|f| condition(f, ctx, params)).collect();
    format!("({})", parts.join(separator))
}

/// Binds `param` and returns its placeholder.
fn bind(params: &mut Vec<Param>, param: Param) -> String {
    params.push(param);
    format!("${}", params.len())
}

fn comparison(c: &Comparison, ctx: &Context, params: &mut Vec<Param>) -> String {
    let number = match &c.value {
        Value::Number(n) => *n,
        Value::Text(text) => return text_comparison(&c.attribute, c.op, text, params),
    };
    let column = match c.attribute.as_str() {
        "rfm.recency" => "m.rfm_recency",
        "rfm.frequency" => "m.rfm_frequency",
        "rfm.monetary" => "m.rfm_monetary",
        "orders.count" => "COALESCE(m.orders, 0)",
        "predicted.p_alive" => "m.p_alive",
        "predicted.orders_90d" => "m.expected_orders_90d",
        "orders.spent" | "orders.average" | "predicted.value" => {
            return money(&c.attribute, c.op, number * ctx.minor_per_major, params)
        }
        "orders.days_since_last" => {
            return days_since("m.last_order_at", c.op, number, ctx, params)
        }
        "orders.days_since_first" => {
            return days_since("m.first_order_at", c.op, number, ctx, params)
        }
        "predicted.days_to_next_order" => {
            return days_until("m.next_order_at", c.op, number, ctx, params)
        }
        // Validation admits no other number attribute; nothing matches an unknown one.
        _ => return "FALSE".into(),
    };
    let placeholder = bind(params, Param::Number(number));
    format!("COALESCE({column} {} {placeholder}, FALSE)", sql_op(c.op))
}

fn money(attribute: &str, op: Op, minor: f64, params: &mut Vec<Param>) -> String {
    let column = match attribute {
        "orders.spent" => "COALESCE(m.spent_minor, 0)",
        "orders.average" => "(CASE WHEN m.orders > 0 THEN m.spent_minor / m.orders END)",
        _ => "m.expected_value_minor",
    };
    let placeholder = bind(params, Param::Number(minor));
    format!("COALESCE({column} {} {placeholder}, FALSE)", sql_op(op))
}

fn text_comparison(attribute: &str, op: Op, text: &str, params: &mut Vec<Param>) -> String {
    let column = match attribute {
        "customer.locale" => "c.locale",
        "customer.time_zone" => "c.time_zone",
        "customer.source" => "c.source",
        _ => return "FALSE".into(),
    };
    let placeholder = bind(params, Param::Text(text.to_string()));
    match op {
        Op::Ne => format!("({column} IS NULL OR {column} <> {placeholder})"),
        _ => format!("COALESCE({column} = {placeholder}, FALSE)"),
    }
}

/// `whole days since column op n`, as a comparison of the timestamp itself, so that
/// the SQL needs no date arithmetic of either dialect.
fn days_since(column: &str, op: Op, n: f64, ctx: &Context, params: &mut Vec<Param>) -> String {
    // days = floor((now - t) / 1 day); days >= k  <=>  t <= now - k days.
    let at_least = |k: f64| ctx.now - days(k);
    let (lower, upper) = whole_day_bounds(op, n);
    let mut parts = Vec::new();
    if let Some(k) = lower {
        parts.push(format!(
            "{column} <= {}",
            bind(params, Param::Time(at_least(k)))
        ));
    }
    if let Some(k) = upper {
        parts.push(format!(
            "{column} > {}",
            bind(params, Param::Time(at_least(k + 1.0)))
        ));
    }
    bounded(column, op, parts)
}

/// `whole days from now until column op n`.
fn days_until(column: &str, op: Op, n: f64, ctx: &Context, params: &mut Vec<Param>) -> String {
    // days = floor((t - now) / 1 day); days >= k  <=>  t >= now + k days.
    let after = |k: f64| ctx.now + days(k);
    let (lower, upper) = whole_day_bounds(op, n);
    let mut parts = Vec::new();
    if let Some(k) = lower {
        parts.push(format!(
            "{column} >= {}",
            bind(params, Param::Time(after(k)))
        ));
    }
    if let Some(k) = upper {
        parts.push(format!(
            "{column} < {}",
            bind(params, Param::Time(after(k + 1.0)))
        ));
    }
    bounded(column, op, parts)
}

/// Days beyond which no stored moment lies (about 1,370 years, so that now ± this many
/// stays within both databases' dates): a filter may name any number of days, and more
/// than this many selects the same customers as this many.
const MOST_DAYS: f64 = 500_000.0;

/// `k` days as a duration, held within [`MOST_DAYS`] so that no filter can overflow the
/// date arithmetic.
fn days(k: f64) -> Duration {
    Duration::seconds((k.clamp(-MOST_DAYS, MOST_DAYS) * 86_400.0) as i64)
}

/// For `days op n` over whole days: the least and the most whole days that satisfy it
/// (`None`: unbounded on that side). `!=` is the complement of `=`.
fn whole_day_bounds(op: Op, n: f64) -> (Option<f64>, Option<f64>) {
    match op {
        Op::Ge => (Some(n.ceil()), None),
        Op::Gt => (Some(n.floor() + 1.0), None),
        Op::Le => (None, Some(n.floor())),
        Op::Lt => (None, Some(n.ceil() - 1.0)),
        // No whole day equals a fraction: bounds that cross select nothing.
        Op::Eq | Op::Ne if n.fract() != 0.0 => (Some(n.ceil()), Some(n.floor())),
        Op::Eq | Op::Ne => (Some(n), Some(n)),
    }
}

fn bounded(column: &str, op: Op, parts: Vec<String>) -> String {
    let within = format!("COALESCE({}, FALSE)", parts.join(" AND "));
    match op {
        Op::Ne => format!("({column} IS NOT NULL AND NOT {within})"),
        _ => within,
    }
}

fn sql_op(op: Op) -> &'static str {
    match op {
        Op::Ne => "<>",
        other => other.as_str(),
    }
}

/// Yes-or-no attributes. Consent is the latest record for the purpose and channel (kept
/// in `consent_state`): promotional messages need one granting it, transactional ones go
/// unless refused.
fn flag(name: &str) -> String {
    const PURPOSES: [&str; 2] = ["transactional", "promotional"];
    const CHANNELS: [&str; 3] = ["rcs", "sms", "email"];
    match name.split('.').collect::<Vec<_>>().as_slice() {
        ["consent", purpose, channel]
            if PURPOSES.contains(purpose) && CHANNELS.contains(channel) =>
        {
            let default = if *purpose == "transactional" {
                "TRUE"
            } else {
                "FALSE"
            };
            format!("COALESCE(s.{purpose}_{channel}, {default})")
        }
        ["contact", "phone"] => "(c.phone IS NOT NULL)".into(),
        ["contact", "email"] => "(c.email IS NOT NULL)".into(),
        // Validation admits no other flag; nothing matches an unknown one.
        _ => "FALSE".into(),
    }
}

/// How many customers the condition selects, and the first `sample` of them.
pub(super) async fn segment_preview(
    conn: &mut Conn,
    compiled: &Compiled,
    sample: i64,
) -> Result<SegmentPreview> {
    let count_sql = format!(
        "SELECT COUNT(*) FROM {SEGMENT_FROM} WHERE {}",
        compiled.condition
    );
    let count: i64 = bind_all(sqlx::query(&count_sql), &compiled.params)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    let sample_sql = format!(
        "SELECT c.id, c.first_name, c.last_name, c.email, c.phone, COALESCE(m.orders, 0)
         FROM {SEGMENT_FROM} WHERE {} ORDER BY c.id LIMIT {sample}",
        compiled.condition
    );
    let rows = bind_all(sqlx::query(&sample_sql), &compiled.params)
        .fetch_all(&mut *conn)
        .await?;
    let sample = rows
        .iter()
        .map(|r| {
            Ok(SegmentMember {
                customer_id: r.try_get(0)?,
                first_name: r.try_get(1)?,
                last_name: r.try_get(2)?,
                email: r.try_get(3)?,
                phone: r.try_get(4)?,
                orders: r.try_get(5)?,
            })
        })
        .collect::<Result<_>>()?;
    Ok(SegmentPreview { count, sample })
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>,
    params: &'q [Param],
) -> sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>> {
    for param in params {
        query = match param {
            Param::Number(n) => query.bind(*n),
            Param::Text(t) => query.bind(t.as_str()),
            Param::Time(t) => query.bind(*t),
        };
    }
    query
}
