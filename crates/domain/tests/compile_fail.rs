//! Invariants 2 and 3 hold at compile time: no scope literal, no scope-less repository call.

#[test]
fn tenant_isolation_is_enforced_by_the_compiler() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
