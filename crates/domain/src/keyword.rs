//! Keywords a customer texts to stop, resume or ask about business messages.
//!
//! Carriers and regulators expect these to work on any channel a phone number texts
//! from: STOP and its family revoke consent to promotional messages, START and its
//! family restore it, HELP gets an answer. A keyword counts only as the whole message
//! (case, surrounding spaces and punctuation aside), as Twilio matches them, so "please
//! stop sending the blue one" is an ordinary message and not an opt-out.

use serde::{Deserialize, Serialize};

/// Opt-out keywords: Twilio's defaults, the replies the FCC treats as revoking consent
/// (47 CFR 64.1200(a)(10), "opt out" among them), AWS's additions, and the words Google
/// Messages' Unsubscribe menu sends in Spanish (`BAJA`) and Portuguese (`PARAR`).
/// `ALTO` ("stop" in Spanish) is what US Spanish-language programs commonly list.
const OPT_OUT: [&str; 16] = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
    "OPT OUT",
    "OPT-OUT",
    "REMOVE",
    "ARRET",
    "ARRÊT",
    "BAJA",
    "ALTO",
    "PARAR",
];

/// Opt-in keywords: Twilio's defaults, `SUBSCRIBE`, and the words Google Messages sends
/// on resubscribe in Spanish, French and Portuguese.
const OPT_IN: [&str; 9] = [
    "START",
    "YES",
    "UNSTOP",
    "SUBSCRIBE",
    "ALTA",
    "DÉMARRER",
    "DEMARRER",
    "COMEÇAR",
    "COMECAR",
];

/// Requests for help: the carriers' HELP and INFO, and Spanish `AYUDA`.
const HELP: [&str; 3] = ["HELP", "INFO", "AYUDA"];

/// What a keyword message asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Keyword {
    /// Stop promotional messages on this channel.
    OptOut,
    /// Resume promotional messages on this channel.
    OptIn,
    /// Tell me who you are and how to reach you.
    Help,
}

impl Keyword {
    /// The keyword `text` is, if the whole message is one.
    pub fn recognize(text: &str) -> Option<Keyword> {
        let word = normalize(text);
        if OPT_OUT.contains(&word.as_str()) {
            Some(Keyword::OptOut)
        } else if OPT_IN.contains(&word.as_str()) {
            Some(Keyword::OptIn)
        } else if HELP.contains(&word.as_str()) {
            Some(Keyword::Help)
        } else {
            None
        }
    }

    /// The template of the one reply the keyword gets.
    pub fn reply_template(self) -> &'static str {
        match self {
            Keyword::OptOut => "opt_out_ack",
            Keyword::OptIn => "opt_in_ack",
            Keyword::Help => "help",
        }
    }

    /// Whether the keyword grants (`Some(true)`) or revokes (`Some(false)`) consent to
    /// promotional messages; `None` when it leaves consent alone.
    pub fn grants_promotional(self) -> Option<bool> {
        match self {
            Keyword::OptOut => Some(false),
            Keyword::OptIn => Some(true),
            Keyword::Help => None,
        }
    }
}

/// Upper case, without surrounding whitespace or punctuation, inner runs of whitespace
/// made one space ("Opt   out!" is "OPT OUT").
fn normalize(text: &str) -> String {
    let trimmed = text.trim_matches(|c: char| c.is_whitespace() || ".,;:!¡?¿\"'()".contains(c));
    trimmed
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn stop_words_opt_out_whatever_their_case_and_punctuation() {
        for text in [
            "STOP",
            "stop",
            " Stop. ",
            "StopAll",
            "unsubscribe",
            "cancel",
            "end",
            "QUIT!",
            "opt out",
            "Opt  Out",
            "opt-out",
            "Baja",
            "alto",
            "parar",
            "arrêt",
        ] {
            assert_eq!(Keyword::recognize(text), Some(Keyword::OptOut), "{text:?}");
        }
    }

    #[test]
    fn start_words_opt_in() {
        for text in [
            "START",
            "start",
            "Unstop",
            "subscribe",
            "yes",
            "Alta",
            "Démarrer",
        ] {
            assert_eq!(Keyword::recognize(text), Some(Keyword::OptIn), "{text:?}");
        }
    }

    #[test]
    fn help_words_ask_for_help() {
        for text in ["HELP", "help?", "Info", "ayuda"] {
            assert_eq!(Keyword::recognize(text), Some(Keyword::Help), "{text:?}");
        }
    }

    #[test]
    fn a_keyword_inside_a_sentence_is_an_ordinary_message() {
        for text in [
            "please stop sending the blue one",
            "stop it",
            "STOPP",
            "yes please",
            "help me find my parcel",
            "",
            "   ",
        ] {
            assert_eq!(Keyword::recognize(text), None, "{text:?}");
        }
    }

    #[test]
    fn each_keyword_has_its_reply_and_consent_change() {
        assert_eq!(Keyword::OptOut.reply_template(), "opt_out_ack");
        assert_eq!(Keyword::OptIn.reply_template(), "opt_in_ack");
        assert_eq!(Keyword::Help.reply_template(), "help");
        assert_eq!(Keyword::OptOut.grants_promotional(), Some(false));
        assert_eq!(Keyword::OptIn.grants_promotional(), Some(true));
        assert_eq!(Keyword::Help.grants_promotional(), None);
    }

    proptest! {
        /// A keyword followed by more words is never a keyword.
        #[test]
        fn more_words_make_no_keyword(
            word in proptest::sample::select(OPT_OUT.iter().chain(&OPT_IN).chain(&HELP)
                .copied().collect::<Vec<_>>()),
            rest in "[a-z]{2,8}",
        ) {
            let text = format!("{word} {rest}");
            // "OPT OUT" and "OPT-OUT" are two-word keywords; only more words count.
            prop_assume!(Keyword::recognize(&rest).is_none());
            prop_assert_eq!(Keyword::recognize(&text), None);
        }

        /// Case and surrounding spaces never change what a message is.
        #[test]
        fn case_and_padding_do_not_matter(text in "[a-zA-Z ]{0,12}", pad in " {0,3}") {
            let padded = format!("{pad}{}{pad}", text.to_lowercase());
            prop_assert_eq!(Keyword::recognize(&padded), Keyword::recognize(&text));
        }
    }
}
