//! The `convert` action: a lead becomes a contact, the contact's company (found, else created)
//! and optionally a deal, and the lead records what it became.
//!
//! Input: `{"id": lead id, "company"?: id | null, "create_deal": true, "deal_name"?: "…",
//! "amount"?: {"amount", "currency"}, "pipeline"?: id, "stage"?: id}`. Without `company` the
//! company is found by domain or name, else created; `"company": null` always creates one.
//! Answer: `{"lead", "contact", "company", "deal", "company_created", "contact_created"}`
//! (company and deal `null` when there is none).
//!
//! With `"prefill": true` the action changes nothing and answers the web app's dialog with
//! what a conversion would do: `{"company": the matching company or null, "create_deal",
//! "deal_name", "pipeline"}`.

use plugin_sdk::prelude::*;
use plugin_sdk::serde_json::Value as Json;
use serde::{Deserialize, Serialize};

use crate::store;

/// Domains of email providers: an address there says nothing about the person's company.
const FREE_MAIL: &[&str] = &[
    "aol.com",
    "fastmail.com",
    "gmail.com",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "googlemail.com",
    "hotmail.com",
    "hotmail.de",
    "icloud.com",
    "live.com",
    "mac.com",
    "mail.com",
    "me.com",
    "msn.com",
    "outlook.com",
    "outlook.de",
    "proton.me",
    "protonmail.com",
    "t-online.de",
    "web.de",
    "yahoo.co.uk",
    "yahoo.com",
    "yahoo.de",
    "yandex.com",
    "yandex.ru",
    "zoho.com",
];

/// The action's input.
#[derive(Debug, Deserialize)]
pub struct Input {
    id: String,
    #[serde(default)]
    prefill: bool,
    #[serde(flatten)]
    options: Options,
}

/// How to convert a lead.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Options {
    /// The company to link: absent, found or created; `None` inside, a new one.
    #[serde(default, deserialize_with = "present")]
    pub company: Option<Option<String>>,
    #[serde(default = "yes")]
    pub create_deal: bool,
    /// The deal's name; by default "<company or last name> deal".
    #[serde(default)]
    pub deal_name: Option<String>,
    /// The deal's amount; by default the lead's expected amount.
    #[serde(default)]
    pub amount: Option<AmountInput>,
    /// The deal's pipeline; by default the default one (the deal hook fills it in).
    #[serde(default)]
    pub pipeline: Option<String>,
    /// The deal's stage; by default the pipeline's first open one.
    #[serde(default)]
    pub stage: Option<String>,
}

fn yes() -> bool {
    true
}

/// A key that is present, `null` or `""` included (an emptied picker), as `Some(None)`.
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    let value: Option<String> = Deserialize::deserialize(deserializer)?;
    Ok(Some(value.filter(|id| !id.trim().is_empty())))
}

/// An amount as the API takes it: the decimal as text (or a JSON number) and the currency.
#[derive(Debug, Clone, Deserialize)]
pub struct AmountInput {
    amount: Json,
    currency: String,
}

impl AmountInput {
    fn money(&self) -> Option<Money> {
        let amount = match &self.amount {
            Json::String(text) => text.clone(),
            Json::Number(number) => number.to_string(),
            _ => return None,
        };
        Some(Money::new(amount, &self.currency))
    }
}

/// What the lead became.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Converted {
    pub lead: String,
    pub contact: String,
    pub company: Option<String>,
    pub deal: Option<String>,
    pub company_created: bool,
    pub contact_created: bool,
}

/// A record found or created for the lead.
struct Linked {
    id: String,
    title: String,
    created: bool,
}

impl Linked {
    fn of(record: Record, created: bool) -> Linked {
        Linked {
            title: store::title(&record),
            id: record.id,
            created,
        }
    }
}

/// Runs the action (`json_action` parses the input and writes the answer).
pub fn run(input: Input) -> Result<Json, ActionError> {
    let lead = records::get("lead", &input.id)?.ok_or_else(|| {
        ActionError::refuse("record_not_found", format!("there is no lead {}", input.id))
    })?;
    if input.prefill {
        return prefill(&lead);
    }
    let converted = convert(&lead, &input.options)?;
    serde_json::to_value(converted).map_err(|e| ActionError::Failed(e.to_string()))
}

/// What the dialog starts from: the company a conversion would link to, a deal named as it
/// would be, in the default pipeline.
fn prefill(lead: &Record) -> Result<Json, ActionError> {
    check_convertible(lead)?;
    let company = existing_company(lead)?;
    Ok(serde_json::json!({
        "company": company.as_ref().map(|c| c.id.clone()),
        "create_deal": true,
        "deal_name": format!("{} deal", deal_name_base(lead, company.as_ref())),
        "pipeline": crate::pipeline::default_pipeline()?,
    }))
}

/// Converts `lead` (see the module's documentation). The lead is updated last, at the version
/// read: a lead changed meanwhile is refused with `version_conflict`.
pub fn convert(lead: &Record, options: &Options) -> Result<Converted, ActionError> {
    check_convertible(lead)?;
    let company = match &options.company {
        None => company_for(lead)?,
        Some(Some(id)) => {
            let company = records::get("company", id)?.ok_or_else(|| {
                ActionError::field(
                    "company",
                    "record_not_found",
                    format!("there is no company {id}"),
                )
            })?;
            Some(Linked::of(company, false))
        }
        Some(None) => new_company(lead)?,
    };
    let contact = contact_for(lead, company.as_ref())?;
    let deal = if options.create_deal {
        Some(create_deal(lead, options, company.as_ref(), &contact)?)
    } else {
        None
    };
    let company_id = company.as_ref().map(|company| company.id.as_str());
    records::update(
        "lead",
        &lead.id,
        &fields([
            ("status", Value::from("converted")),
            ("converted_contact", Value::reference(&contact.id)),
            (
                "converted_company",
                company_id.map_or(Value::Null, Value::reference),
            ),
            (
                "converted_deal",
                deal.as_deref().map_or(Value::Null, Value::reference),
            ),
            ("converted_at", Value::from(clock::now())),
        ]),
        Some(lead.version),
    )?;
    Ok(Converted {
        lead: lead.id.clone(),
        contact: contact.id,
        company_created: company.as_ref().is_some_and(|company| company.created),
        company: company.map(|company| company.id),
        deal,
        contact_created: contact.created,
    })
}

/// A lead converts once, and a disqualified one not at all.
fn check_convertible(lead: &Record) -> Result<(), ActionError> {
    let status = lead.text("status");
    if status == Some("converted") || lead.reference("converted_contact").is_some() {
        return Err(ActionError::refuse(
            "conflict",
            format!("lead {} was already converted", lead.id),
        ));
    }
    if status == Some("disqualified") {
        return Err(ActionError::refuse(
            "conflict",
            format!(
                "lead {} is disqualified: qualify it again to convert it",
                lead.id
            ),
        ));
    }
    Ok(())
}

/// The company's domain: the lead's own, else its email's, unless a free-mail domain.
fn company_domain(lead: &Record) -> Option<String> {
    let own = lead.text("domain").map(normalize_domain);
    let of_email = lead.text("email").and_then(email_domain);
    [own, of_email]
        .into_iter()
        .flatten()
        .find(|domain| !domain.is_empty() && !is_free_mail(domain))
}

/// `"https://www.Acme.com/about"` → `"acme.com"`.
fn normalize_domain(text: &str) -> String {
    let text = text.trim().to_ascii_lowercase();
    let text = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .unwrap_or(&text);
    let host = text.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.strip_prefix("www.").unwrap_or(host);
    host.trim_end_matches('.').to_owned()
}

fn email_domain(email: &str) -> Option<String> {
    let (_, domain) = email.trim().rsplit_once('@')?;
    Some(normalize_domain(domain))
}

fn is_free_mail(domain: &str) -> bool {
    FREE_MAIL.contains(&domain)
}

/// The lead's company: found by domain, else by exact name, else created from the company
/// name (or the domain); none when the lead names neither.
fn company_for(lead: &Record) -> Result<Option<Linked>, HostError> {
    match existing_company(lead)? {
        Some(company) => Ok(Some(company)),
        None => new_company(lead),
    }
}

/// The company the lead belongs to by its domain, else by its exact name.
fn existing_company(lead: &Record) -> Result<Option<Linked>, HostError> {
    let domain = company_domain(lead);
    let name = lead
        .text("company_name")
        .map(str::trim)
        .filter(|name| !name.is_empty());
    let lookups = [
        domain.as_deref().map(|domain| Filter::eq("domain", domain)),
        name.map(|name| Filter::eq("name", name)),
    ];
    for filter in lookups.into_iter().flatten() {
        if let Some(company) = records::first("company", Query::new().filter(filter))? {
            return Ok(Some(Linked::of(company, false)));
        }
    }
    Ok(None)
}

/// A new company from the lead's company name (or its domain); none when it names neither.
fn new_company(lead: &Record) -> Result<Option<Linked>, HostError> {
    let domain = company_domain(lead);
    let name = lead
        .text("company_name")
        .map(str::trim)
        .filter(|name| !name.is_empty());
    let Some(new_name) = name.map(str::to_owned).or_else(|| domain.clone()) else {
        return Ok(None);
    };
    let mut values = vec![Field::new("name", new_name)];
    if let Some(domain) = domain {
        values.push(Field::new("domain", domain));
    }
    Ok(Some(Linked::of(records::create("company", &values)?, true)))
}

/// The lead's contact: found by email, else created from the lead.
fn contact_for(lead: &Record, company: Option<&Linked>) -> Result<Linked, HostError> {
    let email = lead.text("email").filter(|email| !email.trim().is_empty());
    if let Some(email) = email
        && let Some(contact) =
            records::first("contact", Query::new().filter(Filter::eq("email", email)))?
    {
        return Ok(Linked::of(contact, false));
    }
    let mut values: Vec<Field> = ["first_name", "last_name", "email", "phone", "title"]
        .iter()
        .filter_map(|name| lead.get(name).map(|value| Field::new(*name, value.clone())))
        .collect();
    if let Some(company) = company {
        values.push(Field::new("company", Value::reference(&company.id)));
    }
    Ok(Linked::of(records::create("contact", &values)?, true))
}

/// The deal of the conversion; the deal hook gives it its pipeline and first stage.
fn create_deal(
    lead: &Record,
    options: &Options,
    company: Option<&Linked>,
    contact: &Linked,
) -> Result<String, ActionError> {
    let name = match options.deal_name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => format!("{} deal", deal_name_base(lead, company)),
    };
    let mut values = vec![
        Field::new("name", name),
        Field::new("contact", Value::reference(&contact.id)),
        Field::new("lead", Value::reference(&lead.id)),
    ];
    if let Some(company) = company {
        values.push(Field::new("company", Value::reference(&company.id)));
    }
    let amount = match &options.amount {
        Some(input) => Some(input.money().ok_or_else(|| {
            ActionError::field(
                "amount",
                "invalid_money",
                "an amount is a decimal and a currency",
            )
        })?),
        None => lead.money("expected_amount").cloned(),
    };
    if let Some(amount) = amount {
        values.push(Field::new("amount", amount));
    }
    if let Some(pipeline) = &options.pipeline {
        values.push(Field::new("pipeline", Value::reference(pipeline)));
    }
    if let Some(stage) = &options.stage {
        values.push(Field::new("stage", Value::reference(stage)));
    }
    Ok(records::create("deal", &values)?.id)
}

/// What a deal is named after: the company, else the lead's last name.
fn deal_name_base(lead: &Record, company: Option<&Linked>) -> String {
    match company {
        Some(company) => company.title.clone(),
        None => lead
            .text("last_name")
            .or(lead.text("company_name"))
            .unwrap_or("New")
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use plugin_sdk::serde_json::{self, json};
    use plugin_sdk::testing::{Installed, TestHost};

    use super::*;
    use crate::Sales;

    fn host() -> Installed {
        TestHost::from_manifest(include_str!("../plugin.toml")).install()
    }

    fn lead(host: &Installed, values: Vec<(&str, &str)>) -> Record {
        host.insert("lead", fields(values))
    }

    #[test]
    fn the_company_domain_skips_free_mail() {
        let host = host();
        let domain = |values| company_domain(&lead(&host, values));
        assert_eq!(
            domain(vec![("email", "ada@Acme.com")]).as_deref(),
            Some("acme.com")
        );
        assert_eq!(domain(vec![("email", "ada@gmail.com")]), None);
        assert_eq!(
            domain(vec![
                ("domain", "https://www.Beta.io/x"),
                ("email", "a@acme.com")
            ])
            .as_deref(),
            Some("beta.io")
        );
        assert_eq!(
            domain(vec![("domain", "gmail.com"), ("email", "a@acme.com")]).as_deref(),
            Some("acme.com")
        );
        assert_eq!(domain(vec![("email", "not an email")]), None);
        assert_eq!(domain(vec![]), None);
    }

    #[test]
    fn free_mail_domains_are_known() {
        for domain in [
            "gmail.com",
            "yahoo.com",
            "hotmail.com",
            "outlook.com",
            "icloud.com",
        ] {
            assert!(is_free_mail(domain), "{domain}");
        }
        assert!(is_free_mail("gmx.de") && is_free_mail("proton.me"));
        assert!(!is_free_mail("acme.com"));
        let mut sorted = FREE_MAIL.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, FREE_MAIL, "keep the list sorted");
    }

    fn convert_action(
        host: &Installed,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, ActionError> {
        let answer = Sales::run_action(host.context(), "convert".into(), input.to_string())?;
        Ok(serde_json::from_str(&answer).unwrap_or_default())
    }

    fn refusal(answer: Result<serde_json::Value, ActionError>) -> Option<String> {
        match answer {
            Err(ActionError::Refused(error)) => Some(error.code),
            _ => None,
        }
    }

    #[test]
    fn a_lead_becomes_a_contact_at_its_company_and_a_deal() {
        let host = host();
        let globex = host.insert(
            "company",
            fields([("name", "Globex"), ("domain", "globex.test")]),
        );
        let mut values = fields([
            ("first_name", "Hank"),
            ("last_name", "Scorpio"),
            ("email", "hank@globex.test"),
            ("status", "qualified"),
        ]);
        values.push(Field::new("expected_amount", Money::new("4200.50", "EUR")));
        let lead = host.insert("lead", values);
        let answer = convert_action(&host, json!({ "id": lead.id }));
        let answer = answer.unwrap_or_else(|error| panic!("{error:?}"));
        assert_eq!(
            answer["company"],
            globex.id.as_str(),
            "found by domain: {answer}"
        );
        assert_eq!(
            (&answer["company_created"], &answer["contact_created"]),
            (&json!(false), &json!(true))
        );
        let contacts = host.records("contact");
        assert_eq!(contacts[0].reference("company"), Some(globex.id.as_str()));
        let deals = host.records("deal");
        assert_eq!(deals[0].text("name"), Some("Globex deal"));
        assert_eq!(
            deals[0].money("amount"),
            Some(&Money::new("4200.50", "EUR"))
        );
        let converted = &host.records("lead")[0];
        assert_eq!(converted.text("status"), Some("converted"));
        assert_eq!(
            converted.reference("converted_deal"),
            Some(deals[0].id.as_str())
        );
        assert!(converted.instant("converted_at").is_some());

        // Converted leads, disqualified leads, unknown leads and malformed input are refused.
        assert_eq!(
            refusal(convert_action(&host, json!({ "id": lead.id }))).as_deref(),
            Some("conflict")
        );
        let disqualified = host.insert(
            "lead",
            fields([("last_name", "Nope"), ("status", "disqualified")]),
        );
        let refused = convert_action(&host, json!({ "id": disqualified.id }));
        assert_eq!(refusal(refused).as_deref(), Some("conflict"));
        let mut linked = fields([("last_name", "Linked"), ("status", "working")]);
        linked.push(Field::new("converted_contact", Value::reference("c1")));
        let linked = host.insert("lead", linked);
        assert_eq!(
            refusal(convert_action(&host, json!({ "id": linked.id }))).as_deref(),
            Some("conflict")
        );
        let missing = convert_action(&host, json!({ "id": "nobody" }));
        assert_eq!(refusal(missing).as_deref(), Some("record_not_found"));
        let malformed = convert_action(&host, json!({ "create_deal": true }));
        assert_eq!(refusal(malformed).as_deref(), Some("invalid_input"));
    }

    #[test]
    fn input_defaults_to_creating_a_deal() {
        let input: Result<Input, _> = serde_json::from_str(r#"{"id": "l1"}"#);
        assert!(input.is_ok_and(|input| input.options.create_deal && input.id == "l1"));
        let input: Result<Input, _> = serde_json::from_str(
            r#"{"id": "l1", "create_deal": false, "amount": {"amount": 12.5, "currency": "EUR"}}"#,
        );
        let Ok(input) = input else {
            panic!("valid input");
        };
        assert!(!input.options.create_deal);
        let money = input.options.amount.and_then(|amount| amount.money());
        assert_eq!(money, Some(Money::new("12.5", "EUR")));
    }

    #[test]
    fn deals_are_named_after_the_company_or_the_person() {
        let host = host();
        let company = Linked {
            id: "c1".into(),
            title: "Acme".into(),
            created: false,
        };
        let ada = lead(&host, vec![("last_name", "Lovelace")]);
        assert_eq!(deal_name_base(&ada, Some(&company)), "Acme");
        assert_eq!(deal_name_base(&ada, None), "Lovelace");
    }
}
