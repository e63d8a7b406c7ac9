//! Clink's HTTP integration tests, in one binary.
//!
//! Every test starts the real `clink` binary and talks HTTP to it. They live in one test
//! crate rather than one per file because each test crate links the whole app: eleven
//! ~1 GB debug executables filled CI's disk, one does not. Filter by area as usual,
//! e.g. `cargo test -p server --test it wallet::`. (`big_files` stays a crate of its own:
//! it measures this process's resident memory, which other tests would disturb.)

#[macro_use]
mod common;

mod accounts;
mod catalog;
mod checkout;
mod cluster;
mod deletion;
mod deployment;
mod durability;
mod earnings;
mod faults;
mod mail_smtp;
mod randomized;
mod security;
mod storage_s3;
mod storefront;
mod stripe;
mod tab;
mod two_step;
mod wallet;
