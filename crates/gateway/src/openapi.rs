//! The OpenAPI document as served: what each handler's `#[utoipa::path]` declares, completed
//! with the answers every route of a kind can give because of the layers around it, so the
//! document names every status the server really returns (schemathesis checks it in CI):
//!
//! - a bearer token: 401 when it is missing, malformed, expired or revoked (also on routes where
//!   it is optional: a token that is sent must be valid);
//! - path parameters: 400 for one that is not of its type (an `{id}` is always a UUID);
//! - a request body: 400 malformed, 413 too large, 415 not of its media type;
//! - every `/api/v1` route: 429 over its rate-limit budget, 503 when a store it needs is down;
//! - writes from a blocked network (`blocks::guarded`): 403 `address_blocked`;
//! - `limit` is 1 to 100, as `PageQuery` reads it;
//!
//! and with OpenAPI links from the answers that create things to the operations on them, for
//! stateful testing and for readers.

use serde_json::{json, Map, Value};

/// The statuses every route of a kind can answer, with why.
const LAYERED: &[(&str, &str)] = &[
    (
        "400",
        "the request is malformed: a parameter or the body is not what this operation takes",
    ),
    (
        "401",
        "an access token is required, or the one sent is malformed, expired or revoked",
    ),
    (
        "403",
        "this network is blocked from making changes for a while (`address_blocked`)",
    ),
    ("413", "the body is larger than this operation takes"),
    (
        "415",
        "the body is not of a media type this operation takes",
    ),
    (
        "429",
        "over this route's rate-limit budget: see `Retry-After` and `RateLimit`",
    ),
    (
        "503",
        "a store this operation needs is unavailable: retry after `Retry-After`",
    ),
];

/// `(operation creating something, field of its answer naming it, path prefix of the
/// operations on it)`.
const CREATES: &[(&str, &str, &str, &str)] = &[
    (
        "post",
        "/api/v1/auth/signup",
        "user_id",
        "/api/v1/users/{id}",
    ),
    ("post", "/api/v1/posts", "id", "/api/v1/posts/{id}"),
    ("post", "/api/v1/posts", "poll/id", "/api/v1/polls/{id}"),
    (
        "post",
        "/api/v1/posts/{id}/comments",
        "id",
        "/api/v1/comments/{id}",
    ),
    ("post", "/api/v1/media", "id", "/api/v1/media/{id}"),
    (
        "post",
        "/api/v1/push/devices",
        "id",
        "/api/v1/push/devices/{id}",
    ),
    (
        "post",
        "/api/v1/admin/address-blocks",
        "id",
        "/api/v1/admin/address-blocks/{id}",
    ),
];

/// Characters `str::trim` removes (Unicode White_Space), as a regular-expression class body.
const SPACE: &str =
    "\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";

/// Control characters (Unicode Cc), as a regular-expression class body; and the same with the
/// ones a text may hold inside it (`\n`; `\t` and `\n`).
const CONTROLS: &str = "\\u0000-\\u001F\\u007F-\\u009F";
const CONTROLS_BUT_NEWLINE: &str = "\\u0000-\\u0009\\u000B-\\u001F\\u007F-\\u009F";
const CONTROLS_BUT_TAB_NEWLINE: &str = "\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F";

/// A text field as the services check it: trimmed, then `min` (0 or 1) to `max` characters,
/// with none of the `forbidden` characters (a class body) inside; `None` takes any.
fn trimmed_text(min: usize, max: usize, forbidden: Option<&str>) -> Value {
    let (edge, inner) = match forbidden {
        Some(forbidden) => (format!("[^{SPACE}{CONTROLS}]"), format!("[^{forbidden}]")),
        None => (format!("[^{SPACE}]"), "[\\s\\S]".to_owned()),
    };
    let core = format!("{edge}({inner}{{0,{}}}{edge})?", max.saturating_sub(2));
    let core = if min == 0 { format!("({core})?") } else { core };
    json!({ "type": "string", "pattern": format!("^[{SPACE}]*{core}[{SPACE}]*$") })
}

/// What each request field takes, beyond its type: `(schema, property, schema of the field)`.
fn fields() -> Vec<(&'static str, &'static str, Value)> {
    let uuid = json!({ "type": "string", "format": "uuid" });
    let one_of = |values: &[&str]| json!({ "type": "string", "enum": values });
    let nickname = json!({
        "type": "string", "format": "nickname", "minLength": 2, "maxLength": 30,
    });
    let post_text = trimmed_text(
        1,
        veilgram_posts::service::MAX_TEXT_CHARS,
        Some(CONTROLS_BUT_TAB_NEWLINE),
    );
    let comment_text = trimmed_text(
        1,
        veilgram_comments::service::MAX_COMMENT_CHARS,
        Some(CONTROLS_BUT_NEWLINE),
    );
    let note = trimmed_text(0, veilgram_core::ports::MAX_REPORT_NOTE_CHARS, None);
    let reason = one_of(&["spam", "abuse", "nsfw", "other"]);
    vec![
        (
            "ResolveRequest",
            "action",
            one_of(&["dismiss", "hide", "warn", "delete", "suspend_author"]),
        ),
        (
            "BlockRequest",
            "duration_seconds",
            json!({
                "type": "integer", "minimum": 1, "maximum": crate::blocks::MAX_BLOCK.as_secs(),
            }),
        ),
        (
            "BlockRequest",
            "reason",
            json!({ "type": "string", "maxLength": 200 }),
        ),
        ("SignupRequest", "nickname", nickname.clone()),
        ("ChallengeRequest", "purpose", one_of(&["signup", "login"])),
        ("LoginRequest", "user_id", uuid.clone()),
        (
            "LoginRequest",
            "recovery_key",
            json!({
                "type": "string",
                "pattern": "^[- ]*([0-9A-HJKMNP-TV-Za-hjkmnp-tv-zOoIiLl][- ]*){32}$",
            }),
        ),
        (
            "RefreshRequest",
            "refresh_token",
            json!({ "type": "string", "minLength": 1, "maxLength": 512 }),
        ),
        ("CreateCommentRequest", "text", comment_text),
        ("CreateCommentRequest", "parent_id", uuid.clone()),
        ("CommentReportRequest", "reason", reason.clone()),
        ("CommentReportRequest", "note", note.clone()),
        ("ReportRequest", "reason", reason),
        ("ReportRequest", "note", note),
        (
            "AppealRequest",
            "note",
            trimmed_text(0, veilgram_moderation::MAX_APPEAL_NOTE_CHARS, None),
        ),
        (
            "DescribeRequest",
            "alt",
            trimmed_text(0, veilgram_media::MAX_ALT_CHARS, Some(CONTROLS_BUT_NEWLINE)),
        ),
        ("ReadRequest", "up_to_id", uuid.clone()),
        (
            "VoteRequest",
            "option_index",
            json!({ "type": "integer", "minimum": 0, "maximum": 3 }),
        ),
        ("CreatePostRequest", "text", post_text.clone()),
        (
            "CreatePostRequest",
            "media_ids",
            json!({ "type": "array", "items": uuid.clone(), "maxItems": 10, "uniqueItems": true }),
        ),
        (
            "CreatePostRequest",
            "visibility",
            json!({ "type": ["string", "null"], "enum": ["public", "followers", null] }),
        ),
        (
            "PollRequestBody",
            "options",
            json!({
                "type": "array", "minItems": 2, "maxItems": 4, "uniqueItems": true,
                "items": { "type": "string", "format": "poll-option" },
            }),
        ),
        (
            "PollRequestBody",
            "closes_in_seconds",
            json!({ "type": "integer", "minimum": 300, "maximum": 604_800 }),
        ),
        ("EditPostRequest", "text", post_text),
        ("UpdateProfileRequest", "nickname", nickname),
        (
            "UpdateProfileRequest",
            "status_message",
            trimmed_text(
                0,
                veilgram_users::service::MAX_STATUS_MESSAGE_CHARS,
                Some(CONTROLS_BUT_NEWLINE),
            ),
        ),
        ("UpdateProfileRequest", "avatar_media_id", uuid),
        (
            "SubscriptionKeys",
            "p256dh",
            json!({ "type": "string", "pattern": "^B[A-P][A-Za-z0-9_-]{84}[AQgw]=*$" }),
        ),
        (
            "SubscriptionKeys",
            "auth",
            json!({ "type": "string", "pattern": "^[A-Za-z0-9_-]{21}[AQgw]=*$" }),
        ),
        (
            "Subscription",
            "endpoint",
            json!({ "type": "string", "format": "webpush-endpoint", "maxLength": 2048 }),
        ),
    ]
}

/// A push device: an FCM or APNs token, or a Web Push subscription, never both.
fn register_request() -> Value {
    let subscription = json!({ "$ref": "#/components/schemas/Subscription" });
    let branch = |platform: &str, token: Value, subscription: Value, required: &str| {
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["platform", required],
            "properties": {
                "platform": { "const": platform },
                "token": token,
                "subscription": subscription,
            },
        })
    };
    json!({
        "description": "`platform` `fcm` or `apns` with its `token`, or `webpush` with its `subscription`.",
        "oneOf": [
            branch("fcm", json!({ "type": "string", "pattern": "^[!-~]{1,4096}$" }), json!({ "type": "null" }), "token"),
            branch("apns", json!({ "type": "string", "pattern": "^[0-9A-Fa-f]{64,200}$" }), json!({ "type": "null" }), "token"),
            branch("webpush", json!({ "type": "null" }), subscription, "subscription"),
        ],
    })
}

/// What `GET /search` answers: the page of the `type` asked for. `anyOf`, not `oneOf`: an empty
/// page is all three.
fn search_page() -> Value {
    let hashtags = json!({
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": { "type": "array", "items": { "$ref": "#/components/schemas/HashtagUse" } },
            "next_cursor": { "type": ["string", "null"] },
        },
    });
    json!({
        "description": "a `PostPage` (`type=posts`), `ProfilePage` (`type=users`) or page of hashtags (`type=hashtags`)",
        "anyOf": [
            { "$ref": "#/components/schemas/PostPage" },
            { "$ref": "#/components/schemas/ProfilePage" },
            hashtags,
        ],
    })
}

/// The document `openapi` describes, completed.
pub fn document(openapi: &utoipa::openapi::OpenApi) -> Value {
    let mut document = serde_json::to_value(openapi).unwrap_or_else(|_| json!({}));
    if let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (schema, property, field) in fields() {
            if let Some(slot) = schemas
                .get_mut(schema)
                .and_then(|schema| schema.get_mut("properties"))
                .and_then(|properties| properties.get_mut(property))
            {
                let description = slot.get("description").cloned();
                let nullable = slot
                    .get("type")
                    .and_then(Value::as_array)
                    .is_some_and(|types| types.iter().any(|t| t == "null"))
                    || slot.get("oneOf").is_some();
                *slot = field;
                if nullable {
                    if slot.get("format").is_some() {
                        // A format beside `"type": [..., "null"]` reads, to some tools, as
                        // refusing `null` (schemathesis sent `null` as a value that breaks
                        // `format: uuid`): `null` is its own branch.
                        *slot = json!({ "anyOf": [slot.take(), { "type": "null" }] });
                    } else if let Some(kind) = slot.get("type").and_then(Value::as_str) {
                        slot["type"] = json!([kind, "null"]);
                    }
                }
                if let Some(description) = description {
                    slot["description"] = description;
                }
            }
        }
        // Request bodies refuse fields they do not know (`deny_unknown_fields`).
        for (name, schema) in schemas.iter_mut() {
            let request =
                name.ends_with("Request") || name.ends_with("Body") || name == "SubscriptionKeys";
            if request && name != "ErrorBody" {
                schema["additionalProperties"] = json!(false);
            }
        }
        schemas.insert("RegisterRequest".to_owned(), register_request());
        schemas.insert("SearchPage".to_owned(), search_page());
    }
    if let Some(found) =
        document.pointer_mut("/paths/~1api~1v1~1search/get/responses/200/content/application~1json")
    {
        found["schema"] = json!({ "$ref": "#/components/schemas/SearchPage" });
    }
    if let Some(upload) = document.pointer_mut("/paths/~1api~1v1~1media/post") {
        upload["requestBody"] = json!({
            "required": true,
            "description": "field `file`: a JPEG, PNG, WebP or GIF photo or an MP4, MOV or WebM video, told from its bytes",
            "content": { "multipart/form-data": { "schema": {
                "type": "object",
                "required": ["file"],
                "additionalProperties": false,
                "properties": { "file": { "type": "string", "format": "media-file" } },
            } } },
        });
    }
    // An empty body reads as `{}` (see `ApiJson`): a body whose fields are all optional may be
    // left out.
    let optional: Vec<String> = document
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .map(|schemas| {
            schemas
                .iter()
                .filter(|(_, schema)| {
                    schema.get("oneOf").is_none()
                        && schema
                            .get("required")
                            .and_then(Value::as_array)
                            .is_none_or(Vec::is_empty)
                })
                .map(|(name, _)| format!("#/components/schemas/{name}"))
                .collect()
        })
        .unwrap_or_default();
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return document;
    };
    let mut operation_ids: Vec<(String, String)> = Vec::new();
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            let Some(operation) = operation.as_object_mut() else {
                continue;
            };
            complete(path, method, operation);
            if let Some(body) = operation.get_mut("requestBody") {
                let schema = body
                    .pointer("/content/application~1json/schema/$ref")
                    .and_then(Value::as_str);
                if schema.is_some_and(|schema| optional.iter().any(|name| name == schema)) {
                    body["required"] = json!(false);
                }
            }
            if let Some(id) = operation.get("operationId").and_then(Value::as_str) {
                operation_ids.push((path.clone(), id.to_owned()));
            }
        }
    }
    for (method, path, field, prefix) in CREATES {
        let links: Map<String, Value> = operation_ids
            .iter()
            .filter(|(target, _)| target == prefix || target.starts_with(&format!("{prefix}/")))
            .map(|(_, id)| {
                let link = json!({
                    "operationId": id,
                    "parameters": { "id": format!("$response.body#/{field}") },
                });
                (format!("{id}_by_{}", field.replace('/', "_")), link)
            })
            .collect();
        let created = paths
            .get_mut(*path)
            .and_then(|item| item.get_mut(*method))
            .and_then(|operation| operation.get_mut("responses"))
            .and_then(Value::as_object_mut)
            .and_then(|responses| {
                responses
                    .iter_mut()
                    .find(|(status, _)| status.starts_with('2'))
                    .map(|(_, response)| response)
            })
            .and_then(Value::as_object_mut);
        if let Some(created) = created {
            let existing = created
                .entry("links")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(existing) = existing.as_object_mut() {
                existing.extend(links);
            }
        }
    }
    document
}

fn complete(path: &str, method: &str, operation: &mut Map<String, Value>) {
    let api = path.starts_with("/api/v1/");
    let bearer = operation
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|schemes| schemes.iter().any(|scheme| scheme.get("bearer").is_some()));
    let (mut has_path_parameter, mut has_query) = (false, false);
    if let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    {
        for parameter in parameters {
            let text = |key: &str| parameter[key].as_str().unwrap_or_default().to_owned();
            let (place, name) = (text("in"), text("name"));
            has_path_parameter |= place == "path";
            has_query |= place == "query";
            match (place.as_str(), name.as_str()) {
                ("path", "id") => {
                    parameter["schema"] = json!({ "type": "string", "format": "uuid" });
                }
                ("path", "tag") => {
                    parameter["schema"] = json!({
                        "type": "string", "format": "hashtag", "minLength": 1,
                        "maxLength": veilgram_core::text::MAX_HASHTAG_CHARS + 1,
                        "description": "1 to 100 letters, digits or `_`, with or without `#`",
                    });
                }
                ("header", "Idempotency-Key") => {
                    // One per distinct request: reused with another body it is a 422.
                    parameter["schema"] = json!({
                        "type": "string", "format": "idempotency-key", "pattern": "^[!-~]{1,255}$",
                    });
                }
                ("query", "sort") => {
                    parameter["schema"] = json!({
                        "type": "string", "enum": ["relevance", "recent", "popular"],
                    });
                }
                ("query", "type") => {
                    parameter["schema"] = json!({ "type": "string", "enum": ["posts"] });
                }
                ("query", "limit") => {
                    parameter["schema"] = json!({
                        "type": "integer", "minimum": 1, "maximum": crate::extract::MAX_PAGE,
                    });
                }
                _ => {}
            }
        }
    }
    let has_body = operation.contains_key("requestBody");
    let guarded = axum::http::Method::from_bytes(method.to_uppercase().as_bytes())
        .is_ok_and(|method| crate::blocks::guarded(&method, path));
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (status, why) in LAYERED {
        let applies = match *status {
            "400" => has_path_parameter || has_query || has_body,
            "401" => bearer,
            "403" => guarded,
            "413" | "415" => has_body,
            _ => api,
        };
        if applies && !responses.contains_key(*status) {
            responses.insert(
                (*status).to_owned(),
                json!({
                    "description": why,
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } },
                }),
            );
        }
    }
}
