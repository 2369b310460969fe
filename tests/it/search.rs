//! `praxis search` in scripts with combining marks (Hindi, Tamil, Bengali):
//! whole words match, fragments and words in no message do not, `prefix*`
//! finds the words it begins, and a database indexed before migration
//! 0012 finds its old posts once upgraded. (The grammar's operators,
//! ranking and paging: `search_grammar.rs`.)

use serde_json::Value;

use crate::support::Home;

/// Feeds `raw` to `praxis ingest -c health`, which must accept it.
pub(crate) fn ingest(home: &Home, raw: &str) {
    home.praxis()
        .args(["ingest", "-c", "health"])
        .write_stdin(raw.to_string())
        .assert()
        .success();
}

/// The subjects `praxis search TEXT --json` finds, in rank order.
fn found(home: &Home, text: &str) -> Vec<String> {
    let hits: Value = home.json(&["search", text, "--json"]);
    hits.as_array()
        .unwrap()
        .iter()
        .map(|h| h["subject"].as_str().unwrap().to_string())
        .collect()
}

fn snippets(home: &Home, text: &str) -> Vec<String> {
    let hits: Value = home.json(&["search", text, "--json"]);
    hits.as_array()
        .unwrap()
        .iter()
        .map(|h| h["snippet"].as_str().unwrap().to_string())
        .collect()
}

/// One accepted poster; four approved posts as real RFC 5322 bytes (UTF-8,
/// 8bit and base64 bodies, an encoded-word subject): Hindi, Tamil, Bengali
/// and English.
fn community_with_posts(home: &Home) {
    home.praxis()
        .args(["members", "add", "asha@example.org", "-c", "health"])
        .args(["--name", "Asha", "--moderation", "accept"])
        .assert()
        .success();
    let post = |id: &str, subject: &str, headers: &str, body: &str| {
        ingest(
            home,
            &format!(
                "From: Asha <asha@example.org>\nTo: list@example.test\nSubject: {subject}\nMessage-ID: <{id}@example.org>\nDate: Mon, 2 Nov 2026 10:00:00 +0530\nMIME-Version: 1.0\n{headers}\n{body}\n"
            ),
        );
    };
    // "In the flood areas we set up health camps; people benefited."
    // It holds the fragments फ, ल and म that the old tokenizer cut "फ़िल्म" into.
    post(
        "hi",
        "=?UTF-8?B?4KS24KS/4KS14KS/4KSwIChoaW5kaSk=?=",
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n",
        "हमने बाढ़ वाले इलाकों में स्वास्थ्य शिविर लगाए, लोगों को फ़ायदा हुआ।",
    );
    post(
        "ta",
        "Tamil camp",
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n",
        // "We held a medical camp in the villages."
        "4K6V4K6/4K6w4K6+4K6u4K6Z4K+N4K6V4K6z4K6/4K6y4K+NIOCuruCusOCvgeCupOCvjeCupOCv
geCutSDgrq7gr4HgrpXgrr7grq7gr40g4K6o4K6f4K6k4K+N4K6k4K6/4K6p4K+L4K6u4K+NLg==",
    );
    post(
        "bn",
        "Bengali camp",
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n",
        // "We held a health camp by boat."
        "আমরা নৌকায় স্বাস্থ্য শিবির করেছি।",
    );
    post(
        "en",
        "Water quality",
        "Content-Type: text/plain; charset=us-ascii\n",
        "Too much fluoride in the hand pumps of the district.",
    );
}

#[test]
fn words_in_indic_scripts_find_exactly_their_posts() {
    let home = Home::new();
    community_with_posts(&home);
    // A word in no message (the example) and the fragments the old
    // tokenizer made of it find nothing.
    assert_eq!(found(&home, "फ़िल्म"), Vec::<String>::new());
    assert_eq!(found(&home, "फ़िल"), Vec::<String>::new());
    // Hindi: the word whole, in the body or the (encoded-word) subject.
    assert_eq!(found(&home, "स्वास्थ्य शिविर"), ["शिविर (hindi)"]);
    assert_eq!(found(&home, "शिविर"), ["शिविर (hindi)"]);
    assert_eq!(found(&home, "फ़ायदा"), ["शिविर (hindi)"]);
    // Tamil and Bengali: their words, and a word of one script finds only its post.
    assert_eq!(found(&home, "முகாம்"), ["Tamil camp"]);
    assert_eq!(found(&home, "மருத்துவ முகாம்"), ["Tamil camp"]);
    assert_eq!(found(&home, "শিবির"), ["Bengali camp"]);
    assert_eq!(found(&home, "নৌকায়"), ["Bengali camp"]);
    assert_eq!(found(&home, "স্বাস্থ্য"), ["Bengali camp"]);
    // Prefixes, in Latin and Devanagari; a bare prefix without * is no word.
    assert_eq!(found(&home, "fluor*"), ["Water quality"]);
    assert_eq!(found(&home, "fluor"), Vec::<String>::new());
    assert_eq!(found(&home, "स्वास्*"), ["शिविर (hindi)"]);
    // A phrase must occur as written.
    assert_eq!(found(&home, "\"hand pumps\""), ["Water quality"]);
    assert_eq!(found(&home, "\"pumps hand\""), Vec::<String>::new());
    // Snippets cut between words, never inside one.
    let s = snippets(&home, "शिविर");
    assert!(s[0].contains("[शिविर]"), "{s:?}");
    assert!(s[0].contains("स्वास्थ्य [शिविर] लगाए"), "{s:?}");
    let s = snippets(&home, "முகாம்");
    assert!(s[0].contains("மருத்துவ [முகாம்] நடத்தினோம்"), "{s:?}");
}

/// A query and its Consolidated Reply, published, written in Bengali
/// ("Boat clinics worked in the floods").
fn publish_bengali_reply(home: &Home) {
    ingest(
        home,
        "From: Asha <asha@example.org>\nTo: list@example.test\nSubject: Boat clinics?\nMessage-ID: <q@example.org>\nDate: Mon, 2 Nov 2026 11:00:00 +0530\n\nHas anyone run boat clinics?\n",
    );
    let threads = home.json(&["threads", "--queries", "--json"]);
    let id = threads
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["subject"] == "Boat clinics?")
        .unwrap_or_else(|| panic!("the question is a query: {threads}"))["id"]
        .to_string();
    let file = home.path().join("draft.md");
    std::fs::write(&file, "নৌকা ক্লিনিক বন্যায় কাজ করেছে।\n").unwrap();
    home.stdout(&["consolidate", &id, "--from", file.to_str().unwrap()]);
    home.stdout(&["publish", &id]);
}

/// A Consolidated Reply written in Bengali is found by its words, and a
/// fragment of them finds nothing.
#[test]
fn a_consolidated_reply_in_bengali_is_found_by_whole_words() {
    let home = Home::new();
    community_with_posts(&home);
    publish_bengali_reply(&home);
    let hits = home.json(&["search", "ক্লিনিক", "--json"]);
    assert_eq!(hits.as_array().unwrap().len(), 1, "{hits}");
    assert_eq!(hits[0]["kind"], "consolidated_reply", "{hits}");
    assert!(
        hits[0]["snippet"]
            .as_str()
            .unwrap()
            .contains("নৌকা [ক্লিনিক] বন্যায়"),
        "{hits}"
    );
    // "ক্লি" is how the old tokenizer cut the word's start.
    assert_eq!(found(&home, "ক্লি"), Vec::<String>::new());
}

/// A database whose FTS tables were made by the first schema (marks were
/// separators) is upgraded on open: its old posts are found by whole
/// words, no longer by fragments.
#[test]
fn an_existing_database_upgraded_still_finds_its_old_posts() {
    if crate::support::skip_on_postgres("the FTS5 tables of the first schema") {
        return;
    }
    let home = Home::new();
    community_with_posts(&home);
    publish_bengali_reply(&home);
    let db = home.path().join("praxis.db");
    let version = praxis::store::migrate::MIGRATIONS
        .iter()
        .find(|m| m.name.ends_with("_indic_search"))
        .unwrap()
        .version;
    {
        // Put back the indexes as the first schema made them.
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(&format!(
            "DROP TRIGGER posts_fts_insert; DROP TRIGGER posts_fts_delete; DROP TRIGGER posts_fts_update;
             DROP TABLE posts_fts;
             CREATE VIRTUAL TABLE posts_fts USING fts5 (
                 subject, text, content = 'posts', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2');
             CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN
                 INSERT INTO posts_fts (rowid, subject, text) VALUES (new.id, new.subject, new.text);
             END;
             CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN
                 INSERT INTO posts_fts (posts_fts, rowid, subject, text) VALUES ('delete', old.id, old.subject, old.text);
             END;
             CREATE TRIGGER posts_fts_update AFTER UPDATE OF subject, text ON posts BEGIN
                 INSERT INTO posts_fts (posts_fts, rowid, subject, text) VALUES ('delete', old.id, old.subject, old.text);
                 INSERT INTO posts_fts (rowid, subject, text) VALUES (new.id, new.subject, new.text);
             END;
             INSERT INTO posts_fts (posts_fts) VALUES ('rebuild');
             CREATE TEMP TABLE kept AS SELECT rowid AS id, subject, body FROM consolidated_fts;
             DROP TABLE consolidated_fts;
             CREATE VIRTUAL TABLE consolidated_fts USING fts5 (
                 subject, body, tokenize = 'unicode61 remove_diacritics 2');
             INSERT INTO consolidated_fts (rowid, subject, body) SELECT id, subject, body FROM kept;
             DELETE FROM schema_migrations WHERE version = {version};
             PRAGMA user_version = {};",
            version - 1
        ))
        .unwrap();
        // The old index holds fragments: "फ" alone is a token of it.
        let fragments: i64 = conn
            .query_row(
                "SELECT count(*) FROM posts_fts WHERE posts_fts MATCH '\"फ\"'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(fragments, 1, "the old tokenizer splits at the nukta");
        let replies: i64 = conn
            .query_row(
                "SELECT count(*) FROM consolidated_fts WHERE consolidated_fts MATCH '\"ক\"'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(replies, 1, "the old reply index holds fragments too");
    }
    // The next command opens (and upgrades) the database.
    assert_eq!(found(&home, "शिविर"), ["शिविर (hindi)"]);
    assert_eq!(found(&home, "முகாம்"), ["Tamil camp"]);
    assert_eq!(found(&home, "fluor*"), ["Water quality"]);
    assert_eq!(found(&home, "फ़िल्म"), Vec::<String>::new());
    // The Consolidated Reply indexed before the upgrade, found by a whole word.
    let hits = home.json(&["search", "ক্লিনিক", "--json"]);
    assert_eq!(hits.as_array().unwrap().len(), 1, "{hits}");
    assert_eq!(hits[0]["kind"], "consolidated_reply", "{hits}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let fragments: i64 = conn
        .query_row(
            "SELECT count(*) FROM posts_fts WHERE posts_fts MATCH '\"फ\"'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(fragments, 0, "the upgraded index has whole words only");
    let applied: i64 = conn
        .query_row(
            "SELECT count(*) FROM schema_migrations WHERE version = ?1",
            [version],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(applied, 1);
}
