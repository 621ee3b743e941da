//! The documentation agrees with the repository: every link of README.md and docs/ leads to
//! a file and heading that exist, and the option tables of the topic pages are the command
//! lines' own help texts (`UPDATE_DOCS=1 cargo test -p e2e --test docs` writes them).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use pulldown_cmark::{Event, Parser, Tag, TagEnd};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// README.md and every Markdown page under docs/.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The anchors GitHub gives a page's headings: the text lowercased, everything but letters,
/// digits, spaces, `-` and `_` dropped, spaces made `-`; a repeated anchor gets `-1`, `-2`….
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut anchors = BTreeSet::new();
    for text in headings(markdown) {
        let slug: String = text
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut candidate = slug.clone();
        let mut n = 0;
        while !anchors.insert(candidate.clone()) {
            n += 1;
            candidate = format!("{slug}-{n}");
        }
    }
    anchors
}

/// Every link and image target of a page, in order.
fn links(markdown: &str) -> Vec<String> {
    Parser::new(markdown)
        .filter_map(|event| match event {
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                Some(dest_url.to_string())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn every_link_of_the_readme_and_docs_leads_somewhere() {
    let mut checked = 0;
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let name = page.strip_prefix(root()).unwrap().display().to_string();
        for link in links(&text) {
            checked += 1;
            if link.starts_with("https://") || link.starts_with("http://") {
                // No network here; an external link must at least be a URL with a host.
                if link.split("://").nth(1).is_none_or(|rest| rest.is_empty()) {
                    broken.push(format!("{name}: {link}: not a URL"));
                }
                continue;
            }
            let (path, anchor) = match link.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (link.as_str(), None),
            };
            let target = if path.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(path)
            };
            if !target.exists() {
                broken.push(format!("{name}: {link}: no such file"));
                continue;
            }
            if let Some(anchor) = anchor {
                let is_markdown = target.extension().is_some_and(|e| e == "md");
                let known = is_markdown
                    && anchors(&std::fs::read_to_string(&target).unwrap()).contains(anchor);
                if !known {
                    broken.push(format!("{name}: {link}: no such heading"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked > 50, "only {checked} links found");
}

/// The headings of a page, as text.
fn headings(markdown: &str) -> Vec<String> {
    let mut all = Vec::new();
    let mut heading: Option<String> = None;
    for event in Parser::new(markdown) {
        match event {
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(h) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => all.extend(heading.take()),
            _ => {}
        }
    }
    all
}

/// Source files of the repository (not what builds or tools put under it).
fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if path.is_dir() {
            if !name.starts_with('.') && !matches!(&*name, "target" | "node_modules" | "corpus") {
                sources(&path, found);
            }
        } else if [".rs", ".sh", ".mjs", ".py", ".toml", ".yaml"]
            .iter()
            .any(|ext| name.ends_with(ext))
        {
            found.push(path);
        }
    }
}

/// Code comments and the conformance checks cite pages as `docs/<page>.md, "Section"`: the
/// page exists, and so does a heading that begins with the section's name.
#[test]
fn every_citation_of_a_page_and_section_in_the_code_exists() {
    let mut files = Vec::new();
    sources(&root(), &mut files);
    let mut cited = 0;
    let mut broken = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let name = file.strip_prefix(root()).unwrap().display().to_string();
        for (at, _) in text.match_indices("docs/") {
            let rest = &text[at + "docs/".len()..];
            let page: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .collect();
            let Some(page) = page
                .strip_suffix('.')
                .or(Some(&page))
                .filter(|p| p.ends_with(".md"))
            else {
                continue;
            };
            cited += 1;
            let Ok(markdown) = std::fs::read_to_string(root().join("docs").join(page)) else {
                broken.push(format!("{name}: docs/{page}: no such page"));
                continue;
            };
            let quoted = rest[page.len()..]
                .strip_prefix(", ")
                .and_then(|s| s.strip_prefix("\\\"").or_else(|| s.strip_prefix('"')))
                .and_then(|s| s.split(['"', '\\']).next());
            if let Some(section) = quoted
                && !headings(&markdown).iter().any(|h| h.starts_with(section))
            {
                broken.push(format!(
                    "{name}: docs/{page}, \"{section}\": no such heading"
                ));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "broken citations:\n{}",
        broken.join("\n")
    );
    assert!(cited > 20, "only {cited} citations found");
}

#[test]
fn anchors_are_made_as_github_makes_them() {
    let page = "# The local stack: `dicomweb-edge serve`\n## Options\n## Options\n## Tokens, and the viewer's sign-in (OIDC)\n";
    let expected: BTreeSet<String> = [
        "the-local-stack-dicomweb-edge-serve",
        "options",
        "options-1",
        "tokens-and-the-viewers-sign-in-oidc",
    ]
    .map(String::from)
    .into();
    assert_eq!(anchors(page), expected);
}

/// `text` on one line, ending with a full stop (clap drops the one of a one-line help).
fn sentence(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() || text.ends_with(['.', '?', '!']) {
        text
    } else {
        format!("{text}.")
    }
}

/// One Markdown table per help heading of `command`: each option with its value names, its
/// help text, possible values, default and environment variable, as `--help` gives them.
fn options_markdown(command: &clap::Command) -> String {
    let mut headings: Vec<(Option<String>, Vec<String>)> = Vec::new();
    for arg in command.get_arguments() {
        if arg.is_hide_set() || matches!(arg.get_id().as_str(), "help" | "version") {
            continue;
        }
        let mut option = match (arg.get_short(), arg.get_long()) {
            (Some(s), Some(l)) => format!("-{s}, --{l}"),
            (None, Some(l)) => format!("--{l}"),
            (Some(s), None) => format!("-{s}"),
            (None, None) => continue,
        };
        let values: Vec<_> = arg
            .get_possible_values()
            .into_iter()
            .filter(|v| !v.is_hide_set())
            .collect();
        if arg.get_action().takes_values() {
            let names: Vec<String> = if !values.is_empty() {
                vec![
                    values
                        .iter()
                        .map(|v| v.get_name())
                        .collect::<Vec<_>>()
                        .join("|"),
                ]
            } else {
                match arg.get_value_names() {
                    Some(names) => names.iter().map(|n| n.to_string()).collect(),
                    None => vec![arg.get_id().as_str().to_uppercase()],
                }
            };
            option = format!("{option} {}", names.join(" "));
        }
        let mut meaning = sentence(
            &arg.get_long_help()
                .or(arg.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default(),
        );
        for v in &values {
            if let Some(help) = v.get_help() {
                meaning = format!(
                    "{meaning} `{}`: {}",
                    v.get_name(),
                    sentence(&help.to_string())
                );
            }
        }
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        if !defaults.is_empty() && !arg.is_hide_default_value_set() {
            meaning = format!("{meaning} Default: `{}`.", defaults.join(","));
        }
        if let Some(env) = arg.get_env() {
            meaning = format!("{meaning} Environment: `{}`.", env.to_string_lossy());
        }
        // A `|` ends a table cell even inside code.
        let row = format!(
            "| `{}` | {} |",
            option.replace('|', "\\|"),
            meaning.trim().replace('|', "\\|")
        );
        let heading = arg.get_help_heading().map(str::to_owned);
        match headings.iter_mut().find(|(h, _)| *h == heading) {
            Some((_, rows)) => rows.push(row),
            None => headings.push((heading, vec![row])),
        }
    }
    let mut out = String::new();
    for (heading, rows) in headings {
        if let Some(heading) = heading {
            out.push_str(&format!("**{heading}**\n\n"));
        }
        out.push_str("| option | meaning |\n|---|---|\n");
        for row in rows {
            out.push_str(&row);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// Replaces what lies between `<!-- options: NAME -->` and `<!-- /options -->` in `page`
/// with the tables of `command` when UPDATE_DOCS is set, else checks that it is them.
fn agree(page: &str, name: &str, command: &clap::Command) {
    let path = root().join(page);
    let text = std::fs::read_to_string(&path).unwrap();
    let open = format!("<!-- options: {name} -->\n");
    let close = "<!-- /options -->";
    let start = text
        .find(&open)
        .unwrap_or_else(|| panic!("{page} has no {open}"))
        + open.len();
    let end = start + text[start..].find(close).unwrap();
    let tables = format!("\n{}", options_markdown(command));
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, format!("{}{tables}{}", &text[..start], &text[end..])).unwrap();
        return;
    }
    assert!(
        text[start..end] == tables,
        "{page}'s options of {name} are not `--help`'s (UPDATE_DOCS=1 cargo test -p e2e --test docs writes them):\n{tables}"
    );
}

#[test]
fn option_tables_are_the_help_texts() {
    let edge = dicomweb_edge::cli::Cli::command();
    let sub = |name: &str| edge.find_subcommand(name).unwrap().clone();
    agree("docs/serve.md", "dicomweb-edge", &edge);
    agree("docs/serve.md", "serve", &sub("serve"));
    agree("docs/serve.md", "token", &sub("token"));
    agree("docs/emulator.md", "emulator", &sub("emulator"));
    agree(
        "docs/conformance.md",
        "dicomweb-conformance",
        &conformance::cli::Args::command(),
    );
}

/// The code block after `<!-- tour: NAME -->` in the README.
fn tour_block(readme: &str, name: &str) -> String {
    let marker = format!("<!-- tour: {name} -->\n");
    let start = readme
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker}"))
        + marker.len();
    let fence_end = start + readme[start..].find('\n').unwrap() + 1;
    let end = fence_end + readme[fence_end..].find("```").unwrap();
    readme[fence_end..end].to_owned()
}

/// A reader following only the README reaches a curl'd frame, a search with dicomweb-client
/// and the conformance suite: the tour's own commands, run as written against `serve` as the
/// README's first command starts it (on another port).
#[test]
fn the_readme_tour_works_as_written() {
    use dicom_dictionary_std::tags;

    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let p = e2e::Process::start(&["serve", "--listen", "127.0.0.1:0", "--auth", "none"], &[]);
    let written = "http://127.0.0.1:8080";
    // The lines the tour quotes, on this run's port.
    for line in [
        "dicomweb http://127.0.0.1:8080/datastore/fe979d40487394a75b813ff62a2f7451",
        "viewer http://127.0.0.1:8080/",
    ] {
        assert!(readme.contains(line), "{line}");
        let printed = line.replace(written, &p.url);
        assert!(p.lines.contains(&printed), "{printed} not in {:?}", p.lines);
    }
    let here = |block: &str| block.replace(written, &p.url);

    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("bash")
        .args([
            "-euo",
            "pipefail",
            "-c",
            &here(&tour_block(&readme, "curl")),
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
    let studies: serde_json::Value = serde_json::from_slice(&read("studies.json")).unwrap();
    assert_eq!(studies.as_array().unwrap().len(), 2);
    // The frame is the first slice's codestream, byte for byte as the demo file holds it.
    let source =
        dicom_object::open_file(root().join("demo/dicom/ct-phantom/series1-htj2k/CT001.dcm"))
            .unwrap();
    let stored = match source.element(tags::PIXEL_DATA).unwrap().value() {
        dicom_core::value::Value::PixelSequence(seq) => seq.fragments()[0].clone(),
        _ => panic!("the demo CT is encapsulated"),
    };
    assert_eq!(read("frame.jphc"), stored);
    let raw = read("frame.raw");
    assert_eq!(raw.len(), 131_072, "as the README says");
    assert!(raw.iter().any(|&b| b != 0));
    let png =
        image::load_from_memory_with_format(&read("slice.png"), image::ImageFormat::Png).unwrap();
    assert_eq!((png.width(), png.height()), (256, 256));
    let file = dicom_object::from_reader(std::io::Cursor::new(&read("slice.dcm")[128..])).unwrap();
    assert_eq!(
        file.meta().media_storage_sop_instance_uid(),
        "2.25.24313568106297450919800784512881278861"
    );
    assert_eq!(file.meta().transfer_syntax(), "1.2.840.10008.1.2.4.202");

    if e2e::python_modules_available("dicomweb_client") {
        let printed = e2e::python(&here(&tour_block(&readme, "python")), &[]);
        let lines: Vec<&str> = printed.lines().collect();
        assert_eq!(lines.len(), 3, "{printed}");
        assert!(
            printed.contains("2.25.43013641727009647318637766896963722706"),
            "{printed}"
        );
        assert_eq!(lines[2], "3 series in the CT study");
    }

    let command = here(&tour_block(&readme, "conformance")).replace(
        "cargo run --release --bin dicomweb-conformance --",
        &e2e::conformance_binary().display().to_string(),
    );
    let out = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &command])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(" 0 failed"), "{text}");
}
