//! Numbers and money as the reader's language writes them: `€12,500.50` in English,
//! `12.500,50 €` in German, `¥12,500.50` for yuan in Chinese.
//!
//! The language is the browser's (`Accept-Language`), negotiated against the handful of
//! formats below; anything else reads as English. Only the shape of a figure changes: amounts
//! are never rounded or converted, a currency's usual decimals are the fewest shown
//! (`JPY 1200` → `¥1,200`, `EUR 12.5` → `€12.50`), and a figure that is not a plain decimal is
//! shown as it is stored.

/// How one language writes figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locale {
    /// The language's primary subtag (`en`, `de`, `zh`).
    pub language: &'static str,
    decimal: char,
    group: &'static str,
    /// Whether the currency comes after the figure (`12,50 €`) rather than before (`€12.50`).
    symbol_after: bool,
    /// Between a symbol and the figure (a no-break space, or nothing).
    gap: &'static str,
}

const NBSP: &str = "\u{a0}";
const NARROW_NBSP: &str = "\u{202f}";

const fn locale(
    language: &'static str,
    decimal: char,
    group: &'static str,
    symbol_after: bool,
    gap: &'static str,
) -> Locale {
    Locale {
        language,
        decimal,
        group,
        symbol_after,
        gap,
    }
}

/// The formats Kith knows, the first being the fallback. (Common Locale Data Repository
/// patterns for each language's main region.)
const LOCALES: &[Locale] = &[
    locale("en", '.', ",", false, ""),
    locale("zh", '.', ",", false, ""),
    locale("ja", '.', ",", false, ""),
    locale("ko", '.', ",", false, ""),
    locale("de", ',', ".", true, NBSP),
    locale("es", ',', ".", true, NBSP),
    locale("it", ',', ".", true, NBSP),
    locale("pt", ',', ".", true, NBSP),
    locale("nl", ',', ".", false, NBSP),
    locale("fr", ',', NARROW_NBSP, true, NBSP),
    locale("ru", ',', NBSP, true, NBSP),
    locale("pl", ',', NBSP, true, NBSP),
    locale("sv", ',', NBSP, true, NBSP),
];

impl Default for Locale {
    fn default() -> Self {
        LOCALES[0]
    }
}

/// The format of a language subtag, if Kith knows it.
fn known(language: &str) -> Option<Locale> {
    LOCALES
        .iter()
        .find(|l| l.language.eq_ignore_ascii_case(language))
        .copied()
}

/// The most preferred of the tags of an `Accept-Language` header that `known` accepts (by
/// quality, then order), if any. Malformed entries and `q=0` are skipped; at most 32 entries
/// are read.
pub fn preferred<T: Copy>(header: Option<&str>, known: impl Fn(&str) -> Option<T>) -> Option<T> {
    let mut best: Option<(f32, T)> = None;
    for entry in header.unwrap_or("").split(',').take(32) {
        let mut parts = entry.split(';');
        let tag = parts.next().unwrap_or("").trim();
        let quality = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())
            .filter(|q| (0.0..=1.0).contains(q) && *q > 0.0);
        if let (Some(quality), Some(found)) = (quality, known(tag))
            && best.is_none_or(|(q, _)| quality > q)
        {
            best = Some((quality, found));
        }
    }
    best.map(|(_, found)| found)
}

impl Locale {
    /// The format a request's browser asks for (its `Accept-Language`).
    pub fn of_request(headers: &axum::http::HeaderMap) -> Locale {
        Locale::negotiate(
            headers
                .get(axum::http::header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok()),
        )
    }

    /// The format for an `Accept-Language` header: its most preferred language Kith knows
    /// (by quality, then order), else English. Malformed entries are skipped.
    pub fn negotiate(header: Option<&str>) -> Locale {
        preferred(header, |tag| {
            known(tag.split(['-', '_']).next().unwrap_or(""))
        })
        .unwrap_or_default()
    }

    /// The locale of a language subtag, else English.
    pub fn of(language: &str) -> Locale {
        known(language).unwrap_or_default()
    }

    /// A decimal with thousands grouped and this language's separators, with at least
    /// `decimals` digits after the point: `1234567.5` → `1,234,567.50` (2). Anything that is
    /// not a plain decimal comes back as it is.
    pub fn number(&self, raw: &str, decimals: usize) -> String {
        self.decimal(raw, decimals)
            .unwrap_or_else(|| raw.to_owned())
    }

    fn decimal(&self, raw: &str, decimals: usize) -> Option<String> {
        let (sign, digits) = raw.strip_prefix('-').map_or(("", raw), |d| ("-", d));
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let plain = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !plain(whole) || !plain(fraction) {
            return None;
        }
        let mut out = String::from(sign);
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i).is_multiple_of(3) {
                out.push_str(self.group);
            }
            out.push(c);
        }
        let fraction = format!("{fraction:0<decimals$}");
        if !fraction.is_empty() {
            out.push(self.decimal);
            out.push_str(&fraction);
        }
        Some(out)
    }

    /// An amount in a currency (an ISO 4217 code) as this language writes it, with the
    /// currency's symbol where one is unambiguous to its readers, else its code. An amount
    /// that is not a plain decimal is shown as stored, with the code.
    pub fn money(&self, amount: &str, currency: &str) -> String {
        let Some(figure) = self.decimal(amount, minor_digits(currency)) else {
            return format!("{amount} {currency}").trim().to_owned();
        };
        if currency.is_empty() {
            return figure;
        }
        let (sign, figure) = figure
            .strip_prefix('-')
            .map_or(("", figure.as_str()), |f| ("-", f));
        match (self.symbol(currency), self.symbol_after) {
            (Some(symbol), true) => format!("{sign}{figure}{}{symbol}", self.gap),
            (Some(symbol), false) => format!("{sign}{symbol}{}{figure}", self.gap),
            (None, true) => format!("{sign}{figure}{NBSP}{currency}"),
            (None, false) => format!("{sign}{currency}{NBSP}{figure}"),
        }
    }

    fn symbol(&self, currency: &str) -> Option<&'static str> {
        let home_yen = matches!(self.language, "ja");
        let home_yuan = matches!(self.language, "zh");
        Some(match currency {
            "EUR" => "€",
            "USD" => "$",
            "GBP" => "£",
            "INR" => "₹",
            "KRW" => "₩",
            "ILS" => "₪",
            "VND" => "₫",
            "BRL" => "R$",
            "JPY" if home_yen => "￥",
            "JPY" if home_yuan => "JP¥",
            "JPY" => "¥",
            "CNY" if home_yuan || home_yen => "¥",
            "CNY" => "CN¥",
            _ => return None,
        })
    }
}

/// How many digits a currency's amounts usually carry after the point (ISO 4217).
fn minor_digits(currency: &str) -> usize {
    match currency {
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "UGX" | "PYG" | "XAF" | "XOF" => 0,
        "BHD" | "KWD" | "JOD" | "OMR" | "TND" | "IQD" | "LYD" => 3,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_preferred_known_language_wins() {
        let pick = |h: &str| Locale::negotiate(Some(h)).language;
        assert_eq!(pick("de-DE,de;q=0.9,en;q=0.8"), "de");
        assert_eq!(pick("xx,fr-CH;q=0.5,en;q=0.4"), "fr");
        assert_eq!(pick("en;q=0.2, zh-CN"), "zh");
        assert_eq!(pick("de;q=0,fr;q=0.1"), "fr", "q=0 means not acceptable");
        for hostile in ["", ";;;", "de;q=abc", "de;q=7", "\u{0}", "-", "*"] {
            assert_eq!(pick(hostile), "en", "{hostile:?}");
        }
        assert_eq!(Locale::negotiate(None).language, "en");
    }

    #[test]
    fn money_reads_as_each_language_writes_it() {
        let (en, de, fr, zh, ja) = (
            Locale::of("en"),
            Locale::of("de"),
            Locale::of("fr"),
            Locale::of("zh"),
            Locale::of("ja"),
        );
        assert_eq!(en.money("1234567.5", "EUR"), "€1,234,567.50");
        assert_eq!(en.money("-12", "USD"), "-$12.00");
        assert_eq!(de.money("12500.5", "EUR"), "12.500,50\u{a0}€");
        assert_eq!(fr.money("12500.5", "EUR"), "12\u{202f}500,50\u{a0}€");
        assert_eq!(zh.money("12500", "CNY"), "¥12,500.00");
        assert_eq!(en.money("12500", "CNY"), "CN¥12,500.00");
        assert_eq!(ja.money("1200", "JPY"), "￥1,200");
        assert_eq!(en.money("1.005", "KWD"), "KWD\u{a0}1.005");
        assert_eq!(de.money("99", "CHF"), "99,00\u{a0}CHF");
        // Precision is never lost, and odd values are shown as stored.
        assert_eq!(en.money("0.125", "EUR"), "€0.125");
        assert_eq!(en.money("n/a", "EUR"), "n/a EUR");
        assert_eq!(en.money("12", ""), "12.00");
        assert_eq!(en.number("1e9", 2), "1e9");
    }
}
