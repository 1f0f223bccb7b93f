//! The embedded search index: tantivy, on local disk in the data directory (or in memory for
//! tests). One process writes (the indexer, under its consumer group's lease), holding the
//! writer only from its first write to its commit; every process reads, and sees a commit
//! within half a second (tantivy watches the index's `meta.json`).

use crate::analysis::{self, Analysed, Positioned};
use async_trait::async_trait;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, INDEXED, STORED,
    STRING,
};
use tantivy::tokenizer::{PreTokenizedString, Token};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term,
};
use veilgram_core::ports::{
    PostDocument, PostHit, PostSearch, SearchError, SearchIndex, SearchPosition, SearchSort,
};
use veilgram_core::{PostId, UserId};

/// Words of a query that count (a longer query is cut).
pub const MAX_QUERY_WORDS: usize = 16;
/// Hits read at most to fill one page (pages of mostly invisible hits end early).
const MAX_FETCH: usize = 10_000;
/// Likes that count for `popular` (more sort as this many).
const MAX_LIKES: i64 = (1 << 21) - 1;

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    author: Field,
    public: Field,
    words: Field,
    grams: Field,
    chars: Field,
    tags: Field,
    created: Field,
    popularity: Field,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let positions = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        id: builder.add_text_field("id", STRING | STORED),
        author: builder.add_text_field("author", STRING),
        public: builder.add_u64_field("public", INDEXED),
        words: builder.add_text_field("words", positions.clone()),
        grams: builder.add_text_field("grams", positions.clone()),
        chars: builder.add_text_field("chars", positions),
        tags: builder.add_text_field("tags", STRING),
        created: builder.add_i64_field("created", FAST | STORED),
        popularity: builder.add_i64_field("popularity", FAST),
    };
    (builder.build(), fields)
}

fn failed(error: impl std::fmt::Display) -> SearchError {
    SearchError::Index(error.to_string())
}

struct Inner {
    index: Index,
    reader: IndexReader,
    /// Opened on the first write, so processes that only read never take the index's lock.
    writer: Mutex<Option<IndexWriter<TantivyDocument>>>,
    fields: Fields,
}

/// The tantivy adapter of the search port.
#[derive(Clone)]
pub struct TantivySearch {
    inner: Arc<Inner>,
}

impl TantivySearch {
    /// The index in `directory` (made if missing).
    pub fn open(directory: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(directory)?;
        let (schema, fields) = schema();
        let index = Index::open_or_create(MmapDirectory::open(directory)?, schema)?;
        Self::with_index(index, fields)
    }

    /// An index in memory (tests).
    pub fn in_memory() -> anyhow::Result<Self> {
        let (schema, fields) = schema();
        Self::with_index(Index::create_in_ram(schema), fields)
    }

    fn with_index(index: Index, fields: Fields) -> anyhow::Result<Self> {
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .try_into()?;
        Ok(Self {
            inner: Arc::new(Inner {
                index,
                reader,
                writer: Mutex::new(None),
                fields,
            }),
        })
    }

    /// Runs `work` with the writer, off the async threads.
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut IndexWriter<TantivyDocument>, &Fields) -> tantivy::Result<T>
            + Send
            + 'static,
    ) -> Result<T, SearchError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut writer = inner
                .writer
                .lock()
                .map_err(|_| SearchError::Index("the writer lock is poisoned".into()))?;
            if writer.is_none() {
                *writer = Some(
                    inner
                        .index
                        .writer_with_num_threads(1, 30_000_000)
                        .map_err(failed)?,
                );
            }
            let writer = writer
                .as_mut()
                .ok_or_else(|| SearchError::Index("no writer".into()))?;
            work(writer, &inner.fields).map_err(failed)
        })
        .await
        .map_err(failed)?
    }
}

fn pre_tokenized(tokens: &[Positioned]) -> PreTokenizedString {
    PreTokenizedString {
        text: String::new(),
        tokens: tokens
            .iter()
            .map(|token| Token {
                offset_from: 0,
                offset_to: 0,
                position: token.position,
                text: token.text.clone(),
                position_length: 1,
            })
            .collect(),
    }
}

/// The sort key of a post for `popular`: its likes, then its age, in one number.
pub(crate) fn popularity(likes: i64, created_ms: i64) -> i64 {
    (likes.clamp(0, MAX_LIKES) << 41) | created_ms.clamp(0, (1 << 41) - 1)
}

fn document(post: &PostDocument, fields: &Fields) -> TantivyDocument {
    let text = analysis::post_text(post);
    let Analysed {
        words,
        grams,
        chars,
    } = analysis::analyse(&text);
    let mut document = TantivyDocument::default();
    document.add_text(fields.id, post.id.to_string());
    document.add_text(fields.author, post.author_id.to_string());
    document.add_u64(fields.public, u64::from(post.public));
    document.add_pre_tokenized_text(fields.words, pre_tokenized(&words));
    document.add_pre_tokenized_text(fields.grams, pre_tokenized(&grams));
    document.add_pre_tokenized_text(fields.chars, pre_tokenized(&chars));
    for tag in &post.hashtags {
        document.add_text(fields.tags, analysis::normalise(tag));
    }
    let created = post.created_at.as_millis();
    document.add_i64(fields.created, created);
    document.add_i64(fields.popularity, popularity(post.like_count, created));
    document
}

/// The query for `text`: every word must be found, as a fragment of an indexed word (its
/// bigrams as a phrase, or the character for a one-character word); whole words and hashtags
/// score higher. `None` when the text has no words.
fn query(text: &str, public_only: bool, fields: &Fields) -> Option<Box<dyn Query>> {
    let words = analysis::words(text);
    if words.is_empty() {
        return None;
    }
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for word in words.into_iter().take(MAX_QUERY_WORDS) {
        let grams = analysis::bigrams(&word);
        let fragment: Box<dyn Query> = match grams.len() {
            0 => Box::new(TermQuery::new(
                Term::from_field_text(fields.chars, &word),
                IndexRecordOption::WithFreqs,
            )),
            1 => Box::new(TermQuery::new(
                Term::from_field_text(fields.grams, &grams[0]),
                IndexRecordOption::WithFreqs,
            )),
            _ => Box::new(PhraseQuery::new(
                grams
                    .iter()
                    .map(|gram| Term::from_field_text(fields.grams, gram))
                    .collect(),
            )),
        };
        let whole = TermQuery::new(
            Term::from_field_text(fields.words, &word),
            IndexRecordOption::WithFreqs,
        );
        let tag = TermQuery::new(
            Term::from_field_text(fields.tags, &word),
            IndexRecordOption::Basic,
        );
        clauses.push((
            Occur::Must,
            Box::new(BooleanQuery::new(vec![
                (Occur::Must, fragment),
                (
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(whole), 2.0)),
                ),
                (Occur::Should, Box::new(BoostQuery::new(Box::new(tag), 3.0))),
            ])),
        ));
    }
    if public_only {
        clauses.push((
            Occur::Must,
            Box::new(TermQuery::new(
                Term::from_field_u64(fields.public, 1),
                IndexRecordOption::Basic,
            )),
        ));
    }
    Some(Box::new(BooleanQuery::new(clauses)))
}

/// `(key, id)` pairs in page order: the highest key first, ties by the highest id (a UUID's
/// order is its text's, the order OpenSearch sorts the `id` keyword in).
fn later(a: &(f64, PostId), b: &(f64, PostId)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then_with(|| b.1.cmp(&a.1))
}

impl Inner {
    fn search(&self, search: &PostSearch<'_>) -> tantivy::Result<Vec<PostHit>> {
        let Some(query) = query(search.query, search.public_only, &self.fields) else {
            return Ok(Vec::new());
        };
        let searcher = self.reader.searcher();
        let limit = search.limit.max(1);
        let mut fetch = (limit * 2).max(20);
        loop {
            let found: Vec<(f64, DocAddress)> = match search.sort {
                SearchSort::Relevance => searcher
                    .search(&query, &TopDocs::with_limit(fetch).order_by_score())?
                    .into_iter()
                    .map(|(score, address)| (f64::from(score), address))
                    .collect(),
                SearchSort::Recent | SearchSort::Popular => {
                    let field = if search.sort == SearchSort::Recent {
                        "created"
                    } else {
                        "popularity"
                    };
                    searcher
                        .search(
                            &query,
                            &TopDocs::with_limit(fetch)
                                .order_by_fast_field::<i64>(field, Order::Desc),
                        )?
                        .into_iter()
                        .map(|(key, address)| (key.unwrap_or(0) as f64, address))
                        .collect()
                }
            };
            let complete = found.len() < fetch;
            let mut hits: Vec<(f64, PostId)> = Vec::with_capacity(found.len());
            for (key, address) in found {
                let document: TantivyDocument = searcher.doc(address)?;
                let id = document
                    .get_first(self.fields.id)
                    .and_then(|value| value.as_str())
                    .and_then(|id| id.parse::<PostId>().ok());
                if let Some(id) = id {
                    hits.push((key, id));
                }
            }
            hits.sort_by(later);
            if !complete {
                // The last key's group may go on beyond what was read: leave it to a wider read.
                if let Some(last) = hits.last().map(|hit| hit.0) {
                    hits.retain(|hit| hit.0 != last);
                }
            }
            if let Some(after) = search.after {
                let after = (after.key, after.post_id);
                hits.retain(|hit| later(&after, hit) == std::cmp::Ordering::Less);
            }
            if hits.len() >= limit || complete || fetch >= MAX_FETCH {
                return Ok(hits
                    .into_iter()
                    .take(limit)
                    .map(|(key, post_id)| PostHit {
                        post_id,
                        position: SearchPosition { key, post_id },
                    })
                    .collect());
            }
            fetch = (fetch * 4).min(MAX_FETCH);
        }
    }
}

#[async_trait]
impl SearchIndex for TantivySearch {
    async fn put_post(&self, post: PostDocument) -> Result<(), SearchError> {
        self.write(move |writer, fields| {
            writer.delete_term(Term::from_field_text(fields.id, &post.id.to_string()));
            writer.add_document(document(&post, fields))?;
            Ok(())
        })
        .await
    }

    async fn remove_post(&self, post_id: PostId) -> Result<(), SearchError> {
        self.write(move |writer, fields| {
            writer.delete_term(Term::from_field_text(fields.id, &post_id.to_string()));
            Ok(())
        })
        .await
    }

    async fn remove_author(&self, author_id: UserId) -> Result<(), SearchError> {
        self.write(move |writer, fields| {
            writer.delete_term(Term::from_field_text(fields.author, &author_id.to_string()));
            Ok(())
        })
        .await
    }

    async fn commit(&self) -> Result<(), SearchError> {
        // The writer (and the index's lock) goes with each commit: the consumer group's lease
        // may move to another process, whose indexer must then be able to open its own. With
        // no writer open, nothing was written since the last commit: nothing to do.
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let taken = inner
                .writer
                .lock()
                .map_err(|_| SearchError::Index("the writer lock is poisoned".into()))?
                .take();
            let Some(mut writer) = taken else {
                return Ok(());
            };
            writer.commit().map_err(failed)?;
            if let Err(error) = writer.wait_merging_threads() {
                // What was committed stands; a merge is tried again with later segments.
                tracing::warn!(%error, "a search index merge failed");
            }
            inner.reader.reload().map_err(failed)
        })
        .await
        .map_err(failed)?
    }

    async fn search_posts(&self, search: &PostSearch<'_>) -> Result<Vec<PostHit>, SearchError> {
        let inner = Arc::clone(&self.inner);
        let owned = (
            search.query.to_owned(),
            search.sort,
            search.public_only,
            search.after,
            search.limit,
        );
        tokio::task::spawn_blocking(move || {
            let (query, sort, public_only, after, limit) = owned;
            inner
                .search(&PostSearch {
                    query: &query,
                    sort,
                    public_only,
                    after,
                    limit,
                })
                .map_err(failed)
        })
        .await
        .map_err(failed)?
    }
}
