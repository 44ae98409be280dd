//! Classifies an inbound text for the texting opt-in rules: carrier keywords (STOP, START, HELP and
//! their synonyms), plain-language revocations ("please stop texting me") and messages that merely
//! mention an opt-out word ("I can't stop coughing").
//!
//! Owns the keyword lists and the revocation phrase matcher. It never decides what a text does to
//! the patient's texting status (that is `texting`), never logs, stores or returns the body, and
//! has no I/O.
//!
//! Every rule works on the same normalised token list: lower case, full-width forms folded to
//! ASCII, apostrophes (straight and curly) deleted so that "don't" and "don’t" both read `dont`,
//! every other character that is not a letter or a digit a separator. So "STOP!", " stop ",
//! "'Stop'" (the opt-in message quotes it that way) and "Opt-Out." all match.
//!
//! The FCC lets patients revoke consent "by any reasonable means" (47 CFR 64.1200(a)(10)), so a
//! clear plain-language revocation opts out just like a keyword. "Clear" is kept deliberately
//! narrow: the whole message must be a revocation once politeness ("please", "thanks") and a list
//! qualifier ("from this list", "of these texts") are set aside. Anything else that contains an
//! opt-out word is only flagged to staff, because acting on "I can't stop coughing" would cut a
//! patient off from their care team.

/// A carrier keyword: the whole message is one of these words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keyword {
    /// STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT.
    OptOut,
    /// START, UNSTOP, YES.
    OptIn,
    /// HELP, INFO.
    Help,
}

/// Opt-out keywords, including REVOKE and OPTOUT (carriers added them on 2025-05-14).
pub const OPT_OUT_KEYWORDS: [&str; 8] = [
    "stop",
    "stopall",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "revoke",
    "optout",
];
/// Opt-in keywords.
pub const OPT_IN_KEYWORDS: [&str; 3] = ["start", "unstop", "yes"];
/// Help keywords.
pub const HELP_KEYWORDS: [&str; 2] = ["help", "info"];

impl Keyword {
    /// The keyword a single word is, ignoring ASCII case.
    #[must_use]
    pub fn from_word(word: &str) -> Option<Keyword> {
        let is = |list: &[&str]| list.iter().any(|k| k.eq_ignore_ascii_case(word));
        if is(&OPT_OUT_KEYWORDS) {
            Some(Keyword::OptOut)
        } else if is(&OPT_IN_KEYWORDS) {
            Some(Keyword::OptIn)
        } else if is(&HELP_KEYWORDS) {
            Some(Keyword::Help)
        } else {
            None
        }
    }
}

/// What an inbound text is, as far as opting in and out goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Classification {
    /// The whole message is a carrier keyword.
    Keyword(Keyword),
    /// A clear plain-language revocation ("opt me out", "don't text me anymore"): acts exactly
    /// like an opt-out keyword. Kept apart so that audit can say which one the patient used.
    RevocationPhrase,
    /// Contains an opt-out word as a whole word but is not a clear revocation: delivered as
    /// usual and flagged to staff.
    PossibleOptOut,
    /// Anything else.
    Ordinary,
}

impl Classification {
    /// Whether the text opts the patient out (an opt-out keyword or a revocation phrase).
    #[must_use]
    pub const fn is_opt_out(self) -> bool {
        matches!(
            self,
            Classification::Keyword(Keyword::OptOut) | Classification::RevocationPhrase
        )
    }
}

/// Classifies an inbound message body. Total: any string, including an empty one, gets an answer.
#[must_use]
pub fn classify(body: &str) -> Classification {
    let tokens = tokenize(body);
    let words: Vec<&str> = tokens.iter().map(String::as_str).collect();
    if let [only] = words.as_slice()
        && let Some(keyword) = Keyword::from_word(only)
    {
        return Classification::Keyword(keyword);
    }
    if is_revocation_phrase(&words) {
        return Classification::RevocationPhrase;
    }
    if mentions_opt_out_word(&words) {
        return Classification::PossibleOptOut;
    }
    Classification::Ordinary
}

/// True when the whole text is the word "yes" (any case, punctuation around it ignored).
#[must_use]
pub fn is_plain_yes(body: &str) -> bool {
    matches!(tokenize(body).as_slice(), [only] if only == "yes")
}

/// Lower-cased words of letters and digits. Apostrophes are deleted rather than split on, so that
/// contractions stay one word ("don’t" → `dont`) and a quoted 'STOP' is just `stop`.
fn tokenize(body: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    for c in body.chars().map(fold_full_width) {
        if is_apostrophe(c) {
            continue;
        }
        if c.is_alphanumeric() {
            current.extend(c.to_lowercase());
        } else if !current.is_empty() {
            tokens.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

/// Full-width Latin letters, digits and punctuation (U+FF01..U+FF5E) as their ASCII twins, so a
/// phone set to a CJK keyboard can still text "ＳＴＯＰ".
fn fold_full_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

fn is_apostrophe(c: char) -> bool {
    matches!(
        c,
        '\'' | '\u{2018}' | '\u{2019}' | '\u{02BC}' | '\u{0060}' | '\u{00B4}' | '\u{2032}'
    )
}

// --- The revocation phrase matcher ----------------------------------------------------------
//
// A message is a revocation when, after repeatedly setting aside a leading filler ("please",
// "can you", "i want to"), a trailing filler ("please", "thanks", "anymore") and a trailing list
// qualifier ("from this list", "of these texts", "this number"), what is left is a core phrase.
// Some cores are only clear with a qualifier: "cancel these texts" opts out, "cancel" alone is a
// keyword, but "cancel" with anything else ("cancel my appointment") is not a revocation.

/// Phrases that open a request without changing it. Longest match wins.
const LEADING_FILLERS: &[&[&str]] = &[
    &["please"],
    &["pls"],
    &["plz"],
    &["kindly"],
    &["hi"],
    &["hello"],
    &["hey"],
    &["ok"],
    &["okay"],
    &["yes"],
    &["i"],
    &["can", "you"],
    &["could", "you"],
    &["would", "you"],
    &["will", "you"],
    &["i", "want", "to"],
    &["i", "wanna"],
    &["i", "would", "like", "to"],
    &["id", "like", "to"],
    &["i", "need", "to"],
    &["i", "wish", "to"],
    &["i", "want", "you", "to"],
    &["i", "need", "you", "to"],
];

/// Phrases that close a request without changing it.
const TRAILING_FILLERS: &[&[&str]] = &[
    &["please"],
    &["pls"],
    &["plz"],
    &["thanks"],
    &["thank", "you"],
    &["thankyou"],
    &["thx"],
    &["ty"],
    &["now"],
    &["right", "now"],
    &["asap"],
    &["immediately"],
    &["anymore"],
    &["any", "more"],
    &["again"],
    &["ever", "again"],
    &["for", "good"],
    &["permanently"],
    &["ok"],
    &["okay"],
];

/// What a revocation may name as the thing to stop.
const QUALIFIER_NOUNS: &[&[&str]] = &[
    &["text", "messages"],
    &["texting", "list"],
    &["mailing", "list"],
    &["contact", "list"],
    &["list"],
    &["texts"],
    &["text"],
    &["txts"],
    &["messages"],
    &["message"],
    &["msgs"],
    &["sms"],
    &["number"],
    &["subscription"],
    &["consent"],
];

const QUALIFIER_DETERMINERS: &[&[&str]] = &[
    &["all", "these"],
    &["all", "the"],
    &["all", "your"],
    &["any", "more"],
    &["this"],
    &["these"],
    &["that"],
    &["those"],
    &["the"],
    &["your"],
    &["ur"],
    &["my"],
    &["all"],
    &["any"],
];

const QUALIFIER_PREPOSITIONS: &[&[&str]] = &[&["from"], &["of"]];

/// Whether a core phrase is a revocation on its own or only with a list qualifier.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Needs {
    Nothing,
    Qualifier,
}

const CORE_PHRASES: &[(&str, Needs)] = &[
    ("stop", Needs::Nothing),
    ("stop all", Needs::Nothing),
    ("stopall", Needs::Nothing),
    ("unsubscribe", Needs::Nothing),
    ("unsubscribe me", Needs::Nothing),
    ("optout", Needs::Nothing),
    ("opt out", Needs::Nothing),
    ("opt me out", Needs::Nothing),
    ("revoke", Needs::Nothing),
    ("stop texting", Needs::Nothing),
    ("stop texting me", Needs::Nothing),
    ("stop txting me", Needs::Nothing),
    ("stop messaging", Needs::Nothing),
    ("stop messaging me", Needs::Nothing),
    ("stop contacting me", Needs::Nothing),
    ("stop sending", Needs::Nothing),
    ("stop sending me", Needs::Nothing),
    ("quit texting me", Needs::Nothing),
    ("quit messaging me", Needs::Nothing),
    ("dont text", Needs::Nothing),
    ("dont text me", Needs::Nothing),
    ("do not text", Needs::Nothing),
    ("do not text me", Needs::Nothing),
    ("dont message me", Needs::Nothing),
    ("do not message me", Needs::Nothing),
    ("dont contact me", Needs::Nothing),
    ("do not contact me", Needs::Nothing),
    ("never text me", Needs::Nothing),
    ("never contact me", Needs::Nothing),
    ("remove me", Needs::Nothing),
    ("take me off", Needs::Nothing),
    ("dont send me", Needs::Qualifier),
    ("do not send me", Needs::Qualifier),
    ("dont want", Needs::Qualifier),
    ("do not want", Needs::Qualifier),
    ("no more", Needs::Qualifier),
    ("remove", Needs::Qualifier),
    ("cancel", Needs::Qualifier),
];

/// Opt-out words that stay a clear revocation when repeated or combined ("stop stop").
const UNAMBIGUOUS_OPT_OUT_WORDS: [&str; 5] = ["stop", "stopall", "unsubscribe", "optout", "revoke"];

fn is_revocation_phrase(words: &[&str]) -> bool {
    let mut rest = words;
    let mut qualified = false;
    loop {
        let before = rest.len();
        rest = strip_leading(rest, LEADING_FILLERS);
        rest = strip_trailing(rest, TRAILING_FILLERS);
        if let Some(shorter) = strip_qualifier(rest) {
            rest = shorter;
            qualified = true;
        }
        if rest.len() == before {
            break;
        }
    }
    if rest.is_empty() {
        return false;
    }
    let core = rest.join(" ");
    let is_core = CORE_PHRASES
        .iter()
        .any(|&(phrase, needs)| phrase == core && (needs == Needs::Nothing || qualified));
    is_core
        || rest
            .iter()
            .all(|word| UNAMBIGUOUS_OPT_OUT_WORDS.contains(word))
}

/// `words` without the longest of `fillers` it starts with.
fn strip_leading<'a, 'b>(words: &'a [&'b str], fillers: &[&[&str]]) -> &'a [&'b str] {
    fillers
        .iter()
        .filter(|filler| words.starts_with(filler))
        .map(|filler| filler.len())
        .max()
        .map_or(words, |n| &words[n..])
}

/// `words` without the longest of `fillers` it ends with.
fn strip_trailing<'a, 'b>(words: &'a [&'b str], fillers: &[&[&str]]) -> &'a [&'b str] {
    fillers
        .iter()
        .filter(|filler| words.ends_with(filler))
        .map(|filler| filler.len())
        .max()
        .map_or(words, |n| &words[..words.len() - n])
}

/// `words` without a trailing "[from|of] [determiner] noun", when it ends with a noun.
fn strip_qualifier<'a, 'b>(words: &'a [&'b str]) -> Option<&'a [&'b str]> {
    let without_noun = strip_trailing(words, QUALIFIER_NOUNS);
    if without_noun.len() == words.len() {
        return None;
    }
    let without_determiner = strip_trailing(without_noun, QUALIFIER_DETERMINERS);
    Some(strip_trailing(without_determiner, QUALIFIER_PREPOSITIONS))
}

/// An opt-out keyword as a whole word anywhere, or the two words "opt out".
fn mentions_opt_out_word(words: &[&str]) -> bool {
    words.iter().any(|word| OPT_OUT_KEYWORDS.contains(word))
        || words.windows(2).any(|pair| pair == ["opt", "out"])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The casings a phone, a caps-lock or a careless thumb produce.
    fn casings(word: &str) -> Vec<String> {
        let lower = word.to_lowercase();
        let upper = word.to_uppercase();
        let title = format!("{}{}", &upper[..1], &lower[1..]);
        let alternating: String = lower
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        let last_upper = format!("{}{}", &lower[..lower.len() - 1], &upper[upper.len() - 1..]);
        vec![lower, upper, title, alternating, last_upper]
    }

    /// Surrounding white space and trailing punctuation a keyword may carry.
    const DECORATIONS: [(&str, &str); 12] = [
        ("", ""),
        ("", "."),
        ("", "!"),
        ("", "!!!"),
        ("", "?"),
        ("  ", "  "),
        ("\t", "\n"),
        ("\r\n", ".\r\n"),
        ("", " . "),
        ("'", "'"),
        ("\"", "\"."),
        ("\u{00A0}", "\u{2026}"),
    ];

    fn decorated(word: &str) -> Vec<String> {
        casings(word)
            .into_iter()
            .flat_map(|w| {
                DECORATIONS
                    .iter()
                    .map(move |(before, after)| format!("{before}{w}{after}"))
            })
            .collect()
    }

    fn assert_all(bodies: &[&str], expected: Classification) {
        for body in bodies {
            assert_eq!(classify(body), expected, "body {body:?}");
        }
    }

    #[test]
    fn every_keyword_in_every_casing_and_decoration_is_a_keyword_of_its_list() {
        let lists = [
            (&OPT_OUT_KEYWORDS[..], Keyword::OptOut),
            (&OPT_IN_KEYWORDS[..], Keyword::OptIn),
            (&HELP_KEYWORDS[..], Keyword::Help),
        ];
        for (words, keyword) in lists {
            for word in words {
                for body in decorated(word) {
                    assert_eq!(
                        classify(&body),
                        Classification::Keyword(keyword),
                        "{body:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn keyword_lists_are_the_documented_ones() {
        assert_eq!(
            OPT_OUT_KEYWORDS,
            [
                "stop",
                "stopall",
                "unsubscribe",
                "cancel",
                "end",
                "quit",
                "revoke",
                "optout"
            ]
        );
        assert_eq!(OPT_IN_KEYWORDS, ["start", "unstop", "yes"]);
        assert_eq!(HELP_KEYWORDS, ["help", "info"]);
    }

    #[test]
    fn full_width_keywords_are_keywords() {
        assert_eq!(
            classify("ＳＴＯＰ"),
            Classification::Keyword(Keyword::OptOut)
        );
        assert_eq!(
            classify("ｓｔａｒｔ！"),
            Classification::Keyword(Keyword::OptIn)
        );
    }

    #[test]
    fn keyword_from_word_ignores_ascii_case_but_not_extra_characters() {
        assert_eq!(Keyword::from_word("StOpAlL"), Some(Keyword::OptOut));
        assert_eq!(Keyword::from_word("INFO"), Some(Keyword::Help));
        assert_eq!(Keyword::from_word("stop!"), None);
        assert_eq!(Keyword::from_word(""), None);
    }

    #[test]
    fn clear_revocation_phrases_opt_out() {
        assert_all(
            &[
                "opt out",
                "Opt-Out.",
                "OPT OUT",
                "opt me out",
                "Please opt me out",
                "please opt me out of these texts",
                "I want to opt out",
                "I would like to opt out, thanks",
                "please stop texting me",
                "Please stop texting me!!",
                "stop texting me",
                "STOP TEXTING ME",
                "stop messaging me",
                "Stop sending me texts",
                "stop texting this number",
                "can you stop texting me please",
                "unsubscribe me",
                "Unsubscribe me from this list",
                "don't text me anymore",
                "don\u{2019}t text me anymore",
                "DON\u{2018}T TEXT ME ANY MORE",
                "do not text me",
                "Do not contact me again.",
                "dont message me",
                "never text me again",
                "remove me from this list",
                "Please remove me from your list, thank you",
                "remove my number",
                "take me off your list",
                "no more texts please",
                "I don't want these texts",
                "I do not want any more messages",
                "cancel these texts",
                "stop please",
                "please stop",
                "Stop now!",
                "stop all",
                "STOP STOP STOP",
                "stop the messages",
                "I revoke my consent",
                "ok stop 😡",
                "\u{FF53}top texting me",
            ],
            Classification::RevocationPhrase,
        );
    }

    #[test]
    fn a_message_that_merely_contains_an_opt_out_word_is_a_possible_opt_out() {
        assert_all(
            &[
                "I can't stop coughing",
                "I can\u{2019}t STOP coughing",
                "Can I cancel my appointment?",
                "See you at the end of the week",
                "Don't stop texting me",
                "never stop texting me",
                "stop texting me after 9pm",
                "why did you stop texting me?",
                "How do I opt out later?",
                "I quit smoking!",
                "please cancel",
                "stop reminders",
                "Stop. I mean, go on",
                "STOP texting me so early",
                "end of text",
                "my 01/05/1950 stop",
            ],
            Classification::PossibleOptOut,
        );
    }

    #[test]
    fn words_that_only_contain_a_keyword_are_ordinary() {
        assert_all(
            &[
                "I stopped my meds",
                "nonstop pain",
                "the ending was sad",
                "Starting tomorrow",
                "that was helpful",
                "more information please",
                "yesterday was fine",
                "quitting is hard",
                "opting out?",
            ],
            Classification::Ordinary,
        );
    }

    #[test]
    fn a_keyword_with_other_words_is_not_a_keyword() {
        assert_all(
            &[
                "START NOW",
                "yes please",
                "help me",
                "HELP ME I FELL",
                "S T O P",
                "stop2",
            ],
            Classification::Ordinary,
        );
    }

    #[test]
    fn empty_and_punctuation_only_messages_are_ordinary() {
        assert_all(
            &["", "   ", "\n\t", "!!!", "...", "👍", "'"],
            Classification::Ordinary,
        );
    }

    #[test]
    fn dates_of_birth_are_ordinary() {
        assert_all(
            &["01/05/1950", "1-5-1950", " 1.5.1950 ", "my dob is 1/5/1950"],
            Classification::Ordinary,
        );
    }

    #[test]
    fn only_opt_out_keywords_and_revocation_phrases_opt_out() {
        assert!(classify("STOP").is_opt_out());
        assert!(classify("opt me out").is_opt_out());
        assert!(!classify("START").is_opt_out());
        assert!(!classify("HELP").is_opt_out());
        assert!(!classify("I can't stop coughing").is_opt_out());
        assert!(!classify("hello").is_opt_out());
    }

    #[test]
    fn qualifiers_alone_are_not_revocations() {
        assert_all(
            &[
                "remove",
                "no more",
                "texts",
                "please thank you",
                "the list",
                "dont want",
            ],
            Classification::Ordinary,
        );
    }

    proptest! {
        #[test]
        fn classify_never_panics(body in any::<String>()) {
            let _ = classify(&body);
        }

        #[test]
        fn classify_never_panics_on_text_made_of_keyword_pieces(
            body in "[ stopSTOPaeiunfcqlyh'’!.\\-0-9]{0,40}"
        ) {
            let _ = classify(&body);
        }

        #[test]
        fn a_keyword_or_revocation_phrase_never_holds_a_digit(body in "[a-zA-Z0-9 '/.\\-]{0,30}") {
            let class = classify(&body);
            if matches!(class, Classification::Keyword(_) | Classification::RevocationPhrase) {
                prop_assert!(!body.chars().any(char::is_numeric), "{body:?} is {class:?}");
            }
        }

        #[test]
        fn any_keyword_with_whitespace_and_trailing_punctuation_is_that_keyword(
            index in 0usize..13,
            before in "[ \t\r\n]{0,3}",
            after in "[ \t\r\n.!?,;:]{0,4}",
            upper_mask in any::<u16>(),
        ) {
            let all: Vec<(&str, Keyword)> = OPT_OUT_KEYWORDS.iter().map(|w| (*w, Keyword::OptOut))
                .chain(OPT_IN_KEYWORDS.iter().map(|w| (*w, Keyword::OptIn)))
                .chain(HELP_KEYWORDS.iter().map(|w| (*w, Keyword::Help)))
                .collect();
            let (word, keyword) = all[index];
            let cased: String = word.chars().enumerate()
                .map(|(i, c)| if upper_mask & (1 << i) != 0 { c.to_ascii_uppercase() } else { c })
                .collect();
            let body = format!("{before}{cased}{after}");
            prop_assert_eq!(classify(&body), Classification::Keyword(keyword));
        }
    }
}
