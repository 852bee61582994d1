//! The shared hash vectors of `generators::hash_vectors` through the SQL side: each runs the
//! migration's Phase 1A hash function it names on a real database and must give the hash the
//! vector pins (the unit tests pin the same vectors through the Rust side).

use generators::hash_vectors::{sql_of, VECTORS};

#[tokio::test]
async fn every_vector_hashes_to_its_expected_value_in_sql() {
    let db = provision::TestDb::new()
        .await
        .unwrap_or_else(|e| panic!("provisioning: {e}"));
    let mut conn = db.connect().await.unwrap_or_else(|e| panic!("{e}"));
    // The canon must not depend on the session: run once in UTC and once far from it.
    for tz in ["UTC", "Pacific/Chatham"] {
        sqlx::query(&format!("SET TimeZone = '{tz}'"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for v in &VECTORS {
            let (sql, binds) = sql_of(v);
            let mut q = sqlx::query_scalar::<_, String>(&sql);
            for b in binds {
                q = q.bind(b);
            }
            let got = q
                .fetch_one(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{}: {sql}: {e}", v.name));
            assert_eq!(got, v.expected, "{} in TimeZone {tz}: {sql}", v.name);
        }
    }
}
