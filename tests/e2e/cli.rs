//! The command lines as their users meet them: every flag and argument of every command of every
//! binary has a help line (`--help`), checked by walking the real binaries' help output.

use std::process::Command;

use test_harness::workspace_bin;

fn help(bin: &std::path::Path, args: &[String]) -> String {
    let out = Command::new(bin).args(args).arg("--help").output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn subcommands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for l in text.lines() {
        if l.starts_with("Commands:") {
            inside = true;
            continue;
        }
        if inside && l.trim().is_empty() {
            inside = false;
        }
        if inside
            && let Some(name) = l.strip_prefix("  ").and_then(|r| r.split_whitespace().next())
            && name != "help"
        {
            out.push(name.to_owned());
        }
    }
    out
}

/// Entries of the Options/Arguments sections with no description on their line or the next.
fn undocumented(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut section = false;
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with("Options:") || l.starts_with("Arguments:") {
            section = true;
            continue;
        }
        if !l.starts_with(' ') && !l.is_empty() {
            section = false;
        }
        if section && l.starts_with("  ") && !l.starts_with("   ") {
            let entry = l.trim();
            let inline = entry.split_once("  ").is_some_and(|(_, d)| !d.trim().is_empty());
            let next = lines.get(i + 1).copied().unwrap_or("");
            let below = next.starts_with("      ") && !next.trim().is_empty();
            if !inline && !below {
                out.push(entry.to_owned());
            }
        }
    }
    out
}

#[test]
fn every_flag_of_every_command_has_a_help_line() {
    let mut missing = Vec::new();
    let mut seen = 0;
    for name in ["sealer", "auditor", "station", "ingest-worker", "transcoder", "recorder", "dev-s3", "evidence-verify"]
    {
        let bin = workspace_bin(name).unwrap();
        let mut todo: Vec<Vec<String>> = vec![Vec::new()];
        while let Some(args) = todo.pop() {
            let text = help(&bin, &args);
            assert!(text.contains("Usage:"), "{name} {args:?}: no help output");
            seen += 1;
            for e in undocumented(&text) {
                missing.push(format!("{name} {}: {e}", args.join(" ")));
            }
            for s in subcommands(&text) {
                let mut next = args.clone();
                next.push(s);
                todo.push(next);
            }
        }
    }
    assert!(seen > 20, "walked only {seen} commands");
    assert!(missing.is_empty(), "flags without a help line:\n{}", missing.join("\n"));
}

/// The standalone verifier is what a court's expert builds on a machine without our stack: its
/// dependency tree (normal dependencies, as Cargo resolves them from the lock file) holds no NATS
/// client, no AWS SDK and no GStreamer.
#[test]
fn the_standalone_verifier_depends_on_no_server_and_no_media_stack() {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["tree", "--offline", "-p", "evidence-verify", "-e", "normal", "--prefix", "none", "--format", "{p}"])
        .current_dir(test_harness::repo_path(""))
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo tree: {}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8_lossy(&out.stdout);
    let crates: Vec<&str> = tree.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(crates.contains(&"evidence-verify") && crates.contains(&"c2pa"), "{tree}");
    let forbidden: Vec<&&str> = crates
        .iter()
        .filter(|c| {
            c.starts_with("async-nats")
                || c.starts_with("aws-")
                || c.starts_with("gstreamer")
                || c.starts_with("object-store")
                || c.starts_with("tokio")
        })
        .collect();
    assert!(forbidden.is_empty(), "evidence-verify pulls in {forbidden:?}:\n{tree}");
}
