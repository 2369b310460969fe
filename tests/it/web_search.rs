//! `/c/SLUG/search`: the web's search over the demo archive, in the grammar
//! of `praxis search`: Consolidated Replies first, marked snippets, bad
//! queries answered with what to write, what was typed kept and escaped.

use crate::site::Site;

#[test]
fn the_search_page_finds_the_reply_first_and_marks_the_words() {
    let site = Site::demo("public", "");
    let empty = site.get("/c/mch/search");
    assert_eq!(empty.code, 200, "{}", empty.body);
    assert!(empty.body.contains("<label for=\"q\">"), "{}", empty.body);

    let found = site.get("/c/mch/search?q=kangaroo");
    assert_eq!(found.code, 200, "{}", found.body);
    let reply = found
        .body
        .find("Consolidated Reply</span>")
        .expect("a reply hit");
    let post = found.body.find(">Post</span>").expect("a post hit");
    assert!(reply < post, "replies first:\n{}", found.body);
    assert!(found.body.contains("<mark>"), "{}", found.body);
    assert!(
        found.body.contains("href=\"/c/mch/replies/"),
        "{}",
        found.body
    );
    assert!(found.body.contains("href=\"/c/mch/m/"), "{}", found.body);
    // The spam the moderator rejected is never found.
    let spam = site.get("/c/mch/search?q=%22lowest+prices%22");
    assert!(
        spam.body.contains("Nothing in the archive matches"),
        "{}",
        spam.body
    );
    // kind:post leaves the reply out.
    let posts = site.get("/c/mch/search?q=kangaroo+kind%3Apost");
    assert!(
        !posts.body.contains("Consolidated Reply</span>"),
        "{}",
        posts.body
    );
    assert!(posts.body.contains(">Post</span>"), "{}", posts.body);
}

#[test]
fn a_bad_query_says_what_to_write_and_keeps_it_escaped() {
    let site = Site::demo("public", "");
    let bad = site.get("/c/mch/search?q=after%3A2025-13-01+%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    assert_eq!(bad.code, 400, "{}", bad.body);
    assert!(bad.body.contains("write after:YYYY-MM-DD"), "{}", bad.body);
    assert!(!bad.body.contains("<script>alert"), "{}", bad.body);
    assert!(bad.body.contains("&lt;script&gt;alert(1)"), "{}", bad.body);
    assert_eq!(site.get("/c/mch/search?q=x&page=abc").code, 400);
    assert_eq!(site.get("/c/mch/search?q=x&page=0").code, 400);
    assert_eq!(site.get("/c/nowhere/search?q=x").code, 404);
}

#[test]
fn a_members_archive_is_searched_only_after_signing_in() {
    let site = Site::demo("members", "");
    let page = site.get("/c/mch/search?q=kangaroo");
    assert_eq!(page.code, 403, "{}", page.body);
    assert!(page.body.contains("/signin"), "{}", page.body);
    assert!(!page.body.contains("<mark>"), "{}", page.body);
}
