//! The OpenAPI document under infra/ describes exactly the routes the session issuer serves.

use std::collections::BTreeSet;

use eksgate_session_issuer::ROUTES;
use eksgate_tests::repo_root;

fn document() -> serde_yaml::Value {
    let path = repo_root().join("infra/openapi.yaml");
    let text = std::fs::read_to_string(&path).expect("infra/openapi.yaml is readable");
    serde_yaml::from_str(&text).expect("infra/openapi.yaml is YAML")
}

#[test]
fn openapi_lists_every_route() {
    let document = document();
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "an OpenAPI 3 document"
    );
    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_mapping().expect("paths") {
        let path = path.as_str().expect("path key");
        for (method, operation) in item.as_mapping().expect("path item") {
            let method = method.as_str().expect("method").to_ascii_uppercase();
            let operation_id = operation["operationId"].as_str().expect("operationId");
            documented.insert((method, path.to_string(), operation_id.to_string()));
        }
    }
    let served: BTreeSet<(String, String, String)> = ROUTES
        .iter()
        .map(|(m, p, o)| (m.to_string(), p.to_string(), o.to_string()))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.yaml: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "openapi.yaml lists routes the issuer does not serve: {unserved:?}"
    );
}

#[test]
fn openapi_references_resolve() {
    let document = document();
    let mut missing = Vec::new();
    collect_missing_refs(&document, &document, &mut missing);
    assert!(missing.is_empty(), "unresolved $ref: {missing:?}");
}

fn collect_missing_refs(
    node: &serde_yaml::Value,
    root: &serde_yaml::Value,
    missing: &mut Vec<String>,
) {
    match node {
        serde_yaml::Value::Mapping(map) => {
            for (key, value) in map {
                if key.as_str() == Some("$ref") {
                    let target = value.as_str().unwrap_or_default();
                    let mut current = root;
                    for part in target.trim_start_matches("#/").split('/') {
                        current = &current[part];
                    }
                    if current.is_null() {
                        missing.push(target.to_string());
                    }
                } else {
                    collect_missing_refs(value, root, missing);
                }
            }
        }
        serde_yaml::Value::Sequence(items) => {
            for item in items {
                collect_missing_refs(item, root, missing);
            }
        }
        _ => {}
    }
}

#[test]
fn openapi_passes_the_spec_validator() {
    let script = "import sys\n\
        from openapi_spec_validator import validate\n\
        from openapi_spec_validator.readers import read_from_filename\n\
        document, _ = read_from_filename(sys.argv[1])\n\
        validate(document)\n";
    let output = std::process::Command::new(eksgate_tests::moto::python())
        .args(["-c", script])
        .arg(repo_root().join("infra/openapi.yaml"))
        .output()
        .expect("the venv's python runs; run scripts/bootstrap.sh first");
    assert!(
        output.status.success(),
        "openapi-spec-validator rejected infra/openapi.yaml: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
