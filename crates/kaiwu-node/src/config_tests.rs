use super::*;

#[test]
fn example_config_parses_and_matches_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/kaiwu.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let parsed: Config = toml_like(&text);
    assert_eq!(parsed.http, Config::default().http);
    assert_eq!(parsed.mqtt, Config::default().mqtt);
    assert_eq!(parsed.data_dir, Config::default().data_dir);
    parsed.check().unwrap();
}

/// Parse through figment's TOML provider, like `load`, but without the process environment.
fn toml_like(text: &str) -> Config {
    Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string(text))
        .extract()
        .unwrap()
}

#[test]
fn unknown_keys_are_refused() {
    let r: Result<Config, _> = Figment::from(Serialized::defaults(Config::default()))
        .merge(Toml::string("[http]\naddres = \"[::]:1\"\n"))
        .extract();
    assert!(r.unwrap_err().to_string().contains("addres"));
}

#[test]
fn env_keys_map_to_sections() {
    assert_eq!(env_key("http_addr"), "http.addr");
    assert_eq!(env_key("http_max_body_bytes"), "http.max_body_bytes");
    assert_eq!(env_key("mqtts_addr"), "mqtts.addr");
    assert_eq!(env_key("mqtt_addr"), "mqtt.addr");
    assert_eq!(env_key("data_dir"), "data_dir");
    assert_eq!(env_key("log"), "log");
    assert_eq!(
        env_key("HTTP_ADDR"),
        "http.addr",
        "figment hands over the original case"
    );
}

#[test]
fn flags_override_and_addresses_are_checked() {
    let flags = Overrides {
        http_addr: Some("[::1]:0".into()),
        mqtt_addr: Some("127.0.0.1:0".into()),
        ..Default::default()
    };
    let c = Config::load(None, &flags).unwrap();
    assert_eq!(c.http_addr().unwrap().port(), 0);
    assert!(c.http_addr().unwrap().is_ipv6());
    let bad = Overrides {
        http_addr: Some("localhost:99999".into()),
        ..Default::default()
    };
    let e = Config::load(None, &bad).unwrap_err().to_string();
    assert!(e.contains("http.addr"), "{e}");
}

#[test]
fn unknown_env_vars_are_named() {
    let ok = [
        "KAIWU_HTTP_ADDR",
        "KAIWU_DATA_DIR",
        "KAIWU_MQTTS_ADDR",
        "KAIWU_ADMIN_PASSWORD",
        "PATH",
    ];
    check_env_names(ok.iter().map(|s| s.to_string())).unwrap();
    let e = check_env_names(["KAIWU_HTTP_ADDRESS".to_string()].into_iter())
        .unwrap_err()
        .to_string();
    assert!(e.contains("KAIWU_HTTP_ADDRESS"), "{e}");
    assert!(e.contains("http.address"), "{e}");
}
