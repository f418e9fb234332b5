//! SMS: which alphabet a text needs, how many segments it costs, and an RCS message made
//! into a short SMS ([`sms_text`]).
//!
//! An SMS carries 140 octets of user data (3GPP TS 23.040 §9.2.3.24). In the GSM 7-bit
//! default alphabet (3GPP TS 23.038 §6.2.1) that is 160 characters; the ten characters
//! of its extension table (`€ [ ] { } \ ^ ~ |` and form feed) are written as an escape
//! plus a second septet, so they count twice. One character outside both tables turns
//! the whole message into UCS-2: 70 UTF-16 units, where an emoji or any other character
//! beyond the Basic Multilingual Plane takes two. A longer text is sent in parts, each
//! giving up 6 octets to the concatenation header: 153 septets or 67 UTF-16 units a part.
//!
//! Parts are cut between characters, never inside one, so a surrogate pair or an escape
//! sequence always stays in one part. Grapheme clusters (a flag, a skin-toned emoji) may
//! still be split between two parts, as most senders do.

mod text;

pub use text::{sms_text, sms_text_in, SMS_TEXT_SEGMENTS};

/// How an SMS is encoded on the air interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// The GSM 7-bit default alphabet with its extension table.
    Gsm7,
    /// UCS-2, counted as UTF-16 units, as handsets and carriers do.
    Ucs2,
}

impl Encoding {
    /// The usual name: `GSM-7` or `UCS-2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        }
    }

    /// The units (septets or UTF-16 units) a message sent as one SMS may hold.
    pub fn single_capacity(self) -> usize {
        match self {
            Encoding::Gsm7 => 160,
            Encoding::Ucs2 => 70,
        }
    }

    /// The units each part of a concatenated message holds, after its header.
    pub fn part_capacity(self) -> usize {
        match self {
            Encoding::Gsm7 => 153,
            Encoding::Ucs2 => 67,
        }
    }

    /// The units `c` takes in this encoding; a character GSM-7 lacks counts 1, but a
    /// text holding one is never [`Encoding::Gsm7`].
    fn units(self, c: char) -> usize {
        match self {
            Encoding::Gsm7 => gsm7_septets(c).unwrap_or(1),
            Encoding::Ucs2 => c.len_utf16(),
        }
    }
}

/// What a text costs as SMS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segments {
    /// The encoding the text needs.
    pub encoding: Encoding,
    /// Its length in the encoding's units: septets (escapes included) or UTF-16 units.
    pub units: usize,
    /// How many SMS it is sent as; an empty text is still one.
    pub count: usize,
}

/// The septets `c` takes in the GSM 7-bit default alphabet: 1 in the basic table, 2 in
/// the extension table (escape plus the character), `None` when it is in neither.
pub fn gsm7_septets(c: char) -> Option<usize> {
    // 3GPP TS 23.038 §6.2.1 (basic table, row by row) and §6.2.1.1 (extension table).
    match c {
        '@' | '£' | '$' | '¥' | 'è' | 'é' | 'ù' | 'ì' | 'ò' | 'Ç' | '\n' | 'Ø' | 'ø' | '\r'
        | 'Å' | 'å' => Some(1),
        'Δ' | '_' | 'Φ' | 'Γ' | 'Λ' | 'Ω' | 'Π' | 'Ψ' | 'Σ' | 'Θ' | 'Ξ' | 'Æ' | 'æ' | 'ß' | 'É' => {
            Some(1)
        }
        ' '
        | '!'
        | '"'
        | '#'
        | '¤'
        | '%'
        | '&'
        | '\''
        | '('
        | ')'
        | '*'
        | '+'
        | ','
        | '-'
        | '.'
        | '/'
        | '0'..='9'
        | ':'
        | ';'
        | '<'
        | '='
        | '>'
        | '?' => Some(1),
        '¡'
        | 'A'..='Z'
        | 'Ä'
        | 'Ö'
        | 'Ñ'
        | 'Ü'
        | '§'
        | '¿'
        | 'a'..='z'
        | 'ä'
        | 'ö'
        | 'ñ'
        | 'ü'
        | 'à' => Some(1),
        '\u{0C}' | '^' | '{' | '}' | '\\' | '[' | '~' | ']' | '|' | '€' => Some(2),
        _ => None,
    }
}

/// Whether every character of `text` is in the GSM 7-bit alphabet.
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm7_septets(c).is_some())
}

/// The encoding `text` needs: GSM-7 when it can, else UCS-2.
pub fn encoding(text: &str) -> Encoding {
    if is_gsm7(text) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// The encoding, length and number of SMS of `text`.
pub fn count_segments(text: &str) -> Segments {
    let encoding = encoding(text);
    Segments {
        encoding,
        units: text.chars().map(|c| encoding.units(c)).sum(),
        count: split_segments(text).len(),
    }
}

/// Whether `text` goes out in at most `max` SMS.
pub fn fits(text: &str, max: usize) -> bool {
    count_segments(text).count <= max
}

/// `text` cut into the parts it is sent as: one part when it fits a single SMS, else
/// parts of at most [`Encoding::part_capacity`] units, each cut between characters.
/// The parts joined give `text` back; an empty text is one empty part.
pub fn split_segments(text: &str) -> Vec<&str> {
    let encoding = encoding(text);
    let total: usize = text.chars().map(|c| encoding.units(c)).sum();
    if total <= encoding.single_capacity() {
        return vec![text];
    }
    let capacity = encoding.part_capacity();
    let mut parts = Vec::with_capacity(total / capacity + 1);
    let (mut start, mut used) = (0, 0);
    for (index, c) in text.char_indices() {
        let cost = encoding.units(c);
        if used + cost > capacity {
            parts.push(&text[start..index]);
            (start, used) = (index, 0);
        }
        used += cost;
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `count` characters `1234567890…`, as the vectors below are written.
    fn digits(from: usize, count: usize) -> String {
        (from..from + count)
            .map(|i| char::from(b'0' + (i % 10) as u8))
            .collect()
    }

    #[test]
    fn the_tables_have_their_published_sizes() {
        // 3GPP TS 23.038 §6.2.1: 128 code points less the escape, and 10 characters of
        // the extension table reachable from it (§6.2.1.1).
        let all = (0..=0x10FFFF).filter_map(char::from_u32);
        let (mut basic, mut extended) = (0, 0);
        for c in all {
            match gsm7_septets(c) {
                Some(1) => basic += 1,
                Some(2) => extended += 1,
                _ => {}
            }
        }
        assert_eq!((basic, extended), (127, 10));
    }

    /// The vectors of Twilio's segment calculator (TwilioDevEd/message-segment-calculator,
    /// `tests/index.test.js`): a message of 160 septets whose first character is an
    /// escape is one SMS, one more character makes two; with an emoji first, 70 UTF-16
    /// units are one SMS and 71 are two.
    #[test]
    fn twilios_published_vectors() {
        let gsm_one = format!("{{{}", digits(2, 158));
        let gsm_two = format!("{{{}", digits(2, 159));
        let ucs_one = format!("😜{}", digits(2, 68));
        let ucs_two = format!("😜{}", digits(2, 69));
        let expected = [
            (&gsm_one, Encoding::Gsm7, 160, 1),
            (&gsm_two, Encoding::Gsm7, 161, 2),
            (&ucs_one, Encoding::Ucs2, 70, 1),
            (&ucs_two, Encoding::Ucs2, 71, 2),
        ];
        for (text, encoding, units, count) in expected {
            let segments = count_segments(text);
            assert_eq!(segments.encoding, encoding, "{text}");
            assert_eq!(segments.units, units, "{text}");
            assert_eq!(segments.count, count, "{text}");
        }
    }

    /// Also from Twilio's calculator (`tests/segments.test.js`): 307 GSM characters are
    /// three parts, the last holding one character; so are an emoji and 133 digits.
    #[test]
    fn twilios_published_split_vectors() {
        let gsm = digits(1, 307);
        let parts = split_segments(&gsm);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2], "7");

        let ucs = format!("😜{}", digits(2, 133));
        let parts = split_segments(&ucs);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2], "4");
    }

    /// The sizes of 3GPP TS 23.040 as tabulated in the reference (§5, "SMS sizing"):
    /// 160/153 for GSM-7 and 70/67 for UCS-2.
    #[test]
    fn boundaries_of_one_two_and_three_parts() {
        let cases = [
            ("a", 160, 1),
            ("a", 161, 2),
            ("a", 306, 2),
            ("a", 307, 3),
            ("é", 160, 1),
            ("€", 80, 1),
            ("€", 81, 2),
            ("á", 70, 1),
            ("á", 71, 2),
            ("á", 134, 2),
            ("á", 135, 3),
        ];
        for (unit, repeat, count) in cases {
            let text = unit.repeat(repeat);
            assert_eq!(count_segments(&text).count, count, "{unit} × {repeat}");
        }
        assert_eq!(count_segments("").count, 1);
    }

    #[test]
    fn an_escape_at_a_part_boundary_moves_to_the_next_part() {
        // 152 septets, then `€` (2 septets) would end at 154: it starts part two.
        let text = format!("{}€{}", "a".repeat(152), "b".repeat(10));
        let parts = split_segments(&text);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], "a".repeat(152));
        assert!(parts[1].starts_with('€'));
    }

    #[test]
    fn a_surrogate_pair_at_a_part_boundary_moves_to_the_next_part() {
        // 66 units, then an emoji (2 units) would end at 68.
        let text = format!("{}😀{}", "á".repeat(66), "b".repeat(10));
        let parts = split_segments(&text);
        assert_eq!(parts[0], "á".repeat(66));
        assert!(parts[1].starts_with('😀'));
    }

    #[test]
    fn one_character_outside_gsm_makes_the_whole_text_ucs2() {
        assert_eq!(encoding("Your order shipped"), Encoding::Gsm7);
        assert_eq!(encoding("Tu pedido está en camino"), Encoding::Ucs2);
        assert_eq!(encoding("Größe: 42 {€}"), Encoding::Gsm7);
        assert_eq!(encoding("Shipped 📦"), Encoding::Ucs2);
        // The basic table has a capital Ç but no small ç.
        assert_eq!(encoding("ç"), Encoding::Ucs2);
    }

    fn any_sms_text() -> impl Strategy<Value = String> {
        // Mostly GSM characters, with escapes and some that force UCS-2 or need two
        // UTF-16 units, so that every kind of boundary comes up.
        let c = prop_oneof![
            8 => proptest::char::range('a', 'z'),
            2 => proptest::sample::select(vec!['€', '{', '^', '\n', 'é', 'Δ']),
            1 => proptest::sample::select(vec!['á', 'ç', '😀', '𝄞', '中']),
        ];
        proptest::collection::vec(c, 0..500).prop_map(|cs| cs.into_iter().collect())
    }

    proptest! {
        #[test]
        fn parts_join_back_into_the_text_and_respect_their_capacity(text in any_sms_text()) {
            let parts = split_segments(&text);
            prop_assert_eq!(parts.concat(), text.clone());
            let segments = count_segments(&text);
            prop_assert_eq!(segments.count, parts.len());
            let encoding = segments.encoding;
            let capacity = if parts.len() == 1 {
                encoding.single_capacity()
            } else {
                encoding.part_capacity()
            };
            for part in &parts {
                let units: usize = part.chars().map(|c| encoding.units(c)).sum();
                prop_assert!(units <= capacity, "{units} > {capacity}");
                prop_assert!(parts.len() == 1 || !part.is_empty());
            }
        }

        #[test]
        fn gsm_counts_follow_the_formula(n in 0usize..1000) {
            let text = "x".repeat(n);
            let expected = if n <= 160 { 1 } else { n.div_ceil(153) };
            prop_assert_eq!(count_segments(&text).count, expected);
        }

        #[test]
        fn ucs2_units_are_utf16_units(text in any_sms_text()) {
            let segments = count_segments(&text);
            if segments.encoding == Encoding::Ucs2 {
                prop_assert_eq!(segments.units, text.encode_utf16().count());
            }
        }

        #[test]
        fn a_longer_text_never_costs_fewer_parts(text in any_sms_text(), more in any_sms_text()) {
            let longer = format!("{text}{more}");
            prop_assert!(count_segments(&longer).count >= count_segments(&text).count);
        }
    }
}
