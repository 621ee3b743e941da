//! The command line of `dicomweb-conformance`, in the library so that the documentation's
//! option table can be made from it (docs/conformance.md).

use clap::Parser;

use crate::{checks, report, target};

#[derive(Parser, Debug)]
#[command(
    name = "dicomweb-conformance",
    about = "Checks a DICOMweb server's Studies Service (QIDO-RS, WADO-RS metadata, bulk data, \
             frames, instances) and the HealthImaging native path against PS3.18 and what real \
             viewers need."
)]
pub struct Args {
    /// The DICOMweb root, e.g. https://d111.cloudfront.net/datastore/<id> or
    /// http://127.0.0.1:8042/dicom-web.
    #[arg(value_name = "URL", long, required_unless_present = "list")]
    pub base_url: Option<String>,
    /// A bearer token for every request (prefer --token-command: arguments are visible to
    /// other users of the machine).
    #[arg(value_name = "TOKEN", long, conflicts_with_all = ["token_command", "sigv4"])]
    pub token: Option<String>,
    /// A shell command that prints a bearer token, e.g. "dicomweb-edge token".
    #[arg(value_name = "COMMAND", long, conflicts_with = "sigv4")]
    pub token_command: Option<String>,
    /// Sign every request with AWS Signature Version 4, with the key of the standard AWS
    /// credential chain (environment, shared config and credentials files, SSO, web
    /// identity, container and instance roles), e.g. for AHI's own DICOMweb API.
    #[arg(long)]
    pub sigv4: bool,
    /// The region to sign for (default: the chain's, e.g. AWS_REGION).
    #[arg(value_name = "REGION", long, requires = "sigv4")]
    pub region: Option<String>,
    /// The SigV4 signing name.
    #[arg(
        value_name = "NAME",
        long,
        requires = "sigv4",
        default_value = "medical-imaging"
    )]
    pub sigv4_service: String,
    /// The study to test; found by QIDO-RS (the first study) when not given.
    #[arg(value_name = "UID", long)]
    pub study: Option<String>,
    /// The series to test; found by QIDO-RS (the study's first series) when not given.
    #[arg(value_name = "UID", long)]
    pub series: Option<String>,
    /// The SOP instance to test; found by QIDO-RS (the series' instance with the most
    /// frames) when not given.
    #[arg(value_name = "UID", long)]
    pub instance: Option<String>,
    /// The instance's NumberOfFrames, when the server has no WADO-RS metadata.
    #[arg(value_name = "N", long)]
    pub frames: Option<u32>,
    /// Rows,Columns,SamplesPerPixel,BitsAllocated of the instance, when the server has no
    /// WADO-RS metadata (enables the decoded-length check).
    #[arg(long, value_delimiter = ',', value_name = "ROWS,COLUMNS,SAMPLES,BITS")]
    pub pixel: Vec<u64>,
    /// HealthImaging image set holding the instance (enables the native checks).
    #[arg(value_name = "ID", long, requires = "image_frame_id")]
    pub image_set: Option<String>,
    /// HealthImaging image frame ID of DICOMweb frame --native-frame of the instance.
    #[arg(value_name = "ID", long, requires = "image_set")]
    pub image_frame_id: Option<String>,
    /// Which DICOMweb frame --image-frame-id is.
    #[arg(value_name = "N", long, default_value_t = 1)]
    pub native_frame: u32,
    /// An origin the server should allow (enables the CORS checks).
    #[arg(value_name = "ORIGIN", long)]
    pub origin: Option<String>,
    /// Run only these groups (comma-separated or repeated): frames, multipart, negotiation,
    /// errors, cors, auth, caching, native, decoded, retrieve, qido, metadata, bulkdata, range,
    /// rendered.
    #[arg(value_name = "GROUP", long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// What to print on stdout: the readable table, the JSON report or the JUnit XML report.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write a report to a file: `--report json FILE`, `--report junit FILE` or
    /// `--report text FILE` (repeatable).
    #[arg(long, num_args = 2, value_names = ["FORMAT", "FILE"])]
    pub report: Vec<String>,
    /// Known deviations of a server to expect (`orthanc`); see conformance/src/profiles.rs.
    #[arg(value_name = "NAME", long)]
    pub profile: Option<String>,
    /// Seconds to wait for each answer.
    #[arg(value_name = "SECONDS", long, default_value_t = 60)]
    pub timeout: u64,
    /// List the checks and exit.
    #[arg(long)]
    pub list: bool,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Junit,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        <Self as clap::ValueEnum>::from_str(s, false).ok()
    }

    pub fn render(
        self,
        target: &target::Target,
        findings: &[checks::Finding],
    ) -> anyhow::Result<String> {
        Ok(match self {
            Format::Text => report::table(target, findings),
            Format::Json => {
                let mut s = serde_json::to_string_pretty(&report::json(target, findings))?;
                s.push('\n');
                s
            }
            Format::Junit => report::junit(findings)?,
        })
    }
}
