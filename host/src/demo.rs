//! Deterministic demo data: realistic companies, contacts and activities for
//! seeding a Kith instance.
//!
//! This module owns the word lists, the small seedable [`Rng`] (SplitMix64)
//! that drives every choice, and the shaping of each record into the field
//! values the server validates. It knows nothing about storage or ids: a record
//! is a `Map` of field values, and callers decide ids and persistence. The same
//! seed and the same sequence of calls always yield the same records.
//!
//! The records are in English unless asked for in Chinese ([`Locale`], [`zh`]).
//!
//! Company names, company domains and contact emails are unique per `index`.
//! The name part is a fixed permutation of `index` (not drawn from the
//! [`Rng`]), so uniqueness holds however the caller seeds or shares it.

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

pub mod zh;

/// Which language the demo records are written in. Numbers, dates and links are drawn alike;
/// names, titles, addresses and notes differ.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Locale {
    /// English and European names, the companies of [`company`].
    #[default]
    #[value(name = "en")]
    En,
    /// Chinese names, companies and notes ([`zh`]).
    #[value(name = "zh-CN")]
    ZhCn,
}

impl Locale {
    /// A company ([`company`] or [`zh::company`]).
    pub fn company(self, rng: &mut Rng, index: usize) -> Map<String, Value> {
        match self {
            Locale::En => company(rng, index),
            Locale::ZhCn => zh::company(rng, index),
        }
    }

    /// A contact ([`contact`] or [`zh::contact`]).
    pub fn contact(
        self,
        rng: &mut Rng,
        index: usize,
        company: Option<(Uuid, &str)>,
    ) -> Map<String, Value> {
        match self {
            Locale::En => contact(rng, index, company),
            Locale::ZhCn => zh::contact(rng, index, company),
        }
    }

    /// An activity ([`activity`] or [`zh::activity`]).
    pub fn activity(self, rng: &mut Rng, links: &[Uuid], now: DateTime<Utc>) -> Map<String, Value> {
        match self {
            Locale::En => activity(rng, links, now),
            Locale::ZhCn => zh::activity(rng, links, now),
        }
    }
}

/// The industries a company may have, exactly as the server accepts them.
pub const INDUSTRIES: &[&str] = &[
    "technology",
    "finance",
    "healthcare",
    "manufacturing",
    "retail",
    "education",
    "energy",
    "media",
    "logistics",
    "real_estate",
    "hospitality",
    "consulting",
    "other",
];

// ---------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------

/// A tiny SplitMix64 pseudo-random generator: fast, seedable, reproducible.
/// Not suitable for anything security related.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose whole output is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniformly distributed value in `0..n` (Lemire's method, unbiased).
    /// Returns 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let threshold = n.wrapping_neg() % n;
        loop {
            let product = u128::from(self.next_u64()) * u128::from(n);
            if product as u64 >= threshold {
                return (product >> 64) as u64;
            }
        }
    }

    /// A uniformly chosen element of `items`.
    ///
    /// # Panics
    /// If `items` is empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// True with probability `p` (never for `p <= 0`, always for `p >= 1`).
    pub fn chance(&mut self, p: f64) -> bool {
        const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
        ((self.next_u64() >> 11) as f64 * SCALE) < p
    }

    /// A uniformly distributed value in `low..=high` (`low <= high`).
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    /// An element of `items`, chosen with probability proportional to `weight`.
    fn pick_weighted<'a, T>(&mut self, items: &'a [T], weight: impl Fn(&T) -> u64) -> &'a T {
        let total: u64 = items.iter().map(&weight).sum();
        let mut ticket = self.below(total);
        for item in items {
            let w = weight(item);
            if ticket < w {
                return item;
            }
            ticket -= w;
        }
        self.pick(items)
    }

    /// `count` distinct indices into a list of `len` items, in random order
    /// (a partial Fisher–Yates shuffle). Yields fewer when `count > len`.
    fn distinct_indices(&mut self, len: usize, count: usize) -> Vec<usize> {
        let mut pool: Vec<usize> = (0..len).collect();
        let count = count.min(len);
        for i in 0..count {
            let j = i + self.below((len - i) as u64) as usize;
            pool.swap(i, j);
        }
        pool.truncate(count);
        pool
    }
}

// ---------------------------------------------------------------------------
// Companies
// ---------------------------------------------------------------------------

/// First half of a company's coined name ("North" + "wind").
const NAME_PREFIXES: &[&str] = &[
    "North", "South", "East", "West", "Blue", "Green", "Red", "Silver", "Gold", "Iron", "Oak",
    "Pine", "Cedar", "Maple", "Birch", "Willow", "Ash", "Elm", "River", "Lake", "Sun", "Star",
    "Moon", "Bright", "Clear", "Swift", "High", "Deep", "Wild", "Frost", "Storm", "Cloud", "Sky",
    "Summit", "Harbor", "Bay", "Coral", "Amber", "Crimson", "Azure", "Copper", "Granite", "Falcon",
    "Eagle", "Fox", "Wolf", "Bear", "Lion", "Raven", "Hawk", "True", "Prime", "Nova", "Open",
    "Bold", "Quick", "Silk", "Sage", "Cobalt", "Indigo", "Jade", "Onyx", "Ember", "Polar",
    "Arctic", "Solar", "Lunar", "Alder", "Rowan", "Heather", "Thistle", "Kestrel", "Osprey",
    "Heron", "Wren", "Lark", "Otter", "Beacon", "Anchor", "Meridian",
];

/// Second half of a company's coined name, appended in lowercase.
const NAME_ROOTS: &[&str] = &[
    "wind", "peak", "stone", "field", "bridge", "gate", "ridge", "brook", "wood", "view", "point",
    "line", "path", "crest", "light", "wave", "forge", "mark", "works", "hub", "haven", "dale",
    "ford", "glen", "hill", "shore", "vale", "well", "water", "rock", "spring", "land", "port",
    "side", "way", "stream", "mill", "scape", "grove", "leaf",
];

/// The word after the coined name, and the industry it implies.
const SECTORS: &[(&str, &str)] = &[
    ("Logistics", "logistics"),
    ("Freight", "logistics"),
    ("Shipping", "logistics"),
    ("Transport", "logistics"),
    ("Couriers", "logistics"),
    ("Analytics", "technology"),
    ("Labs", "technology"),
    ("Systems", "technology"),
    ("Software", "technology"),
    ("Robotics", "technology"),
    ("Networks", "technology"),
    ("Data", "technology"),
    ("Technologies", "technology"),
    ("Digital", "technology"),
    ("Security", "technology"),
    ("Capital", "finance"),
    ("Finance", "finance"),
    ("Payments", "finance"),
    ("Insurance", "finance"),
    ("Investments", "finance"),
    ("Lending", "finance"),
    ("Health", "healthcare"),
    ("Medical", "healthcare"),
    ("Biotech", "healthcare"),
    ("Pharma", "healthcare"),
    ("Diagnostics", "healthcare"),
    ("Care", "healthcare"),
    ("Manufacturing", "manufacturing"),
    ("Industries", "manufacturing"),
    ("Engineering", "manufacturing"),
    ("Materials", "manufacturing"),
    ("Components", "manufacturing"),
    ("Metals", "manufacturing"),
    ("Retail", "retail"),
    ("Outfitters", "retail"),
    ("Foods", "retail"),
    ("Market", "retail"),
    ("Brands", "retail"),
    ("Apparel", "retail"),
    ("Learning", "education"),
    ("Academy", "education"),
    ("Education", "education"),
    ("Tutoring", "education"),
    ("Energy", "energy"),
    ("Power", "energy"),
    ("Renewables", "energy"),
    ("Utilities", "energy"),
    ("Media", "media"),
    ("Studios", "media"),
    ("Publishing", "media"),
    ("Broadcasting", "media"),
    ("Properties", "real_estate"),
    ("Realty", "real_estate"),
    ("Estates", "real_estate"),
    ("Homes", "real_estate"),
    ("Hotels", "hospitality"),
    ("Hospitality", "hospitality"),
    ("Resorts", "hospitality"),
    ("Travel", "hospitality"),
    ("Consulting", "consulting"),
    ("Advisory", "consulting"),
    ("Partners", "consulting"),
    ("Strategy", "consulting"),
    ("Trading", "other"),
    ("Services", "other"),
    ("Holdings", "other"),
    ("Ventures", "other"),
];

/// Qualifiers that keep names unique once every prefix/root/sector combination
/// is used; the first (empty) one applies to the first pass.
const NAME_TIERS: &[&str] = &[
    "",
    "International",
    "Europe",
    "Americas",
    "Pacific",
    "Nordic",
];

/// Multiplier of the index permutation; a prime larger than every list length,
/// hence coprime with the size of the combination space.
const NAME_STRIDE: u64 = 104_729;
const NAME_OFFSET: u64 = 12_345;

/// Where a company is based: drives address, phone, currency, legal form and TLD.
struct Country {
    name: &'static str,
    weight: u64,
    tld: &'static str,
    currency: &'static str,
    legal_forms: &'static [&'static str],
    streets: &'static [&'static str],
    /// "12 Harbour Street" rather than "Friedrichstraße 12".
    number_first: bool,
    /// "10117 Berlin" rather than "Bristol BS1 4ND".
    postcode_first: bool,
    cities: &'static [City],
}

/// A city with its postcode and landline patterns (`#` digit, `@` letter).
struct City {
    name: &'static str,
    postcode: &'static str,
    phone: &'static str,
}

const fn city(name: &'static str, postcode: &'static str, phone: &'static str) -> City {
    City {
        name,
        postcode,
        phone,
    }
}

const COUNTRIES: &[Country] = &[
    Country {
        name: "United States",
        weight: 30,
        tld: "com",
        currency: "USD",
        legal_forms: &["Inc.", "LLC", "Corp."],
        streets: &[
            "Market Street",
            "Main Street",
            "Broadway",
            "Elm Avenue",
            "Pine Street",
            "Mission Street",
            "Congress Avenue",
            "Lakeshore Drive",
            "5th Avenue",
            "Harrison Street",
        ],
        number_first: true,
        postcode_first: false,
        cities: &[
            city("New York, NY", "100##", "+1 (212) 555-01##"),
            city("San Francisco, CA", "941##", "+1 (415) 555-01##"),
            city("Chicago, IL", "606##", "+1 312-555-01##"),
            city("Austin, TX", "787##", "+1 (512) 555-01##"),
            city("Boston, MA", "021##", "+1 617 555 01##"),
            city("Seattle, WA", "981##", "+1 (206) 555-01##"),
            city("Denver, CO", "802##", "+1 (303) 555-01##"),
        ],
    },
    Country {
        name: "United Kingdom",
        weight: 14,
        tld: "co.uk",
        currency: "GBP",
        legal_forms: &["Ltd", "LLP", "plc"],
        streets: &[
            "Harbour Street",
            "High Street",
            "Victoria Road",
            "King's Road",
            "Queen Street",
            "Station Road",
            "Church Lane",
            "Park Row",
        ],
        number_first: true,
        postcode_first: false,
        cities: &[
            city("London", "EC#A #@@", "+44 20 7946 0###"),
            city("Bristol", "BS# #@@", "+44 117 496 0###"),
            city("Manchester", "M# #@@", "+44 161 496 0###"),
            city("Edinburgh", "EH# #@@", "+44 131 496 0###"),
            city("Leeds", "LS# #@@", "+44 113 496 0###"),
        ],
    },
    Country {
        name: "Germany",
        weight: 12,
        tld: "de",
        currency: "EUR",
        legal_forms: &["GmbH", "AG", "GmbH & Co. KG"],
        streets: &[
            "Friedrichstraße",
            "Hauptstraße",
            "Schillerstraße",
            "Bahnhofstraße",
            "Gartenweg",
            "Torstraße",
            "Am Markt",
            "Königsallee",
        ],
        number_first: false,
        postcode_first: true,
        cities: &[
            city("Berlin", "101##", "+49 30 ######"),
            city("München", "803##", "+49 89 #######"),
            city("Hamburg", "203##", "+49 40 ### ###-##"),
            city("Köln", "506##", "+49 221 #####-#"),
            city("Düsseldorf", "402##", "+49 211 ### ###"),
        ],
    },
    Country {
        name: "France",
        weight: 8,
        tld: "fr",
        currency: "EUR",
        legal_forms: &["SAS", "SA", "SARL"],
        streets: &[
            "Rue de Rivoli",
            "Avenue Victor Hugo",
            "Boulevard Haussmann",
            "Rue de la République",
            "Quai Saint-Antoine",
            "Rue Sainte-Catherine",
        ],
        number_first: true,
        postcode_first: true,
        cities: &[
            city("Paris", "750##", "+33 1 ## ## ## ##"),
            city("Lyon", "6900#", "+33 4 ## ## ## ##"),
            city("Bordeaux", "330##", "+33 5 ## ## ## ##"),
            city("Nantes", "440##", "+33 2 ## ## ## ##"),
        ],
    },
    Country {
        name: "Netherlands",
        weight: 5,
        tld: "nl",
        currency: "EUR",
        legal_forms: &["B.V.", "N.V."],
        streets: &[
            "Keizersgracht",
            "Herengracht",
            "Damrak",
            "Coolsingel",
            "Oudegracht",
        ],
        number_first: false,
        postcode_first: true,
        cities: &[
            city("Amsterdam", "10## @@", "+31 20 ### ####"),
            city("Rotterdam", "30## @@", "+31 10 ### ####"),
            city("Utrecht", "35## @@", "+31 30 ### ####"),
        ],
    },
    Country {
        name: "Spain",
        weight: 5,
        tld: "es",
        currency: "EUR",
        legal_forms: &["S.L.", "S.A."],
        streets: &[
            "Calle de Alcalá",
            "Gran Vía",
            "Passeig de Gràcia",
            "Calle Mayor",
            "Calle Colón",
        ],
        number_first: false,
        postcode_first: true,
        cities: &[
            city("Madrid", "280##", "+34 91# ### ###"),
            city("Barcelona", "080##", "+34 93# ### ###"),
            city("Valencia", "460##", "+34 96# ### ###"),
            city("Sevilla", "410##", "+34 95# ### ###"),
        ],
    },
    Country {
        name: "Sweden",
        weight: 4,
        tld: "se",
        currency: "EUR",
        legal_forms: &["AB"],
        streets: &[
            "Drottninggatan",
            "Kungsgatan",
            "Sveavägen",
            "Storgatan",
            "Götgatan",
        ],
        number_first: false,
        postcode_first: true,
        cities: &[
            city("Stockholm", "11# ##", "+46 8 ### ### ##"),
            city("Göteborg", "41# ##", "+46 31 ## ## ##"),
            city("Malmö", "21# ##", "+46 40 ## ## ##"),
        ],
    },
    Country {
        name: "Poland",
        weight: 4,
        tld: "pl",
        currency: "EUR",
        legal_forms: &["Sp. z o.o.", "S.A."],
        streets: &[
            "ul. Marszałkowska",
            "ul. Nowy Świat",
            "ul. Floriańska",
            "ul. Piotrkowska",
        ],
        number_first: false,
        postcode_first: true,
        cities: &[
            city("Warszawa", "00-###", "+48 22 ### ## ##"),
            city("Kraków", "30-###", "+48 12 ### ## ##"),
            city("Wrocław", "50-###", "+48 71 ### ## ##"),
            city("Gdańsk", "80-###", "+48 58 ### ## ##"),
        ],
    },
    Country {
        name: "Denmark",
        weight: 3,
        tld: "dk",
        currency: "EUR",
        legal_forms: &["ApS", "A/S"],
        streets: &[
            "Vesterbrogade",
            "Nørregade",
            "Strandvejen",
            "Østergade",
            "Åboulevard",
        ],
        number_first: false,
        postcode_first: true,
        cities: &[
            city("København", "1###", "+45 33 ## ## ##"),
            city("Aarhus", "8000", "+45 86 ## ## ##"),
            city("Odense", "5000", "+45 66 ## ## ##"),
        ],
    },
    Country {
        name: "Ireland",
        weight: 4,
        tld: "ie",
        currency: "EUR",
        legal_forms: &["Ltd", "DAC"],
        streets: &[
            "Grafton Street",
            "Dame Street",
            "Harcourt Street",
            "Patrick Street",
        ],
        number_first: true,
        postcode_first: false,
        cities: &[
            city("Dublin", "D0# @###", "+353 1 ### ####"),
            city("Cork", "T12 @###", "+353 21 ### ####"),
            city("Galway", "H91 @###", "+353 91 ### ###"),
        ],
    },
    Country {
        name: "Canada",
        weight: 5,
        tld: "ca",
        currency: "USD",
        legal_forms: &["Inc.", "Ltd."],
        streets: &[
            "Bay Street",
            "King Street West",
            "Granville Street",
            "Rue Sainte-Catherine",
        ],
        number_first: true,
        postcode_first: false,
        cities: &[
            city("Toronto, ON", "M5V #@#", "+1 (416) 555-01##"),
            city("Vancouver, BC", "V6B #@#", "+1 604-555-01##"),
            city("Montréal, QC", "H2Y #@#", "+1 (514) 555-01##"),
        ],
    },
    Country {
        name: "Australia",
        weight: 3,
        tld: "com.au",
        currency: "USD",
        legal_forms: &["Pty Ltd"],
        streets: &[
            "George Street",
            "Collins Street",
            "Queen Street",
            "Pitt Street",
        ],
        number_first: true,
        postcode_first: false,
        cities: &[
            city("Sydney NSW", "2000", "+61 2 #### ####"),
            city("Melbourne VIC", "3000", "+61 3 #### ####"),
            city("Brisbane QLD", "4000", "+61 7 #### ####"),
        ],
    },
    Country {
        name: "Switzerland",
        weight: 3,
        tld: "ch",
        currency: "EUR",
        legal_forms: &["AG", "GmbH", "SA"],
        streets: &[
            "Bahnhofstrasse",
            "Limmatquai",
            "Rue du Rhône",
            "Freie Strasse",
        ],
        number_first: false,
        postcode_first: true,
        cities: &[
            city("Zürich", "80##", "+41 44 ### ## ##"),
            city("Basel", "40##", "+41 61 ### ## ##"),
            city("Genève", "12##", "+41 22 ### ## ##"),
        ],
    },
];

/// Company size buckets (inclusive bounds) with weights skewed to small firms.
const EMPLOYEE_BUCKETS: &[(u64, u64, u64)] = &[
    (1, 10, 30),
    (11, 50, 30),
    (51, 250, 22),
    (251, 1_000, 10),
    (1_001, 5_000, 6),
    (5_001, 50_000, 2),
];

/// The index-determined part of a company: display name without legal form,
/// the DNS label derived from it, and the industry its sector word implies.
struct CompanyIdentity {
    name: String,
    label: String,
    industry: &'static str,
}

/// Maps `index` injectively onto coined names: a permutation of the
/// prefix × root × sector space, then a tier qualifier, then (past every tier)
/// a pass number.
fn company_identity(index: usize) -> CompanyIdentity {
    let (prefixes, roots) = (NAME_PREFIXES.len() as u64, NAME_ROOTS.len() as u64);
    let space = prefixes * roots * SECTORS.len() as u64;
    let index = index as u64;
    let slot = ((index % space) * NAME_STRIDE + NAME_OFFSET) % space;
    let pass = index / space;

    let prefix = NAME_PREFIXES[(slot % prefixes) as usize];
    let root = NAME_ROOTS[(slot / prefixes % roots) as usize];
    let (sector, industry) = SECTORS[(slot / (prefixes * roots)) as usize];

    let mut name = format!("{prefix}{root} {sector}");
    let mut label = format!(
        "{}{root}-{}",
        prefix.to_ascii_lowercase(),
        sector.to_ascii_lowercase()
    );
    let tiers = NAME_TIERS.len() as u64;
    let tier = NAME_TIERS[(pass % tiers) as usize];
    if !tier.is_empty() {
        name = format!("{name} {tier}");
        label = format!("{label}-{}", tier.to_ascii_lowercase());
    }
    let round = pass / tiers;
    if round > 0 {
        name = format!("{name} {}", round + 1);
        label = format!("{label}-{}", round + 1);
    }
    CompanyIdentity {
        name,
        label,
        industry,
    }
}

/// A company: fields name, domain, industry, employees, annual_revenue, phone,
/// website, address. Name and domain are unique per `index`.
pub fn company(rng: &mut Rng, index: usize) -> Map<String, Value> {
    let identity = company_identity(index);
    let country = rng.pick_weighted(COUNTRIES, |c| c.weight);
    let city = rng.pick(country.cities);

    let name = if rng.chance(0.35) {
        format!("{} {}", identity.name, rng.pick(country.legal_forms))
    } else {
        identity.name
    };
    let domain = format!(
        "{}.{}",
        identity.label,
        top_level_domain(rng, country, identity.industry)
    );
    let employees = employee_count(rng);
    let revenue = annual_revenue(rng, employees, country.currency);

    let mut record = Map::new();
    record.insert("name".into(), name.into());
    record.insert("domain".into(), domain.clone().into());
    record.insert("industry".into(), identity.industry.into());
    record.insert("employees".into(), employees.into());
    record.insert("annual_revenue".into(), revenue);
    record.insert("phone".into(), fill_pattern(rng, city.phone).into());
    record.insert("website".into(), format!("https://{domain}").into());
    record.insert("address".into(), address(rng, country, city).into());
    record
}

/// Mostly the country's own TLD, otherwise `.com` (or `.io` for tech firms).
fn top_level_domain(rng: &mut Rng, country: &Country, industry: &str) -> &'static str {
    if rng.chance(0.6) {
        country.tld
    } else if industry == "technology" && rng.chance(0.5) {
        "io"
    } else {
        "com"
    }
}

fn employee_count(rng: &mut Rng) -> u64 {
    let &(low, high, _) = rng.pick_weighted(EMPLOYEE_BUCKETS, |bucket| bucket.2);
    rng.between(low, high)
}

/// `{"amount": "1250000.00", "currency": "EUR"}`, roughly proportional to
/// head count; usually a round figure, sometimes exact to the cent.
fn annual_revenue(rng: &mut Rng, employees: u64, currency: &str) -> Value {
    let per_employee = rng.between(40_000, 300_000);
    let mut units = employees * per_employee;
    let mut cents = 0;
    if rng.chance(0.15) {
        cents = rng.below(100);
    } else {
        let step = if units >= 1_000_000 { 10_000 } else { 1_000 };
        units = (units / step).max(1) * step;
    }
    let mut money = Map::new();
    money.insert("amount".into(), format!("{units}.{cents:02}").into());
    money.insert("currency".into(), currency.into());
    Value::Object(money)
}

/// One line: "12 Harbour Street, Bristol BS1 4ND, United Kingdom" or
/// "Friedrichstraße 12, 10117 Berlin, Germany", as local custom has it.
fn address(rng: &mut Rng, country: &Country, city: &City) -> String {
    let street = rng.pick(country.streets);
    let number = rng.between(1, 240);
    let street_line = if country.number_first {
        format!("{number} {street}")
    } else {
        format!("{street} {number}")
    };
    let postcode = fill_pattern(rng, city.postcode);
    let locality = if country.postcode_first {
        format!("{postcode} {}", city.name)
    } else {
        format!("{} {postcode}", city.name)
    };
    format!("{street_line}, {locality}, {}", country.name)
}

/// Replaces each `#` with a random digit and each `@` with a random
/// uppercase letter; other characters are kept.
fn fill_pattern(rng: &mut Rng, pattern: &str) -> String {
    pattern
        .chars()
        .map(|c| match c {
            '#' => char::from(b'0' + rng.below(10) as u8),
            '@' => char::from(b'A' + rng.below(26) as u8),
            other => other,
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Contacts
// ---------------------------------------------------------------------------

#[rustfmt::skip]
const FIRST_NAMES: &[&str] = &[
    // English
    "James", "Olivia", "Liam", "Emma", "Noah", "Ava", "Oliver", "Sophia", "Ethan", "Mia", "Henry",
    "Harper", "Jack", "Grace", "Samuel", "Chloe", "Daniel", "Emily", "Michael", "Hannah", "David",
    "Sarah", "Thomas", "Laura", "Benjamin", "Rachel", "Matthew", "Rebecca", "Charlotte", "George",
    // German
    "Lukas", "Jonas", "Lena", "Felix", "Anna", "Maximilian", "Leonie", "Jürgen", "Käthe",
    "Günter", "Sabine", "Tobias", "Katrin",
    // French
    "François", "Amélie", "Hélène", "Jérôme", "Léa", "Théo", "Camille", "Étienne", "Margaux",
    "Benoît", "Élodie", "Gaël", "Noémie",
    // Spanish and Portuguese
    "José", "María", "Sofía", "Alejandro", "Lucía", "Javier", "Inés", "Raúl", "Núria", "Joaquín",
    "João", "Beatriz", "Gonçalo", "Mariana",
    // Nordic
    "Søren", "Astrid", "Björn", "Ingrid", "Linnéa", "Mikkel", "Freja", "Åsa", "Henrik", "Sigrid",
    "Jørgen", "Maja",
    // Central and Eastern European
    "Łukasz", "Agnieszka", "Małgorzata", "Paweł", "Katarzyna", "Wojciech", "Zofia", "Tomáš",
    "Jiří", "Petra", "Dmitri", "Olga", "Nikolai", "Ivan", "Zsófia", "Bence",
    // Italian and Dutch
    "Giulia", "Matteo", "Francesca", "Lorenzo", "Chiara", "Niccolò", "Daan", "Sanne", "Joost",
    "Femke", "Bram",
    // Irish
    "Zoë", "Aoife", "Siobhán", "Niamh", "Ciarán",
    // Asian
    "Priya", "Arjun", "Ananya", "Rohan", "Wei", "Mei", "Hiroshi", "Yuki", "Haruto", "Sakura",
    "Min-jun", "Ji-woo",
    // African, Middle Eastern and Turkish
    "Amara", "Chidi", "Kwame", "Fatima", "Omar", "Layla", "Yusuf", "Leila", "Aylin", "Emre",
    "Elif",
    // Latin American
    "Ana", "Mateo", "Valentina", "Santiago", "Camila", "Diego", "Isabela", "Thiago",
];

#[rustfmt::skip]
const LAST_NAMES: &[&str] = &[
    // English, Scottish and Irish
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson",
    "Taylor", "Thomas", "Moore", "Clark", "Lewis", "Walker", "Hall", "Young", "King", "Wright",
    "Hughes", "Evans", "Roberts", "Turner", "Campbell", "Stewart", "MacLeod", "Murphy", "O'Brien",
    "Kelly", "Byrne", "O'Connor",
    // German
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schäfer",
    "Koch", "Hoffmann", "Schröder", "Köhler", "Groß", "Weiß", "Krüger",
    // French
    "Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Laurent", "Girard", "Bonnet", "Rousseau",
    "Fontaine", "Lévêque", "Chevalier", "Mercier", "Dupont",
    // Spanish and Portuguese
    "García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez",
    "Gómez", "Díaz", "Muñoz", "Álvarez", "Romero", "Navarro", "Peña", "Silva", "Santos",
    "Oliveira", "Conceição", "Gonçalves", "Magalhães",
    // Nordic and Finnish
    "Jensen", "Nielsen", "Hansen", "Pedersen", "Sørensen", "Johansson", "Lindqvist", "Åberg",
    "Nyström", "Bergström", "Halvorsen", "Ødegaard", "Virtanen", "Mäkinen", "Korhonen",
    // Central and Eastern European
    "Kowalski", "Nowak", "Wiśniewski", "Wójcik", "Kowalczyk", "Lewandowski", "Zieliński",
    "Szymańska", "Dąbrowski", "Łukasiewicz", "Novák", "Dvořák", "Svoboda", "Černý", "Horváth",
    "Nagy", "Ivanova", "Petrov", "Popescu",
    // Italian, Dutch and Greek
    "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Ricci", "Conti", "de Vries",
    "van Dijk", "Bakker", "Visser", "Smit", "Janssen", "van den Berg", "Papadopoulos",
    // Asian
    "Patel", "Sharma", "Gupta", "Singh", "Chen", "Wang", "Li", "Zhang", "Liu", "Tanaka", "Suzuki",
    "Sato", "Kim", "Park", "Lee", "Nguyen", "Tran",
    // African, Middle Eastern and Turkish
    "Okafor", "Mensah", "Adeyemi", "Haddad", "Khan", "Ahmed", "Yılmaz", "Demir", "Kaya",
];

/// Multiplier of the contact-name permutation; a prime larger than both name
/// lists, hence coprime with their product.
const CONTACT_STRIDE: u64 = 7_919;
const CONTACT_OFFSET: u64 = 4_711;

const FREE_MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "proton.me",
    "icloud.com",
    "yahoo.com",
    "gmx.de",
    "fastmail.com",
    "hey.com",
];

/// Titles used as they are.
const TITLES: &[&str] = &[
    "CEO",
    "CTO",
    "CFO",
    "COO",
    "CIO",
    "Founder",
    "Co-Founder",
    "Managing Director",
    "Account Manager",
    "Key Account Manager",
    "Office Manager",
    "Product Owner",
    "Software Engineer",
    "Data Scientist",
    "Solutions Architect",
    "Business Analyst",
    "Executive Assistant",
    "Buyer",
    "Purchasing Agent",
    "Controller",
];

/// Title patterns combined with [`DEPARTMENTS`].
const TITLE_PATTERNS: &[&str] = &[
    "Head of {}",
    "VP of {}",
    "Director of {}",
    "{} Manager",
    "Senior {} Manager",
    "{} Lead",
    "{} Specialist",
];

const DEPARTMENTS: &[&str] = &[
    "Procurement",
    "Sales",
    "Marketing",
    "Operations",
    "Finance",
    "IT",
    "Engineering",
    "Customer Success",
    "People",
    "Partnerships",
    "Product",
    "Legal",
    "Supply Chain",
];

const FREELANCE_TITLES: &[&str] = &[
    "Independent Consultant",
    "Freelance Designer",
    "Freelance Developer",
    "Interim CFO",
    "Fractional CMO",
    "Advisor",
    "Photographer",
    "Copywriter",
];

const MOBILE_PHONES: &[&str] = &[
    "+1 (555) 01#-####",
    "+44 7700 900###",
    "+49 151 ########",
    "+33 6 ## ## ## ##",
    "+31 6 ## ## ## ##",
    "+46 70 ### ## ##",
    "+34 6## ### ###",
    "+48 5## ### ###",
];

const TAGS: &[&str] = &[
    "vip",
    "newsletter",
    "partner",
    "decision-maker",
    "churn-risk",
    "trial",
    "event-2026",
];

/// How many tags a contact gets, weighted towards none.
const TAG_COUNTS: &[(usize, u64)] = &[(0, 45), (1, 30), (2, 17), (3, 8)];

/// A contact working at `company` (its id and domain), or a freelancer when
/// None: first_name, last_name, email, phone, title, company, tags.
/// The email is unique per `index`.
pub fn contact(rng: &mut Rng, index: usize, company: Option<(Uuid, &str)>) -> Map<String, Value> {
    let (first, last) = contact_name(index);
    let domain = match company {
        Some((_, domain)) => domain.to_ascii_lowercase(),
        None => (*rng.pick(FREE_MAIL_DOMAINS)).to_owned(),
    };
    let email = format!("{}@{domain}", email_local_part(index, first, last));
    let title = if company.is_some() {
        employee_title(rng)
    } else {
        (*rng.pick(FREELANCE_TITLES)).to_owned()
    };

    let mut record = Map::new();
    record.insert("first_name".into(), first.into());
    record.insert("last_name".into(), last.into());
    record.insert("email".into(), email.into());
    record.insert("phone".into(), contact_phone(rng).into());
    record.insert("title".into(), title.into());
    if let Some((id, _)) = company {
        record.insert("company".into(), id.to_string().into());
    }
    let tags = tags(rng);
    if !tags.is_empty() {
        record.insert("tags".into(), tags.into());
    }
    record
}

/// The contact's name: a fixed permutation of the first × last name space,
/// so consecutive indices get unrelated names and no pair repeats within one
/// pass over the space.
fn contact_name(index: usize) -> (&'static str, &'static str) {
    let firsts = FIRST_NAMES.len() as u64;
    let space = firsts * LAST_NAMES.len() as u64;
    let slot = ((index as u64 % space) * CONTACT_STRIDE + CONTACT_OFFSET) % space;
    (
        FIRST_NAMES[(slot % firsts) as usize],
        LAST_NAMES[(slot / firsts) as usize],
    )
}

/// "first.last", plus ".index" once the name space has been used up.
fn email_local_part(index: usize, first: &str, last: &str) -> String {
    let space = FIRST_NAMES.len() * LAST_NAMES.len();
    let local = format!("{}.{}", ascii_fold(first), ascii_fold(last));
    if index < space {
        local
    } else {
        format!("{local}.{index}")
    }
}

/// Lowercase ASCII for an email local part: accents folded (ü→u, ł→l, ø→o,
/// ß→ss), spaces and apostrophes dropped, hyphens kept.
fn ascii_fold(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        match c {
            'a'..='z' | '0'..='9' | '-' => out.push(c),
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ą' => out.push('a'),
            'ç' | 'ć' | 'č' => out.push('c'),
            'ď' | 'đ' => out.push('d'),
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => out.push('e'),
            'ì' | 'í' | 'î' | 'ï' | 'ı' => out.push('i'),
            'ł' => out.push('l'),
            'ñ' | 'ń' | 'ň' => out.push('n'),
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => out.push('o'),
            'ř' => out.push('r'),
            'ś' | 'š' | 'ş' | 'ș' => out.push('s'),
            'ť' | 'ţ' | 'ț' => out.push('t'),
            'ù' | 'ú' | 'û' | 'ü' | 'ů' | 'ű' | 'ū' => out.push('u'),
            'ý' | 'ÿ' => out.push('y'),
            'ź' | 'ż' | 'ž' => out.push('z'),
            'æ' => out.push_str("ae"),
            'œ' => out.push_str("oe"),
            'ß' => out.push_str("ss"),
            _ => {}
        }
    }
    out
}

fn employee_title(rng: &mut Rng) -> String {
    if rng.chance(0.4) {
        (*rng.pick(TITLES)).to_owned()
    } else {
        let pattern = *rng.pick(TITLE_PATTERNS);
        let department = *rng.pick(DEPARTMENTS);
        pattern.replace("{}", department)
    }
}

/// A landline from one of the known cities, or a mobile number.
fn contact_phone(rng: &mut Rng) -> String {
    let pattern = if rng.chance(0.5) {
        let country = rng.pick_weighted(COUNTRIES, |c| c.weight);
        rng.pick(country.cities).phone
    } else {
        *rng.pick(MOBILE_PHONES)
    };
    fill_pattern(rng, pattern)
}

fn tags(rng: &mut Rng) -> Vec<Value> {
    let &(count, _) = rng.pick_weighted(TAG_COUNTS, |entry| entry.1);
    rng.distinct_indices(TAGS.len(), count)
        .into_iter()
        .map(|i| Value::from(TAGS[i]))
        .collect()
}

// ---------------------------------------------------------------------------
// Activities
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Note,
    Task,
    Call,
    Meeting,
    Email,
}

const KINDS: &[(Kind, u64)] = &[
    (Kind::Note, 25),
    (Kind::Task, 25),
    (Kind::Call, 20),
    (Kind::Meeting, 15),
    (Kind::Email, 15),
];

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Note => "note",
            Kind::Task => "task",
            Kind::Call => "call",
            Kind::Meeting => "meeting",
            Kind::Email => "email",
        }
    }

    /// Tasks, calls and meetings happen at a time; notes and emails do not.
    fn is_scheduled(self) -> bool {
        matches!(self, Kind::Task | Kind::Call | Kind::Meeting)
    }

    fn subjects(self) -> &'static [&'static str] {
        match self {
            Kind::Note => &[
                "Notes from {quarter} business review",
                "Account background",
                "Champion changed roles",
                "Budget update",
                "Org chart notes",
                "Feedback on {topic}",
                "Internal notes on {topic}",
            ],
            Kind::Task => &[
                "Send {doc}",
                "Follow up on {topic}",
                "Prepare {doc} for the {team} team",
                "Schedule demo with the {team} team",
                "Update close date",
                "Book {quarter} business review",
                "Chase signature on order form",
            ],
            Kind::Call => &[
                "Call about {topic}",
                "Discovery call",
                "Check-in call",
                "Call with the {team} team",
                "Quick call about {topic}",
                "Pricing call",
            ],
            Kind::Meeting => &[
                "Demo for the {team} team",
                "{quarter} business review",
                "Kickoff meeting",
                "Workshop on {topic}",
                "Contract negotiation",
                "Onsite visit",
            ],
            Kind::Email => &[
                "Re: {doc}",
                "Following up on our call",
                "Next steps on {topic}",
                "Thanks for your time today",
                "Quick question about {topic}",
                "Intro to {role}",
            ],
        }
    }

    /// The sentence a body starts with.
    fn openers(self) -> &'static [&'static str] {
        match self {
            Kind::Note => &[
                "Account is in good shape overall.",
                "Met {role} at the conference; very engaged.",
                "Usage dropped noticeably over the last {weeks} weeks.",
                "Our champion is moving to a new role in {quarter}.",
                "Background: they evaluated us last year and chose {competitor}.",
            ],
            Kind::Task => &[
                "Need to send the {doc} before {weekday}.",
                "Follow up with the {team} team on {topic}.",
                "Prepare numbers on {topic} ahead of the next call.",
                "Make sure {role} has everything needed for sign-off.",
            ],
            Kind::Call => &[
                "Spoke with {role} about {topic}.",
                "Short call with the {team} team about {topic}.",
                "Discovery call with {role}; they are evaluating options for {quarter}.",
                "Left a voicemail, then reached {role} on the second try.",
            ],
            Kind::Meeting => &[
                "Discussed {topic} with the {team} team.",
                "Ran a demo for {seats} potential users in the {team} team.",
                "Reviewed {topic} with {role} and two people from {team}.",
                "Kickoff went well; the {team} team is ready to start.",
            ],
            Kind::Email => &[
                "Sent the {doc} to {role}.",
                "Replied to questions from the {team} team about {topic}.",
                "Forwarded the {doc} as requested.",
                "Shared a summary of {topic} with the {team} team.",
            ],
        }
    }
}

/// Middle sentences of a body, shared by every kind.
const DETAILS: &[&str] = &[
    "They asked for a {percent} discount on the {plan}.",
    "Budget is approved for {quarter}.",
    "Legal wants to review the data processing terms.",
    "They are also talking to {competitor}.",
    "Main concern is the migration effort.",
    "Decision expected by the end of {quarter}.",
    "The {team} team needs SSO before rolling out further.",
    "They want to start with {seats} seats.",
    "Pricing was well received.",
    "Timeline slipped by two weeks due to an internal reorg.",
    "{role} is the economic buyer.",
    "Renewal is due in {weeks} weeks.",
    "They reported an issue with the CSV import.",
    "Overall sentiment was positive.",
    "{role} wants a reference call with a similar customer.",
];

/// Closing sentences of a body.
const NEXT_STEPS: &[&str] = &[
    "Next step: send the {doc} by {weekday}.",
    "Will follow up on {weekday}.",
    "Agreed to reconvene in {weeks} weeks.",
    "Action item: loop in the {team} team.",
    "Waiting on feedback from {role}.",
];

const TOPICS: &[&str] = &[
    "the renewal",
    "the Q3 rollout",
    "pricing for next year",
    "onboarding",
    "the pilot results",
    "contract terms",
    "the security review",
    "the API integration",
    "seat expansion",
    "the open invoice",
    "SSO setup",
    "the data migration",
    "the implementation timeline",
    "the annual plan",
];

const TEAMS: &[&str] = &[
    "procurement",
    "finance",
    "IT",
    "legal",
    "marketing",
    "operations",
    "security",
    "sales",
    "engineering",
    "leadership",
];

const DOCS: &[&str] = &[
    "pricing proposal",
    "revised quote",
    "case study",
    "security questionnaire",
    "order form",
    "implementation plan",
    "ROI summary",
    "product roadmap",
    "reference list",
    "MSA redline",
];

const ROLES: &[&str] = &[
    "their CFO",
    "the head of IT",
    "our champion",
    "the procurement lead",
    "the new VP of Sales",
    "their legal counsel",
    "the project sponsor",
];

const COMPETITORS: &[&str] = &["a competitor", "their incumbent vendor", "an in-house tool"];
const PLANS: &[&str] = &[
    "annual plan",
    "enterprise tier",
    "starter plan",
    "multi-year deal",
];
const QUARTERS: &[&str] = &["Q1", "Q2", "Q3", "Q4"];
const WEEKDAYS: &[&str] = &["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"];

/// An activity linked to the given record ids: kind, subject, body, due_at,
/// done, links. `due_at` (tasks, calls, meetings) falls between 60 days before
/// and 30 days after `now`, in office hours, on a quarter hour.
pub fn activity(rng: &mut Rng, links: &[Uuid], now: DateTime<Utc>) -> Map<String, Value> {
    let &(kind, _) = rng.pick_weighted(KINDS, |entry| entry.1);
    let subject_template = *rng.pick(kind.subjects());
    let subject = fill(rng, subject_template);
    let body = body(rng, kind);
    activity_record(rng, kind, subject, body, links, now)
}

/// The record of an activity whose text is written: kind, subject and body, then `due_at`
/// (tasks, calls, meetings), `done` (tasks) and links.
fn activity_record(
    rng: &mut Rng,
    kind: Kind,
    subject: String,
    body: String,
    links: &[Uuid],
    now: DateTime<Utc>,
) -> Map<String, Value> {
    let mut record = Map::new();
    record.insert("kind".into(), kind.as_str().into());
    record.insert("subject".into(), subject.into());
    record.insert("body".into(), body.into());
    if kind.is_scheduled() {
        let due = due_at(rng, now);
        record.insert("due_at".into(), format_timestamp(due).into());
        if kind == Kind::Task {
            let done_odds = if due < now { 0.85 } else { 0.05 };
            record.insert("done".into(), rng.chance(done_odds).into());
        }
    }
    if !links.is_empty() {
        let links: Vec<Value> = links.iter().map(|id| id.to_string().into()).collect();
        record.insert("links".into(), links.into());
    }
    record
}

/// One to four sentences: an opener for the kind, then details, sometimes
/// ending with a next step.
fn body(rng: &mut Rng, kind: Kind) -> String {
    let opener = *rng.pick(kind.openers());
    let mut sentences = vec![fill(rng, opener)];
    let extra = rng.below(4) as usize;
    let closing = extra > 0 && rng.chance(0.5);
    for i in rng.distinct_indices(DETAILS.len(), extra - usize::from(closing)) {
        sentences.push(fill(rng, DETAILS[i]));
    }
    if closing {
        let step = *rng.pick(NEXT_STEPS);
        sentences.push(fill(rng, step));
    }
    sentences.join(" ")
}

/// A day from 59 days ago to 29 days ahead, 08:00–17:45 UTC on a quarter hour,
/// so always within [now − 60 days, now + 30 days].
fn due_at(rng: &mut Rng, now: DateTime<Utc>) -> DateTime<Utc> {
    let day = rng.below(89) as i64 - 59;
    let quarter = rng.below(40) as i64;
    let midnight = now.date_naive().and_time(NaiveTime::MIN).and_utc();
    midnight + TimeDelta::days(day) + TimeDelta::minutes(8 * 60 + quarter * 15)
}

/// RFC 3339 UTC with milliseconds: "2026-11-22T14:30:00.000Z".
fn format_timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Expands `{key}` placeholders with random words and capitalises the first
/// letter. Unknown keys are left as they are.
fn fill(rng: &mut Rng, template: &str) -> String {
    capitalize_first(expand(rng, template, placeholder))
}

/// Replaces each `{key}` of `template`, in order, with `word(rng, key)`.
fn expand(rng: &mut Rng, template: &str, word: fn(&mut Rng, &str) -> String) -> String {
    let mut out = String::with_capacity(template.len() + 24);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|offset| open + offset) else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&word(rng, &rest[open + 1..close]));
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

fn placeholder(rng: &mut Rng, key: &str) -> String {
    let words = match key {
        "topic" => TOPICS,
        "team" => TEAMS,
        "doc" => DOCS,
        "role" => ROLES,
        "competitor" => COMPETITORS,
        "plan" => PLANS,
        "quarter" => QUARTERS,
        "weekday" => WEEKDAYS,
        "percent" => return format!("{}%", 5 * rng.between(1, 4)),
        "seats" => return (5 * rng.between(2, 100)).to_string(),
        "weeks" => return rng.between(2, 8).to_string(),
        _ => return format!("{{{key}}}"),
    };
    (*rng.pick(words)).to_owned()
}

fn capitalize_first(text: String) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if first.is_lowercase() => first.to_uppercase().chain(chars).collect(),
        _ => text,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-05-14T10:07:31.250Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn text<'a>(record: &'a Map<String, Value>, key: &str) -> &'a str {
        record[key].as_str().unwrap()
    }

    /// Hand-written `^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$`.
    fn is_valid_email(email: &str) -> bool {
        let Some((local, domain)) = email.split_once('@') else {
            return false;
        };
        let Some((host, tld)) = domain.rsplit_once('.') else {
            return false;
        };
        let local_ok = !local.is_empty()
            && local
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._%+-".contains(&b));
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-".contains(&b));
        let tld_ok = tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_lowercase());
        local_ok && host_ok && tld_ok
    }

    /// A decimal string with exactly two fractional digits.
    fn is_money_amount(amount: &str) -> bool {
        let Some((whole, cents)) = amount.split_once('.') else {
            return false;
        };
        !whole.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && cents.len() == 2
            && cents.bytes().all(|b| b.is_ascii_digit())
    }

    fn is_phone(phone: &str) -> bool {
        phone.starts_with('+')
            && phone.bytes().filter(u8::is_ascii_digit).count() >= 8
            && phone
                .bytes()
                .all(|b| b.is_ascii_digit() || b" ()+-".contains(&b))
    }

    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }

    #[test]
    fn validator_agrees_with_the_pattern() {
        assert!(is_valid_email("jose.garcia.4711@northwind-logistics.co.uk"));
        assert!(!is_valid_email("José@example.com"));
        assert!(!is_valid_email("a@b.c"));
        assert!(!is_valid_email("a@example.c0m"));
        assert!(!is_valid_email("@example.com"));
        assert!(!is_valid_email("a@b@example.com"));
    }

    #[test]
    fn rng_is_reproducible_and_in_range() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..1_000 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut rng = Rng::new(1);
        let mut seen = [false; 7];
        for _ in 0..10_000 {
            let n = rng.below(7);
            assert!(n < 7);
            seen[n as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(rng.below(0), 0);
        assert!((0..1_000).all(|_| !rng.chance(0.0) && rng.chance(1.0)));
        let hits = (0..10_000).filter(|_| rng.chance(0.3)).count();
        assert!((2_700..3_300).contains(&hits), "{hits}");
        assert!([1, 2, 3].contains(rng.pick(&[1, 2, 3])));
    }

    #[test]
    fn same_seed_gives_same_records_and_other_seeds_differ() {
        let generate = |seed| {
            let mut rng = Rng::new(seed);
            let id = Uuid::from_u128(42);
            (0..200)
                .map(|i| {
                    let company = company(&mut rng, i);
                    let contact = contact(&mut rng, i, Some((id, "example.com")));
                    let activity = activity(&mut rng, &[id], now());
                    (company, contact, activity)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(generate(99), generate(99));
        assert_ne!(generate(99), generate(100));
    }

    #[test]
    fn ten_thousand_companies_are_unique_and_well_formed() {
        let mut rng = Rng::new(2026);
        let (mut names, mut domains) = (HashSet::new(), HashSet::new());
        for index in 0..10_000 {
            let record = company(&mut rng, index);
            let name = text(&record, "name");
            let domain = text(&record, "domain");
            assert!(names.insert(name.to_owned()), "duplicate name {name}");
            assert!(
                domains.insert(domain.to_owned()),
                "duplicate domain {domain}"
            );
            assert!(!name.bytes().any(|b| b.is_ascii_digit()), "{name}");
            assert!(is_valid_email(&format!("info@{domain}")), "{domain}");
            assert!(
                !domain.starts_with('-') && !domain.contains("-."),
                "{domain}"
            );
            assert_eq!(text(&record, "website"), format!("https://{domain}"));
            assert!(INDUSTRIES.contains(&text(&record, "industry")));
            let employees = record["employees"].as_u64().unwrap();
            assert!((1..=50_000).contains(&employees));
            let revenue = record["annual_revenue"].as_object().unwrap();
            assert_eq!(revenue.len(), 2);
            assert!(is_money_amount(text(revenue, "amount")), "{revenue:?}");
            assert!(["USD", "EUR", "GBP"].contains(&text(revenue, "currency")));
            assert!(is_phone(text(&record, "phone")), "{record:?}");
            assert!(
                text(&record, "address").matches(", ").count() >= 2,
                "{record:?}"
            );
        }
    }

    #[test]
    fn company_names_stay_unique_across_a_million_indices() {
        let mut names = HashSet::with_capacity(1_000_000);
        let mut labels = HashSet::with_capacity(1_000_000);
        for index in 0..1_000_000 {
            let identity = company_identity(index);
            assert!(!identity.name.bytes().any(|b| b.is_ascii_digit()));
            assert!(labels.insert(identity.label));
            assert!(names.insert(identity.name));
        }
        // Past every tier a pass number keeps them apart.
        assert!(
            company_identity(10_000_000)
                .name
                .ends_with(char::is_numeric)
        );
    }

    #[test]
    fn name_lists_support_the_uniqueness_argument() {
        let space = (NAME_PREFIXES.len() * NAME_ROOTS.len() * SECTORS.len()) as u64;
        assert!(space * NAME_TIERS.len() as u64 >= 1_000_000);
        assert_eq!(gcd(NAME_STRIDE, space), 1);
        let contact_space = (FIRST_NAMES.len() * LAST_NAMES.len()) as u64;
        assert_eq!(gcd(CONTACT_STRIDE, contact_space), 1);

        let compounds: HashSet<String> = NAME_PREFIXES
            .iter()
            .flat_map(|p| {
                NAME_ROOTS
                    .iter()
                    .map(move |r| format!("{p}{r}").to_ascii_lowercase())
            })
            .collect();
        assert_eq!(compounds.len(), NAME_PREFIXES.len() * NAME_ROOTS.len());
        for (sector, industry) in SECTORS {
            assert!(INDUSTRIES.contains(industry));
            assert!(sector.bytes().all(|b| b.is_ascii_alphabetic()));
        }
        for list in [FIRST_NAMES, LAST_NAMES] {
            let folded: HashSet<String> = list.iter().map(|n| ascii_fold(n)).collect();
            assert_eq!(folded.len(), list.len(), "names fold onto each other");
            assert!(
                folded
                    .iter()
                    .all(|n| !n.is_empty() && is_valid_email(&format!("{n}@x.io")))
            );
        }
        assert!(FIRST_NAMES.len() >= 100 && LAST_NAMES.len() >= 100);
    }

    #[test]
    fn ten_thousand_contacts_have_unique_valid_emails() {
        let mut rng = Rng::new(11);
        let companies: Vec<(Uuid, String)> = (0..300)
            .map(|i| {
                let record = company(&mut rng, i);
                (
                    Uuid::from_u128(i as u128 + 1),
                    text(&record, "domain").to_owned(),
                )
            })
            .collect();
        let threshold = FIRST_NAMES.len() * LAST_NAMES.len();
        let indices = (0..10_000)
            .chain(threshold - 500..threshold + 500)
            .chain(990_000..991_000);
        let mut emails = HashSet::new();
        for index in indices {
            let employer = (index % 5 != 0).then(|| &companies[index % companies.len()]);
            let record = contact(&mut rng, index, employer.map(|(id, d)| (*id, d.as_str())));
            let email = text(&record, "email");
            assert!(is_valid_email(email), "{email}");
            assert!(emails.insert(email.to_owned()), "duplicate email {email}");
            match employer {
                Some((id, domain)) => {
                    assert!(email.ends_with(&format!("@{domain}")));
                    assert_eq!(text(&record, "company"), id.to_string());
                }
                None => assert!(!record.contains_key("company")),
            }
            assert!(is_phone(text(&record, "phone")), "{record:?}");
            assert!(!text(&record, "title").is_empty());
            if let Some(tags) = record.get("tags") {
                let tags: Vec<&str> = tags
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap())
                    .collect();
                assert!((1..=3).contains(&tags.len()));
                assert!(tags.iter().all(|t| TAGS.contains(t)));
                assert_eq!(tags.iter().collect::<HashSet<_>>().len(), tags.len());
            }
        }
    }

    #[test]
    fn activities_are_well_formed() {
        let mut rng = Rng::new(5);
        let now = now();
        let links = [Uuid::from_u128(1), Uuid::from_u128(2)];
        let mut kinds = HashSet::new();
        for i in 0..5_000 {
            let record = activity(&mut rng, &links[..i % 3], now);
            let kind = text(&record, "kind");
            kinds.insert(kind.to_owned());
            for field in ["subject", "body"] {
                let value = text(&record, field);
                assert!(
                    !value.contains('{') && value.starts_with(char::is_uppercase),
                    "{value}"
                );
            }
            let sentences = text(&record, "body").matches(['.', ';']).count();
            assert!(sentences >= 1, "{record:?}");

            let scheduled = matches!(kind, "task" | "call" | "meeting");
            assert_eq!(record.contains_key("due_at"), scheduled);
            assert_eq!(record.contains_key("done"), kind == "task");
            if let Some(due) = record.get("due_at") {
                let due = due.as_str().unwrap();
                assert_eq!(due.len(), "2026-11-22T14:30:00.000Z".len());
                assert!(due.ends_with(":00.000Z"), "{due}");
                let parsed = DateTime::parse_from_rfc3339(due)
                    .unwrap()
                    .with_timezone(&Utc);
                assert!(parsed >= now - TimeDelta::days(60) && parsed <= now + TimeDelta::days(30));
                assert_eq!(parsed.timestamp() % (15 * 60), 0);
            }
            if kind == "task" {
                assert!(record["done"].is_boolean());
            }
            match record.get("links") {
                Some(found) => {
                    let expected: Vec<Value> = links[..i % 3]
                        .iter()
                        .map(|id| id.to_string().into())
                        .collect();
                    assert_eq!(found, &Value::Array(expected));
                }
                None => assert_eq!(i % 3, 0),
            }
        }
        assert_eq!(kinds.len(), 5);
    }

    #[test]
    fn past_tasks_are_mostly_done() {
        let mut rng = Rng::new(8);
        let now = now();
        let (mut past, mut past_done) = (0, 0);
        for _ in 0..5_000 {
            let record = activity(&mut rng, &[], now);
            if text(&record, "kind") != "task" {
                continue;
            }
            let due = DateTime::parse_from_rfc3339(text(&record, "due_at")).unwrap();
            if due < now {
                past += 1;
                past_done += usize::from(record["done"].as_bool().unwrap());
            }
        }
        assert!(
            past > 100 && past_done * 10 > past * 7,
            "{past_done}/{past}"
        );
    }

    #[test]
    fn templates_only_use_known_placeholders() {
        let mut rng = Rng::new(3);
        let kinds = KINDS.iter().map(|&(kind, _)| kind);
        let templates = kinds
            .flat_map(|kind| kind.subjects().iter().chain(kind.openers()))
            .chain(DETAILS)
            .chain(NEXT_STEPS);
        for template in templates {
            let filled = fill(&mut rng, template);
            assert!(!filled.contains('{') && !filled.contains('}'), "{template}");
        }
        assert_eq!(
            ascii_fold("Łukasz Sørensen-Müller"),
            "lukaszsorensen-muller"
        );
        assert_eq!(ascii_fold("O'Brien"), "obrien");
    }
}
