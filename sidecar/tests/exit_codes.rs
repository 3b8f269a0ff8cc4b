// SPDX-License-Identifier: BUSL-1.1
//! The binary's exit statuses (docs/reference/sidecar.md, Command line): 0 on success, 2 for an
//! invalid environment variable or command line, 1 when a command fails at run time. No
//! database is needed: `openapi` reads only the configuration, and the failing command is
//! pointed at a closed port.

use std::process::{Command, Output};

fn sidecar(args: &[&str], vars: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recsys-sidecar"))
        .args(args)
        // Only the variables given: none of the caller's RECSYS_* settings.
        .env_clear()
        .envs(vars.iter().copied())
        .output()
        .expect("recsys-sidecar runs")
}

#[track_caller]
fn assert_exit(output: &Output, code: i32, stderr_has: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    assert!(
        stderr.contains(stderr_has),
        "{stderr:?} lacks {stderr_has:?}"
    );
}

#[test]
fn openapi_needs_no_database() {
    let output = sidecar(&["openapi"], &[]);
    assert_exit(&output, 0, "");
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("openapi: 3.1"));
}

#[test]
fn an_invalid_variable_exits_2_naming_it() {
    for (name, value) in [
        ("RECSYS_DB_MAX_CONNECTIONS", "0"),
        ("RECSYS_LISTEN_ADDR", "not an address"),
        ("RECSYS_HTTP_HEADER_TIMEOUT_SECS", "many"),
    ] {
        let output = sidecar(&["openapi"], &[(name, value)]);
        assert_exit(&output, 2, name);
        assert!(output.stdout.is_empty(), "{name}: nothing is printed");
    }
}

#[test]
fn a_bad_command_line_exits_2() {
    assert_exit(&sidecar(&["nope"], &[]), 2, "unrecognized subcommand");
    let output = sidecar(&["keys", "create", "--tenant", "t", "--role", "root"], &[]);
    assert_exit(&output, 2, "--role");
}

#[test]
fn a_command_that_fails_at_run_time_exits_1() {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let url = format!("postgres://nobody@127.0.0.1:{closed_port}/none");
    let output = sidecar(&["keys", "list"], &[("RECSYS_DATABASE_URL", &url)]);
    assert_exit(
        &output,
        1,
        "cannot connect to the database (RECSYS_DATABASE_URL)",
    );
}
