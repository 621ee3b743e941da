//! `deploy/template.yaml`: cfn-lint finds no error, and the properties that keep the
//! deployment safe hold: no cache key or origin request carries `Authorization`; IAM grants
//! only the four HealthImaging read actions (the edge role: GetImageFrame) on exactly the
//! configured datastores; the translator is reached only through Origin Access Control on a
//! streaming, IAM-authenticated Function URL; the edge functions run on Node.js; every
//! behavior runs the authorizer; access logs leave out query strings.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use e2e::workspace;
use serde_json::{Value, json};

const DATASTORES: [&str; 2] = [
    "0123456789abcdef0123456789abcdef",
    "fedcba9876543210fedcba9876543210",
];
const READS: [&str; 4] = [
    "medical-imaging:GetImageFrame",
    "medical-imaging:GetImageSetMetadata",
    "medical-imaging:GetImageSet",
    "medical-imaging:SearchImageSets",
];

/// YAML with CloudFormation's short tags as JSON in the long form (`!Ref X` → `{"Ref": X}`).
fn to_json(v: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => json!(b),
        Y::Number(n) => serde_json::to_value(n).unwrap(),
        Y::String(s) => json!(s),
        Y::Sequence(s) => Value::Array(s.into_iter().map(to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k.as_str().expect("string key").to_owned(), to_json(v)))
                .collect(),
        ),
        Y::Tagged(t) => {
            let name = t.tag.to_string();
            let name = name.trim_start_matches('!');
            let value = to_json(t.value);
            match name {
                "Ref" | "Condition" => json!({ name: value }),
                "GetAtt" => {
                    let s = value.as_str().expect("!GetAtt A.B").to_owned();
                    let (a, b) = s.split_once('.').unwrap();
                    json!({"Fn::GetAtt": [a, b]})
                }
                other => json!({ format!("Fn::{other}"): value }),
            }
        }
    }
}

fn template() -> Value {
    let text = std::fs::read_to_string(workspace().join("deploy/template.yaml")).unwrap();
    to_json(serde_yaml::from_str(&text).expect("template is YAML"))
}

/// A value under `Fn::If [HasViewer, with, without]` as it is with the viewer (`true`) or
/// without it; any other value as it is.
fn viewer_branch(v: &Value, viewer: bool) -> Value {
    match v.get("Fn::If") {
        Some(branches) if branches[0] == "HasViewer" => {
            branches[if viewer { 1 } else { 2 }].clone()
        }
        _ => v.clone(),
    }
}

/// The distribution's behaviors without the viewer, the default last.
fn behaviors_without_viewer(config: &Value) -> Vec<Value> {
    let mut all: Vec<Value> = config["CacheBehaviors"].as_array().unwrap().clone();
    all.push(viewer_branch(&config["DefaultCacheBehavior"], false));
    all
}

/// The resources with `Fn::ForEach` expanded over `DATASTORES` (AWS::LanguageExtensions).
fn resources(t: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (name, body) in t["Resources"].as_object().unwrap() {
        if name.starts_with("Fn::ForEach::") {
            let var = body[0].as_str().unwrap();
            assert_eq!(body[1], json!({"Ref": "DatastoreIds"}), "{name}");
            for (key, fragment) in body[2].as_object().unwrap() {
                for id in DATASTORES {
                    let text = fragment.to_string().replace(&format!("${{{var}}}"), id);
                    out.insert(
                        key.replace(&format!("${{{var}}}"), id),
                        serde_json::from_str(&text).unwrap(),
                    );
                }
            }
        } else {
            out.insert(name.clone(), body.clone());
        }
    }
    out
}

/// Evaluates the intrinsic functions an ARN is built with.
fn eval(v: &Value) -> Vec<String> {
    let params: BTreeMap<&str, &str> = [
        ("AWS::Partition", "aws"),
        ("AWS::AccountId", "111122223333"),
        ("AWS::Region", "us-east-1"),
        ("HealthImagingRegion", "us-west-2"),
    ]
    .into();
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().flat_map(eval).collect(),
        Value::Object(o) if o.contains_key("Fn::Sub") => {
            let mut s = o["Fn::Sub"].as_str().expect("plain Sub").to_owned();
            for (k, v) in &params {
                s = s.replace(&format!("${{{k}}}"), v);
            }
            assert!(!s.contains("${"), "unresolved: {s}");
            vec![s]
        }
        other => vec![format!("<{other}>")],
    }
}

fn of_type<'a>(r: &'a BTreeMap<String, Value>, ty: &str) -> Vec<(&'a String, &'a Value)> {
    r.iter().filter(|(_, v)| v["Type"] == ty).collect()
}

#[test]
fn cfn_lint_finds_no_errors() {
    let path = workspace().join("deploy/template.yaml");
    let out = match Command::new("cfn-lint").arg(&path).output() {
        Ok(o) => o,
        Err(_) => {
            assert!(
                std::env::var("DICOMWEB_EDGE_FULL_TESTS").as_deref() != Ok("1"),
                "cfn-lint is required (scripts/test.sh installs it)"
            );
            eprintln!("SKIPPED: cfn-lint not installed; run scripts/test.sh");
            return;
        }
    };
    let report = String::from_utf8_lossy(&out.stdout);
    // cfn-lint's exit code is a bit mask: 2 = errors, 4 = warnings, 8 = informational.
    let code = out.status.code().expect("exit code");
    assert_eq!(code & 2, 0, "cfn-lint found errors:\n{report}");
    assert!(
        !report.lines().any(|l| l.starts_with('E')),
        "cfn-lint found errors:\n{report}"
    );
}

#[test]
fn no_cache_key_or_origin_request_carries_the_token() {
    let r = resources(&template());
    let policies = of_type(&r, "AWS::CloudFront::CachePolicy");
    assert_eq!(policies.len(), 4);
    for (name, p) in policies {
        if name == "ViewerCachePolicy" {
            // The viewer's static files: nothing of the request in the key.
            let params =
                &p["Properties"]["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"];
            assert_eq!(params["HeadersConfig"]["HeaderBehavior"], "none");
            assert_eq!(params["CookiesConfig"]["CookieBehavior"], "none");
            assert_eq!(params["QueryStringsConfig"]["QueryStringBehavior"], "none");
            continue;
        }
        let params =
            &p["Properties"]["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"];
        let headers: Vec<&str> = params["HeadersConfig"]["Headers"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(
            headers,
            ["Accept"],
            "{name}: the key is the normalised Accept only"
        );
        assert_eq!(params["CookiesConfig"]["CookieBehavior"], "none", "{name}");
        let q = &params["QueryStringsConfig"];
        match q["QueryStringBehavior"].as_str().unwrap() {
            "whitelist" => {
                let listed: BTreeSet<&str> = q["QueryStrings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                assert!(!listed.contains("token"), "{name}");
                let expected: BTreeSet<&str> = if name == "RenderedCachePolicy" {
                    BTreeSet::from([
                        "imageSetId",
                        "accept",
                        "window",
                        "viewport",
                        "quality",
                        "annotation",
                        "iccprofile",
                    ])
                } else {
                    BTreeSet::from(["imageSetId", "accept", "imageFrameId"])
                };
                assert_eq!(listed, expected, "{name}");
            }
            "allExcept" => assert_eq!(q["QueryStrings"], json!(["token"]), "{name}"),
            other => panic!("{name}: query strings {other}"),
        }
    }
    for (name, p) in of_type(&r, "AWS::CloudFront::OriginRequestPolicy") {
        let c = &p["Properties"]["OriginRequestPolicyConfig"];
        let headers = c["HeadersConfig"]["Headers"]
            .to_string()
            .to_ascii_lowercase();
        assert!(!headers.contains("authorization"), "{name}: {headers}");
        assert_eq!(c["HeadersConfig"]["HeaderBehavior"], "whitelist", "{name}");
        assert_eq!(c["CookiesConfig"]["CookieBehavior"], "none", "{name}");
    }
}

#[test]
fn iam_grants_only_the_four_reads_on_the_configured_datastores() {
    let r = resources(&template());
    let mut statements = Vec::new();
    for (name, role) in of_type(&r, "AWS::IAM::Role") {
        for p in role["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for s in p["PolicyDocument"]["Statement"].as_array().unwrap() {
                statements.push((name.clone(), s.clone()));
            }
        }
    }
    for (_, p) in of_type(&r, "AWS::IAM::RolePolicy") {
        let role = p["Properties"]["RoleName"]["Ref"]
            .as_str()
            .unwrap()
            .to_owned();
        for s in p["Properties"]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
        {
            statements.push((role.clone(), s.clone()));
        }
    }
    let mut granted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (role, s) in &statements {
        assert_eq!(s["Effect"], "Allow");
        let actions: Vec<String> = match &s["Action"] {
            Value::String(a) => vec![a.clone()],
            a => a
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_owned())
                .collect(),
        };
        for a in &actions {
            assert!(!a.contains('*'), "{role}: wildcard action {a}");
            if a == "lambda:InvokeFunctionUrl" {
                assert_eq!(role, "EdgeFunctionRole");
                continue;
            }
            assert!(READS.contains(&a.as_str()), "{role}: {a}");
            granted.entry(role.clone()).or_default().insert(a.clone());
        }
        if actions.iter().any(|a| a.starts_with("medical-imaging:")) {
            for arn in eval(&s["Resource"]) {
                let ok = DATASTORES.iter().any(|d| {
                    let base =
                        format!("arn:aws:medical-imaging:us-west-2:111122223333:datastore/{d}");
                    arn == base || arn == format!("{base}/imageset/*")
                });
                assert!(ok, "{role}: {arn} is not one of the configured datastores");
            }
        }
    }
    let reads: BTreeSet<String> = READS.iter().map(|s| s.to_string()).collect();
    assert_eq!(granted["TranslatorRole"], reads);
    assert_eq!(
        granted["EdgeFunctionRole"],
        BTreeSet::from(["medical-imaging:GetImageFrame".to_owned()])
    );
    // Each datastore is granted, image sets included, to both roles.
    for d in DATASTORES {
        for role in ["TranslatorRole", "EdgeFunctionRole"] {
            let covered = statements.iter().filter(|(r, _)| r == role).any(|(_, s)| {
                eval(&s["Resource"])
                    .iter()
                    .any(|a| a.ends_with(&format!("datastore/{d}/imageset/*")))
            });
            assert!(covered, "{role} lacks {d}");
        }
    }
}

#[test]
fn the_translator_is_reached_through_oac_on_a_streaming_iam_url() {
    let r = resources(&template());
    let url = &r["TranslatorFunctionUrl"]["Properties"];
    assert_eq!(url["InvokeMode"], "RESPONSE_STREAM");
    assert_eq!(url["AuthType"], "AWS_IAM");
    // The second URL, for byte ranges: buffered (answers with a length), IAM too, on the
    // `ranges` alias of the same code.
    let ranges = &r["TranslatorRangesFunctionUrl"]["Properties"];
    assert_eq!(ranges["InvokeMode"], "BUFFERED");
    assert_eq!(ranges["AuthType"], "AWS_IAM");
    assert_eq!(ranges["Qualifier"], "ranges");
    let alias = &r["TranslatorRangesAlias"]["Properties"];
    assert_eq!(alias["Name"], "ranges");
    assert_eq!(alias["FunctionVersion"], "$LATEST");
    let oac = &r["TranslatorOriginAccessControl"]["Properties"]["OriginAccessControlConfig"];
    assert_eq!(oac["OriginAccessControlOriginType"], "lambda");
    assert_eq!(oac["SigningBehavior"], "always");
    assert_eq!(oac["SigningProtocol"], "sigv4");
    let config = &r["Distribution"]["Properties"]["DistributionConfig"];
    let origins = config["Origins"].as_array().unwrap();
    let translator = origins.iter().find(|o| o["Id"] == "translator").unwrap();
    assert_eq!(
        translator["OriginAccessControlId"],
        json!({"Fn::GetAtt": ["TranslatorOriginAccessControl", "Id"]})
    );
    assert_eq!(
        translator["CustomOriginConfig"]["OriginProtocolPolicy"],
        "https-only"
    );
    // Both origins the ranged requests leave from name the buffered URL.
    for id in ["translator", "healthimaging"] {
        let o = origins.iter().find(|o| o["Id"] == id).unwrap();
        let named = o["OriginCustomHeaders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| {
                h["HeaderName"] == edge::signer::RANGES_URL_HEADER
                    && h["HeaderValue"]["Fn::If"][1]
                        == json!({"Fn::GetAtt": ["TranslatorRangesFunctionUrl", "FunctionUrl"]})
            });
        assert!(named, "{id}");
    }
    // CloudFront may invoke it: both permissions, for the CloudFront service only.
    let actions: BTreeSet<&str> = of_type(&r, "AWS::Lambda::Permission")
        .iter()
        .map(|(_, p)| {
            assert_eq!(p["Properties"]["Principal"], "cloudfront.amazonaws.com");
            p["Properties"]["Action"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        actions,
        BTreeSet::from(["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"])
    );
    let f = &r["TranslatorFunction"]["Properties"];
    assert_eq!(f["Runtime"], "provided.al2023");
    assert_eq!(f["Architectures"], json!(["x86_64"]));
}

#[test]
fn every_behavior_runs_the_nodejs_authorizer_and_the_edge_functions_are_nodejs() {
    let r = resources(&template());
    let config = &r["Distribution"]["Properties"]["DistributionConfig"];
    let behaviors = behaviors_without_viewer(config);
    assert_eq!(behaviors.len(), edge::behaviors::BEHAVIORS.len());
    let mut associated = BTreeSet::new();
    for b in &behaviors {
        assert_eq!(b["ViewerProtocolPolicy"], "https-only");
        let assoc = b["LambdaFunctionAssociations"].as_array().unwrap();
        let viewer = assoc.iter().find(|a| a["EventType"] == "viewer-request");
        assert_eq!(
            viewer.map(|a| a["LambdaFunctionARN"].clone()),
            Some(json!({"Ref": "ViewerRequestVersion"})),
            "{}",
            b["PathPattern"]
        );
        for a in assoc {
            associated.insert(a["LambdaFunctionARN"]["Ref"].as_str().unwrap().to_owned());
        }
    }
    let native = behaviors
        .iter()
        .find(|b| b["PathPattern"] == "/datastore/*/imageSet/*/getImageFrame")
        .unwrap();
    let signer = native["LambdaFunctionAssociations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["EventType"] == "origin-request")
        .unwrap();
    assert_eq!(
        signer["LambdaFunctionARN"],
        json!({"Ref": "OriginRequestVersion"})
    );
    assert_eq!(signer["IncludeBody"], true);
    let errors = native["LambdaFunctionAssociations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["EventType"] == "origin-response")
        .unwrap();
    assert_eq!(
        errors["LambdaFunctionARN"],
        json!({"Ref": "OriginRequestVersion"})
    );
    assert_eq!(native["TargetOriginId"], "healthimaging");
    for version in associated {
        let function = r[&version]["Properties"]["FunctionName"]["Ref"]
            .as_str()
            .unwrap();
        let f = &r[function]["Properties"];
        assert_eq!(f["Runtime"], "nodejs22.x", "{function}");
        assert_eq!(f["Architectures"], json!(["x86_64"]), "{function}");
        assert!(
            f.get("Environment").is_none(),
            "{function}: Lambda@Edge has no environment"
        );
        assert!(f["MemorySize"].as_u64().unwrap() <= 128 || function != "ViewerRequestFunction");
        assert!(
            r[&version]["Properties"]["CodeSha256"].is_object(),
            "{version}"
        );
    }
    let role = &r["EdgeFunctionRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(
        role["Principal"]["Service"],
        json!(["lambda.amazonaws.com", "edgelambda.amazonaws.com"])
    );
}

#[test]
fn tls_and_logs_keep_secrets_out() {
    let r = resources(&template());
    let config = &r["Distribution"]["Properties"]["DistributionConfig"];
    let custom = &config["ViewerCertificate"]["Fn::If"][1];
    assert_eq!(custom["MinimumProtocolVersion"], "TLSv1.2_2021");
    for o in config["Origins"].as_array().unwrap() {
        if viewer_branch(o, false).is_object() && o.get("Fn::If").is_some() {
            continue; // the viewer's bucket: an S3 origin, always over TLS
        }
        assert_eq!(
            o["CustomOriginConfig"]["OriginSSLProtocols"],
            json!(["TLSv1.2"])
        );
    }
    let fields: Vec<&str> = r["AccessLogDelivery"]["Properties"]["RecordFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(fields.contains(&"cs-uri-stem") && fields.contains(&"sc-status"));
    assert!(
        !fields.contains(&"cs-uri-query"),
        "the query can hold ?token="
    );
    assert!(!fields.contains(&"cs(Cookie)"));
}

/// The template and the behaviors table the local server keys its cache with
/// (`edge::behaviors`) cannot drift: path patterns and their order, origins, functions,
/// cache-key headers and query strings, gzip, TTL bounds, CORS lists and error caching.
#[test]
fn the_template_matches_the_behaviors_table() {
    use edge::behaviors::{self, QueryKey};
    let r = resources(&template());
    let config = &r["Distribution"]["Properties"]["DistributionConfig"];
    let in_template = behaviors_without_viewer(config);
    assert_eq!(in_template.len(), behaviors::BEHAVIORS.len());
    let policy_of = |b: &Value| -> Value {
        let name = b["CachePolicyId"]["Ref"].as_str().unwrap();
        r[name]["Properties"]["CachePolicyConfig"].clone()
    };
    for (t, b) in in_template.iter().zip(behaviors::BEHAVIORS) {
        let what = format!("{:?}", b.path_pattern);
        assert_eq!(t["PathPattern"].as_str(), b.path_pattern, "{what}");
        assert_eq!(t["TargetOriginId"], b.origin.id(), "{what}");
        let assoc = t["LambdaFunctionAssociations"].as_array().unwrap();
        let signer = assoc
            .iter()
            .filter(|a| a["EventType"] == "origin-request" || a["EventType"] == "origin-response")
            .count();
        let want = match (b.signer, b.ranges) {
            (true, _) => 2,
            (false, true) => 1,
            (false, false) => 0,
        };
        assert_eq!(signer, want, "{what}");
        if b.ranges && !b.signer {
            let a = assoc
                .iter()
                .find(|a| a["EventType"] == "origin-request")
                .unwrap();
            assert_eq!(
                a["LambdaFunctionARN"],
                json!({"Ref": "OriginRequestVersion"})
            );
            assert!(a.get("IncludeBody").is_none(), "{what}");
        }
        let p = policy_of(t);
        assert_eq!(
            p["Name"],
            json!({"Fn::Sub": format!("${{AWS::StackName}}-{}", b.cache.name)}),
            "{what}"
        );
        let keys = &p["ParametersInCacheKeyAndForwardedToOrigin"];
        let headers: Vec<&str> = keys["HeadersConfig"]["Headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap())
            .collect();
        assert_eq!(
            keys["HeadersConfig"]["HeaderBehavior"], "whitelist",
            "{what}"
        );
        assert_eq!(headers, b.cache.headers, "{what}");
        let qs = &keys["QueryStringsConfig"];
        let names: Vec<&str> = qs["QueryStrings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap())
            .collect();
        match b.cache.query {
            QueryKey::Only(keep) => {
                assert_eq!(qs["QueryStringBehavior"], "whitelist", "{what}");
                assert_eq!(names, keep, "{what}");
            }
            QueryKey::AllExcept(drop) => {
                assert_eq!(qs["QueryStringBehavior"], "allExcept", "{what}");
                assert_eq!(names, drop, "{what}");
            }
        }
        assert_eq!(keys["EnableAcceptEncodingGzip"], b.cache.gzip, "{what}");
        match b.cache.max_ttl {
            Some(ttl) => assert_eq!(p["MaxTTL"], ttl, "{what}"),
            None => assert!(
                p["MaxTTL"].get("Ref").is_some(),
                "{what}: MaxTTL from a parameter"
            ),
        }
        assert_eq!(p["MinTTL"], 0, "{what}");
    }

    let cors =
        &r["ResponseHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]["CorsConfig"];
    let items = |k: &str| -> Vec<String> {
        cors[k]["Items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        items("AccessControlAllowHeaders"),
        behaviors::CORS_ALLOW_HEADERS
    );
    assert_eq!(
        items("AccessControlAllowMethods"),
        behaviors::CORS_ALLOW_METHODS
    );
    assert_eq!(
        items("AccessControlExposeHeaders"),
        behaviors::CORS_EXPOSE_HEADERS
    );

    let errors: Vec<(u16, u64)> = config["CustomErrorResponses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(e.get("ResponsePagePath").is_none(), "no error pages: {e}");
            (
                e["ErrorCode"].as_u64().unwrap() as u16,
                e["ErrorCachingMinTTL"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(errors, behaviors::ERROR_CACHING_MIN_TTL);
}

/// AWS WAF in front of the distribution when configured: an existing Web ACL by ARN, or the
/// built-in one (AWS's known-bad-inputs rules, then a per-IP rate-based rule over 5 minutes
/// answering 429); without authentication the template insists on one of them.
#[test]
fn a_web_acl_guards_the_distribution_when_configured() {
    let t = template();
    let r = resources(&t);
    let config = &r["Distribution"]["Properties"]["DistributionConfig"];
    assert_eq!(
        config["WebACLId"],
        json!({"Fn::If": ["HasWebAclArn", {"Ref": "WebAclArn"},
            {"Fn::If": ["HasBuiltInWebAcl", {"Fn::GetAtt": ["WebAcl", "Arn"]}, {"Ref": "AWS::NoValue"}]}]})
    );
    let acl = &r["WebAcl"];
    assert_eq!(acl["Condition"], "HasBuiltInWebAcl");
    assert_eq!(acl["Properties"]["Scope"], "CLOUDFRONT");
    let rules = acl["Properties"]["Rules"].as_array().unwrap();
    assert_eq!(
        rules[0]["Statement"]["ManagedRuleGroupStatement"]["Name"],
        "AWSManagedRulesKnownBadInputsRuleSet"
    );
    let rate = &rules[1]["Statement"]["RateBasedStatement"];
    assert_eq!(rate["Limit"], json!({"Ref": "RateLimitPerIp"}));
    assert_eq!(rate["AggregateKeyType"], "IP");
    assert_eq!(rate["EvaluationWindowSec"], 300);
    assert_eq!(
        rules[1]["Action"]["Block"]["CustomResponse"]["ResponseCode"],
        429
    );
    let rule = &t["Rules"]["NoAuthenticationNeedsAWebAcl"];
    assert_eq!(
        rule["RuleCondition"],
        json!({"Fn::Equals": [{"Ref": "AuthMode"}, "none"]})
    );
    assert_eq!(
        t["Parameters"]["AuthMode"]["AllowedValues"],
        json!(["cognito", "oidc", "none"])
    );
    // The translator's reserved concurrency bounds the HealthImaging calls in flight.
    assert_eq!(
        r["TranslatorFunction"]["Properties"]["ReservedConcurrentExecutions"],
        json!({"Fn::If": ["HasReservedConcurrency", {"Ref": "TranslatorReservedConcurrency"}, {"Ref": "AWS::NoValue"}]})
    );
}

/// checkov (the seed's scanner) passes the template, and every check it skips is skipped in
/// the template itself with a reason.
#[test]
fn checkov_passes_and_every_skip_says_why() {
    let path = workspace().join("deploy/template.yaml");
    let checkov = std::env::var("DICOMWEB_EDGE_CHECKOV").unwrap_or_else(|_| "checkov".into());
    let out = match Command::new(&checkov)
        .args([
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--quiet",
            "--skip-download",
            "-f",
        ])
        .arg(&path)
        .output()
    {
        Ok(o) => o,
        Err(_) => {
            assert!(
                std::env::var("DICOMWEB_EDGE_FULL_TESTS").as_deref() != Ok("1"),
                "checkov is required (scripts/test.sh installs it)"
            );
            eprintln!("SKIPPED: checkov not installed; run scripts/test.sh");
            return;
        }
    };
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "checkov's report: {e}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let summary = &report["summary"];
    let failed: Vec<String> = report["results"]["failed_checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{} {}", c["check_id"], c["resource"]))
        .collect();
    assert_eq!(summary["failed"], 0, "checkov failed: {failed:?}");
    assert!(summary["passed"].as_u64().unwrap() >= 40, "{summary}");
    for (name, res) in resources(&template()) {
        for skip in res["Metadata"]["checkov"]["skip"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let why = skip["comment"].as_str().unwrap_or("");
            assert!(
                why.len() > 20,
                "{name}: skip {} without a reason",
                skip["id"]
            );
        }
    }
}

/// The OHIF data source the stack outputs is the one `serve` prints for an OHIF hosted
/// elsewhere (`dicomweb_edge::ohif::data_source`), but for its friendly name.
#[test]
fn the_ohif_data_source_output_is_the_one_serve_prints() {
    let t = template();
    let sub = &t["Outputs"]["OhifDataSource"]["Value"]["Fn::Sub"];
    let root = "https://d111111abcdef8.cloudfront.net/datastore/0123456789abcdef0123456789abcdef";
    let text = sub[0].as_str().unwrap().replace("${Root}", root);
    let mut output: Value = serde_json::from_str(&text).unwrap();
    let mut printed = dicomweb_edge::ohif::data_source(root, "dicomweb-edge");
    assert_eq!(
        output["configuration"]["friendlyName"].take(),
        json!("AWS HealthImaging")
    );
    printed["configuration"]["friendlyName"].take();
    assert_eq!(output, printed);
}

/// With `Viewer=true`: a private, encrypted, versioned bucket with Block Public Access and
/// no ACLs, read only by this distribution through Origin Access Control and only over TLS;
/// the default behavior serves it without the authorizer (its files hold no patient data),
/// with the viewer's security headers and its routes function, and every DICOMweb behavior
/// keeps the authorizer; the viewer's URL is an output.
#[test]
fn the_viewer_is_a_private_bucket_behind_oac_and_dicomweb_keeps_its_authorizer() {
    let t = template();
    let r = resources(&t);
    assert_eq!(
        t["Conditions"]["HasViewer"]["Fn::And"][1],
        json!({"Fn::Equals": [{"Ref": "Viewer"}, "true"]})
    );
    let bucket = &r["ViewerBucket"];
    assert_eq!(bucket["Condition"], "HasViewer");
    let b = &bucket["Properties"];
    for k in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(b["PublicAccessBlockConfiguration"][k], true, "{k}");
    }
    assert_eq!(
        b["OwnershipControls"]["Rules"][0]["ObjectOwnership"],
        "BucketOwnerEnforced"
    );
    assert!(b.get("AccessControl").is_none(), "no canned ACL");
    assert_eq!(b["VersioningConfiguration"]["Status"], "Enabled");
    assert_eq!(
        b["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
            ["SSEAlgorithm"],
        "AES256"
    );
    let statements = r["ViewerBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .clone();
    let allow: Vec<&Value> = statements
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .collect();
    assert_eq!(allow.len(), 1);
    assert_eq!(
        allow[0]["Principal"],
        json!({"Service": "cloudfront.amazonaws.com"})
    );
    assert_eq!(allow[0]["Action"], "s3:GetObject");
    assert!(
        allow[0]["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
            .as_str()
            .unwrap()
            .ends_with(":distribution/${Distribution}")
    );
    assert!(
        statements
            .iter()
            .any(|s| s["Effect"] == "Deny"
                && s["Condition"]["Bool"]["aws:SecureTransport"] == "false")
    );
    let oac = &r["ViewerOriginAccessControl"]["Properties"]["OriginAccessControlConfig"];
    assert_eq!(oac["OriginAccessControlOriginType"], "s3");
    assert_eq!(oac["SigningBehavior"], "always");

    let config = &r["Distribution"]["Properties"]["DistributionConfig"];
    let origin = config["Origins"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|o| {
            let v = viewer_branch(o, true);
            (v["Id"] == "viewer").then_some(v)
        })
        .expect("the viewer's origin");
    assert_eq!(
        origin["OriginAccessControlId"],
        json!({"Fn::GetAtt": ["ViewerOriginAccessControl", "Id"]})
    );
    assert_eq!(
        origin["DomainName"],
        json!({"Fn::GetAtt": ["ViewerBucket", "RegionalDomainName"]})
    );

    let default = viewer_branch(&config["DefaultCacheBehavior"], true);
    assert_eq!(default["TargetOriginId"], "viewer");
    assert!(
        default.get("LambdaFunctionAssociations").is_none(),
        "no authorizer on the viewer's files"
    );
    assert_eq!(default["AllowedMethods"], json!(["GET", "HEAD"]));
    assert_eq!(
        default["ResponseHeadersPolicyId"],
        json!({"Ref": "ViewerResponseHeadersPolicy"})
    );
    assert_eq!(
        default["FunctionAssociations"][0]["FunctionARN"],
        json!({"Fn::GetAtt": ["ViewerRoutesFunction", "FunctionMetadata.FunctionARN"]})
    );
    // Every DICOMweb path is under a behavior that runs the authorizer, with the viewer too.
    for b in config["CacheBehaviors"].as_array().unwrap() {
        let pattern = b["PathPattern"].as_str().unwrap();
        assert!(pattern.starts_with("/datastore/"), "{pattern}");
        assert!(
            b["LambdaFunctionAssociations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["EventType"] == "viewer-request"
                    && a["LambdaFunctionARN"] == json!({"Ref": "ViewerRequestVersion"})),
            "{pattern}"
        );
    }
    assert_eq!(
        config["CacheBehaviors"].as_array().unwrap().last().unwrap()["PathPattern"],
        "/datastore/*"
    );
    let headers = &r["ViewerResponseHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"];
    assert_eq!(
        headers["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"],
        json!({"Ref": "ViewerContentSecurityPolicy"})
    );
    let custom: Vec<(&str, &str)> = headers["CustomHeadersConfig"]["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["Header"].as_str().unwrap(), h["Value"].as_str().unwrap()))
        .collect();
    assert!(custom.contains(&("Cross-Origin-Embedder-Policy", "require-corp")));
    assert!(custom.contains(&("Cross-Origin-Opener-Policy", "same-origin")));
    // The routes function: a path without an extension is the viewer's page.
    let code = r["ViewerRoutesFunction"]["Properties"]["FunctionCode"]
        .as_str()
        .unwrap();
    assert!(code.contains("request.uri = '/index.html'"));
    assert_eq!(t["Outputs"]["ViewerUrl"]["Condition"], "HasViewer");
}
