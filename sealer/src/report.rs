//! `sealer report <evidence id> --out DIR`: the custody report a prosecutor attaches and a
//! defence expert reads — in Chinese and English, as an HTML page with print CSS and as a PDF
//! (headless Chromium prints the page). What it holds: the recording's facts (officer, device,
//! station, times, the upload deadline met or not), the continuity findings with their times, every
//! object's size and hashes, the signatures and manifests with their signers, and every ledger
//! record of the item in order (sealed, retention, access with approval and reason,
//! classification) with actor and time, then the verification of the records.
//!
//! It reads only records — `seal.json`, `seal.sig`, the continuity report and the ledger — never
//! the media, so it needs no approval (like `sealer history`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use evidence_contracts::EvidenceId;
use evidence_contracts::report::ScanReportV1;
use evidence_contracts::seal::{ObjectRole, SealRecordV1};

use crate::config::Config;
use crate::verify::{Mode, Report};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The wire string of a contract enum (`on_time`, `continuous`, `retention`, …).
fn w<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn t(v: chrono::DateTime<chrono::Utc>) -> String {
    v.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn row(out: &mut String, zh: &str, en: &str, value: &str) {
    out.push_str(&format!("<tr><th>{zh}<br><span class=en>{en}</span></th><td>{value}</td></tr>\n"));
}

fn heading(out: &mut String, n: u32, zh: &str, en: &str) {
    out.push_str(&format!("<h2>{n}. {zh} <span class=en>{en}</span></h2>\n"));
}

const CSS: &str = "
body { font-family: 'Noto Sans CJK SC', 'Noto Sans', sans-serif; font-size: 10.5pt; color: #111; margin: 2em; }
h1 { font-size: 17pt; margin: 0 0 .2em; } h2 { font-size: 12.5pt; border-bottom: 1px solid #888; margin-top: 1.4em; }
.en { color: #555; font-weight: normal; font-size: 90%; }
table { border-collapse: collapse; width: 100%; margin: .4em 0; } th, td { border: 1px solid #bbb; padding: 3px 6px; vertical-align: top; text-align: left; }
th { background: #f0f0f0; width: 14em; } table.list th { width: auto; }
.mono { font-family: 'DejaVu Sans Mono', monospace; font-size: 8.5pt; word-break: break-all; }
.ok { color: #126b12; font-weight: bold; } .bad { color: #a40000; font-weight: bold; }
.meta { color: #444; font-size: 9pt; }
@page { size: A4; margin: 16mm 14mm; }
@media print { body { margin: 0; } h2 { break-after: avoid; } tr { break-inside: avoid; } }
";

/// The report page (pure): the record, the continuity report when it could be read, and the
/// verification of the records (with the ledger history).
pub fn render(
    rec: &SealRecordV1,
    continuity: Option<&ScanReportV1>,
    verified: &Report,
    generated: chrono::DateTime<chrono::Utc>,
) -> String {
    let mut h = String::new();
    h.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=zh-Hans><head><meta charset=utf-8><title>证据保管报告 Evidence custody report {}</title><style>{CSS}</style></head><body>\n",
        rec.evidence_id
    ));
    h.push_str(&format!(
        "<h1>执法音视频证据保管报告<br><span class=en>Custody report of recorded evidence</span></h1>\n<p class=meta>证据编号 Evidence id <b class=mono>{}</b> · 生成时间 Generated {} · {} </p>\n",
        rec.evidence_id,
        t(generated),
        esc(&format!("sealer {}", env!("CARGO_PKG_VERSION")))
    ));
    let verdict_ok = verified.ok;
    h.push_str(&format!(
        "<p>{}</p>\n",
        if verdict_ok {
            "<span class=ok>记录核验通过 Records verified</span>: 封存记录的签名、保管链均已核验。<span class=en>The seal record's signature and the custody ledger were checked.</span>"
        } else {
            "<span class=bad>记录核验未通过 Records NOT verified</span>: 见第 6 节。<span class=en>See section 6.</span>"
        }
    ));

    heading(&mut h, 1, "录像事实", "Recording facts");
    h.push_str("<table>\n");
    row(&mut h, "执法人员", "Officer", &esc(rec.officer_id.as_str()));
    row(&mut h, "执法记录设备", "Device", &esc(rec.device_id.as_str()));
    row(&mut h, "采集工作站", "Station", &esc(rec.station_id.as_str()));
    row(&mut h, "文件名", "File name", &format!("<span class=mono>{}</span>", esc(&rec.file_name)));
    row(&mut h, "录制开始", "Recording started", &rec.recorded_start.map_or_else(|| "未知 unknown".into(), t));
    row(&mut h, "接入工作站", "Docked", &t(rec.docked_at));
    row(&mut h, "上传完成", "Uploaded", &t(rec.uploaded_at));
    row(&mut h, "校验入库", "Verified at ingest", &t(rec.ingested_at));
    row(&mut h, "封存", "Sealed", &format!("{} ({})", t(rec.sealed_at), esc(&rec.sealed_by)));
    if let Some(d) = &rec.deadline {
        let met = w(&d.status) == "on_time";
        row(
            &mut h,
            "上传时限",
            "Upload deadline",
            &format!(
                "{} — {} 个工作日内 within {} working days, 截止 due {} ({})",
                if met { "<span class=ok>按时 met</span>" } else { "<span class=bad>逾期 late</span>" },
                d.working_days,
                d.working_days,
                t(d.due),
                esc(&w(&d.basis))
            ),
        );
    }
    if let Some(s) = &rec.segment {
        row(
            &mut h,
            "分段",
            "Segment",
            &format!("session <span class=mono>{}</span>, index {}", esc(&s.session_id), s.index),
        );
    }
    if let Some(r) = &rec.retention {
        row(
            &mut h,
            "保存期限（封存时）",
            "Retention (at sealing)",
            &format!(
                "{} until {}{}{}",
                esc(&w(&r.class)),
                t(r.retain_until),
                if r.legal_hold { ", legal hold" } else { "" },
                if r.worm_verified {
                    ", 存储防删改已验证 write-once verified"
                } else {
                    ", 存储防删改未验证 write-once NOT verified"
                }
            ),
        );
    }
    h.push_str("</table>\n");

    heading(&mut h, 2, "连续性", "Continuity");
    h.push_str(&format!(
        "<p>结论 Verdict: <b>{}</b> · 可读 readable: {} · 完整 complete: {} · 发现 findings: {}</p>\n",
        esc(&w(&rec.continuity.verdict)),
        rec.continuity.readable,
        rec.continuity.complete,
        rec.continuity.findings
    ));
    match continuity {
        Some(c) => {
            let rows: Vec<String> = c
                .files
                .iter()
                .flat_map(|f| {
                    f.findings.iter().map(move |x| {
                        format!(
                            "<tr><td class=mono>{}</td><td>{}</td><td>{:.3} s</td><td>{:.3} s</td><td>{}</td></tr>",
                            esc(&f.name),
                            esc(&w(&x.kind)),
                            x.at_s,
                            x.duration_s,
                            esc(&x.detail)
                        )
                    })
                })
                .chain(c.findings.iter().map(|x| {
                    format!(
                        "<tr><td class=mono>{} → {}</td><td>{}</td><td>—</td><td>{:.3} s</td><td>between files</td></tr>",
                        esc(&x.after),
                        esc(&x.before),
                        esc(&w(&x.kind)),
                        x.duration_s
                    )
                }))
                .collect();
            if rows.is_empty() {
                h.push_str("<p>无中断、无回退、无截断。<span class=en>No gap, no backwards time, no cut.</span></p>\n");
            } else {
                h.push_str("<table class=list><tr><th>文件 File</th><th>类型 Kind</th><th>位置 At</th><th>时长 Duration</th><th>说明 Detail</th></tr>\n");
                for r in rows {
                    h.push_str(&r);
                    h.push('\n');
                }
                h.push_str("</table>\n");
            }
        }
        None => h.push_str("<p class=bad>连续性报告无法读取 The continuity report could not be read.</p>\n"),
    }

    heading(&mut h, 3, "封存文件与哈希", "Sealed objects and their hashes");
    h.push_str("<table class=list><tr><th>角色 Role</th><th>对象 Object</th><th>字节 Bytes</th><th>BLAKE3 / SHA-256</th></tr>\n");
    for o in &rec.objects {
        let role = match o.role {
            ObjectRole::Original => "原始录像 original".to_owned(),
            ObjectRole::ContinuityReport => "连续性报告 continuity report".to_owned(),
            ObjectRole::C2paSidecar => "C2PA 清单 manifest".to_owned(),
            ObjectRole::Derivative => format!("副本 copy ({})", o.profile.as_deref().unwrap_or("")),
            _ => w(&o.role),
        };
        h.push_str(&format!(
            "<tr><td>{}</td><td class=mono>{}</td><td>{}</td><td class=mono>{}<br>{}</td></tr>\n",
            esc(&role),
            esc(o.key.strip_prefix(&rec.prefix).unwrap_or(&o.key)),
            o.size_bytes,
            o.blake3,
            o.sha256
        ));
    }
    h.push_str("</table>\n");
    if let Some(a) = &rec.access {
        h.push_str(&format!(
            "<p>播放用对象 Object to play: <span class=mono>{}</span> ({})</p>\n",
            esc(a.key.strip_prefix(&rec.prefix).unwrap_or(&a.key)),
            esc(&w(&a.of))
        ));
    }

    heading(&mut h, 4, "签名、清单与时间戳", "Signatures, manifests and timestamps");
    h.push_str("<table>\n");
    row(
        &mut h,
        "封存记录签名",
        "Seal record signature",
        &format!(
            "ES256 · {} · {}",
            esc(verified.signer.as_deref().unwrap_or("?")),
            if verified.signer_trusted {
                "<span class=ok>证书链可信 chain trusted</span>"
            } else {
                "证书链未对照信任根 chain not checked against a trust anchor"
            }
        ),
    );
    row(
        &mut h,
        "签名证书 SHA-256",
        "Signer certificate SHA-256",
        &format!("<span class=mono>{}</span>", esc(rec.provenance.signer_sha256.as_deref().unwrap_or("?"))),
    );
    for m in &rec.provenance.manifests {
        row(
            &mut h,
            "C2PA 清单",
            "C2PA manifest",
            &format!(
                "<span class=mono>{}</span>: {} · {} {}",
                esc(m.asset_key.strip_prefix(&rec.prefix).unwrap_or(&m.asset_key)),
                esc(&w(&m.placement)),
                esc(&w(&m.hash_binding)),
                m.manifest_label
                    .as_deref()
                    .map(|l| format!("· <span class=mono>{}</span>", esc(l)))
                    .unwrap_or_default()
            ),
        );
    }
    row(
        &mut h,
        "可信时间戳",
        "Trusted timestamp",
        "无（未配置 RFC 3161 时间戳服务）；时间为封存服务器时钟。<span class=en>None (no RFC 3161 TSA configured); times are the sealer's clock.</span>",
    );
    h.push_str("</table>\n");

    heading(&mut h, 5, "保管记录（按账本顺序）", "Custody ledger, in ledger order");
    if verified.history.is_empty() {
        h.push_str("<p class=bad>账本中无此证据的记录 No ledger record of this evidence.</p>\n");
    } else {
        h.push_str("<table class=list><tr><th>序号 Seq</th><th>时间 Time</th><th>事项 Kind</th><th>操作人 Actor</th><th>内容 What</th></tr>\n");
        for l in &verified.history {
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                l.seq,
                t(l.at),
                esc(&w(&l.kind)),
                esc(&l.actor),
                esc(&l.summary)
            ));
        }
        h.push_str("</table>\n");
    }

    heading(&mut h, 6, "核验", "Verification");
    h.push_str(&format!(
        "<p>{}</p>\n<table class=list><tr><th>对象 Subject</th><th>结果 Result</th><th>说明 Detail</th></tr>\n",
        if verified.mode == Mode::RecordsOnly {
            "核验了封存记录、签名与保管链；录像文件本身未读取（读取需审批，可用 <span class=mono>sealer verify --approval</span> 或对导出包运行 <span class=mono>evidence-verify</span>）。<span class=en>Records, signature and ledger checked; the media was not read (that needs an approval: sealer verify --approval, or evidence-verify on an export).</span>"
        } else {
            "完整核验。<span class=en>Full verification.</span>"
        }
    ));
    for c in &verified.checks {
        h.push_str(&format!(
            "<tr><td class=mono>{}</td><td>{}</td><td>{}</td></tr>\n",
            esc(&c.subject),
            if c.ok { "<span class=ok>通过 ok</span>" } else { "<span class=bad>不通过 FAIL</span>" },
            esc(&c.detail)
        ));
    }
    h.push_str("</table>\n");
    for n in &verified.notes {
        h.push_str(&format!("<p class=meta>{}</p>\n", esc(n)));
    }
    h.push_str("</body></html>\n");
    h
}

/// The Chromium to print with: `--chromium`, else `chromium` or `chromium-browser` on PATH.
fn chromium(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_owned());
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Some(dir) =
            std::env::var_os("PATH").iter().flat_map(std::env::split_paths).find(|d| d.join(name).is_file())
        {
            return Ok(dir.join(name));
        }
    }
    anyhow::bail!(
        "no Chromium to print the PDF with: install it (`apt-get install chromium fonts-noto-cjk`), give --chromium PATH, or \
         pass --no-pdf for the HTML alone"
    )
}

/// Prints `html` to `pdf` (A4, the page's print CSS) with headless Chromium.
///
/// # Errors
/// Chromium missing or failing.
pub fn print_pdf(chromium_bin: Option<&Path>, html: &Path, pdf: &Path) -> anyhow::Result<()> {
    let bin = chromium(chromium_bin)?;
    let html = html.canonicalize().with_context(|| format!("{}", html.display()))?;
    let profile = tempfile::tempdir()?;
    let out = std::process::Command::new(&bin)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .with_context(|| format!("run {}", bin.display()))?;
    anyhow::ensure!(
        out.status.success() && pdf.is_file(),
        "{} could not print {}: {}",
        bin.display(),
        html.display(),
        String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
    );
    Ok(())
}

/// `sealer report`: writes `custody-<id>.html` (and `.pdf` unless `pdf` is false) into `out`.
///
/// # Errors
/// Not sealed, unreachable stores, Chromium missing (with `pdf`).
pub async fn report(
    cfg: &Config,
    id: &EvidenceId,
    out: &Path,
    trust: Option<&PathBuf>,
    pdf: Option<Option<PathBuf>>,
) -> anyhow::Result<Vec<PathBuf>> {
    let tmp = tempfile::tempdir()?;
    let records = tmp.path().join("records");
    let ev = crate::export::fetch_records(cfg, id, &records).await?;
    let rec: SealRecordV1 = serde_json::from_slice(&std::fs::read(records.join("seal.json"))?)
        .context("seal.json is not an evidence.seal.record.v1")?;
    let (_, store) = crate::export::connect(cfg).await?;
    let continuity = match ev.objects.iter().find(|o| o.role == ObjectRole::ContinuityReport) {
        Some(o) => store
            .get_bytes(&ev.bucket, &o.key, 64 << 20)
            .await
            .ok()
            .and_then(|b| serde_json::from_slice::<ScanReportV1>(&b).ok()),
        None => None,
    };
    let (anchors, pem) = crate::verify::anchors(trust)?;
    let verified = crate::verify::verify_folder_as(&records, &anchors, pem.as_deref(), Mode::RecordsOnly)?;
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let html = out.join(format!("custody-{id}.html"));
    std::fs::write(&html, render(&rec, continuity.as_ref(), &verified, chrono::Utc::now()))
        .with_context(|| format!("write {}", html.display()))?;
    let mut written = vec![html.clone()];
    if let Some(bin) = pdf {
        let p = out.join(format!("custody-{id}.pdf"));
        print_pdf(bin.as_deref(), &html, &p)?;
        written.push(p);
    }
    Ok(written)
}
