//! The exports: the `Plugin` trait, its bridge to the generated `Guest` trait, and helpers on
//! the types the exports take and return.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::exports::kith::plugin::guest::Guest;
use crate::{
    ActionError, Change, Context, Event, Field, FieldError, HostError, HttpRequest, HttpResponse,
    JobStep, Operation, Panel, Record, Value, Verdict,
};

/// What a plugin implements: one associated function per export of the `guest` interface.
///
/// Every function has a default, so implement only those the plugin's manifest uses. The
/// functions take no `self`: every call runs in a fresh instance, so a plugin keeps no state
/// between calls (use [`kv`](crate::kv) or records for that). Export the implementing type
/// with [`register_plugin!`](crate::register_plugin).
pub trait Plugin {
    /// Runs inside the write's transaction, before anything is stored, for the changes to the
    /// entity types and operations the manifest's `[[hooks]]` name. Answers one [`Verdict`]
    /// per change, in order. May read records; may not write them.
    ///
    /// Default: [`Verdict::Proceed`] for every change.
    fn before_save(_ctx: Context, changes: Vec<Change>) -> Result<Vec<Verdict>, String> {
        Ok(changes.iter().map(|_| Verdict::Proceed).collect())
    }

    /// Runs after commit, in event order, at least once per event: use [`Event::id`] to make
    /// the handling idempotent.
    ///
    /// Default: does nothing.
    fn after_save(_ctx: Context, _events: Vec<Event>) -> Result<(), String> {
        Ok(())
    }

    /// Serves a route declared in `[[routes]]`, mounted under `/p/{plugin-id}`.
    ///
    /// Default: a 404 JSON error.
    fn handle_http(_ctx: Context, _request: HttpRequest) -> Result<HttpResponse, String> {
        Ok(HttpResponse::not_found())
    }

    /// Runs one step of a job declared in `[[jobs]]`; `cursor` is `None` on the first step,
    /// then the cursor of the previous [`JobStep`] until one says `done`.
    ///
    /// Default: an error.
    fn run_job(_ctx: Context, job: String, _cursor: Option<String>) -> Result<JobStep, String> {
        Err(format!("job `{job}` is not implemented by this plugin"))
    }

    /// Builds a panel declared in `[[panels]]`: `record` is the record shown for a
    /// `record:<type>` panel, `None` on the dashboard.
    ///
    /// Default: an error.
    fn render_panel(
        _ctx: Context,
        panel: String,
        _record: Option<Record>,
    ) -> Result<Panel, String> {
        Err(format!("panel `{panel}` is not implemented by this plugin"))
    }

    /// Runs an action declared in `[[actions]]`; `input` and the answer are JSON documents.
    /// Refuse bad input or a state that does not allow the action with
    /// [`ActionError::refuse`] or [`ActionError::field`] (the caller gets a 4xx); `?` on a
    /// [`HostError`] passes the host's refusal on the same way, and `?` on a `String` is the
    /// plugin's own failure.
    ///
    /// Default: an error.
    fn run_action(_ctx: Context, action: String, _input: String) -> Result<String, ActionError> {
        Err(ActionError::Failed(format!(
            "action `{action}` is not implemented by this plugin"
        )))
    }

    /// Runs when an admin enables the plugin in a workspace — every time it is enabled (first
    /// time, again after a disable, after an upgrade) — before the enable answers. Create what
    /// the workspace needs (default records, kv entries) here, idempotently: look before you
    /// create. An `Err` undoes the enable and the admin sees the message. Runs with the limits
    /// of an action, as the admin who enables.
    ///
    /// Default: does nothing.
    fn on_enable(_ctx: Context) -> Result<(), String> {
        Ok(())
    }
}

impl<T: Plugin> Guest for T {
    fn before_save(ctx: Context, changes: Vec<Change>) -> Result<Vec<Verdict>, String> {
        <T as Plugin>::before_save(ctx, changes)
    }

    fn after_save(ctx: Context, events: Vec<Event>) -> Result<(), String> {
        <T as Plugin>::after_save(ctx, events)
    }

    fn handle_http(ctx: Context, request: HttpRequest) -> Result<HttpResponse, String> {
        <T as Plugin>::handle_http(ctx, request)
    }

    fn run_job(ctx: Context, job: String, cursor: Option<String>) -> Result<JobStep, String> {
        <T as Plugin>::run_job(ctx, job, cursor)
    }

    fn render_panel(ctx: Context, panel: String, record: Option<Record>) -> Result<Panel, String> {
        <T as Plugin>::render_panel(ctx, panel, record)
    }

    fn run_action(ctx: Context, action: String, input: String) -> Result<String, ActionError> {
        <T as Plugin>::run_action(ctx, action, input)
    }

    fn on_enable(ctx: Context) -> Result<(), String> {
        <T as Plugin>::on_enable(ctx)
    }
}

impl HostError {
    /// `"{code}: {message}"`, the form the SDK uses when a host error becomes the `Err(String)`
    /// of an export.
    pub fn summary(&self) -> String {
        format!("{}: {}", self.code, self.message)
    }
}

/// Lets `?` turn a [`HostError`] into an export's `Err(String)` (`"{code}: {message}"`).
impl From<HostError> for String {
    fn from(error: HostError) -> String {
        error.summary()
    }
}

impl ActionError {
    /// Refuses the action: the caller gets `code` (`conflict` is a 409, `record_not_found` a
    /// 404, `forbidden` a 403, any other code a 422) and `message`.
    pub fn refuse(code: impl Into<String>, message: impl Into<String>) -> ActionError {
        ActionError::Refused(HostError {
            code: code.into(),
            message: message.into(),
            details: Vec::new(),
        })
    }

    /// Refuses the action because of one input field: a 422 `validation_failed` naming it.
    pub fn field(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> ActionError {
        let message = message.into();
        ActionError::Refused(HostError {
            code: "validation_failed".into(),
            message: message.clone(),
            details: vec![FieldError {
                field: field.into(),
                code: code.into(),
                message,
            }],
        })
    }
}

/// `?` on a host refusal inside an action passes it on to the caller unchanged.
impl From<HostError> for ActionError {
    fn from(error: HostError) -> ActionError {
        ActionError::Refused(error)
    }
}

/// `?` on a `String` error inside an action is the plugin's own failure.
impl From<String> for ActionError {
    fn from(message: String) -> ActionError {
        ActionError::Failed(message)
    }
}

impl Change {
    /// Whether the change creates a record.
    pub fn is_create(&self) -> bool {
        self.operation == Operation::Create
    }

    /// Whether the change updates a record.
    pub fn is_update(&self) -> bool {
        self.operation == Operation::Update
    }

    /// Whether the change deletes a record.
    pub fn is_delete(&self) -> bool {
        self.operation == Operation::Delete
    }

    /// Whether the write sets the field `name` (every given field of a create counts).
    pub fn sets(&self, name: &str) -> bool {
        self.changed.iter().any(|changed| changed == name)
    }

    /// The record the reference field `name` points at after the write, when the hook lists
    /// `name` in its `references` (plugin.toml) and the acting user may read that record; `None`
    /// otherwise, or when the field is empty. The host read it with the write: no query.
    pub fn referenced(&self, name: &str) -> Option<&Record> {
        let id = self.reference(name)?;
        self.references.iter().find(|record| record.id == id)
    }
}

impl Verdict {
    /// Proceed, also setting these fields (validated like any write):
    /// `Verdict::patch([("score", Value::from(3))])`.
    pub fn patch<I, K, V>(fields: I) -> Verdict
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<Value>,
    {
        Verdict::Patch(crate::fields(fields))
    }

    /// Refuse the whole write with these field errors (the caller gets a 422).
    pub fn reject(errors: impl IntoIterator<Item = FieldError>) -> Verdict {
        Verdict::Reject(errors.into_iter().collect())
    }

    /// Refuse the whole write with one field error.
    pub fn reject_field(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Verdict {
        Verdict::Reject(vec![FieldError::new(field, code, message)])
    }
}

impl FieldError {
    /// A problem with `field`; `code` is a stable snake_case code (`blocked_domain`).
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> FieldError {
        FieldError {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

impl HttpRequest {
    /// The first value of the query parameter `name`, percent-decoded (`+` is a space).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .find(|(key, _)| percent_decode(key, true) == name)
            .map(|(_, value)| percent_decode(value, true))
    }

    /// The rest of the path after `prefix`, percent-decoded, for a `…/*` route:
    /// `path_rest("/kv/")` of `/kv/a%20b` is `Some("a b")`; `None` when the path does not start
    /// with `prefix`.
    pub fn path_rest(&self, prefix: &str) -> Option<String> {
        self.path
            .strip_prefix(prefix)
            .map(|rest| percent_decode(rest, false))
    }

    /// The first value of the header `name` (compared ignoring ASCII case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The reader's language (`en`, `zh-CN`), chosen as the web app chooses a page's: their
    /// own setting, else their browser's, else the workspace's, else `en`. The host sends it
    /// in the `kith-language` header of every route request (replacing one a client sent).
    pub fn language(&self) -> &str {
        self.header("kith-language").unwrap_or("en")
    }

    /// The body as text, when it is UTF-8.
    pub fn body_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// Decodes the `%XX` escapes (and with `plus_as_space`, `+`) of a URL component; invalid
/// escapes are kept as they are and invalid UTF-8 becomes U+FFFD.
fn percent_decode(text: &str, plus_as_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_as_space => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2])) {
                    (Some(high), Some(low)) => {
                        out.push(high << 4 | low);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

impl HttpResponse {
    /// A response with `status`, no headers and no body.
    pub fn new(status: u16) -> HttpResponse {
        HttpResponse {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A JSON response (`content-type: application/json`). A value that cannot be serialized
    /// (a map with non-string keys) gives a 500 with a JSON error instead.
    pub fn json<T: Serialize + ?Sized>(status: u16, body: &T) -> HttpResponse {
        match serde_json::to_vec(body) {
            Ok(body) => HttpResponse::bytes(status, "application/json", body),
            Err(error) => HttpResponse::error(
                500,
                "internal",
                &format!("the plugin's response is not JSON: {error}"),
            ),
        }
    }

    /// A plain-text response (`content-type: text/plain; charset=utf-8`).
    pub fn text(status: u16, body: impl Into<String>) -> HttpResponse {
        HttpResponse::bytes(
            status,
            "text/plain; charset=utf-8",
            body.into().into_bytes(),
        )
    }

    /// An HTML response (`content-type: text/html; charset=utf-8`).
    pub fn html(status: u16, body: impl Into<String>) -> HttpResponse {
        HttpResponse::bytes(status, "text/html; charset=utf-8", body.into().into_bytes())
    }

    /// A response with this content type and body.
    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![("content-type".to_owned(), content_type.to_owned())],
            body,
        }
    }

    /// An error in the API's shape: `{"error": {"code": …, "message": …}}`.
    pub fn error(status: u16, code: &str, message: &str) -> HttpResponse {
        HttpResponse::json(
            status,
            &serde_json::json!({ "error": { "code": code, "message": message } }),
        )
    }

    /// The 404 answer for a path the plugin does not serve.
    pub fn not_found() -> HttpResponse {
        HttpResponse::error(404, "not_found", "this plugin has no such route")
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

impl JobStep {
    /// The job is finished.
    pub fn done() -> JobStep {
        JobStep {
            cursor: None,
            done: true,
        }
    }

    /// Run another step, passing it `cursor`.
    pub fn next(cursor: impl Into<String>) -> JobStep {
        JobStep {
            cursor: Some(cursor.into()),
            done: false,
        }
    }
}

impl Panel {
    /// The template `template` (a path under the package's `templates/`) rendered with
    /// `context`, which must serialize to a JSON object.
    pub fn new<T: Serialize + ?Sized>(
        template: impl Into<String>,
        context: &T,
    ) -> Result<Panel, String> {
        let context = serde_json::to_value(context)
            .map_err(|error| format!("the panel's context is not JSON: {error}"))?;
        if !context.is_object() {
            return Err("a panel's context must be a JSON object".to_owned());
        }
        Ok(Panel {
            template: template.into(),
            context: context.to_string(),
        })
    }
}

impl Event {
    /// Whether the event is a record being created.
    pub fn is_created(&self) -> bool {
        self.action == "created"
    }
}

impl Field {
    /// The field `name` with `value`.
    pub fn new(name: impl Into<String>, value: impl Into<Value>) -> Field {
        Field {
            name: name.into(),
            value: value.into(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn request(query: &str) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            path: "/".into(),
            query: query.into(),
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: Vec::new(),
        }
    }

    #[test]
    fn query_param_decodes_percent_escapes_and_plus() {
        let request = request("a=1&q=hello+w%C3%B6rld%21&empty&bad=%zz%4");
        assert_eq!(request.query_param("q").as_deref(), Some("hello wörld!"));
        assert_eq!(request.query_param("a").as_deref(), Some("1"));
        assert_eq!(request.query_param("empty").as_deref(), Some(""));
        assert_eq!(request.query_param("bad").as_deref(), Some("%zz%4"));
        assert_eq!(request.query_param("missing"), None);
        assert_eq!(request.header("content-type"), Some("text/plain"));
        let request = HttpRequest {
            path: "/kv/a%20b+c".into(),
            ..request
        };
        assert_eq!(request.path_rest("/kv/").as_deref(), Some("a b+c"));
        assert_eq!(request.path_rest("/other/"), None);
    }

    #[test]
    fn patch_builds_fields_in_order() {
        let verdict = Verdict::patch([("score", Value::from(3)), ("name", Value::from("x"))]);
        let Verdict::Patch(fields) = verdict else {
            panic!("not a patch");
        };
        assert_eq!(fields[0], Field::new("score", 3));
        assert_eq!(fields[1], Field::new("name", "x"));
    }

    #[test]
    fn panel_context_must_be_an_object() {
        assert!(Panel::new("a.html", &serde_json::json!([1])).is_err());
        let panel = Panel::new("a.html", &serde_json::json!({"n": 1}));
        assert_eq!(panel.map(|p| p.context), Ok(r#"{"n":1}"#.to_owned()));
    }
}
