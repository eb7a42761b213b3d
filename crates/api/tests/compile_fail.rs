//! Invariant 4: the api crate cannot write a query, because it cannot even name sea-orm or sqlx.

#[test]
fn the_api_crate_cannot_name_database_crates() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
