//! `archiver::config`: precedence of flags, environment, file and defaults;
//! errors that name the key; credentials from the environment or hop's
//! auth.toml; secrets masked; topic selection; the hopauth client's answers
//! to what only a hand-made server sends (errors, malformed replies, a
//! server skipping the SCRAM exchange) on wiremock. The exchange itself is
//! tested against an independent server in `login::hopauth`.
//!
//! Every test passes its own environment map to `load_from`: the process
//! environment is never read or changed, so tests run in parallel and a
//! developer's own `~/.config/hop/auth.toml` is never consulted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use archiver::config::{
    self, AuthFileArgs, CredentialSource, KafkaArgs, Membership, PipelineArgs, RunArgs, RunConfig, ServeArgs,
    ServeConfig, ServeLimitsArgs, TopicsArgs,
};
use archiver::source::{
    Credential, HopauthTopic, SecurityProtocol, TopicSelection, TopicsError, fetch_archivable, select_topics,
    wanted_but_invisible,
};
use archiver::telemetry::logging::LogFormat;
use clap::{Parser, Subcommand};
use tempfile::TempDir;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

// ---------------------------------------------------------------------------
// Fixtures

const BROKER: &str = "kafka.scimma.org:9092";

/// An environment with only the given variables (and the broker, which is
/// required), never the process's.
fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    vars.entry("ARCHIVER_KAFKA_BROKERS".into()).or_insert_with(|| BROKER.into());
    vars
}

/// A directory for config and auth files, deleted with the value.
struct Files {
    dir: TempDir,
}

impl Files {
    fn new() -> Files {
        Files { dir: tempfile::tempdir().unwrap() }
    }

    /// Writes `text` to `name` (owner-only, as hop requires for auth.toml).
    fn write(&self, name: &str, text: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }
}

fn with_config(path: &Path) -> RunArgs {
    RunArgs { config: Some(path.into()), ..RunArgs::default() }
}

fn load(args: &RunArgs, vars: &BTreeMap<String, String>) -> RunConfig {
    config::load_from(args, vars).unwrap_or_else(|e| panic!("config should load: {e}"))
}

fn load_err(args: &RunArgs, vars: &BTreeMap<String, String>) -> String {
    match config::load_from(args, vars) {
        Ok(config) => panic!("config should be refused: {config:?}"),
        Err(e) => e.to_string(),
    }
}

/// Issue 11, point 5: `run --store memory:// --index sqlite::memory:` was
/// valid, and would commit Kafka offsets for an archive gone at exit.
#[test]
fn regression_in_memory_backends_are_refused() {
    for (flag, url, key) in [
        ("--store", "memory://", "backends.store_url"),
        ("--index", "sqlite::memory:", "backends.index_url"),
        ("--index", "sqlite://archive.db?mode=memory", "backends.index_url"),
    ] {
        let err = load_err(&parse_run(&["--kafka-brokers", "b:9092", flag, url]).expect("parses"), &BTreeMap::new());
        assert!(err.contains(key) && err.contains("keeps nothing after the process exits"), "{url}: {err}");
    }
}

/// `archiver run` and `archiver config` as main.rs declares them.
#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(after_help = config::SOURCES_HELP)]
    Run(RunArgs),
    #[command(after_help = config::SOURCES_HELP)]
    Config(RunArgs),
}

/// The `RunArgs` of `archiver run ARGS…`.
fn parse_run(args: &[&str]) -> Result<RunArgs, clap::Error> {
    let cli = Cli::try_parse_from(["archiver", "run"].iter().chain(args))?;
    match cli.command {
        Command::Run(run) | Command::Config(run) => Ok(run),
    }
}

// ---------------------------------------------------------------------------
// Defaults and precedence

#[test]
fn defaults_fill_every_unset_key() {
    let config = load(&RunArgs::default(), &env(&[]));
    assert_eq!(config.kafka.connection.brokers, BROKER);
    assert_eq!(config.kafka.connection.security_protocol, SecurityProtocol::Plaintext);
    assert_eq!(config.kafka.connection.sasl_mechanism, "SCRAM-SHA-512");
    assert_eq!(config.kafka.group_id, "archiver");
    assert_eq!(config.kafka.session_timeout_ms, 45_000);
    assert_eq!(config.kafka.membership, Membership::Group);
    assert_eq!(config.kafka.credential_source, CredentialSource::None);
    assert_eq!(config.topics.selection, TopicSelection::All { veto: vec!["sys.heartbeat".into()] });
    assert_eq!(config.topics.refresh_interval_ms, 60_000);
    assert_eq!(config.backends.index_url, "sqlite://./archive/index.db");
    assert!(config.backends.store_url.starts_with("file:///"), "{}", config.backends.store_url);
    assert!(config.backends.store_url.ends_with("/archive/objects"), "{}", config.backends.store_url);
    assert!(!config.backends.store_url.contains("/./"), "{}", config.backends.store_url);
    let p = &config.pipeline;
    assert_eq!((p.in_flight_max, p.batch_rows_max, p.batch_wait_ms), (64, 500, 200));
    assert_eq!((p.retry_initial_backoff_ms, p.retry_max_backoff_ms), (100, 30_000));
    assert!(!p.archive_test_messages);
    assert!(p.public_topics.is_empty());
    let o = &config.observability;
    assert_eq!(o.metrics_addr, Some("127.0.0.1:9464".parse().unwrap()));
    assert_eq!((o.liveness_file.as_ref(), o.liveness_interval_ms), (None, 10_000));
    assert_eq!((o.log_format, o.progress_interval_ms), (LogFormat::Text, 30_000));
    assert!(!config.run.until_eos);
    assert_eq!(config.run.max_messages, None);
}

#[test]
fn flag_beats_env_beats_file_beats_default() {
    let files = Files::new();
    let file = files.write(
        "config.toml",
        "[kafka]\ngroup_id = \"from-file\"\n[pipeline]\nin_flight_max = 10\n\
         [observability]\nlog_format = \"json\"\nmetrics_addr = \"none\"\n[topics]\nveto = [\"a.*\"]\n",
    );
    let vars = env(&[("ARCHIVER_IN_FLIGHT_MAX", "20"), ("ARCHIVER_KAFKA_GROUP_ID", "from-env")]);
    let flags =
        RunArgs { pipeline: PipelineArgs { in_flight_max: Some(30), ..Default::default() }, ..with_config(&file) };

    let all = load(&flags, &vars);
    assert_eq!(all.pipeline.in_flight_max, 30, "flag wins");
    assert_eq!(all.kafka.group_id, "from-env", "env beats file");
    assert_eq!(all.observability.log_format, LogFormat::Json, "file beats default");
    assert_eq!(all.observability.metrics_addr, None, "`none` disables metrics");
    assert_eq!(all.topics.selection, TopicSelection::All { veto: vec!["a.*".into()] });

    assert_eq!(load(&with_config(&file), &vars).pipeline.in_flight_max, 20, "env beats file");
    assert_eq!(load(&with_config(&file), &env(&[])).pipeline.in_flight_max, 10, "file beats default");
    assert_eq!(load(&RunArgs::default(), &env(&[])).pipeline.in_flight_max, 64, "default");
}

#[test]
fn config_file_named_by_env_and_flag_overrides_it() {
    let files = Files::new();
    let by_env = files.write("env.toml", "[pipeline]\nbatch_rows_max = 7\n");
    let by_flag = files.write("flag.toml", "[pipeline]\nbatch_rows_max = 9\n");
    let vars = env(&[("ARCHIVER_CONFIG", by_env.to_str().unwrap())]);
    assert_eq!(load(&RunArgs::default(), &vars).pipeline.batch_rows_max, 7);
    assert_eq!(load(&with_config(&by_flag), &vars).pipeline.batch_rows_max, 9);
    assert_eq!(load(&with_config(&by_flag), &vars).config_file.as_deref(), Some(by_flag.as_path()));
}

#[test]
fn env_lists_and_booleans() {
    let vars = env(&[
        ("ARCHIVER_TOPICS_VETO", ""),
        ("ARCHIVER_PUBLIC_TOPICS", "sys.*, gcn.notice  lvk.*"),
        ("ARCHIVER_ARCHIVE_TEST_MESSAGES", "yes"),
        ("ARCHIVER_UNTIL_EOS", "true"),
        ("ARCHIVER_MAX_MESSAGES", "1000"),
        ("ARCHIVER_METRICS_ADDR", "0.0.0.0:9100"),
        ("ARCHIVER_LIVENESS_FILE", "/tmp/alive"),
    ]);
    let config = load(&RunArgs::default(), &vars);
    assert_eq!(config.topics.selection, TopicSelection::All { veto: vec![] }, "an empty veto list is allowed");
    assert_eq!(config.pipeline.public_topics, ["sys.*", "gcn.notice", "lvk.*"]);
    assert!(config.pipeline.archive_test_messages);
    assert!(config.run.until_eos);
    assert_eq!(config.run.max_messages, Some(1000));
    assert_eq!(config.observability.metrics_addr, Some("0.0.0.0:9100".parse().unwrap()));
    assert_eq!(config.observability.liveness_file, Some(PathBuf::from("/tmp/alive")));
}

#[test]
fn membership_from_file_environment_and_flag() {
    let files = Files::new();
    let file = files.write("config.toml", "[kafka]\nmembership = \"standalone\"\n");
    assert_eq!(load(&with_config(&file), &env(&[])).kafka.membership, Membership::Standalone);
    let group = env(&[("ARCHIVER_KAFKA_MEMBERSHIP", "group")]);
    assert_eq!(load(&with_config(&file), &group).kafka.membership, Membership::Group, "environment over file");
    let flag = RunArgs {
        kafka: KafkaArgs { kafka_membership: Some(Membership::Standalone), ..Default::default() },
        ..with_config(&file)
    };
    assert_eq!(load(&flag, &group).kafka.membership, Membership::Standalone, "flag over environment");
    let parsed = parse_run(&["--kafka-membership", "standalone"]).expect("parses");
    assert_eq!(parsed.kafka.kafka_membership, Some(Membership::Standalone));

    let err = load_err(&RunArgs::default(), &env(&[("ARCHIVER_KAFKA_MEMBERSHIP", "solo")]));
    assert!(err.contains("ARCHIVER_KAFKA_MEMBERSHIP") && err.contains("expected one of group, standalone"), "{err}");
}

#[test]
fn flags_parse_through_clap() {
    let run = parse_run(&[
        "--kafka-brokers",
        "b:9092",
        "--in-flight-max",
        "8",
        "--topics",
        "b,a,a",
        "--archive-test-messages",
        "--metrics-addr",
        "none",
        "--kafka-security-protocol",
        "SASL_SSL",
        "--index",
        "sqlite:///var/lib/archive/index.db",
        "--log-format",
        "json",
        "--until-eos",
    ])
    .unwrap();
    let config = load(&run, &BTreeMap::new());
    assert_eq!(config.kafka.connection.brokers, "b:9092");
    assert_eq!(config.pipeline.in_flight_max, 8);
    assert_eq!(
        config.topics.selection,
        TopicSelection::Explicit { names: names(&["a", "b"]), veto: names(&["sys.heartbeat"]) }
    );
    assert!(config.pipeline.archive_test_messages && config.run.until_eos);
    assert_eq!(config.observability.metrics_addr, None);
    assert_eq!(config.kafka.connection.security_protocol, SecurityProtocol::SaslSsl);
    assert_eq!(config.backends.index_url, "sqlite:///var/lib/archive/index.db");
    assert_eq!(config.observability.log_format, LogFormat::Json);

    let bad = parse_run(&["--in-flight-max", "x"]).unwrap_err().to_string();
    assert!(bad.contains("--in-flight-max") && bad.contains("expected a whole number"), "{bad}");
    let flag = parse_run(&["--metrics-addr", "nowhere"]).unwrap_err().to_string();
    assert!(flag.contains("expected an address such as 127.0.0.1:9464, or none"), "{flag}");
    let help = Cli::try_parse_from(["archiver", "config", "--help"]).unwrap_err().to_string();
    assert!(help.contains("--in-flight-max") && help.contains("ARCHIVER_IN_FLIGHT_MAX"), "{help}");
}

// ---------------------------------------------------------------------------
// Errors name the key and the source

#[test]
fn bad_env_value_names_the_variable() {
    let vars = env(&[("ARCHIVER_IN_FLIGHT_MAX", "x")]);
    assert_eq!(
        load_err(&RunArgs::default(), &vars),
        "ARCHIVER_IN_FLIGHT_MAX: invalid value 'x': expected a whole number"
    );
    let vars = env(&[("ARCHIVER_LOG_FORMAT", "xml")]);
    assert_eq!(
        load_err(&RunArgs::default(), &vars),
        "ARCHIVER_LOG_FORMAT: invalid value 'xml': expected one of text, json"
    );
    let vars = env(&[("ARCHIVER_KAFKA_SECURITY_PROTOCOL", "tls")]);
    let err = load_err(&RunArgs::default(), &vars);
    assert!(
        err.starts_with("ARCHIVER_KAFKA_SECURITY_PROTOCOL: invalid value 'tls': expected one of plaintext"),
        "{err}"
    );
}

#[test]
fn unknown_file_key_is_named() {
    let files = Files::new();
    let file = files.write("config.toml", "[pipeline]\nin_flight_mx = 3\n");
    let err = load_err(&with_config(&file), &env(&[]));
    assert!(err.contains("config.toml: unknown key `pipeline.in_flight_mx`, expected one of `in_flight_max`"), "{err}");
    assert!(err.contains("line 2"), "{err}");

    let file = files.write("section.toml", "[pipelin]\nin_flight_max = 3\n");
    let err = load_err(&with_config(&file), &env(&[]));
    assert!(err.contains("unknown key `pipelin`"), "{err}");
}

#[test]
fn wrong_type_in_file_names_the_key() {
    let files = Files::new();
    let file = files.write("config.toml", "[pipeline]\nin_flight_max = \"many\"\n");
    let err = load_err(&with_config(&file), &env(&[]));
    assert!(err.contains("config.toml: pipeline.in_flight_max: "), "{err}");

    let file = files.write("enum.toml", "[observability]\nlog_format = \"xml\"\n");
    let err = load_err(&with_config(&file), &env(&[]));
    assert!(err.contains("observability.log_format: invalid value 'xml': expected one of text, json"), "{err}");

    let file = files.write("syntax.toml", "[pipeline]\nin_flight_max = = 3\n");
    let err = load_err(&with_config(&file), &env(&[]));
    assert!(err.contains("syntax.toml") && err.contains("line 2"), "{err}");
}

#[test]
fn missing_config_file_is_an_error() {
    let err = load_err(&with_config(Path::new("/nonexistent/archiver.toml")), &env(&[]));
    assert!(err.starts_with("cannot read /nonexistent/archiver.toml"), "{err}");
}

#[test]
fn out_of_range_values_name_the_key() {
    let cases: [(&str, &str, &str); 6] = [
        ("ARCHIVER_IN_FLIGHT_MAX", "0", "pipeline.in_flight_max must be between 1 and 4096 (got 0)"),
        ("ARCHIVER_IN_FLIGHT_MAX", "4097", "pipeline.in_flight_max must be between 1 and 4096 (got 4097)"),
        ("ARCHIVER_BATCH_ROWS_MAX", "10001", "pipeline.batch_rows_max must be between 1 and 10000 (got 10001)"),
        (
            "ARCHIVER_RETRY_MAX_BACKOFF_MS",
            "50",
            "pipeline.retry_max_backoff_ms must be between 100 and 3600000 (got 50)",
        ),
        (
            "ARCHIVER_TOPICS_REFRESH_INTERVAL_MS",
            "0",
            "topics.refresh_interval_ms must be between 10 and 86400000 (got 0)",
        ),
        ("ARCHIVER_MAX_MESSAGES", "0", "run.max_messages must be at least 1 (got 0)"),
    ];
    for (var, value, expected) in cases {
        assert_eq!(load_err(&RunArgs::default(), &env(&[(var, value)])), expected, "{var}={value}");
    }
}

#[test]
fn required_and_contradictory_settings() {
    let no_brokers = BTreeMap::new();
    assert!(load_err(&RunArgs::default(), &no_brokers).contains("kafka.brokers is not set"));
    let url = env(&[("ARCHIVER_KAFKA_BROKERS", "kafka://host:9092")]);
    assert!(load_err(&RunArgs::default(), &url).contains("without a URL scheme"));
    let both = env(&[("ARCHIVER_TOPICS", "a"), ("ARCHIVER_HOPAUTH_URL", "https://hopauth.example/api")]);
    assert!(load_err(&RunArgs::default(), &both).contains("topics.select"));
    let hopauth_without_url = env(&[("ARCHIVER_TOPICS_SELECT", "hopauth")]);
    assert!(load_err(&RunArgs::default(), &hopauth_without_url).contains("topics.hopauth_url is not set"));
    let userinfo = env(&[("ARCHIVER_HOPAUTH_URL", "https://u:url-Secret@h.example/api")]);
    let err = load_err(&RunArgs::default(), &userinfo);
    assert!(err.contains("without credentials") && !err.contains("url-Secret"), "{err}");
    let bad_index = env(&[("ARCHIVER_INDEX_URL", "mysql://u:pw@host/db")]);
    let err = load_err(&RunArgs::default(), &bad_index);
    assert!(err.starts_with("backends.index_url: invalid value 'mysql://u:***@host/db'"), "{err}");
    let bad_store = env(&[("ARCHIVER_STORE_URL", "ftp://host/dir")]);
    assert!(
        load_err(&RunArgs::default(), &bad_store).starts_with("backends.store_url: invalid value 'ftp://host/dir'")
    );
}

// ---------------------------------------------------------------------------
// Credentials

#[test]
fn password_in_config_file_is_refused() {
    let files = Files::new();
    for (text, hint) in [
        ("[kafka]\nusername = \"u\"\npassword = \"s3cret-file\"\n", "ARCHIVER_KAFKA_PASSWORD"),
        ("[topics]\nhopauth_password = \"s3cret-file\"\n", "ARCHIVER_HOPAUTH_PASSWORD"),
        ("password = \"s3cret-file\"\n", "ARCHIVER_KAFKA_PASSWORD"),
    ] {
        let file = files.write("config.toml", text);
        let err = load_err(&with_config(&file), &env(&[]));
        assert!(err.contains("secrets are not read from the config file") && err.contains(hint), "{err}");
        assert!(!err.contains("s3cret-file"), "{err}");
    }
}

#[test]
fn password_from_environment_needs_a_username() {
    let vars = env(&[("ARCHIVER_KAFKA_USERNAME", "archiver-user"), ("ARCHIVER_KAFKA_PASSWORD", "pw-from-env")]);
    let config = load(&RunArgs::default(), &vars);
    assert_eq!(config.kafka.credential_source, CredentialSource::Environment);
    assert_eq!(config.kafka.connection.username.as_deref(), Some("archiver-user"));
    assert_eq!(config.kafka.connection.password.as_deref(), Some("pw-from-env"));
    assert_eq!(config.kafka.connection.security_protocol, SecurityProtocol::SaslSsl, "a credential implies SASL_SSL");

    let orphan = env(&[("ARCHIVER_KAFKA_PASSWORD", "pw-from-env")]);
    let err = load_err(&RunArgs::default(), &orphan);
    assert!(err.contains("no Kafka username") && !err.contains("pw-from-env"), "{err}");

    let no_password = env(&[("ARCHIVER_KAFKA_USERNAME", "archiver-user")]);
    let err = load_err(&RunArgs::default(), &no_password);
    assert!(err.contains("no password for Kafka user \"archiver-user\""), "{err}");
}

const AUTH_TOML: &str = r#"
[[auth]]
username = "other-user"
password = "other-secret"
hostname = "kafka.other.org"
protocol = "SASL_SSL"

[[auth]]
username = "scimma-user"
password = "scimma-secret"
hostname = "kafka.scimma.org"
protocol = "SASL_SSL"
mechanism = "SCRAM_SHA_512"
ssl_ca_location = "/etc/ssl/scimma.pem"

[[auth]]
username = "any-host-user"
password = "any-host-secret"
"#;

#[test]
fn auth_toml_entry_chosen_by_broker_host() {
    let files = Files::new();
    let auth = files.write("auth.toml", AUTH_TOML);
    let args = RunArgs { auth: AuthFileArgs { auth_file: Some(auth.clone()) }, ..RunArgs::default() };
    let config = load(&args, &env(&[]));
    let connection = &config.kafka.connection;
    assert_eq!(connection.username.as_deref(), Some("scimma-user"));
    assert_eq!(connection.password.as_deref(), Some("scimma-secret"));
    assert_eq!(connection.security_protocol, SecurityProtocol::SaslSsl);
    assert_eq!(connection.sasl_mechanism, "SCRAM-SHA-512");
    assert_eq!(connection.ca_location.as_deref(), Some("/etc/ssl/scimma.pem"));
    assert_eq!(config.kafka.credential_source, CredentialSource::AuthFile(auth.clone()));

    // A host with no entry of its own gets the entry without a hostname.
    let elsewhere = env(&[("ARCHIVER_KAFKA_BROKERS", "localhost:9092")]);
    assert_eq!(load(&args, &elsewhere).kafka.connection.username.as_deref(), Some("any-host-user"));

    // A configured username must match; configured settings beat the entry's.
    let vars = env(&[("ARCHIVER_KAFKA_USERNAME", "any-host-user"), ("ARCHIVER_KAFKA_SASL_MECHANISM", "PLAIN")]);
    let config = load(&args, &vars);
    assert_eq!(config.kafka.connection.password.as_deref(), Some("any-host-secret"));
    assert_eq!(config.kafka.connection.sasl_mechanism, "PLAIN");
    let err = load_err(&args, &env(&[("ARCHIVER_KAFKA_USERNAME", "nobody")]));
    assert!(err.contains("no password for Kafka user \"nobody\"") && !err.contains("secret"), "{err}");
}

#[test]
fn auth_toml_ambiguity_and_permissions() {
    let files = Files::new();
    let two =
        "[[auth]]\nusername = \"a\"\npassword = \"a-Secret\"\n[[auth]]\nusername = \"b\"\npassword = \"b-Secret\"\n";
    let auth = files.write("auth.toml", two);
    let args = RunArgs { auth: AuthFileArgs { auth_file: Some(auth.clone()) }, ..RunArgs::default() };
    let err = load_err(&args, &env(&[]));
    assert!(err.contains("several entries") && err.contains("kafka.username"), "{err}");
    assert!(!err.contains("Secret"), "{err}");
    let chosen = load(&args, &env(&[("ARCHIVER_KAFKA_USERNAME", "b")]));
    assert_eq!(chosen.kafka.connection.password.as_deref(), Some("b-Secret"));

    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&auth, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = load_err(&args, &env(&[("ARCHIVER_KAFKA_USERNAME", "b")]));
    assert!(err.contains("unsafe permissions 644"), "{err}");
}

#[test]
fn auth_toml_errors_never_show_values() {
    let files = Files::new();
    let auth = files.write("auth.toml", "[[auth]]\nusername = \"u\"\npassword = 12345678\n");
    let args = RunArgs { auth: AuthFileArgs { auth_file: Some(auth) }, ..RunArgs::default() };
    let err = load_err(&args, &env(&[]));
    assert!(err.contains("entry 1: `password` is not a string"), "{err}");
    assert!(!err.contains("12345678"), "{err}");
}

#[test]
fn auth_toml_found_in_hop_default_location() {
    let files = Files::new();
    files.write("xdg/hop/auth.toml", AUTH_TOML);
    let xdg = files.root().join("xdg");
    let vars = env(&[("XDG_CONFIG_HOME", xdg.to_str().unwrap()), ("HOME", "/nonexistent")]);
    let config = load(&RunArgs::default(), &vars);
    assert_eq!(config.kafka.connection.username.as_deref(), Some("scimma-user"));

    files.write("home/.config/hop/auth.toml", AUTH_TOML);
    let home = files.root().join("home");
    let config = load(&RunArgs::default(), &env(&[("HOME", home.to_str().unwrap())]));
    assert_eq!(config.kafka.credential_source, CredentialSource::AuthFile(home.join(".config/hop/auth.toml")));

    // No default file and nothing asks for SASL: plaintext, no error.
    let empty = env(&[("HOME", "/nonexistent")]);
    assert_eq!(load(&RunArgs::default(), &empty).kafka.credential_source, CredentialSource::None);
}

#[test]
fn environment_credential_skips_auth_toml() {
    let files = Files::new();
    let broken = files.write("auth.toml", "this is not toml [[[");
    let args = RunArgs { auth: AuthFileArgs { auth_file: Some(broken) }, ..RunArgs::default() };
    let vars = env(&[("ARCHIVER_KAFKA_USERNAME", "u"), ("ARCHIVER_KAFKA_PASSWORD", "p")]);
    assert_eq!(load(&args, &vars).kafka.credential_source, CredentialSource::Environment);
    // Explicitly plaintext: no credential needed, auth.toml not read.
    let plaintext = env(&[("ARCHIVER_KAFKA_SECURITY_PROTOCOL", "plaintext")]);
    assert_eq!(load(&args, &plaintext).kafka.credential_source, CredentialSource::None);
}

/// Another program's login (mockhop's producer) is resolved by the same
/// code as `run`'s: the auth.toml entry for the broker gives credential,
/// protocol, mechanism and CA; its own password variable and flags are
/// what its errors name.
#[test]
fn another_programs_kafka_login_is_resolved_as_run_resolves_its_own() {
    const NAMES: config::CredentialNames =
        config::CredentialNames { password_var: "OTHER_PASSWORD", username: "--user" };
    let files = Files::new();
    let auth = files.write("auth.toml", AUTH_TOML);
    let login =
        config::ClientLogin { brokers: BROKER.into(), auth_file: Some(auth.clone()), ..config::ClientLogin::default() };
    let (connection, source) = config::client_connection(&login, NAMES, &BTreeMap::new()).unwrap();
    assert_eq!(source, CredentialSource::AuthFile(auth.clone()));
    assert_eq!(connection.username.as_deref(), Some("scimma-user"));
    assert_eq!(connection.password.as_deref(), Some("scimma-secret"));
    assert_eq!(connection.security_protocol, SecurityProtocol::SaslSsl);
    assert_eq!(connection.sasl_mechanism, "SCRAM-SHA-512");
    assert_eq!(connection.ca_location.as_deref(), Some("/etc/ssl/scimma.pem"));

    // The program's own password variable, with a username, beats the file.
    let from_env = config::ClientLogin { username: Some("u".into()), ..login.clone() };
    let vars = BTreeMap::from([("OTHER_PASSWORD".to_string(), "other-Secret".to_string())]);
    let (connection, source) = config::client_connection(&from_env, NAMES, &vars).unwrap();
    assert_eq!((source, connection.password.as_deref()), (CredentialSource::Environment, Some("other-Secret")));
    // ...and is what its errors name, never the archiver's.
    let err = config::client_connection(&login, NAMES, &vars).unwrap_err().to_string();
    assert!(err.contains("OTHER_PASSWORD is set but no Kafka username is (--user)"), "{err}");
    assert!(!err.contains("ARCHIVER_") && !err.contains("other-Secret"), "{err}");
}

// ---------------------------------------------------------------------------
// Topic selection settings

#[test]
fn topic_selection_modes() {
    let explicit = env(&[("ARCHIVER_TOPICS", "gcn.notice,lvk.alert gcn.notice")]);
    assert_eq!(
        load(&RunArgs::default(), &explicit).topics.selection,
        TopicSelection::Explicit { names: names(&["gcn.notice", "lvk.alert"]), veto: names(&["sys.heartbeat"]) }
    );
    let hopauth = env(&[
        ("ARCHIVER_HOPAUTH_URL", "https://hopauth.example/api/"),
        ("ARCHIVER_KAFKA_USERNAME", "u"),
        ("ARCHIVER_KAFKA_PASSWORD", "kafka-pw"),
        ("ARCHIVER_TOPICS_VETO", "sys.*"),
    ]);
    let kafka_credential = Credential { username: "u".into(), password: "kafka-pw".into() };
    assert_eq!(
        load(&RunArgs::default(), &hopauth).topics.selection,
        TopicSelection::Hopauth {
            url: "https://hopauth.example/api".into(),
            veto: vec!["sys.*".into()],
            credential: Some(kafka_credential),
        }
    );
    let mut own = hopauth.clone();
    own.insert("ARCHIVER_HOPAUTH_USERNAME".into(), "h".into());
    own.insert("ARCHIVER_HOPAUTH_PASSWORD".into(), "hopauth-pw".into());
    let TopicSelection::Hopauth { credential, .. } = load(&RunArgs::default(), &own).topics.selection else {
        panic!("hopauth mode expected")
    };
    assert_eq!(credential, Some(Credential { username: "h".into(), password: "hopauth-pw".into() }));

    let chosen = RunArgs {
        topics: TopicsArgs { topics_select: Some(config::TopicMode::All), ..Default::default() },
        ..RunArgs::default()
    };
    let both = env(&[("ARCHIVER_TOPICS", "a"), ("ARCHIVER_HOPAUTH_URL", "https://h.example")]);
    assert!(matches!(load(&chosen, &both).topics.selection, TopicSelection::All { .. }));
    let globs = env(&[("ARCHIVER_TOPICS", "gcn.*")]);
    assert!(load_err(&RunArgs::default(), &globs).contains("globs belong in topics.veto"));
}

// ---------------------------------------------------------------------------
// Secrets never shown

#[test]
fn render_masked_and_debug_hide_every_secret() {
    let vars = env(&[
        ("ARCHIVER_KAFKA_USERNAME", "kafka-user"),
        ("ARCHIVER_KAFKA_PASSWORD", "kafka-Secret-1"),
        ("ARCHIVER_INDEX_URL", "postgres://archiver:pg-Secret-2@db.example:5432/archive?password=pg-Secret-3"),
        ("ARCHIVER_STORE_URL", "s3://hop-archive?endpoint=http://127.0.0.1:9000"),
        ("ARCHIVER_HOPAUTH_URL", "https://hopauth.example/api"),
        ("ARCHIVER_HOPAUTH_USERNAME", "hopauth-user"),
        ("ARCHIVER_HOPAUTH_PASSWORD", "hopauth-Secret-4"),
    ]);
    let config = load(&RunArgs::default(), &vars);
    let rendered = config.render_masked();
    let debug = format!("{config:?}");
    for secret in ["kafka-Secret-1", "pg-Secret-2", "pg-Secret-3", "hopauth-Secret-4"] {
        assert!(!rendered.contains(secret), "{secret} in\n{rendered}");
        assert!(!debug.contains(secret), "{secret} in\n{debug}");
    }
    assert!(rendered.contains("postgres://archiver:***@db.example:5432/archive?password=***"), "{rendered}");
    assert!(rendered.contains("password *** from ARCHIVER_KAFKA_PASSWORD"), "{rendered}");
    assert!(rendered.contains("hopauth credential: user \"hopauth-user\", password ***"), "{rendered}");
    assert!(rendered.contains("in_flight_max = 64"), "{rendered}");
}

#[test]
fn rendered_configuration_loads_back_to_the_same() {
    let files = Files::new();
    let auth = files.write("auth.toml", AUTH_TOML);
    let vars = env(&[
        ("ARCHIVER_TOPICS", "b,a"),
        ("ARCHIVER_PUBLIC_TOPICS", "sys.*"),
        ("ARCHIVER_LIVENESS_FILE", "/tmp/alive"),
        ("ARCHIVER_MAX_MESSAGES", "5"),
        ("ARCHIVER_LOG_FORMAT", "json"),
    ]);
    let args = RunArgs { auth: AuthFileArgs { auth_file: Some(auth) }, ..RunArgs::default() };
    let config = load(&args, &vars);
    let rendered = config.render_masked();
    assert!(!rendered.contains("scimma-secret"), "{rendered}");
    let file = files.write("rendered.toml", &rendered);
    let again = load(&with_config(&file), &BTreeMap::new());
    assert_eq!(RunConfig { config_file: None, ..again }, RunConfig { config_file: None, ..config }, "{rendered}");
}

// ---------------------------------------------------------------------------
// archiver serve

fn load_serve(args: &ServeArgs, vars: &BTreeMap<String, String>) -> ServeConfig {
    config::load_serve_from(args, vars).unwrap_or_else(|e| panic!("serve config should load: {e}"))
}

/// The bounds against hostile clients are `[serve]` keys like the others:
/// flag > `ARCHIVER_*` > file > default, checked, and printed as keys.
#[test]
fn serve_limits_are_serve_keys_with_precedence_and_round_trip() {
    let files = Files::new();
    let file = files.write(
        "serve.toml",
        "[serve]\nconnections_max = 100\nheader_read_timeout_ms = 2000\nclient_rate_bytes_per_s_min = 0\n\
         client_rate_window_ms = 3000\nuploads_in_flight_max = 4\nresponse_size_bytes_max = 1048576\n\
         response_memory_bytes_max = 4194304\n",
    );
    let vars = env(&[
        ("ARCHIVER_CONFIG", file.to_str().unwrap()),
        ("ARCHIVER_CONNECTIONS_MAX", "200"),
        ("ARCHIVER_UPLOADS_IN_FLIGHT_MAX", "8"),
    ]);
    let args = ServeArgs {
        limits: ServeLimitsArgs { connections_max: Some(300), ..Default::default() },
        ..ServeArgs::default()
    };
    let config = load_serve(&args, &vars);
    let l = &config.limits;
    assert_eq!(l.connections_max, 300, "flag wins");
    assert_eq!(l.uploads_in_flight_max, 8, "env beats file");
    assert_eq!(load_serve(&ServeArgs::default(), &vars).limits.connections_max, 200, "env beats file");
    assert_eq!(
        (l.header_read_timeout_ms, l.client_rate_bytes_per_s_min, l.client_rate_window_ms),
        (2000, 0, 3000),
        "file beats default"
    );
    assert_eq!((l.response_size_bytes_max, l.response_memory_bytes_max), (1 << 20, 4 << 20));
    assert_eq!(load_serve(&ServeArgs::default(), &env(&[])).limits.connections_max, 1024, "default");

    let rendered = config.render_masked();
    assert!(rendered.contains("\nconnections_max = 300\n") && !rendered.contains("# connections_max"), "{rendered}");
    let saved = files.write("rendered.toml", &rendered);
    let again = load_serve(&ServeArgs { config: Some(saved), ..ServeArgs::default() }, &BTreeMap::new());
    assert_eq!(ServeConfig { config_file: None, ..again }, ServeConfig { config_file: None, ..config }, "{rendered}");

    let small = files.write("small.toml", "[serve]\nresponse_memory_bytes_max = 2097151\n");
    let err = config::load_serve_from(&ServeArgs { config: Some(small), ..ServeArgs::default() }, &env(&[]));
    let err = err.expect_err("memory below twice the response size").to_string();
    assert!(err.contains("serve.response_memory_bytes_max") && err.contains("twice"), "{err}");
    let typo = files.write("typo.toml", "[serve]\nheader_read_timeout_ms = \"soon\"\n");
    let err = config::load_serve_from(&ServeArgs { config: Some(typo.clone()), ..ServeArgs::default() }, &env(&[]));
    let err = err.expect_err("a string is not a duration").to_string();
    assert!(err.starts_with(&format!("{}: serve.header_read_timeout_ms", typo.display())), "{err}");
}

// ---------------------------------------------------------------------------
// select_topics

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn hopauth_topic(name: &str, archivable: bool) -> HopauthTopic {
    HopauthTopic { name: name.into(), archivable, publicly_readable: false }
}

fn all(veto: &[&str]) -> TopicSelection {
    TopicSelection::All { veto: names(veto) }
}

#[test]
fn all_topics_minus_internal_and_veto() {
    let visible =
        names(&["gcn.notice", "__consumer_offsets", "sys.heartbeat", "sys.heartbeat-cit", "lvk.alert", "gcn.notice"]);
    assert_eq!(
        select_topics(&all(&["sys.heartbeat"]), &visible, None),
        names(&["gcn.notice", "lvk.alert", "sys.heartbeat-cit"])
    );
    assert_eq!(select_topics(&all(&["sys.*"]), &visible, None), names(&["gcn.notice", "lvk.alert"]));
    assert_eq!(
        select_topics(&all(&["*.alert", "gcn.notice"]), &visible, None),
        names(&["sys.heartbeat", "sys.heartbeat-cit"])
    );
    assert_eq!(select_topics(&all(&[]), &names(&["__transaction_state"]), None), Vec::<String>::new());
}

#[test]
fn explicit_topics_only_where_visible() {
    let selection =
        TopicSelection::Explicit { names: names(&["gcn.notice", "vanished", "__consumer_offsets"]), veto: Vec::new() };
    let visible = names(&["lvk.alert", "gcn.notice", "__consumer_offsets"]);
    assert_eq!(select_topics(&selection, &visible, None), names(&["gcn.notice"]));
    assert_eq!(wanted_but_invisible(&selection, &visible, None), names(&["vanished"]));
}

/// `--topics a,sys.heartbeat --topics-veto 'sys.*'` archived the heartbeats:
/// the veto was dropped when a topic list was given.
#[test]
fn regression_veto_applies_to_an_explicit_topic_list() {
    let args = parse_run(&["--topics", "a,sys.heartbeat,sys.stats,gone", "--topics-veto", "sys.*"]).unwrap();
    let config = load(&args, &env(&[]));
    let selection = &config.topics.selection;
    assert_eq!(
        selection,
        &TopicSelection::Explicit {
            names: names(&["a", "gone", "sys.heartbeat", "sys.stats"]),
            veto: names(&["sys.*"])
        }
    );
    let visible = names(&["a", "sys.heartbeat", "sys.stats", "b"]);
    assert_eq!(select_topics(selection, &visible, None), names(&["a"]));
    assert_eq!(wanted_but_invisible(selection, &visible, None), names(&["gone"]), "a vetoed topic is not wanted");

    let rendered = config.render_masked();
    assert!(rendered.contains("veto = [\"sys.*\"]"), "`archiver config` shows the veto:\n{rendered}");
    let files = Files::new();
    let again = load(&with_config(&files.write("rendered.toml", &rendered)), &BTreeMap::new());
    assert_eq!(&again.topics.selection, selection, "the rendered file keeps the veto:\n{rendered}");

    let default_veto = load(&parse_run(&["--topics", "a,sys.heartbeat"]).unwrap(), &env(&[]));
    assert_eq!(select_topics(&default_veto.topics.selection, &visible, None), names(&["a"]), "the default veto too");
    let no_veto = load(&parse_run(&["--topics", "a,sys.heartbeat", "--topics-veto="]).unwrap(), &env(&[]));
    assert_eq!(select_topics(&no_veto.topics.selection, &visible, None), names(&["a", "sys.heartbeat"]));
}

#[test]
fn hopauth_topics_archivable_visible_and_not_vetoed() {
    let selection =
        TopicSelection::Hopauth { url: "https://h.example".into(), veto: names(&["sys.*"]), credential: None };
    let visible = names(&["gcn.notice", "lvk.alert", "sys.heartbeat", "private.stuff", "__consumer_offsets"]);
    let listed = [
        hopauth_topic("gcn.notice", true),
        hopauth_topic("lvk.alert", false),
        hopauth_topic("sys.heartbeat", true),
        hopauth_topic("__consumer_offsets", true),
        hopauth_topic("not.on.broker", true),
    ];
    assert_eq!(select_topics(&selection, &visible, Some(&listed)), names(&["gcn.notice"]));
    assert_eq!(select_topics(&selection, &visible, None), Vec::<String>::new(), "no answer is no topics");
    assert_eq!(wanted_but_invisible(&selection, &visible, Some(&listed)), names(&["not.on.broker"]));
}

// ---------------------------------------------------------------------------
// hopauth client

const TOPICS_JSON: &str = r#"[
  {"name": "gcn.notice", "owning_group": "gcn", "archivable": true, "publicly_readable": true, "n_partitions": 2},
  {"name": "lvk.alert", "archivable": false, "description": "x"},
  {"name": "old.topic", "archivable": null}
]"#;

async fn hopauth_with(responder: impl Respond + 'static) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path("/api/v1/topics")).respond_with(responder).mount(&server).await;
    server
}

fn credential(password: &str) -> Credential {
    Credential { username: "archiver-user".into(), password: password.into() }
}

/// With a credential, only a signed answer is trusted: a server that
/// serves the list without the SCRAM exchange could be anyone.
#[tokio::test]
async fn hopauth_answer_without_the_scram_exchange_is_refused() {
    let server = hopauth_with(ResponseTemplate::new(200).set_body_raw(TOPICS_JSON, "application/json")).await;
    let err = fetch_archivable(&format!("{}/api/", server.uri()), Some(&credential("a-Secret"))).await.unwrap_err();
    assert!(matches!(err, TopicsError::Auth { .. }) && !err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("without authenticating"), "{err}");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "nothing after the client-first");
    let header = requests[0].headers.get("authorization").unwrap().to_str().unwrap();
    assert!(header.starts_with("SCRAM-SHA-512 data=") && !header.contains("a-Secret"), "{header}");
}

#[tokio::test]
async fn hopauth_malformed_scram_challenge_is_an_auth_error() {
    for challenge in ["SCRAM-SHA-512 data=cj1hYmM=", "SCRAM-SHA-512 sid=1, data=%%%", "Basic realm=\"x\""] {
        let server = hopauth_with(ResponseTemplate::new(401).insert_header("WWW-Authenticate", challenge)).await;
        let err = fetch_archivable(&format!("{}/api", server.uri()), Some(&credential("a-Secret"))).await.unwrap_err();
        assert!(matches!(err, TopicsError::Auth { .. }) && !err.is_transient(), "{challenge}: {err:?}");
    }
}

#[tokio::test]
async fn hopauth_server_error_is_transient() {
    let server = hopauth_with(ResponseTemplate::new(500).set_body_string("boom")).await;
    let err = fetch_archivable(&format!("{}/api", server.uri()), None).await.unwrap_err();
    assert!(matches!(err, TopicsError::Status { status: 500, .. }), "{err:?}");
    assert!(err.is_transient());
    let forbidden = hopauth_with(ResponseTemplate::new(403)).await;
    let err = fetch_archivable(&format!("{}/api", forbidden.uri()), None).await.unwrap_err();
    assert!(matches!(err, TopicsError::Status { status: 403, .. }) && !err.is_transient(), "{err:?}");
}

#[tokio::test]
async fn hopauth_malformed_json_is_an_error() {
    for body in ["<html>not json</html>", "{\"name\": \"x\"}", "[{\"archivable\": true}]"] {
        let server = hopauth_with(ResponseTemplate::new(200).set_body_string(body)).await;
        let err = fetch_archivable(&format!("{}/api", server.uri()), None).await.unwrap_err();
        assert!(matches!(err, TopicsError::Malformed { .. }), "{body}: {err:?}");
    }
}

#[tokio::test]
async fn hopauth_without_credential_sends_no_authorization() {
    let server = hopauth_with(ResponseTemplate::new(200).set_body_raw(TOPICS_JSON, "application/json")).await;
    let topics = fetch_archivable(&format!("{}/api", server.uri()), None).await.unwrap();
    assert_eq!(topics.len(), 3);
    let requests = server.received_requests().await.unwrap();
    assert!(requests.iter().all(|r| r.headers.get("authorization").is_none()));
}

#[tokio::test]
async fn hopauth_unreachable_is_transient_and_masks_the_url() {
    let err = fetch_archivable("http://user:url-Secret@127.0.0.1:9/api", None).await.unwrap_err();
    assert!(matches!(err, TopicsError::Unavailable { .. }) && err.is_transient(), "{err:?}");
    assert!(!err.to_string().contains("url-Secret"), "{err}");
}

#[test]
fn metrics_addr_setting_round_trips() {
    let vars = env(&[("ARCHIVER_METRICS_ADDR", "NONE")]);
    assert_eq!(load(&RunArgs::default(), &vars).observability.metrics_addr, None);
    let err = load_err(&RunArgs::default(), &env(&[("ARCHIVER_METRICS_ADDR", "localhost")]));
    assert!(err.starts_with("ARCHIVER_METRICS_ADDR: invalid value 'localhost'"), "{err}");
}

// ---------------------------------------------------------------------------
// Text indexing: one setting for `run`, `serve` and the tools

/// The text-indexed topics default to the public topics, whatever command
/// reads them; an explicit list (even empty) replaces them; the limits
/// come from the same sources as every setting.
#[test]
fn text_topics_default_to_the_public_topics_in_every_command() {
    let tool = |vars: &BTreeMap<String, String>| {
        config::load_tool_from(&config::ToolArgs::default(), false, vars).expect("tool config").text
    };
    let public = env(&[("ARCHIVER_PUBLIC_TOPICS", "gcn.*,sys.metadata")]);
    let run = load(&RunArgs::default(), &public).pipeline.text;
    assert_eq!(run.topics, ["gcn.*", "sys.metadata"]);
    assert_eq!(load_serve(&ServeArgs::default(), &public).text, run, "serve indexes uploads alike");
    assert_eq!(tool(&public), run, "reindex, repair and reindex-text alike");
    assert_eq!(run.for_topic("gcn.notice+oversized"), Some(run.limits), "+oversized counts as its topic");
    assert_eq!(run.for_topic("private.x"), None);
    assert_eq!(run.limits, archiver::text::TextLimits { message_size_bytes_max: 1 << 22, text_chars_max: 1 << 14 });

    let explicit = env(&[
        ("ARCHIVER_PUBLIC_TOPICS", "gcn.*"),
        ("ARCHIVER_TEXT_TOPICS", "igwn.*"),
        ("ARCHIVER_TEXT_CHARS_MAX", "100"),
        ("ARCHIVER_TEXT_MESSAGE_SIZE_BYTES_MAX", "2048"),
    ]);
    let text = load(&RunArgs::default(), &explicit).pipeline.text;
    assert_eq!(text.topics, ["igwn.*"]);
    assert_eq!((text.limits.text_chars_max, text.limits.message_size_bytes_max), (100, 2048));
    let none = env(&[("ARCHIVER_PUBLIC_TOPICS", "gcn.*"), ("ARCHIVER_TEXT_TOPICS", "")]);
    assert!(load(&RunArgs::default(), &none).pipeline.text.topics.is_empty(), "an empty list turns it off");
    let err = load_err(&RunArgs::default(), &env(&[("ARCHIVER_TEXT_CHARS_MAX", "99999999")]));
    assert!(err.contains("text_chars_max"), "{err}");

    let files = Files::new();
    let file = files.write("text.toml", "[pipeline]\ntext_topics = [\"lvk.*\"]\ntext_chars_max = 10\n");
    let from_file = load(&with_config(&file), &env(&[]));
    assert_eq!(
        (from_file.pipeline.text.topics, from_file.pipeline.text.limits.text_chars_max),
        (vec!["lvk.*".into()], 10)
    );
    let parsed = parse_run(&["--text-topics", "a.*,b"]).expect("flag");
    assert_eq!(load(&parsed, &env(&[])).pipeline.text.topics, ["a.*", "b"]);
}
