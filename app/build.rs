// `sqlx::migrate!` embeds the migrations when this crate compiles, but cargo does not know that
// a file added to those directories should compile it again: a new migration would otherwise be
// missing from an incremental build until some source file changed.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
