//! The probe's configuration: the one place that reads environment variables.

use crate::error::ProbeError;

/// Environment variable naming this probe instance (its identity in records and headers).
pub const ENV_SERVICE_NAME: &str = "SERVICE_NAME";
/// Environment variable with the TCP port to listen on.
pub const ENV_PORT: &str = "PORT";
/// Service name used when `SERVICE_NAME` is unset or empty (as the original app did).
pub const DEFAULT_SERVICE_NAME: &str = "Default";
/// Port used when `PORT` is unset.
pub const DEFAULT_PORT: u16 = 9091;

/// Validated settings of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Name reported as `source`/`backend` and sent as the `ServiceName` header.
    pub service_name: String,
    /// Port to listen on (all IPv4 interfaces).
    pub port: u16,
}

impl Config {
    /// Reads `SERVICE_NAME` and `PORT` from the process environment.
    pub fn from_env() -> Result<Self, ProbeError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Builds the configuration from any variable lookup (used by tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ProbeError> {
        let service_name = match get(ENV_SERVICE_NAME) {
            Some(v) if !v.trim().is_empty() => v.trim().to_string(),
            _ => DEFAULT_SERVICE_NAME.to_string(),
        };
        validate_service_name(&service_name)?;
        let port = match get(ENV_PORT) {
            None => DEFAULT_PORT,
            Some(v) if v.trim().is_empty() => DEFAULT_PORT,
            Some(v) => v.trim().parse::<u16>().map_err(|_| ProbeError::Config {
                var: ENV_PORT,
                value: v.clone(),
                reason: "expected a TCP port number 0-65535",
            })?,
        };
        Ok(Self { service_name, port })
    }
}

/// Checks that a service name can travel in an HTTP header value.
pub fn validate_service_name(name: &str) -> Result<(), ProbeError> {
    if http::HeaderValue::from_str(name).is_err() || name.is_empty() {
        return Err(ProbeError::Config {
            var: ENV_SERVICE_NAME,
            value: name.to_string(),
            reason: "must be non-empty visible ASCII (it is sent as an HTTP header value)",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = Config::from_lookup(|_| None).unwrap();
        assert_eq!(c.service_name, "Default");
        assert_eq!(c.port, 9091);
        let c = Config::from_lookup(|k| match k {
            "SERVICE_NAME" => Some("app-a".into()),
            "PORT" => Some("8080".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            c,
            Config {
                service_name: "app-a".into(),
                port: 8080
            }
        );
        let e = Config::from_lookup(|k| (k == "PORT").then(|| "http".to_string())).unwrap_err();
        assert!(e.to_string().contains("PORT"), "{e}");
        let e = Config::from_lookup(|k| (k == "SERVICE_NAME").then(|| "a\u{7}b".to_string()))
            .unwrap_err();
        assert!(e.to_string().contains("SERVICE_NAME"), "{e}");
    }
}
