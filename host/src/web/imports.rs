//! The import pages: upload a file (`/records/{plural}/import`), map its columns and preview
//! every row, commit, watch the progress, download the result file, undo
//! (`/imports/{id}`). Every step is a plain form: it works without JavaScript.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, Path};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};
use uuid::Uuid;

use super::display::label;
use super::pages::{entity, page};
use super::{Web, redirect, redirect_with};
use crate::app::AppState;
use crate::auth::session;
use crate::error::{ApiError, ErrorCode};
use crate::extract::MAX_FILE_BODY;
use crate::i18n::text;
use crate::transfer::import::{EmptyCells, Mode, Plan};
use crate::transfer::source::{Format, Reading};
use crate::transfer::{self, Preview};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/records/{plural}/import",
            get(upload_page)
                .post(upload)
                .layer(DefaultBodyLimit::max(MAX_FILE_BODY + 64 * 1024)),
        )
        .route("/imports/{id}", get(import_page))
        .route("/imports/{id}/preview", post(preview))
        .route("/imports/{id}/commit", post(commit))
        .route("/imports/{id}/undo", post(undo))
}

fn import_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::new(ErrorCode::NotFound, text!("api-record-not-found")))
}

async fn upload_page(web: Web, Path(plural): Path<String>) -> Response {
    page(&web, async {
        let ty = entity(&web, &plural).await?;
        let imports: Vec<Value> = transfer::list(&web.state.store, &web.actor())
            .await?
            .into_iter()
            .filter(|i| i.entity_type == ty.plural)
            .take(20)
            .map(|i| json!({ "url": format!("/imports/{}", i.id), "file_name": i.file_name, "status": i.status, "counts": i.counts, "total": i.total_rows }))
            .collect();
        Ok(web
            .render("import.html", json!({ "step": "upload", "entity": super::pages::entity_json(&ty), "imports": imports }))
            .await)
    })
    .await
}

/// The upload form's parts: the file and how to read it, with the form's CSRF token.
async fn upload(web: Web, Path(plural): Path<String>, mut parts: Multipart) -> Response {
    page(&web, async {
        let bad = |_| ApiError::new(ErrorCode::InvalidBody, text!("api-import-empty"));
        let (mut csrf, mut file, mut name) = (None, None, String::new());
        let mut reading = Reading::default();
        while let Some(part) = parts.next_field().await.map_err(bad)? {
            match part.name().unwrap_or_default() {
                "_csrf" => csrf = Some(part.text().await.map_err(bad)?),
                "encoding" => reading.encoding = part.text().await.map_err(bad)?,
                "delimiter" => reading.delimiter = part.text().await.map_err(bad)?,
                "file" => {
                    name = part.file_name().unwrap_or_default().to_owned();
                    file = Some(part.bytes().await.map_err(bad)?);
                }
                _ => {}
            }
        }
        if !csrf.is_some_and(|sent| session::same_secret(&sent, &web.csrf)) {
            return Err(ApiError::new(
                ErrorCode::CsrfFailed,
                text!("error-form-expired"),
            ));
        }
        let file: Bytes = file
            .filter(|f| !f.is_empty())
            .ok_or_else(|| ApiError::new(ErrorCode::InvalidBody, text!("api-import-empty")))?;
        reading.format = Format::guess(&name, &file);
        let upload = transfer::Upload {
            plural,
            file_name: name,
            bytes: file.to_vec(),
            reading,
            language: web.lang,
            time_zone: web.zone.name().to_owned(),
        };
        let back = format!("/records/{}/import", upload.plural);
        match transfer::upload(&web.state.store, &web.actor(), upload).await {
            Ok((import, _)) => Ok(redirect(&format!("/imports/{}", import.id))),
            Err(error) => {
                let error = ApiError::from(error);
                Ok(redirect_with(
                    &back,
                    "error",
                    &super::pages::shown(error, web.lang)?,
                ))
            }
        }
    })
    .await
}

async fn import_page(web: Web, Path(id): Path<String>) -> Response {
    page(&web, async {
        render(&web, import_id(&id)?, None, None).await
    })
    .await
}

/// The import's page at its step: the mapping (with a preview's findings), the progress of
/// a running commit, or the outcome.
async fn render(
    web: &Web,
    id: Uuid,
    preview: Option<&Preview>,
    plan: Option<&Plan>,
) -> Result<Response, ApiError> {
    let store = &web.state.store;
    let actor = web.actor();
    let import = transfer::get(store, &actor, id).await?;
    let ty = entity(web, &import.entity_type).await?;
    let shown_plan: Plan = match plan {
        Some(plan) => plan.clone(),
        None => serde_json::from_value(import.plan.clone()).unwrap_or_default(),
    };
    let columns = transfer::columns_of(store, &actor, id).await?;
    let fields: Vec<Value> = (ty.fields.iter())
        .filter(|f| !f.read_only)
        .map(|f| json!({ "name": f.name, "label": label(f) }))
        .collect();
    let columns: Vec<Value> = (columns.iter().enumerate())
        .map(|(index, c)| {
            json!({
                "index": index,
                "header": c.header,
                "samples": c.samples,
                "field": shown_plan.mapping.get(&c.header),
            })
        })
        .collect();
    let step = match import.status.as_str() {
        "uploaded" | "previewed" => "map",
        "running" => "running",
        _ => "finished",
    };
    Ok(web
        .render(
            "import.html",
            json!({
                "step": step,
                "entity": super::pages::entity_json(&ty),
                "import": import,
                "columns": columns,
                "fields": fields,
                "plan": shown_plan,
                "preview": preview,
                "url": format!("/imports/{id}"),
                "result_url": format!("/api/v1/imports/{id}/result"),
            }),
        )
        .await)
}

/// The mapping form as a plan: `col.N` names column N's field (empty: not imported).
fn plan_from(form: &super::Form, headers: &[String], zone: &str) -> Plan {
    let mapping = (headers.iter().enumerate())
        .filter_map(|(index, header)| {
            let field = form.get(&format!("col.{index}"))?.trim();
            (!field.is_empty()).then(|| (header.clone(), field.to_owned()))
        })
        .collect();
    let mode = match form.get("mode") {
        Some("update") => Mode::Update,
        Some("upsert") => Mode::Upsert,
        _ => Mode::Create,
    };
    Plan {
        mapping,
        mode,
        key: form
            .get("key")
            .filter(|k| !k.is_empty() && mode != Mode::Create)
            .map(str::to_owned),
        empty_cells: if form.get("empty_cells") == Some("clear") {
            EmptyCells::Clear
        } else {
            EmptyCells::Ignore
        },
        currency: form
            .get("currency")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_uppercase),
        time_zone: Some(zone.to_owned()),
        ..Plan::default()
    }
}

async fn preview(web: Web, Path(id): Path<String>, body: Bytes) -> Response {
    page(&web, async {
        let form = web.form(&body)?;
        let id = import_id(&id)?;
        let actor = web.actor();
        let headers: Vec<String> = transfer::columns_of(&web.state.store, &actor, id)
            .await?
            .into_iter()
            .map(|c| c.header)
            .collect();
        let plan = plan_from(&form, &headers, web.zone.name());
        match transfer::preview(&web.state.store, &actor, id, plan.clone(), web.lang).await {
            Ok((_, preview)) => render(&web, id, Some(&preview), Some(&plan)).await,
            Err(error) => {
                let message = super::pages::shown(error.into(), web.lang)?;
                Ok(redirect_with(&format!("/imports/{id}"), "error", &message))
            }
        }
    })
    .await
}

async fn commit(web: Web, Path(id): Path<String>, body: Bytes) -> Response {
    page(&web, async {
        web.form(&body)?;
        let id = import_id(&id)?;
        transfer::commit(&web.state.store, &web.actor(), id).await?;
        let store = web.state.store.clone();
        tokio::spawn(async move {
            if let Err(error) = transfer::run(&store, id, &|_, _| {}).await {
                tracing::warn!(%error, %id, "import failed");
            }
        });
        Ok(redirect(&format!("/imports/{id}")))
    })
    .await
}

async fn undo(web: Web, Path(id): Path<String>, body: Bytes) -> Response {
    page(&web, async {
        web.form(&body)?;
        let id = import_id(&id)?;
        let undone = transfer::undo(&web.state.store, &web.actor(), id).await?;
        let args = [
            ("deleted", undone.deleted.into()),
            ("reverted", undone.reverted.into()),
            ("kept", undone.kept.len().into()),
        ];
        Ok(redirect_with(
            &format!("/imports/{id}"),
            "success",
            &web.lang.t_with("import-undone", &args),
        ))
    })
    .await
}
