//! The words the tray shows: the status line of its menu and the icon's tooltip, from the gateway's status.

use omniroute::observe::status::GatewayStatus;

/// `127.0.0.1:20128 · 3/4 providers healthy · 120 requests today`.
pub fn status_line(address: &str, status: &GatewayStatus) -> String {
    let providers = if status.providers_total == 0 {
        "no provider connected".to_owned()
    } else {
        format!(
            "{}/{} providers healthy",
            status.providers_healthy, status.providers_total
        )
    };
    let requests = match status.requests_today {
        1 => "1 request today".to_owned(),
        n => format!("{n} requests today"),
    };
    format!("{address} · {providers} · {requests}")
}

/// `OmniRoute — running` or `OmniRoute — openai is down`.
pub fn tooltip(status: &GatewayStatus) -> String {
    match &status.trouble {
        _ if status.paused => "OmniRoute — routing paused".to_owned(),
        Some(trouble) => format!("OmniRoute — {trouble}"),
        None if status.providers_total == 0 => "OmniRoute — connect a provider".to_owned(),
        None => "OmniRoute — running".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(healthy: usize, total: usize, today: u64, trouble: Option<&str>) -> GatewayStatus {
        GatewayStatus {
            providers_total: total,
            providers_healthy: healthy,
            requests_today: today,
            trouble: trouble.map(str::to_owned),
            paused: false,
        }
    }

    #[test]
    fn the_status_line_counts_providers_and_requests() {
        assert_eq!(
            status_line("127.0.0.1:20128", &status(3, 4, 120, None)),
            "127.0.0.1:20128 · 3/4 providers healthy · 120 requests today"
        );
        assert_eq!(
            status_line("127.0.0.1:3000", &status(0, 0, 1, None)),
            "127.0.0.1:3000 · no provider connected · 1 request today"
        );
    }

    #[test]
    fn the_tooltip_names_the_trouble() {
        assert_eq!(
            tooltip(&status(1, 2, 0, Some("groq is down"))),
            "OmniRoute — groq is down"
        );
        assert_eq!(tooltip(&status(2, 2, 0, None)), "OmniRoute — running");
        assert_eq!(
            tooltip(&status(0, 0, 0, None)),
            "OmniRoute — connect a provider"
        );
        let mut paused = status(1, 2, 0, Some("groq is down"));
        paused.paused = true;
        assert_eq!(tooltip(&paused), "OmniRoute — routing paused");
    }
}
