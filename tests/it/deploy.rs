//! The deployment artifacts under `deploy/`: the IAM policies, the SAM
//! template, the Kubernetes manifest and the Dockerfile parse, say what the
//! README promises, and agree with each other and with the code (the tag
//! keys, the policy format). Nothing here needs Docker, AWS or a cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use chrono::{TimeZone, Utc};
use kinesis_autoscaler::apply::tags;
use kinesis_autoscaler::model::History;
use kinesis_autoscaler::policy::Policy;
use serde::Deserialize;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use crate::support::root;

const READ_ONLY: &str = "deploy/iam/read-only-policy.json";
const CONTROLLER: &str = "deploy/iam/controller-policy.json";
const ENHANCED_MONITORING: &str = "deploy/iam/enhanced-monitoring-policy.json";
const NOTIFY_SNS: &str = "deploy/iam/notify-sns-policy.json";
const ON_DEMAND: &str = "deploy/iam/shard-metrics-on-demand-policy.json";
const WARM_THROUGHPUT: &str = "deploy/iam/warm-throughput-policy.json";
const SAM_TEMPLATE: &str = "deploy/sam/template.yaml";
const STACKSET_TEMPLATE: &str = "deploy/stackset/template.yaml";
const K8S_MANIFEST: &str = "deploy/k8s/kinesis-autoscaler.yaml";
const DOCKERFILE: &str = "deploy/Dockerfile";

/// The resource of every stream-level statement, with the placeholders
/// deploy/README.md tells how to fill.
const STREAM_ARN: &str = "arn:aws:kinesis:REGION:ACCOUNT_ID:stream/STREAM_PREFIX*";

/// What `plan` calls: the read-only policy grants exactly these.
const READ_ACTIONS: [&str; 6] = [
    "kinesis:ListStreams",
    "kinesis:DescribeStreamSummary",
    "kinesis:ListShards",
    "kinesis:DescribeLimits",
    "kinesis:ListTagsForStream",
    "cloudwatch:GetMetricData",
];

/// What applying a plan adds to the read actions.
const WRITE_ACTIONS: [&str; 3] = [
    "kinesis:SplitShard",
    "kinesis:MergeShards",
    "kinesis:AddTagsToStream",
];

/// Actions without resource-level permissions in the IAM service
/// authorization reference: their statements must say `Resource: "*"`.
const UNSCOPED_ACTIONS: [&str; 5] = [
    "kinesis:ListStreams",
    "kinesis:DescribeLimits",
    "cloudwatch:GetMetricData",
    "kinesis:EnableEnhancedMonitoring",
    "kinesis:DisableEnhancedMonitoring",
];

/// Verbs of actions that change something.
const WRITE_VERBS: [&str; 18] = [
    "Add",
    "Create",
    "Decrease",
    "Delete",
    "Deregister",
    "Disable",
    "Enable",
    "Increase",
    "Merge",
    "Put",
    "Register",
    "Remove",
    "Split",
    "Start",
    "Stop",
    "Tag",
    "Untag",
    "Update",
];

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

// ---------------------------------------------------------------- IAM

fn iam(rel: &str) -> Json {
    let doc: Json = serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert_eq!(doc["Version"], "2012-10-17", "{rel}: Version");
    doc
}

fn statements(doc: &Json) -> &[Json] {
    doc["Statement"].as_array().expect("Statement is a list")
}

/// A string or a list of strings, as IAM allows for Action and Resource.
fn strings(value: &Json) -> Vec<String> {
    match value {
        Json::String(s) => vec![s.clone()],
        Json::Array(items) => items
            .iter()
            .map(|i| i.as_str().expect("a string").to_owned())
            .collect(),
        other => panic!("expected a string or a list of strings, got {other}"),
    }
}

fn actions(doc: &Json) -> BTreeSet<String> {
    statements(doc)
        .iter()
        .flat_map(|s| strings(&s["Action"]))
        .collect()
}

#[test]
fn iam_policies_parse_and_allow_named_actions_only() {
    for rel in [
        READ_ONLY,
        CONTROLLER,
        ENHANCED_MONITORING,
        ON_DEMAND,
        NOTIFY_SNS,
        WARM_THROUGHPUT,
    ] {
        let doc = iam(rel);
        assert!(!statements(&doc).is_empty(), "{rel}: no statements");
        let mut sids = BTreeSet::new();
        for s in statements(&doc) {
            assert_eq!(s["Effect"], "Allow", "{rel}: {s}");
            for key in ["NotAction", "NotResource", "Principal"] {
                assert!(s.get(key).is_none(), "{rel}: {key} in {s}");
            }
            assert!(sids.insert(s["Sid"].as_str().expect("Sid").to_owned()));
            for action in strings(&s["Action"]) {
                assert!(!action.contains('*'), "{rel}: wildcard action {action}");
                let sns_publish = rel == NOTIFY_SNS && action == "sns:Publish";
                assert!(
                    action.starts_with("kinesis:")
                        || action.starts_with("cloudwatch:")
                        || sns_publish,
                    "{rel}: {action}"
                );
            }
        }
    }
}

#[test]
fn read_only_policy_grants_exactly_what_plan_reads() {
    let doc = iam(READ_ONLY);
    assert_eq!(actions(&doc), set(&READ_ACTIONS));
    for action in actions(&doc) {
        let verb = action.split_once(':').unwrap().1;
        assert!(
            !WRITE_VERBS.iter().any(|w| verb.starts_with(w)),
            "{action} writes"
        );
    }
}

#[test]
fn controller_policy_adds_resharding_and_tagging_to_the_read_only_one() {
    let read_only = iam(READ_ONLY);
    let controller = iam(CONTROLLER);
    let expected: BTreeSet<String> = set(&READ_ACTIONS)
        .union(&set(&WRITE_ACTIONS))
        .cloned()
        .collect();
    assert_eq!(actions(&controller), expected);
    // The read statements are the read-only policy's, word for word.
    for s in statements(&read_only) {
        assert!(
            statements(&controller).contains(s),
            "{CONTROLLER} lacks the read-only statement {s}"
        );
    }
    // Enabling shard-level metrics is a separate, optional grant.
    assert_eq!(
        actions(&iam(ENHANCED_MONITORING)),
        set(&["kinesis:EnableEnhancedMonitoring"])
    );
    // So is turning them on and off on demand; the record of which the
    // controller turned on is one of its own tags, which the controller
    // policy already lets it write.
    assert_eq!(
        actions(&iam(ON_DEMAND)),
        set(&[
            "kinesis:EnableEnhancedMonitoring",
            "kinesis:DisableEnhancedMonitoring"
        ])
    );
    assert!(tags::SHARD_METRICS.starts_with(tags::PREFIX));
    // Managing On-Demand streams' warm throughput is another.
    assert_eq!(
        actions(&iam(WARM_THROUGHPUT)),
        set(&["kinesis:UpdateStreamWarmThroughput"])
    );
}

#[test]
fn stream_actions_are_scoped_to_the_stream_prefix() {
    for rel in [READ_ONLY, CONTROLLER, ENHANCED_MONITORING, ON_DEMAND] {
        let doc = iam(rel);
        for s in statements(&doc) {
            let resources = strings(&s["Resource"]);
            let actions = strings(&s["Action"]);
            let unscoped = actions
                .iter()
                .filter(|a| UNSCOPED_ACTIONS.contains(&a.as_str()))
                .count();
            if resources == ["*"] {
                assert_eq!(unscoped, actions.len(), "{rel}: {s} could be scoped");
            } else {
                assert_eq!(unscoped, 0, "{rel}: {s} needs Resource \"*\"");
                assert_eq!(resources, [STREAM_ARN], "{rel}: {s}");
            }
        }
    }
    // Filled in as deploy/README.md shows, the ARN names streams only.
    let filled = STREAM_ARN
        .replace("REGION", "eu-west-1")
        .replace("ACCOUNT_ID", "123456789012")
        .replace("STREAM_PREFIX", "orders");
    assert_eq!(
        filled,
        "arn:aws:kinesis:eu-west-1:123456789012:stream/orders*"
    );
    let readme = read("deploy/README.md");
    for placeholder in ["REGION", "ACCOUNT_ID", "STREAM_PREFIX", "sed "] {
        assert!(
            readme.contains(placeholder),
            "deploy/README.md: {placeholder}"
        );
    }
}

#[test]
fn tagging_is_limited_to_the_keys_the_controller_writes() {
    let doc = iam(CONTROLLER);
    let tagging: Vec<&Json> = statements(&doc)
        .iter()
        .filter(|s| strings(&s["Action"]).contains(&"kinesis:AddTagsToStream".to_owned()))
        .collect();
    assert_eq!(tagging.len(), 1);
    let condition = &tagging[0]["Condition"];
    let pattern = condition["ForAllValues:StringLike"]["aws:TagKeys"]
        .as_str()
        .expect("a tag-key condition");
    assert_eq!(condition["Null"]["aws:TagKeys"], "false");
    let prefix = pattern.strip_suffix('*').expect("a prefix glob");
    assert!(!prefix.contains(['*', '?']), "{pattern}");
    assert_eq!(prefix, tags::PREFIX);
    let t = Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap();
    let history = History {
        last_scale_up: Some(t),
        last_scale_down: Some(t),
        today: Some(kinesis_autoscaler::model::DayCount {
            since: t,
            operations: 3,
        }),
        last_action: None,
        shard_metrics: Some(kinesis_autoscaler::model::MetricsRecord {
            since: t,
            metrics: vec![kinesis_autoscaler::model::MetricName::IncomingBytes],
        }),
    };
    let written = tags::encode(&history, "split shardId-000000000001");
    assert_eq!(written.len(), 5);
    for (key, _) in written {
        assert!(key.starts_with(prefix), "the policy forbids tag {key}");
    }
}

// ---------------------------------------------------------------- SAM

fn sam() -> Yaml {
    serde_yaml::from_str(&read(SAM_TEMPLATE)).unwrap_or_else(|e| panic!("{SAM_TEMPLATE}: {e}"))
}

/// The value under a CloudFormation short-form tag such as `!Ref`.
fn tagged<'a>(value: &'a Yaml, tag: &str) -> &'a Yaml {
    match value {
        Yaml::Tagged(t) if t.tag == tag => &t.value,
        other => panic!("expected !{tag}, got {other:?}"),
    }
}

fn text(value: &Yaml) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value:?}"))
}

fn the_function(template: &Yaml) -> &Yaml {
    let functions: Vec<&Yaml> = template["Resources"]
        .as_mapping()
        .expect("Resources")
        .values()
        .filter(|r| r["Type"] == "AWS::Serverless::Function")
        .collect();
    assert_eq!(functions.len(), 1, "one function");
    &functions[0]["Properties"]
}

/// Removes `.` and `..` without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => assert!(out.pop(), "{} leaves the root", path.display()),
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn sam_template_runs_one_scheduled_pass_at_a_time() {
    let template = sam();
    assert_eq!(template["Transform"], "AWS::Serverless-2016-10-31");
    let f = the_function(&template);
    assert_eq!(f["Runtime"], "provided.al2023");
    assert_eq!(f["Handler"], "bootstrap");
    let timeout = f["Timeout"].as_u64().expect("Timeout");
    assert!((60..=900).contains(&timeout), "Timeout {timeout}");
    assert_eq!(f["ReservedConcurrentExecutions"], 1);
    assert!(f["MemorySize"].as_u64().expect("MemorySize") >= 128);

    // CodeUri is cargo-lambda's output folder, relative to the template.
    let code_uri = text(&f["CodeUri"]);
    let template_dir = root().join(SAM_TEMPLATE).parent().unwrap().to_owned();
    assert_eq!(
        normalize(&template_dir.join(code_uri)),
        root().join("target/lambda/kinesis-autoscaler-lambda")
    );

    let env = &f["Environment"]["Variables"];
    assert_eq!(text(tagged(&env["KAS_POLICY_YAML"], "Ref")), "PolicyYaml");
    assert_eq!(env["AWS_LAMBDA_LOG_FORMAT"], "JSON");
    // lambda_runtime's log setup reads RUST_LOG (KAS_LOG is the CLI's).
    assert_eq!(text(tagged(&env["RUST_LOG"], "Ref")), "LogLevel");

    // Role: !GetAtt ControllerRole.Arn, a role Lambda may assume.
    let role_ref = text(tagged(&f["Role"], "GetAtt"));
    let (role_name, attribute) = role_ref.split_once('.').expect("Resource.Attribute");
    assert_eq!(attribute, "Arn");
    let role = &template["Resources"][role_name];
    assert_eq!(role["Type"], "AWS::IAM::Role", "{role_name}");
    let trust = &role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(trust["Principal"]["Service"], "lambda.amazonaws.com");
    assert_eq!(trust["Action"], "sts:AssumeRole");
    let managed = text(tagged(&role["Properties"]["ManagedPolicyArns"][0], "Sub"));
    assert!(
        managed.ends_with(":iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"),
        "{managed}"
    );

    // An EventBridge schedule from the ScheduleExpression parameter.
    let schedules: Vec<&Yaml> = f["Events"]
        .as_mapping()
        .expect("Events")
        .values()
        .filter(|e| e["Type"] == "Schedule")
        .collect();
    assert_eq!(schedules.len(), 1);
    let expression = text(tagged(&schedules[0]["Properties"]["Schedule"], "Ref"));
    assert_eq!(
        template["Parameters"][expression]["Default"],
        "rate(5 minutes)"
    );
}

#[test]
fn sam_default_policy_is_a_valid_policy() {
    let template = sam();
    let parameters = &template["Parameters"];
    let default = text(&parameters["PolicyYaml"]["Default"]);
    let policy = Policy::parse(default, Path::new("PolicyYaml")).unwrap_or_else(|e| panic!("{e}"));
    assert!(!policy.streams.is_empty());
    for name in ["StreamPrefix", "ScheduleExpression", "LogLevel"] {
        assert_eq!(parameters[name]["Type"], "String", "{name}");
    }
}

/// Every `!Ref`, `!GetAtt`, `${...}` in a `!Sub` and `Condition` names
/// something the template defines, or a pseudo parameter.
#[test]
fn sam_references_resolve() {
    references_resolve(&sam());
}

/// See [`sam_references_resolve`].
fn references_resolve(template: &Yaml) {
    let names = |key: &str| -> BTreeSet<String> {
        template[key]
            .as_mapping()
            .map(|m| m.keys().map(|k| text(k).to_owned()).collect())
            .unwrap_or_default()
    };
    let (parameters, resources, conditions) =
        (names("Parameters"), names("Resources"), names("Conditions"));
    let known = |name: &str| {
        name.starts_with("AWS::") || parameters.contains(name) || resources.contains(name)
    };

    fn walk(value: &Yaml, visit: &mut dyn FnMut(&str, &Yaml)) {
        match value {
            Yaml::Tagged(t) => {
                // Tags display with their "!", like CloudFormation's short forms.
                visit(&t.tag.to_string(), &t.value);
                walk(&t.value, visit);
            }
            Yaml::Sequence(items) => items.iter().for_each(|i| walk(i, visit)),
            Yaml::Mapping(map) => {
                for (k, v) in map {
                    if k == "Condition" && v.is_string() {
                        visit("Condition", v);
                    }
                    walk(v, visit);
                }
            }
            _ => {}
        }
    }
    let mut problems = Vec::new();
    let mut check = |tag: &str, value: &Yaml| match tag {
        "!Ref" if !known(text(value)) => problems.push(format!("!Ref {value:?}")),
        "!GetAtt" => {
            let target = text(value).split('.').next().unwrap();
            if !resources.contains(target) {
                problems.push(format!("!GetAtt {value:?}"));
            }
        }
        "!Sub" => {
            let mut rest = text(value);
            while let Some(start) = rest.find("${") {
                let end = rest[start..].find('}').expect("closed ${") + start;
                let name = rest[start + 2..end].split('.').next().unwrap();
                if !known(name) {
                    problems.push(format!("!Sub ${{{name}}}"));
                }
                rest = &rest[end..];
            }
        }
        "Condition" if !conditions.contains(text(value)) => {
            problems.push(format!("Condition {value:?}"));
        }
        _ => {}
    };
    for section in ["Conditions", "Resources", "Outputs"] {
        walk(&template[section], &mut check);
    }
    assert!(problems.is_empty(), "unresolved: {problems:?}");
}

/// A CloudFormation policy document as the JSON IAM would get, with the
/// `!Sub` variables written as the JSON files' placeholders.
fn as_iam_json(value: &Yaml) -> Json {
    match value {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => Json::Bool(*b),
        Yaml::Number(n) => serde_json::to_value(n).unwrap(),
        Yaml::String(s) => Json::String(s.clone()),
        Yaml::Sequence(items) => Json::Array(items.iter().map(as_iam_json).collect()),
        Yaml::Mapping(map) => Json::Object(
            map.iter()
                .map(|(k, v)| (text(k).to_owned(), as_iam_json(v)))
                .collect(),
        ),
        Yaml::Tagged(t) if t.tag == "Sub" => {
            let s = text(&t.value)
                .replace("${AWS::Partition}", "aws")
                .replace("${AWS::Region}", "REGION")
                .replace("${AWS::AccountId}", "ACCOUNT_ID")
                .replace("${StreamPrefix}", "STREAM_PREFIX")
                .replace("${NotifyTopicName}", "TOPIC_NAME");
            assert!(!s.contains("${"), "unexpected variable in {s}");
            Json::String(s)
        }
        Yaml::Tagged(t) => panic!("unexpected !{} in a policy document", t.tag),
    }
}

#[test]
fn sam_role_policies_equal_the_iam_json_files() {
    let template = sam();
    let f = the_function(&template);
    let role_name = text(tagged(&f["Role"], "GetAtt"))
        .split('.')
        .next()
        .unwrap();
    let role = &template["Resources"][role_name]["Properties"];
    let inline = role["Policies"].as_sequence().expect("Policies");
    assert_eq!(inline.len(), 1);
    assert_eq!(as_iam_json(&inline[0]["PolicyDocument"]), iam(CONTROLLER));

    // The optional grants are attached to the same role, each under a
    // condition.
    let optional: BTreeMap<&str, &Yaml> = template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::IAM::RolePolicy")
        .map(|(name, r)| (text(name), r))
        .collect();
    assert_eq!(
        optional.keys().copied().collect::<Vec<_>>(),
        [
            "EnhancedMonitoringPolicy",
            "NotifyPolicy",
            "ShardMetricsOnDemandPolicy",
            "WarmThroughputPolicy"
        ]
    );
    for (resource, file) in [
        ("EnhancedMonitoringPolicy", ENHANCED_MONITORING),
        ("NotifyPolicy", NOTIFY_SNS),
        ("ShardMetricsOnDemandPolicy", ON_DEMAND),
        ("WarmThroughputPolicy", WARM_THROUGHPUT),
    ] {
        assert!(optional[resource]["Condition"].is_string());
        let properties = &optional[resource]["Properties"];
        assert_eq!(text(tagged(&properties["RoleName"], "Ref")), role_name);
        assert_eq!(as_iam_json(&properties["PolicyDocument"]), iam(file));
    }
}

// ------------------------------------------------------------------ StackSet

fn stackset() -> Yaml {
    serde_yaml::from_str(&read(STACKSET_TEMPLATE))
        .unwrap_or_else(|e| panic!("{STACKSET_TEMPLATE}: {e}"))
}

/// The resources of `template` of type `kind`, by logical name.
fn resources<'a>(template: &'a Yaml, kind: &str) -> Vec<(String, &'a Yaml)> {
    template["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(k, r)| (text(k).to_owned(), r))
        .collect()
}

#[test]
fn stackset_template_runs_one_scheduled_controller_per_account_and_region() {
    let template = stackset();
    // StackSets take no transform: plain CloudFormation only.
    assert!(template.get("Transform").is_none());
    assert!(resources(&template, "AWS::Serverless::Function").is_empty());
    let functions = resources(&template, "AWS::Lambda::Function");
    assert_eq!(functions.len(), 1);
    let (function, f) = (&functions[0].0, &functions[0].1["Properties"]);
    assert_eq!(f["Runtime"], "provided.al2023");
    assert_eq!(f["Handler"], "bootstrap");
    assert_eq!(f["ReservedConcurrentExecutions"], 1);
    assert_eq!(f["Timeout"], 900);
    // Each region reads its own code bucket.
    assert!(text(tagged(&f["Code"]["S3Bucket"], "Sub")).contains("${AWS::Region}"));
    let env = &f["Environment"]["Variables"];
    assert_eq!(text(tagged(&env["KAS_POLICY_YAML"], "Ref")), "PolicyYaml");
    // The schedule invokes that function, and may.
    let rules = resources(&template, "AWS::Events::Rule");
    assert_eq!(rules.len(), 1);
    let (rule, r) = (&rules[0].0, &rules[0].1["Properties"]);
    assert_eq!(
        text(tagged(&r["ScheduleExpression"], "Ref")),
        "ScheduleExpression"
    );
    let targets = r["Targets"].as_sequence().expect("Targets");
    assert_eq!(
        text(tagged(&targets[0]["Arn"], "GetAtt")),
        format!("{function}.Arn")
    );
    let permissions = resources(&template, "AWS::Lambda::Permission");
    assert_eq!(permissions.len(), 1);
    let p = &permissions[0].1["Properties"];
    assert_eq!(p["Principal"], "events.amazonaws.com");
    assert_eq!(text(tagged(&p["FunctionName"], "Ref")), function.as_str());
    assert_eq!(
        text(tagged(&p["SourceArn"], "GetAtt")),
        format!("{rule}.Arn")
    );
    // A failed pass is not retried; a late event is dropped.
    let invoke = resources(&template, "AWS::Lambda::EventInvokeConfig");
    assert_eq!(invoke[0].1["Properties"]["MaximumRetryAttempts"], 0);
    references_resolve(&template);
}

#[test]
fn stackset_role_policy_equals_the_iam_json_file_and_its_default_policy_is_valid() {
    let template = stackset();
    let roles = resources(&template, "AWS::IAM::Role");
    assert_eq!(roles.len(), 1);
    let inline = roles[0].1["Properties"]["Policies"]
        .as_sequence()
        .expect("Policies");
    assert_eq!(as_iam_json(&inline[0]["PolicyDocument"]), iam(CONTROLLER));
    let default = text(&template["Parameters"]["PolicyYaml"]["Default"]);
    let policy = Policy::parse(default, Path::new("PolicyYaml")).unwrap_or_else(|e| panic!("{e}"));
    assert!(!policy.streams.is_empty());
}

// ---------------------------------------------------------------- Kubernetes

fn k8s() -> BTreeMap<String, Yaml> {
    let text = read(K8S_MANIFEST);
    let mut by_kind = BTreeMap::new();
    for document in serde_yaml::Deserializer::from_str(&text) {
        let doc = Yaml::deserialize(document).unwrap_or_else(|e| panic!("{K8S_MANIFEST}: {e}"));
        let kind = doc["kind"].as_str().expect("kind").to_owned();
        assert!(
            by_kind.insert(kind.clone(), doc).is_none(),
            "two {kind} documents"
        );
    }
    by_kind
}

fn container(deployment: &Yaml) -> &Yaml {
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .expect("containers");
    assert_eq!(containers.len(), 1);
    &containers[0]
}

fn args(container: &Yaml) -> Vec<String> {
    container["args"]
        .as_sequence()
        .expect("args")
        .iter()
        .map(|a| text(a).to_owned())
        .collect()
}

/// The value following `flag` in `args`.
fn flag<'a>(args: &'a [String], flag: &str) -> &'a str {
    let i = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("{flag} missing from {args:?}"));
    &args[i + 1]
}

#[test]
fn k8s_manifest_has_the_expected_documents() {
    let docs = k8s();
    let kinds: Vec<&str> = docs.keys().map(String::as_str).collect();
    assert_eq!(
        kinds,
        ["ConfigMap", "Deployment", "Service", "ServiceAccount"]
    );
}

#[test]
fn k8s_deployment_runs_exactly_one_controller() {
    let docs = k8s();
    let deployment = &docs["Deployment"];
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    let pod = &deployment["spec"]["template"];
    for (key, value) in deployment["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .expect("matchLabels")
    {
        assert_eq!(&pod["metadata"]["labels"][key], value, "pod label {key:?}");
    }
    // Long enough for the reshard in flight to finish after SIGTERM.
    let grace = pod["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("terminationGracePeriodSeconds");
    assert!(grace >= 600, "terminationGracePeriodSeconds {grace}");
}

#[test]
fn k8s_probes_hit_healthz_and_readyz_on_the_listen_port() {
    let docs = k8s();
    let c = container(&docs["Deployment"]);
    let ports = c["ports"].as_sequence().expect("ports");
    let http: Vec<&Yaml> = ports.iter().filter(|p| p["name"] == "http").collect();
    assert_eq!(http.len(), 1);
    assert_eq!(http[0]["containerPort"], 9090);
    let args = args(c);
    assert_eq!(args[0], "run");
    assert_eq!(flag(&args, "--listen"), "0.0.0.0:9090");

    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &c[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert_eq!(get["port"], "http", "{probe}");
    }
    // /healthz fails after 3 intervals without a pass; the liveness probe
    // waits for the first pass and then tolerates a few more failures.
    let live = &c["livenessProbe"];
    assert!(live["initialDelaySeconds"].as_u64().unwrap() >= 60);
    let tolerated =
        live["periodSeconds"].as_u64().unwrap() * live["failureThreshold"].as_u64().unwrap();
    assert!(tolerated >= 180, "liveness tolerates only {tolerated}s");
}

#[test]
fn k8s_container_runs_as_non_root_on_a_read_only_root() {
    let docs = k8s();
    let c = container(&docs["Deployment"]);
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["runAsUser"], 10001);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"][0], "ALL");
    let pod_sc = &docs["Deployment"]["spec"]["template"]["spec"]["securityContext"];
    assert_eq!(pod_sc["runAsNonRoot"], true);
    assert_eq!(pod_sc["runAsUser"], 10001);
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                c["resources"][kind][resource].is_string(),
                "resources.{kind}.{resource}"
            );
        }
    }
}

#[test]
fn k8s_service_account_carries_the_irsa_role() {
    let docs = k8s();
    let sa = &docs["ServiceAccount"];
    assert_eq!(
        docs["Deployment"]["spec"]["template"]["spec"]["serviceAccountName"],
        sa["metadata"]["name"]
    );
    let role = text(&sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]);
    assert!(
        role.starts_with("arn:aws:iam::ACCOUNT_ID:role/"),
        "IRSA role {role}"
    );
}

#[test]
fn k8s_policy_config_map_is_valid_and_mounted_where_run_reads_it() {
    let docs = k8s();
    let config_map = &docs["ConfigMap"];
    let deployment = &docs["Deployment"];
    let c = container(deployment);
    let policy_path = PathBuf::from(flag(&args(c), "--policy"));
    let file_name = policy_path.file_name().unwrap().to_str().unwrap();
    let dir = policy_path.parent().unwrap().to_str().unwrap();

    let policy_text = text(&config_map["data"][file_name]);
    let policy = Policy::parse(policy_text, Path::new("ConfigMap policy.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!policy.streams.is_empty());

    // The volume holding the ConfigMap is mounted on the policy's directory,
    // whole (a subPath mount never sees updates).
    let volumes = deployment["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .expect("volumes");
    let volume: Vec<&Yaml> = volumes
        .iter()
        .filter(|v| v["configMap"]["name"] == config_map["metadata"]["name"])
        .collect();
    assert_eq!(volume.len(), 1);
    let mounts: Vec<&Yaml> = c["volumeMounts"]
        .as_sequence()
        .expect("volumeMounts")
        .iter()
        .filter(|m| m["name"] == volume[0]["name"])
        .collect();
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0]["mountPath"], dir);
    assert!(mounts[0].get("subPath").is_none());
    assert_eq!(mounts[0]["readOnly"], true);
}

#[test]
fn k8s_service_exposes_metrics_for_scraping() {
    let docs = k8s();
    let service = &docs["Service"];
    assert_eq!(service["spec"]["type"], "ClusterIP");
    let pod_labels = &docs["Deployment"]["spec"]["template"]["metadata"]["labels"];
    for (key, value) in service["spec"]["selector"].as_mapping().expect("selector") {
        assert_eq!(&pod_labels[key], value, "selector {key:?}");
    }
    let port = &service["spec"]["ports"][0];
    assert_eq!(port["port"], 9090);
    assert_eq!(port["targetPort"], "http");
    let annotations = &service["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/port"], "9090");
    assert_eq!(annotations["prometheus.io/path"], "/metrics");
}

// ---------------------------------------------------------------- Dockerfile

/// The Dockerfile's instructions as (KEYWORD, arguments), with continuation
/// lines joined and comments dropped.
fn dockerfile() -> Vec<(String, String)> {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in read(DOCKERFILE).lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        let (keyword, rest) = current.split_once(' ').unwrap_or((&current, ""));
        instructions.push((keyword.to_uppercase(), rest.trim().to_owned()));
        current.clear();
    }
    assert!(current.is_empty(), "{DOCKERFILE} ends in a continuation");
    instructions
}

/// The arguments of the instructions named `keyword`.
fn docker_args<'a>(instructions: &'a [(String, String)], keyword: &str) -> Vec<&'a str> {
    instructions
        .iter()
        .filter(|(k, _)| k == keyword)
        .map(|(_, a)| a.as_str())
        .collect()
}

fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("not exec form: {args}: {e}"))
}

#[test]
fn dockerfile_builds_in_stages_from_official_images() {
    let instructions = dockerfile();
    let froms = docker_args(&instructions, "FROM");
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    for from in &froms {
        let image = from
            .split_whitespace()
            .find(|w| !w.starts_with("--"))
            .unwrap();
        // Docker Hub official images by short name: no registry host.
        if let Some((first, _)) = image.split_once('/') {
            assert!(
                !first.contains(['.', ':']) && first != "localhost",
                "registry host in {image}"
            );
        }
    }
    assert!(froms[0].starts_with("rust:"), "{}", froms[0]);
    assert!(froms.last().unwrap().starts_with("debian:"));
    let builds: Vec<&str> = docker_args(&instructions, "RUN")
        .into_iter()
        .filter(|r| r.contains("cargo build"))
        .collect();
    assert!(!builds.is_empty());
    for build in builds {
        assert!(
            build.contains("--release --locked --bin kinesis-autoscaler"),
            "{build}"
        );
    }
    let ignored = read(".dockerignore");
    for entry in ["target/", ".git/", ".emulators/"] {
        assert!(
            ignored.lines().any(|l| l.trim() == entry),
            ".dockerignore: {entry}"
        );
    }
}

#[test]
fn dockerfile_runs_what_the_k8s_manifest_runs_as_the_same_user() {
    let instructions = dockerfile();
    let last_from = instructions.iter().rposition(|(k, _)| k == "FROM").unwrap();
    let runtime = &instructions[last_from..];

    let users = docker_args(runtime, "USER");
    let user: u32 = users.last().expect("USER").parse().expect("a numeric USER");
    assert_ne!(user, 0, "runs as root");
    assert_eq!(docker_args(runtime, "EXPOSE"), ["9090"]);
    assert_eq!(
        exec_form(docker_args(runtime, "ENTRYPOINT")[0]),
        ["kinesis-autoscaler"]
    );
    let cmd = exec_form(docker_args(runtime, "CMD")[0]);

    let docs = k8s();
    let c = container(&docs["Deployment"]);
    assert_eq!(c["securityContext"]["runAsUser"], u64::from(user));
    assert_eq!(flag(&cmd, "--policy"), flag(&args(c), "--policy"));
    assert_eq!(cmd, args(c), "the manifest's args differ from the CMD");
    assert_eq!(flag(&cmd, "--listen"), "0.0.0.0:9090");
}

/// The image's command line is one the binary accepts: with the policy file
/// missing, `run` gets past argument parsing and stops at the policy.
#[test]
fn dockerfile_cmd_is_accepted_by_the_cli() {
    let instructions = dockerfile();
    let mut cmd = exec_form(docker_args(&instructions, "CMD").last().expect("CMD"));
    let missing = root().join("target/no-such-dir/policy.yaml");
    let i = cmd.iter().position(|a| a == "--policy").unwrap();
    cmd[i + 1] = missing.to_str().unwrap().to_owned();
    let out = crate::support::bin()
        .args(&cmd)
        .env_remove("KAS_INTERVAL")
        .env_remove("KAS_LISTEN")
        .env_remove("KAS_LOG_FORMAT")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot read policy"), "{stderr}");
}

/// A checker `scripts/emulators install` puts in the emulators' folder
/// (`checks/bin/NAME`), or `None` when it is not installed and the run does
/// not require it (a plain `cargo test`; `scripts/test` requires it).
fn checker(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("KAS_EMULATORS_DIR")
        .map_or_else(|| root().join(".emulators"), PathBuf::from);
    let path = dir.join("checks").join("bin").join(name);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("KAS_REQUIRE_EMULATORS").is_none(),
        "{} is not installed; run `scripts/emulators install`",
        path.display()
    );
    eprintln!("skipped: {name} is not installed (scripts/emulators install)");
    None
}

/// Runs `tool` with `args`; its exit status and what it printed.
fn check(tool: &Path, args: &[&Path]) -> (bool, String) {
    let out = std::process::Command::new(tool)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The SAM and StackSet templates pass cfn-lint (its every rule, offline),
/// and a timeout beyond any Lambda's fails it: the check can fail.
#[test]
fn cloudformation_templates_pass_cfn_lint() {
    let Some(cfn_lint) = checker("cfn-lint") else {
        return;
    };
    let templates = [
        root().join("deploy/sam/template.yaml"),
        root().join("deploy/stackset/template.yaml"),
    ];
    let (ok, text) = check(&cfn_lint, &[&templates[0], &templates[1]]);
    assert!(ok, "cfn-lint:\n{text}");
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("template.yaml");
    let sam = read("deploy/sam/template.yaml");
    assert!(
        sam.contains("Timeout: 900\n"),
        "the SAM function's timeout moved"
    );
    std::fs::write(&broken, sam.replace("Timeout: 900\n", "Timeout: 9000\n")).unwrap();
    let (ok, text) = check(&cfn_lint, &[&broken]);
    assert!(!ok, "cfn-lint passed a 9000 s timeout:\n{text}");
    assert!(text.contains("9000"), "{text}");
}

/// The Kubernetes manifest validates against the Kubernetes schemas,
/// strictly (no unknown field), without a cluster; a replica count that
/// is not a number fails it.
#[test]
fn the_kubernetes_manifest_validates_against_its_schemas() {
    let Some(validate) = checker("kubernetes-validate") else {
        return;
    };
    let manifest = root().join("deploy/k8s/kinesis-autoscaler.yaml");
    let strict = Path::new("--strict");
    let (ok, text) = check(&validate, &[strict, &manifest]);
    assert!(ok, "kubernetes-validate:\n{text}");
    assert_eq!(text.matches(" passed for resource ").count(), 4, "{text}");
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("manifest.yaml");
    let yaml = read("deploy/k8s/kinesis-autoscaler.yaml");
    assert!(yaml.contains("replicas: 1"), "the replica count moved");
    std::fs::write(&broken, yaml.replace("replicas: 1", "replicas: one")).unwrap();
    let (ok, text) = check(&validate, &[strict, &broken]);
    assert!(!ok, "kubernetes-validate passed replicas: one:\n{text}");
}
