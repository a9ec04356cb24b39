//! Edits that cross: a person saves a form loaded at a version that is no longer the record's.
//! Nothing is then saved blindly. Three copies of the form's fields are compared — `base` (what
//! the form was loaded with), `theirs` (what is stored now) and `mine` (what was submitted) — and
//! the person chooses, field by field, which value to keep; the choice is saved against the
//! version it was made on, so a third edit in between starts the comparison again.

use serde_json::{Map, Value};

use crate::records::schema::FieldSpec;

/// Who changed a field since the form was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangedBy {
    Me,
    Them,
    Both,
}

impl ChangedBy {
    /// The value kept unless the person chooses otherwise: the only side that changed it;
    /// none when both did.
    pub fn default_keep(self) -> Option<Keep> {
        match self {
            ChangedBy::Me => Some(Keep::Mine),
            ChangedBy::Them => Some(Keep::Theirs),
            ChangedBy::Both => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChangedBy::Me => "me",
            ChangedBy::Them => "them",
            ChangedBy::Both => "both",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Mine,
    Theirs,
}

impl Keep {
    pub fn as_str(self) -> &'static str {
        match self {
            Keep::Mine => "mine",
            Keep::Theirs => "theirs",
        }
    }

    fn parse(raw: &str) -> Option<Keep> {
        match raw {
            "mine" => Some(Keep::Mine),
            "theirs" => Some(Keep::Theirs),
            _ => None,
        }
    }
}

/// A field the two sides disagree on.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub field: String,
    pub theirs: Value,
    pub mine: Value,
    pub changed_by: ChangedBy,
}

fn value_of<'a>(data: &'a Map<String, Value>, field: &str) -> &'a Value {
    data.get(field).unwrap_or(&Value::Null)
}

/// The fields (of `fields`, in their order) whose submitted value differs from the stored one,
/// with who changed each since `base`. Without a base (a form from before the base was sent)
/// every difference counts as changed by both, so nothing is chosen for the person.
pub fn differences(
    fields: &[&FieldSpec],
    base: Option<&Map<String, Value>>,
    theirs: &Map<String, Value>,
    mine: &Map<String, Value>,
) -> Vec<Difference> {
    fields
        .iter()
        .filter_map(|field| {
            let name = field.name.as_str();
            let submitted = mine.get(name)?;
            let stored = value_of(theirs, name);
            if submitted == stored {
                return None;
            }
            let changed_by = match base.map(|base| value_of(base, name)) {
                Some(loaded) if loaded == stored => ChangedBy::Me,
                Some(loaded) if loaded == submitted => ChangedBy::Them,
                _ => ChangedBy::Both,
            };
            Some(Difference {
                field: name.to_owned(),
                theirs: stored.clone(),
                mine: submitted.clone(),
                changed_by,
            })
        })
        .collect()
}

/// What the person chose on the conflict page.
#[derive(Debug, PartialEq)]
pub enum Resolution {
    /// The values to save, against the version the page was made at.
    Values(Map<String, Value>),
    /// Fields both sides changed that were given no choice.
    Unchosen(Vec<String>),
}

/// The values the person chose: what was stored when the conflict page was made (`theirs`),
/// with their own value wherever they keep it. `all` (the page's "keep all mine" or "take all
/// theirs") decides every field at once; otherwise `choice` answers per field, and a field
/// without an answer keeps its default (the only side that changed it since `base`, what the
/// form was first loaded with), or is reported when both changed it.
pub fn resolve(
    fields: &[&FieldSpec],
    base: Option<&Map<String, Value>>,
    theirs: &Map<String, Value>,
    mine: &Map<String, Value>,
    all: Option<&str>,
    choice: impl Fn(&str) -> Option<String>,
) -> Resolution {
    let all = all.and_then(Keep::parse);
    let mut values: Map<String, Value> = fields
        .iter()
        .filter_map(|f| theirs.get(&f.name).map(|v| (f.name.clone(), v.clone())))
        .collect();
    let mut unchosen = Vec::new();
    for difference in differences(fields, base, theirs, mine) {
        let keep = all
            .or_else(|| choice(&difference.field).as_deref().and_then(Keep::parse))
            .or_else(|| difference.changed_by.default_keep());
        match keep {
            Some(Keep::Mine) => {
                values.insert(difference.field, difference.mine);
            }
            Some(Keep::Theirs) => {}
            None => unchosen.push(difference.field),
        }
    }
    if unchosen.is_empty() {
        Resolution::Values(values)
    } else {
        Resolution::Unchosen(unchosen)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::records::schema::FieldKind;

    fn fields() -> Vec<FieldSpec> {
        ["phone", "email", "city", "notes"]
            .into_iter()
            .map(|name| FieldSpec::new(name, FieldKind::Text))
            .collect()
    }

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn each_difference_says_who_changed_it() {
        let owned = fields();
        let fields: Vec<&FieldSpec> = owned.iter().collect();
        let base = map(json!({ "phone": "1", "email": "a@x", "city": "Oslo", "notes": "n" }));
        let theirs = map(json!({ "phone": "2", "email": "a@x", "city": "Rome", "notes": "n" }));
        let mine = map(json!({ "phone": "1", "email": "b@x", "city": "Paris", "notes": "n" }));
        let got: Vec<(String, ChangedBy)> = differences(&fields, Some(&base), &theirs, &mine)
            .into_iter()
            .map(|d| (d.field, d.changed_by))
            .collect();
        assert_eq!(
            got,
            [
                ("phone".to_owned(), ChangedBy::Them),
                ("email".to_owned(), ChangedBy::Me),
                ("city".to_owned(), ChangedBy::Both),
            ]
        );
        // Without a base nobody's change can be told apart, so nothing is chosen for you.
        assert!(
            differences(&fields, None, &theirs, &mine)
                .iter()
                .all(|d| d.changed_by == ChangedBy::Both)
        );
        // A field the form did not send is no difference; the same new value on both sides
        // is none either.
        let partial = map(json!({ "city": "Rome" }));
        assert!(differences(&fields, Some(&base), &theirs, &partial).is_empty());
    }

    #[test]
    fn resolving_keeps_what_was_chosen_and_asks_about_the_rest() {
        let owned = fields();
        let fields: Vec<&FieldSpec> = owned.iter().collect();
        let base = map(json!({ "phone": "1", "email": "a@x", "city": "Oslo", "notes": "n" }));
        let theirs = map(json!({ "phone": "2", "email": "a@x", "city": "Rome", "notes": "n" }));
        let mine = map(json!({ "phone": "1", "email": "b@x", "city": "Paris", "notes": "n" }));
        let resolve = |all: Option<&str>, chosen: &dyn Fn(&str) -> Option<&'static str>| {
            resolve(&fields, Some(&base), &theirs, &mine, all, |f| {
                chosen(f).map(str::to_owned)
            })
        };
        // Untouched choices keep the side that changed the field; the city both changed
        // must be chosen.
        assert_eq!(
            resolve(None, &|_| None),
            Resolution::Unchosen(vec!["city".to_owned()])
        );
        assert_eq!(
            resolve(None, &|f| (f == "city").then_some("mine")),
            Resolution::Values(map(
                json!({ "phone": "2", "email": "b@x", "city": "Paris", "notes": "n" })
            ))
        );
        // Choices override the defaults: my old phone back, their email.
        assert_eq!(
            resolve(None, &|f| match f {
                "phone" | "city" => Some("mine"),
                _ => Some("theirs"),
            }),
            Resolution::Values(map(
                json!({ "phone": "1", "email": "a@x", "city": "Paris", "notes": "n" })
            ))
        );
        assert_eq!(
            resolve(Some("theirs"), &|_| None),
            Resolution::Values(theirs.clone())
        );
        assert_eq!(
            resolve(Some("mine"), &|_| None),
            Resolution::Values(mine.clone())
        );
        // A forged answer is no answer.
        assert_eq!(
            resolve(Some("everything"), &|_| Some("yes")),
            Resolution::Unchosen(vec!["city".to_owned()])
        );
    }
}
