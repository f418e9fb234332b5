//! The emulator judges messages as Tidings' own validator does: what the domain accepts,
//! `agentMessages.create` accepts; a message that breaks one limit is refused with a
//! 400 naming the field the domain names.

use chrono::{DateTime, Utc};
use domain::rcs::strategies::{invalid_message, valid_message};
use domain::rcs::{AgentMessage, Expiry, LimitError};
use proptest::prop_assert;
use proptest::prop_assert_eq;
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseResult, TestRunner};
use serde_json::Value;
use tokio::runtime::Runtime;
use uuid::Uuid;

use crate::helpers::{config, TestEmulator};

/// Enough cases to meet every kind of content and breakage, few enough for seconds;
/// `PROPTEST_CASES` sets another number for a deeper search.
const CASES: u32 = 64;

const PHONE: &str = "+16136120707";

#[test]
fn every_message_the_domain_accepts_the_emulator_accepts() {
    let world = World::start();
    let generated_at = Utc::now();

    run(valid_message(generated_at), |message| {
        let body = world.body(message, generated_at);
        let answer = world.send(&body);
        prop_assert_eq!(answer.0, 200, "{} for {}", answer.1, body);
        Ok(())
    });
}

#[test]
fn every_message_the_domain_refuses_gets_a_400_naming_the_field() {
    let world = World::start();
    let generated_at = Utc::now();

    run(invalid_message(generated_at), |(message, expected)| {
        let body = world.body(message, generated_at);
        let (status, answer) = world.send(&body);
        prop_assert_eq!(status, 400, "{} for {}", answer, body);
        prop_assert_eq!(&answer["error"]["code"], 400);
        prop_assert_eq!(&answer["error"]["status"], "INVALID_ARGUMENT");
        let text = answer["error"]["message"].as_str().unwrap_or_default();
        prop_assert!(
            names(text, &expected),
            "{} does not name {}",
            text,
            expected
        );
        Ok(())
    });
}

#[test]
fn a_broken_limit_is_the_only_problem_the_emulator_finds() {
    let generated_at = Utc::now();

    run(invalid_message(generated_at), |(message, expected)| {
        let message = sent_now(message, generated_at);
        let bytes = serde_json::to_vec(&message).expect("JSON");
        let problems = emulator::validate::agent_message(&bytes, Utc::now())
            .err()
            .map(|rejection| rejection.problems)
            .unwrap_or_default();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        prop_assert_eq!(paths, vec![expected.path.as_str()], "{:?}", problems);
        Ok(())
    });
}

/// A runtime with an emulator on it that has one RCS phone and no rate limits.
struct World {
    runtime: Runtime,
    emulator: TestEmulator,
}

impl World {
    fn start() -> World {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let phone = emulator::PhoneConfig {
            read_after_ms: None,
            ..emulator::PhoneConfig::rcs(PHONE)
        };
        let emulator = runtime.block_on(TestEmulator::start(config(vec![phone])));
        World { runtime, emulator }
    }

    fn body(&self, message: AgentMessage, generated_at: DateTime<Utc>) -> Value {
        serde_json::to_value(sent_now(message, generated_at)).expect("JSON")
    }

    /// Sends `body` under a new id; the status and the answer's JSON.
    fn send(&self, body: &Value) -> (u16, Value) {
        let id = Uuid::new_v4().to_string();
        let answer = self.runtime.block_on(self.emulator.send(PHONE, &id, body));
        (answer.status, answer.body)
    }
}

/// Runs `test` over `strategy`'s cases, failing with the smallest failing case.
fn run<S: Strategy>(strategy: S, test: impl Fn(S::Value) -> TestCaseResult) {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok());
    let config = Config {
        cases: cases.unwrap_or(CASES),
        // A failure prints its case; nothing is written beside the sources.
        failure_persistence: None,
        ..Config::default()
    };
    if let Err(failure) = TestRunner::new(config).run(&strategy, test) {
        panic!("{failure}");
    }
}

/// The message with its `expireTime` moved on by the time since `generated_at`: the
/// strategy measured it from then, and the emulator measures from now.
fn sent_now(mut message: AgentMessage, generated_at: DateTime<Utc>) -> AgentMessage {
    if let Some(Expiry::ExpireTime(text)) = &message.expiry {
        if let Ok(time) = DateTime::parse_from_rfc3339(text) {
            let moved = time.with_timezone(&Utc) + (Utc::now() - generated_at);
            message.expiry = Some(Expiry::expire_at(moved));
        }
    }
    message
}

/// Whether the 400's `message` names the field of `expected` as one of its problems.
fn names(message: &str, expected: &LimitError) -> bool {
    let Some(problems) = message.strip_prefix("Invalid AgentMessage: ") else {
        return false;
    };
    let label = match expected.path.is_empty() {
        true => "the whole message: ".to_string(),
        false => format!("{}: ", expected.path),
    };
    problems.starts_with(&label) || problems.contains(&format!("; {label}"))
}
