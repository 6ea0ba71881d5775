import Testing

extension Tag {
    /// Suites whose behaviour lives in the registry's database: `scripts/test-postgres.sh` runs
    /// them again with every server on PostgreSQL (the others run once, on SQLite).
    @Tag public static var database: Self
}
