//! Merging two duplicate records from the web app. A record page names the other live records
//! sharing its duplicate key (a contact's email, a company's domain); the merge page shows the
//! two side by side, field by field where they differ, and the person chooses whose value the
//! survivor keeps. The merge itself is the store's (`Store::merge`), the one write path, so
//! permissions, hooks, references and the journal apply unchanged: the other record goes to the
//! trash and its links, notes and tasks move to the survivor.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::display::{cell, label};
use super::pages::{entity, entity_json, names, page, parse_id, record_url, shown, title_of};
use super::{Form, Web, redirect_with};
use crate::auth::permissions::Operation;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::i18n::text;
use crate::ids::RecordId;
use crate::records::schema::{EntityType, FieldSpec};
use crate::records::{Record, RecordError};

/// Possible duplicates a record page names at most.
const SHOWN_DUPLICATES: usize = 5;

fn merge_url(ty: &EntityType, survivor: RecordId, other: RecordId) -> String {
    format!("{}/merge?with={other}", record_url(ty, survivor))
}

/// A record page's notice: the other live records the reader may read that share this one's
/// duplicate key, each with the way to merge it into this one when the reader may. One query,
/// and only for a type with a duplicate key the reader sees and a record that has a value.
pub(super) async fn duplicates_of(
    web: &Web,
    ty: &EntityType,
    record: &Record,
) -> ApiResult<Vec<Value>> {
    let keyed = ty
        .duplicate_key
        .as_deref()
        .and_then(|key| ty.field(key))
        .is_some_and(|field| record.data.contains_key(&field.name));
    if !keyed {
        return Ok(Vec::new());
    }
    let actor = web.actor();
    let found = web
        .state
        .store
        .duplicates(&actor, ty, &record.data, Some(record.id))
        .await?;
    let may_edit = actor.allows(Operation::Edit, &ty.name, record.owner.map(|o| o.0));
    Ok(found
        .iter()
        .take(SHOWN_DUPLICATES)
        .map(|other| {
            let may_merge =
                may_edit && actor.allows(Operation::Delete, &ty.name, other.owner.map(|o| o.0));
            json!({
                "title": title_of(ty, other),
                "url": record_url(ty, other.id),
                "merge_url": may_merge.then(|| merge_url(ty, record.id, other.id)),
            })
        })
        .collect())
}

/// The two records of a merge, as the reader may see them: `keep` survives, `other` goes.
struct Pair {
    ty: Arc<EntityType>,
    keep: Record,
    other: Record,
}

impl Pair {
    /// Both records, live and readable, else the not-found page (another workspace's, a
    /// deleted or an unreadable record answers exactly like a missing one).
    async fn load(web: &Web, plural: &str, id: &str, with: Option<&str>) -> ApiResult<Pair> {
        let ty = entity(web, plural).await?;
        let keep = parse_id(id)?;
        let other = parse_id(with.ok_or_else(|| {
            ApiError::new(ErrorCode::InvalidParameter, text!("api-web-merge-choose"))
        })?)?;
        if keep == other {
            return Err(ApiError::new(
                ErrorCode::InvalidParameter,
                text!("api-web-merge-itself"),
            ));
        }
        let (store, actor) = (&web.state.store, web.actor());
        let keep = store.get(&actor, &ty, keep).await?;
        let other = store.get(&actor, &ty, other).await?;
        Ok(Pair { ty, keep, other })
    }

    /// Why the reader may not merge these (the store decides; the page only says so early).
    fn refusal(&self, web: &Web) -> Option<String> {
        let actor = web.actor();
        let owner = |r: &Record| r.owner.map(|o| o.0);
        let allowed = actor.allows(Operation::Edit, &self.ty.name, owner(&self.keep))
            && actor.allows(Operation::Delete, &self.ty.name, owner(&self.other));
        (!allowed).then(|| {
            web.lang.t_with(
                "merge-refused",
                &[
                    ("label", self.ty.label_plural.to_lowercase().into()),
                    ("keep", title_of(&self.ty, &self.keep).into()),
                    ("other", title_of(&self.ty, &self.other).into()),
                ],
            )
        })
    }

    /// The fields the two disagree on, in the type's order (equal or both empty: not listed).
    fn rows(&self) -> Vec<Row<'_>> {
        self.ty
            .fields
            .iter()
            .map(|field| Row {
                field,
                keep: value_of(&self.keep, field),
                other: value_of(&self.other, field),
            })
            .filter(|row| row.keep != row.other)
            .collect()
    }
}

fn value_of<'r>(record: &'r Record, field: &FieldSpec) -> Option<&'r Value> {
    record.data.get(&field.name).filter(|v| !v.is_null())
}

/// Whose value of a field the survivor keeps; `Both` unites two lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    This,
    Other,
    Both,
}

impl Keep {
    fn as_str(self) -> &'static str {
        match self {
            Keep::This => "this",
            Keep::Other => "other",
            Keep::Both => "both",
        }
    }

    fn parse(raw: &str) -> Option<Keep> {
        [Keep::This, Keep::Other, Keep::Both]
            .into_iter()
            .find(|keep| keep.as_str() == raw)
    }
}

/// A field the two records disagree on.
struct Row<'a> {
    field: &'a FieldSpec,
    keep: Option<&'a Value>,
    other: Option<&'a Value>,
}

impl Row<'_> {
    /// What the store's merge does unless told otherwise: a list unites both, any other
    /// field keeps the survivor's value when it has one.
    fn default_keep(&self) -> Keep {
        if self.field.is_list() {
            Keep::Both
        } else if self.keep.is_some() {
            Keep::This
        } else {
            Keep::Other
        }
    }

    /// The person's answer, or the default for a missing or forged one (and always for a
    /// field their role may only read).
    fn chosen(&self, form: Option<&Form>) -> Keep {
        let answer = form
            .filter(|_| !self.field.read_only)
            .and_then(|form| form.get(&format!("keep.{}", self.field.name)))
            .and_then(Keep::parse)
            .filter(|keep| *keep != Keep::Both || self.field.is_list());
        answer.unwrap_or_else(|| self.default_keep())
    }

    /// The value the merge must be told for `keep`: none when the store does that anyway.
    fn value(&self, keep: Keep) -> Option<Value> {
        let chosen = match keep {
            _ if keep == self.default_keep() => return None,
            Keep::This => self.keep,
            Keep::Other => self.other,
            Keep::Both => return None,
        };
        Some(chosen.cloned().unwrap_or(Value::Null))
    }

    /// Both lists as one, the survivor's items first.
    fn united(&self) -> Value {
        let mut items: Vec<Value> = Vec::new();
        for value in [self.keep, self.other].into_iter().flatten() {
            for item in value.as_array().into_iter().flatten() {
                if !items.contains(item) {
                    items.push(item.clone());
                }
            }
        }
        Value::Array(items)
    }
}

pub async fn merge_form(
    web: Web,
    Path((plural, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    page(&web, async {
        let query = Form::parse(raw.as_deref().unwrap_or("").as_bytes());
        let pair = Pair::load(&web, &plural, &id, query.get("with")).await?;
        let refusal = pair.refusal(&web);
        let status = match refusal {
            Some(_) => StatusCode::FORBIDDEN,
            None => StatusCode::OK,
        };
        render(&web, &pair, None, refusal.as_deref(), status).await
    })
    .await
}

/// Merges the page's other record into this one with the person's choices, against the
/// versions the page showed; any refusal shows the page again and writes nothing.
pub async fn merge(web: Web, Path((plural, id)): Path<(String, String)>, body: Bytes) -> Response {
    page(&web, async {
        let form = web.form(&body)?;
        let pair = Pair::load(&web, &plural, &id, form.get("with")).await?;
        let shown_at = |name: &str| form.get(name).and_then(|v| v.parse::<i64>().ok());
        if shown_at("version") != Some(pair.keep.version)
            || shown_at("with_version") != Some(pair.other.version)
        {
            return render(
                &web,
                &pair,
                None,
                Some(&web.lang.t("merge-stale")),
                StatusCode::CONFLICT,
            )
            .await;
        }
        let values: Map<String, Value> = pair
            .rows()
            .iter()
            .filter_map(|row| {
                let value = row.value(row.chosen(Some(&form)))?;
                Some((row.field.name.clone(), value))
            })
            .collect();
        let (ty, actor) = (&pair.ty, web.actor());
        let merged = web
            .state
            .store
            .merge(
                &actor,
                ty,
                pair.keep.id,
                &[pair.other.id],
                &values,
                &[
                    (pair.keep.id, pair.keep.version),
                    (pair.other.id, pair.other.version),
                ],
            )
            .await;
        let error = match merged {
            Ok(survivor) => {
                let survivor = survivor.visible_in(ty);
                let notice = web.lang.t_with(
                    "flash-merged",
                    &[
                        ("other", title_of(ty, &pair.other).into()),
                        ("keep", title_of(ty, &survivor).into()),
                    ],
                );
                return Ok(redirect_with(
                    &record_url(ty, survivor.id),
                    "success",
                    &notice,
                ));
            }
            // Changed between this page's check and the store's read (`seen`).
            Err(RecordError::VersionConflict { .. }) => {
                let pair = Pair::load(&web, &plural, &id, form.get("with")).await?;
                return render(
                    &web,
                    &pair,
                    None,
                    Some(&web.lang.t("merge-stale")),
                    StatusCode::CONFLICT,
                )
                .await;
            }
            // The store's own words name records by id; the page names them by title.
            Err(RecordError::Forbidden(_)) => {
                let refusal = pair
                    .refusal(&web)
                    .unwrap_or_else(|| web.lang.t("merge-refused-plain"));
                return render(
                    &web,
                    &pair,
                    Some(&form),
                    Some(&refusal),
                    StatusCode::FORBIDDEN,
                )
                .await;
            }
            // The other record went between this page's read and the store's.
            Err(RecordError::Invalid(errors)) if errors.iter().any(|e| e.field == "ids") => {
                return Err(RecordError::NotFound.into());
            }
            Err(error) => ApiError::from(error),
        };
        let status = error.code.status();
        let message = if error.details.is_empty() {
            shown(error, web.lang)?
        } else {
            error
                .details
                .iter()
                .map(|e| match ty.field(&e.field) {
                    Some(field) => format!("{}: {}", label(field), e.message.render(web.lang)),
                    None => e.message.render(web.lang),
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        render(&web, &pair, Some(&form), Some(&message), status).await
    })
    .await
}

/// The merge page: the fields that differ, each value as the record page shows it, with a
/// choice (the person's earlier answers when `form` is given, else the merge's defaults).
async fn render(
    web: &Web,
    pair: &Pair,
    form: Option<&Form>,
    error: Option<&str>,
    status: StatusCode,
) -> ApiResult<Response> {
    let ty = &pair.ty;
    let rows = pair.rows();
    let fields: Vec<&FieldSpec> = rows.iter().map(|r| r.field).collect();
    let names = names(web, &fields, &[&pair.keep.data, &pair.other.data]).await?;
    let text = |field: &FieldSpec, value: Option<&Value>| {
        let cell = cell(field, value, &names);
        cell["text"].as_str().unwrap_or_default().to_owned()
    };
    let shown_rows: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({
                "name": row.field.name,
                "label": label(row.field),
                "this": text(row.field, row.keep),
                "other": text(row.field, row.other),
                "both": row.field.is_list().then(|| text(row.field, Some(&row.united()))),
                "choose": !row.field.read_only,
                "keep": row.chosen(form).as_str(),
            })
        })
        .collect();
    let same = ty
        .fields
        .iter()
        .filter(|f| value_of(&pair.keep, f).is_some())
        .count()
        - rows.iter().filter(|r| r.keep.is_some()).count();
    let side = |r: &Record| {
        json!({
            "title": title_of(ty, r),
            "url": record_url(ty, r.id),
            "version": r.version,
        })
    };
    let (keep, other) = (pair.keep.id, pair.other.id);
    Ok(web
        .render_status(
            status,
            "merge.html",
            json!({
                "entity": entity_json(ty),
                "keep": side(&pair.keep),
                "other": side(&pair.other),
                "with": other,
                "action": format!("{}/merge", record_url(ty, keep)),
                "swap_url": merge_url(ty, other, keep),
                "rows": shown_rows,
                "same": same,
                "may_merge": pair.refusal(web).is_none(),
                "error": error,
            }),
        )
        .await)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::records::schema::FieldKind;

    fn row<'a>(field: &'a FieldSpec, keep: &'a Value, other: &'a Value) -> Row<'a> {
        let set = |v: &'a Value| (!v.is_null()).then_some(v);
        Row {
            field,
            keep: set(keep),
            other: set(other),
        }
    }

    fn answer(field: &str, keep: &str) -> Form {
        Form(vec![(format!("keep.{field}"), keep.to_owned())])
    }

    #[test]
    fn only_answers_that_differ_from_the_stores_merge_are_sent() {
        let phone = FieldSpec::new("phone", FieldKind::Phone);
        let (mine, theirs, none) = (json!("+1 555"), json!("+1 777"), Value::Null);
        // Both set: the survivor's by default; the other's only when chosen.
        let both = row(&phone, &mine, &theirs);
        assert_eq!(both.chosen(None), Keep::This);
        assert_eq!(both.value(both.chosen(None)), None);
        let took = both.chosen(Some(&answer("phone", "other")));
        assert_eq!(both.value(took), Some(theirs.clone()));
        // The survivor's empty field is filled by the store; keeping it empty must be said.
        let empty = row(&phone, &none, &theirs);
        assert_eq!(empty.chosen(None), Keep::Other);
        assert_eq!(empty.value(Keep::Other), None);
        assert_eq!(empty.value(Keep::This), Some(Value::Null));
        // A forged answer, or "both" for a single value, is the default.
        assert_eq!(both.chosen(Some(&answer("phone", "both"))), Keep::This);
        assert_eq!(both.chosen(Some(&answer("phone", "mine"))), Keep::This);
        // A field the reader may only read takes no answer.
        let mut locked = FieldSpec::new("phone", FieldKind::Phone);
        locked.read_only = true;
        let locked = row(&locked, &mine, &theirs);
        assert_eq!(locked.chosen(Some(&answer("phone", "other"))), Keep::This);
    }

    #[test]
    fn lists_are_united_unless_one_side_is_chosen() {
        let tags = FieldSpec::new("tags", FieldKind::Tags);
        let (mine, theirs) = (json!(["vip", "press"]), json!(["press", "lead"]));
        let lists = row(&tags, &mine, &theirs);
        assert_eq!(lists.chosen(None), Keep::Both);
        assert_eq!(lists.value(Keep::Both), None);
        assert_eq!(lists.united(), json!(["vip", "press", "lead"]));
        assert_eq!(lists.value(Keep::This), Some(mine.clone()));
        assert_eq!(
            lists.chosen(Some(&answer("tags", "other"))),
            Keep::Other,
            "either side may be kept whole"
        );
    }
}
