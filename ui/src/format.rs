//! How numbers, money, durations and times are written on the dashboard (pure functions).

/// A token or request count, shortened: `950`, `1.2k`, `3.4M`, `1.1B`.
pub fn count(n: u64) -> String {
    let value = n as f64;
    let (scaled, suffix) = if n >= 1_000_000_000 {
        (value / 1e9, "B")
    } else if n >= 1_000_000 {
        (value / 1e6, "M")
    } else if n >= 1_000 {
        (value / 1e3, "k")
    } else {
        return n.to_string();
    };
    let text = if scaled < 10.0 {
        format!("{scaled:.1}")
    } else {
        format!("{scaled:.0}")
    };
    format!("{}{suffix}", text.trim_end_matches(".0"))
}

/// US dollars with as many decimals as a small amount needs: `$0`, `$0.0042`, `$1.25`, `$1,234.50`.
pub fn usd(amount: f64) -> String {
    if !amount.is_finite() {
        return "—".into();
    }
    let sign = if amount < 0.0 { "-" } else { "" };
    let amount = amount.abs();
    if amount == 0.0 {
        return "$0".into();
    }
    if amount < 0.01 {
        return format!("{sign}${amount:.4}");
    }
    let cents = (amount * 100.0).round() as u64;
    format!("{sign}${}.{:02}", group_thousands(cents / 100), cents % 100)
}

/// `1234567` as `1,234,567`.
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    // A comma before every digit with a multiple of three digits after it.
    let first_group = match digits.len() % 3 {
        0 => 3,
        n => n,
    };
    for (i, c) in digits.chars().enumerate() {
        if i >= first_group && (i - first_group) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A ratio in 0..=1 as a percentage: `99.5%`, `100%`; `—` when there is nothing to divide.
pub fn percent(ratio: Option<f64>) -> String {
    match ratio {
        Some(r) if r.is_finite() => {
            let p = (r * 1000.0).round() / 10.0;
            if p.fract() == 0.0 {
                format!("{p:.0}%")
            } else {
                format!("{p:.1}%")
            }
        }
        _ => "—".into(),
    }
}

/// A latency: `850 ms`, `1.2 s`, `2 m 05 s`.
pub fn millis(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        let s = ms as f64 / 1000.0;
        if s < 10.0 {
            format!("{s:.1} s")
        } else {
            format!("{s:.0} s")
        }
    } else {
        let s = ms / 1000;
        format!("{} m {:02} s", s / 60, s % 60)
    }
}

/// A time left, for reset countdowns: `45 s`, `12 m`, `3 h 20 m`, `2 d 4 h`; `now` at or below zero.
pub fn countdown(secs: i64) -> String {
    if secs <= 0 {
        return "now".into();
    }
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} m")
    } else if m > 0 {
        format!("{m} m")
    } else {
        format!("{secs} s")
    }
}

/// How long ago `ts_ms` was, seen at `now_ms`: `just now`, `5 s ago`, `3 min ago`, `2 h ago`, `4 d ago`.
pub fn ago(now_ms: i64, ts_ms: i64) -> String {
    let secs = (now_ms - ts_ms) / 1000;
    if secs < 2 {
        "just now".into()
    } else if secs < 60 {
        format!("{secs} s ago")
    } else if secs < 3600 {
        format!("{} min ago", secs / 60)
    } else if secs < 86_400 {
        format!("{} h ago", secs / 3600)
    } else {
        format!("{} d ago", secs / 86_400)
    }
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS` in UTC shifted by `offset_minutes` (the browser's zone).
pub fn datetime(ts_ms: i64, offset_minutes: i64) -> String {
    let local = ts_ms.div_euclid(1000) + offset_minutes * 60;
    let (days, rest) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 as a (year, month, day) date (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The share of a quota used, clamped to 0..=1, for progress bars.
pub fn fill_ratio(used: f64, limit: f64) -> f64 {
    if limit <= 0.0 || !used.is_finite() || !limit.is_finite() {
        return 0.0;
    }
    (used / limit).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_shortened() {
        assert_eq!(count(0), "0");
        assert_eq!(count(950), "950");
        assert_eq!(count(1000), "1k");
        assert_eq!(count(1234), "1.2k");
        assert_eq!(count(45_600), "46k");
        assert_eq!(count(3_400_000), "3.4M");
        assert_eq!(count(1_100_000_000), "1.1B");
    }

    #[test]
    fn dollars_keep_small_amounts_visible() {
        assert_eq!(usd(0.0), "$0");
        assert_eq!(usd(0.00421), "$0.0042");
        assert_eq!(usd(1.25), "$1.25");
        assert_eq!(usd(1234.5), "$1,234.50");
        assert_eq!(usd(-2.0), "-$2.00");
        assert_eq!(usd(f64::NAN), "—");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1000), "1,000");
        assert_eq!(group_thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn percentages_round_to_a_tenth() {
        assert_eq!(percent(Some(1.0)), "100%");
        assert_eq!(percent(Some(0.995)), "99.5%");
        assert_eq!(percent(Some(0.0)), "0%");
        assert_eq!(percent(None), "—");
        assert_eq!(percent(Some(f64::NAN)), "—");
    }

    #[test]
    fn latencies_pick_a_unit() {
        assert_eq!(millis(850), "850 ms");
        assert_eq!(millis(1200), "1.2 s");
        assert_eq!(millis(15_000), "15 s");
        assert_eq!(millis(125_000), "2 m 05 s");
    }

    #[test]
    fn countdowns_show_the_two_largest_units() {
        assert_eq!(countdown(-5), "now");
        assert_eq!(countdown(45), "45 s");
        assert_eq!(countdown(12 * 60 + 5), "12 m");
        assert_eq!(countdown(3 * 3600 + 20 * 60), "3 h 20 m");
        assert_eq!(countdown(2 * 86_400 + 4 * 3600 + 59), "2 d 4 h");
    }

    #[test]
    fn relative_times() {
        let now = 1_000_000_000;
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(now, now - 5_000), "5 s ago");
        assert_eq!(ago(now, now - 180_000), "3 min ago");
        assert_eq!(ago(now, now - 7_200_000), "2 h ago");
        assert_eq!(ago(now, now - 4 * 86_400_000), "4 d ago");
    }

    #[test]
    fn datetimes_in_utc_and_with_an_offset() {
        // 2026-11-28T18:30:05Z
        let ts = 1_795_890_605_000;
        assert_eq!(datetime(ts, 0), "2026-11-28 18:30:05");
        assert_eq!(datetime(ts, 420), "2026-11-29 01:30:05");
        assert_eq!(datetime(0, 0), "1970-01-01 00:00:00");
        assert_eq!(datetime(951_782_400_000, 0), "2000-02-29 00:00:00");
    }

    #[test]
    fn fill_ratios_are_clamped() {
        assert_eq!(fill_ratio(5.0, 10.0), 0.5);
        assert_eq!(fill_ratio(15.0, 10.0), 1.0);
        assert_eq!(fill_ratio(1.0, 0.0), 0.0);
    }
}
