//! Text in Chinese, Japanese and Korean has no spaces between words, so the word tokenizer
//! gives a whole run (北京字节跳动科技有限公司) as one token and no query for a part of it
//! matches. [`CjkFilter`] splits each token into runs of CJK and other characters; other runs
//! pass as they are (mixed script: `ACME北京` is `acme` and 北京), and a CJK run becomes its
//! characters and its overlapping pairs (北京 → 北, 京, 北京). A query goes through the same
//! analyzer and every token must match, so 字节跳动 (字节 节跳 跳动 and its characters)
//! finds the company, 续约 finds the note, and one character typed so far finds every record
//! with it. The expanded tokens share their source token's position (like synonyms).
//!
//! [`WidthFilter`] folds full-width forms to their usual ones first (ＡＣＭＥ１２３ → ACME123),
//! by Unicode compatibility normalisation (NFKC), and traditional Han characters to simplified
//! ones (`fast2s`: 銷售 → 销售), so either script finds the other. [`PinyinFilter`], for titles
//! only, adds the pinyin of each run of Han characters, whole and as initials (王小明 →
//! `wangxiaoming`, `wxm`), so a name is found as people type it on a Latin keyboard, and its
//! first one and two characters as family-name tokens (`王^`, `王小^`): a query for a family
//! name with a title or form of address (王总, 欧阳经理) asks for them ([`family_name_query`]).

use std::collections::VecDeque;

use tantivy::tokenizer::{Token, TokenFilter, TokenStream, Tokenizer};
use unicode_normalization::UnicodeNormalization;

/// Whether `c` is written without spaces between words: Han ideographs, kana, Hangul.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK Extension A
        | 0x4E00..=0x9FFF    // CJK Unified Ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK Compatibility Ideographs
        | 0x20000..=0x2FA1F  // Extensions B–F, compatibility supplement
    )
}

/// Splits `text` into its runs of CJK and of other characters, each with whether it is CJK
/// and its byte offset in `text`.
fn runs(text: &str) -> Vec<(bool, usize, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut current: Option<bool> = None;
    for (i, c) in text.char_indices() {
        let cjk = is_cjk(c);
        if current.is_some_and(|kind| kind != cjk) {
            out.push((current.unwrap_or(false), start, &text[start..i]));
            start = i;
        }
        current = Some(cjk);
    }
    if let Some(kind) = current {
        out.push((kind, start, &text[start..]));
    }
    out
}

/// The tokens of one source token: each run of other characters as it is; each CJK run as
/// its pairs, then its characters.
fn expand(token: &Token) -> Vec<Token> {
    let at = |offset: usize, len: usize, text: String| Token {
        offset_from: token.offset_from + offset,
        offset_to: token.offset_from + offset + len,
        position: token.position,
        text,
        position_length: 1,
    };
    let mut out = Vec::new();
    for (cjk, offset, run) in runs(&token.text) {
        if !cjk {
            out.push(at(offset, run.len(), run.to_owned()));
            continue;
        }
        let chars: Vec<(usize, char)> = run.char_indices().collect();
        for pair in chars.windows(2) {
            let (i, a) = pair[0];
            let b = pair[1].1;
            out.push(at(
                offset + i,
                a.len_utf8() + b.len_utf8(),
                format!("{a}{b}"),
            ));
        }
        for (i, c) in &chars {
            out.push(at(offset + i, c.len_utf8(), c.to_string()));
        }
    }
    out
}

/// Splits CJK runs into characters and pairs (see the module comment).
#[derive(Clone, Copy, Default)]
pub struct CjkFilter;

impl TokenFilter for CjkFilter {
    type Tokenizer<T: Tokenizer> = CjkTokenizer<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> CjkTokenizer<T> {
        CjkTokenizer { inner: tokenizer }
    }
}

#[derive(Clone)]
pub struct CjkTokenizer<T> {
    inner: T,
}

impl<T: Tokenizer> Tokenizer for CjkTokenizer<T> {
    type TokenStream<'a> = CjkStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        CjkStream {
            tail: self.inner.token_stream(text),
            pending: VecDeque::new(),
            current: Token::default(),
        }
    }
}

pub struct CjkStream<T> {
    tail: T,
    pending: VecDeque<Token>,
    current: Token,
}

impl<T: TokenStream> TokenStream for CjkStream<T> {
    fn advance(&mut self) -> bool {
        loop {
            if let Some(next) = self.pending.pop_front() {
                self.current = next;
                return true;
            }
            if !self.tail.advance() {
                return false;
            }
            let token = self.tail.token();
            if !token.text.chars().any(is_cjk) || token.text.ends_with(FAMILY_NAME) {
                self.current = token.clone();
                return true;
            }
            self.pending.extend(expand(token));
        }
    }

    fn token(&self) -> &Token {
        &self.current
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.current
    }
}

/// The pinyin of the Han characters of `text`, per run of them: the syllables joined, their
/// initials, and each two neighbours joined (王小明 → `wangxiaoming`, `wxm`, `wangxiao`,
/// `xiaoming`), so a part of a name typed as it sounds finds it too. Characters without a
/// reading are left out.
fn pinyin_of(text: &str) -> Vec<String> {
    use pinyin::ToPinyin;
    let mut out = Vec::new();
    for (_, _, run) in runs(text).into_iter().filter(|(cjk, _, _)| *cjk) {
        let syllables: Vec<&str> = run
            .chars()
            .filter_map(|c| c.to_pinyin())
            .map(|p| p.plain())
            .collect();
        if syllables.is_empty() {
            continue;
        }
        out.push(syllables.concat());
        out.push(syllables.iter().filter_map(|s| s.get(..1)).collect());
        if syllables.len() > 2 {
            out.extend(syllables.windows(2).map(|pair| pair.concat()));
        }
    }
    out
}

/// What ends a family-name token: no word holds it (the word tokenizer splits on it), and
/// [`CjkFilter`] passes such tokens as they are.
const FAMILY_NAME: char = '^';

/// The family-name tokens of each run of Han characters in a title: its first character and
/// its first two (for two-character family names such as 欧阳), each followed by
/// [`FAMILY_NAME`].
fn family_names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (_, _, run) in runs(text).into_iter().filter(|(cjk, _, _)| *cjk) {
        let mut chars = run.chars();
        if let Some(first) = chars.next() {
            out.push(format!("{first}{FAMILY_NAME}"));
            if let Some(second) = chars.next() {
                out.push(format!("{first}{second}{FAMILY_NAME}"));
            }
        }
    }
    out
}

/// Titles and forms of address that follow a family name (王总 is Mr or Ms Wang, a manager).
const TITLES: &[&str] = &[
    "董事长",
    "总经理",
    "总监",
    "总裁",
    "经理",
    "主任",
    "主管",
    "部长",
    "处长",
    "科长",
    "局长",
    "院长",
    "校长",
    "所长",
    "老师",
    "教授",
    "博士",
    "医生",
    "律师",
    "先生",
    "女士",
    "小姐",
    "老板",
    "总",
    "董",
    "工",
];

/// A query word that is a family name and a title (王总, 欧阳经理): the family name's token
/// ([`family_names`]) and the title, or `None`. The family name is one or two characters.
pub fn family_name_query(word: &str) -> Option<(String, &'static str)> {
    if !word.chars().all(is_cjk) {
        return None;
    }
    TITLES.iter().find_map(|title| {
        let name = word.strip_suffix(title)?;
        (1..=2)
            .contains(&name.chars().count())
            .then(|| (format!("{name}{FAMILY_NAME}"), *title))
    })
}

/// Adds the pinyin of Han text after its token (see the module comment).
#[derive(Clone, Copy, Default)]
pub struct PinyinFilter;

impl TokenFilter for PinyinFilter {
    type Tokenizer<T: Tokenizer> = PinyinTokenizer<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> PinyinTokenizer<T> {
        PinyinTokenizer { inner: tokenizer }
    }
}

#[derive(Clone)]
pub struct PinyinTokenizer<T> {
    inner: T,
}

impl<T: Tokenizer> Tokenizer for PinyinTokenizer<T> {
    type TokenStream<'a> = PinyinStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        PinyinStream {
            tail: self.inner.token_stream(text),
            pending: VecDeque::new(),
            current: Token::default(),
        }
    }
}

pub struct PinyinStream<T> {
    tail: T,
    pending: VecDeque<Token>,
    current: Token,
}

impl<T: TokenStream> TokenStream for PinyinStream<T> {
    fn advance(&mut self) -> bool {
        if let Some(next) = self.pending.pop_front() {
            self.current = next;
            return true;
        }
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token().clone();
        if token.text.chars().any(is_cjk) {
            for text in pinyin_of(&token.text)
                .into_iter()
                .chain(family_names(&token.text))
            {
                self.pending.push_back(Token {
                    text,
                    ..token.clone()
                });
            }
        }
        self.current = token;
        true
    }

    fn token(&self) -> &Token {
        &self.current
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.current
    }
}

/// Full-width (and other compatibility) forms folded (NFKC), and traditional Han characters
/// folded to simplified ones.
pub fn fold(text: &str) -> String {
    let text: String = text.nfkc().collect();
    if text.chars().any(is_cjk) {
        fast2s::convert(&text)
    } else {
        text
    }
}

/// Folds each token ([`fold`]).
#[derive(Clone, Copy, Default)]
pub struct WidthFilter;

impl TokenFilter for WidthFilter {
    type Tokenizer<T: Tokenizer> = WidthTokenizer<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> WidthTokenizer<T> {
        WidthTokenizer { inner: tokenizer }
    }
}

#[derive(Clone)]
pub struct WidthTokenizer<T> {
    inner: T,
}

impl<T: Tokenizer> Tokenizer for WidthTokenizer<T> {
    type TokenStream<'a> = WidthStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        WidthStream {
            tail: self.inner.token_stream(text),
        }
    }
}

pub struct WidthStream<T> {
    tail: T,
}

impl<T: TokenStream> TokenStream for WidthStream<T> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token_mut();
        if !token.text.is_ascii() {
            token.text = fold(&token.text);
        }
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        let mut analyzer = super::super::text_analyzer();
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while let Some(token) = stream.next() {
            out.push(token.text.clone());
        }
        out
    }

    #[test]
    fn cjk_runs_become_pairs_and_characters_and_latin_stays_whole() {
        assert_eq!(words("王小明"), ["王小", "小明", "王", "小", "明"]);
        assert_eq!(
            words("ACME北京分公司"),
            [
                "acme", "北京", "京分", "分公", "公司", "北", "京", "分", "公", "司"
            ]
        );
        assert_eq!(words("Müller & Söhne"), ["muller", "sohne"]);
        assert_eq!(
            words("ＡＣＭＥ １２３"),
            ["acme", "123"],
            "full width folds"
        );
        assert_eq!(
            words("サクラ 서울"),
            ["サク", "クラ", "サ", "ク", "ラ", "서울", "서", "울"]
        );
    }

    #[test]
    fn titles_carry_the_pinyin_of_han_names() {
        let mut analyzer = super::super::title_analyzer();
        let mut stream = analyzer.token_stream("王小明 ACME北京");
        let mut out = Vec::new();
        while let Some(token) = stream.next() {
            out.push(token.text.clone());
        }
        for expected in [
            "王^",
            "王小^",
            "wangxiaoming",
            "wxm",
            "xiaoming",
            "小明",
            "acme",
            "beijing",
            "bj",
            "北京",
        ] {
            assert!(out.iter().any(|t| t == expected), "{expected} in {out:?}");
        }
        assert!(pinyin_of("Ada").is_empty());
    }

    #[test]
    fn traditional_characters_fold_to_simplified() {
        assert_eq!(words("銷售經理"), words("销售经理"));
        assert_eq!(words("北京字節跳動"), words("北京字节跳动"));
    }

    #[test]
    fn family_names_with_titles_are_recognised() {
        assert_eq!(family_name_query("王总"), Some(("王^".to_owned(), "总")));
        assert_eq!(
            family_name_query("王经理"),
            Some(("王^".to_owned(), "经理"))
        );
        assert_eq!(
            family_name_query("欧阳总经理"),
            Some(("欧阳^".to_owned(), "总经理"))
        );
        for not_one in ["总", "经理", "王小明", "wang总", "销售经理跟进"] {
            assert_eq!(family_name_query(not_one), None, "{not_one}");
        }
        assert_eq!(
            family_names("王小明 ACME 欧阳"),
            ["王^", "王小^", "欧^", "欧阳^"]
        );
    }

    #[test]
    fn a_query_part_finds_the_text_it_is_in() {
        let company = words("北京字节跳动科技有限公司");
        let note = words("客户对续约价格有疑问，需要销售经理跟进");
        for (query, document) in [
            ("字节跳动", &company),
            ("字节", &company),
            ("续约", &note),
            ("销售经理", &note),
        ] {
            for word in words(query) {
                assert!(
                    document.contains(&word),
                    "{query}: {word} is not in the document"
                );
            }
        }
    }
}
