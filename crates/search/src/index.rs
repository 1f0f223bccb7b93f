//! The embedded search index: tantivy, on local disk in the data directory (or in memory for
//! tests). One process writes (the indexer, under its consumer group's lease), holding the
//! writer only from its first write to its commit; every process reads, and sees a commit
//! within half a second (tantivy watches the index's `meta.json`). Posts and accounts share
//! the index, told apart by a `kind` field. The index lives in `v<SCHEMA_VERSION>` under its
//! directory: a schema change starts an empty one, which `veilgram reindex` fills.

use crate::analysis::{self, Analysed, Positioned};
use crate::{hits, Kind};
use async_trait::async_trait;
use std::collections::BinaryHeap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tantivy::columnar::Column;
use tantivy::directory::MmapDirectory;
use tantivy::query::{
    BooleanQuery, BoostQuery, EnableScoring, Occur, PhraseQuery, Query, Scorer, TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED, STRING,
};
use tantivy::tokenizer::{PreTokenizedString, Token};
use tantivy::{
    DocId, DocSet, Index, IndexReader, IndexSettings, IndexSortByField, IndexWriter, Order,
    ReloadPolicy, TantivyDocument, Term, TERMINATED,
};
use uuid::Uuid;
use veilgram_core::ports::{
    Hit, IndexRebuild, PostDocument, Search, SearchError, SearchIndex, SearchSort, UserDocument,
};
use veilgram_core::{PostId, UserId};

/// The version of the schema below; a change to it starts a new, empty index directory.
pub const SCHEMA_VERSION: u32 = 3;

/// Words of a query that count (a longer query is cut).
pub const MAX_QUERY_WORDS: usize = 16;
/// The newest matching posts that `relevance` ranks (see [`Inner::search`]).
pub const RELEVANCE_WINDOW: usize = 10_000;
/// Likes that count for `popular` (more sort as this many).
const MAX_LIKES: i64 = (1 << 21) - 1;
/// The writer's memory budget (bytes): what it buffers before it writes a segment.
const WRITER_MEMORY: usize = 30_000_000;
/// How long a rebuild waits for another process's writer to let go of the index.
const WRITER_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Clone, Copy)]
struct Fields {
    /// The id as text, to replace and delete by.
    id: Field,
    /// The id's two halves as fast fields, to read hits by (no stored document to decompress).
    id_high: Field,
    id_low: Field,
    kind: Field,
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
        id: builder.add_text_field("id", STRING),
        id_high: builder.add_u64_field("id_high", FAST),
        id_low: builder.add_u64_field("id_low", FAST),
        kind: builder.add_u64_field("kind", INDEXED),
        author: builder.add_text_field("author", STRING),
        public: builder.add_u64_field("public", INDEXED),
        words: builder.add_text_field("words", positions.clone()),
        grams: builder.add_text_field("grams", positions.clone()),
        chars: builder.add_text_field("chars", positions),
        tags: builder.add_text_field("tags", STRING),
        created: builder.add_i64_field("created", FAST),
        popularity: builder.add_i64_field("popularity", FAST),
    };
    (builder.build(), fields)
}

/// A new index's settings: documents sorted newest first in every segment, so a search for
/// the newest hits reads only the head of each segment.
fn builder(schema: Schema) -> tantivy::IndexBuilder {
    Index::builder().schema(schema).settings(IndexSettings {
        sort_by_field: Some(IndexSortByField {
            field: "created".to_owned(),
            order: Order::Desc,
        }),
        ..IndexSettings::default()
    })
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
    /// Whether [`open`](Self::open) made the index (none of this schema was there).
    created: bool,
    /// The newest matching posts `relevance` ranks.
    window: usize,
}

impl TantivySearch {
    /// The index under `directory` (made if missing).
    pub fn open(directory: &Path) -> anyhow::Result<Self> {
        let directory = directory.join(format!("v{SCHEMA_VERSION}"));
        let created = !directory.join("meta.json").exists();
        std::fs::create_dir_all(&directory)?;
        let (schema, fields) = schema();
        let index = builder(schema).open_or_create(MmapDirectory::open(&directory)?)?;
        Ok(Self {
            created,
            ..Self::with_index(index, fields)?
        })
    }

    /// Whether the index was made when it was opened: a new installation, or an upgrade to a
    /// new schema, whose index is still to be filled from the database.
    pub fn created(&self) -> bool {
        self.created
    }

    /// An index in memory (tests).
    pub fn in_memory() -> anyhow::Result<Self> {
        let (schema, fields) = schema();
        Self::with_index(builder(schema).create_in_ram()?, fields)
    }

    /// This index, with `relevance` ranking the newest `window` matching posts instead of
    /// [`RELEVANCE_WINDOW`] (tests).
    pub fn with_relevance_window(self, window: usize) -> Self {
        Self {
            window: window.max(1),
            ..self
        }
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
            created: true,
            window: RELEVANCE_WINDOW,
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
                *writer = Some(open_writer_waiting(&inner.index)?);
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

/// The fields every document has: what it is found by, and whose it is.
fn base(kind: Kind, id: Uuid, owner: UserId, text: &str, fields: &Fields) -> TantivyDocument {
    let Analysed {
        words,
        grams,
        chars,
    } = analysis::analyse(text);
    let mut document = TantivyDocument::default();
    document.add_text(fields.id, id.to_string());
    let (high, low) = id.as_u64_pair();
    document.add_u64(fields.id_high, high);
    document.add_u64(fields.id_low, low);
    document.add_u64(fields.kind, kind as u64);
    document.add_text(fields.author, owner.to_string());
    document.add_pre_tokenized_text(fields.words, pre_tokenized(&words));
    document.add_pre_tokenized_text(fields.grams, pre_tokenized(&grams));
    document.add_pre_tokenized_text(fields.chars, pre_tokenized(&chars));
    document
}

fn post_document(post: &PostDocument, fields: &Fields) -> TantivyDocument {
    let text = analysis::post_text(post);
    let mut document = base(
        Kind::Post,
        *post.id.as_uuid(),
        post.author_id,
        &text,
        fields,
    );
    document.add_u64(fields.public, u64::from(post.public));
    for tag in &post.hashtags {
        document.add_text(fields.tags, analysis::normalise(tag));
    }
    let created = post.created_at.as_millis();
    document.add_i64(fields.created, created);
    document.add_i64(fields.popularity, popularity(post.like_count, created));
    document
}

/// An account: its own author (so [`SearchIndex::remove_author`] takes it too); its nickname
/// words are its "tags", so a whole nickname ranks first; no creation time.
fn user_document(user: &UserDocument, fields: &Fields) -> TantivyDocument {
    let text = analysis::user_text(user);
    let mut document = base(Kind::User, *user.id.as_uuid(), user.id, &text, fields);
    document.add_u64(fields.public, 1);
    for word in analysis::words(&user.nickname) {
        document.add_text(fields.tags, word);
    }
    document.add_i64(fields.created, 0);
    document.add_i64(fields.popularity, popularity(user.followers_count, 0));
    document
}

/// The query for `text`: every word must be found, as a fragment of an indexed word (its
/// bigrams as a phrase, or the character for a one-character word); whole words and hashtags
/// score higher. `None` when the text has no words.
fn query(text: &str, public_only: bool, kind: Kind, fields: &Fields) -> Option<Box<dyn Query>> {
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
    // Filters as exclusions where the excluded documents are the few (accounts among posts,
    // followers-only posts among public ones): intersecting with a posting list of nearly every
    // document costs a pass over it per query.
    let term = |field: Field, value: u64| -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_u64(field, value),
            IndexRecordOption::Basic,
        ))
    };
    match kind {
        Kind::Post => clauses.push((Occur::MustNot, term(fields.kind, Kind::User as u64))),
        Kind::User => clauses.push((Occur::Must, term(fields.kind, Kind::User as u64))),
    }
    if public_only {
        clauses.push((Occur::MustNot, term(fields.public, 0)));
    }
    Some(Box::new(BooleanQuery::new(clauses)))
}

/// A hit being collected, ordered as pages go (the first of a page is the least): the highest
/// key first, ties by the highest id (a UUID's order is its text's, the order OpenSearch sorts
/// the `id` keyword in).
#[derive(Clone, Copy, PartialEq)]
struct Ranked(f64, Uuid);

impl Eq for Ranked {}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other
            .0
            .total_cmp(&self.0)
            .then_with(|| other.1.cmp(&self.1))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The first `limit` hits in page order after a position: a heap whose top is the last of
/// them, so a hit that would come later is turned away by its key alone, before its id is read.
struct Page {
    limit: usize,
    after: Option<Ranked>,
    heap: BinaryHeap<Ranked>,
}

impl Page {
    fn new(limit: usize, after: Option<Ranked>) -> Self {
        Self {
            limit,
            after,
            heap: BinaryHeap::with_capacity(limit + 1),
        }
    }

    /// Whether every hit with a key below `key` would be turned away: the page is full and
    /// its last hit has a higher key.
    fn full_above(&self, key: f64) -> bool {
        self.heap.len() >= self.limit && self.heap.peek().is_some_and(|last| key < last.0)
    }

    /// Whether a hit with `key` may belong on the page (its id decides ties).
    fn may_take(&self, key: f64) -> bool {
        self.after.is_none_or(|after| key <= after.0) && !self.full_above(key)
    }

    fn offer(&mut self, hit: Ranked) {
        if self.after.is_some_and(|after| hit <= after) {
            return;
        }
        if self.heap.len() < self.limit {
            self.heap.push(hit);
        } else if self.heap.peek().is_some_and(|last| hit < *last) {
            self.heap.pop();
            self.heap.push(hit);
        }
    }

    fn into_hits(self) -> Vec<(f64, Uuid)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|Ranked(key, id)| (key, id))
            .collect()
    }
}

/// The first document of a segment (sorted newest first) created at or before `key`.
fn first_at_or_before(created: &Column<i64>, max_doc: DocId, key: f64) -> DocId {
    let (mut low, mut high) = (0, max_doc);
    while low < high {
        let middle = low + (high - low) / 2;
        if created
            .first(middle)
            .is_none_or(|value| value as f64 <= key)
        {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    low
}

impl Inner {
    /// The hits of a search, in page order. Segments are read newest first, and each holds
    /// its documents newest first (the index is sorted by `created`), so `recent` reads only
    /// the head of each segment: once the page is full, the rest of a segment is older than
    /// its last hit. `relevance` ranks the newest `window` matching posts (a query's cost does
    /// not grow with the index: a social network's search ranks recent posts, as Twitter's
    /// Earlybird does); `popular` and accounts read every match.
    fn search(
        &self,
        search: &Search<'_>,
        kind: Kind,
        window: usize,
    ) -> tantivy::Result<Vec<(f64, Uuid)>> {
        let sort = kind.sort(search.sort);
        let Some(query) = query(search.query, search.public_only, kind, &self.fields) else {
            return Ok(Vec::new());
        };
        let searcher = self.reader.searcher();
        let scoring = if sort == SearchSort::Relevance {
            EnableScoring::enabled_from_searcher(&searcher)
        } else {
            EnableScoring::disabled_from_searcher(&searcher)
        };
        let weight = query.weight(scoring)?;
        let mut page = Page::new(
            search.limit.max(1),
            search.after.map(|after| Ranked(after.key, after.id)),
        );
        let mut segments = Vec::new();
        for segment in searcher.segment_readers() {
            let created = segment.fast_fields().i64("created")?;
            segments.push((created.max_value(), created, segment));
        }
        segments.sort_by_key(|(newest, ..)| std::cmp::Reverse(*newest));
        let mut window = if kind == Kind::Post && sort == SearchSort::Relevance {
            window
        } else {
            usize::MAX
        };
        for (newest, created, segment) in segments {
            if sort == SearchSort::Recent && page.full_above(newest as f64) {
                break;
            }
            let fast = segment.fast_fields();
            let (high, low) = (fast.u64("id_high")?, fast.u64("id_low")?);
            // The fast field a sort reads its key from (relevance scores instead).
            let keys = match sort {
                SearchSort::Relevance => None,
                SearchSort::Recent => Some(created.clone()),
                SearchSort::Popular => Some(fast.i64("popularity")?),
            };
            let mut scorer = weight.scorer(segment, 1.0)?;
            if let (SearchSort::Recent, Some(after)) = (sort, page.after) {
                let start = first_at_or_before(&created, segment.max_doc(), after.0);
                if scorer.doc() < start {
                    scorer.seek(start);
                }
            }
            let alive = segment.alive_bitset();
            let mut doc = scorer.doc();
            while doc != TERMINATED {
                if alive.is_none_or(|alive| alive.is_alive(doc)) {
                    let key = match &keys {
                        Some(column) => column.first(doc).unwrap_or(0) as f64,
                        None => f64::from(scorer.score()),
                    };
                    if page.may_take(key) {
                        if let (Some(high), Some(low)) = (high.first(doc), low.first(doc)) {
                            page.offer(Ranked(key, Uuid::from_u64_pair(high, low)));
                        }
                    } else if sort == SearchSort::Recent && page.full_above(key) {
                        break;
                    }
                    window -= 1;
                    if window == 0 {
                        return Ok(page.into_hits());
                    }
                }
                doc = scorer.advance();
            }
        }
        Ok(page.into_hits())
    }
}

impl TantivySearch {
    /// Replaces the document with `id` (if any) by `document`.
    async fn put(
        &self,
        id: Uuid,
        document: impl FnOnce(&Fields) -> TantivyDocument + Send + 'static,
    ) -> Result<(), SearchError> {
        self.write(move |writer, fields| {
            writer.delete_term(Term::from_field_text(fields.id, &id.to_string()));
            writer.add_document(document(fields))?;
            Ok(())
        })
        .await
    }

    async fn remove(&self, field: fn(&Fields) -> Field, id: Uuid) -> Result<(), SearchError> {
        self.write(move |writer, fields| {
            writer.delete_term(Term::from_field_text(field(fields), &id.to_string()));
            Ok(())
        })
        .await
    }

    async fn find(&self, search: &Search<'_>, kind: Kind) -> Result<Vec<(f64, Uuid)>, SearchError> {
        let inner = Arc::clone(&self.inner);
        let window = self.window;
        let owned = (
            search.query.to_owned(),
            search.sort,
            search.public_only,
            search.after,
            search.limit,
        );
        tokio::task::spawn_blocking(move || {
            let (query, sort, public_only, after, limit) = owned;
            let search = Search {
                query: &query,
                sort,
                public_only,
                after,
                limit,
            };
            inner.search(&search, kind, window).map_err(failed)
        })
        .await
        .map_err(failed)?
    }
}

/// Makes what `writer` holds searchable: commits, waits for merges, reloads the reader.
fn commit(inner: &Inner, mut writer: IndexWriter<TantivyDocument>) -> Result<(), SearchError> {
    writer.commit().map_err(failed)?;
    if let Err(error) = writer.wait_merging_threads() {
        // What was committed stands; a merge is tried again with later segments.
        tracing::warn!(%error, "a search index merge failed");
    }
    inner.reader.reload().map_err(failed)
}

#[async_trait]
impl SearchIndex for TantivySearch {
    async fn put_post(&self, post: PostDocument) -> Result<(), SearchError> {
        self.put(*post.id.as_uuid(), move |fields| {
            post_document(&post, fields)
        })
        .await
    }

    async fn remove_post(&self, post_id: PostId) -> Result<(), SearchError> {
        self.remove(|fields| fields.id, *post_id.as_uuid()).await
    }

    async fn put_user(&self, user: UserDocument) -> Result<(), SearchError> {
        self.put(*user.id.as_uuid(), move |fields| {
            user_document(&user, fields)
        })
        .await
    }

    async fn remove_user(&self, user_id: UserId) -> Result<(), SearchError> {
        self.remove(|fields| fields.id, *user_id.as_uuid()).await
    }

    async fn remove_author(&self, author_id: UserId) -> Result<(), SearchError> {
        self.remove(|fields| fields.author, *author_id.as_uuid())
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
            match taken {
                Some(writer) => commit(&inner, writer),
                None => Ok(()),
            }
        })
        .await
        .map_err(failed)?
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
        // The rebuild owns a writer of its own until it switches, so no commit in between (of
        // this process's indexer, or another's, which cannot take the lock meanwhile) shows
        // a half-built index; every document goes, and what is put replaces it, in one commit.
        let inner = Arc::clone(&self.inner);
        let writer = tokio::task::spawn_blocking(move || -> Result<_, SearchError> {
            let open = inner
                .writer
                .lock()
                .map_err(|_| SearchError::Index("the writer lock is poisoned".into()))?
                .take();
            let writer = match open {
                Some(writer) => writer,
                None => open_writer_waiting(&inner.index)?,
            };
            writer.delete_all_documents().map_err(failed)?;
            Ok(writer)
        })
        .await
        .map_err(failed)??;
        Ok(Box::new(TantivyRebuild {
            inner: Arc::clone(&self.inner),
            writer,
        }))
    }
}

/// A writer, waiting (up to [`WRITER_WAIT`]) while another process holds the index's lock: an
/// indexer between its writes and its commit, or a rebuild until it switches.
fn open_writer_waiting(index: &Index) -> Result<IndexWriter<TantivyDocument>, SearchError> {
    let deadline = std::time::Instant::now() + WRITER_WAIT;
    loop {
        match index.writer_with_num_threads(1, WRITER_MEMORY) {
            Ok(writer) => return Ok(writer),
            Err(tantivy::TantivyError::LockFailure(..)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(error) => return Err(failed(error)),
        }
    }
}

struct TantivyRebuild {
    inner: Arc<Inner>,
    writer: IndexWriter<TantivyDocument>,
}

impl TantivyRebuild {
    fn add(&mut self, documents: impl Iterator<Item = TantivyDocument>) -> Result<(), SearchError> {
        for document in documents {
            self.writer.add_document(document).map_err(failed)?;
        }
        Ok(())
    }
}

#[async_trait]
impl IndexRebuild for TantivyRebuild {
    // A page is analysed on the calling thread (about a millisecond per hundred posts); the
    // writer's own thread indexes it.
    async fn put_posts(&mut self, posts: Vec<PostDocument>) -> Result<(), SearchError> {
        let fields = self.inner.fields;
        self.add(posts.iter().map(|post| post_document(post, &fields)))
    }

    async fn put_users(&mut self, users: Vec<UserDocument>) -> Result<(), SearchError> {
        let fields = self.inner.fields;
        self.add(users.iter().map(|user| user_document(user, &fields)))
    }

    async fn switch(self: Box<Self>) -> Result<(), SearchError> {
        let Self { inner, writer } = *self;
        tokio::task::spawn_blocking(move || commit(&inner, writer))
            .await
            .map_err(failed)?
    }
}
