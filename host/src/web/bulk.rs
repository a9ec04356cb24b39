//! Actions on the records ticked in a list (`POST /records/<plural>/bulk`): set a field, give
//! them to an owner, move them to the trash, or download them as CSV. Each record is written
//! through the store like any other write (roles, hooks, audit), one at a time, so one that
//! is refused is reported and the others still happen.

use axum::body::Bytes;
use axum::extract::Path;
use axum::response::Response;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::display::{Names, cell, label, read_one};
use super::{Web, redirect_with};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::i18n::Language;
use crate::i18n::text;
use crate::ids::RecordId;
use crate::records::schema::{EntityType, FieldKind};
use crate::records::{ListQuery, Record, RecordError, UpdateItem};

/// Most records one bulk action takes.
pub const BULK_MAX: usize = 200;

pub async fn bulk(web: Web, Path(plural): Path<String>, body: Bytes) -> Response {
    let answer = async {
        let form = web.form(&body)?;
        let ty = super::pages::entity(&web, &plural).await?;
        let lang = web.lang;
        // Back to the list as it was (its filters and sort), never anywhere else.
        let state = form
            .get("state")
            .filter(|s| !s.chars().any(|c| c.is_control() || c == '#'));
        let back = match state {
            Some(state) if !state.is_empty() => format!("/records/{}?{state}", ty.plural),
            _ => format!("/records/{}", ty.plural),
        };
        let ids: Vec<RecordId> = form
            .all("ids")
            .filter_map(|raw| Uuid::parse_str(raw).ok().map(RecordId))
            .collect();
        if ids.is_empty() {
            return Ok(redirect_with(&back, "error", &lang.t("bulk-none-ticked")));
        }
        if ids.len() > BULK_MAX {
            return Ok(redirect_with(
                &back,
                "error",
                &lang.t_with("bulk-too-many", &[("max", BULK_MAX.into())]),
            ));
        }
        match form.get("action").unwrap_or("") {
            "export" => export(&web, &ty, &ids).await,
            "delete" => {
                let mut outcome = Outcome::default();
                for id in ids {
                    outcome.add(web.state.store.delete(&web.actor(), &ty, id, None).await);
                }
                Ok(outcome.report(&back, &ty, lang, "bulk-deleted"))
            }
            "set" => {
                // `field:value`, one of the choices the list offers (see [`choices`]).
                let (name, value) = form
                    .get("set")
                    .and_then(|s| s.split_once(':'))
                    .unwrap_or(("", ""));
                let Some(field) = ty.field(name).filter(|f| !f.read_only) else {
                    return Ok(redirect_with(&back, "error", &lang.t("bulk-choose-field")));
                };
                let patch = match read_one(field, value, web.zone, web.lang) {
                    Ok(patch) => patch,
                    Err(message) => return Ok(redirect_with(&back, "error", &message)),
                };
                Ok(update_all(&web, &ty, ids, patch)
                    .await
                    .report(&back, &ty, lang, "bulk-updated"))
            }
            "assign" => {
                let Some(owner) = form.get("owner").and_then(|o| Uuid::parse_str(o).ok()) else {
                    return Ok(redirect_with(&back, "error", &lang.t("bulk-choose-owner")));
                };
                let patch = Map::from_iter([("owner".to_owned(), Value::from(owner.to_string()))]);
                Ok(update_all(&web, &ty, ids, patch).await.report(
                    &back,
                    &ty,
                    lang,
                    "bulk-reassigned",
                ))
            }
            other => Err(ApiError::new(
                ErrorCode::InvalidParameter,
                text!(
                    "api-web-not-bulk-action",
                    action = other.chars().take(32).collect::<String>()
                ),
            )),
        }
    };
    match answer.await {
        Ok(response) => response,
        Err(error) => web.fail(error).await,
    }
}

async fn update_all(
    web: &Web,
    ty: &EntityType,
    ids: Vec<RecordId>,
    patch: Map<String, Value>,
) -> Outcome {
    let mut outcome = Outcome::default();
    for id in ids {
        let item = UpdateItem {
            id,
            patch: patch.clone(),
            if_match: None,
        };
        outcome.add(web.state.store.update(&web.actor(), ty, item).await);
    }
    outcome
}

/// What "set" offers, grouped by field: every option of the type's editable choice and yes/no
/// fields, as `{label, choices: [{value: "field:option", label}]}`.
pub fn choices(ty: &EntityType, lang: Language) -> Vec<Value> {
    ty.fields
        .iter()
        .filter(|f| !f.read_only)
        .filter_map(|f| {
            let options: Vec<(String, String)> = match f.kind {
                FieldKind::Select => f
                    .options
                    .iter()
                    .map(|o| (o.value.clone(), super::display::option_label(f, &o.value)))
                    .collect(),
                FieldKind::Boolean => vec![("true".into(), lang.t("value-yes")), ("false".into(), lang.t("value-no"))],
                _ => return None,
            };
            let choices: Vec<Value> = options
                .into_iter()
                .map(|(value, text)| serde_json::json!({ "value": format!("{}:{value}", f.name), "label": text }))
                .collect();
            Some(serde_json::json!({ "label": label(f), "choices": choices }))
        })
        .collect()
}

/// How many records an action changed, and the first reason one could not be.
#[derive(Default)]
struct Outcome {
    done: usize,
    refused: usize,
    first_reason: Option<crate::i18n::Text>,
}

impl Outcome {
    fn add(&mut self, result: Result<Record, RecordError>) {
        match result {
            Ok(_) => self.done += 1,
            Err(error) => {
                self.refused += 1;
                self.first_reason
                    .get_or_insert_with(|| ApiError::from(error).message);
            }
        }
    }

    /// `what` is the message saying what happened (`bulk-updated`: "3 contacts updated.").
    fn report(self, back: &str, ty: &EntityType, lang: Language, what: &str) -> Response {
        let noun = |n: usize| {
            if n == 1 {
                ty.label.to_lowercase()
            } else {
                ty.label_plural.to_lowercase()
            }
        };
        let done = lang.t_with(
            what,
            &[
                ("count", self.done.into()),
                ("label", noun(self.done).into()),
            ],
        );
        match self.first_reason {
            None => redirect_with(back, "success", &done),
            Some(reason) => redirect_with(
                back,
                "error",
                &lang.t_with(
                    "bulk-refused",
                    &[
                        ("done", done.into()),
                        ("count", self.refused.into()),
                        ("reason", reason.render(lang).into()),
                    ],
                ),
            ),
        }
    }
}

/// The ticked records the reader may see, as CSV: their fields as the list shows them
/// (references by title), hidden fields left out.
async fn export(web: &Web, ty: &EntityType, ids: &[RecordId]) -> ApiResult<Response> {
    let list: Vec<String> = ids.iter().map(|id| id.0.to_string()).collect();
    let query = ListQuery {
        filter: Some(format!("id[in]:{}", list.join("|"))),
        limit: BULK_MAX as u64,
        ..ListQuery::default()
    };
    let records = web
        .state
        .store
        .list(&web.actor(), ty, &query)
        .await?
        .records;
    let fields: Vec<_> = ty
        .fields
        .iter()
        .filter(|f| f.kind != FieldKind::Json)
        .collect();
    let referenced = Names::references(&fields, records.iter().map(|r| &r.data));
    let names = Names {
        records: web.state.store.titles(&web.actor(), &referenced).await?,
        users: Default::default(),
        zone: web.zone,
        locale: web.locale,
        lang: web.lang,
    };
    let mut rows = vec![
        std::iter::once("id".to_owned())
            .chain(fields.iter().map(|f| label(f)))
            .collect::<Vec<_>>(),
    ];
    for record in &records {
        let mut row = vec![record.id.0.to_string()];
        row.extend(fields.iter().map(|f| {
            cell(f, record.data.get(&f.name), &names)["text"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        }));
        rows.push(row);
    }
    Ok(crate::records::api::csv_download(
        &format!("{}.csv", ty.plural),
        &rows,
    ))
}
