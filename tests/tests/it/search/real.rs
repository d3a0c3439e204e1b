//! Search on PostgreSQL: its own `websearch_to_tsquery` answers are the
//! oracle for the embedded index's, over the text of a mockhop stream;
//! hostile queries; a failed text write inside the insert statement.

use super::{matches, rows_of, stream};
use crate::support::fresh_database;
use archiver::index::{self, Index, ListQuery};
use archiver::text::query::SearchQuery;
use std::collections::BTreeSet;
use uuid::Uuid;

/// The documented subset (README, "Searching"): words of letters and
/// digits, stems, `"phrases"` of such words, `or`, `-exclusion`, stop
/// words — over texts with e-mail addresses, URLs, paths and decimals in
/// them, which PostgreSQL keeps whole: a word found only inside one of
/// those (`swift` in `GCN/SWIFT`) is outside the subset.
const QUERIES: &[&str] = &[
    "burst",
    "bursts",
    "neutrino counterpart",
    "\"optical afterglow\"",
    "\"upper limits\"",
    "afterglow or neutrino",
    "galaxy -redshift",
    "\"Fermi-GBM\"",
    "icecube or ztf",
    "\"GCN CIRCULAR\"",
    "preliminary",
    "retraction -preliminary",
    "Müller",
    "Ångström",
    "observation",
    "telescope filter",
    "the",
    "\"the burst\"",
    "magnitude or redshift -photometry",
    "Barthelmy",
    "position",
    "astrotrack gold",
    "x-ray",
    "gamma-ray burst",
];

/// Every query of the subset gives the same messages on PostgreSQL and
/// SQLite, and on PostgreSQL exactly what its own `to_tsvector` and
/// `websearch_to_tsquery` say of the texts (computed here in SQL, not by
/// the index's query).
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_answers_as_postgres_does_for_the_documented_subset() {
    let rows = rows_of(&stream(11, 800));
    let pg_url = fresh_database("search_oracle").await;
    let pg = index::open(&pg_url).await.expect("postgres");
    let sqlite = index::open("sqlite::memory:").await.expect("sqlite");
    for chunk in rows.chunks(200) {
        pg.insert_batch(chunk).await.expect("insert");
        sqlite.insert_batch(chunk).await.expect("insert");
    }
    let pool = sqlx::PgPool::connect(&pg_url).await.expect("connect");
    let mut matched_some = 0;
    for query in QUERIES {
        let oracle: BTreeSet<Uuid> = rows
            .iter()
            .filter(|r| r.text_fully_indexed.is_some())
            .map(|r| (r.uuid, r.text.clone().unwrap_or_default()))
            .collect::<Vec<_>>()
            .chunks(500)
            .map(|chunk| async {
                let (uuids, texts): (Vec<Uuid>, Vec<String>) = chunk.iter().cloned().unzip();
                sqlx::query_scalar::<_, Uuid>(
                    "SELECT u FROM UNNEST($1::uuid[], $2::text[]) AS t(u, body) \
                     WHERE to_tsvector('english', body) @@ websearch_to_tsquery('english', $3)",
                )
                .bind(uuids)
                .bind(texts)
                .bind(*query)
                .fetch_all(&pool)
                .await
                .expect("oracle")
            })
            .collect::<futures::stream::FuturesOrdered<_>>()
            .collect::<Vec<Vec<Uuid>>>()
            .await
            .into_iter()
            .flatten()
            .collect();
        let on_pg = matches(&*pg, query).await;
        let on_sqlite = matches(&*sqlite, query).await;
        assert_eq!(on_pg, oracle, "{query:?}: the index's search is PostgreSQL's own");
        let differing: Vec<(bool, &str)> = on_pg
            .symmetric_difference(&on_sqlite)
            .filter_map(|u| Some((on_pg.contains(u), rows.iter().find(|r| r.uuid == *u)?.text.as_deref()?)))
            .take(3)
            .collect();
        assert!(
            differing.is_empty(),
            "{query:?}: SQLite differs from PostgreSQL on texts such as (matched by PostgreSQL?, text) {differing:#?}"
        );
        let count = |index: std::sync::Arc<dyn Index>| async move {
            let search = Some(SearchQuery::parse(query).expect("query"));
            index.count(&ListQuery { search, ..ListQuery::every_row(Vec::new(), 1) }).await.expect("count")
        };
        assert_eq!(count(pg.clone()).await, oracle.len() as u64, "{query:?}: count");
        assert_eq!(count(sqlite.clone()).await, oracle.len() as u64, "{query:?}: count on SQLite");
        matched_some += usize::from(!oracle.is_empty() && oracle.len() < rows.len());
    }
    assert!(matched_some >= QUERIES.len() / 2, "the queries select: {matched_some} of {}", QUERIES.len());
}

use futures::StreamExt as _;

/// Quotes, operators, SQL, NUL, 10 KB, unicode: refused by the query check
/// or answered, never an index error, on both backends.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_search_strings_are_refused_or_answered_on_both_backends() {
    let rows = rows_of(&stream(12, 200));
    let pg = index::open(&fresh_database("search_hostile").await).await.expect("postgres");
    let sqlite = index::open("sqlite::memory:").await.expect("sqlite");
    pg.insert_batch(&rows).await.expect("insert");
    sqlite.insert_batch(&rows).await.expect("insert");
    let long = "burst ".repeat(2000);
    let hostile = [
        "\"",
        "\"\"",
        "\"unterminated burst",
        "'",
        "burst' OR 1=1; --",
        "'; DROP TABLE messages; --",
        "burst & | ! ( ) <-> :* <2>",
        "NEAR(burst neutrino)",
        "burst AND OR NOT",
        "-",
        "--burst",
        "burst -",
        "\\",
        "\\\"burst\\\"",
        "💥 burst",
        "ＧＲＢ",
        "\u{202e}burst",
        "burst\u{0}",
        &long,
        "*",
        "burst*",
        "^burst",
        "message_text MATCH 'x'",
        "{burst}",
        "burst:A",
        "or",
        "-or burst",
    ];
    for query in hostile {
        let Ok(search) = SearchQuery::parse(query) else { continue };
        for index in [&pg, &sqlite] {
            let list = ListQuery { search: Some(search.clone()), ..ListQuery::every_row(Vec::new(), 10) };
            if let Err(e) = index.list(&list).await {
                panic!("{query:?} on {index:?}: {e}");
            }
        }
    }
    assert!(SearchQuery::parse(&long).is_err(), "a 12 KB query is refused");
    assert!(SearchQuery::parse("burst\u{0}").is_err(), "NUL is refused");
}

/// PostgreSQL writes a row and its text entry in one statement: a text
/// entry that cannot be written (a trigger refuses it) takes the row and
/// its statistics with it; the same batch goes in whole once it can.
#[tokio::test(flavor = "multi_thread")]
async fn regression_a_failed_text_write_leaves_no_row_on_postgres() {
    let url = fresh_database("search_atomic").await;
    let index = index::open(&url).await.expect("postgres");
    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    for sql in [
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected'; END $$",
        "CREATE TRIGGER refuse BEFORE INSERT ON message_ts FOR EACH ROW EXECUTE FUNCTION refuse()",
    ] {
        sqlx::query(sql).execute(&pool).await.expect("fault in");
    }
    let mut rows: Vec<_> =
        (1..=3u128).map(|n| hop_archiver_tests::rows::row(Uuid::from_u128(n), "t", &format!("t/{n}"), 10)).collect();
    rows[1].text_fully_indexed = Some(false);
    rows[1].text = Some("burst".into());
    assert!(index.insert_batch(&rows).await.is_err(), "the text write fails");
    for row in &rows {
        assert_eq!(index.get(row.uuid).await.expect("get"), None, "no row of the batch without its entry");
    }
    assert!(index.topic_stats().await.expect("stats").is_empty(), "nothing counted");
    sqlx::query("DROP TRIGGER refuse ON message_ts").execute(&pool).await.expect("fault out");
    assert_eq!(index.insert_batch(&rows).await.expect("insert"), [true, true, true]);
    assert_eq!(matches(&*index, "burst").await, BTreeSet::from([rows[1].uuid]));
    let orphans: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM messages m WHERE text_fully_indexed IS NOT NULL \
                 AND NOT EXISTS (SELECT 1 FROM message_ts t WHERE t.uuid = m.uuid)) \
              + (SELECT COUNT(*) FROM message_ts t WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.uuid = t.uuid))",
    )
    .fetch_one(&pool)
    .await
    .expect("orphans");
    assert_eq!(orphans, 0, "every row of a text-indexed topic has its entry, and every entry its row");
}

/// `set_texts` (what `reindex-text` writes) on both backends: the flag and
/// the entry change together, a second write replaces the first, unknown
/// UUIDs are skipped, and `rows_without_text` selects what is missing (or
/// partial, when asked).
#[tokio::test(flavor = "multi_thread")]
async fn set_texts_writes_and_replaces_entries_on_both_backends() {
    use archiver::index::RowText;
    let pg = index::open(&fresh_database("search_set_texts").await).await.expect("postgres");
    let sqlite = index::open("sqlite::memory:").await.expect("sqlite");
    let rows: Vec<_> =
        (1..=4u128).map(|n| hop_archiver_tests::rows::row(Uuid::from_u128(n), "t", &format!("t/{n}"), 10)).collect();
    let topics = vec!["t".to_owned()];
    for index in [&pg, &sqlite] {
        index.insert_batch(&rows).await.expect("insert");
        let missing = index.rows_without_text(&topics, 0, false, 1000).await.expect("rows");
        assert_eq!(missing.len(), 4, "{index:?}: rows written without text");
        let text =
            |n: u128, text: &str, fully_indexed| RowText { uuid: Uuid::from_u128(n), text: text.into(), fully_indexed };
        let first = [text(1, "kilonova", true), text(2, "kilonova afterglow", false), text(99, "kilonova", true)];
        assert_eq!(index.set_texts(&first).await.expect("set_texts"), 2, "{index:?}: the unknown UUID is skipped");
        assert_eq!(matches(&**index, "kilonova").await, BTreeSet::from([rows[0].uuid, rows[1].uuid]), "{index:?}");
        assert_eq!(index.get(rows[1].uuid).await.expect("get").expect("row").row.text_fully_indexed, Some(false));
        let topics = &topics;
        let after = |partial| async move { index.rows_without_text(topics, 0, partial, 1000).await.expect("rows") };
        let uuids = |entries: Vec<archiver::index::IndexEntry>| entries.iter().map(|e| e.row.uuid).collect::<Vec<_>>();
        assert_eq!(uuids(after(false).await), [rows[2].uuid, rows[3].uuid], "{index:?}");
        assert_eq!(uuids(after(true).await), [rows[1].uuid, rows[2].uuid, rows[3].uuid], "{index:?}: partial too");
        let first_id = index.get(rows[0].uuid).await.expect("get").expect("row").id;
        assert_eq!(uuids(index.rows_without_text(topics, first_id + 1, false, 1).await.expect("rows")), [rows[2].uuid]);
        assert_eq!(index.set_texts(&[text(2, "neutrino", true)]).await.expect("set_texts"), 1);
        assert_eq!(matches(&**index, "kilonova").await, BTreeSet::from([rows[0].uuid]), "{index:?}: replaced");
        assert_eq!(matches(&**index, "neutrino").await, BTreeSet::from([rows[1].uuid]), "{index:?}");
        assert_eq!(index.get(rows[1].uuid).await.expect("get").expect("row").row.text_fully_indexed, Some(true));
    }
}
