//! The OpenSearch adapter of the search port (`VEILGRAM_SEARCH_URL`), through the `opensearch`
//! crate, using only query DSL that OpenSearch 2.x documents (`bool`, `match_phrase`, `term`,
//! `constant_score`, `sort` with `search_after`, `_delete_by_query`, aliases).
//!
//! The text is analysed here, in Rust, exactly as for the embedded index: a post's `grams` are
//! one string of space-separated bigrams per word, under the `whitespace` analyzer, so a query
//! word is a `match_phrase` of its bigrams, and the gap OpenSearch leaves between the values of
//! an array (`position_increment_gap`) keeps a phrase inside one word. VeilGram makes its own
//! index: `<prefix>-posts-v<N>`, reached through the alias `<prefix>-posts`; a mapping change
//! bumps `N`, and a new index is filled before the alias moves to it.

use crate::analysis;
use async_trait::async_trait;
use opensearch::auth::Credentials;
use opensearch::http::headers::HeaderMap;
use opensearch::http::request::JsonBody;
use opensearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use opensearch::http::{Method, StatusCode, Url};
use opensearch::OpenSearch;
use serde_json::{json, Value};
use std::time::Duration;
use veilgram_core::ports::{
    PostDocument, PostHit, PostSearch, SearchError, SearchIndex, SearchPosition, SearchSort,
};
use veilgram_core::{PostId, UserId};

/// The version of the mapping below; a change to it makes a new index.
pub const MAPPING_VERSION: u32 = 1;
/// How long one request may take before the search is answered as unavailable.
const TIMEOUT: Duration = Duration::from_secs(5);

fn mapping() -> Value {
    let whitespace = json!({ "type": "text", "analyzer": "whitespace" });
    json!({
        "settings": { "number_of_shards": 1 },
        "mappings": {
            "dynamic": "strict",
            "properties": {
                "id": { "type": "keyword" },
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

pub struct OpenSearchIndex {
    client: OpenSearch,
    alias: String,
    /// Set once the index and alias are known to exist: until then every call first makes
    /// sure of them, so a server that is down at start-up is used once it is back.
    ready: tokio::sync::OnceCell<()>,
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
            alias: format!("{}-posts", settings.prefix),
            ready: tokio::sync::OnceCell::new(),
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

    /// The index of this mapping version, and the alias on it.
    async fn ensure(&self) -> Result<(), SearchError> {
        let (status, _) = self
            .call(Method::Get, &format!("/_alias/{}", self.alias), None)
            .await?;
        if status.is_success() {
            return Ok(());
        }
        let index = format!("{}-v{MAPPING_VERSION}", self.alias);
        let (status, body) = self
            .call(Method::Put, &format!("/{index}"), Some(mapping()))
            .await?;
        let exists = body["error"]["type"] == "resource_already_exists_exception";
        if !status.is_success() && !exists {
            return Err(SearchError::Index(format!("creating {index}: {body}")));
        }
        let actions = json!({ "actions": [{ "add": { "index": index, "alias": self.alias } }] });
        let (status, body) = self.call(Method::Post, "/_aliases", Some(actions)).await?;
        if !status.is_success() {
            return Err(SearchError::Index(format!("aliasing {index}: {body}")));
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

/// The document of a post, analysed as the embedded index analyses it.
fn document(post: &PostDocument) -> Value {
    let text = analysis::post_text(post);
    let words = analysis::words(&text);
    let grams: Vec<String> = words
        .iter()
        .map(|word| analysis::bigrams(word).join(" "))
        .filter(|grams| !grams.is_empty())
        .collect();
    let chars: Vec<String> = words
        .iter()
        .map(|word| word.chars().map(String::from).collect::<Vec<_>>().join(" "))
        .collect();
    let created = post.created_at.as_millis();
    json!({
        "id": post.id.to_string(),
        "author": post.author_id.to_string(),
        "public": post.public,
        "words": words,
        "grams": grams,
        "chars": chars,
        "tags": post.hashtags.iter().map(|tag| analysis::normalise(tag)).collect::<Vec<_>>(),
        "created": created,
        "popularity": crate::index::popularity(post.like_count, created),
    })
}

/// The query DSL of a search: every word as a fragment, whole words and tags scoring higher.
fn query(search: &PostSearch<'_>) -> Option<Value> {
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
    if search.public_only {
        must.push(json!({ "term": { "public": true } }));
    }
    let sort = match search.sort {
        SearchSort::Relevance => json!(["_score", { "id": "desc" }]),
        SearchSort::Recent => json!([{ "created": "desc" }, { "id": "desc" }]),
        SearchSort::Popular => json!([{ "popularity": "desc" }, { "id": "desc" }]),
    };
    let mut body = json!({
        "query": { "bool": { "must": must } },
        "sort": sort,
        "size": search.limit.max(1),
        "_source": ["id"],
        "track_total_hits": false,
    });
    if let Some(after) = search.after {
        let key = match search.sort {
            SearchSort::Relevance => json!(after.key),
            _ => json!(after.key as i64),
        };
        body["search_after"] = json!([key, after.post_id.to_string()]);
    }
    Some(body)
}

#[async_trait]
impl SearchIndex for OpenSearchIndex {
    async fn put_post(&self, post: PostDocument) -> Result<(), SearchError> {
        self.ready().await?;
        let path = format!("/{}/_doc/{}", self.alias, post.id);
        let (status, body) = self.call(Method::Put, &path, Some(document(&post))).await?;
        Self::checked(status, &body, "indexing a post")
    }

    async fn remove_post(&self, post_id: PostId) -> Result<(), SearchError> {
        self.ready().await?;
        let path = format!("/{}/_doc/{post_id}", self.alias);
        let (status, body) = self.call(Method::Delete, &path, None).await?;
        Self::checked(status, &body, "removing a post")
    }

    async fn remove_author(&self, author_id: UserId) -> Result<(), SearchError> {
        self.ready().await?;
        let path = format!("/{}/_delete_by_query?conflicts=proceed", self.alias);
        let body = json!({ "query": { "term": { "author": author_id.to_string() } } });
        let (status, body) = self.call(Method::Post, &path, Some(body)).await?;
        Self::checked(status, &body, "removing an author's posts")
    }

    async fn commit(&self) -> Result<(), SearchError> {
        self.ready().await?;
        let (status, body) = self
            .call(Method::Post, &format!("/{}/_refresh", self.alias), None)
            .await?;
        Self::checked(status, &body, "refreshing")
    }

    async fn search_posts(&self, search: &PostSearch<'_>) -> Result<Vec<PostHit>, SearchError> {
        self.ready().await?;
        let Some(body) = query(search) else {
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
                let post_id: PostId = hit["_source"]["id"].as_str()?.parse().ok()?;
                let key = hit["sort"][0].as_f64()?;
                Some(PostHit {
                    post_id,
                    position: SearchPosition { key, post_id },
                })
            })
            .collect())
    }
}
