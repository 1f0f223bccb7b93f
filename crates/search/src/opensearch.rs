//! The OpenSearch adapter of the search port (`VEILGRAM_SEARCH_URL`), through the `opensearch`
//! crate, using only query DSL that OpenSearch 2.x documents (`bool`, `match_phrase`, `term`,
//! `constant_score`, `sort` with `search_after`, `_delete_by_query`, `_bulk`, aliases).
//!
//! The text is analysed here, in Rust, exactly as for the embedded index: a post's `grams` are
//! one string of space-separated bigrams per word, under the `whitespace` analyzer, so a query
//! word is a `match_phrase` of its bigrams, and the gap OpenSearch leaves between the values of
//! an array (`position_increment_gap`) keeps a phrase inside one word. Posts and accounts share
//! one index, told apart by `kind`. VeilGram makes its own index: `<prefix>-search-v<N>`,
//! reached through the alias `<prefix>-search`; a mapping change bumps `N`, and
//! `veilgram reindex` fills a new index (`<prefix>-search-v<N>-<time>`) while the old one
//! serves, then moves the alias to it in one step and drops the old one.

use crate::analysis;
use crate::{hits, Kind};
use async_trait::async_trait;
use opensearch::auth::Credentials;
use opensearch::http::headers::HeaderMap;
use opensearch::http::request::JsonBody;
use opensearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use opensearch::http::{Method, StatusCode, Url};
use opensearch::{BulkParts, OpenSearch};
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;
use veilgram_core::ports::{
    Hit, IndexRebuild, PostDocument, Search, SearchError, SearchIndex, SearchSort, UserDocument,
};
use veilgram_core::{PostId, Timestamp, UserId};

/// The version of the mapping below; a change to it makes a new index.
pub const MAPPING_VERSION: u32 = 2;
/// How long one request may take before the search is answered as unavailable.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long one `_bulk` page of a rebuild may take.
const BULK_TIMEOUT: Duration = Duration::from_secs(60);

fn mapping() -> Value {
    let whitespace = json!({ "type": "text", "analyzer": "whitespace" });
    json!({
        "settings": { "number_of_shards": 1 },
        "mappings": {
            "dynamic": "strict",
            "properties": {
                "id": { "type": "keyword" },
                "kind": { "type": "keyword" },
                "author": { "type": "keyword" },
                "public": { "type": "boolean" },
                "words": { "type": "keyword" },
                "grams": whitespace,
                "chars": whitespace,
                "tags": { "type": "keyword" },
                "created": { "type": "long" },
                "popularity": { "type": "long" },
            },
        },
    })
}

/// Where the server is and who VeilGram is to it. The password is never logged.
#[derive(Clone)]
pub struct OpenSearchSettings {
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Names the alias and indexes (`veilgram` unless tests keep theirs apart).
    pub prefix: String,
}

impl std::fmt::Debug for OpenSearchSettings {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OpenSearchSettings")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("prefix", &self.prefix)
            .finish()
    }
}

#[derive(Clone)]
pub struct OpenSearchIndex {
    client: OpenSearch,
    alias: String,
    /// Set once the index and alias are known to exist: until then every call first makes
    /// sure of them, so a server that is down at start-up is used once it is back.
    ready: std::sync::Arc<tokio::sync::OnceCell<()>>,
}

fn unavailable(error: impl std::fmt::Display) -> SearchError {
    SearchError::Unavailable(error.to_string())
}

impl OpenSearchIndex {
    /// Connects, and makes the versioned index and its alias if they are missing.
    pub async fn connect(settings: &OpenSearchSettings) -> Result<Self, SearchError> {
        let index = Self::new(settings)?;
        index.ready().await?;
        Ok(index)
    }

    /// The adapter, without a request yet (the index is made on first use).
    pub fn new(settings: &OpenSearchSettings) -> Result<Self, SearchError> {
        let url = Url::parse(&settings.url).map_err(unavailable)?;
        let mut transport =
            TransportBuilder::new(SingleNodeConnectionPool::new(url)).timeout(TIMEOUT);
        if let (Some(username), Some(password)) = (&settings.username, &settings.password) {
            transport = transport.auth(Credentials::Basic(username.clone(), password.clone()));
        }
        let client = OpenSearch::new(transport.build().map_err(unavailable)?);
        Ok(Self {
            client,
            alias: format!("{}-search", settings.prefix),
            ready: std::sync::Arc::default(),
        })
    }

    async fn ready(&self) -> Result<(), SearchError> {
        self.ready
            .get_or_try_init(|| self.ensure())
            .await
            .map(|_| ())
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value), SearchError> {
        let response = self
            .client
            .send(
                method,
                path,
                HeaderMap::new(),
                Option::<&()>::None,
                body.map(JsonBody::new),
                Some(TIMEOUT),
            )
            .await
            .map_err(unavailable)?;
        let status = response.status_code();
        let text = response.text().await.map_err(unavailable)?;
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_server_error() {
            return Err(unavailable(format!("{status}: {text}")));
        }
        Ok((status, value))
    }

    /// The indexes the alias points to (none when it does not exist yet).
    async fn aliased(&self) -> Result<Vec<String>, SearchError> {
        let (status, body) = self
            .call(Method::Get, &format!("/_alias/{}", self.alias), None)
            .await?;
        if !status.is_success() {
            return Ok(Vec::new());
        }
        Ok(body
            .as_object()
            .map(|indexes| indexes.keys().cloned().collect())
            .unwrap_or_default())
    }

    /// Makes `index` with this version's mapping.
    async fn create(&self, index: &str) -> Result<(), SearchError> {
        let (status, body) = self
            .call(Method::Put, &format!("/{index}"), Some(mapping()))
            .await?;
        let exists = body["error"]["type"] == "resource_already_exists_exception";
        if !status.is_success() && !exists {
            return Err(SearchError::Index(format!("creating {index}: {body}")));
        }
        Ok(())
    }

    /// Points the alias at `index` only, in one step.
    async fn point_alias(&self, index: &str, previous: &[String]) -> Result<(), SearchError> {
        let mut actions: Vec<Value> = previous
            .iter()
            .map(|old| json!({ "remove": { "index": old, "alias": self.alias } }))
            .collect();
        actions.push(json!({ "add": { "index": index, "alias": self.alias } }));
        let (status, body) = self
            .call(
                Method::Post,
                "/_aliases",
                Some(json!({ "actions": actions })),
            )
            .await?;
        if !status.is_success() {
            return Err(SearchError::Index(format!("aliasing {index}: {body}")));
        }
        Ok(())
    }

    /// The index of this mapping version, and the alias on it. An alias on an index of an
    /// older mapping is refused until `veilgram reindex` has built one of this version.
    async fn ensure(&self) -> Result<(), SearchError> {
        let version = format!("{}-v{MAPPING_VERSION}", self.alias);
        let current = self.aliased().await?;
        if let Some(old) = current
            .iter()
            .find(|index| **index != version && !index.starts_with(&format!("{version}-")))
        {
            return Err(SearchError::Index(format!(
                "{} points to {old}, not mapping version {MAPPING_VERSION}: run `veilgram reindex`",
                self.alias
            )));
        }
        if current.is_empty() {
            self.create(&version).await?;
            self.point_alias(&version, &[]).await?;
        }
        Ok(())
    }

    fn checked(status: StatusCode, body: &Value, what: &str) -> Result<(), SearchError> {
        if status.is_success() || status == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(SearchError::Index(format!("{what}: {status} {body}")))
        }
    }
}

/// The fields every document has, analysed as the embedded index analyses them.
fn base(kind: Kind, id: String, owner: UserId, text: &str) -> Value {
    let words = analysis::words(text);
    let grams: Vec<String> = words
        .iter()
        .map(|word| analysis::bigrams(word).join(" "))
        .filter(|grams| !grams.is_empty())
        .collect();
    let chars: Vec<String> = words
        .iter()
        .map(|word| word.chars().map(String::from).collect::<Vec<_>>().join(" "))
        .collect();
    json!({
        "id": id,
        "kind": kind.name(),
        "author": owner.to_string(),
        "words": words,
        "grams": grams,
        "chars": chars,
    })
}

fn post_document(post: &PostDocument) -> Value {
    let mut document = base(
        Kind::Post,
        post.id.to_string(),
        post.author_id,
        &analysis::post_text(post),
    );
    let created = post.created_at.as_millis();
    document["public"] = json!(post.public);
    document["tags"] = json!(post
        .hashtags
        .iter()
        .map(|tag| analysis::normalise(tag))
        .collect::<Vec<_>>());
    document["created"] = json!(created);
    document["popularity"] = json!(crate::index::popularity(post.like_count, created));
    document
}

/// An account, as the embedded index keeps it (see `index::user_document`).
fn user_document(user: &UserDocument) -> Value {
    let mut document = base(
        Kind::User,
        user.id.to_string(),
        user.id,
        &analysis::user_text(user),
    );
    document["public"] = json!(true);
    document["tags"] = json!(analysis::words(&user.nickname));
    document["created"] = json!(0);
    document["popularity"] = json!(crate::index::popularity(user.followers_count, 0));
    document
}

/// `_bulk` lines that put `documents`.
fn bulk(documents: impl Iterator<Item = Value>) -> Vec<JsonBody<Value>> {
    let mut lines = Vec::new();
    for document in documents {
        lines.push(json!({ "index": { "_id": document["id"].clone() } }).into());
        lines.push(document.into());
    }
    lines
}

/// The query DSL of a search: every word as a fragment, whole words and tags scoring higher.
fn query(search: &Search<'_>, kind: Kind) -> Option<Value> {
    let words = analysis::words(search.query);
    if words.is_empty() {
        return None;
    }
    let mut must: Vec<Value> = words
        .into_iter()
        .take(crate::index::MAX_QUERY_WORDS)
        .map(|word| {
            let grams = analysis::bigrams(&word);
            let fragment = match grams.len() {
                0 => json!({ "match_phrase": { "chars": word } }),
                _ => json!({ "match_phrase": { "grams": grams.join(" ") } }),
            };
            json!({ "bool": {
                "must": [fragment],
                "should": [
                    { "constant_score": { "filter": { "term": { "words": word } }, "boost": 2.0 } },
                    { "constant_score": { "filter": { "term": { "tags": word } }, "boost": 3.0 } },
                ],
            } })
        })
        .collect();
    must.push(json!({ "term": { "kind": kind.name() } }));
    if search.public_only {
        must.push(json!({ "term": { "public": true } }));
    }
    let sort = kind.sort(search.sort);
    let order = match sort {
        SearchSort::Relevance => json!(["_score", { "id": "desc" }]),
        SearchSort::Recent => json!([{ "created": "desc" }, { "id": "desc" }]),
        SearchSort::Popular => json!([{ "popularity": "desc" }, { "id": "desc" }]),
    };
    let mut body = json!({
        "query": { "bool": { "must": must } },
        "sort": order,
        "size": search.limit.max(1),
        "_source": ["id"],
        "track_total_hits": false,
    });
    if let Some(after) = search.after {
        let key = match sort {
            SearchSort::Relevance => json!(after.key),
            _ => json!(after.key as i64),
        };
        body["search_after"] = json!([key, after.id.to_string()]);
    }
    Some(body)
}

impl OpenSearchIndex {
    async fn put(&self, id: String, document: Value) -> Result<(), SearchError> {
        self.ready().await?;
        let path = format!("/{}/_doc/{id}", self.alias);
        let (status, body) = self.call(Method::Put, &path, Some(document)).await?;
        Self::checked(status, &body, "indexing")
    }

    async fn remove(&self, id: String) -> Result<(), SearchError> {
        self.ready().await?;
        let path = format!("/{}/_doc/{id}", self.alias);
        let (status, body) = self.call(Method::Delete, &path, None).await?;
        Self::checked(status, &body, "removing")
    }

    async fn find(&self, search: &Search<'_>, kind: Kind) -> Result<Vec<(f64, Uuid)>, SearchError> {
        self.ready().await?;
        let Some(body) = query(search, kind) else {
            return Ok(Vec::new());
        };
        let (status, answer) = self
            .call(
                Method::Post,
                &format!("/{}/_search", self.alias),
                Some(body),
            )
            .await?;
        if !status.is_success() {
            return Err(SearchError::Index(format!("searching: {status} {answer}")));
        }
        let hits = answer["hits"]["hits"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok(hits
            .iter()
            .filter_map(|hit| {
                let id = Uuid::parse_str(hit["_source"]["id"].as_str()?).ok()?;
                Some((hit["sort"][0].as_f64()?, id))
            })
            .collect())
    }

    /// Puts `lines` into `index` in one `_bulk` request.
    async fn bulk(&self, index: &str, lines: Vec<JsonBody<Value>>) -> Result<(), SearchError> {
        if lines.is_empty() {
            return Ok(());
        }
        let response = self
            .client
            .bulk(BulkParts::Index(index))
            .body(lines)
            .request_timeout(BULK_TIMEOUT)
            .send()
            .await
            .map_err(unavailable)?;
        let status = response.status_code();
        let body: Value = response.json().await.map_err(unavailable)?;
        if status.is_server_error() {
            return Err(unavailable(format!("{status}: {body}")));
        }
        if !status.is_success() || body["errors"] == json!(true) {
            let first = body["items"]
                .as_array()
                .and_then(|items| items.iter().find(|item| item["index"]["error"].is_object()))
                .cloned()
                .unwrap_or(Value::Null);
            return Err(SearchError::Index(format!(
                "bulk indexing: {status} {first}"
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl SearchIndex for OpenSearchIndex {
    async fn put_post(&self, post: PostDocument) -> Result<(), SearchError> {
        self.put(post.id.to_string(), post_document(&post)).await
    }

    async fn remove_post(&self, post_id: PostId) -> Result<(), SearchError> {
        self.remove(post_id.to_string()).await
    }

    async fn put_user(&self, user: UserDocument) -> Result<(), SearchError> {
        self.put(user.id.to_string(), user_document(&user)).await
    }

    async fn remove_user(&self, user_id: UserId) -> Result<(), SearchError> {
        self.remove(user_id.to_string()).await
    }

    async fn remove_author(&self, author_id: UserId) -> Result<(), SearchError> {
        self.ready().await?;
        let path = format!("/{}/_delete_by_query?conflicts=proceed", self.alias);
        let body = json!({ "query": { "term": { "author": author_id.to_string() } } });
        let (status, body) = self.call(Method::Post, &path, Some(body)).await?;
        Self::checked(status, &body, "removing an author")
    }

    async fn commit(&self) -> Result<(), SearchError> {
        self.ready().await?;
        let (status, body) = self
            .call(Method::Post, &format!("/{}/_refresh", self.alias), None)
            .await?;
        Self::checked(status, &body, "refreshing")
    }

    async fn search_posts(&self, search: &Search<'_>) -> Result<Vec<Hit<PostId>>, SearchError> {
        Ok(hits(
            self.find(search, Kind::Post).await?,
            PostId::from_uuid,
        ))
    }

    async fn search_users(&self, search: &Search<'_>) -> Result<Vec<Hit<UserId>>, SearchError> {
        Ok(hits(
            self.find(search, Kind::User).await?,
            UserId::from_uuid,
        ))
    }

    async fn rebuild(&self) -> Result<Box<dyn IndexRebuild>, SearchError> {
        let index = format!(
            "{}-v{MAPPING_VERSION}-{}",
            self.alias,
            Timestamp::now().as_millis()
        );
        self.create(&index).await?;
        Ok(Box::new(OpenSearchRebuild {
            adapter: self.clone(),
            index,
        }))
    }
}

/// A new index, filled in bulk, that the alias moves to at the switch.
struct OpenSearchRebuild {
    adapter: OpenSearchIndex,
    index: String,
}

#[async_trait]
impl IndexRebuild for OpenSearchRebuild {
    async fn put_posts(&mut self, posts: Vec<PostDocument>) -> Result<(), SearchError> {
        let lines = bulk(posts.iter().map(post_document));
        self.adapter.bulk(&self.index, lines).await
    }

    async fn put_users(&mut self, users: Vec<UserDocument>) -> Result<(), SearchError> {
        let lines = bulk(users.iter().map(user_document));
        self.adapter.bulk(&self.index, lines).await
    }

    async fn switch(self: Box<Self>) -> Result<(), SearchError> {
        let adapter = &self.adapter;
        let (status, body) = adapter
            .call(Method::Post, &format!("/{}/_refresh", self.index), None)
            .await?;
        OpenSearchIndex::checked(status, &body, "refreshing the new index")?;
        let previous = adapter.aliased().await?;
        adapter.point_alias(&self.index, &previous).await?;
        for old in previous.iter().filter(|old| **old != self.index) {
            let (status, body) = adapter
                .call(Method::Delete, &format!("/{old}"), None)
                .await?;
            OpenSearchIndex::checked(status, &body, "dropping the old index")?;
        }
        Ok(())
    }
}
