//! The search suite, in process: `--search-posts` (1,000,000) generated posts, Korean and
//! English mixed with realistic lengths and hashtags and words drawn as word frequencies go (a
//! few common words in most posts, 20,000 rarer ones per language), indexed through the search
//! port into the embedded index on disk (batched as the indexer batches: one commit per 256), against raw
//! tantivy indexing the same texts into one field with its default tokenizer (the reference);
//! then fragment queries (Korean and English, 2–3 characters and whole words) through the port
//! on two tasks, with P50/P99; a new post's put-and-commit latency on the full index; and the
//! index's size and this process's memory.
//!
//! Then over HTTP ([`print_http`]): the same posts written straight into a fresh SQLite database
//! and indexed by `veilgram reindex` (its rate), a `veilgram serve` on them answering searches
//! at its maximum rate and at 80% of it (open loop), against the same queries on the same index
//! in this process; the time from a post's creation over HTTP to its first search hit; and the
//! server's memory.

use std::time::{Duration, Instant};
use veilgram_core::ports::{PostDocument, Search, SearchIndex, SearchSort};
use veilgram_core::{PostId, Timestamp, UserId};
use veilgram_search::TantivySearch;

use crate::feeds::Xorshift;
use crate::realtime::{percentile, rss_mb};
use crate::{connect, run, start_server, Call};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use std::path::PathBuf;
use std::sync::Arc;

const KOREAN: &[&str] = &[
    "서울에서",
    "서울의",
    "인스타그램",
    "맛집",
    "카페에서",
    "여행",
    "사진을",
    "고양이가",
    "강아지와",
    "바다",
    "하늘이",
    "야경",
    "주말에",
    "친구들과",
    "커피",
    "점심",
    "저녁은",
    "부산",
    "제주도",
    "산책",
    "음악",
    "영화를",
    "오늘은",
    "정말",
    "너무",
    "좋아요",
    "행복한",
    "날씨가",
    "한강",
    "공원에서",
];
const ENGLISH: &[&str] = &[
    "photography",
    "coffee",
    "travel",
    "weekend",
    "sunset",
    "river",
    "friends",
    "music",
    "coding",
    "rust",
    "morning",
    "walk",
    "beautiful",
    "city",
    "night",
    "food",
    "with",
    "the",
    "today",
    "amazing",
];
const TAGS: &[&str] = &[
    "서울", "맛집", "여행", "일상", "카페", "야경", "photo", "travel", "foodie", "ootd",
];
const QUERIES: &[&str] = &[
    "서울", "스타", "맛집", "카페", "고양", "바다", "야경", "photo", "graph", "coff", "sun",
    "travel", "한강", "산책", "ood",
];

/// Syllables the rarer Korean words are made of.
const SYLLABLES: &[&str] = &[
    "가", "나", "다", "라", "마", "바", "사", "아", "자", "차", "카", "타", "파", "하", "강", "동",
    "산", "성", "수", "영", "원", "정", "주", "진", "천", "초", "한", "해", "호", "화",
];
/// Letters the rarer English words are made of.
const LETTERS: &[u8] = b"abcdefghiklmnoprstuw";
/// Words of each language beyond the common ones above.
const RARE_WORDS: usize = 20_000;

/// A language's words, most common first: the common words above, then made-up rarer ones.
fn vocabulary(common: &[&str], make: impl Fn(&mut Xorshift) -> String) -> Vec<String> {
    let mut random = Xorshift(0x0DDB_A11D_0DDB_A11D);
    let mut words: Vec<String> = common.iter().map(|word| (*word).to_owned()).collect();
    words.extend((0..RARE_WORDS).map(|_| make(&mut random)));
    words
}

/// A word by rank, roughly as word frequencies go (Zipf): the rank is log-uniform, so the
/// first few words are in most posts and most words are rare.
fn zipf<'a>(random: &mut Xorshift, words: &'a [String]) -> &'a str {
    let unit = (random.next() >> 11) as f64 / (1u64 << 53) as f64;
    let rank = (words.len() as f64).powf(unit) as usize - 1;
    &words[rank.min(words.len() - 1)]
}

/// The generated posts both phases index.
pub fn posts(count: usize) -> Vec<PostDocument> {
    let korean = vocabulary(KOREAN, |random| {
        let length = 2 + (random.next() % 3) as usize;
        (0..length).map(|_| random.pick(SYLLABLES)).collect()
    });
    let english = vocabulary(ENGLISH, |random| {
        let length = 4 + (random.next() % 6) as usize;
        (0..length)
            .map(|_| char::from(LETTERS[(random.next() % LETTERS.len() as u64) as usize]))
            .collect()
    });
    let mut random = Xorshift(0x5EED_5EED_5EED_5EED);
    (0..count)
        .map(|n| {
            let words = 4 + (random.next() % 27) as usize;
            let text: Vec<&str> = (0..words)
                .map(|_| {
                    if random.next().is_multiple_of(3) {
                        zipf(&mut random, &english)
                    } else {
                        zipf(&mut random, &korean)
                    }
                })
                .collect();
            let tags = (random.next() % 4) as usize;
            PostDocument {
                id: PostId::generate(),
                author_id: UserId::random(),
                text: text.join(" "),
                hashtags: (0..tags).map(|_| random.pick(TAGS).to_owned()).collect(),
                public: !random.next().is_multiple_of(5),
                created_at: Timestamp::from_millis(1_800_000_000_000 + n as i64),
                like_count: (random.next() % 50) as i64,
            }
        })
        .collect()
}

/// Where [`TantivySearch::open`] keeps the index of this schema under `directory`.
fn versioned(directory: &std::path::Path) -> PathBuf {
    directory.join(format!("v{}", veilgram_search::index::SCHEMA_VERSION))
}

fn directory_bytes(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.metadata().ok())
                .filter(std::fs::Metadata::is_file)
                .map(|metadata| metadata.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Raw tantivy: the same texts into one TEXT field, default tokenizer, one writer, one commit.
fn raw_tantivy(documents: &[PostDocument]) -> anyhow::Result<f64> {
    use tantivy::schema::{Schema, TEXT};
    let mut builder = Schema::builder();
    let text = builder.add_text_field("text", TEXT);
    let directory = tempfile::tempdir()?;
    let index = tantivy::Index::create_in_dir(directory.path(), builder.build())?;
    let mut writer: tantivy::IndexWriter = index.writer_with_num_threads(1, 30_000_000)?;
    let started = Instant::now();
    for document in documents {
        let mut raw = tantivy::TantivyDocument::default();
        raw.add_text(text, veilgram_search::analysis::post_text(document));
        writer.add_document(raw)?;
    }
    writer.commit()?;
    Ok(documents.len() as f64 / started.elapsed().as_secs_f64())
}

/// Runs the searches `make` draws on two tasks for `duration`; each one's latency.
async fn query_tasks(
    index: &TantivySearch,
    duration: Duration,
    make: fn(&mut Xorshift) -> Search<'static>,
) -> anyhow::Result<Vec<Duration>> {
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for worker in 0..2u64 {
        let index = index.clone();
        tasks.push(tokio::spawn(async move {
            let mut random = Xorshift(0xABCD + worker);
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let search = make(&mut random);
                let started = Instant::now();
                index.search_posts(&search).await?;
                latencies.push(started.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    Ok(latencies)
}

/// A phase's P50 and P99 (ms) as two rows under `label`, from latencies in any order.
pub(crate) fn latency_rows(label: &str, latencies: &[Duration]) {
    let mut ms: Vec<f64> = latencies.iter().map(|l| l.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    for (row, (name, quantile)) in [("P50", 0.5), ("P99", 0.99)].into_iter().enumerate() {
        let label = if row == 0 { label } else { "" };
        println!(
            "| {label:<52} | {:>7.2} ms {name} |",
            percentile(&ms, quantile)
        );
    }
}

pub async fn print(documents: Arc<Vec<PostDocument>>) -> anyhow::Result<()> {
    let count = documents.len();
    println!("\nsearch ({count} posts, embedded index on disk, in process)");
    let raw = tokio::task::spawn_blocking({
        let documents = Arc::clone(&documents);
        move || raw_tantivy(&documents)
    })
    .await??;
    let directory = tempfile::tempdir()?;
    let index = TantivySearch::open(directory.path())?;
    let started = Instant::now();
    for batch in documents.chunks(256) {
        for document in batch {
            index.put_post(document.clone()).await?;
        }
        index.commit().await?;
    }
    let ours = count as f64 / started.elapsed().as_secs_f64();
    println!("| {:<52} | {:>14} |", "phase", "figure");
    println!("|{:-<54}|{:->16}|", "", "");
    println!(
        "| {:<52} | {:>10.0} /s |",
        "raw tantivy, one text field (reference)", raw
    );
    println!(
        "| {:<52} | {:>10.0} /s |",
        "through the port: words, bigrams, chars (batches of 256)", ours
    );
    println!(
        "| {:<52} | {:>13.0}% |",
        "  vs raw tantivy",
        ours / raw * 100.0
    );

    // Queries on two tasks for a few seconds, each a fragment of a common word.
    let duration = Duration::from_secs(5);
    let latencies = query_tasks(&index, duration, |random| Search {
        query: random.pick(QUERIES),
        sort: [SearchSort::Relevance, SearchSort::Recent][(random.next() % 2) as usize],
        public_only: random.next().is_multiple_of(2),
        after: None,
        limit: 21,
    })
    .await?;
    println!(
        "| {:<52} | {:>10.0} /s |",
        "queries, 2 tasks (a page of 21)",
        latencies.len() as f64 / duration.as_secs_f64()
    );
    latency_rows("  latency", &latencies);

    // A new post on the full index: put, commit, found.
    let mut fresh = Vec::new();
    for n in 0..50 {
        let mut document = documents[n % count].clone();
        document.id = PostId::generate();
        document.text = format!("새글확인{n} fresh");
        let started = Instant::now();
        index.put_post(document).await?;
        index.commit().await?;
        let query = format!("새글확인{n}");
        let search = Search {
            query: &query,
            sort: SearchSort::Relevance,
            public_only: false,
            after: None,
            limit: 1,
        };
        anyhow::ensure!(!index.search_posts(&search).await?.is_empty(), "not found");
        fresh.push(started.elapsed());
    }
    latency_rows("a new post, put + commit + found", &fresh);
    println!(
        "| {:<52} | {:>10.0} MB |",
        "index size on disk",
        directory_bytes(&versioned(directory.path())) as f64 / 1e6
    );
    println!(
        "| {:<52} | {:>9.0} MiB |",
        "this process's memory (documents kept too)",
        rss_mb(std::process::id())
    );
    Ok(())
}

/// Accounts the HTTP phase's posts are spread over.
const AUTHORS: usize = 1_000;

fn encoded(text: &str) -> String {
    text.bytes().map(|byte| format!("%{byte:02X}")).collect()
}

/// The posts and their authors, straight into the database `veilgram migrate` made.
async fn fill_database(
    data_dir: &std::path::Path,
    documents: &[PostDocument],
) -> anyhow::Result<()> {
    use sqlx::Connection as _;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(data_dir.join("veilgram.db"))
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
    let mut connection = sqlx::SqliteConnection::connect_with(&options).await?;
    let mut transaction = connection.begin().await?;
    let authors: Vec<String> = (0..AUTHORS).map(|_| UserId::random().to_string()).collect();
    for (n, author) in authors.iter().enumerate() {
        sqlx::query(
            "INSERT INTO users (id, nickname, nickname_key, recovery_key_hash, created_at) \
             VALUES ($1, $2, $2, $3, 0)",
        )
        .bind(author)
        .bind(format!("bench_{n}"))
        .bind(vec![0_u8; 32])
        .execute(&mut *transaction)
        .await?;
    }
    for (n, document) in documents.iter().enumerate() {
        let visibility = if document.public {
            "public"
        } else {
            "followers"
        };
        sqlx::query(
            "INSERT INTO posts (id, author_id, text, visibility, created_at, like_count, hashtags) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(document.id.to_string())
        .bind(&authors[n % AUTHORS])
        .bind(&document.text)
        .bind(visibility)
        .bind(document.created_at.as_millis())
        .bind(document.like_count)
        .bind(document.hashtags.join(" "))
        .execute(&mut *transaction)
        .await?;
    }
    transaction.commit().await?;
    Ok(())
}

/// Runs `veilgram <arguments>` on `data_dir`; fails with its error output unless it succeeds.
fn veilgram(
    binary: &PathBuf,
    data_dir: &std::path::Path,
    arguments: &[&str],
) -> anyhow::Result<String> {
    let output = std::process::Command::new(binary)
        .args(arguments)
        .env("VEILGRAM_DATA_DIR", data_dir)
        .env("VEILGRAM_LOG__LEVEL", "warn")
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "veilgram {arguments:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// One request on a fresh connection: its status and JSON body.
/// A new account on the server at `address`: its access token.
pub(crate) async fn sign_up(address: &str) -> anyhow::Result<String> {
    let (status, account) = call(
        address,
        Request::post("/api/v1/auth/signup")
            .header("host", address)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(b"{}")))?,
    )
    .await?;
    anyhow::ensure!(status == 201, "sign-up: {status}");
    Ok(account["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

pub(crate) async fn call(
    address: &str,
    request: Request<Full<Bytes>>,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let mut sender = connect(address).await?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, serde_json::from_slice(&body).unwrap_or_default()))
}

pub async fn print_http(
    documents: &[PostDocument],
    binary: &PathBuf,
    connections: usize,
) -> anyhow::Result<()> {
    let count = documents.len();
    println!("\nsearch over HTTP ({count} posts in SQLite, embedded index, `veilgram serve`)");
    let directory = tempfile::tempdir()?;
    veilgram(binary, directory.path(), &["migrate"])?;
    fill_database(directory.path(), documents).await?;
    let started = Instant::now();
    veilgram(binary, directory.path(), &["reindex"])?;
    let reindexed = (count + AUTHORS) as f64 / started.elapsed().as_secs_f64();

    let server = start_server(binary, directory.path(), None, &[])?;
    let address = server.address.clone();
    let queries = Arc::new(
        QUERIES
            .iter()
            .map(|query| encoded(query))
            .collect::<Vec<_>>(),
    );
    let duration = Duration::from_secs(5);
    let mut maximum = run(
        &address,
        Call::Search(Arc::clone(&queries)),
        connections,
        duration,
        None,
        0,
    )
    .await?;
    let mut paced = run(
        &address,
        Call::Search(Arc::clone(&queries)),
        connections,
        duration,
        Some(maximum.rate() * 0.8),
        0,
    )
    .await?;

    // The same queries on the same index, in this process (as the server runs them: a page
    // of 21, anonymous).
    let index = TantivySearch::open(&directory.path().join("search"))?;
    let in_process = query_tasks(&index, duration, |random| Search {
        query: random.pick(QUERIES),
        sort: SearchSort::Relevance,
        public_only: true,
        after: None,
        limit: 21,
    })
    .await?
    .len();
    let in_process = in_process as f64 / duration.as_secs_f64();

    // From a post's creation (201) to its first search hit.
    let token = sign_up(&address).await?;
    let mut searchable = Vec::new();
    for n in 0..30 {
        let word = format!("검색지연{n}x");
        let body = serde_json::json!({ "text": format!("{word} fresh") }).to_string();
        let (status, _) = call(
            &address,
            Request::post("/api/v1/posts")
                .header("host", &address)
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))?,
        )
        .await?;
        anyhow::ensure!(status == 201, "a post: {status}");
        let created = Instant::now();
        loop {
            let path = format!("/api/v1/search?q={}", encoded(&word));
            let request = Request::get(path)
                .header("host", &address)
                .body(Full::new(Bytes::new()))?;
            let (_, page) = call(&address, request).await?;
            if page["items"]
                .as_array()
                .is_some_and(|items| !items.is_empty())
            {
                break;
            }
            anyhow::ensure!(
                created.elapsed() < Duration::from_secs(30),
                "{word} never found"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        searchable.push(created.elapsed());
    }
    let memory = rss_mb(server.child.id());

    println!("| {:<52} | {:>14} |", "phase", "figure");
    println!("|{:-<54}|{:->16}|", "", "");
    println!(
        "| {:<52} | {:>10.0} /s |",
        "veilgram reindex (posts and accounts)", reindexed
    );
    println!(
        "| {:<52} | {:>10.0} /s |",
        "in process, 2 tasks (reference)", in_process
    );
    println!(
        "| {:<52} | {:>10.0} /s |",
        format!("HTTP, {connections} connections, as fast as answered"),
        maximum.rate()
    );
    println!(
        "| {:<52} | {:>13.0}% |",
        "  vs in process",
        maximum.rate() / in_process * 100.0
    );
    println!("| {:<52} | {:>7.2} ms P50 |", "", maximum.percentile(0.5));
    println!("| {:<52} | {:>7.2} ms P99 |", "", maximum.percentile(0.99));
    println!(
        "| {:<52} | {:>10.0} /s |",
        "HTTP at 80% of that (open loop)",
        paced.rate()
    );
    println!("| {:<52} | {:>7.2} ms P50 |", "", paced.percentile(0.5));
    println!("| {:<52} | {:>7.2} ms P99 |", "", paced.percentile(0.99));
    println!(
        "| {:<52} | {:>14} |",
        "  failed requests (both phases)",
        maximum.failed + paced.failed
    );
    latency_rows("a new post, created to found over HTTP", &searchable);
    println!(
        "| {:<52} | {:>10.0} MB |",
        "index size on disk",
        directory_bytes(
            &directory
                .path()
                .join("search")
                .join(format!("v{}", veilgram_search::index::SCHEMA_VERSION))
        ) as f64
            / 1e6
    );
    println!("| {:<52} | {:>9.0} MiB |", "server memory (RSS)", memory);
    Ok(())
}
